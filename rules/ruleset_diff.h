// What changes between two rulesets, for `custodianctl rules diff` and the
// DiffRulesets RPC. Values are rendered in file shape by rules/format.h.
//
// Semantics (docs/rules.md "Ruleset diffs"):
//   - Departments are matched by id and listed in `to` order, then the ones
//     only `from` has, in `from` order. A department only `to` has is ADDED
//     and lists each of its rules as ADDED; one only `from` has is REMOVED
//     and lists each rule as REMOVED; otherwise it is MODIFIED and appears
//     only when something in it changed. Department order is not compared.
//   - Rules are matched by id within their department and listed in `to`
//     order, then removed rules in `from` order. old_position/new_position
//     are 0-based indexes (-1 on the side a rule is missing from).
//   - A MODIFIED rule lists, in this order: `when.<key>` for each top-level
//     clause key whose clauses differ (before/after via FormatClause; a key
//     present on one side only has an empty before or after; several clauses
//     with one key are joined with ", "; clause order within a block is not
//     compared); `assign`; `overflow`; `position`, when the rule moved
//     relative to the rules both versions share (the shared rules that stay
//     in place are a longest common subsequence, so inserting or removing a
//     rule does not move the others; before/after are the 0-based indexes);
//     `description` (raw text).
//   - An ADDED (REMOVED) rule lists its content the same way with empty
//     befores (afters): each `when.<key>`, `assign`, `overflow` when set, and
//     `description` when not empty, so a diff shows what a new rule does.
//   - `fallback` is set on a department when its fallback changed
//   (FormatTarget;
//     empty when absent).
//   - Segments are matched by name and listed in `to` order, then removed
//     ones. A MODIFIED segment lists `when` (FormatCondition, compared like a
//     rule's clauses), `position` (as for rules) and `description`; ADDED and
//     REMOVED segments list `when` and a non-empty `description`.
//   - Policies are compared leaf by leaf through reflection, each change at
//     its path: `policies.capacity.default_max_customers`,
//     `policies.on_drift`, `policies.disputes.panel.size`,
//     `policies.review.stale_after`. Repeated messages are compared item by
//     item by index, each item as a whole (`policies.recycling[0]`, flow
//     map); repeated scalars as a whole list (`policies.duplicates.match_on`).
//     A sub-message present on one side only (`policies.disputes`) is one
//     change with the whole message. Enums are lower-case file names,
//     durations like "30d".
//   - `name` is set when the ruleset name changed (field "ruleset").
//   - The ruleset's own `description` is not reported: RulesetDiff has no
//     field for it.
// Identical rulesets (up to clause order and department order) give an
// empty diff. The result is deterministic.
//
// Thread-safe: pure function.
#ifndef CUSTODIAN_RULES_RULESET_DIFF_H_
#define CUSTODIAN_RULES_RULESET_DIFF_H_

#include "custodian/v1/diff.pb.h"
#include "custodian/v1/ruleset.pb.h"

namespace custodian::rules {

// REQUIRES: both rulesets have defaults applied and unique rule ids per
// department, department ids and segment names (as valid rulesets do).
// With duplicates the result is deterministic but pairs only the first of
// each id.
v1::RulesetDiff DiffRulesets(const v1::Ruleset& from, const v1::Ruleset& to);

// Whether `diff` reports no change at all.
bool IsEmptyDiff(const v1::RulesetDiff& diff);

}  // namespace custodian::rules

#endif  // CUSTODIAN_RULES_RULESET_DIFF_H_
