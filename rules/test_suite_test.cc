#include "rules/test_suite.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rules/check.h"
#include "rules/loader.h"

namespace custodian::rules {
namespace {

using ::testing::ElementsAre;

class TestSuiteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = std::string(CUSTODIAN_SOURCE_DIR) + "/examples/";
    roster_ =
        CheckRosterText(*ReadTextFile(dir + "roster.yaml"), "roster.yaml");
    ASSERT_TRUE(roster_->valid());
    ruleset_ = CheckRulesetText(*ReadTextFile(dir + "ruleset.yaml"),
                                "ruleset.yaml", &roster_->roster);
    ASSERT_TRUE(ruleset_->valid());
    compiled_ = *CompiledRuleset::Compile(ruleset_->ruleset);
  }

  std::vector<std::string> Errors(const std::string& text) {
    Diagnostics diags("t.yaml", nullptr);
    LoadTestSuite(text, ruleset_->ruleset, &diags);
    std::vector<std::string> out;
    for (const Diagnostic& d : diags.Sorted()) out.push_back(d.ToString());
    return out;
  }

  std::unique_ptr<RosterCheck> roster_;
  std::unique_ptr<RulesetCheck> ruleset_;
  std::unique_ptr<const CompiledRuleset> compiled_;
};

TEST_F(TestSuiteTest, LoadsExpectationsAndTimes) {
  Diagnostics diags("t.yaml", nullptr);
  auto suite = LoadTestSuite(
      "at: 2026-06-01T00:00:00Z\n"
      "tests:\n"
      "  - name: one\n"
      "    at: 2026-07-01T00:00:00Z\n"
      "    customer: {id: c-1, region: CN/East, tags: [b, a]}\n"
      "    segments: [z, a]\n"
      "    expect:\n"
      "      sales: {rule: fallback, pool: unassigned-sales, "
      "requires_approval: false}\n"
      "      service: {rule: null}\n",
      ruleset_->ruleset, &diags);
  ASSERT_FALSE(diags.has_errors()) << diags.items()[0].ToString();
  ASSERT_EQ(suite->tests.size(), 1u);
  const TestCase& test = suite->tests[0];
  EXPECT_EQ(test.name, "one");
  EXPECT_EQ(test.location.line, 3);
  EXPECT_EQ(test.location.column, 5);
  EXPECT_EQ(*suite->at, absl::FromUnixSeconds(1780272000));
  EXPECT_EQ(*test.at, absl::FromUnixSeconds(1782864000));
  EXPECT_EQ(test.customer.id(), "c-1");
  EXPECT_THAT(*test.segments, ElementsAre("a", "z"));
  ASSERT_EQ(test.expectations.size(), 2u);
  EXPECT_EQ(test.expectations[0].department, "sales");
  EXPECT_EQ(*test.expectations[0].rule, "fallback");
  EXPECT_EQ(test.expectations[0].target_kind, v1::Target::kPool);
  EXPECT_EQ(test.expectations[0].target_name, "unassigned-sales");
  EXPECT_EQ(*test.expectations[0].requires_approval, false);
  EXPECT_EQ(*test.expectations[1].rule, "");
}

TEST_F(TestSuiteTest, ReportsEveryProblemLocated) {
  EXPECT_THAT(
      Errors("tests:\n"
             "  - name: a\n"
             "    customer: {id: c-1}\n"
             "    expect: {sales: {rule: x, team: t, pool: p}}\n"
             "  - name: a\n"
             "    customer: {id: 'bad id'}\n"
             "    expect: {sales: {strategy: fastest}}\n"
             "    colour: red\n"),
      ElementsAre(
          "t.yaml:4:40: tests[0].expect.sales.pool: a target names at most "
          "one of team, pool, rep",
          "t.yaml:5:5: tests[1].name: duplicate test name \"a\"",
          "t.yaml:6:16: tests[1].customer.id: customer id \"bad id\" must be "
          "1-128 "
          "characters of [A-Za-z0-9._:@-]",
          "t.yaml:7:22: tests[1].expect.sales.strategy: must be one of "
          "round_robin, weighted, least_loaded, best_match",
          "t.yaml:8:5: tests[1].colour: unknown key \"colour\" (allowed: "
          "name, at, customer, segments, expect)"));
}

TEST_F(TestSuiteTest, SyntaxErrorIsLocated) {
  EXPECT_THAT(Errors("tests: [\n  {name: x\n"),
              ElementsAre(::testing::StartsWith("t.yaml:")));
}

TEST_F(TestSuiteTest, RunReportsEachMismatch) {
  Diagnostics diags("t.yaml", nullptr);
  auto suite = LoadTestSuite(
      "tests:\n"
      "  - name: lead\n"
      "    at: 2026-06-01T00:00:00Z\n"
      "    customer: {id: c-1, region: CN/North/Beijing, sales_stage: lead}\n"
      "    segments: [key_account]\n"
      "    expect:\n"
      "      sales: {rule: new-leads-to-pool, team: ka-east, "
      "requires_approval: true}\n"
      "      service: {rule: service-cn, team: service-cn, "
      "strategy: round_robin}\n",
      ruleset_->ruleset, &diags);
  ASSERT_FALSE(diags.has_errors());
  TestOutcome outcome =
      RunTestCase(*compiled_, suite->tests[0], absl::UnixEpoch());
  EXPECT_EQ(outcome.at, absl::FromUnixSeconds(1780272000));
  ASSERT_EQ(outcome.mismatches.size(), 4u);
  EXPECT_EQ(outcome.mismatches[0].what, "segments");
  EXPECT_EQ(outcome.mismatches[0].expected, "[key_account]");
  EXPECT_EQ(outcome.mismatches[0].actual, "[]");
  EXPECT_EQ(outcome.mismatches[1].what, "sales.target");
  EXPECT_EQ(outcome.mismatches[1].expected, "team ka-east");
  EXPECT_EQ(outcome.mismatches[1].actual, "pool east-pool");
  EXPECT_EQ(outcome.mismatches[2].what, "sales.requires_approval");
  EXPECT_EQ(outcome.mismatches[3].what, "service.strategy");
  EXPECT_EQ(outcome.mismatches[3].expected, "round_robin");
  EXPECT_EQ(outcome.mismatches[3].actual, "least_loaded");
}

TEST_F(TestSuiteTest, PassingTestHasNoMismatches) {
  Diagnostics diags("t.yaml", nullptr);
  auto suite = LoadTestSuite(
      "tests:\n"
      "  - name: lead\n"
      "    customer: {id: c-1, region: US/West, sales_stage: lead}\n"
      "    expect:\n"
      "      sales: {rule: new-leads-to-pool, pool: east-pool}\n"
      "      service: {rule: fallback, team: service-global}\n",
      ruleset_->ruleset, &diags);
  ASSERT_FALSE(diags.has_errors());
  EXPECT_TRUE(
      RunTestCase(*compiled_, suite->tests[0], absl::UnixEpoch()).passed());
}

}  // namespace
}  // namespace custodian::rules
