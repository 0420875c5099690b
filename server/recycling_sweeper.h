// RecyclingSweeper: policies.recycling (公海回收) applied to stored
// ownerships. Moves every ACTIVE ownership whose recycling rule now holds
// (RULES.md; e.g. no follow-up for 30 days and not won) back to the rule's
// pool, as an ownership event with cause RECYCLE, actor "custodiand" and
// the rule in the reason; the rep who lost it gets the pool's cooldown for
// the customer (pool_desk.h). Independent of gRPC and of threads: the server
// calls SweepNow() on its own timer; tests call it after moving a manual
// clock.
//
// What is never recycled:
//   - an ownership that is not ACTIVE: FROZEN (an appeal is open),
//     PENDING_APPROVAL, POOLED, ORPHANED, UNOWNED;
//   - a protected new owner: now < since + policies.protection.new_owner
//     (a recycle exactly at since + new_owner happens);
//   - when no ruleset is active, or its rule's pool is no longer a pool of
//     the department in the roster (counted in Stats::skipped_no_pool).
// A rule holds when its `when` holds for the stored customer at the
// clock's now (so `last_activity_time: {older_than: 30d}` holds once the
// last activity is more than 30 days old; RecordActivity resets it).
//
// Write discipline: each customer is examined and, if due, recycled in ONE
// transaction of its own (server/mutation.h): GetForUpdate of the ownership
// and the customer record, the rule check, OwnershipBook::Stage, the
// cooldown record; nothing else is locked, so the sweeper never holds a
// lock that Assign waits on for longer than one customer's commit, and a
// concurrent Assign, Claim or RecordActivity of the same customer is
// ordered before or after it (the sweep re-checks after taking the locks).
//
// Batches and resumption: a pass walks, for each department that has a
// recycling rule (in rule order), the department's ACTIVE index in customer
// order, at most Options::batch_size entries per batch. After every batch
// the position (department, last customer) is stored in kOperations under
// ("recycle_cursor"), so a pass interrupted by a crash resumes where it
// stopped; the cursor is deleted when a pass completes. Idempotent: a
// recycled ownership is POOLED and is not examined again; sweeping twice at
// the same time recycles nothing the second time.
//
// Thread-safety: thread-safe; concurrent SweepNow/SweepBatch calls run one
// at a time.
#ifndef CUSTODIAN_SERVER_RECYCLING_SWEEPER_H_
#define CUSTODIAN_SERVER_RECYCLING_SWEEPER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "rules/recycling.h"
#include "server/ownership_book.h"
#include "server/ruleset_registry.h"
#include "server/team_allocator.h"
#include "storage/store.h"

namespace custodian::server {

// The actor of recycling events.
inline constexpr absl::string_view kSweeperActor = "custodiand";
// The "RPC" the audit record of a recycling move names.
inline constexpr absl::string_view kRecycleRpc = "custodiand/RecyclingSweeper";

// The key of the sweep position in Table::kOperations.
std::string RecycleCursorKey();

class RecyclingSweeper {
 public:
  struct Options {
    // Where everything lives. Required; must outlive the sweeper.
    storage::Store* store = nullptr;
    // The active ruleset (its recycling and protection policies).
    // Required; must outlive the sweeper.
    const RulesetRegistry* rulesets = nullptr;
    // Ownership records and events. Required; must outlive the sweeper.
    const OwnershipBook* book = nullptr;
    // The allocator every writer of ownerships shares. Required.
    TeamAllocator* allocator = nullptr;
    // "Now" of the rules and of protection. Default: the real clock.
    Clock* clock = Clock::Real();
    // Index entries examined per batch, >= 1. Default: 500.
    int batch_size = 500;
    // Attempts per transaction on ABORTED, >= 1. Default: 10.
    int max_attempts = 10;
  };

  // What a sweep did.
  struct Stats {
    // ACTIVE ownerships examined.
    int64_t examined = 0;
    // Moved back to a pool.
    int64_t recycled = 0;
    // A rule held but the owner is protected (policies.protection).
    int64_t protected_owner = 0;
    // A rule held but its pool is not a pool of the department.
    int64_t skipped_no_pool = 0;
    // Batches run.
    int64_t batches = 0;
  };

  // Returns INVALID_ARGUMENT naming a bad option.
  static absl::StatusOr<std::unique_ptr<RecyclingSweeper>> Create(
      Options options);

  // Runs batches until the current pass completes (resuming a stored
  // position). Returns what it did, or the first error (the position
  // reached so far stays stored: the next call resumes there).
  absl::StatusOr<Stats> SweepNow();

  // Runs one batch, adding to *stats. Returns true when the pass completed
  // with it (the cursor is then deleted). REQUIRES: stats != nullptr.
  absl::StatusOr<bool> SweepBatch(Stats* stats);

 private:
  explicit RecyclingSweeper(Options options) : options_(options) {}

  // The matcher of the active ruleset, compiled once per version; null
  // when no ruleset is active.
  absl::StatusOr<std::shared_ptr<const rules::RecyclingMatcher>> Matcher()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Examines one customer's ownership in `department` and recycles it if
  // due, in its own transaction.
  absl::Status SweepOne(const rules::RecyclingMatcher& matcher,
                        absl::string_view department,
                        absl::string_view customer_id, Stats* stats);

  Options options_;
  absl::Mutex mu_;  // one sweep at a time
  int64_t matcher_version_ ABSL_GUARDED_BY(mu_) = -1;
  std::shared_ptr<const rules::RecyclingMatcher> matcher_ ABSL_GUARDED_BY(mu_);
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_RECYCLING_SWEEPER_H_
