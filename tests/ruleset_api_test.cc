// custodian.v1.RulesetService over a real channel, against a real server on
// a real store (tests/server_testing.h): every RPC's happy path, bad input on
// every request field, idempotent retries. The server starts with the sample
// roster and ruleset (version 1, active).
#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "custodian/v1/ruleset_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rules/loader.h"
#include "server/request_checks.h"
#include "tests/server_testing.h"

namespace custodian::server {
namespace {

using testing::BadFields;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::ReadFile;
using testing::SamplePath;
using ::testing::StartsWith;

// The sample ruleset renamed: a valid second version.
std::string RulesetV2() {
  return absl::StrReplaceAll(ReadFile(SamplePath("ruleset.yaml")),
                             {{"ruleset: acme-fy2026", "ruleset: acme-v2"}});
}

// A valid ruleset whose text has what a re-serialization would lose:
// comments, CRLF line ends, odd spacing, non-ASCII, no final newline.
constexpr char kQuirkyRuleset[] =
    "# 规则 v3\r\n"
    "ruleset:   acme-v3   # name\r\n"
    "departments:\r\n"
    "  sales:\r\n"
    "    rules:\r\n"
    "      - {id: east,  when: {region: {under: CN/East}}, assign: {team: "
    "ka-east}}\r\n"
    "    fallback: {pool: east-pool}";

class RulesetApiTest : public testing::ServerFixture {};

TEST_F(RulesetApiTest, CreateStoresTheSourceVerbatimWithoutActivating) {
  v1::CreateRulesetVersionRequest request;
  request.set_source_text(kQuirkyRuleset);
  request.set_file_name("rules/v3.yaml");
  request.set_request_id("create-v3");
  clock_.Advance(absl::Minutes(5));
  v1::RulesetVersion created;
  grpc::Status status = Create(request, &created);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(created.version(), 2);
  EXPECT_EQ(created.name(), "acme-v3");
  EXPECT_EQ(created.source_text(), kQuirkyRuleset);
  EXPECT_EQ(created.file_name(), "rules/v3.yaml");
  EXPECT_EQ(created.created_by(), "local-dev");
  EXPECT_EQ(created.create_time().seconds(),
            absl::ToUnixSeconds(testing::T0() + absl::Minutes(5)));
  EXPECT_FALSE(created.active());
  EXPECT_EQ(created.ruleset().name(), "acme-v3");

  v1::GetRulesetRequest get;
  get.set_version(2);
  v1::RulesetVersion got;
  ASSERT_TRUE(Get(get, &got).ok());
  EXPECT_EQ(got.source_text(), std::string(kQuirkyRuleset));  // byte for byte
  EXPECT_EQ(got.ruleset().SerializeAsString(),
            created.ruleset().SerializeAsString());
  EXPECT_FALSE(got.active());
  EXPECT_THAT(got.activations(), IsEmpty());

  get.set_omit_source(true);
  ASSERT_TRUE(Get(get, &got).ok());
  EXPECT_EQ(got.source_text(), "");
  EXPECT_EQ(got.ruleset().name(), "acme-v3");

  // Version 0 is still the active version 1.
  v1::RulesetVersion active;
  ASSERT_TRUE(Get(v1::GetRulesetRequest(), &active).ok());
  EXPECT_EQ(active.version(), 1);
  EXPECT_TRUE(active.active());
}

TEST_F(RulesetApiTest, GetOfAMissingVersionIsNotFound) {
  v1::GetRulesetRequest get;
  get.set_version(7);
  v1::RulesetVersion got;
  grpc::Status status = Get(get, &got);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("7"));
}

TEST_F(RulesetApiTest, InvalidRulesetIsNeverStoredAndListsEveryError) {
  const std::string before = State();
  v1::CreateRulesetVersionRequest request;
  request.set_source_text(
      "ruleset: broken\n"
      "departments:\n"
      "  sales:\n"
      "    rules:\n"
      "      - id: r1\n"
      "        assign:\n"
      "          team: no-such-team\n"
      "    fallback:\n"
      "          pool: no-such-pool\n");
  request.set_request_id("create-broken");
  v1::RulesetVersion created;
  grpc::Status status = Create(request, &created);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("source_text: "));
  EXPECT_THAT(
      BadFields(status),
      ElementsAre(
          StartsWith("source_text:7:11 departments.sales.rules[0].assign.team"),
          StartsWith("source_text:9:11 departments.sales.fallback")));
  EXPECT_EQ(State(), before);
  // No version number was consumed.
  EXPECT_EQ(MustCreate(RulesetV2(), "create-v2").version(), 2);
}

// Error details travel in a trailer, which clients limit in size (gRPC's
// default: 8 KiB). A ruleset with hundreds of errors still gets
// INVALID_ARGUMENT, not a transport error.
TEST_F(RulesetApiTest, ARulesetWithHundredsOfErrorsIsStillInvalidArgument) {
  std::string text = "ruleset: broken\ndepartments:\n  sales:\n    rules:\n";
  for (int i = 0; i < 400; ++i) {
    absl::StrAppend(&text, "      - {id: rule-", i,
                    ", assign: {team: no-such-team-with-a-long-name-", i,
                    "}}\n");
  }
  v1::CreateRulesetVersionRequest request;
  request.set_source_text(text);
  request.set_request_id("create-many-errors");
  v1::RulesetVersion created;
  grpc::Status status = Create(request, &created);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(status.error_message(), StartsWith("source_text: "));
  EXPECT_FALSE(BadFields(status).empty());
}

TEST_F(RulesetApiTest, ListPaginatesNewestFirstAcrossPages) {
  for (int i = 2; i <= 5; ++i) {
    MustCreate(absl::StrReplaceAll(RulesetV2(),
                                   {{"acme-v2", absl::StrCat("acme-v", i)}}),
               absl::StrCat("create-", i));
  }
  std::vector<int64_t> seen;
  std::vector<int> page_sizes;
  v1::ListRulesetVersionsRequest request;
  request.set_page_size(2);
  for (int page = 0; page < 10; ++page) {
    v1::ListRulesetVersionsResponse response;
    grpc::Status status = List(request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.active_version(), 1);
    EXPECT_FALSE(response.activation_etag().empty());
    page_sizes.push_back(response.versions_size());
    for (const v1::RulesetVersion& v : response.versions()) {
      seen.push_back(v.version());
      EXPECT_EQ(v.source_text(), "");  // summaries only
      EXPECT_FALSE(v.has_ruleset());
      EXPECT_EQ(v.active(), v.version() == 1);
    }
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  EXPECT_THAT(seen, ElementsAre(5, 4, 3, 2, 1));
  EXPECT_THAT(page_sizes, ElementsAre(2, 2, 1));
}

TEST_F(RulesetApiTest, TamperedOrForeignPageTokenIsInvalidArgument) {
  MustCreate(RulesetV2(), "create-v2");
  v1::ListRulesetVersionsRequest request;
  request.set_page_size(1);
  v1::ListRulesetVersionsResponse first;
  ASSERT_TRUE(List(request, &first).ok());
  ASSERT_FALSE(first.next_page_token().empty());
  std::string tampered = first.next_page_token();
  tampered[tampered.size() / 2] =
      tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  for (const std::string& token :
       {tampered, std::string("garbage"), std::string("%%%"),
        EncodePageToken("another listing", "x")}) {
    request.set_page_token(token);
    v1::ListRulesetVersionsResponse response;
    grpc::Status status = List(request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << token;
    EXPECT_THAT(status.error_message(), StartsWith("page_token: "));
    EXPECT_THAT(BadFields(status), ElementsAre("page_token"));
  }
}

TEST_F(RulesetApiTest, ActivateRecordsWhoWhenWhyAndRollsBack) {
  MustCreate(RulesetV2(), "create-v2");
  v1::ActivateRulesetRequest request;
  request.set_version(2);
  request.set_etag(ActivationEtag());
  request.set_reason("FY2026 Q2 rules");
  request.set_request_id("activate-v2");
  clock_.Advance(absl::Hours(2));
  v1::ActivateRulesetResponse activated;
  grpc::Status status = Activate(request, &activated);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(activated.activation().version(), 2);
  EXPECT_EQ(activated.activation().previous_version(), 1);
  EXPECT_EQ(activated.activation().activated_by(), "local-dev");
  EXPECT_EQ(activated.activation().reason(), "FY2026 Q2 rules");
  EXPECT_EQ(activated.activation().activate_time().seconds(),
            absl::ToUnixSeconds(testing::T0() + absl::Hours(2)));
  EXPECT_EQ(activated.etag(), ActivationEtag());

  v1::RulesetVersion active;
  ASSERT_TRUE(Get(v1::GetRulesetRequest(), &active).ok());
  EXPECT_EQ(active.version(), 2);
  EXPECT_EQ(active.name(), "acme-v2");

  // Rollback: activating the older version.
  v1::ActivateRulesetResponse rolled_back = MustActivate(1, "rollback");
  EXPECT_EQ(rolled_back.activation().previous_version(), 2);
  ASSERT_TRUE(Get(v1::GetRulesetRequest(), &active).ok());
  EXPECT_EQ(active.version(), 1);
  ASSERT_EQ(active.activations_size(), 2);  // the bootstrap's and the rollback
  EXPECT_EQ(active.activations(1).previous_version(), 2);
}

TEST_F(RulesetApiTest, StaleEtagIsAbortedAndChangesNothing) {
  MustCreate(RulesetV2(), "create-v2");
  const std::string stale = ActivationEtag();
  MustActivate(2, "activate-v2");
  const std::string before = State();
  v1::ActivateRulesetRequest request;
  request.set_version(1);
  request.set_etag(stale);
  request.set_request_id("activate-with-stale-etag");
  v1::ActivateRulesetResponse response;
  grpc::Status status = Activate(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(status.error_message(), HasSubstr("etag"));
  EXPECT_EQ(State(), before);
}

TEST_F(RulesetApiTest, ActivateOfAMissingVersionIsNotFound) {
  v1::ActivateRulesetRequest request;
  request.set_version(9);
  request.set_etag(ActivationEtag());
  request.set_request_id("activate-9");
  v1::ActivateRulesetResponse response;
  EXPECT_EQ(Activate(request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(RulesetApiTest, DiffListsTheChangesBetweenVersions) {
  MustCreate(kQuirkyRuleset, "create-v2");
  v1::DiffRulesetsRequest request;
  request.set_from_version(1);
  request.set_to_version(2);
  v1::DiffRulesetsResponse diff;
  grpc::Status status = Diff(request, &diff);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(diff.from_version(), 1);
  EXPECT_EQ(diff.to_version(), 2);
  EXPECT_EQ(diff.diff().name().before(), "acme-fy2026");
  EXPECT_EQ(diff.diff().name().after(), "acme-v3");
  EXPECT_FALSE(diff.diff().departments().empty());

  request.set_to_version(1);
  ASSERT_TRUE(Diff(request, &diff).ok());
  EXPECT_THAT(diff.diff().departments(), IsEmpty());
  EXPECT_FALSE(diff.diff().has_name());

  request.set_to_version(5);
  status = Diff(request, &diff);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("to_version"));
}

// A valid request of each kind, and one way to break each of its fields.
struct BadInput {
  std::string field;
  std::function<grpc::Status()> call;
};

TEST_F(RulesetApiTest, BadInputOnEveryFieldIsInvalidArgumentNamingIt) {
  MustCreate(RulesetV2(), "create-v2");
  const std::string etag = ActivationEtag();
  auto create =
      [this](std::function<void(v1::CreateRulesetVersionRequest*)> edit)
      -> std::function<grpc::Status()> {
    return [this, edit] {
      v1::CreateRulesetVersionRequest request;
      request.set_source_text(RulesetV2());
      request.set_file_name("v.yaml");
      request.set_request_id("create-bad");
      edit(&request);
      v1::RulesetVersion response;
      return Create(request, &response);
    };
  };
  auto get = [this](int64_t version) -> std::function<grpc::Status()> {
    return [this, version] {
      v1::GetRulesetRequest request;
      request.set_version(version);
      v1::RulesetVersion response;
      return Get(request, &response);
    };
  };
  auto list = [this](int32_t page_size,
                     std::string token) -> std::function<grpc::Status()> {
    return [this, page_size, token] {
      v1::ListRulesetVersionsRequest request;
      request.set_page_size(page_size);
      request.set_page_token(token);
      v1::ListRulesetVersionsResponse response;
      return List(request, &response);
    };
  };
  auto activate = [this,
                   etag](std::function<void(v1::ActivateRulesetRequest*)> edit)
      -> std::function<grpc::Status()> {
    return [this, etag, edit] {
      v1::ActivateRulesetRequest request;
      request.set_version(2);
      request.set_etag(etag);
      request.set_reason("ok");
      request.set_request_id("activate-bad");
      edit(&request);
      v1::ActivateRulesetResponse response;
      return Activate(request, &response);
    };
  };
  auto diff = [this](int64_t from,
                     int64_t to) -> std::function<grpc::Status()> {
    return [this, from, to] {
      v1::DiffRulesetsRequest request;
      request.set_from_version(from);
      request.set_to_version(to);
      v1::DiffRulesetsResponse response;
      return Diff(request, &response);
    };
  };
  const std::string too_big(rules::kMaxFileBytes + 1, '#');
  const std::vector<BadInput> cases = {
      // CreateRulesetVersion
      {"source_text", create([](auto* r) { r->clear_source_text(); })},
      {"source_text", create([&](auto* r) { r->set_source_text(too_big); })},
      {"file_name", create([](auto* r) { r->set_file_name("a\nb"); })},
      {"file_name",
       create([](auto* r) { r->set_file_name(std::string(256, 'a')); })},
      {"file_name", create([](auto* r) { r->set_file_name("a\x7f.yaml"); })},
      {"request_id", create([](auto* r) { r->clear_request_id(); })},
      {"request_id", create([](auto* r) { r->set_request_id("no spaces"); })},
      {"request_id",
       create([](auto* r) { r->set_request_id(std::string(129, 'a')); })},
      // GetRuleset
      {"version", get(-1)},
      // ListRulesetVersions
      {"page_size", list(-1, "")},
      {"page_token", list(10, "not-a-token")},
      // ActivateRuleset
      {"version", activate([](auto* r) { r->set_version(0); })},
      {"version", activate([](auto* r) { r->set_version(-3); })},
      {"etag", activate([](auto* r) { r->clear_etag(); })},
      {"etag", activate([](auto* r) { r->set_etag("bad\x01"); })},
      {"etag", activate([](auto* r) { r->set_etag(std::string(129, 'e')); })},
      {"reason",
       activate([](auto* r) { r->set_reason(std::string(1025, 'r')); })},
      {"reason", activate([](auto* r) { r->set_reason("bell\x07"); })},
      {"request_id", activate([](auto* r) { r->clear_request_id(); })},
      {"request_id", activate([](auto* r) { r->set_request_id("a/b"); })},
      // DiffRulesets
      {"from_version", diff(0, 1)},
      {"to_version", diff(1, 0)},
      {"to_version", diff(1, -1)},
  };
  const std::string before = State();
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("case ", i, ": ", cases[i].field));
    grpc::Status status = cases[i].call();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << status.error_message();
    EXPECT_THAT(status.error_message(), StartsWith(cases[i].field + ": "));
    EXPECT_THAT(BadFields(status), ElementsAre(cases[i].field));
  }
  EXPECT_EQ(State(), before);
}

// Invalid UTF-8 in a proto3 string field is refused by the protobuf runtime
// while the request is parsed, before any handler runs (gRPC answers with an
// error of its own, not INVALID_ARGUMENT); conforming clients cannot send it.
// Either way nothing is written.
TEST_F(RulesetApiTest, InvalidUtf8InAStringFieldNeverReachesTheRegistry) {
  const std::string before = State();
  v1::CreateRulesetVersionRequest request;
  request.set_source_text(RulesetV2());
  request.set_file_name("\xff.yaml");
  request.set_request_id("create-utf8");
  v1::RulesetVersion response;
  grpc::Status status = Create(request, &response);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(State(), before);
}

TEST_F(RulesetApiTest, EveryBadFieldIsListedInOneBadRequest) {
  v1::ActivateRulesetRequest request;
  request.set_reason(std::string(1025, 'r'));
  v1::ActivateRulesetResponse response;
  grpc::Status status = Activate(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(BadFields(status),
              ElementsAre("version", "etag", "reason", "request_id"));
}

TEST_F(RulesetApiTest, CreateRetryWithTheSameRequestIdGetsTheFirstAnswer) {
  v1::CreateRulesetVersionRequest request;
  request.set_source_text(RulesetV2());
  request.set_request_id("create-once");
  v1::RulesetVersion first;
  ASSERT_TRUE(Create(request, &first).ok());
  const std::string after_first = State();
  clock_.Advance(absl::Hours(1));
  v1::RulesetVersion retry;
  grpc::Status status = Create(request, &retry);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(retry.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(State(), after_first);  // one effect

  // The same id for another request is refused, naming request_id.
  request.set_source_text(kQuirkyRuleset);
  status = Create(request, &retry);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("request_id: "));
  EXPECT_THAT(BadFields(status), ElementsAre("request_id"));
  EXPECT_EQ(State(), after_first);
}

TEST_F(RulesetApiTest, ActivateRetryWithTheSameRequestIdGetsTheFirstAnswer) {
  MustCreate(RulesetV2(), "create-v2");
  v1::ActivateRulesetRequest request;
  request.set_version(2);
  request.set_etag(ActivationEtag());
  request.set_request_id("activate-once");
  v1::ActivateRulesetResponse first;
  ASSERT_TRUE(Activate(request, &first).ok());
  const std::string after_first = State();
  // The etag in the request is stale now; the retry still gets the answer.
  v1::ActivateRulesetResponse retry;
  grpc::Status status = Activate(request, &retry);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(retry.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(State(), after_first);

  request.set_reason("another reason");
  status = Activate(request, &retry);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(BadFields(status), ElementsAre("request_id"));
}

}  // namespace
}  // namespace custodian::server
