#include "server/mutation.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace custodian::server {

// Runs a mutation: up to `max_attempts` transactions of `attempt`, each
// committed; after a commit that succeeded (or whose outcome is unknown)
// finishes the plans in the allocator and, after a success, the events in
// the sequencer. An attempt's effects are given back when it fails.
absl::Status RunMutation(
    storage::Store& store, TeamAllocator& allocator, int max_attempts,
    absl::FunctionRef<absl::Status(storage::Transaction&, MutationEffects&)>
        attempt) {
  absl::Status last = absl::AbortedError("no attempt was made");
  for (int i = 0; i < max_attempts; ++i) {
    MutationEffects effects;
    // Locking reads without a snapshot: every record a decision depends on
    // is read with GetForUpdate (store.h, TxnOptions::snapshot), and the
    // roster is read unlocked by design (the top of assigner.h).
    storage::TxnOptions txn_options;
    txn_options.snapshot = false;
    ASSIGN_OR_RETURN(std::unique_ptr<storage::Transaction> txn,
                     store.Begin(txn_options));
    absl::Status s = attempt(*txn, effects);
    if (s.ok() && effects.replay) {
      txn->Rollback();
      return absl::OkStatus();
    }
    if (!s.ok()) {
      txn->Rollback();
      if (!absl::IsAborted(s)) return s;
      last = s;
      continue;  // effects (reservations, tickets) are given back here
    }
    s = txn->Commit();
    if (s.ok()) {
      for (DepartmentPlan& plan : effects.plans) plan.Finish(allocator);
      effects.events.Committed();
      return absl::OkStatus();
    }
    if (absl::IsUnavailable(s)) {
      // The outcome is unknown: count the reservations (team_allocator.h);
      // the events are abandoned (event_sequencer.h).
      for (DepartmentPlan& plan : effects.plans) plan.Finish(allocator);
      return s;
    }
    if (!absl::IsAborted(s)) return s;
    last = s;
  }
  return absl::AbortedError(
      absl::StrCat("gave up after ", max_attempts,
                   " conflicting attempts: ", last.message()));
}

}  // namespace custodian::server
