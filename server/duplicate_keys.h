// Duplicate-matching keys (查重): the normalized forms of a customer's tax
// id, e-mail domain and company name under which policies.duplicates
// (RULES.md) finds an existing customer. Pure functions: no store, no gRPC.
//
// Normalization, per key:
//   TAX_ID        exact: the value as given (leading and trailing white
//                 space removed). "" has no key.
//   EMAIL_DOMAIN  Unicode NFKC, case folded, surrounding white space and a
//                 leading "@" and trailing "." removed ("@ACME.Com." ->
//                 "acme.com"). "" has no key.
//   NAME          Unicode NFKC (full-width and half-width forms match:
//                 "ＡＣＭＥ" -> "acme", "（" -> "("), case folded, then cut
//                 into words at every code point that is not a letter, a
//                 mark or a number (white space, punctuation and symbols
//                 fold away); common legal suffixes are then removed from
//                 the end, repeatedly: the words in kLegalSuffixWords (co,
//                 ltd, inc, llc, gmbh, corp, ...) and the Chinese endings in
//                 kLegalSuffixesZh (股份有限公司, 有限责任公司, 有限公司, 集团,
//                 公司, ...), which are not separate words in Chinese; the
//                 remaining words are joined with no separator. A name made
//                 only of suffixes ("Inc.") keeps them (its folded words
//                 joined), so it never matches every other such name
//                 through "". A name with no letter or number has no key.
//
// The normalized key of a customer is what the store indexes and compares:
// two customers match on a key kind iff both have a non-empty key of that
// kind and the keys are equal bytewise.
//
// Errors: INVALID_ARGUMENT when the input is not valid UTF-8 (the message
// names the field). Thread-safe: pure functions.
#ifndef CUSTODIAN_SERVER_DUPLICATE_KEYS_H_
#define CUSTODIAN_SERVER_DUPLICATE_KEYS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "custodian/v1/customer.pb.h"
#include "custodian/v1/ruleset.pb.h"

namespace custodian::server {

// Whole-word legal suffixes (after case folding), removed from the end of a
// name's word list.
extern const char* const kLegalSuffixWords[];
// Chinese legal endings, longest first, removed from the end of a name's
// last word.
extern const char* const kLegalSuffixesZh[];

// Whether code point `cp` belongs to a word of a name: a letter, mark or
// number (Unicode categories L*, M*, N*); the rest separates words.
bool IsWordCodePoint(int32_t cp);

// Returns the NFKC case-folded form of `text`. INVALID_ARGUMENT naming
// `field` when `text` is not valid UTF-8.
absl::StatusOr<std::string> NfkcCaseFold(absl::string_view field,
                                         absl::string_view text);
// The same, always through utf8proc (NfkcCaseFold takes a shortcut for
// ASCII); for tests.
absl::StatusOr<std::string> NfkcCaseFoldUtf8proc(absl::string_view field,
                                                 absl::string_view text);

// The normalized keys (see the top of this file); "" means "no key".
absl::StatusOr<std::string> NormalizeTaxId(absl::string_view tax_id);
absl::StatusOr<std::string> NormalizeEmailDomain(absl::string_view domain);
absl::StatusOr<std::string> NormalizeCompanyName(absl::string_view name);

// One match key of a customer.
struct DuplicateKey {
  v1::MatchKey kind = v1::MATCH_KEY_UNSPECIFIED;
  // The normalized value; never empty.
  std::string value;

  friend bool operator==(const DuplicateKey& a, const DuplicateKey& b) {
    return a.kind == b.kind && a.value == b.value;
  }
};

// The lower-case name of `kind` as in files ("tax_id", "email_domain",
// "name"); "unspecified" otherwise.
absl::string_view MatchKeyName(v1::MatchKey kind);

// The keys of `customer` for the kinds in `match_on`, in that order, leaving
// out kinds for which the customer has no key. INVALID_ARGUMENT naming the
// field ("customer.name") when a value is not valid UTF-8, or naming
// "match_on" for MATCH_KEY_UNSPECIFIED or an unknown kind.
absl::StatusOr<std::vector<DuplicateKey>> DuplicateKeysOf(
    const v1::Customer& customer,
    const google::protobuf::RepeatedField<int>& match_on);

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_DUPLICATE_KEYS_H_
