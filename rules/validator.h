// Semantic validation of rulesets, rosters and customers in proto form, and
// the defaults that make a loaded ruleset fully resolved.
//
// The validator reports **all** errors, each at its field path (located
// through the Diagnostics' source map when the proto came from a file).
// It checks everything RULES.md names: names and id syntax, duplicate ids,
// fields and operators (unknown fields, operators that do not fit the field's
// type, value kinds), paths and tokens, RE2 patterns, durations, undefined
// segments (a segment may use only segments defined before it), targets with
// zero or several of team/pool/rep, strategies, policies; and, given a roster,
// unknown departments, teams, pools and reps, a pool used as a team or a team
// as a pool, a dispute panel larger than its team and a quorum larger than the
// panel. A fixed rep target must be a member of a team of the rule's
// department, and a rule assigning to a pool may not have an overflow. The
// exact syntax of every id is in docs/rules.md (rules/names.h).
//
// Thread-safe: no shared state.
#ifndef CUSTODIAN_RULES_VALIDATOR_H_
#define CUSTODIAN_RULES_VALIDATOR_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "custodian/v1/customer.pb.h"
#include "custodian/v1/roster.pb.h"
#include "custodian/v1/ruleset.pb.h"
#include "rules/diagnostics.h"

namespace custodian::rules {

// Fills every unset field that has a documented default (ruleset.proto):
// team targets' strategy ROUND_ROBIN, on_drift KEEP, capacity 200, duplicates
// ROUTE_TO_EXISTING_OWNER, disputes quorum/sla/on_expiry/reappeal_after,
// review stale_after 90d. Idempotent.
void ApplyRulesetDefaults(v1::Ruleset* ruleset);

// Fills rep status ACTIVE, member weight 1, display names = ids. Idempotent.
void ApplyRosterDefaults(v1::Roster* roster);

// Validates a ruleset (defaults applied). `roster` may be null: then no
// reference checks are made.
void ValidateRuleset(const v1::Ruleset& ruleset, const v1::Roster* roster,
                     Diagnostics* diags);

// Validates a roster (defaults applied): id syntax, duplicates, references
// from teams to departments and reps, pools without members, capacities,
// weights.
void ValidateRoster(const v1::Roster& roster, Diagnostics* diags);

// Validates a customer's values: id (required, 1-128 of [A-Za-z0-9._:@-]),
// name (UTF-8, <= 256 bytes), paths, tokens, non-negative integers, tags
// (tokens, no duplicates, at most 256), attribute keys (tokens) and values
// (UTF-8, <= 1024 bytes, at most 256 entries), timestamps in range.
// Returns INVALID_ARGUMENT whose message starts with the field path under
// `field_prefix`, e.g. "customer.region: segment 2 is empty"; OK otherwise.
absl::Status ValidateCustomer(const v1::Customer& customer,
                              absl::string_view field_prefix = "customer");

}  // namespace custodian::rules

#endif  // CUSTODIAN_RULES_VALIDATOR_H_
