#include "server/duplicate_keys.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace custodian::server {

const char* const kLegalSuffixWords[] = {
    "co",      "company",  "corp",  "corporation", "inc", "incorporated", "ltd",
    "limited", "llc",      "llp",   "lp",          "plc", "gmbh",         "ag",
    "kg",      "sa",       "sarl",  "srl",         "spa", "bv",           "nv",
    "ab",      "oy",       "as",    "pte",         "pty", "pvt",          "kk",
    "group",   "holdings", nullptr,
};

// Longest first, so 股份有限公司 is removed whole, not as 有限公司 + 股份.
const char* const kLegalSuffixesZh[] = {
    "集团股份有限公司",
    "集团有限责任公司",
    "集团有限公司",
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "股份公司",
    "控股集团",
    "集团公司",
    "集团",
    "公司",
    nullptr,
};

namespace {

absl::Status NotUtf8(absl::string_view field) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": is not valid UTF-8"));
}

// Splits NFKC case-folded `text` into words (see the top of the header):
// views into `text`, each a maximal run of word code points.
std::vector<absl::string_view> Words(absl::string_view text) {
  std::vector<absl::string_view> words;
  const auto* const begin =
      reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  const utf8proc_ssize_t size = static_cast<utf8proc_ssize_t>(text.size());
  utf8proc_ssize_t at = 0;
  utf8proc_ssize_t word_start = -1;  // -1: not inside a word
  while (at < size) {
    bool is_word = false;
    utf8proc_ssize_t n = 1;
    if (begin[at] < 0x80) {
      // The ASCII word code points (letters Lu/Ll, digits Nd) are exactly
      // the alphanumerics: no category lookup (duplicate_keys_test checks
      // every ASCII character against IsWordCodePoint).
      is_word = absl::ascii_isalnum(static_cast<unsigned char>(begin[at]));
    } else {
      utf8proc_int32_t cp = 0;
      n = utf8proc_iterate(begin + at, size - at, &cp);
      if (n <= 0) break;  // REQUIRES valid UTF-8: checked by NfkcCaseFold
      is_word = IsWordCodePoint(cp);
    }
    if (is_word && word_start < 0) {
      word_start = at;
    } else if (!is_word && word_start >= 0) {
      words.push_back(text.substr(static_cast<size_t>(word_start),
                                  static_cast<size_t>(at - word_start)));
      word_start = -1;
    }
    at += n;
  }
  if (word_start >= 0) {
    words.push_back(text.substr(static_cast<size_t>(word_start),
                                static_cast<size_t>(at - word_start)));
  }
  return words;
}

// A null-terminated table of the header as views, measured once (comparing
// against the const char* entries measured each of them on every word).
std::vector<absl::string_view> Views(const char* const* table) {
  std::vector<absl::string_view> views;
  for (const char* const* s = table; *s != nullptr; ++s) views.push_back(*s);
  return views;
}

bool IsSuffixWord(absl::string_view word) {
  static const auto* const kWords = [] {
    const std::vector<absl::string_view> words = Views(kLegalSuffixWords);
    return new absl::flat_hash_set<absl::string_view>(words.begin(),
                                                      words.end());
  }();
  return kWords->contains(word);
}

// Removes one legal suffix from the end of `words`; false if none.
bool StripOneSuffix(std::vector<absl::string_view>& words) {
  if (words.empty()) return false;
  absl::string_view& last = words.back();
  if (IsSuffixWord(last)) {
    words.pop_back();
    return true;
  }
  static const auto* const kZh =
      new std::vector<absl::string_view>(Views(kLegalSuffixesZh));
  for (const absl::string_view suffix : *kZh) {
    if (absl::ConsumeSuffix(&last, suffix)) {
      if (last.empty()) words.pop_back();
      return true;
    }
  }
  return false;
}

}  // namespace

bool IsWordCodePoint(int32_t cp) {
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

absl::StatusOr<std::string> NfkcCaseFold(absl::string_view field,
                                         absl::string_view text) {
  if (text.empty()) return std::string();
  // ASCII is its own NFKC form and folds to lower case: most names and
  // every e-mail domain skip utf8proc (duplicate_keys_test checks that both
  // ways agree on every ASCII character).
  if (std::all_of(text.begin(), text.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x80;
      })) {
    return absl::AsciiStrToLower(text);
  }
  return NfkcCaseFoldUtf8proc(field, text);
}

absl::StatusOr<std::string> NfkcCaseFoldUtf8proc(absl::string_view field,
                                                 absl::string_view text) {
  if (text.empty()) return std::string();
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(
      reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
      static_cast<utf8proc_ssize_t>(text.size()), &out,
      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE |
                                     UTF8PROC_COMPAT | UTF8PROC_CASEFOLD));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(out,
                                                                &std::free);
  if (n < 0) return NotUtf8(field);
  return std::string(reinterpret_cast<const char*>(out),
                     static_cast<size_t>(n));
}

absl::StatusOr<std::string> NormalizeTaxId(absl::string_view tax_id) {
  // Exact; validated as UTF-8 so that keys are always text.
  absl::StatusOr<std::string> checked = NfkcCaseFold("tax_id", tax_id);
  if (!checked.ok()) return checked.status();
  return std::string(absl::StripAsciiWhitespace(tax_id));
}

absl::StatusOr<std::string> NormalizeEmailDomain(absl::string_view domain) {
  absl::StatusOr<std::string> folded = NfkcCaseFold("email_domain", domain);
  if (!folded.ok()) return folded.status();
  absl::string_view v = absl::StripAsciiWhitespace(*folded);
  absl::ConsumePrefix(&v, "@");
  while (absl::ConsumeSuffix(&v, ".")) {
  }
  return std::string(v);
}

absl::StatusOr<std::string> NormalizeCompanyName(absl::string_view name) {
  absl::StatusOr<std::string> folded = NfkcCaseFold("name", name);
  if (!folded.ok()) return folded.status();
  const std::vector<absl::string_view> words = Words(*folded);
  std::vector<absl::string_view> stripped = words;
  while (StripOneSuffix(stripped)) {
  }
  return absl::StrJoin(stripped.empty() ? words : stripped, "");
}

absl::string_view MatchKeyName(v1::MatchKey kind) {
  switch (kind) {
    case v1::TAX_ID:
      return "tax_id";
    case v1::EMAIL_DOMAIN:
      return "email_domain";
    case v1::NAME:
      return "name";
    default:
      return "unspecified";
  }
}

absl::StatusOr<std::vector<DuplicateKey>> DuplicateKeysOf(
    const v1::Customer& customer,
    const google::protobuf::RepeatedField<int>& match_on) {
  std::vector<DuplicateKey> keys;
  for (int i = 0; i < match_on.size(); ++i) {
    absl::StatusOr<std::string> value;
    absl::string_view field;
    switch (match_on[i]) {
      case v1::TAX_ID:
        value = NormalizeTaxId(customer.tax_id());
        field = "customer.tax_id";
        break;
      case v1::EMAIL_DOMAIN:
        value = NormalizeEmailDomain(customer.email_domain());
        field = "customer.email_domain";
        break;
      case v1::NAME:
        value = NormalizeCompanyName(customer.name());
        field = "customer.name";
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("match_on[", i, "]: ", match_on[i],
                         " is not a match key (tax_id, email_domain, name)"));
    }
    if (!value.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": is not valid UTF-8"));
    }
    if (value->empty()) continue;
    keys.push_back({static_cast<v1::MatchKey>(match_on[i]), *std::move(value)});
  }
  return keys;
}

}  // namespace custodian::server
