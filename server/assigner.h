// Assigner: the assignment and ownership mutations (Assign, BatchAssign,
// Evaluate, GetCustomer, UpdateCustomer, Transfer, Approve, Reject) over the
// Store, independent of gRPC. The decisions are AssignmentPlanner's
// (assignment_planner.h: targets, strategies, eligibility, overflow and
// fallback, keep and drift); this class makes each one durable exactly once.
//
// Write discipline (DESIGN.md). Every mutation is ONE transaction: the
// idempotency lookup (locks the request id), the customer record and every
// ownership it touches (GetForUpdate), the plan, then the customer record,
// each changed ownership with its event, indexes and counters
// (OwnershipBook::Stage), the round-robin cursor deltas and the idempotency
// answer, committed together. After the commit the capacity reservations are
// committed to the allocator and the event tickets to the sequencer; when
// the transaction fails they are given back and abandoned. A conflict
// (ABORTED) re-runs the whole read-plan-write, up to kMaxAttempts times.
//
// Serialization. Calls for one customer serialize on a striped mutex (one of
// Options::lock_stripes, chosen by a hash of the customer id), held from
// before the transaction begins until after its commit and the allocator
// and sequencer updates: never a global lock. So 64 concurrent Assign calls
// for one new customer plan one after the other, and each later one sees the
// first one's owners (one owner per department, one creating event). The
// store's row locks back this up across processes' worth of code paths
// (Stage locks the ownership key). Hot keys are never locked: a rep's load
// and a team's cursor are AddToCounter deltas and in-memory allocator state,
// event sequences come from the in-memory EventSequencer, and the roster
// record is read without a lock (a roster change racing an assignment is
// ordered by whichever commits first; the assignment used the roster as of
// its snapshot, and a rep who left in between is found by the roster's
// orphaning and by reviews).
//
// The active ruleset is RulesetRegistry::ActiveRuleset() at the start of the
// attempt (the in-memory compiled version).
//
// Pool and duplicates (issue 8): the planner skips reps in a cooldown for
// the customer (Options::cooldowns, PoolDesk::CooldownLookup); the plan of
// a NEW customer goes through RouteDuplicates (duplicate_index.h:
// policies.duplicates), and every staged customer record stages its
// duplicate-key index entries in the same commit (StageDuplicateKeys). A
// change that takes a customer from its rep (Transfer, on_drift reassign)
// stages that rep's cooldown in the same commit (cooldowns.h).
//
// Idempotency (AIP-155): every mutation takes a request_id; its first
// successful answer is stored in the same commit, and a retry with the same
// id (and the same request) returns that answer and writes nothing. A
// BatchAssign item is recorded as an Assign of that item, so retrying an
// item alone, or the whole batch, returns the first answers.
//
// Errors, with nothing written:
//   INVALID_ARGUMENT    a bad field, named ("customer.region: ...",
//                       "request_id: ...", "department: ..."), with a
//                       BadRequest listing every bad field; a request_id
//                       reused for a different request;
//   FAILED_PRECONDITION no ruleset is active (Assign, BatchAssign items,
//                       Evaluate, UpdateCustomer); the ownership is FROZEN
//                       (Transfer) or not PENDING_APPROVAL (Approve,
//                       Reject); a transfer's rep is not active, is in no
//                       team of the department, or is at capacity there; a
//                       transfer's pool is not a pool of the department;
//   NOT_FOUND           an unknown customer (GetCustomer, UpdateCustomer,
//                       Transfer, Approve, Reject), department, rep or pool
//                       (the message names it); no ownership to approve or
//                       reject;
//   ABORTED             the store kept conflicting (retry the call with the
//                       same request_id);
//   UNAVAILABLE / DATA_LOSS from the store. UNAVAILABLE from the commit
//                       means the outcome is unknown: retry with the same
//                       request_id.
//
// Thread-safe: all methods may be called concurrently.
#ifndef CUSTODIAN_SERVER_ASSIGNER_H_
#define CUSTODIAN_SERVER_ASSIGNER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "custodian/v1/assignment.pb.h"
#include "custodian/v1/ownership.pb.h"
#include "custodian/v1/ownership_requests.pb.h"
#include "server/assignment_planner.h"
#include "server/audit_log.h"
#include "server/idempotency.h"
#include "server/mutation.h"
#include "server/ownership_book.h"
#include "server/ruleset_registry.h"
#include "server/team_allocator.h"
#include "storage/store.h"

namespace custodian::server {

// Method names under which idempotency records are kept.
inline constexpr absl::string_view kAssignMethod =
    "custodian.v1.AssignmentService/Assign";
inline constexpr absl::string_view kUpdateCustomerMethod =
    "custodian.v1.AssignmentService/UpdateCustomer";
inline constexpr absl::string_view kTransferMethod =
    "custodian.v1.OwnershipService/Transfer";
inline constexpr absl::string_view kApproveMethod =
    "custodian.v1.OwnershipService/Approve";
inline constexpr absl::string_view kRejectMethod =
    "custodian.v1.OwnershipService/Reject";

// Most customers in one BatchAssign.
inline constexpr int kMaxBatchAssign = 1000;

// A TeamAllocator::CounterLoader reading counters from a fresh snapshot of
// `store` (which must outlive the loader).
TeamAllocator::CounterLoader StoreCounterLoader(storage::Store* store);

class Assigner {
 public:
  struct Options {
    // Where everything lives. Required; must outlive the assigner.
    storage::Store* store = nullptr;
    // The active ruleset. Required; must outlive the assigner.
    const RulesetRegistry* rulesets = nullptr;
    // Ownership records, events, indexes, counters and customer records.
    // Required; must outlive the assigner.
    const OwnershipBook* book = nullptr;
    // Loads and cursors. Required; must outlive the assigner; every writer
    // of ownerships of `store` must use this same allocator.
    TeamAllocator* allocator = nullptr;
    // Evaluation time and idempotency record times. Default: the real
    // clock. Event times come from the book's clock.
    Clock* clock = Clock::Real();
    // Request-id window.
    IdempotencyOptions idempotency;
    // Striped per-customer mutexes, >= 1. Default: 65536 (512 KiB), so
    // that concurrent BatchAssign chunks, which lock one stripe per
    // customer (up to 64), rarely share one: at 1024, two 64-customer
    // chunks shared a stripe 98% of the time and ran one after the other.
    int lock_stripes = 65536;
    // Attempts per transaction on ABORTED, >= 1. Default: 10.
    int max_attempts = 10;
    // Cooldowns of reps for customers (the pool issue). Default: none.
    CooldownFn in_cooldown;
    // The cooldowns of one customer's reps (PoolDesk::CooldownLookup):
    // called once per planned customer; when set, used instead of
    // in_cooldown. Default: none.
    std::function<CooldownFn(absl::string_view customer_id)> cooldowns;
  };

  // Returns INVALID_ARGUMENT naming a bad option.
  static absl::StatusOr<std::unique_ptr<Assigner>> Create(Options options);

  // Assign by `actor`: stores the customer's attributes (and segments) and
  // decides its owner in every department of the active ruleset (see
  // assignment_planner.h). The answer has one DepartmentAssignment per
  // department of the ruleset, in ruleset order, each with the ownership
  // as stored after the call and whether this call changed it. Errors: see
  // the top of this file.
  absl::StatusOr<v1::AssignResponse> Assign(const v1::AssignRequest& request,
                                            const Actor& actor);

  // BatchAssign by `actor`: 1-1000 requests, each an independent Assign
  // (recorded under its own request_id as an Assign, so a retry of the
  // batch or of one item returns the first answers); one result per
  // request, in request order, with either the response or the error (code
  // and message; field names prefixed with "requests[i]."). One bad or
  // failing item does not fail the others. Items run in request order, on
  // the calling thread, in chunks of up to 64 items of distinct customers
  // that commit in one transaction (one sync for the chunk): an item that
  // fails is rolled back to its savepoint and the rest of its chunk goes
  // on; when a chunk conflicts (ABORTED) or the store has no savepoints,
  // its items run one transaction each, as Assign does. INVALID_ARGUMENT
  // naming `requests` when there are none or more than 1000 (then nothing
  // is processed), or naming `actor`.
  absl::StatusOr<v1::BatchAssignResponse> BatchAssign(
      const v1::BatchAssignRequest& request, const Actor& actor);

  // Evaluate: exactly the answer Assign would give now for this customer
  // (the same plan, made with TeamAllocator::Peek), writing nothing,
  // reserving nothing and moving no cursor. Differs from the following
  // Assign's answer only in last_event_sequence of changed ownerships
  // (unknown until written; the stored value for kept ones) and, under
  // concurrent assignments, in the reps they take first.
  absl::StatusOr<v1::AssignResponse> Evaluate(
      const v1::EvaluateRequest& request) const;

  // GetCustomer: the stored attributes. INVALID_ARGUMENT naming
  // customer_id; NOT_FOUND when unknown.
  absl::StatusOr<v1::Customer> GetCustomer(
      const v1::GetCustomerRequest& request) const;

  // UpdateCustomer by `actor`: replaces the attributes of a known customer
  // and re-plans like Assign, so owners move only as on_drift says (keep:
  // drift is flagged; reassign: moved), and departments without an owner
  // are assigned. NOT_FOUND for an unknown customer (use Assign).
  absl::StatusOr<v1::AssignResponse> UpdateCustomer(
      const v1::UpdateCustomerRequest& request, const Actor& actor);

  // Transfer by `actor` (cause TRANSFER, with the reason):
  //   to a rep: the rep must be ACTIVE and a member of a (non-pool) team of
  //     the department; the new ownership is ACTIVE with that rep and the
  //     first such team (roster order) as its team, and it must fit the
  //     rep's capacity at that seat (else FAILED_PRECONDITION naming the rep
  //     and its capacity: a transfer does not overload a rep; free capacity
  //     or raise it first);
  //   to a pool: a pool team of the department; the ownership becomes
  //     POOLED there.
  // rule_id is "" and ruleset_version 0 (no rule decided it), drifted is
  // false, the explanation is empty (the event carries the reason). A
  // transfer to the current owner in the same state changes nothing. The
  // customer must be known (NOT_FOUND); a FROZEN ownership is
  // FAILED_PRECONDITION. Returns the ownership as stored.
  absl::StatusOr<v1::Ownership> Transfer(const v1::TransferRequest& request,
                                         const Actor& actor);

  // Approve by `actor`: PENDING_APPROVAL -> ACTIVE with the same rep
  // (cause APPROVAL, reason optional). FAILED_PRECONDITION when the
  // ownership is not pending; NOT_FOUND when there is none.
  absl::StatusOr<v1::Ownership> Approve(const v1::ApproveRequest& request,
                                        const Actor& actor);

  // Reject by `actor` (cause REJECTION, reason required): the pending
  // ownership goes to the next eligible member of the same team (the
  // rejected rep left out), else the rest of its decision's chain
  // (overflow, fallback), else UNOWNED NO_CAPACITY (AssignmentPlanner::
  // PlanReject). FAILED_PRECONDITION when not pending; NOT_FOUND when there
  // is none.
  absl::StatusOr<v1::Ownership> Reject(const v1::RejectRequest& request,
                                       const Actor& actor);

 private:
  explicit Assigner(Options options);

  absl::Mutex& StripeFor(absl::string_view customer_id) const;
  // Options::cooldowns for `customer_id`, else Options::in_cooldown.
  CooldownFn CooldownFor(absl::string_view customer_id) const;
  // As above, but null (nobody is in a cooldown) when `current`, the customer's
  // stored ownerships by department, is empty. A cooldown is only ever written
  // with an ownership record of the same customer and department (Release
  // and recycling leave it POOLED) and ownership records are never deleted,
  // so a customer without any has no cooldown: a new customer's Assign and
  // Evaluate skip the lookup (a store snapshot and scan per department).
  CooldownFn CooldownFor(
      absl::string_view customer_id,
      const absl::flat_hash_map<std::string, v1::Ownership>& current) const;

  // One Assign or UpdateCustomer to make: what StageAssign needs.
  struct AssignJob {
    absl::string_view method;      // the idempotency method name
    const v1::Customer* customer;  // validated; outlives the job
    absl::string_view request_id;
    const Actor* actor;          // outlives the job
    bool require_known = false;  // NOT_FOUND for a new customer
    std::string fingerprint;     // RequestFingerprint of the request
    RulesetRegistry::Active active;
  };

  // The job of a request, with the active ruleset now. FAILED_PRECONDITION
  // when no ruleset is active.
  absl::StatusOr<AssignJob> MakeJob(absl::string_view method,
                                    const google::protobuf::Message& request,
                                    const v1::Customer& customer,
                                    absl::string_view request_id,
                                    const Actor& actor,
                                    bool require_known) const;

  // Assign and UpdateCustomer: StageAssign in its own transaction (with
  // retries) under the customer's stripe.
  absl::StatusOr<v1::AssignResponse> AssignCustomer(
      absl::string_view method, const google::protobuf::Message& request,
      const v1::Customer& customer, absl::string_view request_id,
      const Actor& actor, bool require_known);

  // One attempt of `job` in `txn`: the idempotency lookup (a replay sets
  // effects.replay and stages nothing), the locked reads, the plan, and the
  // customer record, ownership changes, cursor deltas and idempotency
  // answer staged; *response is the answer. REQUIRES: the customer's
  // stripe is held.
  absl::Status StageAssign(storage::Transaction& txn, MutationEffects& effects,
                           const AssignJob& job,
                           v1::AssignResponse* response) const;

  // BatchAssign's chunk: jobs of distinct customers, all in one
  // transaction, each item under a savepoint. Sets results[i] (answer or
  // error) for every job; returns OK then. Returns ABORTED (retries were
  // exhausted) or UNIMPLEMENTED (no savepoints) with no result set and
  // nothing written: run the items one by one. REQUIRES: the stripes of
  // every job's customer are held.
  struct ChunkItem {
    const AssignJob* job;
    absl::StatusOr<v1::AssignResponse>* result;
  };
  absl::Status RunChunk(const std::vector<ChunkItem>& items);

  Options options_;
  Idempotency idempotency_;
  AssignmentPlanner planner_;
  std::unique_ptr<absl::Mutex[]> stripes_;

  // The index of the last roster record parsed, and its version.
  mutable absl::Mutex roster_mu_;
  mutable int64_t roster_version_ ABSL_GUARDED_BY(roster_mu_) = -1;
  mutable std::shared_ptr<const RosterIndex> roster_index_
      ABSL_GUARDED_BY(roster_mu_);

  // Returns the index of the stored roster as `get` reads it (a
  // transaction's or a snapshot's Get of Table::kRoster): reads the roster's
  // version key and, only when it is not the version parsed last (or is
  // absent: an older store), the whole record. An empty index when there is
  // no roster; DATA_LOSS when a record does not parse.
  absl::StatusOr<std::shared_ptr<const RosterIndex>> StoredRoster(
      absl::FunctionRef<absl::Status(absl::string_view key, std::string*)> get)
      const;
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_ASSIGNER_H_
