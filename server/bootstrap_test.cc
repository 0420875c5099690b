#include "server/bootstrap.h"

#include <string>

#include "gtest/gtest.h"
#include "rules/loader.h"
#include "server/domain_testing.h"
#include "server/idempotency.h"

namespace custodian::server {
namespace {

using testing::kRosterYaml;
using testing::kRulesetV1Yaml;

class BootstrapTest : public testing::DomainTest {
 protected:
  static BootstrapFiles Files() {
    BootstrapFiles files;
    files.roster_text = std::string(kRosterYaml);
    files.ruleset_text = std::string(kRulesetV1Yaml);
    return files;
  }

  absl::StatusOr<BootstrapResult> Run(const BootstrapFiles& files = Files()) {
    return BootstrapIfEmpty(*roster_, *rulesets_, files);
  }
};

TEST_F(BootstrapTest, EmptyStoreGetsRosterAndActiveVersion1Once) {
  auto first = Run();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, BootstrapResult::kBootstrapped);
  auto roster = roster_->Get();
  EXPECT_EQ(roster->version(), 1);
  EXPECT_EQ(roster->updated_by(), kBootstrapActor);
  v1::GetRulesetRequest get;
  auto active = rulesets_->Get(get);
  ASSERT_TRUE(active.ok()) << active.status();
  EXPECT_EQ(active->version(), 1);
  EXPECT_EQ(active->created_by(), kBootstrapActor);
  EXPECT_EQ(active->source_text(), kRulesetV1Yaml);
  ASSERT_EQ(active->activations_size(), 1);
  EXPECT_EQ(active->activations(0).activated_by(), kBootstrapActor);
  EXPECT_EQ(rulesets_->ActiveRuleset().version, 1);

  auto before = Dump();
  auto second = Run();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, BootstrapResult::kNothingToDo);
  EXPECT_EQ(Dump(), before);

  Reopen();
  EXPECT_EQ(rulesets_->ActiveRuleset().version, 1);
  auto after_restart = Run();
  ASSERT_TRUE(after_restart.ok());
  EXPECT_EQ(*after_restart, BootstrapResult::kNothingToDo);
  EXPECT_EQ(Dump(), before);
}

TEST_F(BootstrapTest, LeavesAStoreSomeoneElseSetUpAlone) {
  MustApply(kRosterYaml, "r1");  // by "admin"
  auto before = Dump();
  auto result = Run();
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(*result, BootstrapResult::kNothingToDo);
  EXPECT_EQ(Dump(), before);
}

TEST_F(BootstrapTest, ResumesAnInterruptedBootstrap) {
  // A crash after the first step: the roster is there, written by the
  // bootstrap, and nothing else.
  auto applied = roster_->Apply(RosterText(kRosterYaml, "x"), kBootstrapActor);
  ASSERT_TRUE(applied.ok());
  auto result = Run();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, BootstrapResult::kBootstrapped);
  EXPECT_EQ(roster_->Get()->version(), 1);
  EXPECT_EQ(rulesets_->ActiveRuleset().version, 1);
}

TEST_F(BootstrapTest, InvalidFileIsInvalidArgumentAndLeavesNothingActive) {
  BootstrapFiles files = Files();
  files.ruleset_text = "ruleset: acme\ndepartments: 7\n";
  auto result = Run(files);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(rulesets_->ActiveRuleset().version, 0);
}

TEST_F(BootstrapTest, TheSampleFilesBootstrap) {
  BootstrapFiles files;
  auto roster =
      rules::ReadTextFile(CUSTODIAN_SOURCE_DIR "/examples/roster.yaml");
  auto ruleset =
      rules::ReadTextFile(CUSTODIAN_SOURCE_DIR "/examples/ruleset.yaml");
  ASSERT_TRUE(roster.ok()) << roster.status();
  ASSERT_TRUE(ruleset.ok()) << ruleset.status();
  files.roster_text = *roster;
  files.ruleset_text = *ruleset;
  auto result = Run(files);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, BootstrapResult::kBootstrapped);
  EXPECT_EQ(rulesets_->ActiveRuleset().ruleset->ruleset().name(),
            "acme-fy2026");
}

}  // namespace
}  // namespace custodian::server
