// AssignmentPlanner: the decision logic of Assign, Evaluate, UpdateCustomer
// and Reject (RULES.md "Targets", DESIGN.md "The domain"), over the roster,
// the compiled active ruleset and a TeamAllocator. No store and no gRPC: it
// reads nothing durable (the allocator may load counters through its loader)
// and writes nothing; the caller (assigner.h) stages the plan in one
// transaction and, once committed, finishes it (DepartmentPlan::Finish).
//
// What Plan decides, per department of the active ruleset (ruleset order):
//
//   Fresh pick (no ownership, UNOWNED, ORPHANED, the owner's rep left the
//   roster, or on_drift REASSIGN): the department's decision (first
//   matching rule, else the fallback, else NO_MATCH) gives a target chain:
//     RULE      the rule's target ("rule"), its overflow ("overflow"), the
//               department's fallback ("fallback");
//     FALLBACK  the fallback ("fallback"), rule_id "fallback";
//     NO_MATCH  nothing: UNOWNED with reason NO_MATCH.
//   The first target of the chain that yields an owner decides:
//     team  the allocator picks among the team's eligible members by the
//           target's strategy (active, not in cooldown, below capacity in
//           the department); every member passed over is listed in
//           explanation.skipped with its reason, across every team tried, in
//           chain order then member order. No eligible member: next target.
//     rep   a fixed rep: eligible only if active, not in cooldown and below
//           its capacity in the department (its seat in the first team of
//           the department, in roster order, that lists it; the default
//           capacity if none does). Not eligible: skipped, next target.
//     pool  POOLED in that pool (pools have no capacity).
//   A team or pool the roster no longer has (or that is not of the
//   department, or is of the wrong kind) yields nothing and the chain goes
//   on. No target yields an owner: UNOWNED with reason NO_CAPACITY and the
//   rule's id. A rep picked from a target with requires_approval is
//   PENDING_APPROVAL, else ACTIVE. `since` is the evaluation time when the
//   owner (rep, pool) changes, else the stored one (as OwnershipBook::Stage
//   sets it).
//
//   Known owner (ACTIVE or PENDING_APPROVAL with a rep still on the roster
//   and not LEFT, or POOLED): the owner is *contained* when some target of
//   the chain above holds it: a team target whose team lists the rep, a rep
//   target naming the rep, a pool target naming the pool. Contained: the
//   ownership is kept exactly as stored (rule_id, ruleset_version, since and
//   explanation keep describing the decision that gave the owner; a kept
//   owner consumes no reservation and moves no counter); only a drifted flag
//   set earlier is cleared, which is a change. Not contained (drift):
//     on_drift KEEP      the same owner with drifted = true (a change only
//                        when the flag flips);
//     on_drift REASSIGN  a fresh pick as above (the old rep's load goes
//                        down, the new rep's up); when the fresh pick finds
//                        no one eligible (NO_CAPACITY) the owner is kept
//                        with drifted = true instead of being dropped for
//                        nobody; NO_MATCH does drop it (UNOWNED NO_MATCH):
//                        the rules now say nobody owns it.
//   FROZEN (an appeal is open): never moved; unchanged.
//   ORPHANED, or a rep that is LEFT or gone from the roster: a fresh pick
//   whatever on_drift says; when it finds no one (NO_CAPACITY) the stored
//   ownership is left as it is (the roster code orphans it).
//   None / UNOWNED: a fresh pick; unchanged when the result has the same
//   state, rep, team, pool, unowned reason and rule as stored (so
//   re-assigning an unowned customer does not churn events).
//
// Load counting follows the ownership book (ownership_book.h): a rep's load
// counter (TeamAllocator::OwnedCounterKey) counts every ownership whose rep
// is that rep, in any state, so an ownership change moves the load only when
// the rep changes (OwnedDeltas). OwnershipBook::Stage adds those deltas to
// the stored counters; the plan tells the allocator after the commit
// (DepartmentPlan::Finish). Won customers are counted apart
// (TeamAllocator::WonCounterKey, kept by the book, which reports the changes
// for the caller to give the allocator); with policies.capacity.count_won
// false (the default) they do not count toward capacity
// (PickRequest::count_won), and least-loaded still compares everything
// owned.
//
// Thread-safety: an AssignmentPlanner is immutable apart from the allocator
// it uses, which is thread-safe; Plan may be called from many threads.
#ifndef CUSTODIAN_SERVER_ASSIGNMENT_PLANNER_H_
#define CUSTODIAN_SERVER_ASSIGNMENT_PLANNER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "custodian/v1/customer.pb.h"
#include "custodian/v1/evaluation.pb.h"
#include "custodian/v1/ownership.pb.h"
#include "custodian/v1/roster.pb.h"
#include "custodian/v1/ruleset.pb.h"
#include "rules/compiled_ruleset.h"
#include "server/team_allocator.h"

namespace custodian::server {

// "round_robin", "weighted", "least_loaded", "best_match" ("" for
// STRATEGY_UNSPECIFIED or an unknown value).
absl::string_view StrategyFileName(v1::Strategy strategy);

// The proto enum of an allocator skip reason.
v1::SkippedCandidate::Reason ToProtoSkipReason(SkipReason reason);

// The roster, indexed for planning. Immutable after construction;
// thread-safe.
class RosterIndex {
 public:
  // REQUIRES: `roster` had ApplyRosterDefaults and validates.
  explicit RosterIndex(v1::Roster roster);
  // The index points into its roster's elements, so a move indexes the
  // moved roster again (a roster is indexed once per version); no copies.
  RosterIndex(RosterIndex&& other);
  RosterIndex& operator=(RosterIndex&& other);
  RosterIndex(const RosterIndex&) = delete;
  RosterIndex& operator=(const RosterIndex&) = delete;

  const v1::Roster& roster() const { return roster_; }
  bool HasDepartment(absl::string_view id) const;
  // nullptr when absent.
  const v1::Rep* FindRep(absl::string_view id) const;
  const v1::Team* FindTeam(absl::string_view id) const;
  // The reps of `team`'s members in member order, null for a member whose
  // rep the roster lacks: looked up once here instead of once per member
  // per pick. REQUIRES: `team` is this roster's (FindTeam).
  absl::Span<const v1::Rep* const> MemberReps(const v1::Team& team) const;

  // A rep's seat in a department: the first team (roster order) of the
  // department that is not a pool and lists the rep, and that member entry.
  struct Seat {
    const v1::Team* team = nullptr;
    const v1::TeamMember* member = nullptr;
  };
  // nullopt when no team of `department` lists `rep`.
  std::optional<Seat> FindSeat(absl::string_view department,
                               absl::string_view rep) const;

 private:
  // Fills the maps below from roster_.
  void Index();

  v1::Roster roster_;
  absl::flat_hash_map<std::string, int> departments_;
  absl::flat_hash_map<std::string, int> reps_;
  absl::flat_hash_map<std::string, int> teams_;
  absl::flat_hash_map<const v1::Team*, std::vector<const v1::Rep*>>
      member_reps_;
};

// Policies with every default applied (ApplyRulesetDefaults of an empty
// ruleset), for decisions made while no ruleset is active.
const v1::Policies& DefaultPolicies();

// The capacity of a team member: its own, else
// policies.capacity.default_max_customers.
int64_t MemberCapacity(const v1::TeamMember& member,
                       const v1::Policies& policies);

// Whether `ownership` counts toward its rep's load in its department: it
// has a rep (any state), as OwnershipBook counts.
bool CountsTowardCapacity(const v1::Ownership& ownership);

// A change of one rep's load counter in one department.
struct OwnedDelta {
  std::string department;
  std::string rep_id;
  int64_t delta = 0;

  friend bool operator==(const OwnedDelta& a, const OwnedDelta& b) {
    return a.department == b.department && a.rep_id == b.rep_id &&
           a.delta == b.delta;
  }
};

// The load counter changes of replacing `before` (null: none) with
// `after`: -1 for a rep that stops counting, +1 for one that starts;
// nothing when the same rep counts on both sides. The same deltas
// OwnershipBook::Stage adds to the stored counters.
std::vector<OwnedDelta> OwnedDeltas(const v1::Ownership* before,
                                    const v1::Ownership& after);

// Whether `rep` is in a cooldown for the customer being planned in
// `department` (the pool issue's cooldown records). Null: nobody is.
using CooldownFn =
    std::function<bool(absl::string_view department, absl::string_view rep_id)>;

// How Plan picks team members.
enum class PickMode {
  // TeamAllocator::Pick: reserves a unit of the rep's capacity and advances
  // the team's cursors (Assign, UpdateCustomer, Reject, Transfer).
  kReserve,
  // TeamAllocator::Peek: the same choice, nothing reserved, no cursor moved
  // (Evaluate). Plans made this way carry no reservations.
  kDryRun,
};

// The plan of one department. Move-only (it may hold a reservation).
struct DepartmentPlan {
  std::string department;
  // The stored ownership; absent when there was none.
  std::optional<v1::Ownership> before;
  // The ownership after the call (== *before when !changed).
  v1::Ownership after;
  // True when `after` differs from `before` (or there was none): the
  // ownership, an event with `cause` and the counters must be written.
  bool changed = false;
  v1::OwnershipEvent::Cause cause = v1::OwnershipEvent::RULE;
  // The unit of capacity reserved for after.rep() by a kReserve pick;
  // absent when no rep was picked (kept owner, pool, unowned, dry run).
  std::optional<CapacityReservation> reservation;
  // True when the reservation was made for a team of the roster (not for a
  // fixed rep or a transfer): its cursor_delta() must be added to
  // TeamAllocator::CursorCounterKey(reservation->team_id()).
  bool reservation_moves_cursor = false;
  // The load counter changes of the change (OwnedDeltas(before, after)
  // when changed; empty otherwise), staged by OwnershipBook::Stage.
  std::vector<OwnedDelta> owned_deltas;

  // Whether the reservation turns into an owned customer (after.rep() gets
  // +1 in owned_deltas); otherwise it is given back after the commit.
  bool ReservationCounts() const;
  // The round-robin cursor change to add in the ownership commit, as
  // (TeamAllocator::CursorCounterKey(team), delta): present when the
  // reservation counts, moves a cursor and its delta is not 0.
  std::optional<std::pair<std::string, int64_t>> CursorAdd() const;
  // The load changes not covered by the reservation: Preload each rep
  // before the commit (TeamAllocator::AdjustOwned's REQUIRES); Finish
  // applies them.
  std::vector<OwnedDelta> Adjustments() const;
  // Set by Finish.
  bool finished = false;
  // After the commit succeeded (or its outcome is unknown, see
  // team_allocator.h): commits or gives back the reservation and applies
  // Adjustments() to the allocator. Later calls do nothing.
  void Finish(TeamAllocator& allocator);
};

struct AssignmentPlan {
  // The evaluation (segments, one decision per department).
  v1::Evaluation evaluation;
  // One per department of the ruleset, in ruleset order.
  std::vector<DepartmentPlan> departments;

  bool changed() const;
  // DepartmentPlan::Finish for every department.
  void Finish(TeamAllocator& allocator);
};

struct PlanInput {
  // The customer as it will be stored. REQUIRES: ValidateCustomer OK.
  const v1::Customer* customer = nullptr;
  // The active ruleset and its version. REQUIRES: not null, version >= 1.
  const rules::CompiledRuleset* ruleset = nullptr;
  int64_t ruleset_version = 0;
  // REQUIRES: not null.
  const RosterIndex* roster = nullptr;
  // The stored ownerships of the customer by department; null or missing
  // entries: none.
  const absl::flat_hash_map<std::string, v1::Ownership>* current = nullptr;
  // The evaluation time (time conditions, `since`).
  absl::Time now;
  // Cooldowns; null: none.
  CooldownFn in_cooldown;
};

// Where Reject sends a pending ownership.
struct RejectInput {
  // The customer as stored. REQUIRES: not null.
  const v1::Customer* customer = nullptr;
  // The PENDING_APPROVAL ownership being rejected. REQUIRES: not null.
  const v1::Ownership* pending = nullptr;
  // The active ruleset (its policies and the department's fallback), or
  // null when none is active (then only the stored decision's targets are
  // tried, with default policies).
  const rules::CompiledRuleset* ruleset = nullptr;
  // REQUIRES: not null.
  const RosterIndex* roster = nullptr;
  absl::Time now;
  CooldownFn in_cooldown;
};

class AssignmentPlanner {
 public:
  // REQUIRES: `allocator` outlives the planner.
  explicit AssignmentPlanner(TeamAllocator* allocator)
      : allocator_(allocator) {}

  // Plans every department of the ruleset (see the top of this file).
  // kReserve plans hold reservations: stage them and call Finish after the
  // commit, or destroy the plan to give them back. Returns INVALID_ARGUMENT
  // for a null input pointer, or the allocator's error (a counter that could
  // not be loaded); nothing is reserved then.
  absl::StatusOr<AssignmentPlan> Plan(const PlanInput& input,
                                      PickMode mode) const;

  // Reject of a pending ownership (cause REJECTION): the next eligible
  // member of the same team, by the same strategy, with the rejected rep
  // left out (a fixed-rep target naming that rep is passed over); then the
  // targets after it in the stored decision's chain (overflow, then the active
  // ruleset's fallback for the department); else UNOWNED with reason
  // NO_CAPACITY. A rep picked from a target with requires_approval is
  // PENDING_APPROVAL again. The old rep's load goes down. Always kReserve.
  // INVALID_ARGUMENT for null inputs or an ownership that is not
  // PENDING_APPROVAL; the allocator's errors.
  absl::StatusOr<DepartmentPlan> PlanReject(const RejectInput& input) const;

  // Reserves one unit of `rep_id`'s capacity in `department` at its seat
  // (RosterIndex::FindSeat; the default capacity without one), as for a
  // fixed-rep target but ignoring cooldowns (Transfer: a manager's
  // decision). Not eligible (unknown or not ACTIVE rep, at capacity):
  // picked() false and the reason in `skipped`. The reservation moves no
  // stored cursor. With PickMode::kDryRun the same answer without a
  // reservation (Evaluate). Returns the allocator's errors.
  absl::StatusOr<PickResult> ReserveRep(
      absl::string_view department, absl::string_view rep_id,
      const RosterIndex& roster, const v1::Policies& policies,
      PickMode mode = PickMode::kReserve) const;

 private:
  TeamAllocator* allocator_;
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_ASSIGNMENT_PLANNER_H_
