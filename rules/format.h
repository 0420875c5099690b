// Rendering rulesets and rosters back into the file shape of RULES.md.
//
// Two forms:
//   - compact one-line flow YAML for pieces (a `when:` block, one clause, a
//     target, a policy value), as used in diffs and messages:
//       FormatCondition -> {region: {under: [CN/East]}, segment: key_account}
//       FormatClause    -> region: {under: [CN/East]}
//       FormatTarget    -> {team: ka-east, strategy: round_robin,
//                           requires_approval: true}
//   - whole files (FormatRulesetYaml, FormatRosterYaml): block style for the
//     document, flow style for small maps (targets, operators, members).
//
// The output is canonical and deterministic: the same proto always renders
// to the same text. Shorthands are used the way an admin writes them: a field
// with a single `eq` is `field: value`, a field with a single `in` is
// `field: [a, b]`; `under`/`not_under` always take a list. Strings that YAML
// (or the loader) would misread are double-quoted: empty strings, null-like
// (`null`, `~`), boolean-like (`true`, `yes`, `off`, ...) and number-like
// (`123`, `1.5`, `0x10`, `1e3`) strings, leading or trailing spaces, control
// characters, and strings holding `:`, `#`, `,`, brackets, braces or quotes
// or starting with a YAML indicator. Integers and booleans are never quoted.
//
// Round trip: for a ruleset r with defaults applied and every string valid
// per RULES.md, LoadRuleset(FormatRulesetYaml(r)) followed by
// ApplyRulesetDefaults equals r field for field (including which optional
// sub-messages are present); likewise for rosters with ApplyRosterDefaults.
// Exceptions, which no file can express (a YAML map has unique keys): a field
// condition with the same operator twice is split into several clauses on
// that field, and a `when:` block whose clauses share a key is written as one
// `all:` clause of one-clause sub-blocks (same meaning, different proto);
// clauses and operators with nothing set are skipped; sub-second durations
// are written as "1.5s", which the loader rejects.
//
// Thread-safe: pure functions.
#ifndef CUSTODIAN_RULES_FORMAT_H_
#define CUSTODIAN_RULES_FORMAT_H_

#include <string>

#include "custodian/v1/condition.pb.h"
#include "custodian/v1/roster.pb.h"
#include "custodian/v1/ruleset.pb.h"
#include "google/protobuf/message.h"
#include "rules/durations.h"  // FormatDuration: "30d", "1d12h", "0s"

namespace custodian::rules {

// A `when:` block as a flow map, clauses in proto order: "{}" when empty.
std::string FormatCondition(const v1::Condition& condition);

// The map key a clause has in its `when:` block: the field name for field
// conditions, else "segment", "any", "all" or "not"; "" for an empty clause.
std::string ClauseKey(const v1::Clause& clause);

// One clause as `key: value`, e.g. `region: {under: [CN/East]}`,
// `customer_type: [enterprise, smb]`, `segment: key_account`,
// `any: [{a: 1}, {b: 2}]`. "" for an empty clause. Unlike in a whole block,
// a field with the same operator twice is shown as it is: `{lt: 5, lt: 9}`.
std::string FormatClause(const v1::Clause& clause);

// A target as a flow map: the kind (team/rep/pool) first, then `strategy`
// when set (lower-case), then `requires_approval: true` when true.
std::string FormatTarget(const v1::Target& target);

// A roster team member as in roster files: `{rep: li.na}`,
// `{rep: zhang.wei, capacity: 50, weight: 2}`; capacity only when set,
// weight only when not 1.
std::string FormatTeamMember(const v1::TeamMember& member);

// Pool settings as a flow map: `{claim_limit_per_day: 5, cooldown: 30d}`;
// the limit only when not 0, the cooldown only when set; "{}" when neither.
std::string FormatPoolSettings(const v1::PoolSettings& pool);

// Any ruleset or roster message (policies and their parts in particular) as
// a flow map in file shape, fields in proto order: message fields when
// present, scalars when not zero (booleans always), repeated fields when not
// empty; enums by their lower-case file names ("keep", "tax_id"), durations
// like "30d", conditions as FormatCondition.
std::string FormatFlow(const google::protobuf::Message& message);

// A single scalar, repeated or message field of `message` in file shape, as
// in FormatFlow: "" when a message field is absent or a repeated field empty.
std::string FormatFieldValue(const google::protobuf::Message& message,
                             const google::protobuf::FieldDescriptor* field);

// A whole ruleset file (RULES.md "Ruleset file"): `ruleset`, `description`,
// `segments`, `departments` (a map by department id), `policies`. Empty
// descriptions and absent targets are left out; sub-messages that are
// present but empty are written as `{}` so that presence survives a round
// trip. Ends with a newline.
std::string FormatRulesetYaml(const v1::Ruleset& ruleset);

// A whole roster file (RULES.md "Roster file"): `departments`, `reps` (one
// flow map each; `name` left out when it equals the id), `teams` (block
// maps with flow members and pool settings). Empty sections are left out.
// Ends with a newline.
std::string FormatRosterYaml(const v1::Roster& roster);

}  // namespace custodian::rules

#endif  // CUSTODIAN_RULES_FORMAT_H_
