#include "rules/names.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace custodian::rules {
namespace {

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLowerAlnum(char c) { return IsLower(c) || IsDigit(c); }
bool IsAlnum(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c));
}

// One id syntax: `max` characters each accepted by `ok`, the first accepted
// by `first`; `rule` describes it for messages.
struct IdSyntax {
  const char* kind;
  size_t max;
  bool (*ok)(char);
  bool (*first)(char);
  const char* rule;
};

std::string CheckId(const IdSyntax& s, absl::string_view value) {
  bool good = !value.empty() && value.size() <= s.max && s.first(value[0]);
  for (char c : value) good = good && s.ok(c);
  if (good) return "";
  if (value.empty())
    return absl::StrCat(s.kind, " is empty; it must be ", s.rule);
  return absl::StrCat(s.kind, " ", Quote(value), " must be ", s.rule);
}

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

}  // namespace

std::string CheckRulesetName(absl::string_view value) {
  static constexpr IdSyntax kSyntax{
      "ruleset name", 64,
      [](char c) {
        return IsLowerAlnum(c) || c == '.' || c == '_' || c == '-';
      },
      IsLowerAlnum,
      "1-64 characters of [a-z0-9._-] starting with a letter or digit"};
  return CheckId(kSyntax, value);
}

std::string CheckSegmentName(absl::string_view value) {
  static constexpr IdSyntax kSyntax{
      "segment name", 64, [](char c) { return IsLowerAlnum(c) || c == '_'; },
      IsLower, "1-64 characters of [a-z0-9_] starting with a letter"};
  return CheckId(kSyntax, value);
}

std::string CheckRuleId(absl::string_view value) {
  static constexpr IdSyntax kSyntax{
      "rule id", 64, [](char c) { return IsLowerAlnum(c) || c == '-'; },
      IsLowerAlnum,
      "1-64 characters of [a-z0-9-] starting with a letter or digit"};
  std::string error = CheckId(kSyntax, value);
  if (error.empty() && value == "fallback") {
    return "rule id \"fallback\" is reserved for the department's fallback";
  }
  return error;
}

std::string CheckDepartmentId(absl::string_view value) {
  static constexpr IdSyntax kSyntax{
      "department id", 64,
      [](char c) { return IsLowerAlnum(c) || c == '_' || c == '-'; }, IsLower,
      "1-64 characters of [a-z0-9_-] starting with a letter"};
  return CheckId(kSyntax, value);
}

std::string CheckTeamId(absl::string_view value) {
  static constexpr IdSyntax kSyntax{
      "team id", 64, [](char c) { return IsLowerAlnum(c) || c == '-'; },
      IsLowerAlnum,
      "1-64 characters of [a-z0-9-] starting with a letter or digit"};
  return CheckId(kSyntax, value);
}

std::string CheckRepId(absl::string_view value) {
  static constexpr IdSyntax kSyntax{
      "rep id", 64,
      [](char c) {
        return IsAlnum(c) || c == '.' || c == '_' || c == '@' || c == '-';
      },
      IsAlnum,
      "1-64 characters of [A-Za-z0-9._@-] starting with a letter or digit"};
  return CheckId(kSyntax, value);
}

std::string CheckCustomerId(absl::string_view value) {
  static constexpr IdSyntax kSyntax{
      "customer id", 128,
      [](char c) {
        return IsAlnum(c) || c == '.' || c == '_' || c == ':' || c == '@' ||
               c == '-';
      },
      [](char) { return true; }, "1-128 characters of [A-Za-z0-9._:@-]"};
  return CheckId(kSyntax, value);
}

std::string CheckToken(absl::string_view value) {
  static constexpr IdSyntax kSyntax{
      "token", kMaxTokenBytes,
      [](char c) { return IsLowerAlnum(c) || c == '_'; },
      [](char) { return true; }, "1-128 characters of [a-z0-9_]"};
  return CheckId(kSyntax, value);
}

std::string CheckPath(absl::string_view value) {
  if (value.empty()) return "path is empty";
  if (value.size() > kMaxPathBytes) {
    return absl::StrCat("path is longer than ", kMaxPathBytes, " bytes");
  }
  if (!IsValidUtf8(value))
    return absl::StrCat("path ", Quote(value), " is not valid UTF-8");
  // Segments walked in place: a split into a vector allocated on every
  // customer's every path.
  const size_t segment_count =
      static_cast<size_t>(std::count(value.begin(), value.end(), '/')) + 1;
  if (segment_count > kMaxPathSegments) {
    return absl::StrCat("path ", Quote(value), " has more than ",
                        kMaxPathSegments, " segments");
  }
  absl::string_view rest = value;
  for (size_t i = 0; i < segment_count; ++i) {
    const size_t slash = rest.find('/');
    const absl::string_view s = rest.substr(0, slash);
    rest.remove_prefix(slash == absl::string_view::npos ? rest.size()
                                                        : slash + 1);
    // Built only for an error: every customer's paths pass through here.
    auto where = [&] {
      return absl::StrCat("path ", Quote(value), ": segment ", i + 1);
    };
    if (s.empty()) return absl::StrCat(where(), " is empty");
    if (s.front() == ' ' || s.back() == ' ') {
      return absl::StrCat(where(), " has a leading or trailing space");
    }
    for (char c : s) {
      if (IsControl(static_cast<unsigned char>(c))) {
        return absl::StrCat(where(), " contains a control character");
      }
    }
  }
  return "";
}

std::string CheckSkill(absl::string_view value) {
  if (value.empty()) return "skill is empty";
  if (value.size() > 64)
    return absl::StrCat("skill ", Quote(value), " is longer than 64 bytes");
  if (!IsValidUtf8(value))
    return absl::StrCat("skill ", Quote(value), " is not valid UTF-8");
  if (value.front() == ' ' || value.back() == ' ') {
    return absl::StrCat("skill ", Quote(value),
                        " has a leading or trailing space");
  }
  for (char c : value) {
    if (c == '/' || IsControl(static_cast<unsigned char>(c))) {
      return absl::StrCat("skill ", Quote(value),
                          " contains \"/\" or a control character");
    }
  }
  return "";
}

std::string CheckText(absl::string_view value, size_t max_bytes) {
  if (value.size() > max_bytes) {
    return absl::StrCat("text is longer than ", max_bytes, " bytes");
  }
  if (!IsValidUtf8(value)) return "text is not valid UTF-8";
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    if (IsControl(u) && c != '\t' && c != '\n' && c != '\r') {
      return "text contains a control character";
    }
  }
  return "";
}

bool IsValidUtf8(absl::string_view value) {
  size_t i = 0;
  const size_t n = value.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(value[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int extra;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      extra = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      extra = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (int k = 1; k <= extra; ++k) {
      if (i + k >= n) return false;
      unsigned char cc = static_cast<unsigned char>(value[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

std::string Quote(absl::string_view value) {
  constexpr size_t kMax = 80;
  size_t end = value.size();
  bool elided = false;
  if (end > kMax) {
    end = kMax;
    // Back off to a UTF-8 character boundary.
    while (end > 0 && (static_cast<unsigned char>(value[end]) & 0xc0) == 0x80) {
      --end;
    }
    elided = true;
  }
  std::string out = "\"";
  for (char c : value.substr(0, end)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (IsControl(u)) {
      absl::StrAppend(&out, "\\x", absl::Hex(u, absl::kZeroPad2));
    } else {
      out.push_back(c);
    }
  }
  if (elided) out += "...";
  out += "\"";
  return out;
}

}  // namespace custodian::rules
