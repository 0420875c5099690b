#include "rules/check.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "rules/front_testing.h"
#include "rules/loader.h"

namespace custodian::rules {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using testing::CheckRuleset;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::Strings;

std::string Example(const std::string& name) {
  absl::StatusOr<std::string> text =
      ReadTextFile(std::string(CUSTODIAN_SOURCE_DIR) + "/examples/" + name);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : std::string();
}

class CheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    roster_check_ = CheckRosterText(Example("roster.yaml"), "roster.yaml");
    ASSERT_THAT(Strings(roster_check_->diagnostics), IsEmpty());
  }
  const v1::Roster& roster() const { return roster_check_->roster; }

  std::unique_ptr<RosterCheck> roster_check_;
};

TEST_F(CheckTest, ExamplesValidateWithoutErrorsOrWarnings) {
  auto check =
      CheckRulesetText(Example("ruleset.yaml"), "ruleset.yaml", &roster());
  EXPECT_TRUE(check->valid());
  EXPECT_THAT(Strings(check->diagnostics), IsEmpty());
  EXPECT_EQ(check->ruleset.name(), "acme-fy2026");
  ASSERT_EQ(check->ruleset.departments_size(), 2);
  EXPECT_EQ(check->ruleset.departments(0).rules_size(), 3);
  // Defaults were applied.
  EXPECT_EQ(check->ruleset.departments(0).rules(2).assign().strategy(),
            v1::STRATEGY_UNSPECIFIED);  // a pool target keeps no strategy
  EXPECT_EQ(check->ruleset.policies().protection().new_owner().seconds(),
            14 * 86400);
  EXPECT_EQ(roster().reps(3).status(), v1::ACTIVE);
  EXPECT_EQ(roster().teams(0).members(1).weight(), 1);
}

TEST_F(CheckTest, RoundTripThroughProtoJson) {
  auto check =
      CheckRulesetText(Example("ruleset.yaml"), "ruleset.yaml", &roster());
  ASSERT_TRUE(check->valid());
  std::string json;
  ASSERT_TRUE(
      google::protobuf::util::MessageToJsonString(check->ruleset, &json).ok());
  v1::Ruleset back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &back).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(check->ruleset, back)) << json;
  auto again = CheckRulesetProto(back, "<request>", &roster());
  EXPECT_TRUE(again->valid());
  EXPECT_THAT(Strings(again->diagnostics), IsEmpty());
  EXPECT_TRUE(MessageDifferencer::Equals(again->ruleset, back));
}

TEST_F(CheckTest, RoundTripKeepsTheSameErrors) {
  const char* text = R"(ruleset: r
departments:
  sales:
    rules:
      - {id: a, when: {region: {under: CN//East}}, assign: {team: service-cn}}
)";
  auto check = CheckRulesetText(text, "f.yaml", &roster());
  ASSERT_FALSE(check->valid());
  std::string json;
  ASSERT_TRUE(
      google::protobuf::util::MessageToJsonString(check->ruleset, &json).ok());
  v1::Ruleset back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &back).ok());
  auto again = CheckRulesetProto(back, "<request>", &roster());
  auto paths = [](const Diagnostics& d) {
    std::vector<std::string> out;
    for (const Diagnostic& x : d.items()) {
      out.push_back(x.field_path + ": " + x.message);
    }
    return out;
  };
  EXPECT_EQ(paths(check->diagnostics), paths(again->diagnostics));
  EXPECT_THAT(Strings(again->diagnostics),
              ElementsAre("<request>: departments.sales.rules[0].when.region."
                          "under[0]: path \"CN//East\": segment 2 is empty",
                          "<request>: departments.sales.rules[0].assign.team: "
                          "team \"service-cn\" belongs to department service, "
                          "not sales"));
}

TEST_F(CheckTest, ProtoInputHasNoLocations) {
  v1::Ruleset ruleset;
  ruleset.set_name("Bad Name");
  auto check = CheckRulesetProto(ruleset, "<request>", nullptr);
  ASSERT_EQ(check->diagnostics.items().size(), 1u);
  const Diagnostic& d = check->diagnostics.items()[0];
  EXPECT_EQ(d.location.line, 0);
  EXPECT_EQ(d.ToString(),
            "<request>: ruleset: ruleset name \"Bad Name\" must be 1-64 "
            "characters of [a-z0-9._-] starting with a letter or digit");
}

TEST_F(CheckTest, LoaderAndValidatorErrorsAreReportedTogetherOnce) {
  EXPECT_THAT(
      CheckRuleset(R"(ruleset: r
departments:
  sales:
    rules:
      - id: a
        when: {region: {above: CN}, industry: {under: ' C'}}
        assign: pool-a
      - id: b
        assign: {team: ka-east, pool: east-pool}
        priority: 1
      - id: a
        assign: {team: nope}
)",
                   &roster()),
      ElementsAre(
          "f.yaml:6:25: departments.sales.rules[0].when.region.above: unknown "
          "operator \"above\" (expected one of: eq, ne, in, not_in, under, "
          "not_under, gt, gte, lt, lte, matches, exists, any_of, all_of, "
          "none_of, older_than, newer_than)",
          "f.yaml:6:55: departments.sales.rules[0].when.industry.under[0]: "
          "path \" C\": segment 1 has a leading or trailing space",
          "f.yaml:7:9: departments.sales.rules[0].assign: expected a map "
          "(target: one of team, rep or pool), got a scalar",
          "f.yaml:9:33: departments.sales.rules[1].assign.pool: target names "
          "both team and pool; a target names exactly one of team, rep or "
          "pool",
          "f.yaml:10:9: departments.sales.rules[1].priority: unknown key "
          "\"priority\" in rule (expected one of: id, description, when, "
          "assign, overflow)",
          "f.yaml:11:9: departments.sales.rules[2].id: duplicate rule id "
          "\"a\" (first used by rules[0])",
          "f.yaml:12:18: departments.sales.rules[2].assign.team: unknown team "
          "\"nope\" (not in the roster)"));
}

TEST_F(CheckTest, SyntaxErrorsStopBeforeValidation) {
  EXPECT_THAT(CheckRuleset("ruleset: r\ndepartments: {sales: [\n"),
              ElementsAre(::testing::StartsWith("f.yaml:3:1: syntax error: ")));
  EXPECT_THAT(CheckRuleset("- a\n- b\n"),
              ElementsAre("f.yaml:1:1: expected a map (ruleset file), got a "
                          "list"));
}

TEST_F(CheckTest, EmptyFileNeedsAName) {
  EXPECT_THAT(CheckRuleset(""),
              ElementsAre("f.yaml:1:1: ruleset: ruleset name is required"));
}

TEST_F(CheckTest, RosterCheckAppliesDefaultsAndValidates) {
  auto check = CheckRosterText(
      "departments: [{id: s}]\nreps: [{id: a}]\n"
      "teams: [{id: t, department: s, members: [{rep: a}, {rep: b}]}]\n",
      "r.yaml");
  EXPECT_THAT(Strings(check->diagnostics),
              ElementsAre("r.yaml:3:53: teams[0].members[1].rep: unknown rep "
                          "\"b\" (not in reps)"));
  EXPECT_EQ(check->roster.reps(0).status(), v1::ACTIVE);
}

}  // namespace
}  // namespace custodian::rules
