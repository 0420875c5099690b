// Static analysis of a valid ruleset: warnings, with locations, about rules
// that are legal but probably not what the author meant.
//
//   - a rule that can never match because an earlier rule of the same
//     department matches everything it would: an earlier rule with an empty
//     `when`, or an earlier rule whose clauses are a subset of this rule's
//     (every clause of the earlier rule also appears, or is implied by a
//     clause, in this one);
//   - a team target (or overflow/fallback) whose team has no active member
//     (given a roster);
//   - a fixed rep target whose rep is not active (given a roster);
//   - a dispute panel team with fewer active members than the panel size
//     (given a roster);
//   - a department without a fallback.
//
// The shadowing check is sound (it never reports a rule that can match) but
// not complete; docs/rules.md lists the implications it knows. Each warning
// is located at the rule, target or department it is about.
//
// Thread-safe: no shared state.
#ifndef CUSTODIAN_RULES_ANALYZER_H_
#define CUSTODIAN_RULES_ANALYZER_H_

#include "custodian/v1/roster.pb.h"
#include "custodian/v1/ruleset.pb.h"
#include "rules/diagnostics.h"

namespace custodian::rules {

// REQUIRES: `ruleset` validated without errors. `roster` may be null.
void AnalyzeRuleset(const v1::Ruleset& ruleset, const v1::Roster* roster,
                    Diagnostics* diags);

}  // namespace custodian::rules

#endif  // CUSTODIAN_RULES_ANALYZER_H_
