// RunMutation: the transaction loop of every ownership mutation (Assigner,
// PoolDesk, the recycling sweeper), so that capacity reservations, won
// counts and event tickets are finished exactly once after a commit and
// given back after a failure.
//
// A mutation is an `attempt` run in a fresh locking transaction
// (MutationTxnOptions: TxnOptions::snapshot = false, so every record the
// decision depends on must be read with GetForUpdate). The attempt fills a
// MutationEffects with what must happen after the commit. Outcomes:
//   - the attempt sets effects.replay (an idempotent retry answered from the
//     stored first answer): rolled back, OK;
//   - the attempt fails: rolled back and its effects given back; ABORTED
//     runs the next attempt, any other error is returned;
//   - Commit() OK: MutationEffects::Finish(committed); OK;
//   - Commit() UNAVAILABLE (outcome unknown): Finish(not committed): the
//     reservations and counter changes are counted (team_allocator.h), the
//     events abandoned; UNAVAILABLE;
//   - ABORTED on every attempt: ABORTED naming the attempts.
// Before the commit the won counts of the reps whose won counter moves are
// loaded (TeamAllocator::AdjustWon's REQUIRES); a failure to load them is
// returned, with nothing written.
//
// Thread-safe: functions; the store and allocator are thread-safe.
#ifndef CUSTODIAN_SERVER_MUTATION_H_
#define CUSTODIAN_SERVER_MUTATION_H_

#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "server/assignment_planner.h"
#include "server/audit_log.h"
#include "server/ownership_book.h"
#include "server/team_allocator.h"
#include "storage/store.h"

namespace custodian::server {

// What an attempt leaves for after its commit.
struct MutationEffects {
  // True when the answer came from the idempotency record: nothing staged.
  bool replay = false;
  // Reservations and load adjustments to finish after the commit.
  std::vector<DepartmentPlan> plans;
  // Events staged, to finish after the commit; they also carry the won
  // counter changes of the ownership changes (OwnershipBook::Stage).
  PendingEvents events;
  // Won counter changes of a customer record becoming (or no longer) won
  // (OwnershipBook::StageCustomer).
  std::vector<RepCountChange> won_changes;

  // Loads the won counts of the reps whose won counter moves, before the
  // commit. The allocator's errors.
  absl::Status PreloadWon(TeamAllocator& allocator) const;
  // After a commit that succeeded (`committed`) or whose outcome is
  // unknown: finishes the plans (commits or gives back the reservations,
  // applies the load adjustments), applies the won changes and, after a
  // success, marks the events committed (an unknown outcome abandons them).
  void Finish(TeamAllocator& allocator, bool committed);
};

// The resources the audit record of a change to `o` names: the customer,
// its ownership in the department and the rep, if any.
std::vector<std::string> OwnershipResources(const v1::Ownership& o);

// True when every role `actor` used is `rep` (a rep acting for themselves,
// not as a manager, admin or system).
bool ActsOnlyAsRep(const Actor& actor);

// The options of a mutation's transaction: locking reads, no snapshot.
storage::TxnOptions MutationTxnOptions();

// REQUIRES: max_attempts >= 1.
absl::Status RunMutation(
    storage::Store& store, TeamAllocator& allocator, int max_attempts,
    absl::FunctionRef<absl::Status(storage::Transaction&, MutationEffects&)>
        attempt);

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_MUTATION_H_
