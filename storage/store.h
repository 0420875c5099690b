// The Store: the only way domain code reads and writes durable state.
//
// A Store holds a fixed set of logical tables (Table), each an ordered map
// from byte-string keys to byte-string values. All writes happen inside a
// Transaction: read (optionally with intent to write), stage writes, then
// Commit() atomically, or fail with ABORTED, which means "a concurrent
// transaction conflicted with this one; retry the whole read-modify-write".
// RunInTransaction() does that retry loop.
//
// The interface names nothing of its implementation. RocksDB implements it
// today (rocksdb_store.h); a PostgreSQL-compatible backend can implement the
// same contract with SQL transactions:
//   Transaction::Get          SELECT at the transaction's snapshot
//   Transaction::GetForUpdate SELECT ... FOR UPDATE
//   Transaction::Put/Delete   INSERT ... ON CONFLICT UPDATE / DELETE
//   Transaction::AddToCounter UPDATE counters SET v = v + d (or a delta row)
//   Transaction::Commit       COMMIT; serialization failure -> ABORTED
//
// Errors are absl::Status with canonical codes, chosen by what the caller
// should do next:
//   NOT_FOUND           Get*: the key does not exist.
//   ABORTED             a conflict (lock wait timed out, deadlock, or the key
//                       was written by another transaction after this one's
//                       snapshot). Nothing of this transaction was written.
//                       Retry the whole transaction.
//   UNAVAILABLE         an I/O problem (disk full, read error, store closed
//                       under the caller). From Commit() the outcome is
//                       unknown: the commit may or may not be durable. Retry
//                       later with the same idempotency key (request_id).
//   DATA_LOSS           stored data is corrupt.
//   INVALID_ARGUMENT    a bad argument (empty key, Put into kCounters, a
//                       Table value out of range, bad options).
//   FAILED_PRECONDITION the object is in the wrong state (transaction already
//                       finished, store closed, incompatible schema version).
//
// Thread-safety: a Store is safe for concurrent use from many threads without
// external synchronization. A Transaction, a Snapshot and a ScanIterator are
// each used by one thread at a time (they may move between threads).
#ifndef CUSTODIAN_STORAGE_STORE_H_
#define CUSTODIAN_STORAGE_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace custodian::storage {

// The logical tables. Each is one column family in RocksDB (one table in SQL)
// whose name is TableName(). To add a table: append an enumerator before
// kNumTables, give it a new name in TableName() and list it in README.md.
// Adding a table is a minor schema change (older data dirs stay readable; the
// table is created on open). Never renumber or rename an existing table.
enum class Table : int {
  kMeta = 0,     // store metadata: the schema version. Not for domain use.
  kCustomers,    // customer id -> latest attributes.
  kOwnerships,   // (customer, department) -> current ownership record.
  kEvents,       // event sequence -> ownership event (append-only history).
  kIndexes,      // secondary indexes (owner -> customers, pool, ...).
  kCounters,     // exact int64 counters; written only via AddToCounter().
  kIdempotency,  // request_id -> first answer of a mutating call.
  kRulesets,     // ruleset versions and the active pointer.
  kRoster,       // departments, reps, teams.
  kAudit,        // audit records of every mutation, with principal.
  kOperations,   // long-running operations (reviews, batches) and progress.
  kAppeals,      // appeals, comments and votes.
  kReviews,      // review findings.
  kNumTables,    // not a table: the count.
};

inline constexpr int kNumTables = static_cast<int>(Table::kNumTables);

// Returns the stable name of `table` ("meta", "customers", ...), used as the
// column family name. REQUIRES: table != Table::kNumTables.
absl::string_view TableName(Table table);

// Counter values, as returned by Get() and Scan() on Table::kCounters, are 8
// bytes: the two's-complement int64 in big-endian order. Returns the value, or
// DATA_LOSS if `encoded` is not 8 bytes.
absl::StatusOr<int64_t> DecodeCounter(absl::string_view encoded);
// Returns the 8-byte encoding of `value` described above.
std::string EncodeCounter(int64_t value);

// A forward iterator over the keys of one table that start with a prefix, in
// ascending bytewise key order. Typical use:
//   for (; it->Valid(); it->Next()) Use(it->key(), it->value());
//   RETURN_IF_ERROR(it->status());
class ScanIterator {
 public:
  virtual ~ScanIterator() = default;
  // Returns true if positioned at an entry; false at the end or on error
  // (then status() says which).
  virtual bool Valid() const = 0;
  // Moves to the next entry. REQUIRES: Valid().
  virtual void Next() = 0;
  // Moves to the first entry at or after `key`, forward or back (a
  // leapfrog join of sorted ranges skips with it). `key` must start with
  // the scan's prefix, else the iterator becomes invalid and status() is
  // INVALID_ARGUMENT. Does nothing once status() is not OK.
  virtual void Seek(absl::string_view key) = 0;
  // The full key (prefix included) and the value of the current entry. The
  // views stay valid until the next call to Next() or destruction.
  // REQUIRES: Valid().
  virtual absl::string_view key() const = 0;
  virtual absl::string_view value() const = 0;
  // OK if the scan has met no error (reaching the end is not an error);
  // otherwise UNAVAILABLE, DATA_LOSS, or INVALID_ARGUMENT (bad start_after).
  virtual absl::Status status() const = 0;
};

struct ScanOptions {
  // Pagination: if non-empty, the scan starts at the first key strictly
  // greater than this one (typically the last key of the previous page). It
  // must start with the scan's prefix, else the iterator is invalid and its
  // status() is INVALID_ARGUMENT. Empty: start at the first key of the prefix.
  std::string start_after;
};

// A read-only consistent view of every table as of its creation. Later commits
// are not visible through it. It pins old versions: do not keep one for long.
class Snapshot {
 public:
  virtual ~Snapshot() = default;
  // On success stores the value of `key` in *value and returns OK. Returns
  // NOT_FOUND (and leaves *value unchanged) if `key` does not exist.
  virtual absl::Status Get(Table table, absl::string_view key,
                           std::string* value) = 0;
  // Returns the value of counter `key` in kCounters; 0 if it does not exist.
  virtual absl::StatusOr<int64_t> GetCounter(absl::string_view key) = 0;
  // Returns an iterator over the keys of `table` that start with `prefix`
  // (all keys if `prefix` is empty). The iterator must be destroyed before
  // this snapshot. Never null.
  virtual std::unique_ptr<ScanIterator> Scan(Table table,
                                             absl::string_view prefix,
                                             const ScanOptions& options) = 0;
  std::unique_ptr<ScanIterator> Scan(Table table, absl::string_view prefix) {
    return Scan(table, prefix, ScanOptions());
  }
};

struct TxnOptions {
  // How long GetForUpdate/Put/Delete wait for a key locked by another
  // transaction before returning ABORTED. Unset: the store's default.
  // Zero: do not wait.
  std::optional<absl::Duration> lock_timeout;
  // true (the default): snapshot isolation, as described at Transaction.
  // false: locking reads of the latest committed data. Get and Scan read
  // what is committed when they are called (no snapshot is kept), and
  // GetForUpdate locks the key first and then reads its latest committed
  // value, so it never aborts because of a commit made before the lock was
  // taken. A read-modify-write of keys read with GetForUpdate stays
  // serializable (every key it depends on is locked before it is read),
  // and no key is checked against a snapshot at lock time, which is most of
  // the cost of locking a new key. For hot paths that lock whatever their
  // decision depends on.
  bool snapshot = true;
};

// A unit of atomic work. Reads see the snapshot taken at Begin() plus this
// transaction's own staged writes. Writes are staged and become visible to
// others, all together, when Commit() returns OK. Destroying a transaction
// that was not committed rolls it back.
//
// Isolation: a key read with GetForUpdate or written with Put/Delete is
// locked until the transaction ends, and the transaction aborts if that key
// was committed by someone else after this transaction's snapshot. So a
// read-modify-write of keys read with GetForUpdate is serializable. Plain
// Get and Scan neither lock nor detect conflicts (snapshot reads); read with
// GetForUpdate whatever the decision depends on. AddToCounter neither locks
// nor conflicts: concurrent adds to one counter all apply exactly.
//
// After Commit() or Rollback(), every method returns FAILED_PRECONDITION.
// ABORTED from any method means the transaction cannot succeed: roll back and
// retry from the start (RunInTransaction does this).
class Transaction {
 public:
  virtual ~Transaction() = default;

  // Snapshot read, without lock. On success stores the value in *value.
  // Returns NOT_FOUND (leaving *value unchanged) if `key` does not exist.
  virtual absl::Status Get(Table table, absl::string_view key,
                           std::string* value) = 0;
  // Read with intent to write: locks `key` (whether or not it exists) until
  // the transaction ends, then reads its latest committed value. Returns OK,
  // NOT_FOUND (the key is locked all the same), or ABORTED if the lock could
  // not be had in time, a deadlock was detected, or the key was committed by
  // another transaction after this transaction's snapshot.
  virtual absl::Status GetForUpdate(Table table, absl::string_view key,
                                    std::string* value) = 0;
  // Stages a write of `key` := `value` and locks `key`. Returns ABORTED as
  // GetForUpdate does, INVALID_ARGUMENT if `key` is empty or `table` is
  // kCounters (use AddToCounter).
  virtual absl::Status Put(Table table, absl::string_view key,
                           absl::string_view value) = 0;
  // Stages the deletion of `key` (no error if absent) and locks `key`. In
  // kCounters this resets the counter to 0. Returns ABORTED as GetForUpdate
  // does; INVALID_ARGUMENT if `key` is empty.
  virtual absl::Status Delete(Table table, absl::string_view key) = 0;
  // Put and Delete without a lock and without conflict detection, for keys
  // that no other transaction writes concurrently: keys unique to this
  // transaction (an event under a freshly allocated sequence number), or
  // keys that only a holder of another key's lock writes (the index entries
  // of an ownership this transaction has locked). The write commits
  // atomically with the rest and is visible to this transaction's reads.
  // REQUIRES: that exclusivity; otherwise concurrent writes of the key are
  // applied in commit order and neither transaction notices. Errors as Put
  // and Delete, never ABORTED. The default implementations call Put and
  // Delete (correct, with a lock that is not needed).
  virtual absl::Status PutUnlocked(Table table, absl::string_view key,
                                   absl::string_view value) {
    return Put(table, key, value);
  }
  virtual absl::Status DeleteUnlocked(Table table, absl::string_view key) {
    return Delete(table, key);
  }
  // PutUnlocked and DeleteUnlocked for keys that this transaction never
  // reads back (an event, its history entry, an audit record, the index
  // entries of an ownership): the write is not indexed for the
  // transaction's own reads, which saves a search of its write batch per
  // write. It commits, rolls back and is undone by RollbackToSavePoint like
  // the others. REQUIRES: PutUnlocked's exclusivity, and that no read of
  // this transaction (Get, GetForUpdate, Scan) asks for `key` afterwards:
  // whether such a read sees the write is unspecified. Errors as
  // PutUnlocked. The defaults call PutUnlocked and DeleteUnlocked.
  virtual absl::Status PutWriteOnly(Table table, absl::string_view key,
                                    absl::string_view value) {
    return PutUnlocked(table, key, value);
  }
  virtual absl::Status DeleteWriteOnly(Table table, absl::string_view key) {
    return DeleteUnlocked(table, key);
  }
  // Stages counter[`key`] += `delta` in kCounters (a missing counter is 0;
  // int64 arithmetic wraps). Takes no lock and never conflicts, so a hot
  // counter (a rep's owned count, a round-robin cursor) is never held locked
  // across another transaction's fsync. Returns INVALID_ARGUMENT for an empty
  // key.
  virtual absl::Status AddToCounter(absl::string_view key, int64_t delta) = 0;
  // AddToCounter for a counter that this transaction never reads back (an
  // ownership's membership counts, a team's round-robin cursor): the add is
  // not indexed for the transaction's own reads, as PutWriteOnly. It
  // commits, rolls back and is undone by RollbackToSavePoint like the
  // others, and a Delete of the counter later in the transaction voids it.
  // A store may sum a transaction's write-only adds per counter and write
  // one add per counter at the commit (RocksDbStore does: a BatchAssign
  // chunk adds to a team's cursor once per item). REQUIRES: no read of this
  // transaction (GetCounter, Get, Scan) asks for `key` afterwards: whether
  // it sees the add is unspecified. Errors as AddToCounter. The default
  // calls AddToCounter.
  virtual absl::Status AddToCounterWriteOnly(absl::string_view key,
                                             int64_t delta) {
    return AddToCounter(key, delta);
  }
  // Returns the counter's value at the snapshot plus this transaction's own
  // staged adds; 0 if it does not exist. Not locked: another transaction may
  // add to it concurrently, and both adds apply.
  virtual absl::StatusOr<int64_t> GetCounter(absl::string_view key) = 0;
  // Returns an iterator over the keys of `table` starting with `prefix` at
  // the snapshot, merged with this transaction's own staged writes. Takes no
  // locks. The iterator must be destroyed before the transaction ends, and
  // the transaction must not be written to while the iterator is in use.
  // Never null.
  virtual std::unique_ptr<ScanIterator> Scan(Table table,
                                             absl::string_view prefix,
                                             const ScanOptions& options) = 0;
  std::unique_ptr<ScanIterator> Scan(Table table, absl::string_view prefix) {
    return Scan(table, prefix, ScanOptions());
  }

  // Savepoints, to undo part of a transaction (one item of a batch that
  // fails) and keep the rest. SetSavePoint() marks the current point;
  // RollbackToSavePoint() discards every write staged since the latest
  // mark (Put, Delete, the unlocked writes and counter adds alike), removes
  // that mark and keeps everything staged before it; locks taken since may
  // stay held until the transaction ends. Marks nest. Both return
  // FAILED_PRECONDITION after the transaction finished or once it can no
  // longer commit (an operation returned ABORTED: roll back and retry the
  // whole transaction); RollbackToSavePoint() returns NOT_FOUND when there
  // is no mark. The defaults return UNIMPLEMENTED, for stores without
  // savepoints (callers then use one transaction per item).
  virtual absl::Status SetSavePoint() {
    return absl::UnimplementedError("this store has no savepoints");
  }
  virtual absl::Status RollbackToSavePoint() {
    return absl::UnimplementedError("this store has no savepoints");
  }

  // Atomically applies every staged write, durably if the store syncs
  // writes. Returns OK once committed; ABORTED if a conflict prevents the
  // commit (nothing written); UNAVAILABLE on an I/O error (outcome unknown,
  // see above). The transaction is finished whatever the result.
  virtual absl::Status Commit() = 0;
  // Discards every staged write and releases the locks. The transaction is
  // finished. Calling it on a finished transaction does nothing.
  virtual void Rollback() = 0;
};

// A transactional key-value store. See the top of this file.
class Store {
 public:
  virtual ~Store() = default;

  // Starts a transaction. Returns FAILED_PRECONDITION if the store is closed,
  // INVALID_ARGUMENT for a negative lock timeout.
  virtual absl::StatusOr<std::unique_ptr<Transaction>> Begin(
      const TxnOptions& options) = 0;
  absl::StatusOr<std::unique_ptr<Transaction>> Begin() {
    return Begin(TxnOptions());
  }
  // Returns a consistent read-only view as of now. FAILED_PRECONDITION if the
  // store is closed.
  virtual absl::StatusOr<std::unique_ptr<Snapshot>> NewSnapshot() = 0;
  // Makes every commit acknowledged so far durable against a machine crash
  // (matters only when the store does not sync each commit). Returns
  // UNAVAILABLE on an I/O error, FAILED_PRECONDITION if closed.
  virtual absl::Status Flush() = 0;
  // Flushes and closes. Returns FAILED_PRECONDITION (and stays open) while
  // transactions, snapshots or iterators created by this store are alive;
  // UNAVAILABLE on an I/O error. Closing a closed store returns OK. The
  // destructor closes the store if needed.
  virtual absl::Status Close() = 0;
};

// Runs `fn` in a fresh transaction and commits it, retrying the whole thing
// (a new transaction, `fn` called again) while `fn` or Commit() returns
// ABORTED, up to `max_attempts` attempts in all. `fn` must therefore have no
// effects outside the transaction other than ones it is safe to repeat (such
// as overwriting an output variable). Retries immediately: a conflict has
// usually already waited for the competing transaction's lock.
// Returns OK once committed; the first non-ABORTED error of `fn`, Begin() or
// Commit() (the transaction is rolled back); or ABORTED if every attempt
// aborted. REQUIRES: max_attempts >= 1.
absl::Status RunInTransaction(Store& store, const TxnOptions& options,
                              absl::FunctionRef<absl::Status(Transaction&)> fn,
                              int max_attempts = 10);
inline absl::Status RunInTransaction(
    Store& store, absl::FunctionRef<absl::Status(Transaction&)> fn,
    int max_attempts = 10) {
  return RunInTransaction(store, TxnOptions(), fn, max_attempts);
}

}  // namespace custodian::storage

#endif  // CUSTODIAN_STORAGE_STORE_H_
