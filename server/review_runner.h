// ReviewRunner: periodic ownership reviews (ReviewService, docs/reviews.md)
// over the Store, independent of gRPC. StartReview stores a RUNNING review
// and returns at once; a background thread per review runs it; GetReview
// reports its progress; findings are listed, applied and dismissed; a
// review is cancelled between two customers; after a restart,
// ResumeRunning() resumes every RUNNING review where it stopped.
//
// Running a review (one thread per review):
//   - reads from ONE snapshot per run (a resumed run takes a new one): the
//     customers (Table::kCustomers, in id order, batch by batch: never all
//     in memory), their ownerships, the roster and the counters; the
//     active ruleset is the registry's at the start of the run;
//   - phase 0: each customer's dry-run plan (AssignmentPlanner, kDryRun:
//     nothing reserved) and CheckCustomer (review_checks.h);
//     phase 1 (OVER_CAPACITY checked): per (department, rep) of the roster
//     in scope whose owned counter exceeds its seat's capacity, the
//     ownerships beyond it with the least-recent activity (a heap of the
//     excess: memory bounded by it), one (department, rep) per batch;
//   - after every batch ONE transaction stores the batch's findings
//     (kReviews; an existing finding is kept as it is, so a resumed batch
//     rewrites, never duplicates, and never re-opens an applied one), the
//     counts by kind, the position and the scanned count (kOperations): a
//     crash loses at most the batch in flight, which is redone;
//   - APPLY mode: the fixable findings of the batch are listed in the
//     checkpoint (pending_apply) and then fixed one transaction each
//     (ApplyOne); a resumed run applies the pending ones first. A fix is
//     idempotent by finding id: its transaction locks the finding, does
//     nothing when it is APPLIED already, and otherwise stages the
//     ownership change (OwnershipBook::Stage, cause REVIEW, actor the
//     review's creator), its audit record and the finding as APPLIED
//     together, so a crash and resume apply each fix exactly once;
//   - between customers it checks for cancel and shutdown, and yields
//     between batches; its transactions are short (one batch of findings,
//     or one customer), so it never holds a lock Assign waits on for long;
//     its thread runs at a lower CPU priority (Options::background_nice).
//
// A fix (APPLY mode, ApplyFindings) re-reads the ownership with a lock and
// applies only when it is still as the finding saw it (state and rep) and
// not FROZEN; it is a fresh pick for the department (the planner with the
// department's ownership left out, kReserve): drift re-routed, orphans
// re-assigned, over-capacity customers moved to another eligible rep (the
// rep itself is at capacity, so passed over), unowned ones assigned. No
// eligible owner: not applied (skipped_reason says why). A DRIFT or
// OVER_CAPACITY fix of an owner protected by policies.protection.new_owner
// (now < since + new_owner) is not applied either. STALE and
// PENDING_TOO_LONG are never fixed automatically. The rep a DRIFT or
// OVER_CAPACITY fix takes the customer from gets a cooldown for it
// (cooldowns.h); a rep who left (ORPHANED) does not.
//
// Stored layout:
//   kOperations ("review", id)            -> storage.v1.ReviewRecord
//               ("review_running", id)    -> "" while RUNNING
//   kReviews    ("finding", id, finding)  -> v1.Finding
//   kCounters   ("review_applied", id)    findings applied
// Review ids are 24 hex characters whose first 16 are the inverted start
// time, so key order is newest first.
//
// Errors (nothing written on any of them):
//   INVALID_ARGUMENT    a bad field, named, with a BadRequest;
//   ABORTED             StartReview: a RUNNING review's scope overlaps
//                       (the message names it); the store kept conflicting;
//   NOT_FOUND           an unknown review or finding id (named);
//   FAILED_PRECONDITION CancelReview of a finished review;
//   UNAVAILABLE / DATA_LOSS from the store.
//
// Thread-safe.
#ifndef CUSTODIAN_SERVER_REVIEW_RUNNER_H_
#define CUSTODIAN_SERVER_REVIEW_RUNNER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "custodian/storage/v1/review_records.pb.h"
#include "custodian/v1/review_service.pb.h"
#include "server/assignment_planner.h"
#include "server/audit_log.h"
#include "server/idempotency.h"
#include "server/ownership_book.h"
#include "server/ruleset_registry.h"
#include "server/team_allocator.h"
#include "storage/store.h"

namespace custodian::server {

inline constexpr absl::string_view kStartReviewMethod =
    "custodian.v1.ReviewService/StartReview";
inline constexpr absl::string_view kApplyFindingsMethod =
    "custodian.v1.ReviewService/ApplyFindings";
inline constexpr absl::string_view kDismissFindingsMethod =
    "custodian.v1.ReviewService/DismissFindings";
inline constexpr absl::string_view kCancelReviewMethod =
    "custodian.v1.ReviewService/CancelReview";
// The RPC the audit records of fixes applied by a review itself name.
inline constexpr absl::string_view kReviewRunnerRpc = "custodiand/ReviewRunner";

// Most finding ids in one ApplyFindings / DismissFindings.
inline constexpr int kMaxFindingIds = 1000;

class ReviewRunner {
 public:
  struct Options {
    // Where everything lives. Required; must outlive the runner.
    storage::Store* store = nullptr;
    // The active ruleset. Required; must outlive the runner.
    const RulesetRegistry* rulesets = nullptr;
    // Ownership records. Required; must outlive the runner.
    const OwnershipBook* book = nullptr;
    // The allocator every writer of ownerships shares. Required.
    TeamAllocator* allocator = nullptr;
    // "Now" of the checks, the fixes and the records. Default: real clock.
    Clock* clock = Clock::Real();
    // Request-id window.
    IdempotencyOptions idempotency;
    // The cooldowns of one customer's reps (PoolDesk::CooldownLookup).
    // Default: none.
    std::function<CooldownFn(absl::string_view customer_id)> cooldowns;
    // Customers per batch (and checkpoint), >= 1. Default: 500.
    int batch_size = 500;
    // Attempts per transaction on ABORTED, >= 1. Default: 10.
    int max_attempts = 10;
    // The nice value (0-19) a review's thread gives itself, so that under
    // CPU contention calls such as Assign come first. 0: unchanged.
    // Default: 10.
    int background_nice = 10;
    // Tests: called by the review's thread after each checkpoint, with the
    // review name and the scanned count. Default: none.
    std::function<void(absl::string_view name, int64_t scanned)> after_batch;
    // Tests (crash simulation): called after each checkpoint, before its
    // fixes are applied; returning false abandons the run there, as if the
    // process died (the review stays RUNNING). Default: none.
    std::function<bool(absl::string_view name, int64_t scanned)>
        after_checkpoint;
  };

  // Returns INVALID_ARGUMENT naming a bad option.
  static absl::StatusOr<std::unique_ptr<ReviewRunner>> Create(Options options);

  // Stops the threads (Shutdown).
  ~ReviewRunner();

  // StartReview by `actor`: validates, refuses an overlapping running
  // review (ABORTED naming it), stores the review RUNNING and starts its
  // thread. A retry with the same request_id returns the first answer (as
  // stored then; GetReview has the progress).
  absl::StatusOr<v1::Review> Start(const v1::StartReviewRequest& request,
                                   const Actor& actor);
  absl::StatusOr<v1::Review> Get(const v1::GetReviewRequest& request) const;
  absl::StatusOr<v1::ListReviewsResponse> List(
      const v1::ListReviewsRequest& request) const;
  absl::StatusOr<v1::ListFindingsResponse> ListFindings(
      const v1::ListFindingsRequest& request) const;
  // ApplyFindings by `actor`: each finding through ApplyOne (above).
  // Findings not of `department` are INVALID_ARGUMENT (named), unknown
  // ones NOT_FOUND, checked before anything is applied. A retry with the
  // same request_id returns the first answer.
  absl::StatusOr<v1::ResolveFindingsResponse> Apply(
      const v1::ApplyFindingsRequest& request, const Actor& actor);
  // DismissFindings by `actor`: OPEN and QUEUED findings become DISMISSED
  // (in transactions of up to 500 findings).
  absl::StatusOr<v1::ResolveFindingsResponse> Dismiss(
      const v1::DismissFindingsRequest& request, const Actor& actor);
  // CancelReview by `actor`: CANCELLED at once (its thread stops before
  // the next customer; a batch in flight is not checkpointed).
  absl::StatusOr<v1::Review> Cancel(const v1::CancelReviewRequest& request,
                                    const Actor& actor);

  // Starts a thread for every RUNNING review (after a restart). Store
  // errors.
  absl::Status ResumeRunning();
  // Stops every thread between two customers and waits for them; their
  // reviews stay RUNNING (ResumeRunning resumes them). Idempotent.
  void Shutdown();

 private:
  struct Job {
    std::string id;
    std::atomic<bool> cancel{false};
    // Set by the thread as its last step (then it may be joined at once).
    std::atomic<bool> finished{false};
    std::thread thread;
  };

  explicit ReviewRunner(Options options);

  void Launch(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The thread of one review.
  void Run(Job* job);
  absl::Status RunReview(Job* job);
  bool Stopping(const Job& job) const;
  // Stores the findings and the checkpoint of one batch. Sets *stopped when
  // the review is no longer RUNNING (then nothing is written).
  absl::Status Checkpoint(const std::string& id,
                          std::vector<v1::Finding> findings, int32_t phase,
                          const std::string& cursor, int64_t scanned_delta,
                          double rate, bool* stopped);
  // Applies the pending fixes of the stored record, then clears them;
  // stops between two fixes when the job is stopping or cancelled.
  absl::Status ApplyPending(const Job& job, const Actor& actor);
  // Marks the review finished (SUCCEEDED or FAILED).
  absl::Status Finish(const std::string& id, const absl::Status& error);
  // One fix (see the top of this file).
  // Runs `resolve` once per request id (`method`, AIP-155): a retry gets
  // the stored first answer; otherwise the answer is stored after it.
  absl::StatusOr<v1::ResolveFindingsResponse> ResolveOnce(
      absl::string_view method, const google::protobuf::Message& request,
      absl::string_view request_id,
      absl::FunctionRef<absl::Status(v1::ResolveFindingsResponse*)> resolve);
  // The findings of a DismissFindings, in transactions of 500.
  absl::Status DismissAll(const v1::DismissFindingsRequest& request,
                          const std::string& id, const Actor& actor,
                          v1::ResolveFindingsResponse* response);
  // `rpc`: the audit record's RPC when actor.rpc is empty.
  absl::StatusOr<v1::FindingResult> ApplyOne(absl::string_view review_id,
                                             absl::string_view finding_id,
                                             const Actor& actor,
                                             absl::string_view reason,
                                             absl::string_view request_id,
                                             absl::string_view rpc);
  absl::StatusOr<v1::Review> ReadReview(storage::Snapshot& snapshot,
                                        absl::string_view id) const;

  const Options options_;
  const AssignmentPlanner planner_;
  const Idempotency idempotency_;

  absl::Mutex start_mu_;  // one StartReview at a time (overlap check)
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> stop_{false};
  absl::flat_hash_map<std::string, std::unique_ptr<Job>> jobs_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_REVIEW_RUNNER_H_
