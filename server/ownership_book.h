// OwnershipBook: the stored book of who owns each customer, its indexes and
// counters, the append-only history of every change, and the customer
// records; the reads behind GetOwnership, ListOwnerships,
// ListOwnershipEvents and GetCustomer. Independent of gRPC.
//
// Writes. The book never commits: Stage() and StageCustomer() stage a
// complete change inside the caller's transaction, so the ownership record,
// its event, every index entry and counter move, and whatever else the caller
// writes (idempotency answer, audit record, other departments) commit
// together or not at all:
//
//   PendingEvents pending;
//   absl::Status s = storage::RunInTransaction(store, [&](Transaction& txn) {
//     ASSIGN_OR_RETURN(std::optional<v1::Ownership> current,
//                      OwnershipBook::ReadForUpdate(txn, customer, dept));
//     ... decide ...
//     ASSIGN_OR_RETURN(pending, book.Stage(txn, change));  // replaces (and
//     return absl::OkStatus();                  // abandons) a failed try's
//   });
//   if (s.ok()) pending.Committed();  // else its destructor abandons it
//
// Per-customer serialization: Stage locks the ownership key of (customer,
// department) with GetForUpdate, so two transactions changing one ownership
// serialize, and one that read a stale record aborts (ABORTED) and is
// retried. Index entries include the customer, so they are never shared
// between customers. Counters are AddToCounter deltas (no lock), and event
// sequences come from the in-memory EventSequencer: no global key is ever
// locked, let alone across an fsync.
//
// Stored layout (storage/README.md "Domain keys" has the same table):
//   kCustomers  ("customer", customer)                  -> CustomerRecord
//   kOwnerships ("own", customer, department)           -> v1::Ownership
//   kEvents     ("ev", sequence: uint64)                -> v1::OwnershipEvent
//   kIndexes    ("hist", customer, department, sequence: uint64)
//                   -> the event time (8-byte int64 key encoding of Unix us)
//               ("by_rep", department, rep, customer)               -> ""
//               ("by_team", department, team, customer)             -> ""
//               ("by_state", department, state: int64, customer)    -> ""
//               ("by_segment", department, segment, customer)       -> ""
//               ("department", department)                          -> ""
//                   written with the department's first ownership
//   kCounters   OwnedCounterKey(department, rep)  ownerships whose rep is
//                   `rep` (any state), = size of the by_rep range
//               ("pool_size", department, pool)   ownerships whose pool is
//                   `pool` (POOLED)
// ListOwnerships joins the ranges of its filters (leapfrog, in customer
// order); with no filter but the department it scans kOwnerships, once the
// department's marker says it has any.
// Every ownership record has its by_state entry, a by_rep
// entry iff rep is set, a by_team entry iff team is set, and one by_segment
// entry per segment of its customer's CustomerRecord (none without one).
// Records are never deleted (UNOWNED is a state), so the departments of a
// customer's history are the departments of its ownership records.
//
// Reads take one Snapshot each, so every answer is consistent.
//
// Thread-safety: an OwnershipBook is safe for concurrent use from many
// threads without external synchronization.
#ifndef CUSTODIAN_SERVER_OWNERSHIP_BOOK_H_
#define CUSTODIAN_SERVER_OWNERSHIP_BOOK_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "custodian/storage/v1/records.pb.h"
#include "custodian/v1/assignment.pb.h"
#include "custodian/v1/ownership.pb.h"
#include "custodian/v1/ownership_requests.pb.h"
#include "server/event_sequencer.h"
#include "server/ownership_keys.h"
#include "storage/store.h"

namespace custodian::server {

// Page sizes of the listings (AIP-158).
inline constexpr int32_t kDefaultOwnershipPageSize = 50;
inline constexpr int32_t kMaxOwnershipPageSize = 1000;

// Keys (see the top of this file).
std::string CustomerKey(absl::string_view customer_id);
std::string OwnershipKey(absl::string_view customer_id,
                         absl::string_view department);
// ("own", customer): the prefix of every ownership of the customer.
std::string OwnershipKeyPrefix(absl::string_view customer_id);
std::string PoolSizeCounterKey(absl::string_view department,
                               absl::string_view pool);
// ("department", department) in kIndexes: present once the department has
// an ownership in any state (ownerships are never deleted).
std::string DepartmentMarkerKey(absl::string_view department);

// Deletes what stores written before 2026-12-03 kept for every ownership
// and nothing read: its ("by_dept", department, customer) index entry and
// the ("n_dept", department) counters. Once per store: does nothing when
// kOperations ("by_dept_dropped") says it was done, else deletes the
// entries in pages of `batch_size`, one transaction each, then the counters
// and that record. Returns how many keys it deleted. Run before the store
// serves (custodiand's start); a crash part-way leaves the record unwritten,
// so the next start finishes the job. The store's errors.
absl::StatusOr<int64_t> DropDepartmentIndex(storage::Store& store,
                                            int batch_size = 1000);

// Deletes the index-size counters stores written before 2026-12-03 kept
// for every ownership, ("n_team", department, team), ("n_state", department,
// state) and ("n_segment", department, segment), which only chose the range
// ListOwnerships scanned; first writes the DepartmentMarkerKey of each
// department whose n_state counters are not all zero (what those counters
// told ListOwnerships besides). Once per store, like DropDepartmentIndex:
// kOperations ("size_counters_dropped") records that it was done; a crash
// part-way is finished by the next start. Returns how many counters it
// deleted. The store's errors; DATA_LOSS for a malformed n_state key or
// value.
absl::StatusOr<int64_t> DropIndexSizeCounters(storage::Store& store,
                                              int batch_size = 1000);

// The events a change staged, and what the caller must do once its
// transaction's fate is known: Committed() after Commit() returned OK (the
// feed may then read them), otherwise nothing (destruction, or assignment of
// another PendingEvents, abandons the sequences; the feed skips them). Move-
// only. Thread-compatible.
// A change staged to a per-rep counter of a department.
struct RepCountChange {
  std::string department;
  std::string rep_id;
  int64_t delta = 0;

  friend bool operator==(const RepCountChange& a, const RepCountChange& b) {
    return a.department == b.department && a.rep_id == b.rep_id &&
           a.delta == b.delta;
  }
};

class PendingEvents {
 public:
  PendingEvents() = default;
  PendingEvents(PendingEvents&&) = default;
  PendingEvents& operator=(PendingEvents&&) = default;

  // Takes over `other`'s events and tickets (several Stage calls in one
  // transaction).
  void Append(PendingEvents&& other);
  // The transaction committed. REQUIRES: the sequencer of the tickets lives.
  void Committed();
  // The transaction failed or was never committed. Also done on destruction.
  void Abandoned();

  // The staged events, in sequence order of staging.
  const std::vector<v1::OwnershipEvent>& events() const { return events_; }
  // The changes staged to won counters (WonCounterKeyOf), for the team
  // allocator after the commit (TeamAllocator::AdjustWon; Preload each rep
  // before the commit).
  const std::vector<RepCountChange>& won_changes() const {
    return won_changes_;
  }

 private:
  friend class OwnershipBook;
  std::vector<v1::OwnershipEvent> events_;
  std::vector<RepCountChange> won_changes_;
  std::vector<SequenceTicket> tickets_;
  EventSequencer* sequencer_ = nullptr;
};

// One change of one ownership, as the deciding code describes it.
struct ChangeSpec {
  // The ownership after the change. customer_id, department and state are
  // required; rep is required for ACTIVE, PENDING_APPROVAL, FROZEN and
  // ORPHANED and must be empty otherwise; pool is required for POOLED and
  // must be empty otherwise; unowned_reason is set iff UNOWNED. `since` and
  // `last_event_sequence` are set by Stage (see there).
  v1::Ownership after;
  // Not CAUSE_UNSPECIFIED.
  v1::OwnershipEvent::Cause cause = v1::OwnershipEvent::CAUSE_UNSPECIFIED;
  // Who caused it: a principal, or "custodiand". Required (CheckActor).
  std::string actor;
  // Why. Optional (CheckReason).
  std::string reason;
  // The request that caused it. Optional (CheckRequestId).
  std::string request_id;
  // The appeal that froze, unfroze or moved it (appeal_desk.h). Optional.
  std::string appeal_id;
  // The current record of (customer, department) as the caller read it with
  // ReadForUpdate in the same transaction (so it is locked), when it has
  // it: Stage then does not read it again. Null: Stage reads it. Not owned;
  // must outlive the Stage call.
  const std::optional<v1::Ownership>* before = nullptr;
};

class OwnershipBook {
 public:
  struct Options {
    // Where the book lives. Required; must outlive the book.
    storage::Store* store = nullptr;
    // The event sequencer of `store`. Required; must outlive the book.
    EventSequencer* sequencer = nullptr;
    // Event times and customer record times. Default: the real clock.
    Clock* clock = Clock::Real();
    // ListOwnerships examines at most this many candidates per call (join
    // rounds; with one filter, index entries); a page may then hold fewer than
    // page_size ownerships and a next_page_token (AIP-158 allows it). >= 1.
    // Default: 10000.
    int64_t max_examined_per_page = 10000;
  };

  // Returns INVALID_ARGUMENT naming a bad option.
  static absl::StatusOr<std::unique_ptr<OwnershipBook>> Create(Options options);

  // Reads the ownership of (customer, department) with GetForUpdate, which
  // locks it until `txn` ends. nullopt when there is none; DATA_LOSS when it
  // does not parse; the store's errors (ABORTED: retry the transaction).
  static absl::StatusOr<std::optional<v1::Ownership>> ReadForUpdate(
      storage::Transaction& txn, absl::string_view customer_id,
      absl::string_view department);

  // Stages one ownership change in `txn`:
  //   - reads the current record (GetForUpdate: locks it) unless
  //     change.before has it and, for a first ownership of the department,
  //     the customer record (for segments; it is locked, so that a
  //     concurrent StageCustomer changing the segments waits for this
  //     transaction instead of missing this ownership);
  //   - allocates the event's sequence (after those reads, so lock waits do
  //     not hold the feed's watermark back);
  //   - writes `change.after` with since = the event time when the record
  //     is new or its owner (rep, pool) changed, else the previous since
  //     (an approval or a freeze keeps it); last_event_sequence = the
  //     event's sequence;
  //   - deletes the old index entries and writes the new ones;
  //   - adds -1/+1 to the owned counters of the old and new rep, the pool
  //     sizes and the index-size counters, and, when the customer is won
  //     (sales_stage "won" in its customer record, which is then read and
  //     locked whenever the rep changes), to the won counters of the old
  //     and new rep (PendingEvents::won_changes);
  //   - writes the OwnershipEvent {sequence, event_time = clock now,
  //     customer, department, cause, actor, reason, before (absent for the
  //     first), after, request_id} and its history index entry.
  // Returns the pending events (one), to finish after the commit as
  // described above. Returns INVALID_ARGUMENT naming the bad field
  // ("after.rep", "cause", ...) and staging nothing; FAILED_PRECONDITION for
  // a first ownership of a customer without a customer record (stage it
  // first, in the same or an earlier transaction); DATA_LOSS when a stored
  // record does not parse; the store's errors (the transaction must then be
  // abandoned; ABORTED: retry it).
  // REQUIRES: txn is from this book's store; at most one Stage per
  // (customer, department) per transaction.
  absl::StatusOr<PendingEvents> Stage(storage::Transaction& txn,
                                      const ChangeSpec& change) const;

  // Stages the customer record `record` in `txn`: customer and segments as
  // given (record.ruleset_version as given), create_time kept from the
  // stored record (now for a new customer), update_time = now. When the
  // segments changed, moves the by_segment entries of every ownership of the
  // customer (including ones staged earlier in `txn`); when the customer
  // becomes won or stops being won (sales_stage "won"), moves the won counter
  // of every rep owning it and appends those changes to *won_changes when it is
  // not null (for the team allocator, as PendingEvents::won_changes). Locks the
  // customer record and, on such changes, the ownerships. Returns the record as
  // staged; INVALID_ARGUMENT naming the field ("customer.id", "segments[2]")
  // for a bad customer id or a bad or repeated segment name, staging nothing;
  // DATA_LOSS; the store's errors. REQUIRES: the rest of record.customer was
  // validated by the caller.
  absl::StatusOr<storage::v1::CustomerRecord> StageCustomer(
      storage::Transaction& txn, const storage::v1::CustomerRecord& record,
      std::vector<RepCountChange>* won_changes = nullptr) const;

  // The ownership of (customer_id, department). INVALID_ARGUMENT naming
  // each bad field; NOT_FOUND when the customer has no ownership in the
  // department (the message names both); DATA_LOSS; the store's errors.
  absl::StatusOr<v1::Ownership> GetOwnership(
      const v1::GetOwnershipRequest& request) const;

  // The department's ownerships matching every filter given (team, rep,
  // state, segment as of the customer's last evaluation), in customer id
  // order, AIP-158 paginated. Joins the index ranges of the filters given
  // (leapfrog: each round, one examination, finds them all at one customer
  // or moves the ones behind to the furthest; without filters it scans the
  // department's ownership records). INVALID_ARGUMENT naming each bad field
  // (department missing or malformed, malformed filters, an unknown state,
  // negative page_size, a page_token not issued for these filters). An
  // unknown department or team has no ownerships: an empty answer.
  absl::StatusOr<v1::ListOwnershipsResponse> ListOwnerships(
      const v1::ListOwnershipsRequest& request) const;

  // The customer's ownership events (of `department` only, if given),
  // oldest (lowest sequence) first, paginated. With as_of: per department
  // the last event at or before as_of (the highest sequence among those
  // whose event_time <= as_of; a department whose first event is later is
  // left out), i.e. who owned the customer then, under which rule and
  // ruleset version, and why; ordered by sequence, paginated.
  // INVALID_ARGUMENT naming each bad field; NOT_FOUND when the customer has
  // neither a customer record nor any ownership.
  absl::StatusOr<v1::ListOwnershipEventsResponse> ListOwnershipEvents(
      const v1::ListOwnershipEventsRequest& request) const;

  // The stored customer record. INVALID_ARGUMENT naming customer_id;
  // NOT_FOUND when there is none.
  absl::StatusOr<storage::v1::CustomerRecord> GetCustomer(
      const v1::GetCustomerRequest& request) const;

  // A counter at a fresh snapshot (tests, stats).
  absl::StatusOr<int64_t> ReadCounter(absl::string_view key) const;

 private:
  explicit OwnershipBook(Options options) : options_(options) {}

  // Stages the department's marker in `txn` unless a committed one was
  // read before (by this call or an earlier one).
  absl::Status MarkDepartment(storage::Transaction& txn,
                              const std::string& department) const;

  Options options_;
  // Departments whose marker is committed.
  mutable absl::Mutex marked_mu_;
  mutable absl::flat_hash_set<std::string> marked_ ABSL_GUARDED_BY(marked_mu_);
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_OWNERSHIP_BOOK_H_
