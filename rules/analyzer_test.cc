#include "rules/analyzer.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rules/front_testing.h"

namespace custodian::rules {
namespace {

using testing::CheckRuleset;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

class AnalyzerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::string> errors;
    roster_ = testing::RosterFromText(testing::kRoster, &errors);
    ASSERT_THAT(errors, IsEmpty());
  }

  // Diagnostics of a sales department whose rule i (id "r<i>", on line 5+i)
  // has `when` whens[i]; the department has a fallback.
  std::vector<std::string> Rules(const std::vector<std::string>& whens) {
    std::string text = "ruleset: r\ndepartments:\n  sales:\n    rules:\n";
    for (size_t i = 0; i < whens.size(); ++i) {
      absl::StrAppend(&text, "      - {id: r", i, ", when: ", whens[i],
                      ", assign: {team: ka}}\n");
    }
    absl::StrAppend(&text, "    fallback: {pool: pool-a}\n");
    return CheckRuleset(text, &roster_);
  }

  // The warning for rule `later` (line 5+later) shadowed by `earlier`.
  static std::string Shadowed(int later, int earlier) {
    return absl::StrCat(
        "f.yaml:", 5 + later, ":9: departments.sales.rules[", later,
        "]: warning: rule \"r", later, "\" can never match: earlier rule \"r",
        earlier, "\" (rules[", earlier, "]) matches every customer it would");
  }

  v1::Roster roster_;
};

TEST_F(AnalyzerTest, EarlierRuleWithoutConditionsShadowsEverythingAfter) {
  EXPECT_THAT(CheckRuleset(R"(ruleset: r
departments:
  sales:
    rules:
      - id: all
        assign: {team: ka}
      - id: later
        when: {region: CN}
        assign: {team: ka}
    fallback: {pool: pool-a}
)",
                           &roster_),
              ElementsAre("f.yaml:7:9: departments.sales.rules[1]: warning: "
                          "rule \"later\" can never match: earlier rule "
                          "\"all\" (rules[0]) has no conditions and matches "
                          "every customer"));
}

TEST_F(AnalyzerTest, EarlierClauseSubsetShadows) {
  EXPECT_THAT(
      Rules({"{customer_type: smb, sales_stage: lead}",
             "{sales_stage: lead, customer_type: smb, value_tier: high}"}),
      ElementsAre(Shadowed(1, 0)));
}

TEST_F(AnalyzerTest, PathPrefixImplication) {
  EXPECT_THAT(Rules({"{region: {under: CN}}", "{region: {under: CN/East}}",
                     "{region: CN/North/Beijing}",
                     "{region: {under: [CN/West, CN/South]}}"}),
              ElementsAre(Shadowed(1, 0), Shadowed(2, 0), Shadowed(3, 0)));
}

TEST_F(AnalyzerTest, PathPrefixIsBySegmentNotByCharacter) {
  EXPECT_THAT(Rules({"{region: {under: CN/East}}",
                     "{region: {under: CN/Eastern}}", "{region: {under: CN}}"}),
              IsEmpty());
}

TEST_F(AnalyzerTest, InListSubsetImplication) {
  EXPECT_THAT(Rules({"{customer_type: [smb, enterprise]}",
                     "{customer_type: smb}", "{customer_type: [enterprise]}",
                     "{customer_type: [smb, government]}"}),
              ElementsAre(Shadowed(1, 0), Shadowed(2, 0)));
}

TEST_F(AnalyzerTest, IntegerBoundsImplication) {
  EXPECT_THAT(
      Rules({"{annual_revenue: {gte: 100}}", "{annual_revenue: {gt: 500}}",
             "{annual_revenue: 100}", "{annual_revenue: {gt: 50}}"}),
      ElementsAre(Shadowed(1, 0), Shadowed(2, 0)));
  EXPECT_THAT(Rules({"{employee_count: {lt: 10}}", "{employee_count: {lte: 9}}",
                     "{employee_count: {lte: 10}}"}),
              ElementsAre(Shadowed(1, 0)));
}

TEST_F(AnalyzerTest, TagSegmentAndTimeImplication) {
  EXPECT_THAT(Rules({"{tags: {any_of: [a, b]}}", "{tags: {all_of: [b, c]}}",
                     "{tags: {any_of: [c]}}"}),
              ElementsAre(Shadowed(1, 0)));
  EXPECT_THAT(Rules({"{last_activity_time: {older_than: 30d}}",
                     "{last_activity_time: {older_than: 90d}}",
                     "{last_activity_time: {older_than: 7d}}"}),
              ElementsAre(Shadowed(1, 0)));
  EXPECT_THAT(Rules({"{sales_stage: {not_in: [lost]}}",
                     "{sales_stage: {not_in: [lost, won]}}",
                     "{sales_stage: {not_in: [won]}}"}),
              ElementsAre(Shadowed(1, 0)));
}

TEST_F(AnalyzerTest, AnyAndAllBlocks) {
  EXPECT_THAT(Rules({"{any: [{region: {under: CN}}, {tags: {any_of: [x]}}]}",
                     "{region: CN/East, sales_stage: lead}",
                     "{all: [{tags: {any_of: [x]}}, {sales_stage: won}]}",
                     "{any: [{tags: {any_of: [y]}}, {region: {under: US}}]}"}),
              ElementsAre(Shadowed(1, 0), Shadowed(2, 0)));
}

TEST_F(AnalyzerTest, ExistsAndNegationsAreNotOverclaimed) {
  EXPECT_THAT(Rules({"{region: {exists: true}}", "{region: {under: CN}}",
                     "{name: {exists: false}}", "{name: {exists: true}}",
                     "{not: {sales_stage: won}}", "{sales_stage: lost}"}),
              ElementsAre(Shadowed(1, 0)));
}

TEST_F(AnalyzerTest, TeamsWithoutActiveMembersAndMissingFallbacks) {
  EXPECT_THAT(
      CheckRuleset(R"(ruleset: r
departments:
  sales:
    rules:
      - {id: a, when: {region: A}, assign: {team: idle}}
      - {id: b, when: {region: B}, assign: {rep: cat}}
  service:
    fallback: {team: svc}
policies:
  disputes: {panel: {team: idle, size: 1}}
)",
                   &roster_),
      ElementsAre(
          "f.yaml:3:3: departments.sales: warning: department sales has no "
          "fallback: customers no rule matches stay unowned (NO_MATCH)",
          "f.yaml:5:45: departments.sales.rules[0].assign.team: warning: team "
          "\"idle\" has no active member: customers routed here go to the "
          "overflow, then the fallback, else stay unowned (NO_CAPACITY)",
          "f.yaml:6:45: departments.sales.rules[1].assign.rep: warning: rep "
          "\"cat\" is away: customers routed here go to the overflow, then the "
          "fallback, else stay unowned (NO_CAPACITY)",
          "f.yaml:10:22: policies.disputes.panel.team: warning: team \"idle\" "
          "has 0 active members for a panel of 1: appeals cannot get a full "
          "panel"));
}

TEST_F(AnalyzerTest, NoWarningsWithoutErrorsOnlyWhenValid) {
  // Analysis runs only on a valid ruleset: an error suppresses warnings.
  EXPECT_THAT(
      CheckRuleset("ruleset: r\ndepartments:\n  sales:\n    rules:\n"
                   "      - {id: a, assign: {team: nope}}\n",
                   &roster_),
      ElementsAre("f.yaml:5:26: departments.sales.rules[0].assign.team: "
                  "unknown team \"nope\" (not in the roster)"));
}

TEST_F(AnalyzerTest, DirectCallWithoutRosterSkipsRosterWarnings) {
  v1::Ruleset ruleset;
  ruleset.set_name("r");
  v1::DepartmentRules* dept = ruleset.add_departments();
  dept->set_department("sales");
  dept->mutable_fallback()->set_team("idle");
  Diagnostics diags("<request>", nullptr);
  AnalyzeRuleset(ruleset, nullptr, &diags);
  EXPECT_EQ(diags.warning_count(), 0);
  AnalyzeRuleset(ruleset, &roster_, &diags);
  EXPECT_THAT(testing::Strings(diags),
              ElementsAre("<request>: departments.sales.fallback.team: "
                          "warning: team \"idle\" has no active member: "
                          "customers routed here go to the overflow, then the "
                          "fallback, else stay unowned (NO_CAPACITY)"));
}

TEST_F(AnalyzerTest, ManyDistinctRulesShadowNothing) {
  std::string text = "ruleset: r\ndepartments:\n  sales:\n    rules:\n";
  for (int i = 0; i < 2000; ++i) {
    absl::StrAppend(&text, "      - {id: r", i, ", when: {region: {under: CN/R",
                    i,
                    "}, customer_type: [smb, enterprise], annual_revenue: "
                    "{gte: ",
                    i, "}}, assign: {team: ka}}\n");
  }
  absl::StrAppend(&text,
                  "      - {id: last, when: {region: {under: CN/R7/X}, "
                  "customer_type: smb, annual_revenue: {gte: 9}}, "
                  "assign: {team: ka}}\n    fallback: {pool: pool-a}\n");
  EXPECT_THAT(CheckRuleset(text, &roster_),
              ElementsAre("f.yaml:2005:9: departments.sales.rules[2000]: "
                          "warning: rule \"last\" can never match: earlier "
                          "rule \"r7\" (rules[7]) matches every customer it "
                          "would"));
}

}  // namespace
}  // namespace custodian::rules
