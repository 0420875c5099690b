// The declarative semantics of applying a roster file (RULES.md "Roster
// file": what the file says becomes true; removed reps become `left`, never
// silently dropped), and the check that the new roster does not break the
// active ruleset. Pure: the service stores the result and refuses with
// FAILED_PRECONDITION when RulesBrokenByRoster is not empty.
//
// Thread-safe: pure functions.
#ifndef CUSTODIAN_RULES_ROSTER_APPLY_H_
#define CUSTODIAN_RULES_ROSTER_APPLY_H_

#include <string>
#include <vector>

#include "custodian/v1/diff.pb.h"
#include "custodian/v1/roster.pb.h"
#include "custodian/v1/ruleset.pb.h"

namespace custodian::rules {

struct RosterApplyResult {
  // The roster to store: the file's departments, reps and teams in file
  // order, then the reps of the current roster the file no longer names, in
  // their current order, with status LEFT and otherwise unchanged. It
  // validates (ValidateRoster) whenever `file` does: kept reps are in no
  // team, since a valid file's teams name only the file's reps.
  v1::Roster roster;
  // What changes, sorted by resource ("departments/<id>", "reps/<id>",
  // "teams/<id>"); empty when applying the file changes nothing.
  std::vector<v1::RosterChange> changes;
};

// Computes the effect of applying `file` to `current`:
//   - departments and teams: the file's set; one the file no longer names is
//     REMOVED, a new one ADDED. MODIFIED lists "name" (departments) or
//     "department", "members[<rep>]" (a member added or removed; before or
//     after is the member in file shape, e.g. `{rep: li.na, capacity: 50}`),
//     "members[<rep>].capacity" and ".weight" (capacity "" when unset),
//     "members" (the shared members' order changed; before/after are the
//     rep id lists, since order drives round_robin and ties), "pool" (the
//     team became or stopped being a pool), "pool.claim_limit_per_day" and
//     "pool.cooldown" ("" when unset), in that order.
//   - reps: a rep the file names takes the file's name, status and skills
//     (the file has defaults applied, so a rep written without a status
//     becomes `active`, also one that was `away` or `left`). A rep the file
//     no longer names stays, MODIFIED `status: <old> -> left` (no change if
//     already left); it is never REMOVED. A new rep is ADDED. MODIFIED lists
//     "name", "status" (lower-case) and "skills" (flow list, "" when none).
// ADDED and REMOVED changes carry no field changes.
// REQUIRES: both rosters have defaults applied; `file` validated without
// errors (unique ids).
RosterApplyResult ComputeRosterApply(const v1::Roster& current,
                                     const v1::Roster& file);

// A part of the active ruleset that a roster would break.
struct BrokenRule {
  // The department of a broken rule or fallback; "" for segments and
  // policies.
  std::string department;
  // The broken rule's id; "fallback" for a department's fallback; "" when
  // the problem is not in a rule (the department itself, policies).
  std::string rule_id;
  // Where: `departments.sales.rules[1].assign.team`,
  // `policies.recycling[0].to_pool`, `policies.disputes.panel.size`.
  std::string field_path;
  // Why, as the validator says it: `unknown team "mfg-east" (not in the
  // roster)`.
  std::string message;

  // `departments.sales.rules[1].assign.team (rule mfg-north): unknown team
  // "mfg-east" (not in the roster)`; without the parenthesis when rule_id is
  // empty or "fallback" (the path already says so).
  std::string ToString() const;
};

// Validates `active` against `new_roster` (ValidateRuleset) and returns
// every error that the roster causes, in validation order (segments,
// departments and their rules in order, policies). Errors the ruleset has
// without any roster are not reported. A LEFT (or AWAY) rep as a fixed
// target is not broken as long as the rep is still a member of a team of the
// rule's department (the analyzer only warns: customers go to the overflow,
// then the fallback); a rep removed from the file loses every membership,
// so a fixed target on it breaks ("is not a member of any team of
// department ...").
// REQUIRES: `active` has defaults applied; `new_roster` has defaults applied.
std::vector<BrokenRule> RulesBrokenByRoster(const v1::Ruleset& active,
                                            const v1::Roster& new_roster);

// One line for a FAILED_PRECONDITION message: "the roster would break the
// active ruleset (N problems): <item>; <item>" listing at most the first
// `max_items` items by ToString, then "; and K more". "" when `broken` is
// empty.
std::string SummarizeBrokenRules(const std::vector<BrokenRule>& broken,
                                 size_t max_items = 5);

}  // namespace custodian::rules

#endif  // CUSTODIAN_RULES_ROSTER_APPLY_H_
