#include "rules/durations.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rules/names.h"

namespace custodian::rules {
namespace {

constexpr absl::string_view kSyntax =
    "expected <integer><unit> parts with units d, h, m, s in that order, "
    "e.g. 30d, 12h, 90m or 1d12h";

struct Unit {
  char name;
  int64_t seconds;
};
constexpr Unit kUnits[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};

}  // namespace

absl::StatusOr<google::protobuf::Duration> ParseDuration(
    absl::string_view text) {
  auto bad = [&]() {
    return absl::InvalidArgumentError(
        absl::StrCat("bad duration ", Quote(text), ": ", kSyntax));
  };
  if (text.empty()) return bad();
  int64_t total = 0;
  size_t next_unit = 0;  // index into kUnits of the smallest unit still allowed
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    int64_t number = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      number = number * 10 + (text[i] - '0');
      if (number > kMaxDurationSeconds) {
        return absl::InvalidArgumentError(
            absl::StrCat("duration ", Quote(text), " is longer than 36500d"));
      }
      ++i;
    }
    if (i == start || i == text.size()) return bad();
    char unit = text[i++];
    size_t u = next_unit;
    while (u < std::size(kUnits) && kUnits[u].name != unit) ++u;
    if (u == std::size(kUnits)) return bad();
    next_unit = u + 1;
    total += number * kUnits[u].seconds;
    if (total > kMaxDurationSeconds) {
      return absl::InvalidArgumentError(
          absl::StrCat("duration ", Quote(text), " is longer than 36500d"));
    }
  }
  google::protobuf::Duration out;
  out.set_seconds(total);
  return out;
}

std::string FormatDuration(const google::protobuf::Duration& duration) {
  int64_t seconds = duration.seconds();
  std::string out;
  if (seconds < 0 || duration.nanos() < 0) {
    out = "-";
    seconds = -seconds;
  }
  if (duration.nanos() != 0) {
    int32_t nanos = duration.nanos() < 0 ? -duration.nanos() : duration.nanos();
    std::string frac = absl::StrCat(1000000000 + nanos).substr(1);
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    return absl::StrCat(out, seconds, ".", frac, "s");
  }
  if (seconds == 0) return "0s";
  for (const Unit& unit : kUnits) {
    if (seconds >= unit.seconds) {
      absl::StrAppend(&out, seconds / unit.seconds, std::string(1, unit.name));
      seconds %= unit.seconds;
    }
  }
  return out;
}

std::string CheckDuration(const google::protobuf::Duration& duration,
                          bool positive) {
  const int64_t s = duration.seconds();
  const int32_t n = duration.nanos();
  if (n <= -1000000000 || n >= 1000000000 || (s > 0 && n < 0) ||
      (s < 0 && n > 0)) {
    return absl::StrCat("malformed duration (seconds ", s, ", nanos ", n, ")");
  }
  if (s < 0 || n < 0) {
    return absl::StrCat("must not be negative, got ", FormatDuration(duration));
  }
  if (positive && s == 0 && n == 0) return "must be positive, got 0s";
  if (s > kMaxDurationSeconds || (s == kMaxDurationSeconds && n > 0)) {
    return absl::StrCat("must be at most 36500d, got ",
                        FormatDuration(duration));
  }
  return "";
}

}  // namespace custodian::rules
