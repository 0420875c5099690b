#include "server/request_checks.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rules/loader.h"

namespace custodian::server {
namespace {

using ::testing::HasSubstr;

TEST(FieldErrorsTest, EmptyIsOk) {
  FieldErrors errors;
  EXPECT_TRUE(errors.ToStatus().ok());
}

TEST(FieldErrorsTest, ListsEveryFieldInMessageAndBadRequest) {
  FieldErrors errors;
  errors.Add("request_id", "is required");
  errors.Add("file_name", "is not valid UTF-8");
  absl::Status status = errors.ToStatus();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "request_id: is required; file_name: is not valid UTF-8");
  std::optional<google::rpc::BadRequest> details = GetBadRequest(status);
  ASSERT_TRUE(details.has_value());
  ASSERT_EQ(details->field_violations_size(), 2);
  EXPECT_EQ(details->field_violations(0).field(), "request_id");
  EXPECT_EQ(details->field_violations(0).description(), "is required");
  EXPECT_EQ(details->field_violations(1).field(), "file_name");
  EXPECT_FALSE(GetPreconditionFailure(status).has_value());
}

TEST(FieldErrorsTest, MessageElidesPastFiveButDetailsKeepAll) {
  FieldErrors errors;
  for (int i = 0; i < 7; ++i) errors.Add(absl::StrCat("f", i), "bad");
  absl::Status status = errors.ToStatus();
  EXPECT_EQ(status.message(),
            "f0: bad; f1: bad; f2: bad; f3: bad; f4: bad; and 2 more");
  EXPECT_EQ(GetBadRequest(status)->field_violations_size(), 7);
}

TEST(FailedPreconditionTest, CarriesPreconditionFailure) {
  google::rpc::PreconditionFailure failure;
  failure.add_violations()->set_subject("departments.sales.rules[0]");
  absl::Status status = FailedPreconditionWithDetails("broken", failure);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  std::optional<google::rpc::PreconditionFailure> got =
      GetPreconditionFailure(status);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->violations(0).subject(), "departments.sales.rules[0]");
  EXPECT_TRUE(status.GetPayload(kPreconditionFailureTypeUrl).has_value());
}

TEST(RequestIdTest, AcceptsTheCharacterSetUpTo128) {
  FieldErrors errors;
  CheckRequestId("request_id", "aZ09._:-", true, &errors);
  CheckRequestId("request_id", std::string(128, 'a'), true, &errors);
  CheckRequestId("request_id", "", false, &errors);
  EXPECT_TRUE(errors.empty());
}

TEST(RequestIdTest, RejectsEmptyWhenRequiredTooLongAndBadCharacters) {
  for (const std::string& bad :
       {std::string(), std::string(129, 'a'), std::string("a b"),
        std::string("a/b"), std::string("é")}) {
    FieldErrors errors;
    CheckRequestId("request_id", bad, true, &errors);
    absl::Status status = errors.ToStatus();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(status.message()), HasSubstr("request_id: "))
        << bad;
  }
  FieldErrors errors;
  CheckRequestId("request_id", "a b", true, &errors);
  EXPECT_EQ(errors.ToStatus().message(),
            "request_id: must be 1-128 characters of [A-Za-z0-9._:-]");
}

TEST(FileNameTest, ChecksLengthInCharactersUtf8AndControls) {
  FieldErrors ok;
  CheckFileName("file_name", "", &ok);
  CheckFileName("file_name", "规则.yaml", &ok);
  // 255 three-byte characters are 765 bytes and still fine.
  std::string long_ok;
  for (int i = 0; i < 255; ++i) long_ok += "规";
  CheckFileName("file_name", long_ok, &ok);
  EXPECT_TRUE(ok.empty());

  FieldErrors bad;
  CheckFileName("file_name", long_ok + "x", &bad);
  CheckFileName("file_name", "a\nb", &bad);
  CheckFileName("file_name", "\xff", &bad);
  ASSERT_EQ(bad.bad_request().field_violations_size(), 3);
  EXPECT_EQ(bad.bad_request().field_violations(0).description(),
            "is longer than 255 characters");
  EXPECT_EQ(bad.bad_request().field_violations(1).description(),
            "contains a control character");
  EXPECT_EQ(bad.bad_request().field_violations(2).description(),
            "is not valid UTF-8");
}

TEST(SourceTextTest, RequiredAndAtMost4MiB) {
  FieldErrors errors;
  CheckSourceText("source_text", std::string(rules::kMaxFileBytes, 'a'), true,
                  &errors);
  CheckSourceText("source_text", "", false, &errors);
  EXPECT_TRUE(errors.empty());
  CheckSourceText("source_text", "", true, &errors);
  CheckSourceText("source_text", std::string(rules::kMaxFileBytes + 1, 'a'),
                  true, &errors);
  ASSERT_EQ(errors.bad_request().field_violations_size(), 2);
  EXPECT_EQ(errors.bad_request().field_violations(0).description(),
            "is required");
}

TEST(ReasonTest, Utf8AndLength) {
  FieldErrors errors;
  CheckReason("reason", "休假", true, &errors);
  CheckReason("reason", std::string(kMaxReasonBytes, 'a'), true, &errors);
  CheckReason("reason", "", false, &errors);
  EXPECT_TRUE(errors.empty());
  CheckReason("reason", "", true, &errors);
  CheckReason("reason", std::string(kMaxReasonBytes + 1, 'a'), true, &errors);
  CheckReason("reason", "\xc3", true, &errors);
  EXPECT_EQ(errors.bad_request().field_violations_size(), 3);
}

TEST(EtagTest, PrintableAscii) {
  FieldErrors errors;
  CheckEtag("etag", "abc123", true, &errors);
  CheckEtag("etag", "", false, &errors);
  EXPECT_TRUE(errors.empty());
  CheckEtag("etag", "", true, &errors);
  CheckEtag("etag", "a b", true, &errors);
  CheckEtag("etag", std::string(129, 'a'), true, &errors);
  EXPECT_EQ(errors.bad_request().field_violations_size(), 3);
}

TEST(PageSizeTest, DefaultClampAndNegative) {
  FieldErrors errors;
  EXPECT_EQ(CheckPageSize("page_size", 0, 50, 1000, &errors), 50);
  EXPECT_EQ(CheckPageSize("page_size", 7, 50, 1000, &errors), 7);
  EXPECT_EQ(CheckPageSize("page_size", 1000, 50, 1000, &errors), 1000);
  EXPECT_EQ(CheckPageSize("page_size", 5000, 50, 1000, &errors), 1000);
  EXPECT_TRUE(errors.empty());
  CheckPageSize("page_size", -1, 50, 1000, &errors);
  EXPECT_EQ(errors.ToStatus().message(), "page_size: must not be negative");
}

TEST(PageTokenTest, RoundTrips) {
  std::string token = EncodePageToken("List", "42");
  FieldErrors errors;
  std::optional<std::string> position =
      DecodePageToken("page_token", "List", token, &errors);
  ASSERT_TRUE(position.has_value());
  EXPECT_EQ(*position, "42");
  EXPECT_TRUE(errors.empty());
  // Web-safe: usable in URLs and flags as is.
  EXPECT_EQ(token.find_first_of("+/="), std::string::npos);
}

TEST(PageTokenTest, RejectsTamperedForeignAndGarbageTokens) {
  std::string token = EncodePageToken("List", "42");
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(token, &raw));
  std::vector<std::string> bad;
  for (size_t i = 0; i < raw.size(); ++i) {
    std::string edited = raw;
    edited[i] ^= 0x01;
    bad.push_back(absl::WebSafeBase64Escape(edited));
  }
  bad.push_back(EncodePageToken("Other", "42"));
  bad.push_back("not base64!");
  bad.push_back(token.substr(0, token.size() - 2));
  for (const std::string& t : bad) {
    FieldErrors errors;
    EXPECT_FALSE(DecodePageToken("page_token", "List", t, &errors).has_value())
        << t;
    EXPECT_EQ(errors.ToStatus().message(),
              "page_token: is not a page token of this listing");
  }
}

TEST(DiagnosticsToStatusTest, NamesEveryErrorWithLocation) {
  rules::SourceMap map;
  rules::Diagnostics diags("roster.yaml", &map);
  diags.ErrorAt({3, 5}, "reps[0].id", "bad id");
  diags.ErrorAt({7, 1}, "teams[1]", "bad team");
  diags.Warning("", "only a warning");
  absl::Status status = DiagnosticsToStatus("source_text", "the roster", diags);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "source_text: the roster does not validate (2 errors): "
            "roster.yaml:3:5: reps[0].id: bad id; roster.yaml:7:1: teams[1]: "
            "bad team");
  std::optional<google::rpc::BadRequest> details = GetBadRequest(status);
  ASSERT_TRUE(details.has_value());
  ASSERT_EQ(details->field_violations_size(), 2);
  EXPECT_EQ(details->field_violations(0).field(), "source_text:3:5 reps[0].id");
  EXPECT_EQ(details->field_violations(0).description(), "bad id");
  EXPECT_EQ(details->field_violations(1).field(), "source_text:7:1 teams[1]");
}

TEST(DiagnosticsToStatusTest, ProtoFormUsesDottedPaths) {
  rules::Diagnostics diags("<request>", nullptr);
  diags.Error("reps[0].id", "bad id");
  absl::Status status = DiagnosticsToStatus("roster", "the roster", diags);
  EXPECT_EQ(GetBadRequest(status)->field_violations(0).field(),
            "roster.reps[0].id");
}

TEST(Sha256Test, KnownVector) {
  EXPECT_EQ(Sha256Hex("abc", 32),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256("abc").size(), 32u);
}

}  // namespace
}  // namespace custodian::server
