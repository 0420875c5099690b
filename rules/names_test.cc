#include "rules/names.h"

#include <string>

#include "gtest/gtest.h"

namespace custodian::rules {
namespace {

TEST(NamesTest, AcceptsWellFormedIds) {
  EXPECT_EQ(CheckRulesetName("acme-fy2026.v2"), "");
  EXPECT_EQ(CheckSegmentName("key_account"), "");
  EXPECT_EQ(CheckRuleId("key-accounts-east"), "");
  EXPECT_EQ(CheckDepartmentId("after_sales-2"), "");
  EXPECT_EQ(CheckTeamId("ka-east"), "");
  EXPECT_EQ(CheckRepId("Zhang.Wei@acme"), "");
  EXPECT_EQ(CheckCustomerId("crm:42@acme"), "");
  EXPECT_EQ(CheckToken("smb_2"), "");
}

TEST(NamesTest, RejectsIdsOutsideTheirSyntax) {
  EXPECT_EQ(CheckRuleId("Key"),
            "rule id \"Key\" must be 1-64 characters of [a-z0-9-] starting "
            "with a letter or digit");
  EXPECT_EQ(CheckRuleId("-a"),
            "rule id \"-a\" must be 1-64 characters of [a-z0-9-] starting "
            "with a letter or digit");
  EXPECT_EQ(CheckRuleId("fallback"),
            "rule id \"fallback\" is reserved for the department's fallback");
  EXPECT_EQ(CheckSegmentName("1st"),
            "segment name \"1st\" must be 1-64 characters of [a-z0-9_] "
            "starting with a letter");
  EXPECT_EQ(CheckDepartmentId(""),
            "department id is empty; it must be 1-64 characters of [a-z0-9_-] "
            "starting with a letter");
  EXPECT_NE(CheckTeamId(std::string(65, 'a')), "");
  EXPECT_EQ(CheckTeamId(std::string(64, 'a')), "");
  EXPECT_NE(CheckRepId("a b"), "");
  EXPECT_NE(CheckCustomerId(std::string(129, 'a')), "");
  EXPECT_NE(CheckToken("Smb"), "");
  EXPECT_NE(CheckToken(""), "");
}

TEST(NamesTest, PathsNeedNonEmptyTrimmedSegments) {
  EXPECT_EQ(CheckPath("CN/East/Shanghai"), "");
  EXPECT_EQ(CheckPath("中国/华东"), "");
  EXPECT_EQ(CheckPath("CN//East"), "path \"CN//East\": segment 2 is empty");
  EXPECT_EQ(CheckPath("/CN"), "path \"/CN\": segment 1 is empty");
  EXPECT_EQ(CheckPath("CN/"), "path \"CN/\": segment 2 is empty");
  EXPECT_EQ(CheckPath(" CN"),
            "path \" CN\": segment 1 has a leading or trailing space");
  EXPECT_EQ(CheckPath("CN/East "),
            "path \"CN/East \": segment 2 has a leading or trailing space");
  EXPECT_EQ(CheckPath("CN/E\tast"),
            "path \"CN/E\\tast\": segment 2 contains a control character");
  EXPECT_EQ(CheckPath(""), "path is empty");
  EXPECT_EQ(CheckPath("\xff"), "path \"\xff\" is not valid UTF-8");
}

TEST(NamesTest, Utf8ValidationRejectsMalformedSequences) {
  EXPECT_TRUE(IsValidUtf8("销售部 abc"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xe9\x94"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // > U+10FFFF
}

TEST(NamesTest, SkillsAndText) {
  EXPECT_EQ(CheckSkill("C39"), "");
  EXPECT_NE(CheckSkill("C/C39"), "");
  EXPECT_NE(CheckSkill(" x"), "");
  EXPECT_EQ(CheckText("line one\nline two", 100), "");
  EXPECT_EQ(CheckText("abc", 2), "text is longer than 2 bytes");
  EXPECT_EQ(CheckText("a\x01", 10), "text contains a control character");
}

TEST(NamesTest, QuoteEscapesAndElides) {
  EXPECT_EQ(Quote("a\"b"), "\"a\\\"b\"");
  EXPECT_EQ(Quote(std::string(100, 'x')),
            "\"" + std::string(80, 'x') + "...\"");
}

}  // namespace
}  // namespace custodian::rules
