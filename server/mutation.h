// RunMutation: the transaction loop of the pool's ownership mutations
// (PoolDesk, the recycling sweeper), so that capacity reservations and event
// tickets are finished exactly once after a commit and given back after a
// failure. It has the contract of the loop of the same name in
// assigner.cc, which stays there for now (the Assign hot path is being
// reshaped on main); the two should become one once both have landed.
//
// A mutation is an `attempt` run in a fresh locking transaction
// (TxnOptions::snapshot = false: every record the decision depends on must
// be read with GetForUpdate). The attempt fills a MutationEffects with what
// must happen after the commit. Outcomes:
//   - the attempt sets effects.replay (an idempotent retry answered from the
//     stored first answer): rolled back, OK;
//   - the attempt fails: rolled back and its effects given back; ABORTED
//     runs the next attempt, any other error is returned;
//   - Commit() OK: the plans are finished in the allocator and the events
//     marked committed; OK;
//   - Commit() UNAVAILABLE (outcome unknown): the reservations are counted
//     (team_allocator.h), the events abandoned; UNAVAILABLE;
//   - ABORTED on every attempt: ABORTED naming the attempts.
// A later change adds "stage an audit record" to each attempt; nothing here
// depends on what an attempt stages.
//
// Thread-safe: a function; the store and allocator are thread-safe.
#ifndef CUSTODIAN_SERVER_MUTATION_H_
#define CUSTODIAN_SERVER_MUTATION_H_

#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "server/assignment_planner.h"
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
  // Events staged, to finish after the commit.
  PendingEvents events;
};

// REQUIRES: max_attempts >= 1.
absl::Status RunMutation(
    storage::Store& store, TeamAllocator& allocator, int max_attempts,
    absl::FunctionRef<absl::Status(storage::Transaction&, MutationEffects&)>
        attempt);

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_MUTATION_H_
