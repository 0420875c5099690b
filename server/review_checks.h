// Review checks: the pure per-customer decisions of a periodic review
// (docs/reviews.md). No store, no gRPC, no clock: everything comes in
// CheckInput, and the answer is the findings, never a write.
//
// CheckCustomer examines each department of the customer's dry-run plan
// (AssignmentPlanner::Plan with PickMode::kDryRun over the stored
// ownerships: the decision the active rules make now, reserving nothing)
// and, per department whose ownership is in scope (InScope), in this
// order:
//   FROZEN (an appeal is open)  nothing: never reported, never changed;
//   ORPHANED  the ownership is ORPHANED, or its rep is LEFT or gone from the
//             roster; fixable when the dry-run pick found an owner (the
//             other checks are skipped for it);
//   PENDING_TOO_LONG  PENDING_APPROVAL with now - since >= pending_after;
//   DRIFT     ACTIVE, PENDING_APPROVAL or POOLED and the owner is not
//             contained in the department's target chain (the plan sets
//             drifted, or moves the owner); always fixable (a fresh pick
//             at apply time, which may find nobody);
//   STALE     ACTIVE and now - (last_activity_time, else since) >=
//             stale_after;
//   UNOWNED   no record, or UNOWNED, and the plan's decision is a rule or
//             the fallback (not NO_MATCH); fixable when the pick found an
//             owner. Only when the scope names no teams and no reps.
// OVER_CAPACITY needs every ownership of a rep and is decided by the
// runner (review_runner.h) from the counters; OverCapacityFinding builds
// its findings.
//
// Thread-safe: pure functions.
#ifndef CUSTODIAN_SERVER_REVIEW_CHECKS_H_
#define CUSTODIAN_SERVER_REVIEW_CHECKS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "custodian/storage/v1/records.pb.h"
#include "custodian/v1/review.pb.h"
#include "server/assignment_planner.h"

namespace custodian::server {

// The checks to run, as a bit set of (1 << FindingKind).
using CheckSet = uint32_t;
inline constexpr CheckSet CheckBit(v1::FindingKind kind) {
  return CheckSet{1} << static_cast<int>(kind);
}
// Every check.
CheckSet AllChecks();
// The kinds of a check set, in FindingKind order.
std::vector<v1::FindingKind> KindsOf(CheckSet checks);

// Whether an ownership of (department, team, rep) is in `scope` (see
// review.proto: every non-empty list must hold it).
bool InScope(const v1::ReviewScope& scope, absl::string_view department,
             absl::string_view team, absl::string_view rep);
// Whether two scopes can hold a common ownership: false only when, on some
// dimension, both name values and share none.
bool ScopesOverlap(const v1::ReviewScope& a, const v1::ReviewScope& b);

// The stable id of a finding: 16 hex characters of SHA-256 over (review
// id, kind, customer, department).
std::string FindingId(absl::string_view review_id, v1::FindingKind kind,
                      absl::string_view customer_id,
                      absl::string_view department);

// "active", "pending_approval", ... ("none" for a null ownership).
std::string OwnershipStateName(const v1::Ownership* ownership);

struct CheckInput {
  // The review ("reviews/{id}") and its id. Required.
  std::string review_name;
  std::string review_id;
  // The stored customer. REQUIRES: not null.
  const storage::v1::CustomerRecord* record = nullptr;
  // The stored ownerships by department. REQUIRES: not null.
  const absl::flat_hash_map<std::string, v1::Ownership>* current = nullptr;
  // The dry-run plan; null when no ruleset is active (then only ORPHANED,
  // PENDING_TOO_LONG and STALE are checked, over the stored ownerships).
  const AssignmentPlan* plan = nullptr;
  // REQUIRES: not null.
  const RosterIndex* roster = nullptr;
  // The active policies (DefaultPolicies() when none is active).
  const v1::Policies* policies = nullptr;
  const v1::ReviewScope* scope = nullptr;
  CheckSet checks = 0;
  absl::Time now;
  absl::Duration pending_after = absl::Hours(24 * 7);
};

// The findings of one customer (see the top of this file), in department
// order then kind order; status, create_time and the resolution fields are
// left for the caller.
std::vector<v1::Finding> CheckCustomer(const CheckInput& input);

// policies.review.stale_after, 90 days when unset.
absl::Duration StaleAfter(const v1::Policies& policies);

// The OVER_CAPACITY finding of `ownership` (of a rep owning `owned`
// customers of a capacity of `capacity` in its department).
v1::Finding OverCapacityFinding(absl::string_view review_name,
                                absl::string_view review_id,
                                const v1::Ownership& ownership, int64_t owned,
                                int64_t capacity);

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_REVIEW_CHECKS_H_
