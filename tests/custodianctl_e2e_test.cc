// custodianctl's server commands end to end: the Run* functions of
// clients/remote_commands.h over a real channel to the real custodiand
// server (tests/server_testing.h: in-process on a free loopback port, a real
// RocksDB store in a temp dir, a ManualClock), asserting the exact text and
// exit code a user gets. clients/remote_commands_test.cc checks the same
// commands against canned answers; this file checks that the real services
// and the commands agree.
//
// Commands that are refused write nothing, so their tests share one server
// per suite (CustodianctlSharedServerTest); tests that change state start
// their own (CustodianctlE2eTest).
#include <grpcpp/grpcpp.h>

#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/client_config.h"
#include "clients/connection.h"
#include "clients/errors.h"
#include "clients/identity_commands.h"
#include "clients/output.h"
#include "clients/remote_commands.h"
#include "clients/rules_commands.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/auth_testing.h"
#include "server/authenticator.h"
#include "tests/server_testing.h"

namespace custodian::clients {
namespace {

using server::testing::ReadFile;
using server::testing::SamplePath;
using server::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

// What one command printed and returned.
struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

// custodianctl against one server address: each method runs one command
// the way custodianctl_main.cc does, capturing its streams.
class Ctl {
 public:
  explicit Ctl(const std::string& address)
      : connection_(
            Connection::Open({address, absl::Seconds(30), nullptr, ""})) {}
  Ctl(const std::string& address, absl::Duration timeout)
      : connection_(Connection::Open({address, timeout, nullptr, ""})) {}

  Result RosterGet(OutputFormat format = OutputFormat::kTable) {
    return Run(format, [&](const CommandOutput& o) {
      return RunRosterGet(*connection_, o);
    });
  }
  Result RosterApply(const RosterApplyArgs& args,
                     OutputFormat format = OutputFormat::kTable) {
    return Run(format, [&](const CommandOutput& o) {
      return RunRosterApply(*connection_, args, o);
    });
  }
  Result RepSetStatus(const RepSetStatusArgs& args,
                      OutputFormat format = OutputFormat::kTable) {
    return Run(format, [&](const CommandOutput& o) {
      return RunRepSetStatus(*connection_, args, o);
    });
  }
  Result RulesPublish(const RulesPublishArgs& args,
                      OutputFormat format = OutputFormat::kTable) {
    return Run(format, [&](const CommandOutput& o) {
      return RunRulesPublish(*connection_, args, o);
    });
  }
  Result RulesList(const RulesListArgs& args,
                   OutputFormat format = OutputFormat::kTable) {
    return Run(format, [&](const CommandOutput& o) {
      return RunRulesList(*connection_, args, o);
    });
  }
  Result RulesGet(const RulesGetArgs& args,
                  OutputFormat format = OutputFormat::kTable) {
    return Run(format, [&](const CommandOutput& o) {
      return RunRulesGet(*connection_, args, o);
    });
  }
  Result RulesActivate(const RulesActivateArgs& args,
                       OutputFormat format = OutputFormat::kTable) {
    return Run(format, [&](const CommandOutput& o) {
      return RunRulesActivate(*connection_, args, o);
    });
  }
  Result RulesDiff(const RulesDiffArgs& args,
                   OutputFormat format = OutputFormat::kTable) {
    return Run(format, [&](const CommandOutput& o) {
      return RunRulesDiff(*connection_, args, o);
    });
  }

 private:
  template <typename F>
  static Result Run(OutputFormat format, F command) {
    std::ostringstream out;
    std::ostringstream err;
    Result result;
    result.code = command(CommandOutput{format, out, err});
    result.out = out.str();
    result.err = err.str();
    return result;
  }

  std::unique_ptr<Connection> connection_;
};

// ---- Files ------------------------------------------------------------------

std::string SampleRoster() { return ReadFile(SamplePath("roster.yaml")); }
std::string SampleRuleset() { return ReadFile(SamplePath("ruleset.yaml")); }

// Replaces `from`, which must occur in `text`, by `to`.
std::string MustReplace(const std::string& text, const std::string& from,
                        const std::string& to) {
  EXPECT_THAT(text, HasSubstr(from));
  return absl::StrReplaceAll(text, {{from, to}});
}

// The sample roster without rep zhou.tao (also taken out of mfg-east) and
// with chen.jing's capacity in ka-east raised from 40 to 45.
std::string ModifiedRoster() {
  std::string text = SampleRoster();
  text = MustReplace(text, "  - {id: zhou.tao, name: 周涛}\n", "");
  text = MustReplace(text, "{rep: huang.min}, {rep: zhou.tao}]",
                     "{rep: huang.min}]");
  return MustReplace(text, "{rep: chen.jing, capacity: 40}",
                     "{rep: chen.jing, capacity: 45}");
}

// The sample roster without team mfg-east, which rule
// manufacturing-north-east of the active sample ruleset assigns to.
std::string RosterWithoutMfgEast() {
  return MustReplace(
      SampleRoster(),
      "  - id: mfg-east\n"
      "    department: sales\n"
      "    members: [{rep: liu.yang}, {rep: huang.min}, {rep: zhou.tao}]\n",
      "");
}

// The sample ruleset with rule manufacturing-north-east switched from
// round_robin to least_loaded, and with what a re-serialization would lose:
// a comment in Chinese, and no final newline.
std::string ChangedRuleset() {
  std::string text = MustReplace(
      SampleRuleset(), "assign: {team: mfg-east, strategy: round_robin}",
      "assign: {team: mfg-east, strategy: least_loaded}");
  return absl::StrCat(text, "# 制造业改为最少负载  ");
}

// Two errors, each located in the file.
constexpr char kInvalidRuleset[] =
    "ruleset: broken\n"
    "departments:\n"
    "  sales:\n"
    "    rules:\n"
    "      - id: r1\n"
    "        assign:\n"
    "          team: no-such-team\n"
    "    fallback:\n"
    "          pool: no-such-pool\n";

// ---- Expected output --------------------------------------------------------

// `roster get` right after the first-start bootstrap, at T0.
constexpr char kBootstrappedRoster[] =
    "roster version 1, updated 2026-01-01T00:00:00Z by custodiand-bootstrap\n"
    "\n"
    "DEPARTMENTS\n"
    "ID         NAME\n"
    "sales      销售部\n"
    "service    客户服务部\n"
    "marketing  市场营销部\n"
    "\n"
    "REPS\n"
    "ID         NAME  STATUS  SKILLS\n"
    "zhang.wei  张伟  active  C, C39, strategic\n"
    "li.na      李娜  away\n"
    "chen.jing  陈静  active  C, key_account\n"
    "liu.yang   刘洋  active\n"
    "huang.min  黄敏  active\n"
    "zhou.tao   周涛  active\n"
    "wu.xia     吴霞  active\n"
    "xu.lei     徐磊  active\n"
    "wang.fang  王芳  active\n"
    "zhao.lei   赵磊  active\n"
    "sun.li     孙丽  active\n"
    "ma.chao    马超  active\n"
    "\n"
    "TEAMS\n"
    "TEAM            DEPARTMENT  MEMBER     CAPACITY  WEIGHT\n"
    "ka-east         sales       zhang.wei  50        2\n"
    "ka-east         sales       li.na      default   1\n"
    "ka-east         sales       chen.jing  40        1\n"
    "mfg-east        sales       liu.yang   default   1\n"
    "mfg-east        sales       huang.min  default   1\n"
    "mfg-east        sales       zhou.tao   default   1\n"
    "service-cn      service     wu.xia     default   1\n"
    "service-cn      service     xu.lei     default   1\n"
    "service-global  service     ma.chao    default   1\n"
    "arbitration     sales       wang.fang  default   1\n"
    "arbitration     sales       zhao.lei   default   1\n"
    "arbitration     sales       sun.li     default   1\n"
    "\n"
    "POOLS\n"
    "POOL              DEPARTMENT  CLAIMS/DAY  COOLDOWN\n"
    "east-pool         sales       5           30d\n"
    "unassigned-sales  sales       10          0s\n";

// The changes ModifiedRoster() makes to the sample roster.
constexpr char kModifiedRosterChanges[] =
    "KIND      RESOURCE        FIELD                        BEFORE → AFTER\n"
    "modified  reps/zhou.tao   status                       active → left\n"
    "modified  teams/ka-east   members[chen.jing].capacity  40 → 45\n"
    "modified  teams/mfg-east  members[zhou.tao]            {rep: zhou.tao} → "
    "(none)\n";

// `rules list` right after the first-start bootstrap.
constexpr char kBootstrappedList[] =
    "VERSION  NAME         CREATED               BY                    ACTIVE\n"
    "1        acme-fy2026  2026-01-01T00:00:00Z  custodiand-bootstrap  yes\n";

// ---- Fixtures
// ----------------------------------------------------------------

// A server per test, for the tests that change state.
class CustodianctlE2eTest : public server::testing::ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    if (server_ != nullptr) ctl_ = std::make_unique<Ctl>(server_->address());
  }

  std::string Write(const std::string& name, const std::string& text) {
    return files_.Write(name, text);
  }

  TempDir files_;
  std::unique_ptr<Ctl> ctl_;
};

// One server for the whole suite, for tests that leave it as the bootstrap
// made it (each checks that it does).
class CustodianctlSharedServerTest : public ::testing::Test {
 protected:
  struct Shared {
    TempDir dir;
    ManualClock clock{server::testing::T0()};
    std::unique_ptr<server::CustodianServer> server;
  };

  static void SetUpTestSuite() {
    shared_ = new Shared;
    absl::StatusOr<std::unique_ptr<server::CustodianServer>> server =
        server::CustodianServer::Create(
            server::testing::TestOptions(shared_->dir, &shared_->clock));
    ASSERT_TRUE(server.ok()) << server.status();
    shared_->server = *std::move(server);
  }

  static void TearDownTestSuite() {
    if (shared_->server != nullptr) {
      absl::Status closed =
          shared_->server->Shutdown(absl::Now() + absl::Seconds(5));
      EXPECT_TRUE(closed.ok()) << closed;
    }
    delete shared_;
    shared_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(shared_->server, nullptr);
    ctl_ = std::make_unique<Ctl>(shared_->server->address());
  }

  std::string Write(const std::string& name, const std::string& text) {
    return files_.Write(name, text);
  }

  static Shared* shared_;
  TempDir files_;
  std::unique_ptr<Ctl> ctl_;
};

CustodianctlSharedServerTest::Shared* CustodianctlSharedServerTest::shared_ =
    nullptr;

// ---- roster get / apply
// -------------------------------------------------------

TEST_F(CustodianctlSharedServerTest, RosterGetPrintsTheBootstrappedRoster) {
  Result got = ctl_->RosterGet();
  EXPECT_EQ(got.code, kExitOk);
  EXPECT_EQ(got.err, "");
  EXPECT_EQ(got.out, kBootstrappedRoster);
}

TEST_F(CustodianctlSharedServerTest, RosterGetJsonParsesAndCarriesTheVersion) {
  Result got = ctl_->RosterGet(OutputFormat::kJson);
  ASSERT_EQ(got.code, kExitOk) << got.err;
  EXPECT_EQ(got.err, "");
  ASSERT_THAT(got.out, ::testing::EndsWith("}\n"));
  nlohmann::json doc = nlohmann::json::parse(got.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << got.out;
  EXPECT_EQ(doc["version"], "1");  // int64: a JSON string
  EXPECT_EQ(doc["updated_by"], "custodiand-bootstrap");
  EXPECT_EQ(doc["update_time"], "2026-01-01T00:00:00Z");
  ASSERT_TRUE(doc["etag"].is_string());
  EXPECT_FALSE(doc["etag"].get<std::string>().empty());
  ASSERT_EQ(doc["roster"]["reps"].size(), 12u);
  EXPECT_EQ(doc["roster"]["reps"][0]["id"], "zhang.wei");
  EXPECT_EQ(doc["roster"]["reps"][0]["name"], "张伟");
  EXPECT_EQ(doc["roster"]["reps"][1]["status"], "AWAY");  // enums by name
  EXPECT_EQ(doc["roster"]["departments"][1]["name"], "客户服务部");
  EXPECT_FALSE(doc.contains("request_id"));  // not a mutating command
}

TEST_F(CustodianctlSharedServerTest,
       RosterApplyDryRunListsChangesWritesNothing) {
  const std::string path = Write("roster.yaml", ModifiedRoster());
  Result before = ctl_->RosterGet();
  ASSERT_EQ(before.code, kExitOk) << before.err;

  RosterApplyArgs args;
  args.path = path;
  args.dry_run = true;
  Result dry = ctl_->RosterApply(args);
  EXPECT_EQ(dry.code, kExitOk);
  EXPECT_EQ(dry.err, "");
  EXPECT_EQ(dry.out, absl::StrCat(kModifiedRosterChanges,
                                  "dry run: nothing written (roster version "
                                  "1)\n"));

  Result after = ctl_->RosterGet();
  EXPECT_EQ(after.code, kExitOk);
  EXPECT_EQ(after.out, before.out);
  EXPECT_EQ(after.out, kBootstrappedRoster);

  // A dry run sends no request id, so JSON output has none to add.
  Result json = ctl_->RosterApply(args, OutputFormat::kJson);
  ASSERT_EQ(json.code, kExitOk) << json.err;
  nlohmann::json doc = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << json.out;
  EXPECT_EQ(doc["dry_run"], true);
  EXPECT_EQ(doc["version"], "1");
  EXPECT_EQ(doc["changes"].size(), 3u);
  EXPECT_FALSE(doc.contains("request_id"));
  EXPECT_EQ(ctl_->RosterGet().out, kBootstrappedRoster);
}

TEST_F(CustodianctlSharedServerTest,
       RosterApplyThatBreaksTheActiveRulesetIsFailedPrecondition) {
  const std::string path = Write("roster.yaml", RosterWithoutMfgEast());
  for (bool dry_run : {false, true}) {
    SCOPED_TRACE(dry_run ? "dry run" : "apply");
    RosterApplyArgs args;
    args.path = path;
    args.dry_run = dry_run;
    Result applied = ctl_->RosterApply(args);
    EXPECT_EQ(applied.code, kExitServerRefused);
    EXPECT_EQ(applied.out, "");
    // The detail line: type, subject (the field path) and description.
    EXPECT_EQ(applied.err,
              "custodianctl: FAILED_PRECONDITION: the roster would break "
              "active ruleset version 1 (1 problem): "
              "departments.sales.rules[1].assign.team (rule "
              "manufacturing-north-east): unknown team \"mfg-east\" (not in "
              "the roster)\n"
              "  RULESET departments.sales.rules[1].assign.team: "
              "departments.sales.rules[1].assign.team (rule "
              "manufacturing-north-east): unknown team \"mfg-east\" (not in "
              "the roster)\n");
  }
  EXPECT_EQ(ctl_->RosterGet().out, kBootstrappedRoster);
}

TEST_F(CustodianctlE2eTest, RosterApplyMarksARemovedRepLeftAndChangesCapacity) {
  const std::string path = Write("roster.yaml", ModifiedRoster());
  clock_.Advance(absl::Minutes(5));
  RosterApplyArgs args;
  args.path = path;
  args.request_id = "apply-modified";
  Result applied = ctl_->RosterApply(args);
  EXPECT_EQ(applied.code, kExitOk);
  EXPECT_EQ(applied.err, "");
  EXPECT_EQ(applied.out,
            absl::StrCat(kModifiedRosterChanges, "roster version 2\n"));

  // A removed rep stays in the roster as "left"; it is no longer a member.
  std::string expected = kBootstrappedRoster;
  expected = MustReplace(expected,
                         "roster version 1, updated 2026-01-01T00:00:00Z by "
                         "custodiand-bootstrap\n",
                         "roster version 2, updated 2026-01-01T00:05:00Z by "
                         "local-dev\n");
  expected = MustReplace(expected, "zhou.tao   周涛  active\n", "");
  expected = MustReplace(expected, "ma.chao    马超  active\n",
                         "ma.chao    马超  active\n"
                         "zhou.tao   周涛  left\n");
  expected =
      MustReplace(expected, "ka-east         sales       chen.jing  40  ",
                  "ka-east         sales       chen.jing  45  ");
  expected = MustReplace(
      expected, "mfg-east        sales       zhou.tao   default   1\n", "");
  Result got = ctl_->RosterGet();
  EXPECT_EQ(got.code, kExitOk);
  EXPECT_EQ(got.out, expected);

  // The same file again: nothing to change.
  args.request_id = "apply-modified-again";
  Result again = ctl_->RosterApply(args);
  EXPECT_EQ(again.code, kExitOk);
  EXPECT_EQ(again.out, "no changes\nroster version 2\n");
}

TEST_F(CustodianctlE2eTest, RosterApplyJsonCarriesVersionAndGeneratedId) {
  const std::string path = Write("roster.yaml", ModifiedRoster());
  RosterApplyArgs args;
  args.path = path;
  Result applied = ctl_->RosterApply(args, OutputFormat::kJson);
  ASSERT_EQ(applied.code, kExitOk) << applied.err;
  EXPECT_EQ(applied.err, "");
  nlohmann::json doc = nlohmann::json::parse(applied.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << applied.out;
  EXPECT_EQ(doc["version"], "2");
  EXPECT_EQ(doc["dry_run"], false);
  ASSERT_EQ(doc["changes"].size(), 3u);
  EXPECT_EQ(doc["changes"][0]["kind"], "MODIFIED");
  EXPECT_EQ(doc["changes"][0]["resource"], "reps/zhou.tao");
  ASSERT_TRUE(doc["request_id"].is_string());
  const std::string request_id = doc["request_id"];
  EXPECT_THAT(request_id,
              MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]"
                           "{3}-[0-9a-f]{12}"));

  // Retrying with the id the document gave gets the first answer.
  args.request_id = request_id;
  Result retried = ctl_->RosterApply(args, OutputFormat::kJson);
  ASSERT_EQ(retried.code, kExitOk) << retried.err;
  nlohmann::json again = nlohmann::json::parse(retried.out, nullptr, false);
  ASSERT_FALSE(again.is_discarded()) << retried.out;
  EXPECT_FALSE(again.contains("request_id"));  // given, not generated
  again["request_id"] = request_id;
  EXPECT_EQ(again, doc);

  // The etag of the JSON is the one a conditional apply needs.
  Result stale = [&] {
    RosterApplyArgs conditional;
    conditional.path = Write("sample.yaml", SampleRoster());
    conditional.etag = "not-the-etag";
    conditional.request_id = "conditional";
    return ctl_->RosterApply(conditional);
  }();
  EXPECT_EQ(stale.code, kExitServerRefused);
  EXPECT_EQ(stale.err,
            "custodianctl: ABORTED: etag: \"not-the-etag\" is not the current "
            "roster etag; re-read the roster and retry\n");
  EXPECT_EQ(stale.out, "");
}

// ---- rep set-status
// -----------------------------------------------------------

TEST_F(CustodianctlE2eTest, RepSetStatusAwayThenActiveAndRetryGetsFirstAnswer) {
  RepSetStatusArgs away{"zhang.wei", "away", "on leave", "status-away"};
  Result first = ctl_->RepSetStatus(away);
  EXPECT_EQ(first.code, kExitOk);
  EXPECT_EQ(first.err, "");
  EXPECT_EQ(first.out, "rep zhang.wei: active → away (roster version 2)\n");
  EXPECT_THAT(ctl_->RosterGet().out,
              HasSubstr("\nzhang.wei  张伟  away    C, C39, strategic\n"));

  RepSetStatusArgs back{"zhang.wei", "ACTIVE", "back", "status-active"};
  Result second = ctl_->RepSetStatus(back);
  EXPECT_EQ(second.code, kExitOk);
  EXPECT_EQ(second.err, "");
  EXPECT_EQ(second.out, "rep zhang.wei: away → active (roster version 3)\n");

  // A retry of the first call, after the second: the first answer, and the
  // rep stays active.
  Result retried = ctl_->RepSetStatus(away);
  EXPECT_EQ(retried.code, kExitOk);
  EXPECT_EQ(retried.err, "");
  EXPECT_EQ(retried.out, first.out);
  Result roster = ctl_->RosterGet();
  EXPECT_THAT(roster.out, StartsWith("roster version 3, "));
  EXPECT_THAT(roster.out,
              HasSubstr("\nzhang.wei  张伟  active  C, C39, strategic\n"));
}

TEST_F(CustodianctlSharedServerTest, RepSetStatusOfAnUnknownRepIsNotFound) {
  Result got =
      ctl_->RepSetStatus({"no.such.rep", "away", "test", "status-unknown"});
  EXPECT_EQ(got.code, kExitServerRefused);
  EXPECT_EQ(got.out, "");
  EXPECT_EQ(got.err,
            "custodianctl: NOT_FOUND: rep: \"no.such.rep\" is not in the "
            "roster\n");
  EXPECT_EQ(ctl_->RosterGet().out, kBootstrappedRoster);
}

TEST_F(CustodianctlSharedServerTest, RepSetStatusWithABadStatusIsUsage) {
  Result got = ctl_->RepSetStatus({"zhang.wei", "gone", "test", ""});
  EXPECT_EQ(got.code, kExitUsage);
  EXPECT_EQ(got.out, "");
  EXPECT_EQ(got.err,
            "custodianctl: --status: \"gone\" is not one of active, away, "
            "left\n");
}

// ---- rules publish / list / get / activate / diff
// ----------------------------

TEST_F(CustodianctlSharedServerTest,
       RulesPublishOfAnInvalidRulesetIsInvalidArgumentStoringNothing) {
  const std::string path = Write("broken.yaml", kInvalidRuleset);
  Result published = ctl_->RulesPublish({path, "publish-broken"});
  EXPECT_EQ(published.code, kExitServerRefused);
  EXPECT_EQ(published.out, "");
  EXPECT_EQ(published.err,
            "custodianctl: INVALID_ARGUMENT: source_text: the ruleset does not "
            "validate (2 errors): broken.yaml:7:11: "
            "departments.sales.rules[0].assign.team: unknown team "
            "\"no-such-team\" (not in the roster); broken.yaml:9:11: "
            "departments.sales.fallback.pool: unknown pool \"no-such-pool\" "
            "(not in the roster)\n"
            "  source_text:7:11 departments.sales.rules[0].assign.team: "
            "unknown team \"no-such-team\" (not in the roster)\n"
            "  source_text:9:11 departments.sales.fallback.pool: unknown pool "
            "\"no-such-pool\" (not in the roster)\n");

  Result list = ctl_->RulesList({});
  EXPECT_EQ(list.code, kExitOk);
  EXPECT_EQ(list.out, kBootstrappedList);
}

TEST_F(CustodianctlSharedServerTest, RulesListMarksTheActiveVersion) {
  Result list = ctl_->RulesList({});
  EXPECT_EQ(list.code, kExitOk);
  EXPECT_EQ(list.err, "");
  EXPECT_EQ(list.out, kBootstrappedList);

  Result json = ctl_->RulesList({}, OutputFormat::kJson);
  ASSERT_EQ(json.code, kExitOk) << json.err;
  nlohmann::json doc = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << json.out;
  EXPECT_EQ(doc["active_version"], "1");
  EXPECT_EQ(doc["next_page_token"], "");
  ASSERT_EQ(doc["versions"].size(), 1u);
  EXPECT_EQ(doc["versions"][0]["active"], true);
}

TEST_F(CustodianctlSharedServerTest, RulesGetOfAMissingVersionIsNotFound) {
  RulesGetArgs args;
  args.version = 9;
  Result got = ctl_->RulesGet(args);
  EXPECT_EQ(got.code, kExitServerRefused);
  EXPECT_EQ(got.out, "");
  EXPECT_EQ(got.err,
            "custodianctl: NOT_FOUND: version: ruleset version 9 does not "
            "exist\n");
}

TEST_F(CustodianctlE2eTest, RulesPublishListsAcrossPagesAndGetsSourceVerbatim) {
  const std::string changed = ChangedRuleset();
  const std::string path = Write("acme-v2.yaml", changed);
  clock_.Advance(absl::Hours(1));
  Result published = ctl_->RulesPublish({path, "publish-v2"});
  EXPECT_EQ(published.code, kExitOk);
  EXPECT_EQ(published.err, "");
  EXPECT_EQ(published.out,
            "published version 2 (acme-fy2026)\n"
            "not active: run `custodianctl rules activate 2`\n");
  // A retry of the publication gets the first answer, not version 3.
  EXPECT_EQ(ctl_->RulesPublish({path, "publish-v2"}).out, published.out);

  clock_.Advance(absl::Hours(1));
  const std::string renamed = Write(
      "acme-v3.yaml",
      MustReplace(changed, "ruleset: acme-fy2026", "ruleset: acme-fy2026-q3"));
  Result third = ctl_->RulesPublish({renamed, "publish-v3"});
  EXPECT_EQ(third.code, kExitOk) << third.err;
  EXPECT_EQ(third.out,
            "published version 3 (acme-fy2026-q3)\n"
            "not active: run `custodianctl rules activate 3`\n");

  const std::string header =
      "VERSION  NAME            CREATED               BY                    "
      "ACTIVE\n";
  const std::string v3 =
      "3        acme-fy2026-q3  2026-01-01T02:00:00Z  local-dev\n";
  const std::string v2 =
      "2        acme-fy2026     2026-01-01T01:00:00Z  local-dev\n";
  const std::string v1 =
      "1        acme-fy2026     2026-01-01T00:00:00Z  custodiand-bootstrap  "
      "yes\n";

  // --all follows every page of one version each.
  RulesListArgs all;
  all.page_size = 1;
  all.all = true;
  Result listed = ctl_->RulesList(all);
  EXPECT_EQ(listed.code, kExitOk);
  EXPECT_EQ(listed.err, "");
  EXPECT_EQ(listed.out, absl::StrCat(header, v3, v2, v1));

  // Page by page: each page ends with the token of the next.
  RulesListArgs page;
  page.page_size = 2;
  Result first = ctl_->RulesList(page);
  EXPECT_EQ(first.code, kExitOk);
  ASSERT_THAT(first.out,
              MatchesRegex(absl::StrCat(
                  "VERSION  NAME            CREATED               BY         "
                  "ACTIVE\n",
                  "3        acme-fy2026-q3  2026-01-01T02:00:00Z  local-dev\n"
                  "2        acme-fy2026     2026-01-01T01:00:00Z  local-dev\n"
                  "next page: --page-token [^ \n]+\n")));
  const std::string marker = "next page: --page-token ";
  const size_t at = first.out.find(marker) + marker.size();
  page.page_token = first.out.substr(at, first.out.size() - at - 1);
  Result second = ctl_->RulesList(page);
  EXPECT_EQ(second.code, kExitOk);
  EXPECT_EQ(second.out,
            "VERSION  NAME         CREATED               BY                    "
            "ACTIVE\n"
            "1        acme-fy2026  2026-01-01T00:00:00Z  custodiand-bootstrap  "
            "yes\n");

  // --all as JSON: every version in one document, no next page.
  Result json = ctl_->RulesList(all, OutputFormat::kJson);
  ASSERT_EQ(json.code, kExitOk) << json.err;
  nlohmann::json doc = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << json.out;
  ASSERT_EQ(doc["versions"].size(), 3u);
  EXPECT_EQ(doc["versions"][0]["version"], "3");
  EXPECT_EQ(doc["versions"][2]["version"], "1");
  EXPECT_EQ(doc["next_page_token"], "");
  EXPECT_EQ(doc["active_version"], "1");

  // --source: the published file, byte for byte.
  RulesGetArgs get;
  get.version = 2;
  get.source = true;
  Result source = ctl_->RulesGet(get);
  EXPECT_EQ(source.code, kExitOk);
  EXPECT_EQ(source.err, "");
  EXPECT_EQ(source.out, changed);

  // Without --source: the metadata and the departments.
  get.source = false;
  Result shown = ctl_->RulesGet(get);
  EXPECT_EQ(shown.code, kExitOk);
  EXPECT_EQ(shown.out,
            "version     2\n"
            "name        acme-fy2026\n"
            "file        acme-v2.yaml\n"
            "created     2026-01-01T01:00:00Z by local-dev\n"
            "\n"
            "DEPARTMENT  RULES  FALLBACK\n"
            "sales       3      yes\n"
            "service     1      yes\n");
}

TEST_F(CustodianctlE2eTest, RulesActivateStaleEtagIsAbortedAndRollbackWorks) {
  const std::string path = Write("acme-v2.yaml", ChangedRuleset());
  ASSERT_EQ(ctl_->RulesPublish({path, "publish-v2"}).code, kExitOk);
  const std::string etag_before = ActivationEtag();

  // No --etag: custodianctl reads the current one first.
  clock_.Advance(absl::Hours(3));
  RulesActivateArgs activate;
  activate.version = 2;
  activate.reason = "least loaded for manufacturing";
  activate.request_id = "activate-v2";
  Result activated = ctl_->RulesActivate(activate);
  EXPECT_EQ(activated.code, kExitOk);
  EXPECT_EQ(activated.err, "");
  const std::string etag_after = ActivationEtag();
  EXPECT_NE(etag_after, etag_before);
  EXPECT_EQ(activated.out, absl::StrCat("activated version 2 (previously 1)\n",
                                        "etag ", etag_after, "\n"));
  EXPECT_EQ(
      ctl_->RulesList({}).out,
      "VERSION  NAME         CREATED               BY                    "
      "ACTIVE\n"
      "2        acme-fy2026  2026-01-01T00:00:00Z  local-dev             "
      "yes\n"
      "1        acme-fy2026  2026-01-01T00:00:00Z  custodiand-bootstrap\n");

  // The etag read before that activation is stale now.
  RulesActivateArgs stale;
  stale.version = 1;
  stale.etag = etag_before;
  stale.request_id = "activate-stale";
  Result refused = ctl_->RulesActivate(stale);
  EXPECT_EQ(refused.code, kExitServerRefused);
  EXPECT_EQ(refused.out, "");
  EXPECT_EQ(refused.err,
            absl::StrCat("custodianctl: ABORTED: etag: \"", etag_before,
                         "\" is not the current activation etag; re-read it "
                         "with ListRulesetVersions and retry\n"));
  EXPECT_EQ(ActivationEtag(), etag_after);
  RulesGetArgs active;  // version 0: the active one
  Result still = ctl_->RulesGet(active);
  EXPECT_THAT(still.out, StartsWith("version     2 (active)\n"));

  // Rollback: activate the older version, with the current etag given.
  clock_.Advance(absl::Minutes(30));
  RulesActivateArgs rollback;
  rollback.version = 1;
  rollback.etag = etag_after;
  rollback.reason = "rollback";
  rollback.request_id = "rollback";
  Result rolled = ctl_->RulesActivate(rollback);
  EXPECT_EQ(rolled.code, kExitOk);
  EXPECT_EQ(rolled.err, "");
  EXPECT_EQ(rolled.out, absl::StrCat("activated version 1 (previously 2)\n",
                                     "etag ", ActivationEtag(), "\n"));
  Result v1 = ctl_->RulesGet(active);
  EXPECT_EQ(v1.code, kExitOk);
  // The bootstrap stores the ruleset file's path as given to the server.
  EXPECT_EQ(v1.out,
            absl::StrCat(
                "version     1 (active)\n"
                "name        acme-fy2026\n"
                "file        ",
                SamplePath("ruleset.yaml"),
                "\n"
                "created     2026-01-01T00:00:00Z by custodiand-bootstrap\n"
                "\n"
                "DEPARTMENT  RULES  FALLBACK\n"
                "sales       3      yes\n"
                "service     1      yes\n"
                "\n"
                "ACTIVATIONS\n"
                "ACTIVATED             BY                    PREVIOUS  REASON\n"
                "2026-01-01T00:00:00Z  custodiand-bootstrap  -         first "
                "start\n"
                "2026-01-01T03:30:00Z  local-dev             2         "
                "rollback\n"));

  // A retry of the first activation, with the etag it was made with, gets
  // its first answer and changes nothing.
  RulesActivateArgs retry = activate;
  retry.etag = etag_before;
  Result retried = ctl_->RulesActivate(retry);
  EXPECT_EQ(retried.code, kExitOk);
  EXPECT_EQ(retried.out, activated.out);
  EXPECT_THAT(ctl_->RulesGet(active).out, StartsWith("version     1 (active)"));
}

// Without --etag, `rules activate` reads the current etag on every run; when
// the first attempt went through (its answer lost), the retry sends the new
// etag. The etag is a precondition, not part of the request's fingerprint,
// so the retry still gets the first answer.
TEST_F(CustodianctlE2eTest, RulesActivateRetryWithoutEtagGetsTheFirstAnswer) {
  const std::string path = Write("acme-v2.yaml", ChangedRuleset());
  ASSERT_EQ(ctl_->RulesPublish({path, "publish-v2"}).code, kExitOk);
  RulesActivateArgs activate;
  activate.version = 2;
  activate.request_id = "activate-v2";
  Result first = ctl_->RulesActivate(activate);
  ASSERT_EQ(first.code, kExitOk) << first.err;
  Result retried = ctl_->RulesActivate(activate);
  EXPECT_EQ(retried.code, kExitOk);
  EXPECT_EQ(retried.err, "");
  EXPECT_EQ(retried.out, first.out);
}

TEST_F(CustodianctlE2eTest, RulesDiffNamesTheChangedRuleAndField) {
  const std::string path = Write("acme-v2.yaml", ChangedRuleset());
  ASSERT_EQ(ctl_->RulesPublish({path, "publish-v2"}).code, kExitOk);
  Result diff = ctl_->RulesDiff({1, 2});
  EXPECT_EQ(diff.code, kExitOk);
  EXPECT_EQ(diff.err, "");
  EXPECT_EQ(diff.out,
            "ruleset 1 → 2\n"
            "department sales\n"
            "  ~ rule manufacturing-north-east: assign: {team: mfg-east, "
            "strategy: round_robin} → {team: mfg-east, strategy: "
            "least_loaded}\n");

  Result same = ctl_->RulesDiff({2, 2});
  EXPECT_EQ(same.code, kExitOk);
  EXPECT_EQ(same.out, "ruleset 2 → 2\nno differences\n");

  Result missing = ctl_->RulesDiff({1, 7});
  EXPECT_EQ(missing.code, kExitServerRefused);
  EXPECT_EQ(missing.out, "");
  EXPECT_THAT(missing.err, StartsWith("custodianctl: NOT_FOUND: to_version"));
}

// ---- unreachable server
// -------------------------------------------------------

TEST(CustodianctlUnreachableTest, AStoppedServersPortExits3NamingTheAddress) {
  // A port that just had a server on it, and now has nothing.
  std::string address;
  {
    TempDir dir;
    ManualClock clock{server::testing::T0()};
    absl::StatusOr<std::unique_ptr<server::CustodianServer>> server =
        server::CustodianServer::Create(
            server::testing::TestOptions(dir, &clock));
    ASSERT_TRUE(server.ok()) << server.status();
    address = (*server)->address();
    ASSERT_TRUE((*server)->Shutdown(absl::Now() + absl::Seconds(5)).ok());
  }
  Ctl ctl(address, absl::Seconds(5));

  Result got = ctl.RosterGet();
  EXPECT_EQ(got.code, kExitUnreachable);
  EXPECT_EQ(got.out, "");
  EXPECT_THAT(got.err,
              MatchesRegex(absl::StrCat(
                  "custodianctl: UNAVAILABLE: [^\n]*\n"
                  "  server: ",
                  address, " \\(set --server or CUSTODIAN_SERVER\\)\n")));

  // A mutating command also prints the id to retry with.
  Result set = ctl.RepSetStatus({"zhang.wei", "away", "test", "unreachable-1"});
  EXPECT_EQ(set.code, kExitUnreachable);
  EXPECT_EQ(set.out, "");
  EXPECT_THAT(set.err,
              MatchesRegex(absl::StrCat(
                  "custodianctl: UNAVAILABLE: [^\n]*\n"
                  "  server: ",
                  address,
                  " \\(set --server or CUSTODIAN_SERVER\\)\n"
                  "  the change may or may not have been made: retry with "
                  "--request-id unreachable-1 to get the first answer\n")));
}

// whoami, audit and bearer tokens against a server with a token file.
class CustodianctlAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tokens = "tokens:\n";
    for (const auto& [token, principal, role, departments] :
         {std::tuple<const char*, const char*, const char*, const char*>{
              "tok-admin", "root", "admin", "['*']"},
          {"tok-rep", "liu.yang", "rep", "[sales]"}}) {
      absl::StrAppend(&tokens, "  - sha256: ", server::TokenSha256Hex(token),
                      "\n    principal: ", principal, "\n    roles: [", role,
                      "]\n    departments: ", departments, "\n");
    }
    server::Options options = server::testing::TestOptions(dir_, &clock_);
    options.auth.token_file = dir_.Write("tokens.yaml", tokens);
    absl::StatusOr<std::unique_ptr<server::CustodianServer>> server =
        server::CustodianServer::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  void TearDown() override {
    if (server_ != nullptr) {
      EXPECT_TRUE(server_->Shutdown(absl::Now() + absl::Seconds(5)).ok());
    }
  }

  template <typename Fn>
  Result Run(const std::string& token, Fn fn,
             OutputFormat format = OutputFormat::kTable) {
    std::unique_ptr<Connection> connection = Connection::Open(
        {server_->address(), absl::Seconds(30), nullptr, token});
    std::ostringstream out;
    std::ostringstream err;
    Result result;
    result.code = fn(*connection, CommandOutput{format, out, err});
    result.out = out.str();
    result.err = err.str();
    return result;
  }

  TempDir dir_;
  ManualClock clock_{server::testing::T0()};
  std::unique_ptr<server::CustodianServer> server_;
};

TEST_F(CustodianctlAuthTest, WhoAmIPrintsTheTokensPrincipal) {
  Result r = Run("tok-rep", [](const Connection& c, const CommandOutput& o) {
    return RunWhoAmI(c, "", o);
  });
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, absl::StrCat("FIELD             VALUE\n"
                                "principal         liu.yang\n"
                                "roles             rep\n"
                                "departments       sales\n"
                                "authenticated by  token\n"
                                "server            ",
                                server_->address(),
                                "\n"
                                "context           (none)\n"));
}

TEST_F(CustodianctlAuthTest, WithoutATokenTheServerRefuses) {
  Result r = Run("", [](const Connection& c, const CommandOutput& o) {
    return RunWhoAmI(c, "", o);
  });
  EXPECT_EQ(r.code, kExitServerRefused);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, StartsWith("custodianctl: UNAUTHENTICATED: "));
}

TEST_F(CustodianctlAuthTest, AuditListsTheChangeWithItsPrincipal) {
  RepSetStatusArgs away;
  away.rep = "liu.yang";
  away.status = "away";
  away.reason = "holiday";
  away.request_id = "liu-away";
  Result set =
      Run("tok-admin", [&](const Connection& c, const CommandOutput& o) {
        return RunRepSetStatus(c, away, o);
      });
  ASSERT_EQ(set.code, 0) << set.err;
  AuditArgs args;
  args.principal = "root";
  Result r = Run("tok-admin", [&](const Connection& c, const CommandOutput& o) {
    return RunAudit(c, args, o);
  });
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(
      r.out,
      "TIME                  PRINCIPAL  ROLES  RPC                         "
      "REQUEST ID  RESOURCES             OUTCOME\n"
      "2026-01-01T00:00:00Z  root       admin  RosterService.SetRepStatus  "
      "liu-away    roster reps/liu.yang  OK: ACTIVE -> AWAY; roster "
      "version 2\n");
  // A rep may not read the audit log.
  Result denied =
      Run("tok-rep", [&](const Connection& c, const CommandOutput& o) {
        return RunAudit(c, AuditArgs(), o);
      });
  EXPECT_EQ(denied.code, kExitServerRefused);
  EXPECT_THAT(denied.err, StartsWith("custodianctl: PERMISSION_DENIED: "));
}

// custodianctl's --ca/--cert/--key against a mutual-TLS server, through the
// same resolution custodianctl_main.cc uses (client_config.h).
TEST(CustodianctlTlsTest, WhoAmIOverMutualTls) {
  server::testing::AuthTempDir keys;
  keys.MakeCa("ca");
  keys.MakeCert("server", "ca", "localhost", /*server=*/true);
  keys.MakeCert("me", "ca", "ops.internal", /*server=*/false);
  keys.Write("principals.yaml",
             "principals:\n  - subject: ops.internal\n    principal: ops\n"
             "    roles: [auditor]\n    departments: ['*']\n");
  TempDir dir;
  ManualClock clock(server::testing::T0());
  server::Options options = server::testing::TestOptions(dir, &clock);
  // An IP address, not "localhost": resolving a name leaks in c-ares under
  // LeakSanitizer. The server certificate names IP:127.0.0.1.
  options.auth.tls_cert_file = keys.Path("server.crt");
  options.auth.tls_key_file = keys.Path("server.key");
  options.auth.tls_client_ca_file = keys.Path("ca.crt");
  options.auth.principals_file = keys.Path("principals.yaml");
  absl::StatusOr<std::unique_ptr<server::CustodianServer>> server =
      server::CustodianServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();

  ConnectionFlags flags;
  flags.server = (*server)->address();
  flags.ca = keys.Path("ca.crt");
  flags.cert = keys.Path("me.crt");
  flags.key = keys.Path("me.key");
  flags.config = dir.Write("empty-config.yaml", "");
  absl::StatusOr<ResolvedConnection> resolved = ResolveConnection(
      flags, [](const char*) -> const char* { return nullptr; });
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  std::unique_ptr<Connection> connection =
      Connection::Open(ToConnectionOptions(*resolved, absl::Seconds(30)));
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(RunWhoAmI(*connection, resolved->context,
                      CommandOutput{OutputFormat::kTable, out, err}),
            0)
      << err.str();
  EXPECT_THAT(out.str(), HasSubstr("principal         ops\n"));
  EXPECT_THAT(out.str(), HasSubstr("authenticated by  mtls\n"));

  // Without the client certificate the handshake fails: unreachable.
  flags.cert.clear();
  flags.key.clear();
  resolved = ResolveConnection(
      flags, [](const char*) -> const char* { return nullptr; });
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  connection =
      Connection::Open(ToConnectionOptions(*resolved, absl::Seconds(5)));
  std::ostringstream out2;
  std::ostringstream err2;
  EXPECT_EQ(RunWhoAmI(*connection, "",
                      CommandOutput{OutputFormat::kTable, out2, err2}),
            kExitUnreachable)
      << err2.str();
  ASSERT_TRUE((*server)->Shutdown(absl::Now() + absl::Seconds(5)).ok());
}

}  // namespace
}  // namespace custodian::clients
