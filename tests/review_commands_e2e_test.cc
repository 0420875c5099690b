// custodianctl's review commands end to end (clients/review_commands.h)
// over a real channel to the real server with the test roster and ruleset
// (tests/ownership_testing.h): start --wait (progress, summary, exit code),
// status, list, findings, apply, dismiss, cancel, report as table, CSV and
// JSON, and bad flag values.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "clients/connection.h"
#include "clients/errors.h"
#include "clients/output.h"
#include "clients/review_commands.h"
#include "clients/rules_commands.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/ownership_book.h"
#include "storage/rocksdb_store.h"
#include "tests/ownership_testing.h"

namespace custodian::clients {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

class ReviewCommandsE2eTest : public server::testing::OwnershipFixture {
 protected:
  void SetUp() override {
    OwnershipFixture::SetUp();
    if (HasFatalFailure()) return;
    connection_ = Connection::Open({server_->address(), absl::Seconds(30),
                                    /*credentials=*/nullptr, /*token=*/""});
    // c1 stays with its rr-team rep; c2 drifts to b1 (bm-team).
    MustAssign(server::testing::MakeCustomer("c1", "rr"), "assign-c1");
    MustAssign(server::testing::MakeCustomer("c2", "rr"), "assign-c2");
    v1::TransferRequest t;
    t.set_customer_id("c2");
    t.set_department("sales");
    t.set_rep("b1");
    t.set_reason("test");
    t.set_request_id("transfer-c2");
    v1::Ownership o;
    grpc::Status s = Transfer(t, &o);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  template <typename F>
  Result Run(F command, OutputFormat format = OutputFormat::kTable) {
    std::ostringstream out;
    std::ostringstream err;
    Result result;
    result.code = command(*connection_, CommandOutput{format, out, err});
    result.out = out.str();
    result.err = err.str();
    return result;
  }

  // `review start --mode M --wait` with fast polling; returns the result
  // and the review name in *name.
  Result StartAndWait(const std::string& mode, const std::string& request_id,
                      std::string* name) {
    ReviewStartArgs args;
    args.mode = mode;
    args.request_id = request_id;
    args.wait = true;
    args.wait_args.progress = ProgressStyle::kLines;
    args.wait_args.poll_interval = absl::Milliseconds(10);
    Result r =
        Run([&](const Connection& c,
                const CommandOutput& o) { return RunReviewStart(c, args, o); },
            OutputFormat::kJson);
    if (r.code == kExitOk) {
      *name = nlohmann::json::parse(r.out)["name"].get<std::string>();
    }
    return r;
  }

  std::unique_ptr<Connection> connection_;
};

TEST_F(ReviewCommandsE2eTest, StartWaitShowsProgressThenTheSummary) {
  ReviewStartArgs args;
  args.mode = "report";
  args.scope = {"department:sales"};
  args.checks = "drift,orphaned";
  args.request_id = "start-1";
  args.wait = true;
  args.wait_args.progress = ProgressStyle::kLines;
  args.wait_args.poll_interval = absl::Milliseconds(10);
  Result r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunReviewStart(c, args, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr(" SUCCEEDED: 2/2 customers checked, 1 "
                               "findings, 0 applied (mode report)"));
  EXPECT_THAT(r.out, HasSubstr("drift     1"));
  EXPECT_THAT(r.out, HasSubstr("orphaned  0"));
  EXPECT_THAT(r.err, HasSubstr("100% 2/2 customers, 1 findings"));

  // Without --wait: started at once.
  args.wait = false;
  args.request_id = "start-2";
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunReviewStart(c, args, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, StartsWith("started reviews/"));
  const std::string name =
      std::string(absl::StripSuffix(r.out.substr(8), " (mode report)\n"));
  ReviewStatusArgs status{
      name, true, {ProgressStyle::kNone, absl::Milliseconds(10)}};
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunReviewStatus(c, status, o);
  });
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr(name + " SUCCEEDED"));

  ReviewListArgs list;
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunReviewList(c, list, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("REVIEW"));
  EXPECT_THAT(r.out, HasSubstr(name));
  EXPECT_THAT(r.out, HasSubstr("local-dev"));
}

TEST_F(ReviewCommandsE2eTest, FindingsApplyDismissAndReport) {
  std::string name;
  Result r = StartAndWait("queue", "start-q", &name);
  ASSERT_EQ(r.code, kExitOk) << r.err;

  ReviewFindingsArgs findings;
  findings.review = name;
  findings.kind = "drift";
  r = Run(
      [&](const Connection& c, const CommandOutput& o) {
        return RunReviewFindings(c, findings, o);
      },
      OutputFormat::kJson);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  nlohmann::json listed = nlohmann::json::parse(r.out);
  ASSERT_EQ(listed["findings"].size(), 1u);
  EXPECT_EQ(listed["findings"][0]["customer_id"], "c2");
  EXPECT_EQ(listed["findings"][0]["status"], "QUEUED");
  const std::string id = listed["findings"][0]["id"];

  // The bare id (without reviews/) is accepted.
  ReviewResolveArgs apply;
  apply.review = name.substr(8);
  apply.department = "sales";
  apply.finding_ids = {id};
  apply.request_id = "apply-1";
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunReviewApply(c, apply, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr(id + "  applied  yes"));
  EXPECT_THAT(r.out, HasSubstr("1 changed, 0 skipped"));
  ReviewResolveArgs dismiss = apply;
  dismiss.request_id = "dismiss-1";
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunReviewDismiss(c, dismiss, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("already applied"));
  EXPECT_THAT(r.out, HasSubstr("0 changed, 1 skipped"));

  ReviewReportArgs report{name, "csv"};
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunReviewReport(c, report, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n');
  ASSERT_EQ(lines.size(), 3u);  // header, one finding, ""
  EXPECT_EQ(lines[0],
            "id,kind,customer_id,department,team,rep,ownership_state,status,"
            "detail,proposed_fix,applied_owner");
  EXPECT_THAT(lines[1], StartsWith(id + ",drift,c2,sales,bm-team,b1,active,"
                                        "applied,"));
  report.format = "json";
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunReviewReport(c, report, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  nlohmann::json doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["review"]["name"], name);
  EXPECT_EQ(doc["review"]["metadata"]["applied"], "1");
  ASSERT_EQ(doc["findings"].size(), 1u);
  EXPECT_EQ(doc["findings"][0]["status"], "APPLIED");
  report.format = "table";
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunReviewReport(c, report, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr(name + " SUCCEEDED"));
  EXPECT_THAT(r.out, HasSubstr("DETAIL"));
  EXPECT_THAT(r.out, HasSubstr("c2"));
  report.format = "xml";
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunReviewReport(c, report, o);
  });
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--format"));

  // A finished review cannot be cancelled.
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunReviewCancel(c, name, o);
  });
  EXPECT_EQ(r.code, kExitServerRefused);
  EXPECT_THAT(r.err, HasSubstr("FAILED_PRECONDITION"));
}

TEST_F(ReviewCommandsE2eTest, BadFlagsExit2AndServerRefusalsExit1) {
  for (const auto& [scope, checks, mode] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"bogus", "", "report"},
           {"region:x", "", "report"},
           {"all", "drift,bogus", "report"},
           {"all", "", "everything"}}) {
    ReviewStartArgs args;
    args.scope = {scope};
    args.checks = checks;
    args.mode = mode;
    Result r = Run([&](const Connection& c, const CommandOutput& o) {
      return RunReviewStart(c, args, o);
    });
    EXPECT_EQ(r.code, kExitUsage) << scope << checks << mode;
  }
  ReviewStartArgs bad;
  bad.scope = {"department:Not Valid"};
  Result r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunReviewStart(c, bad, o);
  });
  EXPECT_EQ(r.code, kExitServerRefused);
  EXPECT_THAT(r.err, HasSubstr("scope.departments[0]"));
  ReviewResolveArgs neither;
  neither.review = "0123456789abcdef01234567";
  neither.department = "sales";
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunReviewApply(c, neither, o);
  });
  EXPECT_EQ(r.code, kExitUsage);
  ReviewStatusArgs missing{"0123456789abcdef01234567", false, {}};
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunReviewStatus(c, missing, o);
  });
  EXPECT_EQ(r.code, kExitServerRefused);
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND"));
}

TEST_F(ReviewCommandsE2eTest, StartWaitExits4WhenTheReviewFails) {
  // A customer record that does not parse makes the review fail.
  StopServer();
  {
    storage::RocksDbStoreOptions options;
    options.data_dir = dir_.path() + "/data";
    auto store = storage::RocksDbStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE(
        storage::RunInTransaction(**store, [](storage::Transaction& txn) {
          return txn.Put(storage::Table::kCustomers, server::CustomerKey("c1"),
                         "\xff\xff");
        }).ok());
    ASSERT_TRUE((*store)->Close().ok());
  }
  StartServer();
  connection_ = Connection::Open({server_->address(), absl::Seconds(30),
                                  /*credentials=*/nullptr, /*token=*/""});
  ReviewStartArgs args;
  args.request_id = "start-fails";
  args.wait = true;
  args.wait_args.poll_interval = absl::Milliseconds(10);
  Result r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunReviewStart(c, args, o);
  });
  EXPECT_EQ(r.code, kExitReviewFailed);
  EXPECT_THAT(r.out, HasSubstr(" FAILED: 0/2 customers checked"));
  EXPECT_THAT(r.out,
              HasSubstr("error: a stored customer record does not parse"));
  EXPECT_THAT(r.err, HasSubstr("ended FAILED: a stored customer record does "
                               "not parse"));
}

}  // namespace
}  // namespace custodian::clients
