// custodianctl's assignment and ownership commands end to end: the Run*
// functions of clients/ownership_commands.h over a real channel to the real
// custodiand server (tests/server_testing.h: in-process on a free loopback
// port, a real RocksDB store in a temp dir, the sample roster and ruleset,
// a ManualClock). clients/ownership_commands_test.cc checks the same
// commands against canned answers; this file checks that the real services
// and the commands agree: assign → owner → transfer → history --as-of, the
// bulk JSONL path and its idempotent re-run, approvals, and watch.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "clients/connection.h"
#include "clients/errors.h"
#include "clients/output.h"
#include "clients/ownership_commands.h"
#include "clients/rules_commands.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/server_testing.h"

namespace custodian::clients {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// What one command printed and returned.
struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

class OwnershipCommandsE2eTest : public server::testing::ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    connection_ = Connection::Open({server_->address(), absl::Seconds(30),
                                    /*credentials=*/nullptr, /*token=*/""});
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

  // A manufacturing SMB in CN/North: rule manufacturing-north-east, team
  // mfg-east (round robin over liu.yang, huang.min, zhou.tao) in sales;
  // rule service-cn (least loaded over wu.xia, xu.lei) in service.
  static CustomerInput Manufacturer(const std::string& id) {
    CustomerInput input;
    input.id = id;
    input.region = "CN/North/Beijing";
    input.industry = "C/C39";
    input.customer_type = "smb";
    input.sales_stage = "proposal";
    return input;
  }

  std::unique_ptr<Connection> connection_;
};

TEST_F(OwnershipCommandsE2eTest, AssignOwnerTransferHistoryAsOf) {
  AssignArgs assign{Manufacturer("c-mfg"), "req-assign-1"};
  Result r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunAssign(c, assign, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, StartsWith("customer c-mfg: ruleset version 1, "
                                "segments: (none)\n"));
  EXPECT_THAT(r.out, ContainsRegex("\nsales +active +liu\\.yang +mfg-east +"
                                   "manufacturing-north-east +yes\n"));
  EXPECT_THAT(r.out, ContainsRegex("\nservice +active +[a-z.]+ +service-cn +"
                                   "service-cn +yes\n"));

  r = Run([](const Connection& c, const CommandOutput& o) {
    return RunOwner(c, {"c-mfg", "sales"}, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("owner        liu.yang\n"));
  EXPECT_THAT(r.out, HasSubstr("since        2026-01-01T00:00:00Z\n"));
  EXPECT_THAT(r.out, HasSubstr("rule         manufacturing-north-east "
                               "(ruleset version 1)\n"));
  EXPECT_THAT(r.out, HasSubstr("decision     rule manufacturing-north-east "
                               "→ team mfg-east (round_robin)\n"));
  EXPECT_THAT(r.out, HasSubstr("strategy     round_robin\n"));

  // Every department when none is given: the sample roster's marketing has
  // no rules, so no ownership, and is left out.
  r = Run([](const Connection& c, const CommandOutput& o) {
    return RunOwner(c, {"c-mfg", ""}, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("department   sales\n"));
  EXPECT_THAT(r.out, HasSubstr("department   service\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("marketing")));

  clock_.Advance(absl::Hours(1));
  TransferArgs transfer{"c-mfg", "sales",          "huang.min",
                        "",      "territory swap", "req-transfer-1"};
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunTransfer(c, transfer, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, StartsWith("transferred c-mfg in sales: now huang.min "
                                "(team mfg-east), active (event "));

  r = Run([](const Connection& c, const CommandOutput& o) {
    return RunHistory(c, {"c-mfg", "sales", ""}, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, ContainsRegex("\n[0-9]+ +2026-01-01T00:00:00Z +sales +"
                                   "rule +- +liu\\.yang +active +"
                                   "manufacturing-north-east +1 "));
  EXPECT_THAT(r.out, ContainsRegex("\n[0-9]+ +2026-01-01T01:00:00Z +sales +"
                                   "transfer +liu\\.yang +huang\\.min +active "
                                   "+- +- +[^ ]+ +territory swap\n"));

  // Before the transfer, liu.yang owned it under the rule.
  r = Run([](const Connection& c, const CommandOutput& o) {
    return RunHistory(c, {"c-mfg", "sales", "2026-01-01T00:30:00Z"}, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, StartsWith("as of 2026-01-01T00:30:00Z:\n"));
  EXPECT_THAT(r.out, ContainsRegex("\nsales +liu\\.yang +mfg-east +active +"
                                   "manufacturing-north-east +1 +"
                                   "2026-01-01T00:00:00Z +rule +[0-9]+\n"));
  // After it, huang.min, by transfer.
  r = Run([](const Connection& c, const CommandOutput& o) {
    return RunHistory(c, {"c-mfg", "", "2026-01-01T02:00:00Z"}, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, ContainsRegex("\nsales +huang\\.min +mfg-east +active +- "
                                   "+- +2026-01-01T01:00:00Z +transfer "));
  EXPECT_THAT(r.out, ContainsRegex("\nservice +"));
  // Before anything happened, nobody.
  r = Run([](const Connection& c, const CommandOutput& o) {
    return RunHistory(c, {"c-mfg", "", "2025-12-31T00:00:00Z"}, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "no owner at 2025-12-31T00:00:00Z\n");

  // owners: the transferred customer is huang.min's now.
  OwnersArgs owners;
  owners.department = "sales";
  owners.rep = "huang.min";
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunOwners(c, owners, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, ContainsRegex("\nc-mfg +active +huang\\.min +mfg-east "));
}

TEST_F(OwnershipCommandsE2eTest, UnknownCustomerAndBadTransferAreRefused) {
  Result r = Run([](const Connection& c, const CommandOutput& o) {
    return RunOwner(c, {"nobody", "sales"}, o);
  });
  EXPECT_EQ(r.code, kExitServerRefused);
  EXPECT_THAT(r.err, StartsWith("custodianctl: NOT_FOUND: "));
  EXPECT_EQ(r.out, "");

  AssignArgs assign{Manufacturer("c-1"), "req-1"};
  ASSERT_EQ(Run([&](const Connection& c, const CommandOutput& o) {
              return RunAssign(c, assign, o);
            }).code,
            kExitOk);
  TransferArgs transfer{"c-1", "sales", "no.such.rep", "", "why", "req-t"};
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunTransfer(c, transfer, o);
  });
  EXPECT_EQ(r.code, kExitServerRefused);
  EXPECT_THAT(r.err, HasSubstr("no.such.rep"));
}

TEST_F(OwnershipCommandsE2eTest, KeyAccountWaitsForApproval) {
  CustomerInput input;
  input.id = "c-ka";
  input.region = "CN/East/Shanghai";
  input.annual_revenue = "80000000";
  AssignArgs assign{input, "req-ka"};
  Result r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunAssign(c, assign, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("segments: key_account\n"));
  EXPECT_THAT(r.out, ContainsRegex("\nsales +pending_approval +[a-z.]+ +"
                                   "ka-east +key-accounts-east +yes\n"));

  r = Run([](const Connection& c, const CommandOutput& o) {
    return RunOwner(c, {"c-ka", "sales"}, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("strategy     best_match\n"));
  // li.na is away in the sample roster.
  EXPECT_THAT(r.out, ContainsRegex("\nskipped +.*li\\.na \\(away\\)"));
  EXPECT_THAT(r.out, HasSubstr("segments     key_account\n"));

  r = Run([](const Connection& c, const CommandOutput& o) {
    return RunApprove(c, {"c-ka", "sales", "checked", "req-approve"}, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, ContainsRegex("^approved c-ka in sales: [a-z.]+ \\(team "
                                   "ka-east\\), active \\(event [0-9]+\\)\n"));

  // Approving again: no longer pending.
  r = Run([](const Connection& c, const CommandOutput& o) {
    return RunApprove(c, {"c-ka", "sales", "", "req-approve-2"}, o);
  });
  EXPECT_EQ(r.code, kExitServerRefused);
  EXPECT_THAT(r.err, StartsWith("custodianctl: FAILED_PRECONDITION: "));
}

TEST_F(OwnershipCommandsE2eTest,
       BulkAssignReportsBadLinesAndReRunsIdempotently) {
  std::string text;
  for (int i = 1; i <= 24; ++i) {
    if (i == 7) {
      absl::StrAppend(&text, R"({"id":"bad-7","region":"CN//North"})", "\n");
      continue;
    }
    absl::StrAppend(&text, R"({"id":"m-)", i,
                    R"(","region":"CN/North/Beijing","industry":"C/C39",)",
                    R"("customer_type":"smb","sales_stage":"proposal"})", "\n");
  }
  std::string path = dir_.Write("customers.jsonl", text);
  BulkAssignArgs args;
  args.path = path;
  args.request_id_prefix = "import-e2e";
  args.batch_size = 5;
  args.parallel = 3;
  Result first = Run([&](const Connection& c, const CommandOutput& o) {
    return RunBulkAssign(c, args, o);
  });
  EXPECT_EQ(first.code, kExitFailed) << first.err;
  EXPECT_THAT(first.out, StartsWith("assigned 23 of 24 customers from "));
  EXPECT_THAT(first.out, HasSubstr("1 failed (1 rejected locally, not sent)"));
  EXPECT_THAT(first.out, ContainsRegex("\nsales +23 +23\n"));
  EXPECT_THAT(first.out, ContainsRegex("\n7 +bad-7 +INVALID_ARGUMENT +"
                                       "customer\\.region: "));

  // mfg-east holds all 23.
  OwnersArgs owners;
  owners.department = "sales";
  owners.team = "mfg-east";
  owners.page_size = 10;
  owners.all = true;
  Result listed =
      Run([&](const Connection& c,
              const CommandOutput& o) { return RunOwners(c, owners, o); },
          OutputFormat::kJson);
  ASSERT_EQ(listed.code, kExitOk) << listed.err;
  nlohmann::json doc = nlohmann::json::parse(listed.out);
  EXPECT_EQ(doc["ownerships"].size(), 23u);

  // The same file with the same prefix: every line gets its first answer
  // (nothing new is written), so the summary is the same.
  Result again = Run([&](const Connection& c, const CommandOutput& o) {
    return RunBulkAssign(c, args, o);
  });
  EXPECT_EQ(again.code, kExitFailed);
  auto tail = [](const std::string& s) { return s.substr(s.find('\n')); };
  EXPECT_EQ(tail(again.out), tail(first.out));
  listed = Run([&](const Connection& c,
                   const CommandOutput& o) { return RunOwners(c, owners, o); },
               OutputFormat::kJson);
  EXPECT_EQ(nlohmann::json::parse(listed.out)["ownerships"].size(), 23u);

  // A different prefix is a new import: known customers keep their owners.
  args.request_id_prefix = "import-e2e-2";
  Result fresh = Run([&](const Connection& c, const CommandOutput& o) {
    return RunBulkAssign(c, args, o);
  });
  EXPECT_THAT(fresh.out, ContainsRegex("\nsales +23 +0\n"));
}

TEST_F(OwnershipCommandsE2eTest, WatchPrintsTheFeedFromACursor) {
  for (const char* id : {"w-1", "w-2"}) {
    AssignArgs assign{Manufacturer(id), absl::StrCat("req-", id)};
    ASSERT_EQ(Run([&](const Connection& c, const CommandOutput& o) {
                return RunAssign(c, assign, o);
              }).code,
              kExitOk);
  }
  // Two customers, two departments each: four events.
  Result r = Run(
      [](const Connection& c, const CommandOutput& o) {
        return RunWatch(c, {0, 4}, o, nullptr);
      },
      OutputFormat::kJson);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int64_t second = 0;
  int count = 0;
  while (std::getline(lines, line)) {
    nlohmann::json event = nlohmann::json::parse(line);
    EXPECT_EQ(event["cause"], "RULE");
    if (++count == 2) second = std::stoll(event["sequence"].get<std::string>());
  }
  EXPECT_EQ(count, 4);
  EXPECT_THAT(r.err, ContainsRegex("^last sequence [0-9]+: resume with --from "
                                   "[0-9]+\n$"));

  // Resuming after the second event gives the third and fourth.
  r = Run([&](const Connection& c, const CommandOutput& o) {
    return RunWatch(c, {second, 2}, o, nullptr);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, ContainsRegex("^[0-9]+ 2026-01-01T00:00:00Z w-2 "));
}

}  // namespace
}  // namespace custodian::clients
