// Loading ruleset, roster and customer files (YAML, or JSON of the same shape,
// per RULES.md) into their proto form.
//
// Loaders do structure only: YAML/JSON syntax, known keys, node kinds (map,
// list, scalar), scalar conversion (integers, booleans, durations like "30d",
// RFC 3339 timestamps, enum names such as strategies), operator names, and the
// shorthands (`field: value` -> eq, `field: [a, b]` -> in). Every problem is
// appended to *diags with FILE:LINE:COL and its field path, and loading goes on
// past it so that all problems are reported at once. Semantic checks (names,
// references, which operator fits which field) are the validator's
// (validator.h). Loaders apply no defaults; they do reject an explicit 0 in
// the integer fields whose 0 the defaults would replace (default capacity,
// quorum, member weight). A key with an empty value is treated as absent.
// Files larger than kMaxFileBytes, that expand (through aliases) to more than
// 200,000 nodes or nest any/all/not deeper than 32 are rejected.
//
// Field paths: map keys joined by ".", list items as 0-based "[i]";
// departments are keyed by id: `departments.sales.rules[2].when.region`.
// Every node's start is recorded in the returned SourceMap under its path.
//
// Thread-safe: no shared state.
#ifndef CUSTODIAN_RULES_LOADER_H_
#define CUSTODIAN_RULES_LOADER_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "custodian/v1/customer.pb.h"
#include "custodian/v1/roster.pb.h"
#include "custodian/v1/ruleset.pb.h"
#include "rules/diagnostics.h"
#include "rules/source_map.h"

namespace custodian::rules {

// Largest ruleset, roster or test file accepted.
inline constexpr size_t kMaxFileBytes = 4 << 20;

// Reads a whole file. NOT_FOUND / PERMISSION_DENIED naming the path when it
// cannot be opened; INVALID_ARGUMENT when it is larger than `max_bytes`.
absl::StatusOr<std::string> ReadTextFile(const std::string& path,
                                         size_t max_bytes = kMaxFileBytes);

struct LoadedRuleset {
  v1::Ruleset ruleset;
  SourceMap source_map;
};

// Converts ruleset file text into a Ruleset. On errors the returned proto
// holds whatever could be converted.
LoadedRuleset LoadRuleset(absl::string_view text, Diagnostics* diags);

struct LoadedRoster {
  v1::Roster roster;
  SourceMap source_map;
};

// Converts roster file text into a Roster.
LoadedRoster LoadRoster(absl::string_view text, Diagnostics* diags);

// Converts one customer given as a JSON object (or a YAML map) into a
// Customer, recording diagnostics under `field_prefix` (e.g. "customer").
// Timestamps are RFC 3339; integers must be integers; `tags` a list of
// strings; `attributes` a map of strings. Returns nullopt if any error was
// found. Does not check value syntax (ids, paths, tokens): see
// ValidateCustomer.
std::optional<v1::Customer> LoadCustomer(absl::string_view text,
                                         absl::string_view field_prefix,
                                         Diagnostics* diags);

}  // namespace custodian::rules

#endif  // CUSTODIAN_RULES_LOADER_H_
