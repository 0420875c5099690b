#include "server/duplicate_keys.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custodian::server {
namespace {

struct NameCase {
  const char* input;
  const char* key;
};

// The normalization table of issue 8: full-width and half-width, legal
// suffixes in both languages, case, punctuation and white space.
constexpr NameCase kNameCases[] = {
    {"Acme", "acme"},
    {"ACME", "acme"},
    {"ＡＣＭＥ", "acme"},            // full-width Latin
    {"ａｃｍｅ　ｌｔｄ．", "acme"},  // full-width space and dot
    {"Acme Co., Ltd.", "acme"},
    {"ACME CO LTD", "acme"},
    {"Acme, Inc.", "acme"},
    {"Acme LLC", "acme"},
    {"Acme GmbH", "acme"},
    {"Acme Corporation", "acme"},
    {"Acme Limited", "acme"},
    {"  Acme   Robotics  ", "acmerobotics"},
    {"Acme-Robotics", "acmerobotics"},
    {"Acme Robotics (Shanghai) Co., Ltd.", "acmeroboticsshanghai"},
    {"华为技术有限公司", "华为技术"},
    {"华为技术股份有限公司", "华为技术"},
    {"华为技术有限责任公司", "华为技术"},
    {"华为集团", "华为"},
    {"华为技术（深圳）有限公司", "华为技术深圳"},  // full-width parentheses
    {"华为技术(深圳)有限公司", "华为技术深圳"},    // half-width parentheses
    {"华为 技术 有限公司", "华为技术"},
    {"ｶﾀｶﾅ商事", "カタカナ商事"},       // half-width katakana -> full-width
    {"３６０科技有限公司", "360科技"},  // full-width digits
    {"Straße GmbH", "strasse"},         // case folding, not only ASCII
    {"Inc.", "inc"},                    // only a suffix: kept, never ""
    {"有限公司", "有限公司"},           // likewise in Chinese
    {"Co. Ltd.", "coltd"},
    {"...", ""},  // nothing to match on
    {"", ""},
};

TEST(NormalizeCompanyNameTest, FollowsTheNormalizationTable) {
  for (const NameCase& c : kNameCases) {
    absl::StatusOr<std::string> key = NormalizeCompanyName(c.input);
    ASSERT_TRUE(key.ok()) << c.input << ": " << key.status();
    EXPECT_EQ(*key, c.key) << "input: " << c.input;
  }
}

// Word splitting takes a shortcut for ASCII (alphanumerics are the word
// characters): it must split exactly where the categories would.
TEST(NormalizeCompanyNameTest, SplitsAsciiWhereTheUnicodeCategoriesSplit) {
  for (int c = 1; c < 0x80; ++c) {
    const std::string name =
        absl::StrCat("x", std::string(1, static_cast<char>(c)), "y");
    const bool word = IsWordCodePoint(c);
    absl::StatusOr<std::string> key = NormalizeCompanyName(name);
    ASSERT_TRUE(key.ok()) << c << ": " << key.status();
    EXPECT_EQ(*key, word ? absl::AsciiStrToLower(name) : "xy")
        << "character " << c;
  }
}

TEST(NormalizeCompanyNameTest, FullWidthAndHalfWidthNamesMatch) {
  EXPECT_EQ(*NormalizeCompanyName("Ａｃｍｅ　Ｒｏｂｏｔｉｃｓ　Ｉｎｃ．"),
            *NormalizeCompanyName("acme robotics, inc"));
  EXPECT_EQ(*NormalizeCompanyName("上海ＡＢＣ贸易有限公司"),
            *NormalizeCompanyName("上海abc贸易股份有限公司"));
}

TEST(NormalizeCompanyNameTest, DifferentNamesDoNotMatch) {
  EXPECT_NE(*NormalizeCompanyName("Acme Ltd"),
            *NormalizeCompanyName("Acne Ltd"));
  EXPECT_NE(*NormalizeCompanyName("华为技术有限公司"),
            *NormalizeCompanyName("华为终端有限公司"));
}

TEST(NormalizeCompanyNameTest, RejectsInvalidUtf8) {
  absl::StatusOr<std::string> key = NormalizeCompanyName("Acme \xff Ltd");
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(key.status().message()),
              ::testing::HasSubstr("name"));
}

TEST(NfkcCaseFoldTest, AsciiShortcutAgreesWithUtf8procOnEveryCharacter) {
  for (int c = 1; c < 0x80; ++c) {
    const std::string text =
        absl::StrCat("Ab", std::string(1, static_cast<char>(c)), "Z9");
    absl::StatusOr<std::string> fast = NfkcCaseFold("f", text);
    absl::StatusOr<std::string> full = NfkcCaseFoldUtf8proc("f", text);
    ASSERT_TRUE(fast.ok() && full.ok()) << c;
    EXPECT_EQ(*fast, *full) << "character " << c;
  }
  // Beyond ASCII only utf8proc decides: full-width letters fold.
  EXPECT_EQ(*NfkcCaseFold("f", "ＡＢＣ ltd"), "abc ltd");
  EXPECT_EQ(NfkcCaseFold("f", "bad \xff").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NormalizeEmailDomainTest, LowerCasesAndTrims) {
  EXPECT_EQ(*NormalizeEmailDomain("ACME.com"), "acme.com");
  EXPECT_EQ(*NormalizeEmailDomain(" @Acme.COM. "), "acme.com");
  EXPECT_EQ(*NormalizeEmailDomain("ａｃｍｅ．ｃｏｍ"), "acme.com");
  EXPECT_EQ(*NormalizeEmailDomain(""), "");
  EXPECT_EQ(NormalizeEmailDomain("\xc3").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NormalizeTaxIdTest, IsExactApartFromSurroundingSpace) {
  EXPECT_EQ(*NormalizeTaxId("91310000MA1FL0XX1X"), "91310000MA1FL0XX1X");
  EXPECT_EQ(*NormalizeTaxId(" 91310000MA1FL0XX1X "), "91310000MA1FL0XX1X");
  // Exact: case is significant.
  EXPECT_NE(*NormalizeTaxId("91310000ma1fl0xx1x"), "91310000MA1FL0XX1X");
  EXPECT_EQ(NormalizeTaxId("\xff").status().code(),
            absl::StatusCode::kInvalidArgument);
}

google::protobuf::RepeatedField<int> MatchOn(std::initializer_list<int> keys) {
  google::protobuf::RepeatedField<int> out;
  for (int k : keys) out.Add(k);
  return out;
}

TEST(DuplicateKeysOfTest, ListsPresentKeysInPolicyOrder) {
  v1::Customer c;
  c.set_id("c-1");
  c.set_name("Acme Co., Ltd.");
  c.set_email_domain("Acme.com");
  absl::StatusOr<std::vector<DuplicateKey>> keys =
      DuplicateKeysOf(c, MatchOn({v1::NAME, v1::TAX_ID, v1::EMAIL_DOMAIN}));
  ASSERT_TRUE(keys.ok()) << keys.status();
  // No tax id: no TAX_ID key.
  EXPECT_THAT(*keys, ::testing::ElementsAre(
                         DuplicateKey{v1::NAME, "acme"},
                         DuplicateKey{v1::EMAIL_DOMAIN, "acme.com"}));
  EXPECT_TRUE(DuplicateKeysOf(c, MatchOn({}))->empty());
}

TEST(DuplicateKeysOfTest, NamesTheBadField) {
  v1::Customer c;
  c.set_email_domain("a\xff");
  absl::StatusOr<std::vector<DuplicateKey>> keys =
      DuplicateKeysOf(c, MatchOn({v1::EMAIL_DOMAIN}));
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(keys.status().message()),
              ::testing::HasSubstr("customer.email_domain"));
  keys = DuplicateKeysOf(c, MatchOn({v1::MATCH_KEY_UNSPECIFIED}));
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(keys.status().message()),
              ::testing::HasSubstr("match_on[0]"));
}

}  // namespace
}  // namespace custodian::server
