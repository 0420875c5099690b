// custodianctl's server commands against a real gRPC server on port 0 that
// hosts the TEST-ONLY canned-answer services of testing/fake_services.h:
// these tests check what the commands send and how they print answers and
// errors. End-to-end tests against the real services are in tests/.
#include "clients/remote_commands.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clients/errors.h"
#include "clients/rules_commands.h"
#include "clients/testing/fake_services.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace custodian::clients {
namespace {

using testing::FakeServer;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::SizeIs;
using testing::StatusWithDetails;

template <typename T>
T ParseText(const std::string& text) {
  T message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message))
      << text;
  return message;
}

class RemoteCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.ok());
    connection_ = server_.Connect();
    dir_ = std::filesystem::temp_directory_path() /
           ("custodianctl_remote_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  CommandOutput Table() {
    return CommandOutput{OutputFormat::kTable, out_, err_};
  }
  CommandOutput Json() {
    return CommandOutput{OutputFormat::kJson, out_, err_};
  }

  FakeServer server_;
  std::unique_ptr<Connection> connection_;
  std::filesystem::path dir_;
  std::ostringstream out_;
  std::ostringstream err_;
};

constexpr char kUuidPattern[] =
    "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";

TEST(NewRequestIdTest, IsAFreshVersion4UuidEachTime) {
  std::string a = NewRequestId();
  std::string b = NewRequestId();
  EXPECT_THAT(a, MatchesRegex(kUuidPattern));
  EXPECT_THAT(b, MatchesRegex(kUuidPattern));
  EXPECT_NE(a, b);
}

// ---- roster apply ----------------------------------------------------------

TEST_F(RemoteCommandsTest, RosterApplySendsTheFileVerbatimWithAFreshId) {
  const std::string text = "departments:\n  - id: sales  # 销售\n";
  std::string path = Write("roster.yaml", text);
  server_.roster.apply.Reply(ParseText<v1::ApplyRosterResponse>(R"pb(
    version: 2
    changes { kind: ADDED resource: "departments/sales" }
    diagnostics {
      severity: WARNING
      file: "roster.yaml"
      line: 2
      column: 5
      field_path: "departments[0]"
      message: "no team works in sales"
    })pb"));
  EXPECT_EQ(RunRosterApply(*connection_, {path, false, "", "etag-1"}, Table()),
            kExitOk)
      << err_.str();
  auto requests = server_.roster.apply.requests();
  ASSERT_THAT(requests, SizeIs(1));
  EXPECT_EQ(requests[0].source_text(), text);
  EXPECT_EQ(requests[0].file_name(), "roster.yaml");
  EXPECT_FALSE(requests[0].dry_run());
  EXPECT_EQ(requests[0].etag(), "etag-1");
  EXPECT_THAT(requests[0].request_id(), MatchesRegex(kUuidPattern));
  EXPECT_EQ(out_.str(),
            "KIND   RESOURCE           FIELD  BEFORE → AFTER\n"
            "added  departments/sales\n"
            "roster version 2\n");
  EXPECT_EQ(err_.str(),
            "roster.yaml:2:5: departments[0]: warning: no team works in "
            "sales\n");
}

TEST_F(RemoteCommandsTest, RosterApplyJsonIsTheResponsePlusTheGeneratedId) {
  std::string path = Write("r.yaml", "reps: []\n");
  server_.roster.apply.Reply(
      ParseText<v1::ApplyRosterResponse>("version: 3 etag: \"e3\""));
  EXPECT_EQ(RunRosterApply(*connection_, {path, false, "", ""}, Json()),
            kExitOk);
  std::string sent_id = server_.roster.apply.requests().at(0).request_id();
  nlohmann::json doc = nlohmann::json::parse(out_.str());
  EXPECT_EQ(doc["version"], "3");
  EXPECT_EQ(doc["etag"], "e3");
  EXPECT_EQ(doc["dry_run"], false);
  EXPECT_EQ(doc["changes"], nlohmann::json::array());
  EXPECT_EQ(doc["request_id"], sent_id);
  EXPECT_EQ(err_.str(), "");
}

TEST_F(RemoteCommandsTest, RosterApplyDryRunSendsNoIdUnlessGiven) {
  std::string path = Write("r.yaml", "reps: []\n");
  server_.roster.apply.Reply(
      ParseText<v1::ApplyRosterResponse>("version: 3 dry_run: true"));
  EXPECT_EQ(RunRosterApply(*connection_, {path, true, "", ""}, Json()),
            kExitOk);
  EXPECT_FALSE(nlohmann::json::parse(out_.str()).contains("request_id"));
  out_.str("");
  EXPECT_EQ(RunRosterApply(*connection_, {path, true, "mine", ""}, Table()),
            kExitOk);
  auto requests = server_.roster.apply.requests();
  ASSERT_THAT(requests, SizeIs(2));
  EXPECT_TRUE(requests[0].dry_run());
  EXPECT_EQ(requests[0].request_id(), "");
  EXPECT_EQ(requests[1].request_id(), "mine");
  EXPECT_EQ(out_.str(),
            "no changes\ndry run: nothing written (roster version 3)\n");
}

TEST_F(RemoteCommandsTest, RosterApplyUnreadableFileIsAUsageErrorWithoutACall) {
  EXPECT_EQ(RunRosterApply(*connection_,
                           {(dir_ / "missing.yaml").string(), false, "", ""},
                           Table()),
            kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("missing.yaml"));
  EXPECT_THAT(server_.roster.apply.requests(), SizeIs(0));
}

TEST_F(RemoteCommandsTest, RosterApplyRefusalPrintsEveryViolation) {
  std::string path = Write("r.yaml", "teams: []\n");
  google::rpc::PreconditionFailure failure;
  auto* v = failure.add_violations();
  v->set_type("RULE");
  v->set_subject("departments.sales.rules[0]");
  v->set_description("assigns to team ka-east, which the roster removes");
  server_.roster.apply.Fail(StatusWithDetails(
      grpc::StatusCode::FAILED_PRECONDITION,
      "the new roster would break 1 rule of active ruleset 4", failure));
  EXPECT_EQ(RunRosterApply(*connection_, {path, false, "id-1", ""}, Json()),
            kExitServerRefused);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(),
            "custodianctl: FAILED_PRECONDITION: the new roster would break 1 "
            "rule of active ruleset 4\n"
            "  RULE departments.sales.rules[0]: assigns to team ka-east, "
            "which the roster removes\n");
}

// ---- roster get, rep set-status --------------------------------------------

TEST_F(RemoteCommandsTest, RosterGetPrintsTables) {
  server_.roster.get.Reply(ParseText<v1::GetRosterResponse>(R"pb(
    version: 1
    roster {
      departments { id: "sales" name: "Sales" }
      reps { id: "zhang.wei" name: "张伟" status: ACTIVE }
    })pb"));
  EXPECT_EQ(RunRosterGet(*connection_, Table()), kExitOk);
  EXPECT_EQ(out_.str(),
            "roster version 1, updated -\n"
            "\n"
            "DEPARTMENTS\n"
            "ID     NAME\n"
            "sales  Sales\n"
            "\n"
            "REPS\n"
            "ID         NAME  STATUS  SKILLS\n"
            "zhang.wei  张伟  active\n");
}

TEST_F(RemoteCommandsTest, RosterGetJsonIsTheResponse) {
  auto response = ParseText<v1::GetRosterResponse>(R"pb(
    version: 6
    etag: "e6"
    roster { reps { id: "a" status: AWAY } })pb");
  server_.roster.get.Reply(response);
  EXPECT_EQ(RunRosterGet(*connection_, Json()), kExitOk);
  v1::GetRosterResponse parsed;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(out_.str(), &parsed).ok())
      << out_.str();
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(parsed, response));
  EXPECT_THAT(out_.str(), HasSubstr("\"status\": \"AWAY\""));
}

TEST_F(RemoteCommandsTest, RepSetStatusSendsTheRequest) {
  server_.roster.set_status.Reply(ParseText<v1::SetRepStatusResponse>(R"pb(
    rep { id: "zhang.wei" status: AWAY }
    previous_status: ACTIVE
    version: 8
  )pb"));
  EXPECT_EQ(RunRepSetStatus(*connection_,
                            {"zhang.wei", "Away", "parental leave", "req-9"},
                            Table()),
            kExitOk);
  auto requests = server_.roster.set_status.requests();
  ASSERT_THAT(requests, SizeIs(1));
  EXPECT_EQ(requests[0].rep(), "zhang.wei");
  EXPECT_EQ(requests[0].status(), v1::AWAY);
  EXPECT_EQ(requests[0].reason(), "parental leave");
  EXPECT_EQ(requests[0].request_id(), "req-9");
  EXPECT_EQ(out_.str(), "rep zhang.wei: active → away (roster version 8)\n");
}

TEST_F(RemoteCommandsTest, RepSetStatusRejectsAnUnknownStatusLocally) {
  EXPECT_EQ(
      RunRepSetStatus(*connection_, {"zhang.wei", "gone", "x", ""}, Table()),
      kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--status"));
  EXPECT_THAT(server_.roster.set_status.requests(), SizeIs(0));
}

TEST_F(RemoteCommandsTest, RepSetStatusNotFoundExitsOne) {
  server_.roster.set_status.Fail(
      grpc::Status(grpc::StatusCode::NOT_FOUND, "rep nobody not found"));
  EXPECT_EQ(RunRepSetStatus(*connection_, {"nobody", "left", "x", ""}, Table()),
            kExitServerRefused);
  EXPECT_EQ(err_.str(), "custodianctl: NOT_FOUND: rep nobody not found\n");
}

// ---- rules publish ----------------------------------------------------------

TEST_F(RemoteCommandsTest, RulesPublishPrintsVersionAndWarnings) {
  const std::string text = "ruleset: acme\ndepartments: {}\n";
  std::string path = Write("acme.yaml", text);
  server_.rulesets.create.Reply(ParseText<v1::RulesetVersion>(R"pb(
    version: 7
    name: "acme"
    warnings {
      severity: WARNING
      file: "acme.yaml"
      line: 2
      column: 1
      field_path: "departments"
      message: "no departments"
    })pb"));
  EXPECT_EQ(RunRulesPublish(*connection_, {path, ""}, Table()), kExitOk);
  auto requests = server_.rulesets.create.requests();
  ASSERT_THAT(requests, SizeIs(1));
  EXPECT_EQ(requests[0].source_text(), text);
  EXPECT_EQ(requests[0].file_name(), "acme.yaml");
  EXPECT_THAT(requests[0].request_id(), MatchesRegex(kUuidPattern));
  EXPECT_EQ(out_.str(),
            "published version 7 (acme)\n"
            "acme.yaml:2:1: departments: warning: no departments\n"
            "not active: run `custodianctl rules activate 7`\n");
}

TEST_F(RemoteCommandsTest, RulesPublishInvalidRulesetPrintsEveryBadField) {
  std::string path = Write("bad.yaml", "ruleset: bad\n");
  google::rpc::BadRequest bad;
  auto* v = bad.add_field_violations();
  v->set_field("source_text:12:9 departments.sales.rules[1].when.region");
  v->set_description("operator gt does not fit a path field");
  v = bad.add_field_violations();
  v->set_field("source_text:14:7 departments.sales.rules[1].assign.team");
  v->set_description("unknown team ka-west");
  server_.rulesets.create.Fail(StatusWithDetails(
      grpc::StatusCode::INVALID_ARGUMENT, "bad.yaml does not validate", bad));
  EXPECT_EQ(RunRulesPublish(*connection_, {path, "pub-1"}, Table()),
            kExitServerRefused);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(),
            "custodianctl: INVALID_ARGUMENT: bad.yaml does not validate\n"
            "  source_text:12:9 departments.sales.rules[1].when.region: "
            "operator gt does not fit a path field\n"
            "  source_text:14:7 departments.sales.rules[1].assign.team: "
            "unknown team ka-west\n");
}

// ---- rules list
// --------------------------------------------------------------

TEST_F(RemoteCommandsTest, RulesListShowsOnePageAndTheNextToken) {
  server_.rulesets.list.Reply(ParseText<v1::ListRulesetVersionsResponse>(R"pb(
    versions { version: 2 name: "b" active: true created_by: "ops" }
    next_page_token: "tok-2")pb"));
  EXPECT_EQ(RunRulesList(*connection_, {1, "tok-1", false}, Table()), kExitOk);
  auto requests = server_.rulesets.list.requests();
  ASSERT_THAT(requests, SizeIs(1));
  EXPECT_EQ(requests[0].page_size(), 1);
  EXPECT_EQ(requests[0].page_token(), "tok-1");
  EXPECT_EQ(out_.str(),
            "VERSION  NAME  CREATED  BY   ACTIVE\n"
            "2        b     -        ops  yes\n"
            "next page: --page-token tok-2\n");
}

TEST_F(RemoteCommandsTest, RulesListAllFollowsEveryPage) {
  server_.rulesets.list.Reply(ParseText<v1::ListRulesetVersionsResponse>(R"pb(
    versions { version: 3 }
    versions { version: 2 }
    next_page_token: "p2"
    active_version: 2
    activation_etag: "a1")pb"));
  server_.rulesets.list.Reply(ParseText<v1::ListRulesetVersionsResponse>(R"pb(
    versions { version: 1 }
    active_version: 2
    activation_etag: "a2")pb"));
  EXPECT_EQ(RunRulesList(*connection_, {2, "", true}, Json()), kExitOk);
  auto requests = server_.rulesets.list.requests();
  ASSERT_THAT(requests, SizeIs(2));
  EXPECT_EQ(requests[0].page_token(), "");
  EXPECT_EQ(requests[1].page_token(), "p2");
  EXPECT_EQ(requests[1].page_size(), 2);
  nlohmann::json doc = nlohmann::json::parse(out_.str());
  ASSERT_EQ(doc["versions"].size(), 3u);
  EXPECT_EQ(doc["versions"][0]["version"], "3");
  EXPECT_EQ(doc["versions"][2]["version"], "1");
  EXPECT_EQ(doc["next_page_token"], "");
  EXPECT_EQ(doc["activation_etag"], "a2");
}

TEST_F(RemoteCommandsTest, RulesListRejectsABadPageSizeLocally) {
  EXPECT_EQ(RunRulesList(*connection_, {1001, "", false}, Table()), kExitUsage);
  EXPECT_EQ(RunRulesList(*connection_, {-1, "", false}, Table()), kExitUsage);
  EXPECT_THAT(server_.rulesets.list.requests(), SizeIs(0));
}

// ---- rules get
// ---------------------------------------------------------------

TEST_F(RemoteCommandsTest, RulesGetSourcePrintsTheFileByteForByte) {
  // No trailing newline, CRLF, a tab and UTF-8: all returned unchanged.
  const std::string source = "ruleset: acme\r\n# 公海\tpool\nx: 1";
  v1::RulesetVersion version;
  version.set_version(4);
  version.set_source_text(source);
  server_.rulesets.get.Reply(version);
  EXPECT_EQ(RunRulesGet(*connection_, {4, true}, Table()), kExitOk);
  EXPECT_EQ(out_.str(), source);
  auto requests = server_.rulesets.get.requests();
  ASSERT_THAT(requests, SizeIs(1));
  EXPECT_EQ(requests[0].version(), 4);
  EXPECT_FALSE(requests[0].omit_source());
}

TEST_F(RemoteCommandsTest, RulesGetDefaultsToTheActiveVersionWithoutSource) {
  server_.rulesets.get.Reply(ParseText<v1::RulesetVersion>(
      R"pb(version: 5 name: "acme" file_name: "r.yaml" active: true)pb"));
  EXPECT_EQ(RunRulesGet(*connection_, {}, Table()), kExitOk);
  auto requests = server_.rulesets.get.requests();
  ASSERT_THAT(requests, SizeIs(1));
  EXPECT_EQ(requests[0].version(), 0);
  EXPECT_TRUE(requests[0].omit_source());
  EXPECT_EQ(out_.str(),
            "version     5 (active)\n"
            "name        acme\n"
            "file        r.yaml\n"
            "created     -\n");
}

TEST_F(RemoteCommandsTest, RulesGetNotFoundExitsOne) {
  server_.rulesets.get.Fail(
      grpc::Status(grpc::StatusCode::NOT_FOUND, "no active ruleset version"));
  EXPECT_EQ(RunRulesGet(*connection_, {}, Json()), kExitServerRefused);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(), "custodianctl: NOT_FOUND: no active ruleset version\n");
}

TEST_F(RemoteCommandsTest, RulesGetRejectsANegativeVersionLocally) {
  EXPECT_EQ(RunRulesGet(*connection_, {-1, false}, Table()), kExitUsage);
  EXPECT_THAT(server_.rulesets.get.requests(), SizeIs(0));
}

// ---- rules activate
// ----------------------------------------------------------

TEST_F(RemoteCommandsTest, RulesActivateWithoutEtagReadsItFirst) {
  server_.rulesets.list.Reply(ParseText<v1::ListRulesetVersionsResponse>(
      R"pb(active_version: 3 activation_etag: "act-3")pb"));
  server_.rulesets.activate.Reply(ParseText<v1::ActivateRulesetResponse>(R"pb(
    activation { version: 2 previous_version: 3 }
    etag: "act-4")pb"));
  EXPECT_EQ(RunRulesActivate(*connection_, {2, "", "rollback", ""}, Table()),
            kExitOk)
      << err_.str();
  EXPECT_THAT(server_.rulesets.list.requests(), SizeIs(1));
  auto requests = server_.rulesets.activate.requests();
  ASSERT_THAT(requests, SizeIs(1));
  EXPECT_EQ(requests[0].version(), 2);
  EXPECT_EQ(requests[0].etag(), "act-3");
  EXPECT_EQ(requests[0].reason(), "rollback");
  EXPECT_THAT(requests[0].request_id(), MatchesRegex(kUuidPattern));
  EXPECT_EQ(out_.str(), "activated version 2 (previously 3)\netag act-4\n");
}

TEST_F(RemoteCommandsTest, RulesActivateWithEtagMakesOneConditionalCall) {
  server_.rulesets.activate.Fail(grpc::Status(
      grpc::StatusCode::ABORTED, "activation etag \"old\" is not current"));
  EXPECT_EQ(RunRulesActivate(*connection_, {2, "old", "", "act-id"}, Table()),
            kExitServerRefused);
  EXPECT_THAT(server_.rulesets.list.requests(), SizeIs(0));
  auto requests = server_.rulesets.activate.requests();
  ASSERT_THAT(requests, SizeIs(1));
  EXPECT_EQ(requests[0].etag(), "old");
  EXPECT_EQ(requests[0].request_id(), "act-id");
  EXPECT_EQ(err_.str(),
            "custodianctl: ABORTED: activation etag \"old\" is not current\n");
}

TEST_F(RemoteCommandsTest, RulesActivateJsonAddsTheGeneratedRequestId) {
  server_.rulesets.activate.Reply(
      ParseText<v1::ActivateRulesetResponse>(R"pb(activation { version: 1 }
                                                  etag: "e")pb"));
  EXPECT_EQ(RunRulesActivate(*connection_, {1, "e0", "", ""}, Json()), kExitOk);
  nlohmann::json doc = nlohmann::json::parse(out_.str());
  EXPECT_EQ(doc["etag"], "e");
  EXPECT_EQ(doc["activation"]["version"], "1");
  EXPECT_EQ(doc["request_id"],
            server_.rulesets.activate.requests().at(0).request_id());
}

TEST_F(RemoteCommandsTest, RulesActivateRejectsVersionZeroLocally) {
  EXPECT_EQ(RunRulesActivate(*connection_, {0, "", "", ""}, Table()),
            kExitUsage);
  EXPECT_THAT(server_.rulesets.list.requests(), SizeIs(0));
  EXPECT_THAT(server_.rulesets.activate.requests(), SizeIs(0));
}

// ---- rules diff
// ---------------------------------------------------------------

TEST_F(RemoteCommandsTest, RulesDiffPrintsTheReadableDiff) {
  server_.rulesets.diff.Reply(ParseText<v1::DiffRulesetsResponse>(R"pb(
    from_version: 1
    to_version: 2
    diff {
      departments {
        department: "sales"
        kind: MODIFIED
        rules {
          kind: MODIFIED
          rule_id: "r1"
          changes { field: "when.region" before: "CN/East" after: "CN/West" }
        }
      }
    })pb"));
  EXPECT_EQ(RunRulesDiff(*connection_, {1, 2}, Table()), kExitOk);
  auto requests = server_.rulesets.diff.requests();
  ASSERT_THAT(requests, SizeIs(1));
  EXPECT_EQ(requests[0].from_version(), 1);
  EXPECT_EQ(requests[0].to_version(), 2);
  EXPECT_EQ(out_.str(),
            "ruleset 1 → 2\n"
            "department sales\n"
            "  ~ rule r1: when.region: CN/East → CN/West\n");
}

TEST_F(RemoteCommandsTest, RulesDiffJsonIsTheResponse) {
  server_.rulesets.diff.Reply(ParseText<v1::DiffRulesetsResponse>(
      R"pb(from_version: 1 to_version: 2)pb"));
  EXPECT_EQ(RunRulesDiff(*connection_, {1, 2}, Json()), kExitOk);
  nlohmann::json doc = nlohmann::json::parse(out_.str());
  EXPECT_EQ(doc["from_version"], "1");
  EXPECT_EQ(doc["to_version"], "2");
  // Present even when empty, so scripts can read diff.departments.
  EXPECT_EQ(doc["diff"]["departments"], nlohmann::json::array());
}

// ---- connection
// ----------------------------------------------------------------

TEST_F(RemoteCommandsTest, UnreachableServerExitsThree) {
  // Bind a port, then stop listening on it: nothing answers there.
  std::string address;
  {
    FakeServer gone;
    ASSERT_TRUE(gone.ok());
    address = gone.address();
  }
  std::unique_ptr<Connection> connection =
      Connection::Open({address, absl::Seconds(10), nullptr, ""});
  EXPECT_EQ(RunRosterGet(*connection, Table()), kExitUnreachable);
  EXPECT_THAT(err_.str(), HasSubstr("custodianctl: UNAVAILABLE: "));
  EXPECT_THAT(err_.str(), HasSubstr("  server: " + address +
                                    " (set --server or CUSTODIAN_SERVER)\n"));
  EXPECT_EQ(out_.str(), "");
}

TEST_F(RemoteCommandsTest, UnreachableServerOnAWriteGivesTheRetryId) {
  std::string address;
  {
    FakeServer gone;
    ASSERT_TRUE(gone.ok());
    address = gone.address();
  }
  std::unique_ptr<Connection> connection =
      Connection::Open({address, absl::Seconds(10), nullptr, ""});
  EXPECT_EQ(RunRepSetStatus(*connection, {"a", "away", "x", "rid-5"}, Table()),
            kExitUnreachable);
  EXPECT_THAT(err_.str(), HasSubstr("retry with --request-id rid-5"));
}

}  // namespace
}  // namespace custodian::clients

namespace custodian::clients {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// ---- rules simulate -----------------------------------------------------
// Against its own canned SimulateRuleset on a real gRPC server: the request
// it builds, its table and JSON output, local argument checks, refusals.

// Answers SimulateRuleset with `reply` (or `failure`) and records requests.
class FakeSimulateService final : public v1::RulesetService::Service {
 public:
  grpc::Status SimulateRuleset(grpc::ServerContext*,
                               const v1::SimulateRulesetRequest* request,
                               v1::SimulateRulesetResponse* response) override {
    absl::MutexLock lock(&mu_);
    requests_.push_back(*request);
    if (!failure_.ok()) return failure_;
    *response = reply_;
    return grpc::Status::OK;
  }

  void Reply(v1::SimulateRulesetResponse reply) {
    absl::MutexLock lock(&mu_);
    reply_ = std::move(reply);
  }
  void Fail(grpc::Status failure) {
    absl::MutexLock lock(&mu_);
    failure_ = std::move(failure);
  }
  std::vector<v1::SimulateRulesetRequest> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

 private:
  absl::Mutex mu_;
  v1::SimulateRulesetResponse reply_ ABSL_GUARDED_BY(mu_);
  grpc::Status failure_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::SimulateRulesetRequest> requests_ ABSL_GUARDED_BY(mu_);
};

constexpr char kReply[] = R"pb(
  version: 2
  baseline_version: 1
  evaluated_at { seconds: 1767225600 }
  snapshot_time { seconds: 1767225600 }
  scanned_customers: 3
  changed_customers: 2
  departments {
    department: "sales"
    changed: 2
    unchanged: 1
    transitions {
      from { pool: "east-pool" }
      to { pool: "unassigned-sales" }
      count: 2
      sample_customer_ids: [ "l1", "l2" ]
    }
    rules {
      rule_id: "new-leads-to-pool"
      count: 2
      sample_customer_ids: [ "l1", "l2" ]
    }
  }
)pb";

class SimulateCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ConnectionOptions options;
    options.address = absl::StrCat("127.0.0.1:", port_);
    options.timeout = absl::Seconds(30);
    connection_ = Connection::Open(std::move(options));
    v1::SimulateRulesetResponse reply;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(kReply, &reply));
    service_.Reply(reply);
  }
  void TearDown() override { server_->Shutdown(); }

  CommandOutput Table() {
    return CommandOutput{OutputFormat::kTable, out_, err_};
  }
  CommandOutput Json() {
    return CommandOutput{OutputFormat::kJson, out_, err_};
  }

  FakeSimulateService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Connection> connection_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(SimulateCommandTest, SendsOnlyTheVersionByDefaultAndPrintsTables) {
  RulesSimulateArgs args;
  args.version = 2;
  EXPECT_EQ(RunRulesSimulate(*connection_, args, Table()), kExitOk)
      << err_.str();
  ASSERT_THAT(service_.requests(), SizeIs(1));
  const v1::SimulateRulesetRequest sent =
      service_.requests()[0];  // a copy: requests() returns by value
  EXPECT_EQ(sent.version(), 2);
  EXPECT_EQ(sent.baseline_version(), 0);
  EXPECT_FALSE(sent.has_at());
  EXPECT_FALSE(sent.has_max_samples());
  EXPECT_EQ(out_.str(),
            "version 2 against version 1, evaluated at 2026-01-01T00:00:00Z "
            "(snapshot 2026-01-01T00:00:00Z)\n"
            "3 customers scanned, 2 change target in at least one "
            "department\n"
            "\n"
            "sales: 2 of 3 customers change target\n"
            "  FROM            TO                     CUSTOMERS  SAMPLES\n"
            "  pool east-pool  pool unassigned-sales  2          l1, l2\n"
            "\n"
            "  RULE               CUSTOMERS  SAMPLES\n"
            "  new-leads-to-pool  2          l1, l2\n");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(SimulateCommandTest, SendsBaselineTimeAndSamples) {
  RulesSimulateArgs args;
  args.version = 2;
  args.baseline_version = 1;
  args.at = absl::FromUnixSeconds(1767225600) + absl::Milliseconds(250);
  args.samples = 0;
  EXPECT_EQ(RunRulesSimulate(*connection_, args, Table()), kExitOk)
      << err_.str();
  ASSERT_THAT(service_.requests(), SizeIs(1));
  const v1::SimulateRulesetRequest sent =
      service_.requests()[0];  // a copy: requests() returns by value
  EXPECT_EQ(sent.baseline_version(), 1);
  EXPECT_EQ(sent.at().seconds(), 1767225600);
  EXPECT_EQ(sent.at().nanos(), 250000000);
  ASSERT_TRUE(sent.has_max_samples());
  EXPECT_EQ(sent.max_samples(), 0);
}

TEST_F(SimulateCommandTest, TimeBeforeTheEpochKeepsNanosPositive) {
  RulesSimulateArgs args;
  args.version = 2;
  args.at = absl::FromUnixSeconds(-10) + absl::Milliseconds(500);
  EXPECT_EQ(RunRulesSimulate(*connection_, args, Table()), kExitOk);
  ASSERT_THAT(service_.requests(), SizeIs(1));
  EXPECT_EQ(service_.requests()[0].at().seconds(), -10);
  EXPECT_EQ(service_.requests()[0].at().nanos(), 500000000);
}

TEST_F(SimulateCommandTest, JsonIsTheResponse) {
  RulesSimulateArgs args;
  args.version = 2;
  EXPECT_EQ(RunRulesSimulate(*connection_, args, Json()), kExitOk);
  nlohmann::json doc = nlohmann::json::parse(out_.str());
  EXPECT_EQ(doc["scanned_customers"], "3");
  EXPECT_EQ(doc["evaluated_at"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(doc["departments"][0]["department"], "sales");
  EXPECT_EQ(doc["departments"][0]["transitions"][0]["from"]["pool"],
            "east-pool");
  EXPECT_EQ(doc["departments"][0]["rules"][0]["rule_id"], "new-leads-to-pool");
}

TEST_F(SimulateCommandTest, RejectsBadArgumentsLocally) {
  RulesSimulateArgs args;
  args.version = 0;
  EXPECT_EQ(RunRulesSimulate(*connection_, args, Table()), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("VERSION"));
  args.version = 2;
  args.baseline_version = -1;
  EXPECT_EQ(RunRulesSimulate(*connection_, args, Table()), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--baseline"));
  args.baseline_version = 0;
  args.samples = 101;
  EXPECT_EQ(RunRulesSimulate(*connection_, args, Table()), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--samples"));
  EXPECT_THAT(service_.requests(), IsEmpty());
  EXPECT_EQ(out_.str(), "");
}

TEST_F(SimulateCommandTest, RefusalExitsOne) {
  service_.Fail(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                             "baseline_version: no ruleset version is active"));
  RulesSimulateArgs args;
  args.version = 2;
  EXPECT_EQ(RunRulesSimulate(*connection_, args, Table()), kExitServerRefused);
  EXPECT_EQ(out_.str(), "");
  EXPECT_THAT(err_.str(), HasSubstr("FAILED_PRECONDITION"));
}

}  // namespace
}  // namespace custodian::clients
