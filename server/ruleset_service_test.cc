// Request checks of ValidateRuleset, without gRPC. The pipeline itself is
// exercised end to end in tests/server_test.cc.
#include "server/ruleset_service.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rules/loader.h"

namespace custodian::server {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

v1::ValidateRulesetRequest TextRequest(std::string text,
                                       std::string file_name = "") {
  v1::ValidateRulesetRequest request;
  request.set_source_text(std::move(text));
  request.set_file_name(std::move(file_name));
  return request;
}

TEST(CheckValidateRulesetRequestTest, AcceptsTextWithOrWithoutFileName) {
  EXPECT_TRUE(CheckValidateRulesetRequest(TextRequest("ruleset: x\n")).ok());
  EXPECT_TRUE(
      CheckValidateRulesetRequest(TextRequest("ruleset: x\n", "a/b.yaml"))
          .ok());
  // An empty text is a source; the checker reports what is missing.
  EXPECT_TRUE(CheckValidateRulesetRequest(TextRequest("")).ok());
}

TEST(CheckValidateRulesetRequestTest, AcceptsProtoForm) {
  v1::ValidateRulesetRequest request;
  request.mutable_ruleset()->set_name("x");
  EXPECT_TRUE(CheckValidateRulesetRequest(request).ok());
}

TEST(CheckValidateRulesetRequestTest, MissingSourceNamesSource) {
  absl::Status status = CheckValidateRulesetRequest({});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), StartsWith("source: "));
}

TEST(CheckValidateRulesetRequestTest, SourceTextLimitIsFourMebibytes) {
  EXPECT_TRUE(CheckValidateRulesetRequest(
                  TextRequest(std::string(rules::kMaxFileBytes, '#')))
                  .ok());
  absl::Status status = CheckValidateRulesetRequest(
      TextRequest(std::string(rules::kMaxFileBytes + 1, '#')));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "source_text: is 4194305 bytes; at most 4194304 (4 MiB) are "
            "allowed");
}

TEST(CheckValidateRulesetRequestTest, FileNameLimitCountsCharactersNotBytes) {
  EXPECT_TRUE(
      CheckValidateRulesetRequest(TextRequest("", std::string(255, 'a'))).ok());
  std::string wide;
  for (int i = 0; i < 255; ++i) wide += "规";  // 3 bytes each
  EXPECT_TRUE(CheckValidateRulesetRequest(TextRequest("", wide)).ok());
  absl::Status status =
      CheckValidateRulesetRequest(TextRequest("", std::string(256, 'a')));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "file_name: is 256 characters long; at most 255 are allowed");
}

TEST(CheckValidateRulesetRequestTest, FileNameMustBePrintableUtf8) {
  for (const std::string& name :
       {std::string("a\nb"), std::string("a\tb"), std::string("a\x7f"),
        std::string("a\xc2\x85"), std::string("a\0b", 3)}) {
    absl::Status status = CheckValidateRulesetRequest(TextRequest("", name));
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()),
                StartsWith("file_name: holds the control character U+"));
  }
  for (const std::string& name :
       {std::string("\xff"), std::string("a\xc3"), std::string("\xc0\xaf"),
        std::string("\xed\xa0\x80")}) {
    absl::Status status = CheckValidateRulesetRequest(TextRequest("", name));
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message(), "file_name: is not valid UTF-8");
  }
}

TEST(CheckValidateRulesetRequestTest, NamesEveryBadField) {
  v1::ValidateRulesetRequest request;
  request.set_file_name("a\nb");
  absl::Status status = CheckValidateRulesetRequest(request);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), StartsWith("source: "));
  EXPECT_THAT(std::string(status.message()), HasSubstr("; file_name: "));
}

}  // namespace
}  // namespace custodian::server
