// Durations as ruleset and roster files write them: one or more
// `<integer><unit>` parts with units d (24h), h, m, s in that order, each at
// most once, e.g. "30d", "12h", "90m", "1d12h". No sign, no fractions, no
// spaces. See docs/rules.md.
//
// Thread-safe: pure functions.
#ifndef CUSTODIAN_RULES_DURATIONS_H_
#define CUSTODIAN_RULES_DURATIONS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/duration.pb.h"

namespace custodian::rules {

// Longest duration any file may hold: 100 years of 365 days.
inline constexpr int64_t kMaxDurationSeconds = int64_t{36500} * 86400;

// Parses "1d12h" into a Duration. INVALID_ARGUMENT with a message naming the
// accepted syntax when `text` is malformed or longer than
// kMaxDurationSeconds.
absl::StatusOr<google::protobuf::Duration> ParseDuration(
    absl::string_view text);

// Formats a whole-second duration in the file syntax with the largest units
// ("1d12h", "0s"); sub-second parts are written as fractional seconds
// ("1.5s"), which ParseDuration does not accept.
std::string FormatDuration(const google::protobuf::Duration& duration);

// Empty when `duration` is well formed (|nanos| < 1e9, seconds and nanos of
// the same sign) and 0 <= duration <= kMaxDurationSeconds (strictly positive
// when `positive`); else a message such as "must be positive, got 0s".
std::string CheckDuration(const google::protobuf::Duration& duration,
                          bool positive);

}  // namespace custodian::rules

#endif  // CUSTODIAN_RULES_DURATIONS_H_
