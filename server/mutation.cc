#include "server/mutation.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace custodian::server {

absl::Status MutationEffects::PreloadWon(TeamAllocator& allocator) const {
  for (const RepCountChange& c : won_changes) {
    RETURN_IF_ERROR(allocator.Preload(c.department, c.rep_id));
  }
  for (const RepCountChange& c : events.won_changes()) {
    RETURN_IF_ERROR(allocator.Preload(c.department, c.rep_id));
  }
  return absl::OkStatus();
}

void MutationEffects::Finish(TeamAllocator& allocator, bool committed) {
  for (DepartmentPlan& plan : plans) plan.Finish(allocator);
  for (const RepCountChange& c : won_changes) {
    allocator.AdjustWon(c.department, c.rep_id, c.delta);
  }
  for (const RepCountChange& c : events.won_changes()) {
    allocator.AdjustWon(c.department, c.rep_id, c.delta);
  }
  if (committed) events.Committed();
}

std::vector<std::string> OwnershipResources(const v1::Ownership& o) {
  std::vector<std::string> out = {
      absl::StrCat("customers/", o.customer_id()),
      absl::StrCat("customers/", o.customer_id(), "/departments/",
                   o.department())};
  if (!o.rep().empty()) out.push_back(absl::StrCat("reps/", o.rep()));
  return out;
}

bool ActsOnlyAsRep(const Actor& actor) {
  if (actor.roles.empty()) return false;
  for (const std::string& role : actor.roles) {
    if (role != "rep") return false;
  }
  return true;
}

storage::TxnOptions MutationTxnOptions() {
  // Locking reads without a snapshot: every record a decision depends on is
  // read with GetForUpdate (store.h, TxnOptions::snapshot), and the roster
  // is read unlocked by design (the top of assigner.h).
  storage::TxnOptions options;
  options.snapshot = false;
  return options;
}

absl::Status RunMutation(
    storage::Store& store, TeamAllocator& allocator, int max_attempts,
    absl::FunctionRef<absl::Status(storage::Transaction&, MutationEffects&)>
        attempt) {
  absl::Status last = absl::AbortedError("no attempt was made");
  for (int i = 0; i < max_attempts; ++i) {
    MutationEffects effects;
    ASSIGN_OR_RETURN(std::unique_ptr<storage::Transaction> txn,
                     store.Begin(MutationTxnOptions()));
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
    s = effects.PreloadWon(allocator);
    if (!s.ok()) {
      txn->Rollback();
      return s;
    }
    s = txn->Commit();
    if (s.ok() || absl::IsUnavailable(s)) {
      effects.Finish(allocator, /*committed=*/s.ok());
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
