// custodianctl's appeal commands end to end (clients/appeal_commands.h):
// `appeal file|list|show|comment|vote|rule|withdraw` over real channels to
// the real server (tests/server_testing.h) with the sample roster and
// ruleset (panels of 3 from team arbitration, quorum 2, sla 7d) and a static
// token per principal.
#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "clients/appeal_commands.h"
#include "clients/connection.h"
#include "clients/errors.h"
#include "clients/output.h"
#include "clients/ownership_commands.h"
#include "clients/rules_commands.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/authenticator.h"
#include "tests/server_testing.h"

namespace custodian::clients {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

constexpr const char* kTokens[][4] = {
    {"tok-sys", "svc-crm", "[system]", "['*']"},
    {"tok-liu", "liu.yang", "[rep]", "[sales]"},
    {"tok-huang", "huang.min", "[rep]", "[sales]"},
    {"tok-wang", "wang.fang", "[arbiter]", "[]"},
    {"tok-zhao", "zhao.lei", "[arbiter]", "[]"},
    {"tok-mgr", "mgr.sales", "[manager]", "[sales]"},
};

class AppealCommandsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tokens = "tokens:\n";
    for (const auto& t : kTokens) {
      absl::StrAppend(&tokens, "  - sha256: ", server::TokenSha256Hex(t[0]),
                      "\n    principal: ", t[1], "\n    roles: ", t[2],
                      "\n    departments: ", t[3], "\n");
    }
    server::Options options = server::testing::TestOptions(dir_, &clock_);
    options.auth.token_file = dir_.Write("tokens.yaml", tokens);
    auto server = server::CustodianServer::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    for (const auto& t : kTokens) {
      connections_[t[0]] = Connection::Open(
          {server_->address(), absl::Seconds(30), nullptr, t[0]});
    }
  }
  void TearDown() override {
    if (server_ != nullptr) {
      EXPECT_TRUE(server_->Shutdown(absl::Now() + absl::Seconds(5)).ok());
    }
  }

  template <typename F>
  Result Run(const std::string& token, F command,
             OutputFormat format = OutputFormat::kTable) {
    std::ostringstream out;
    std::ostringstream err;
    Result result;
    result.code =
        command(*connections_.at(token), CommandOutput{format, out, err});
    result.out = out.str();
    result.err = err.str();
    return result;
  }

  void AssignToLiu(const std::string& id) {
    AssignArgs args;
    args.customer.id = id;
    args.customer.region = "CN/East/Shanghai";
    args.customer.industry = "C/C39";
    args.customer.customer_type = "enterprise";
    args.customer.sales_stage = "qualified";
    args.request_id = "assign-" + id;
    Result r = Run("tok-sys", [&](const Connection& c, const CommandOutput& o) {
      return RunAssign(c, args, o);
    });
    ASSERT_EQ(r.code, kExitOk) << r.err;
  }

  // huang.min appeals `customer`; returns the appeal id.
  std::string File(const std::string& customer) {
    AppealFileArgs args;
    args.customer_id = customer;
    args.department = "sales";
    args.claimant = "huang.min";
    args.reason = "I visited them in March";
    args.evidence = {"https://crm.example/visit/42"};
    Result r = Run(
        "tok-huang",
        [&](const Connection& c, const CommandOutput& o) {
          return RunAppealFile(c, args, o);
        },
        OutputFormat::kJson);
    EXPECT_EQ(r.code, kExitOk) << r.err;
    nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["state"], "OPEN");
    EXPECT_TRUE(j.contains("request_id"));  // generated, so reported
    return j["id"];
  }

  server::testing::TempDir dir_;
  ManualClock clock_{server::testing::T0()};
  std::unique_ptr<server::CustodianServer> server_;
  std::map<std::string, std::unique_ptr<Connection>> connections_;
};

TEST_F(AppealCommandsE2eTest, FileVoteCommentRuleAndShowTheTimeline) {
  AssignToLiu("c1");
  AppealFileArgs file;
  file.customer_id = "c1";
  file.department = "sales";
  file.claimant = "huang.min";
  file.reason = "I visited them in March";
  file.request_id = "file-1";
  Result r = Run("tok-huang", [&](const Connection& c, const CommandOutput& o) {
    return RunAppealFile(c, file, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, StartsWith("filed appeal ap-"));
  EXPECT_THAT(r.out, HasSubstr(" on c1 in sales against liu.yang: panel "
                               "wang.fang, zhao.lei, sun.li (quorum 2), "
                               "deadline 2026-01-08T00:00:00Z\n"));
  const std::string id = r.out.substr(13, 27);

  // The arbiter's inbox.
  AppealListArgs mine;
  mine.mine = true;
  r = Run("tok-zhao", [&](const Connection& c, const CommandOutput& o) {
    return RunAppealList(c, mine, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("ID"));
  EXPECT_THAT(r.out, HasSubstr(id));
  EXPECT_THAT(r.out, HasSubstr("open"));

  AppealVoteArgs vote;
  vote.appeal_id = id;
  vote.decision = "maybe";
  vote.reason = "weighed it";
  r = Run("tok-wang", [&](const Connection& c, const CommandOutput& o) {
    return RunAppealVote(c, vote, o);
  });
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--decision: \"maybe\" is not uphold or "
                               "overturn"));
  vote.decision = "uphold";
  r = Run("tok-wang", [&](const Connection& c, const CommandOutput& o) {
    return RunAppealVote(c, vote, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, absl::StrCat("appeal ", id,
                                ": open (votes: wang.fang=uphold; deadline "
                                "2026-01-08T00:00:00Z)\n"));
  // A party may not vote: the server refuses, exit 1.
  r = Run("tok-liu", [&](const Connection& c, const CommandOutput& o) {
    return RunAppealVote(c, vote, o);
  });
  EXPECT_EQ(r.code, kExitServerRefused);
  EXPECT_THAT(r.err, HasSubstr("PERMISSION_DENIED"));

  AppealCommentArgs comment;
  comment.appeal_id = id;
  comment.text = "I have the visit report";
  r = Run("tok-liu", [&](const Connection& c, const CommandOutput& o) {
    return RunAppealComment(c, comment, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, absl::StrCat("commented on appeal ", id, "\n"));

  // Not confirmed: nothing is sent.
  AppealRuleArgs rule;
  rule.appeal_id = id;
  rule.decision = "overturn";
  rule.reason = "the visit report is convincing";
  std::istringstream no("n\n");
  rule.confirm = &no;
  r = Run("tok-mgr", [&](const Connection& c, const CommandOutput& o) {
    return RunAppealRule(c, rule, o);
  });
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("not confirmed: nothing was sent"));
  EXPECT_EQ(r.out, "");
  std::istringstream yes("y\n");
  rule.confirm = &yes;
  r = Run("tok-mgr", [&](const Connection& c, const CommandOutput& o) {
    return RunAppealRule(c, rule, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, absl::StrCat("appeal ", id,
                                ": overturned by mgr.sales: the visit "
                                "report is convincing\n"));

  r = Run("tok-huang", [&](const Connection& c, const CommandOutput& o) {
    return RunAppealShow(c, id, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("state:      overturned\n"));
  EXPECT_THAT(r.out, HasSubstr("panel:      wang.fang, zhao.lei, sun.li "
                               "(quorum 2)\n"));
  EXPECT_THAT(r.out, HasSubstr("ruled by:   mgr.sales (manager)\n"));
  EXPECT_THAT(r.out, HasSubstr("timeline:\n  2026-01-01T00:00:00Z  huang.min  "
                               "filed: I visited them in March\n"));
  EXPECT_THAT(r.out,
              HasSubstr("  2026-01-01T00:00:00Z  wang.fang  vote uphold: "
                        "weighed it\n"));
  EXPECT_THAT(r.out, HasSubstr("  2026-01-01T00:00:00Z  liu.yang  comment: I "
                               "have the visit report\n"));
  EXPECT_THAT(r.out, HasSubstr("  2026-01-01T00:00:00Z  mgr.sales  ruling "
                               "overturn: the visit report is convincing\n"));
  r = Run(
      "tok-huang",
      [&](const Connection& c, const CommandOutput& o) {
        return RunAppealShow(c, id, o);
      },
      OutputFormat::kJson);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["state"], "OVERTURNED");

  r = Run("tok-mgr", [&](const Connection& c, const CommandOutput& o) {
    return RunAppealStats(c, "sales", o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("REP"));
  EXPECT_THAT(r.out,
              ::testing::ContainsRegex("huang\\.min +1 +1 +0 +0 +0 +0 +0\n"));
  EXPECT_THAT(r.out,
              ::testing::ContainsRegex("liu\\.yang +0 +0 +0 +0 +0 +0 +1\n"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("wang\\.fang +1 +1 +0 +0s\n"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("zhao\\.lei +1 +0 +0 +-\n"));
  // A manager of another department sees none of it.
  r = Run("tok-mgr", [&](const Connection& c, const CommandOutput& o) {
    return RunAppealStats(c, "", o);
  });
  EXPECT_EQ(r.code, kExitServerRefused);
  EXPECT_THAT(r.err, HasSubstr("PERMISSION_DENIED"));
}

TEST_F(AppealCommandsE2eTest, WithdrawAndListByStateInJson) {
  AssignToLiu("c1");
  const std::string id = File("c1");
  AppealWithdrawArgs withdraw;
  withdraw.appeal_id = id;
  withdraw.reason = "we agreed";
  Result r = Run("tok-huang", [&](const Connection& c, const CommandOutput& o) {
    return RunAppealWithdraw(c, withdraw, o);
  });
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, absl::StrCat("appeal ", id, ": withdrawn\n"));
  AppealListArgs list;
  list.state = "withdrawn";
  r = Run(
      "tok-mgr",
      [&](const Connection& c, const CommandOutput& o) {
        return RunAppealList(c, list, o);
      },
      OutputFormat::kJson);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["appeals"].size(), 1u);
  EXPECT_EQ(j["appeals"][0]["id"], id);
  list.state = "closed";
  r = Run("tok-mgr", [&](const Connection& c, const CommandOutput& o) {
    return RunAppealList(c, list, o);
  });
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--state: \"closed\""));
}

}  // namespace
}  // namespace custodian::clients
