// custodianctl's assignment and ownership commands against a real gRPC
// server on port 0 that hosts the TEST-ONLY canned-answer services of
// testing/fake_services.h: what the commands send, how they print answers
// and errors, and the bulk JSONL path (batching, line numbers, summary).
// End-to-end tests against the real services are in tests/.
#include "clients/ownership_commands.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "clients/errors.h"
#include "clients/rules_commands.h"
#include "clients/testing/fake_services.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace custodian::clients {
namespace {

using ::testing::ElementsAre;
using testing::FakeServer;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::SizeIs;
using ::testing::StartsWith;

template <typename T>
T ParseText(const std::string& text) {
  T message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message))
      << text;
  return message;
}

constexpr char kUuidPattern[] =
    "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";

// A pending key account in sales and an active owner in service.
constexpr char kAssignResponse[] = R"pb(
  customer_id: "c-ka"
  ruleset_version: 1
  segments: "key_account"
  departments {
    ownership {
      customer_id: "c-ka"
      department: "sales"
      state: PENDING_APPROVAL
      rep: "zhang.wei"
      team: "ka-east"
      rule_id: "key-accounts-east"
      ruleset_version: 1
    }
    changed: true
  }
  departments {
    ownership {
      customer_id: "c-ka"
      department: "service"
      state: ACTIVE
      rep: "wu.xia"
      team: "service-cn"
      rule_id: "service-cn"
      ruleset_version: 1
      drifted: true
    }
  })pb";

constexpr char kExplainedOwnership[] = R"pb(
  customer_id: "c-ka"
  department: "sales"
  state: PENDING_APPROVAL
  rep: "zhang.wei"
  team: "ka-east"
  rule_id: "key-accounts-east"
  ruleset_version: 1
  since { seconds: 1767225600 }
  last_event_sequence: 17
  explanation {
    segments: "key_account"
    decision {
      department: "sales"
      kind: RULE
      rule_id: "key-accounts-east"
      target { team: "ka-east" strategy: BEST_MATCH requires_approval: true }
      overflow { pool: "east-pool" }
    }
    team: "ka-east"
    strategy: "best_match"
    skipped { rep: "li.na" reason: AWAY }
    skipped { rep: "chen.jing" reason: AT_CAPACITY }
    target_used: "rule"
  })pb";

// An unbuffered, thread-safe stream buffer that counts the lines written to
// it, so a test can wait until `watch` has printed what it received.
class LineCountingBuf : public std::streambuf {
 public:
  int lines() const {
    absl::MutexLock lock(&mu_);
    return lines_;
  }
  // Waits (up to 10s) until at least `n` lines were written.
  bool WaitForLines(int n) {
    absl::MutexLock lock(&mu_);
    wanted_ = n;
    return mu_.AwaitWithTimeout(absl::Condition(this, &LineCountingBuf::Enough),
                                absl::Seconds(10));
  }

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    absl::MutexLock lock(&mu_);
    for (std::streamsize i = 0; i < n; ++i) lines_ += s[i] == '\n';
    return n;
  }
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return 0;
    absl::MutexLock lock(&mu_);
    if (traits_type::to_char_type(c) == '\n') ++lines_;
    return c;
  }

 private:
  bool Enough() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return lines_ >= wanted_;
  }
  mutable absl::Mutex mu_;
  int lines_ ABSL_GUARDED_BY(mu_) = 0;
  int wanted_ ABSL_GUARDED_BY(mu_) = 0;
};

class OwnershipCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.ok());
    connection_ = server_.Connect();
    dir_ = std::filesystem::temp_directory_path() /
           ("custodianctl_ownership_" + std::to_string(::getpid()) + "_" +
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

// ---- customer input --------------------------------------------------------

TEST(BuildCustomerTest, FlagsSetEveryAttribute) {
  CustomerInput input;
  input.id = "c-1";
  input.name = "华东机械";
  input.region = "CN/East/Shanghai";
  input.industry = "C/C39";
  input.customer_type = "enterprise";
  input.sales_stage = "qualified";
  input.value_tier = "high";
  input.annual_revenue = "80000000";
  input.employee_count = "0";
  input.tags = {"strategic", "inbound"};
  input.attributes = {"source=fair", "formula=a=b"};
  std::ostringstream err;
  std::optional<v1::Customer> customer = BuildCustomer(input, err);
  ASSERT_TRUE(customer.has_value()) << err.str();
  EXPECT_EQ(customer->id(), "c-1");
  EXPECT_EQ(customer->name(), "华东机械");
  EXPECT_EQ(customer->region(), "CN/East/Shanghai");
  EXPECT_EQ(customer->industry(), "C/C39");
  EXPECT_EQ(customer->customer_type(), "enterprise");
  EXPECT_EQ(customer->sales_stage(), "qualified");
  EXPECT_EQ(customer->value_tier(), "high");
  EXPECT_EQ(customer->annual_revenue(), 80000000);
  ASSERT_TRUE(customer->has_employee_count());
  EXPECT_EQ(customer->employee_count(), 0);
  EXPECT_THAT(customer->tags(), ElementsAre("strategic", "inbound"));
  EXPECT_EQ(customer->attributes().at("source"), "fair");
  EXPECT_EQ(customer->attributes().at("formula"), "a=b");
  EXPECT_EQ(err.str(), "");
}

TEST(BuildCustomerTest, AbsentNumbersStayAbsent) {
  CustomerInput input;
  input.id = "c-1";
  std::ostringstream err;
  std::optional<v1::Customer> customer = BuildCustomer(input, err);
  ASSERT_TRUE(customer.has_value());
  EXPECT_FALSE(customer->has_annual_revenue());
  EXPECT_FALSE(customer->has_employee_count());
}

TEST(BuildCustomerTest, ReportsEveryBadFlag) {
  CustomerInput input;
  input.annual_revenue = "-5";
  input.employee_count = "many";
  input.attributes = {"novalue", "k=1", "k=2"};
  std::ostringstream err;
  EXPECT_FALSE(BuildCustomer(input, err).has_value());
  EXPECT_EQ(err.str(),
            "custodianctl: --id is required (or give the customer with "
            "--file)\n"
            "custodianctl: --revenue: \"-5\" is not an integer >= 0\n"
            "custodianctl: --employees: \"many\" is not an integer >= 0\n"
            "custodianctl: --attr: \"novalue\" is not KEY=VALUE\n"
            "custodianctl: --attr: key \"k\" is given twice\n");
}

TEST(BuildCustomerTest, ValidatesValuesLocally) {
  CustomerInput input;
  input.id = "c-1";
  input.region = "CN//East";
  std::ostringstream err;
  EXPECT_FALSE(BuildCustomer(input, err).has_value());
  EXPECT_THAT(err.str(), StartsWith("custodianctl: customer.region: "));
}

TEST(BuildCustomerTest, FileAndFlagsAreExclusive) {
  CustomerInput input;
  input.file = "c.json";
  input.region = "CN";
  std::ostringstream err;
  EXPECT_FALSE(BuildCustomer(input, err).has_value());
  EXPECT_THAT(err.str(), HasSubstr("either as a file or as attribute flags"));
}

TEST_F(OwnershipCommandsTest, FileErrorsAreLocated) {
  CustomerInput input;
  input.file =
      Write("c.json", "{\"id\": \"c-1\",\n \"annual_revenue\": \"x\"}");
  EXPECT_FALSE(BuildCustomer(input, err_).has_value());
  EXPECT_THAT(err_.str(), MatchesRegex(".*c\\.json:2:[0-9]+: "
                                       "customer\\.annual_revenue: .*\n"));
  err_.str("");
  input.file = (dir_ / "missing.json").string();
  EXPECT_FALSE(BuildCustomer(input, err_).has_value());
  EXPECT_THAT(err_.str(), StartsWith("custodianctl: --file: "));
  EXPECT_THAT(err_.str(), HasSubstr("missing.json"));
}

// ---- assign, evaluate ------------------------------------------------------

TEST_F(OwnershipCommandsTest, AssignSendsTheCustomerWithAFreshId) {
  server_.assignment.assign.Reply(
      ParseText<v1::AssignResponse>(kAssignResponse));
  AssignArgs args;
  args.customer.id = "c-ka";
  args.customer.region = "CN/East/Shanghai";
  args.customer.annual_revenue = "80000000";
  EXPECT_EQ(RunAssign(*connection_, args, Table()), kExitOk) << err_.str();
  auto requests = server_.assignment.assign.requests();
  ASSERT_THAT(requests, SizeIs(1));
  EXPECT_EQ(requests[0].customer().id(), "c-ka");
  EXPECT_EQ(requests[0].customer().region(), "CN/East/Shanghai");
  EXPECT_EQ(requests[0].customer().annual_revenue(), 80000000);
  EXPECT_THAT(requests[0].request_id(), MatchesRegex(kUuidPattern));
  EXPECT_EQ(out_.str(),
            "customer c-ka: ruleset version 1, segments: key_account\n"
            "DEPARTMENT  STATE             OWNER      TEAM        RULE        "
            "       CHANGED\n"
            "sales       pending_approval  zhang.wei  ka-east     "
            "key-accounts-east  yes\n"
            "service     active, drifted   wu.xia     service-cn  service-cn  "
            "       no\n");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(OwnershipCommandsTest, AssignJsonAddsOnlyAGeneratedId) {
  server_.assignment.assign.Reply(
      ParseText<v1::AssignResponse>(kAssignResponse));
  AssignArgs args;
  args.customer.id = "c-ka";
  EXPECT_EQ(RunAssign(*connection_, args, Json()), kExitOk);
  nlohmann::json doc = nlohmann::json::parse(out_.str());
  EXPECT_EQ(doc["customer_id"], "c-ka");
  EXPECT_EQ(doc["ruleset_version"], "1");
  EXPECT_EQ(doc["departments"][0]["ownership"]["state"], "PENDING_APPROVAL");
  EXPECT_EQ(doc["request_id"],
            server_.assignment.assign.requests().at(0).request_id());

  out_.str("");
  args.request_id = "crm-42";
  EXPECT_EQ(RunAssign(*connection_, args, Json()), kExitOk);
  EXPECT_FALSE(nlohmann::json::parse(out_.str()).contains("request_id"));
  EXPECT_EQ(server_.assignment.assign.requests().at(1).request_id(), "crm-42");
}

TEST_F(OwnershipCommandsTest, AssignFromAFile) {
  server_.assignment.assign.Reply(
      ParseText<v1::AssignResponse>(kAssignResponse));
  AssignArgs args;
  args.customer.file =
      Write("c.json", R"({"id":"c-ka","region":"CN/East","tags":["strategic"],)"
                      R"("last_activity_time":"2026-01-01T00:00:00Z"})");
  EXPECT_EQ(RunAssign(*connection_, args, Table()), kExitOk) << err_.str();
  const v1::Customer sent =
      server_.assignment.assign.requests().at(0).customer();
  EXPECT_EQ(sent.id(), "c-ka");
  EXPECT_THAT(sent.tags(), ElementsAre("strategic"));
  EXPECT_EQ(sent.last_activity_time().seconds(), 1767225600);
}

TEST_F(OwnershipCommandsTest, AssignWithABadCustomerMakesNoCall) {
  AssignArgs args;
  args.customer.id = "c 1";  // a space is not allowed in ids
  EXPECT_EQ(RunAssign(*connection_, args, Table()), kExitUsage);
  EXPECT_THAT(err_.str(), StartsWith("custodianctl: customer.id: "));
  EXPECT_THAT(server_.assignment.assign.requests(), SizeIs(0));
  EXPECT_EQ(out_.str(), "");
}

TEST_F(OwnershipCommandsTest, AssignRefusalExitsOneAndPrintsTheHint) {
  server_.assignment.assign.Fail(
      grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "no active ruleset"));
  server_.assignment.assign.Fail(
      grpc::Status(grpc::StatusCode::INTERNAL, "boom"));
  AssignArgs args;
  args.customer.id = "c-1";
  EXPECT_EQ(RunAssign(*connection_, args, Table()), kExitServerRefused);
  EXPECT_EQ(err_.str(),
            "custodianctl: FAILED_PRECONDITION: no active ruleset\n");
  EXPECT_EQ(out_.str(), "");

  err_.str("");
  args.request_id = "retry-me";
  EXPECT_EQ(RunAssign(*connection_, args, Table()), kExitServerRefused);
  EXPECT_THAT(err_.str(), HasSubstr("retry with --request-id retry-me"));
}

TEST_F(OwnershipCommandsTest, EvaluateSaysNothingIsWritten) {
  server_.assignment.evaluate.Reply(
      ParseText<v1::AssignResponse>(kAssignResponse));
  CustomerInput input;
  input.id = "c-ka";
  input.tags = {"strategic"};
  EXPECT_EQ(RunEvaluate(*connection_, input, Table()), kExitOk);
  auto requests = server_.assignment.evaluate.requests();
  ASSERT_THAT(requests, SizeIs(1));
  EXPECT_THAT(requests[0].customer().tags(), ElementsAre("strategic"));
  EXPECT_THAT(out_.str(),
              StartsWith("evaluated c-ka (nothing written): ruleset version "
                         "1, segments: key_account\n"
                         "DEPARTMENT  STATE             OWNER      TEAM       "
                         " RULE               WOULD CHANGE\n"));
  EXPECT_THAT(server_.assignment.assign.requests(), SizeIs(0));
}

// ---- assign --jsonl --------------------------------------------------------

// Answers each item: an error for customers whose id starts with "refused",
// else one ACTIVE sales ownership (changed) and one POOLED service ownership.
grpc::Status AnswerItems(const v1::BatchAssignRequest& request,
                         v1::BatchAssignResponse* response) {
  for (int i = 0; i < request.requests_size(); ++i) {
    const v1::Customer& customer = request.requests(i).customer();
    v1::BatchAssignResult* result = response->add_results();
    result->set_index(i);
    if (absl::StartsWith(customer.id(), "refused")) {
      result->mutable_error()->set_code(
          static_cast<int>(grpc::StatusCode::NOT_FOUND));
      result->mutable_error()->set_message(
          absl::StrCat("requests[", i, "].customer: unknown rep"));
      continue;
    }
    v1::AssignResponse* answer = result->mutable_response();
    answer->set_customer_id(customer.id());
    v1::DepartmentAssignment* sales = answer->add_departments();
    sales->mutable_ownership()->set_department("sales");
    sales->mutable_ownership()->set_state(v1::Ownership::ACTIVE);
    sales->set_changed(true);
    v1::DepartmentAssignment* service = answer->add_departments();
    service->mutable_ownership()->set_department("service");
    service->mutable_ownership()->set_state(v1::Ownership::POOLED);
  }
  return grpc::Status::OK;
}

std::string CustomerLines(int from, int to) {
  std::string text;
  for (int i = from; i <= to; ++i) {
    absl::StrAppend(&text, R"({"id":"c-)", i, R"(","region":"CN/East"})", "\n");
  }
  return text;
}

TEST_F(OwnershipCommandsTest, BulkSendsBatchesWithIdsFromLineNumbers) {
  server_.assignment.AnswerBatches(AnswerItems);
  BulkAssignArgs args;
  args.path = Write("c.jsonl", CustomerLines(1, 2500));
  args.request_id_prefix = "import-1";
  args.parallel = 2;
  EXPECT_EQ(RunBulkAssign(*connection_, args, Table()), kExitOk) << err_.str();
  auto batches = server_.assignment.batch_requests();
  ASSERT_THAT(batches, SizeIs(3));
  std::multiset<int> sizes;
  std::set<std::string> ids;
  for (const v1::BatchAssignRequest& batch : batches) {
    sizes.insert(batch.requests_size());
    for (const v1::AssignRequest& r : batch.requests()) {
      // Line N holds customer c-N: the id is PREFIX:N.
      EXPECT_EQ(r.request_id(),
                absl::StrCat("import-1:", r.customer().id().substr(2)));
      ids.insert(r.request_id());
    }
  }
  EXPECT_THAT(sizes, ElementsAre(500, 1000, 1000));
  EXPECT_THAT(ids, SizeIs(2500));
  std::vector<std::string> lines = absl::StrSplit(out_.str(), '\n');
  ASSERT_GE(lines.size(), 2u);
  EXPECT_THAT(lines[0], MatchesRegex("assigned 2,500 of 2,500 customers from "
                                     ".*c\\.jsonl in [0-9]+\\.[0-9]s "
                                     "\\([0-9,]+/s\\)"));
  EXPECT_EQ(out_.str().substr(out_.str().find('\n') + 1),
            "0 failed\n"
            "\n"
            "DEPARTMENT  ACTIVE  POOLED  CHANGED\n"
            "sales       2,500   0       2,500\n"
            "service     0       2,500   0\n"
            "\n"
            "request ids: import-1:LINE (run the same file again with "
            "--request-id-prefix import-1: lines already assigned get their "
            "first answer)\n");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(OwnershipCommandsTest, BulkReportsBadLinesByNumberAndGoesOn) {
  server_.assignment.AnswerBatches(AnswerItems);
  BulkAssignArgs args;
  args.path = Write("c.jsonl",
                    "{\"id\":\"c-1\"}\n"
                    "\n"                                           // 2: blank
                    "{\"id\":\"c-3\",\"annual_revenue\":\"x\"}\n"  // 3
                    "{\"id\":\"c-4\",\"region\":\"CN//East\"}\n"   // 4
                    "{\"id\":\"refused-5\"}\n"                     // 5
                    "not json\n"                                   // 6
                    "{\"id\":\"c-7\"}\n");
  args.request_id_prefix = "p";
  args.batch_size = 2;
  EXPECT_EQ(RunBulkAssign(*connection_, args, Table()), kExitFailed);
  std::set<std::string> sent;
  for (const auto& batch : server_.assignment.batch_requests()) {
    EXPECT_LE(batch.requests_size(), 2);
    for (const auto& r : batch.requests()) sent.insert(r.request_id());
  }
  EXPECT_THAT(sent, ElementsAre("p:1", "p:5", "p:7"));
  std::string out = out_.str();
  EXPECT_THAT(out, HasSubstr("assigned 2 of 6 customers"));
  EXPECT_THAT(out, HasSubstr("4 failed (3 rejected locally, not sent)\n"));
  EXPECT_THAT(out, HasSubstr("sales       2       0       2\n"));
  size_t errors = out.find("ERRORS\n");
  ASSERT_NE(errors, std::string::npos) << out;
  std::vector<std::string> rows =
      absl::StrSplit(out.substr(errors, out.find("\nrequest ids") - errors),
                     '\n', absl::SkipEmpty());
  ASSERT_THAT(rows, SizeIs(6)) << out;
  EXPECT_THAT(rows[1], MatchesRegex("LINE +CUSTOMER +CODE +ERROR"));
  EXPECT_THAT(rows[2], MatchesRegex("3 +c-3 +INVALID_ARGUMENT +"
                                    "customer.annual_revenue: .*\\(column "
                                    "[0-9]+\\) \\(checked locally, not "
                                    "sent\\)"));
  EXPECT_THAT(rows[3], MatchesRegex("4 +c-4 +INVALID_ARGUMENT +"
                                    "customer.region: .*\\(checked locally, "
                                    "not sent\\)"));
  EXPECT_THAT(rows[4], MatchesRegex("5 +refused-5 +NOT_FOUND +requests\\[1\\]"
                                    ".customer: unknown rep"));
  EXPECT_THAT(rows[5], MatchesRegex("6 +- +INVALID_ARGUMENT +.*checked "
                                    "locally, not sent\\)"));
}

TEST_F(OwnershipCommandsTest, BulkRerunWithTheSamePrefixSendsTheSameIds) {
  server_.assignment.AnswerBatches(AnswerItems);
  BulkAssignArgs args;
  args.path = Write("c.jsonl", CustomerLines(1, 30));
  args.request_id_prefix = "crm.2026-06-01";
  args.batch_size = 7;
  args.parallel = 3;
  ASSERT_EQ(RunBulkAssign(*connection_, args, Table()), kExitOk);
  ASSERT_EQ(RunBulkAssign(*connection_, args, Table()), kExitOk);
  std::multiset<std::string> ids;
  for (const auto& batch : server_.assignment.batch_requests()) {
    for (const auto& r : batch.requests()) ids.insert(r.request_id());
  }
  ASSERT_THAT(ids, SizeIs(60));
  for (int line = 1; line <= 30; ++line) {
    EXPECT_EQ(ids.count(absl::StrCat("crm.2026-06-01:", line)), 2u) << line;
  }
}

TEST_F(OwnershipCommandsTest, BulkWithoutAPrefixGeneratesOneAndPrintsIt) {
  server_.assignment.AnswerBatches(AnswerItems);
  BulkAssignArgs args;
  args.path = Write("c.jsonl", CustomerLines(1, 3));
  ASSERT_EQ(RunBulkAssign(*connection_, args, Json()), kExitOk);
  nlohmann::json doc = nlohmann::json::parse(out_.str());
  std::string prefix = doc["request_id_prefix"];
  EXPECT_THAT(prefix, MatchesRegex(kUuidPattern));
  EXPECT_EQ(server_.assignment.batch_requests().at(0).requests(2).request_id(),
            prefix + ":3");
}

TEST_F(OwnershipCommandsTest, BulkJsonSummaryHasCountsAndErrors) {
  server_.assignment.AnswerBatches(AnswerItems);
  BulkAssignArgs args;
  args.path = Write("c.jsonl", "{\"id\":\"c-1\"}\n{\"id\":\"refused-2\"}\n");
  args.request_id_prefix = "p";
  EXPECT_EQ(RunBulkAssign(*connection_, args, Json()), kExitFailed);
  nlohmann::json doc = nlohmann::json::parse(out_.str());
  EXPECT_EQ(doc["lines"], 2);
  EXPECT_EQ(doc["assigned"], 1);
  EXPECT_EQ(doc["failed"], 1);
  EXPECT_EQ(doc["rejected_locally"], 0);
  EXPECT_EQ(doc["not_sent"], 0);
  EXPECT_TRUE(doc["seconds"].is_number());
  EXPECT_TRUE(doc["per_second"].is_number());
  EXPECT_EQ(doc["departments"][0]["department"], "sales");
  EXPECT_EQ(doc["departments"][0]["states"]["ACTIVE"], 1);
  EXPECT_EQ(doc["departments"][0]["changed"], 1);
  EXPECT_EQ(doc["departments"][1]["states"]["POOLED"], 1);
  ASSERT_EQ(doc["errors"].size(), 1u);
  EXPECT_EQ(doc["errors"][0]["line"], 2);
  EXPECT_EQ(doc["errors"][0]["customer_id"], "refused-2");
  EXPECT_EQ(doc["errors"][0]["code"], "NOT_FOUND");
}

TEST_F(OwnershipCommandsTest, BulkStopsSendingWhenABatchCallFails) {
  server_.assignment.AnswerBatches(
      [](const v1::BatchAssignRequest&, v1::BatchAssignResponse*) {
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            "no ruleset is active");
      });
  BulkAssignArgs args;
  args.path = Write("c.jsonl", CustomerLines(1, 50));
  args.request_id_prefix = "p";
  args.batch_size = 10;
  args.parallel = 1;
  EXPECT_EQ(RunBulkAssign(*connection_, args, Table()), kExitServerRefused);
  // Not retried, and nothing sent after the failure (at most the batches
  // already handed to the one worker).
  EXPECT_LE(server_.assignment.batch_requests().size(), 2u);
  EXPECT_THAT(err_.str(),
              StartsWith("custodianctl: FAILED_PRECONDITION: no ruleset is "
                         "active\n  no further batch was sent: run again "
                         "with --request-id-prefix p to resume\n"));
  EXPECT_THAT(out_.str(), HasSubstr("assigned 0 of 50 customers"));
  EXPECT_THAT(out_.str(), HasSubstr("0 failed, 50 not sent\n"));
}

TEST_F(OwnershipCommandsTest, BulkRetriesABatchTheServerCouldNotTake) {
  std::atomic<int> calls{0};
  server_.assignment.AnswerBatches(
      [&calls](const v1::BatchAssignRequest& request,
               v1::BatchAssignResponse* response) {
        if (calls.fetch_add(1) == 1) {
          return grpc::Status(grpc::StatusCode::UNAVAILABLE, "busy");
        }
        return AnswerItems(request, response);
      });
  BulkAssignArgs args;
  args.path = Write("c.jsonl", CustomerLines(1, 4));
  args.request_id_prefix = "p";
  args.batch_size = 2;
  args.parallel = 1;
  args.retry_backoff = absl::Milliseconds(1);
  EXPECT_EQ(RunBulkAssign(*connection_, args, Table()), kExitOk) << err_.str();
  auto batches = server_.assignment.batch_requests();
  ASSERT_THAT(batches, SizeIs(3));
  // The retry is the same batch with the same request ids.
  EXPECT_EQ(batches[1].SerializeAsString(), batches[2].SerializeAsString());
  EXPECT_THAT(out_.str(), HasSubstr("assigned 4 of 4 customers"));
}

TEST_F(OwnershipCommandsTest, BulkToAnUnreachableServerExitsThree) {
  ConnectionOptions options;
  options.address = "127.0.0.1:1";
  options.timeout = absl::Seconds(5);
  std::unique_ptr<Connection> nowhere = Connection::Open(options);
  BulkAssignArgs args;
  args.path = Write("c.jsonl", CustomerLines(1, 3));
  args.request_id_prefix = "p";
  EXPECT_EQ(RunBulkAssign(*nowhere, args, Table()), kExitUnreachable);
  EXPECT_THAT(err_.str(), HasSubstr("server: 127.0.0.1:1"));
  EXPECT_THAT(out_.str(), HasSubstr("3 not sent"));
}

TEST_F(OwnershipCommandsTest, BulkReadsStdinAndPrintsProgressLines) {
  server_.assignment.AnswerBatches(AnswerItems);
  std::istringstream in(CustomerLines(1, 3));
  BulkAssignArgs args;
  args.path = "-";
  args.stdin_stream = &in;
  args.request_id_prefix = "p";
  args.progress = ProgressStyle::kLines;
  EXPECT_EQ(RunBulkAssign(*connection_, args, Table()), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("assigned 3 of 3 customers from <stdin>"));
  // At least the final line; the total is unknown on stdin.
  EXPECT_THAT(err_.str(), HasSubstr("assign: 3 lines, 3 assigned, 0 failed"));
}

TEST_F(OwnershipCommandsTest, BulkProgressBarKnowsTheFileTotal) {
  server_.assignment.AnswerBatches(AnswerItems);
  BulkAssignArgs args;
  args.path = Write("c.jsonl", CustomerLines(1, 4));
  args.request_id_prefix = "p";
  args.progress = ProgressStyle::kBar;
  EXPECT_EQ(RunBulkAssign(*connection_, args, Table()), kExitOk);
  EXPECT_THAT(err_.str(), HasSubstr("\rassign [" + std::string(30, '#') +
                                    "] 4/4 100%  0 failed"));
  EXPECT_EQ(err_.str().back(), '\n');
}

TEST_F(OwnershipCommandsTest, BulkRejectsBadArgumentsBeforeSending) {
  BulkAssignArgs args;
  args.path = Write("c.jsonl", CustomerLines(1, 1));
  args.batch_size = 1001;
  EXPECT_EQ(RunBulkAssign(*connection_, args, Table()), kExitUsage);
  args.batch_size = 10;
  args.parallel = 0;
  EXPECT_EQ(RunBulkAssign(*connection_, args, Table()), kExitUsage);
  args.parallel = 1;
  args.request_id_prefix = "has space";
  EXPECT_EQ(RunBulkAssign(*connection_, args, Table()), kExitUsage);
  args.request_id_prefix = "p";
  args.path = (dir_ / "missing.jsonl").string();
  EXPECT_EQ(RunBulkAssign(*connection_, args, Table()), kExitUsage);
  EXPECT_THAT(server_.assignment.batch_requests(), SizeIs(0));
  EXPECT_EQ(err_.str(),
            "custodianctl: --batch-size: 1001 is not between 1 and 1000\n"
            "custodianctl: --parallel: 0 is not between 1 and 64\n"
            "custodianctl: --request-id-prefix: \"has space\" is not at most "
            "100 characters of [A-Za-z0-9._-]\n"
            "custodianctl: --jsonl: cannot open " +
                (dir_ / "missing.jsonl").string() + "\n");
}

// ---- owner, owners, history ------------------------------------------------

TEST_F(OwnershipCommandsTest, OwnerExplainsTheDecision) {
  server_.ownership.get.Reply(ParseText<v1::Ownership>(kExplainedOwnership));
  EXPECT_EQ(RunOwner(*connection_, {"c-ka", "sales"}, Table()), kExitOk);
  auto requests = server_.ownership.get.requests();
  ASSERT_THAT(requests, SizeIs(1));
  EXPECT_EQ(requests[0].customer_id(), "c-ka");
  EXPECT_EQ(requests[0].department(), "sales");
  EXPECT_EQ(out_.str(),
            "customer     c-ka\n"
            "department   sales\n"
            "state        pending_approval\n"
            "owner        zhang.wei\n"
            "team         ka-east\n"
            "since        2026-01-01T00:00:00Z\n"
            "rule         key-accounts-east (ruleset version 1)\n"
            "decision     rule key-accounts-east → team ka-east (best_match), "
            "requires approval; overflow → pool east-pool\n"
            "target used  rule\n"
            "strategy     best_match\n"
            "skipped      li.na (away), chen.jing (at capacity)\n"
            "segments     key_account\n"
            "drifted      no\n"
            "last event   17\n");
}

TEST_F(OwnershipCommandsTest, OwnerOfATransferredCustomerHasNoRule) {
  server_.ownership.get.Reply(ParseText<v1::Ownership>(R"pb(
    customer_id: "c-1"
    department: "sales"
    state: POOLED
    pool: "east-pool"
    last_event_sequence: 3)pb"));
  EXPECT_EQ(RunOwner(*connection_, {"c-1", "sales"}, Table()), kExitOk);
  EXPECT_EQ(out_.str(),
            "customer     c-1\n"
            "department   sales\n"
            "state        pooled\n"
            "owner        pool east-pool\n"
            "since        -\n"
            "rule         (none: set by a person, see `custodianctl "
            "history`)\n"
            "drifted      no\n"
            "last event   3\n");
}

TEST_F(OwnershipCommandsTest, OwnerWithoutDepartmentAsksEveryDepartment) {
  server_.roster.get.Reply(ParseText<v1::GetRosterResponse>(R"pb(
    version: 1
    roster {
      departments { id: "sales" }
      departments { id: "service" }
      departments { id: "marketing" }
    })pb"));
  server_.ownership.get.Reply(ParseText<v1::Ownership>(kExplainedOwnership));
  server_.ownership.get.Reply(ParseText<v1::Ownership>(R"pb(
    customer_id: "c-ka"
    department: "service"
    state: ACTIVE
    rep: "wu.xia")pb"));
  server_.ownership.get.Fail(
      grpc::Status(grpc::StatusCode::NOT_FOUND, "never assigned"));
  EXPECT_EQ(RunOwner(*connection_, {"c-ka", ""}, Json()), kExitOk)
      << err_.str();
  auto requests = server_.ownership.get.requests();
  ASSERT_THAT(requests, SizeIs(3));
  EXPECT_EQ(requests[0].department(), "sales");
  EXPECT_EQ(requests[1].department(), "service");
  EXPECT_EQ(requests[2].department(), "marketing");
  nlohmann::json doc = nlohmann::json::parse(out_.str());
  ASSERT_EQ(doc["ownerships"].size(), 2u);
  EXPECT_EQ(doc["ownerships"][0]["explanation"]["skipped"][0]["reason"],
            "AWAY");
  EXPECT_EQ(doc["ownerships"][1]["rep"], "wu.xia");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(OwnershipCommandsTest, OwnerOfAnUnknownCustomerIsNotFound) {
  server_.roster.get.Reply(ParseText<v1::GetRosterResponse>(R"pb(
    version: 1
    roster {
      departments { id: "sales" }
      departments { id: "service" }
    })pb"));
  server_.ownership.get.Fail(grpc::Status(grpc::StatusCode::NOT_FOUND, "no"));
  EXPECT_EQ(RunOwner(*connection_, {"c-9", ""}, Table()), kExitServerRefused);
  EXPECT_EQ(err_.str(),
            "custodianctl: NOT_FOUND: customer c-9 has no ownership in any "
            "department (sales, service)\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(OwnershipCommandsTest, OwnersSendsFiltersAndPrintsATable) {
  server_.ownership.list.Reply(ParseText<v1::ListOwnershipsResponse>(R"pb(
    ownerships {
      customer_id: "c-1"
      department: "sales"
      state: ACTIVE
      rep: "liu.yang"
      team: "mfg-east"
      rule_id: "manufacturing-north-east"
      ruleset_version: 2
      since { seconds: 1767225600 }
    }
    ownerships {
      customer_id: "c-2"
      department: "sales"
      state: UNOWNED
      unowned_reason: NO_CAPACITY
    }
    next_page_token: "t2")pb"));
  OwnersArgs args;
  args.department = "sales";
  args.team = "mfg-east";
  args.rep = "liu.yang";
  args.state = "Active";
  args.segment = "key_account";
  args.page_size = 2;
  EXPECT_EQ(RunOwners(*connection_, args, Table()), kExitOk);
  auto requests = server_.ownership.list.requests();
  ASSERT_THAT(requests, SizeIs(1));
  EXPECT_EQ(requests[0].department(), "sales");
  EXPECT_EQ(requests[0].team(), "mfg-east");
  EXPECT_EQ(requests[0].rep(), "liu.yang");
  EXPECT_EQ(requests[0].state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(requests[0].segment(), "key_account");
  EXPECT_EQ(requests[0].page_size(), 2);
  EXPECT_EQ(out_.str(),
            "CUSTOMER  STATE    OWNER                  TEAM      RULE         "
            "             VERSION  SINCE\n"
            "c-1       active   liu.yang               mfg-east  "
            "manufacturing-north-east  2        2026-01-01T00:00:00Z\n"
            "c-2       unowned  unowned (no capacity)  -         -            "
            "             -        -\n"
            "next page: --page-token t2\n");
}

TEST_F(OwnershipCommandsTest, OwnersAllFollowsEveryPage) {
  server_.ownership.list.Reply(ParseText<v1::ListOwnershipsResponse>(
      R"pb(ownerships { customer_id: "c-1" }
           next_page_token: "t2")pb"));
  server_.ownership.list.Reply(ParseText<v1::ListOwnershipsResponse>(
      R"pb(ownerships { customer_id: "c-2" })pb"));
  OwnersArgs args;
  args.department = "sales";
  args.all = true;
  EXPECT_EQ(RunOwners(*connection_, args, Json()), kExitOk);
  auto requests = server_.ownership.list.requests();
  ASSERT_THAT(requests, SizeIs(2));
  EXPECT_EQ(requests[1].page_token(), "t2");
  nlohmann::json doc = nlohmann::json::parse(out_.str());
  ASSERT_EQ(doc["ownerships"].size(), 2u);
  EXPECT_EQ(doc["next_page_token"], "");
}

TEST_F(OwnershipCommandsTest, OwnersRejectsAnUnknownState) {
  OwnersArgs args;
  args.department = "sales";
  args.state = "happy";
  EXPECT_EQ(RunOwners(*connection_, args, Table()), kExitUsage);
  args.state = "";
  args.page_size = -1;
  EXPECT_EQ(RunOwners(*connection_, args, Table()), kExitUsage);
  EXPECT_THAT(server_.ownership.list.requests(), SizeIs(0));
  EXPECT_THAT(err_.str(), HasSubstr("--state: \"happy\" is not one of"));
}

constexpr char kHistoryPage1[] = R"pb(
  events {
    sequence: 4
    event_time { seconds: 1767225600 }
    customer_id: "c-ka"
    department: "sales"
    cause: RULE
    actor: "custodiand"
    after {
      state: PENDING_APPROVAL
      rep: "zhang.wei"
      team: "ka-east"
      rule_id: "key-accounts-east"
      ruleset_version: 1
      since { seconds: 1767225600 }
    }
  }
  next_page_token: "p2")pb";
constexpr char kHistoryPage2[] = R"pb(
  events {
    sequence: 9
    event_time { seconds: 1767229200 }
    customer_id: "c-ka"
    department: "sales"
    cause: TRANSFER
    actor: "local-dev"
    reason: "territory change"
    before { state: PENDING_APPROVAL rep: "zhang.wei" team: "ka-east" }
    after {
      state: ACTIVE
      rep: "liu.yang"
      team: "mfg-east"
      since { seconds: 1767229200 }
    }
  })pb";

TEST_F(OwnershipCommandsTest, HistoryFollowsPagesOldestFirst) {
  server_.ownership.events.Reply(
      ParseText<v1::ListOwnershipEventsResponse>(kHistoryPage1));
  server_.ownership.events.Reply(
      ParseText<v1::ListOwnershipEventsResponse>(kHistoryPage2));
  EXPECT_EQ(RunHistory(*connection_, {"c-ka", "sales", ""}, Table()), kExitOk);
  auto requests = server_.ownership.events.requests();
  ASSERT_THAT(requests, SizeIs(2));
  EXPECT_EQ(requests[0].customer_id(), "c-ka");
  EXPECT_EQ(requests[0].department(), "sales");
  EXPECT_FALSE(requests[0].has_as_of());
  EXPECT_EQ(requests[1].page_token(), "p2");
  EXPECT_EQ(out_.str(),
            "SEQ  TIME                  DEPARTMENT  CAUSE     FROM       TO    "
            "     STATE             RULE               VERSION  ACTOR       "
            "REASON\n"
            "4    2026-01-01T00:00:00Z  sales       rule      -          "
            "zhang.wei  pending_approval  key-accounts-east  1        "
            "custodiand\n"
            "9    2026-01-01T01:00:00Z  sales       transfer  zhang.wei  "
            "liu.yang   active            -                  -        "
            "local-dev   territory change\n");
}

TEST_F(OwnershipCommandsTest, HistoryAsOfSendsTheTimeAndShowsWhoOwnedIt) {
  server_.ownership.events.Reply(ParseText<v1::ListOwnershipEventsResponse>(
      R"pb(events {
             sequence: 4
             department: "sales"
             cause: RULE
             after {
               state: ACTIVE
               rep: "zhang.wei"
               team: "ka-east"
               rule_id: "key-accounts-east"
               ruleset_version: 1
               since { seconds: 1767225600 }
             }
           })pb"));
  EXPECT_EQ(
      RunHistory(*connection_, {"c-ka", "", "2026-01-01T00:30:00.5Z"}, Table()),
      kExitOk);
  auto requests = server_.ownership.events.requests();
  ASSERT_THAT(requests, SizeIs(1));
  EXPECT_EQ(requests[0].as_of().seconds(), 1767227400);
  EXPECT_EQ(requests[0].as_of().nanos(), 500000000);
  EXPECT_EQ(out_.str(),
            "as of 2026-01-01T00:30:00Z:\n"
            "DEPARTMENT  OWNER      TEAM     STATE   RULE               "
            "VERSION  SINCE                 CAUSE  SEQ\n"
            "sales       zhang.wei  ka-east  active  key-accounts-east  1    "
            "    2026-01-01T00:00:00Z  rule   4\n");
}

TEST_F(OwnershipCommandsTest, HistoryRejectsABadTime) {
  EXPECT_EQ(RunHistory(*connection_, {"c-ka", "", "yesterday"}, Table()),
            kExitUsage);
  EXPECT_THAT(server_.ownership.events.requests(), SizeIs(0));
  EXPECT_THAT(err_.str(), HasSubstr("--as-of: \"yesterday\""));
}

TEST_F(OwnershipCommandsTest, HistoryJsonHasEveryEvent) {
  server_.ownership.events.Reply(
      ParseText<v1::ListOwnershipEventsResponse>(kHistoryPage1));
  server_.ownership.events.Reply(
      ParseText<v1::ListOwnershipEventsResponse>(kHistoryPage2));
  EXPECT_EQ(RunHistory(*connection_, {"c-ka", "", ""}, Json()), kExitOk);
  nlohmann::json doc = nlohmann::json::parse(out_.str());
  ASSERT_EQ(doc["events"].size(), 2u);
  EXPECT_EQ(doc["events"][1]["cause"], "TRANSFER");
  EXPECT_EQ(doc["next_page_token"], "");
}

// ---- watch -----------------------------------------------------------------

std::vector<v1::OwnershipEvent> TwoEvents() {
  v1::ListOwnershipEventsResponse page1 =
      ParseText<v1::ListOwnershipEventsResponse>(kHistoryPage1);
  v1::ListOwnershipEventsResponse page2 =
      ParseText<v1::ListOwnershipEventsResponse>(kHistoryPage2);
  return {page1.events(0), page2.events(0)};
}

TEST_F(OwnershipCommandsTest, WatchPrintsEventsAndTheLastSequence) {
  server_.ownership.SetWatch(TwoEvents(), /*hold_open=*/false);
  EXPECT_EQ(RunWatch(*connection_, {3, 0}, Table(), nullptr), kExitOk);
  auto requests = server_.ownership.watch_requests();
  ASSERT_THAT(requests, SizeIs(1));
  EXPECT_EQ(requests[0].after_sequence(), 3);
  EXPECT_EQ(out_.str(),
            "4 2026-01-01T00:00:00Z c-ka sales rule: - → zhang.wei "
            "(pending_approval) rule key-accounts-east v1 by custodiand\n"
            "9 2026-01-01T01:00:00Z c-ka sales transfer: zhang.wei → "
            "liu.yang (active) by local-dev: territory change\n");
  EXPECT_EQ(err_.str(), "last sequence 9: resume with --from 9\n");
}

TEST_F(OwnershipCommandsTest, WatchJsonIsOneObjectPerLine) {
  server_.ownership.SetWatch(TwoEvents(), /*hold_open=*/false);
  EXPECT_EQ(RunWatch(*connection_, {0, 0}, Json(), nullptr), kExitOk);
  std::vector<std::string> lines =
      absl::StrSplit(out_.str(), '\n', absl::SkipEmpty());
  ASSERT_THAT(lines, SizeIs(2));
  EXPECT_EQ(nlohmann::json::parse(lines[0])["sequence"], "4");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["after"]["rep"], "liu.yang");
}

TEST_F(OwnershipCommandsTest, WatchStopsAfterMaxEvents) {
  server_.ownership.SetWatch(TwoEvents(), /*hold_open=*/true);
  EXPECT_EQ(RunWatch(*connection_, {0, 1}, Table(), nullptr), kExitOk);
  EXPECT_THAT(out_.str(), StartsWith("4 "));
  EXPECT_EQ(err_.str(), "last sequence 4: resume with --from 4\n");
}

TEST_F(OwnershipCommandsTest, WatchStopSignalEndsTheCallWithExitZero) {
  server_.ownership.SetWatch(TwoEvents(), /*hold_open=*/true);
  LineCountingBuf buf;
  std::ostream out(&buf);
  StopSignal stop;
  int code = -1;
  std::thread watcher([&] {
    code = RunWatch(*connection_, {0, 0},
                    CommandOutput{OutputFormat::kTable, out, err_}, &stop);
  });
  ASSERT_TRUE(buf.WaitForLines(2));
  stop.Stop();
  watcher.join();
  EXPECT_EQ(code, kExitOk);
  EXPECT_EQ(buf.lines(), 2);
  EXPECT_EQ(err_.str(), "last sequence 9: resume with --from 9\n");
  for (int i = 0; i < 200 && !server_.ownership.watch_cancelled(); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(server_.ownership.watch_cancelled());
}

TEST_F(OwnershipCommandsTest, WatchStoppedBeforeAnyEventResumesFromTheCursor) {
  server_.ownership.SetWatch({}, /*hold_open=*/true);
  StopSignal stop;
  stop.Stop();
  EXPECT_EQ(RunWatch(*connection_, {12, 0}, Table(), &stop), kExitOk);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(), "last sequence 12: resume with --from 12\n");
}

TEST_F(OwnershipCommandsTest, WatchFailureReportsTheErrorAndTheCursor) {
  server_.ownership.SetWatch(
      TwoEvents(), /*hold_open=*/false,
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "shutting down"));
  EXPECT_EQ(RunWatch(*connection_, {0, 0}, Table(), nullptr), kExitUnreachable);
  EXPECT_THAT(out_.str(), HasSubstr("\n9 "));
  EXPECT_THAT(err_.str(),
              StartsWith("last sequence 9: resume with --from 9\n"
                         "custodianctl: UNAVAILABLE: shutting down\n"));
}

// ---- transfer, approve, reject ---------------------------------------------

constexpr char kActiveOwnership[] = R"pb(
  customer_id: "c-1"
  department: "sales"
  state: ACTIVE
  rep: "liu.yang"
  team: "mfg-east"
  last_event_sequence: 42)pb";

TEST_F(OwnershipCommandsTest, TransferToARep) {
  server_.ownership.transfer.Reply(ParseText<v1::Ownership>(kActiveOwnership));
  TransferArgs args{"c-1", "sales", "liu.yang", "", "territory change", ""};
  EXPECT_EQ(RunTransfer(*connection_, args, Table()), kExitOk);
  auto requests = server_.ownership.transfer.requests();
  ASSERT_THAT(requests, SizeIs(1));
  EXPECT_EQ(requests[0].customer_id(), "c-1");
  EXPECT_EQ(requests[0].department(), "sales");
  EXPECT_EQ(requests[0].to_case(), v1::TransferRequest::kRep);
  EXPECT_EQ(requests[0].rep(), "liu.yang");
  EXPECT_EQ(requests[0].reason(), "territory change");
  EXPECT_THAT(requests[0].request_id(), MatchesRegex(kUuidPattern));
  EXPECT_EQ(out_.str(),
            "transferred c-1 in sales: now liu.yang (team mfg-east), active "
            "(event 42)\n");
}

TEST_F(OwnershipCommandsTest, TransferToAPoolWithAGivenId) {
  server_.ownership.transfer.Reply(ParseText<v1::Ownership>(
      R"pb(customer_id: "c-1"
           department: "sales"
           state: POOLED
           pool: "east-pool"
           last_event_sequence: 43)pb"));
  TransferArgs args{"c-1", "sales", "", "east-pool", "left", "t-1"};
  EXPECT_EQ(RunTransfer(*connection_, args, Json()), kExitOk);
  auto requests = server_.ownership.transfer.requests();
  ASSERT_THAT(requests, SizeIs(1));
  EXPECT_EQ(requests[0].to_case(), v1::TransferRequest::kPool);
  EXPECT_EQ(requests[0].pool(), "east-pool");
  EXPECT_EQ(requests[0].request_id(), "t-1");
  nlohmann::json doc = nlohmann::json::parse(out_.str());
  EXPECT_EQ(doc["state"], "POOLED");
  EXPECT_FALSE(doc.contains("request_id"));
}

TEST_F(OwnershipCommandsTest, TransferNeedsExactlyOneDestination) {
  TransferArgs both{"c-1", "sales", "liu.yang", "east-pool", "why", ""};
  EXPECT_EQ(RunTransfer(*connection_, both, Table()), kExitUsage);
  TransferArgs none{"c-1", "sales", "", "", "why", ""};
  EXPECT_EQ(RunTransfer(*connection_, none, Table()), kExitUsage);
  EXPECT_THAT(server_.ownership.transfer.requests(), SizeIs(0));
}

TEST_F(OwnershipCommandsTest, TransferRefusalNamesTheField) {
  google::rpc::BadRequest bad;
  auto* v = bad.add_field_violations();
  v->set_field("reason");
  v->set_description("must be 1-1024 bytes");
  server_.ownership.transfer.Fail(testing::StatusWithDetails(
      grpc::StatusCode::INVALID_ARGUMENT, "reason: must be 1-1024 bytes", bad));
  TransferArgs args{"c-1", "sales", "liu.yang", "", "", "t-2"};
  EXPECT_EQ(RunTransfer(*connection_, args, Table()), kExitServerRefused);
  EXPECT_EQ(err_.str(),
            "custodianctl: INVALID_ARGUMENT: reason: must be 1-1024 bytes\n"
            "  reason: must be 1-1024 bytes\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(OwnershipCommandsTest, ApproveAndReject) {
  server_.ownership.approve.Reply(ParseText<v1::Ownership>(R"pb(
    customer_id: "c-ka"
    department: "sales"
    state: ACTIVE
    rep: "zhang.wei"
    team: "ka-east"
    last_event_sequence: 18)pb"));
  server_.ownership.reject.Reply(ParseText<v1::Ownership>(R"pb(
    customer_id: "c-ka"
    department: "sales"
    state: PENDING_APPROVAL
    rep: "chen.jing"
    team: "ka-east"
    last_event_sequence: 19)pb"));
  EXPECT_EQ(RunApprove(*connection_, {"c-ka", "sales", "", "a-1"}, Table()),
            kExitOk);
  EXPECT_EQ(RunReject(*connection_, {"c-ka", "sales", "conflict", ""}, Json()),
            kExitOk);
  auto approves = server_.ownership.approve.requests();
  ASSERT_THAT(approves, SizeIs(1));
  EXPECT_EQ(approves[0].customer_id(), "c-ka");
  EXPECT_EQ(approves[0].department(), "sales");
  EXPECT_EQ(approves[0].reason(), "");
  EXPECT_EQ(approves[0].request_id(), "a-1");
  auto rejects = server_.ownership.reject.requests();
  ASSERT_THAT(rejects, SizeIs(1));
  EXPECT_EQ(rejects[0].reason(), "conflict");
  std::string out = out_.str();
  std::string first_line = out.substr(0, out.find('\n') + 1);
  EXPECT_EQ(first_line,
            "approved c-ka in sales: zhang.wei (team ka-east), active (event "
            "18)\n");
  nlohmann::json doc = nlohmann::json::parse(out.substr(first_line.size()));
  EXPECT_EQ(doc["rep"], "chen.jing");
  EXPECT_EQ(doc["request_id"], rejects[0].request_id());
}

// ---- names -----------------------------------------------------------------

TEST(OwnershipNamesTest, StatesRoundTripAndCausesAreLowerCase) {
  for (v1::Ownership::State state :
       {v1::Ownership::ACTIVE, v1::Ownership::PENDING_APPROVAL,
        v1::Ownership::POOLED, v1::Ownership::FROZEN, v1::Ownership::ORPHANED,
        v1::Ownership::UNOWNED}) {
    EXPECT_EQ(ParseOwnershipState(OwnershipStateName(state)), state);
  }
  EXPECT_EQ(ParseOwnershipState("PENDING_APPROVAL"),
            v1::Ownership::PENDING_APPROVAL);
  EXPECT_EQ(ParseOwnershipState("unspecified"), std::nullopt);
  EXPECT_EQ(ParseOwnershipState("STATE_UNSPECIFIED"), std::nullopt);
  EXPECT_EQ(ParseOwnershipState(""), std::nullopt);
  EXPECT_EQ(EventCauseName(v1::OwnershipEvent::APPEAL_RULING), "appeal_ruling");
  EXPECT_EQ(EventCauseName(v1::OwnershipEvent::CAUSE_UNSPECIFIED),
            "unspecified");
}

}  // namespace
}  // namespace custodian::clients
