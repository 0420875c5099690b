// Syntax of the names, ids, tokens and paths that ruleset, roster and
// customer files carry (RULES.md; the exact rules are in docs/rules.md).
//
// Each Check* function returns an empty string when `value` is well formed,
// else a message saying which rule it broke, e.g. "rule id \"Key\" must be
// 1-64 characters of [a-z0-9-] starting with a letter or digit". Callers
// prefix the field path.
//
// Thread-safe: pure functions.
#ifndef CUSTODIAN_RULES_NAMES_H_
#define CUSTODIAN_RULES_NAMES_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace custodian::rules {

// Longest token (customer_type, tags, attribute keys, ...).
inline constexpr size_t kMaxTokenBytes = 128;
// Longest path (region, industry) and most segments in one.
inline constexpr size_t kMaxPathBytes = 1024;
inline constexpr size_t kMaxPathSegments = 64;

// `ruleset:` name: 1-64 of [a-z0-9._-], starting with [a-z0-9].
std::string CheckRulesetName(absl::string_view value);
// Segment name: 1-64 of [a-z0-9_], starting with [a-z].
std::string CheckSegmentName(absl::string_view value);
// Rule id: 1-64 of [a-z0-9-], starting with [a-z0-9]; "fallback" is reserved.
std::string CheckRuleId(absl::string_view value);
// Department id: 1-64 of [a-z0-9_-], starting with [a-z].
std::string CheckDepartmentId(absl::string_view value);
// Team and pool id: 1-64 of [a-z0-9-], starting with [a-z0-9].
std::string CheckTeamId(absl::string_view value);
// Rep id: 1-64 of [A-Za-z0-9._@-], starting with [A-Za-z0-9].
std::string CheckRepId(absl::string_view value);
// Customer id: 1-128 of [A-Za-z0-9._:@-].
std::string CheckCustomerId(absl::string_view value);
// Token: 1-128 of [a-z0-9_].
std::string CheckToken(absl::string_view value);
// Path: at most 1024 bytes of UTF-8 and 64 segments joined by "/"; every
// segment non-empty, without leading or trailing spaces and without control
// characters. Messages number segments from 1: "segment 2 is empty".
std::string CheckPath(absl::string_view value);
// A rep skill: 1-64 bytes of UTF-8 without "/", control characters or
// leading/trailing spaces (skills are compared with path segments).
std::string CheckSkill(absl::string_view value);
// Free text: valid UTF-8 of at most `max_bytes` bytes, no control characters
// but tab, CR and LF.
std::string CheckText(absl::string_view value, size_t max_bytes);

// Whether `value` is well-formed UTF-8 (no overlongs, no surrogates).
bool IsValidUtf8(absl::string_view value);

// `value` quoted for a message: "abc", with control characters and quotes
// escaped and anything past 80 bytes elided.
std::string Quote(absl::string_view value);

}  // namespace custodian::rules

#endif  // CUSTODIAN_RULES_NAMES_H_
