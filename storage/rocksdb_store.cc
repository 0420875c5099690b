#include "storage/rocksdb_store.h"

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/merge_operator.h"
#include "rocksdb/options.h"
#include "rocksdb/slice.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/transaction.h"
#include "rocksdb/utilities/transaction_db.h"
#include "rocksdb/utilities/write_batch_with_index.h"
#include "storage/keys.h"

namespace custodian::storage {
namespace {

rocksdb::Slice ToSlice(absl::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}

absl::string_view ToView(const rocksdb::Slice& s) {
  return absl::string_view(s.data(), s.size());
}

// Maps a RocksDB status to the canonical code telling the caller what to do
// next (see store.h). `context` says what was being done.
absl::Status FromRocks(const rocksdb::Status& s, absl::string_view context) {
  if (s.ok()) return absl::OkStatus();
  std::string message = absl::StrCat(context, ": ", s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(message);
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain() || s.IsExpired() ||
      s.IsAborted()) {
    return absl::AbortedError(message);
  }
  if (s.IsCorruption()) return absl::DataLossError(message);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(message);
  if (s.IsNotSupported()) return absl::UnimplementedError(message);
  if (s.IsIOError() || s.IsShutdownInProgress() || s.IsIncomplete() ||
      s.IsColumnFamilyDropped()) {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

// The NOT_FOUND of a point read: an expected answer on hot paths (every
// new customer misses a dozen keys), so the message names the table but
// not the key: escaping the key for a message nobody reads was 3% of an
// Assign.
absl::Status KeyNotFound(Table table) {
  // Built once per table: most point reads on the write path miss (a new
  // customer's keys), and a copy shares the message instead of formatting
  // and allocating it again.
  static const std::array<absl::Status, kNumTables>* const statuses = [] {
    auto* all = new std::array<absl::Status, kNumTables>;
    for (int t = 0; t < kNumTables; ++t) {
      (*all)[t] = absl::NotFoundError(
          absl::StrCat(TableName(static_cast<Table>(t)), ": no such key"));
    }
    return all;
  }();
  return (*statuses)[static_cast<int>(table)];
}

// What a conflict status means, for the ABORTED message.
absl::Status ConflictOrError(const rocksdb::Status& s, absl::string_view op,
                             Table table, absl::string_view key) {
  std::string context = absl::StrCat(op, " ", TableName(table), "/\"",
                                     absl::CHexEscape(key), "\"");
  if (s.IsTimedOut()) {
    return absl::AbortedError(absl::StrCat(
        context,
        ": lock wait timed out (key locked by another transaction); "
        "retry the whole transaction"));
  }
  if (s.IsDeadlock()) {
    return absl::AbortedError(
        absl::StrCat(context, ": deadlock; retry the whole transaction"));
  }
  if (s.IsBusy() || s.IsTryAgain()) {
    return absl::AbortedError(
        absl::StrCat(context,
                     ": written by another transaction after this one started; "
                     "retry the whole transaction"));
  }
  return FromRocks(s, context);
}

// counter += operand, both 8-byte big-endian int64 (wrapping).
class CounterAddOperator final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& /*key*/,
             const rocksdb::Slice* existing_value, const rocksdb::Slice& value,
             std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    if (value.size() != 8) return false;
    uint64_t sum = LoadBigEndian64(value.data());
    if (existing_value != nullptr) {
      if (existing_value->size() != 8) return false;
      sum += LoadBigEndian64(existing_value->data());
    }
    new_value->clear();
    AppendBigEndian64(new_value, sum);
    return true;
  }
  // Persisted in the OPTIONS file: never change it.
  const char* Name() const override { return "custodian.CounterAdd"; }
};

absl::Status CheckTable(Table table) {
  int t = static_cast<int>(table);
  if (t < 0 || t >= kNumTables) {
    return absl::InvalidArgumentError(absl::StrCat("no table number ", t));
  }
  return absl::OkStatus();
}

// An iterator that is never valid and reports `status`.
class ErrorIterator final : public ScanIterator {
 public:
  explicit ErrorIterator(absl::Status status) : status_(std::move(status)) {}
  bool Valid() const override { return false; }
  void Next() override {}
  void Seek(absl::string_view) override {}
  absl::string_view key() const override { return {}; }
  absl::string_view value() const override { return {}; }
  absl::Status status() const override { return status_; }

 private:
  absl::Status status_;
};

absl::Status CheckKey(absl::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError("key must not be empty");
  return absl::OkStatus();
}

absl::StatusOr<int64_t> CounterFromGet(const absl::Status& s,
                                       const std::string& value) {
  if (absl::IsNotFound(s)) return 0;
  if (!s.ok()) return s;
  return DecodeCounter(value);
}

class StoreImpl;

// Counts the objects (transactions, snapshots, iterators) alive against a
// store, so that Close() can refuse while any is.
class LiveToken {
 public:
  explicit LiveToken(std::atomic<int>* live) : live_(live) {
    live_->fetch_add(1, std::memory_order_relaxed);
  }
  ~LiveToken() { live_->fetch_sub(1, std::memory_order_acq_rel); }
  LiveToken(const LiveToken&) = delete;
  LiveToken& operator=(const LiveToken&) = delete;

 private:
  std::atomic<int>* live_;
};

class RocksScanIterator final : public ScanIterator {
 public:
  // `make` creates the RocksDB iterator from read options that this object
  // owns and keeps alive for the iterator's lifetime.
  RocksScanIterator(
      std::atomic<int>* live, absl::string_view prefix,
      const ScanOptions& options, const rocksdb::Snapshot* snapshot,
      const std::function<rocksdb::Iterator*(const rocksdb::ReadOptions&)>&
          make)
      : token_(live),
        prefix_(prefix),
        upper_bound_(PrefixUpperBound(prefix)),
        upper_bound_slice_(upper_bound_) {
    read_options_.snapshot = snapshot;
    if (!upper_bound_.empty()) {
      read_options_.iterate_upper_bound = &upper_bound_slice_;
    }
    if (!options.start_after.empty() &&
        !absl::StartsWith(options.start_after, prefix_)) {
      status_ = absl::InvalidArgumentError(
          "ScanOptions.start_after must start with the scan prefix");
      return;
    }
    it_.reset(make(read_options_));
    if (options.start_after.empty()) {
      it_->Seek(ToSlice(prefix_));
    } else {
      it_->Seek(ToSlice(options.start_after));
      if (it_->Valid() && ToView(it_->key()) == options.start_after) {
        it_->Next();
      }
    }
    Check();
  }

  bool Valid() const override { return valid_; }
  void Next() override {
    if (!valid_) return;
    it_->Next();
    Check();
  }
  void Seek(absl::string_view key) override {
    if (!status_.ok()) return;
    if (!absl::StartsWith(key, prefix_)) {
      valid_ = false;
      status_ = absl::InvalidArgumentError(
          "ScanIterator::Seek: the key must start with the scan prefix");
      return;
    }
    it_->Seek(ToSlice(key));
    Check();
  }
  absl::string_view key() const override { return ToView(it_->key()); }
  absl::string_view value() const override { return ToView(it_->value()); }
  absl::Status status() const override { return status_; }

 private:
  void Check() {
    valid_ = it_->Valid() && absl::StartsWith(ToView(it_->key()), prefix_);
    if (!it_->Valid()) status_ = FromRocks(it_->status(), "scan");
  }

  LiveToken token_;
  const std::string prefix_;
  const std::string upper_bound_;
  const rocksdb::Slice upper_bound_slice_;
  rocksdb::ReadOptions read_options_;
  std::unique_ptr<rocksdb::Iterator> it_;
  bool valid_ = false;
  absl::Status status_;
};

// State shared by the store and the objects it hands out.
struct Shared {
  std::string data_dir;
  rocksdb::TransactionDB* db = nullptr;
  rocksdb::ColumnFamilyHandle* cf[kNumTables] = {};
  rocksdb::WriteOptions write_options;
  int64_t lock_timeout_ms = 1000;
  std::atomic<int> live{0};

  rocksdb::ColumnFamilyHandle* Cf(Table t) const {
    return cf[static_cast<int>(t)];
  }
};

class RocksSnapshot final : public Snapshot {
 public:
  explicit RocksSnapshot(Shared* shared)
      : shared_(shared),
        token_(&shared->live),
        snapshot_(shared->db->GetSnapshot()) {
    read_options_.snapshot = snapshot_;
  }
  ~RocksSnapshot() override { shared_->db->ReleaseSnapshot(snapshot_); }

  absl::Status Get(Table table, absl::string_view key,
                   std::string* value) override {
    RETURN_IF_ERROR(CheckTable(table));
    std::string v;
    rocksdb::Status s =
        shared_->db->Get(read_options_, shared_->Cf(table), ToSlice(key), &v);
    if (s.IsNotFound()) return KeyNotFound(table);
    if (!s.ok()) {
      return FromRocks(s, absl::StrCat("get ", TableName(table), "/\"",
                                       absl::CHexEscape(key), "\""));
    }
    *value = std::move(v);
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> GetCounter(absl::string_view key) override {
    std::string v;
    absl::Status s = Get(Table::kCounters, key, &v);
    return CounterFromGet(s, v);
  }

  std::unique_ptr<ScanIterator> Scan(Table table, absl::string_view prefix,
                                     const ScanOptions& options) override {
    absl::Status valid = CheckTable(table);
    if (!valid.ok()) return std::make_unique<ErrorIterator>(valid);
    rocksdb::ColumnFamilyHandle* cf = shared_->Cf(table);
    rocksdb::TransactionDB* db = shared_->db;
    return std::make_unique<RocksScanIterator>(
        &shared_->live, prefix, options, snapshot_,
        [db, cf](const rocksdb::ReadOptions& ro) {
          return db->NewIterator(ro, cf);
        });
  }

 private:
  Shared* shared_;
  LiveToken token_;
  const rocksdb::Snapshot* snapshot_;
  rocksdb::ReadOptions read_options_;
};

class RocksTransaction final : public Transaction {
 public:
  RocksTransaction(Shared* shared, std::unique_ptr<rocksdb::Transaction> txn)
      : shared_(shared), token_(&shared->live), txn_(std::move(txn)) {
    read_options_.snapshot = txn_->GetSnapshot();
  }
  ~RocksTransaction() override { Rollback(); }

  absl::Status Get(Table table, absl::string_view key,
                   std::string* value) override {
    RETURN_IF_ERROR(CheckUsable());
    RETURN_IF_ERROR(CheckTable(table));
    std::string v;
    rocksdb::Status s =
        txn_->Get(read_options_, shared_->Cf(table), ToSlice(key), &v);
    if (s.IsNotFound()) return KeyNotFound(table);
    if (!s.ok()) return ConflictOrError(s, "get", table, key);
    *value = std::move(v);
    return absl::OkStatus();
  }

  absl::Status GetForUpdate(Table table, absl::string_view key,
                            std::string* value) override {
    RETURN_IF_ERROR(CheckUsable());
    RETURN_IF_ERROR(CheckTable(table));
    std::string v;
    rocksdb::Status s =
        txn_->GetForUpdate(read_options_, shared_->Cf(table), ToSlice(key), &v);
    if (s.IsNotFound()) return KeyNotFound(table);
    if (!s.ok()) return Fail(ConflictOrError(s, "lock", table, key));
    *value = std::move(v);
    return absl::OkStatus();
  }

  absl::Status Put(Table table, absl::string_view key,
                   absl::string_view value) override {
    RETURN_IF_ERROR(CheckPut(table, key));
    rocksdb::Status s =
        txn_->Put(shared_->Cf(table), ToSlice(key), ToSlice(value));
    if (!s.ok()) return Fail(ConflictOrError(s, "put", table, key));
    return absl::OkStatus();
  }

  absl::Status Delete(Table table, absl::string_view key) override {
    RETURN_IF_ERROR(CheckWrite(table, key));
    DropPendingAdd(table, key);
    rocksdb::Status s = txn_->Delete(shared_->Cf(table), ToSlice(key));
    if (!s.ok()) return Fail(ConflictOrError(s, "delete", table, key));
    return absl::OkStatus();
  }

  absl::Status PutUnlocked(Table table, absl::string_view key,
                           absl::string_view value) override {
    RETURN_IF_ERROR(CheckPut(table, key));
    // Straight into the indexed batch, as AddToCounter does: no lock, no
    // snapshot check (store.h says when that is allowed).
    return FromRocks(txn_->GetWriteBatch()->Put(shared_->Cf(table),
                                                ToSlice(key), ToSlice(value)),
                     "put");
  }

  absl::Status DeleteUnlocked(Table table, absl::string_view key) override {
    RETURN_IF_ERROR(CheckWrite(table, key));
    DropPendingAdd(table, key);
    return FromRocks(
        txn_->GetWriteBatch()->Delete(shared_->Cf(table), ToSlice(key)),
        "delete");
  }

  // Into the batch under the index: the commit applies the batch, and a
  // rollback to a savepoint truncates it (and indexes what is left).
  absl::Status PutWriteOnly(Table table, absl::string_view key,
                            absl::string_view value) override {
    RETURN_IF_ERROR(CheckPut(table, key));
    return FromRocks(txn_->GetWriteBatch()->GetWriteBatch()->Put(
                         shared_->Cf(table), ToSlice(key), ToSlice(value)),
                     "put");
  }

  absl::Status DeleteWriteOnly(Table table, absl::string_view key) override {
    RETURN_IF_ERROR(CheckWrite(table, key));
    DropPendingAdd(table, key);
    return FromRocks(txn_->GetWriteBatch()->GetWriteBatch()->Delete(
                         shared_->Cf(table), ToSlice(key)),
                     "delete");
  }

  absl::Status AddToCounter(absl::string_view key, int64_t delta) override {
    RETURN_IF_ERROR(CheckUsable());
    RETURN_IF_ERROR(CheckKey(key));
    // Written straight into the transaction's indexed batch, bypassing
    // rocksdb::Transaction::Merge (which would lock the key until the commit
    // is synced): the merge commits atomically with the rest of the batch,
    // is visible to this transaction's reads, and never conflicts.
    std::string operand = EncodeCounter(delta);
    rocksdb::Status s = txn_->GetWriteBatch()->Merge(
        shared_->Cf(Table::kCounters), ToSlice(key), ToSlice(operand));
    if (!s.ok()) {
      return Fail(ConflictOrError(s, "add to counter", Table::kCounters, key));
    }
    return absl::OkStatus();
  }

  absl::Status AddToCounterWriteOnly(absl::string_view key,
                                     int64_t delta) override {
    RETURN_IF_ERROR(CheckUsable());
    RETURN_IF_ERROR(CheckKey(key));
    // Summed per key; Commit writes one merge per key into the batch under
    // the index, as PutWriteOnly writes.
    auto it = pending_index_.find(key);
    if (it == pending_index_.end()) {
      pending_.push_back(PendingAdd{std::string(key), 0});
      // The map's key views the stored copy, not the caller's string.
      it = pending_index_.emplace(pending_.back().key, pending_.size() - 1)
               .first;
    }
    PendingAdd& add = pending_[it->second];
    add.sum = WrappingAdd(add.sum, delta);
    if (!savepoints_.empty()) undo_.push_back({it->second, delta});
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> GetCounter(absl::string_view key) override {
    std::string v;
    absl::Status s = Get(Table::kCounters, key, &v);
    return CounterFromGet(s, v);
  }

  std::unique_ptr<ScanIterator> Scan(Table table, absl::string_view prefix,
                                     const ScanOptions& options) override {
    absl::Status usable = CheckUsable();
    if (usable.ok()) usable = CheckTable(table);
    if (!usable.ok()) return std::make_unique<ErrorIterator>(usable);
    rocksdb::ColumnFamilyHandle* cf = shared_->Cf(table);
    rocksdb::Transaction* txn = txn_.get();
    return std::make_unique<RocksScanIterator>(
        &shared_->live, prefix, options, read_options_.snapshot,
        [txn, cf](const rocksdb::ReadOptions& ro) {
          return txn->GetIterator(ro, cf);
        });
  }

  absl::Status SetSavePoint() override {
    RETURN_IF_ERROR(CheckSavePointUsable());
    txn_->SetSavePoint();  // also marks the indexed batch
    savepoints_.push_back(undo_.size());
    return absl::OkStatus();
  }

  absl::Status RollbackToSavePoint() override {
    RETURN_IF_ERROR(CheckSavePointUsable());
    rocksdb::Status s = txn_->RollbackToSavePoint();
    if (s.IsNotFound()) {
      return absl::NotFoundError("the transaction has no savepoint");
    }
    RETURN_IF_ERROR(FromRocks(s, "roll back to savepoint"));
    // The pending sums lose what was added (or dropped) since the mark.
    const size_t mark = savepoints_.back();
    savepoints_.pop_back();
    while (undo_.size() > mark) {
      PendingAdd& add = pending_[undo_.back().first];
      add.sum = WrappingSub(add.sum, undo_.back().second);
      undo_.pop_back();
    }
    return absl::OkStatus();
  }

  absl::Status Commit() override {
    absl::Status usable = CheckUsable();
    if (!usable.ok()) {
      Rollback();
      return usable;
    }
    if (absl::Status staged = StagePendingAdds(); !staged.ok()) {
      Rollback();
      return staged;
    }
    rocksdb::Status s = txn_->Commit();
    finished_ = true;
    if (s.ok()) return absl::OkStatus();
    txn_->Rollback();
    if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain() || s.IsExpired()) {
      return absl::AbortedError(absl::StrCat("commit: ", s.ToString(),
                                             "; retry the whole transaction"));
    }
    return FromRocks(s, "commit");
  }

  void Rollback() override {
    if (finished_) return;
    finished_ = true;
    txn_->Rollback();
  }

 private:
  absl::Status CheckUsable() const {
    if (finished_) {
      return absl::FailedPreconditionError("transaction already finished");
    }
    return aborted_;
  }

  // The checks every staged write makes: a usable transaction, a known
  // table, a non-empty key.
  absl::Status CheckWrite(Table table, absl::string_view key) const {
    RETURN_IF_ERROR(CheckUsable());
    RETURN_IF_ERROR(CheckTable(table));
    return CheckKey(key);
  }

  // CheckWrite, and a table Put may write (counters move by AddToCounter).
  absl::Status CheckPut(Table table, absl::string_view key) const {
    RETURN_IF_ERROR(CheckWrite(table, key));
    if (table == Table::kCounters) {
      return absl::InvalidArgumentError(
          "Put into the counters table; use AddToCounter");
    }
    return absl::OkStatus();
  }

  absl::Status CheckSavePointUsable() const {
    absl::Status s = CheckUsable();
    if (absl::IsAborted(s)) {
      return absl::FailedPreconditionError(
          absl::StrCat("the transaction can no longer commit: ", s.message()));
    }
    return s;
  }

  // Records that the transaction can no longer commit if `s` is ABORTED.
  absl::Status Fail(absl::Status s) {
    if (absl::IsAborted(s)) aborted_ = s;
    return s;
  }

  // int64 addition and subtraction that wrap, as the counter merge does.
  static int64_t WrappingAdd(int64_t a, int64_t b) {
    return static_cast<int64_t>(static_cast<uint64_t>(a) +
                                static_cast<uint64_t>(b));
  }
  static int64_t WrappingSub(int64_t a, int64_t b) {
    return static_cast<int64_t>(static_cast<uint64_t>(a) -
                                static_cast<uint64_t>(b));
  }

  // Before a delete of counter `key`: the write-only adds staged so far
  // precede the delete, so they are void; later adds apply after it (the
  // commit writes the sums at the end of the batch).
  void DropPendingAdd(Table table, absl::string_view key) {
    if (table != Table::kCounters || pending_.empty()) return;
    auto it = pending_index_.find(key);
    if (it == pending_index_.end()) return;
    PendingAdd& add = pending_[it->second];
    if (!savepoints_.empty()) {
      undo_.push_back({it->second, WrappingSub(0, add.sum)});
    }
    add.sum = 0;
  }

  // Writes one merge per counter with a non-zero pending sum into the
  // batch, in the order the counters were first added to.
  absl::Status StagePendingAdds() {
    rocksdb::ColumnFamilyHandle* cf = shared_->Cf(Table::kCounters);
    for (const PendingAdd& add : pending_) {
      if (add.sum == 0) continue;
      const std::string operand = EncodeCounter(add.sum);
      RETURN_IF_ERROR(FromRocks(txn_->GetWriteBatch()->GetWriteBatch()->Merge(
                                    cf, ToSlice(add.key), ToSlice(operand)),
                                "add to counter"));
    }
    return absl::OkStatus();
  }

  Shared* shared_;
  LiveToken token_;
  std::unique_ptr<rocksdb::Transaction> txn_;
  rocksdb::ReadOptions read_options_;
  bool finished_ = false;
  absl::Status aborted_;  // OK until an operation returned ABORTED.

  // AddToCounterWriteOnly's adds, summed per counter until the commit: a
  // BatchAssign chunk adds to a rep's owned count or a team's cursor once
  // per item, and one merge per counter is what reaches the memtable.
  struct PendingAdd {
    std::string key;
    int64_t sum = 0;
  };
  std::deque<PendingAdd> pending_;  // a deque: keys stay where they are
  absl::flat_hash_map<absl::string_view, size_t> pending_index_;
  // While a savepoint is set: (pending_ index, amount) of every change to a
  // sum, so RollbackToSavePoint can take back those since its mark.
  std::vector<std::pair<size_t, int64_t>> undo_;
  std::vector<size_t> savepoints_;  // undo_.size() at each SetSavePoint
};

class StoreImpl final : public Store {
 public:
  StoreImpl(std::unique_ptr<Shared> shared,
            std::vector<rocksdb::ColumnFamilyHandle*> all_handles,
            std::shared_ptr<rocksdb::Cache> cache, bool sync_writes)
      : shared_(std::move(shared)),
        all_handles_(std::move(all_handles)),
        cache_(std::move(cache)),
        sync_writes_(sync_writes) {}

  ~StoreImpl() override {
    absl::Status s = Close();
    if (!s.ok()) {
      std::fprintf(stderr, "custodian: closing the store in %s failed: %s\n",
                   shared_->data_dir.c_str(), s.ToString().c_str());
      if (absl::IsFailedPrecondition(s)) std::abort();  // objects outlive us
    }
  }

  absl::StatusOr<std::unique_ptr<Transaction>> Begin(
      const TxnOptions& options) override {
    rocksdb::TransactionOptions txn_options;
    // Without a snapshot, RocksDB reads the latest committed data and skips
    // the validation of locked keys (TxnOptions::snapshot).
    txn_options.set_snapshot = options.snapshot;
    txn_options.deadlock_detect = true;
    txn_options.lock_timeout = shared_->lock_timeout_ms;
    if (options.lock_timeout.has_value()) {
      if (*options.lock_timeout < absl::ZeroDuration()) {
        return absl::InvalidArgumentError(
            "TxnOptions.lock_timeout must not be negative");
      }
      txn_options.lock_timeout = LockTimeoutMs(*options.lock_timeout);
    }
    absl::ReaderMutexLock lock(&mu_);
    if (closed_) return Closed();
    std::unique_ptr<rocksdb::Transaction> txn(
        shared_->db->BeginTransaction(shared_->write_options, txn_options));
    return std::make_unique<RocksTransaction>(shared_.get(), std::move(txn));
  }

  absl::StatusOr<std::unique_ptr<Snapshot>> NewSnapshot() override {
    absl::ReaderMutexLock lock(&mu_);
    if (closed_) return Closed();
    return std::make_unique<RocksSnapshot>(shared_.get());
  }

  absl::Status Flush() override {
    absl::ReaderMutexLock lock(&mu_);
    if (closed_) return Closed();
    return FromRocks(shared_->db->SyncWAL(),
                     absl::StrCat("sync the log of ", shared_->data_dir));
  }

  absl::Status Close() override {
    absl::MutexLock lock(&mu_);
    if (closed_) return absl::OkStatus();
    int live = shared_->live.load(std::memory_order_acquire);
    if (live > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot close the store in ", shared_->data_dir, ": ", live,
          " transactions, snapshots or iterators are still "
          "alive"));
    }
    absl::Status result;
    if (!sync_writes_) {
      result = FromRocks(shared_->db->SyncWAL(),
                         absl::StrCat("sync the log of ", shared_->data_dir));
    }
    for (rocksdb::ColumnFamilyHandle* h : all_handles_) {
      rocksdb::Status s = shared_->db->DestroyColumnFamilyHandle(h);
      if (result.ok()) result = FromRocks(s, "close a table");
    }
    all_handles_.clear();
    rocksdb::Status s = shared_->db->Close();
    if (result.ok()) {
      result = FromRocks(s, absl::StrCat("close ", shared_->data_dir));
    }
    delete shared_->db;
    shared_->db = nullptr;
    closed_ = true;
    return result;
  }

  static int64_t LockTimeoutMs(absl::Duration d) {
    if (d == absl::InfiniteDuration()) return -1;
    return absl::ToInt64Milliseconds(d);
  }

 private:
  absl::Status Closed() const {
    return absl::FailedPreconditionError(
        absl::StrCat("the store in ", shared_->data_dir, " is closed"));
  }

  std::unique_ptr<Shared> shared_;
  // Every open column family handle, ours and unknown ones (tables of a
  // newer minor schema version).
  std::vector<rocksdb::ColumnFamilyHandle*> all_handles_;
  std::shared_ptr<rocksdb::Cache> cache_;
  const bool sync_writes_;
  // Readers: Begin/NewSnapshot/Flush. Writer: Close.
  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

absl::Status ValidateOptions(const RocksDbStoreOptions& o) {
  if (o.data_dir.empty()) {
    return absl::InvalidArgumentError(
        "RocksDbStoreOptions.data_dir is not set");
  }
  if (o.lock_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "RocksDbStoreOptions.lock_timeout must not be negative");
  }
  if (o.block_cache_bytes == 0) {
    return absl::InvalidArgumentError(
        "RocksDbStoreOptions.block_cache_bytes must be > 0");
  }
  if (o.write_buffer_bytes == 0) {
    return absl::InvalidArgumentError(
        "RocksDbStoreOptions.write_buffer_bytes must be > 0");
  }
  return absl::OkStatus();
}

// The options of the table named `name` (one of ours, or a table of a newer
// minor schema version, which gets the defaults).
rocksdb::ColumnFamilyOptions TableOptions(
    const std::shared_ptr<rocksdb::Cache>& cache, absl::string_view name) {
  rocksdb::ColumnFamilyOptions cf;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // Partitioned filters and a two-level index: a large table file's filter
  // and index are cached in 4 KiB partitions under a small pinned top
  // level. A whole-file filter of a few MiB does not fit a cache shard, so
  // every lookup of a missing key (a lock-only key, a new customer) would
  // read and checksum it from the file again: at a million customers that
  // was most of BatchAssign's time.
  table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  table.partition_filters = true;
  table.metadata_block_size = 4096;
  table.cache_index_and_filter_blocks = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_top_level_index_and_filter = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf.level_compaction_dynamic_level_bytes = true;
  // A whole-key bloom filter on each memtable: most point reads on the
  // write path look up keys that are not there (a new customer's records,
  // its duplicate-key markers, cooldowns), and the filter answers those
  // without a search of the memtable's skip list.
  cf.memtable_prefix_bloom_size_ratio = 0.02;
  cf.memtable_whole_key_filtering = true;
  if (name == TableName(Table::kCounters)) {
    cf.merge_operator = std::make_shared<CounterAddOperator>();
  }
  // Tables whose keys mostly arrive in ascending order: events by sequence,
  // audit records by time, idempotency expiry entries by create time. The
  // memtable keeps, per 8-byte key prefix, where its last insert went and
  // starts the next insert's skip-list search there, so an append costs a
  // few key compares instead of a search from the top of the list. Keys of
  // other families (a request id's record) share a hint per prefix and
  // cost what they did.
  if (name == TableName(Table::kEvents) || name == TableName(Table::kAudit) ||
      name == TableName(Table::kIdempotency)) {
    cf.memtable_insert_with_hint_prefix_extractor.reset(
        rocksdb::NewCappedPrefixTransform(8));
  }
  return cf;
}

struct SchemaVersion {
  int major = 0;
  int minor = 0;
};

absl::StatusOr<SchemaVersion> ParseSchemaVersion(absl::string_view dir,
                                                 absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '.');
  SchemaVersion v;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &v.major) ||
      !absl::SimpleAtoi(parts[1], &v.minor)) {
    return absl::FailedPreconditionError(
        absl::StrCat("data dir ", dir, " has an unreadable schema version \"",
                     absl::CHexEscape(text), "\"; this build reads version ",
                     RocksDbStore::kSchemaMajor));
  }
  return v;
}

std::string SchemaVersionText() {
  return absl::StrCat(RocksDbStore::kSchemaMajor, ".",
                      RocksDbStore::kSchemaMinor);
}

// Closes a database opened during Open() that is not handed to a StoreImpl.
void CloseRaw(rocksdb::TransactionDB* db,
              std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
  for (rocksdb::ColumnFamilyHandle* h : handles) {
    db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  handles.clear();
  db->Close().PermitUncheckedError();
  delete db;
}

// True if no table of `db` holds any key.
absl::StatusOr<bool> AllEmpty(
    rocksdb::TransactionDB* db,
    const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
  for (rocksdb::ColumnFamilyHandle* h : handles) {
    std::unique_ptr<rocksdb::Iterator> it(
        db->NewIterator(rocksdb::ReadOptions(), h));
    it->SeekToFirst();
    if (it->Valid()) return false;
    RETURN_IF_ERROR(FromRocks(it->status(), "check for data"));
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> RocksDbStore::Open(
    const RocksDbStoreOptions& options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  const std::string& dir = options.data_dir;

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.db_write_buffer_size = options.write_buffer_bytes;
  // Open table files lazily and skip the stats scan, so that start-up time
  // does not grow with the amount of data.
  db_options.max_open_files = 4096;
  db_options.skip_stats_update_on_db_open = true;
  db_options.max_background_jobs = 4;
  db_options.bytes_per_sync = 1 << 20;

  rocksdb::Env* env = rocksdb::Env::Default();
  const bool exists = env->FileExists(dir + "/CURRENT").ok();
  if (!exists && !options.create_if_missing) {
    return absl::NotFoundError(absl::StrCat(
        "data dir ", dir,
        " holds no Custodian store (and create_if_missing is false)"));
  }

  absl::flat_hash_set<std::string> ours;
  for (int t = 0; t < kNumTables; ++t) {
    ours.insert(std::string(TableName(static_cast<Table>(t))));
  }
  std::vector<std::string> names;
  if (exists) {
    RETURN_IF_ERROR(
        FromRocks(rocksdb::DB::ListColumnFamilies(db_options, dir, &names),
                  absl::StrCat("list the tables of data dir ", dir)));
    bool has_meta = false;
    bool has_foreign = false;
    for (const std::string& n : names) {
      if (n == TableName(Table::kMeta)) has_meta = true;
      if (n != rocksdb::kDefaultColumnFamilyName && !ours.contains(n)) {
        has_foreign = true;
      }
    }
    if (!has_meta && has_foreign) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data dir ", dir,
          " holds a RocksDB database that is not a Custodian store (no "
          "schema version); refusing to use it"));
    }
  } else {
    names.push_back(rocksdb::kDefaultColumnFamilyName);
    for (int t = 0; t < kNumTables; ++t) {
      names.emplace_back(TableName(static_cast<Table>(t)));
    }
    db_options.create_missing_column_families = true;
  }

  // Index and filter partitions go to the high-priority half, so a scan of
  // data blocks (a review, a simulation) does not push them out.
  rocksdb::LRUCacheOptions cache_options;
  cache_options.capacity = options.block_cache_bytes;
  cache_options.high_pri_pool_ratio = 0.5;
  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(cache_options);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.reserve(names.size());
  for (const std::string& n : names) {
    descriptors.emplace_back(n, TableOptions(cache, n));
  }

  rocksdb::TransactionDBOptions txn_db_options;
  txn_db_options.transaction_lock_timeout =
      StoreImpl::LockTimeoutMs(options.lock_timeout);
  txn_db_options.num_stripes = 64;

  rocksdb::TransactionDB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status os = rocksdb::TransactionDB::Open(
      db_options, txn_db_options, dir, descriptors, &handles, &db);
  if (!os.ok()) {
    absl::Status s = FromRocks(os, absl::StrCat("open data dir ", dir));
    if (absl::IsInvalidArgument(s)) {
      // E.g. a comparator or merge operator the directory was not made with.
      return absl::FailedPreconditionError(s.message());
    }
    return s;
  }

  auto shared = std::make_unique<Shared>();
  shared->data_dir = dir;
  shared->db = db;
  shared->write_options.sync = options.sync_writes;
  shared->lock_timeout_ms = StoreImpl::LockTimeoutMs(options.lock_timeout);
  auto bind = [&](const std::string& name, rocksdb::ColumnFamilyHandle* h) {
    for (int t = 0; t < kNumTables; ++t) {
      if (TableName(static_cast<Table>(t)) == name) shared->cf[t] = h;
    }
  };
  for (size_t i = 0; i < names.size(); ++i) bind(names[i], handles[i]);

  // Read the schema version before changing anything in the directory.
  std::string version_text;
  absl::Status vs = absl::NotFoundError("no meta table");
  if (shared->Cf(Table::kMeta) != nullptr) {
    vs = FromRocks(db->Get(rocksdb::ReadOptions(), shared->Cf(Table::kMeta),
                           ToSlice(kSchemaVersionKey), &version_text),
                   "read the schema version");
  }
  bool write_version = false;
  if (vs.ok()) {
    absl::StatusOr<SchemaVersion> v = ParseSchemaVersion(dir, version_text);
    if (v.ok() && v->major != kSchemaMajor) {
      v = absl::FailedPreconditionError(absl::StrCat(
          "data dir ", dir, " was written by schema version ", v->major, " (",
          version_text, "); this build reads version ", kSchemaMajor, " (",
          SchemaVersionText(), ")"));
    }
    if (!v.ok()) {
      CloseRaw(db, handles);
      return v.status();
    }
    write_version = v->minor < kSchemaMinor;
  } else if (absl::IsNotFound(vs)) {
    // Either a brand-new store, or creation was interrupted before the
    // version was written (then it is still empty), or a foreign database.
    absl::StatusOr<bool> empty = AllEmpty(db, handles);
    if (!empty.ok() || !*empty) {
      CloseRaw(db, handles);
      if (!empty.ok()) return empty.status();
      return absl::FailedPreconditionError(absl::StrCat(
          "data dir ", dir,
          " holds a RocksDB database that is not a Custodian store (no "
          "schema version); refusing to use it"));
    }
    write_version = true;
  } else {
    CloseRaw(db, handles);
    return vs;
  }

  // Create the tables this build knows and the directory lacks (a store
  // written by an older minor version, or an interrupted creation).
  for (int t = 0; t < kNumTables; ++t) {
    if (shared->cf[t] != nullptr) continue;
    std::string name(TableName(static_cast<Table>(t)));
    rocksdb::ColumnFamilyHandle* h = nullptr;
    rocksdb::Status s =
        db->CreateColumnFamily(TableOptions(cache, name), name, &h);
    if (!s.ok()) {
      CloseRaw(db, handles);
      return FromRocks(s, absl::StrCat("create table ", name, " in ", dir));
    }
    handles.push_back(h);
    shared->cf[t] = h;
  }
  if (write_version) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    rocksdb::Status s =
        db->Put(wo, shared->Cf(Table::kMeta), ToSlice(kSchemaVersionKey),
                ToSlice(SchemaVersionText()));
    if (!s.ok()) {
      CloseRaw(db, handles);
      return FromRocks(s, absl::StrCat("write the schema version in ", dir));
    }
  }

  return std::unique_ptr<Store>(
      std::make_unique<StoreImpl>(std::move(shared), std::move(handles),
                                  std::move(cache), options.sync_writes));
}

}  // namespace custodian::storage
