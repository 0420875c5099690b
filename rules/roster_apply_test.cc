#include "rules/roster_apply.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "rules/check.h"
#include "rules/front_testing.h"
#include "rules/validator.h"

namespace custodian::rules {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr absl::string_view kCurrent = R"(departments:
  - {id: sales, name: 销售部}
  - {id: service}
reps:
  - {id: ann, skills: [C]}
  - {id: bob}
  - {id: cat, status: away}
  - {id: dan}
teams:
  - id: ka
    department: sales
    members: [{rep: ann, capacity: 50}, {rep: bob}]
  - id: svc
    department: service
    members: [{rep: dan}]
  - id: pool-a
    department: sales
    pool: {claim_limit_per_day: 5}
)";

v1::Roster Roster(absl::string_view text) {
  std::vector<std::string> errors;
  v1::Roster roster = testing::RosterFromText(text, &errors);
  EXPECT_THAT(errors, IsEmpty()) << text;
  return roster;
}

std::string Join(const std::vector<v1::RosterChange>& changes) {
  std::vector<std::string> lines;
  for (const v1::RosterChange& c : changes) {
    lines.push_back(c.ShortDebugString());
  }
  return absl::StrJoin(lines, "\n");
}

// Expects `actual` to be exactly the changes given in text format, in order.
void ExpectChanges(const std::vector<v1::RosterChange>& actual,
                   const std::vector<absl::string_view>& expected) {
  std::vector<v1::RosterChange> want;
  for (absl::string_view text : expected) {
    v1::RosterChange c;
    ASSERT_TRUE(
        google::protobuf::TextFormat::ParseFromString(std::string(text), &c))
        << text;
    want.push_back(std::move(c));
  }
  bool same = actual.size() == want.size();
  for (size_t i = 0; same && i < want.size(); ++i) {
    same = MessageDifferencer::Equals(actual[i], want[i]);
  }
  EXPECT_TRUE(same) << "actual:\n"
                    << Join(actual) << "\nexpected:\n"
                    << Join(want);
}

std::vector<std::string> RosterErrors(const v1::Roster& roster) {
  Diagnostics diags("roster", nullptr);
  ValidateRoster(roster, &diags);
  return testing::Strings(diags);
}

TEST(ComputeRosterApplyTest, SameFileChangesNothing) {
  const v1::Roster current = Roster(kCurrent);
  RosterApplyResult result = ComputeRosterApply(current, Roster(kCurrent));
  EXPECT_THAT(result.changes, IsEmpty());
  EXPECT_TRUE(MessageDifferencer::Equals(result.roster, current));
}

TEST(ComputeRosterApplyTest, RepTheFileNoLongerNamesStaysAsLeft) {
  const v1::Roster file = Roster(R"(departments:
  - {id: sales, name: 销售部}
  - {id: service}
reps:
  - {id: ann, skills: [C]}
  - {id: dan}
teams:
  - id: ka
    department: sales
    members: [{rep: ann, capacity: 50}]
  - id: svc
    department: service
    members: [{rep: dan}]
  - id: pool-a
    department: sales
    pool: {claim_limit_per_day: 5}
)");
  RosterApplyResult result = ComputeRosterApply(Roster(kCurrent), file);
  ExpectChanges(
      result.changes,
      {R"pb(kind: MODIFIED
            resource: "reps/bob"
            changes { field: "status" before: "active" after: "left" })pb",
       R"pb(kind: MODIFIED
            resource: "reps/cat"
            changes { field: "status" before: "away" after: "left" })pb",
       R"pb(kind: MODIFIED
            resource: "teams/ka"
            changes { field: "members[bob]" before: "{rep: bob}" })pb"});
  std::vector<std::string> reps;
  for (const v1::Rep& r : result.roster.reps()) {
    reps.push_back(absl::StrCat(r.id(), ":", v1::RepStatus_Name(r.status())));
  }
  EXPECT_THAT(reps,
              ElementsAre("ann:ACTIVE", "dan:ACTIVE", "bob:LEFT", "cat:LEFT"));
  // A rep kept as LEFT is in no team, and the stored roster validates.
  EXPECT_THAT(RosterErrors(result.roster), IsEmpty());

  // Applying the same file again: the reps are already left.
  RosterApplyResult again = ComputeRosterApply(result.roster, file);
  EXPECT_THAT(again.changes, IsEmpty());
  EXPECT_TRUE(MessageDifferencer::Equals(again.roster, result.roster));
}

TEST(ComputeRosterApplyTest, RepNamedAgainBecomesActive) {
  v1::Roster current = Roster(kCurrent);
  current.mutable_reps(2)->set_status(v1::LEFT);  // cat
  const v1::Roster file = Roster(absl::StrReplaceAll(
      kCurrent, {{"{id: cat, status: away}", "{id: cat, name: Cat}"}}));
  RosterApplyResult result = ComputeRosterApply(current, file);
  ExpectChanges(
      result.changes,
      {R"pb(kind: MODIFIED
            resource: "reps/cat"
            changes { field: "name" before: "cat" after: "Cat" }
            changes { field: "status" before: "left" after: "active" })pb"});
  EXPECT_TRUE(MessageDifferencer::Equals(result.roster, file));
}

TEST(ComputeRosterApplyTest, FileStatusAndSkillsWin) {
  const v1::Roster file = Roster(absl::StrReplaceAll(
      kCurrent, {{"{id: ann, skills: [C]}", "{id: ann, skills: [C, C39]}"},
                 {"{id: cat, status: away}", "{id: cat}"},
                 {"{id: dan}", "{id: dan, status: left}"}}));
  RosterApplyResult result = ComputeRosterApply(Roster(kCurrent), file);
  ExpectChanges(
      result.changes,
      {R"pb(kind: MODIFIED
            resource: "reps/ann"
            changes { field: "skills" before: "[C]" after: "[C, C39]" })pb",
       R"pb(kind: MODIFIED
            resource: "reps/cat"
            changes { field: "status" before: "away" after: "active" })pb",
       R"pb(kind: MODIFIED
            resource: "reps/dan"
            changes { field: "status" before: "active" after: "left" })pb"});
}

TEST(ComputeRosterApplyTest, MemberCapacityWeightAndOrder) {
  const v1::Roster file = Roster(absl::StrReplaceAll(
      kCurrent, {{"members: [{rep: ann, capacity: 50}, {rep: bob}]",
                  "members: [{rep: bob, capacity: 10, weight: 3}, {rep: cat}, "
                  "{rep: ann, capacity: 60}]"}}));
  RosterApplyResult result = ComputeRosterApply(Roster(kCurrent), file);
  ExpectChanges(
      result.changes,
      {R"pb(kind: MODIFIED
            resource: "teams/ka"
            changes { field: "members[bob].capacity" before: "" after: "10" }
            changes { field: "members[bob].weight" before: "1" after: "3" }
            changes { field: "members[cat]" after: "{rep: cat}" }
            changes { field: "members[ann].capacity" before: "50" after: "60" }
            changes {
              field: "members"
              before: "[ann, bob]"
              after: "[bob, cat, ann]"
            })pb"});
}

TEST(ComputeRosterApplyTest, TeamRemovedAndDepartmentAdded) {
  const v1::Roster file = Roster(absl::StrReplaceAll(
      kCurrent, {{"  - id: pool-a\n    department: sales\n    pool: "
                  "{claim_limit_per_day: 5}\n",
                  "  - id: mkt\n    department: marketing\n    members: "
                  "[{rep: cat}]\n"},
                 {"  - {id: service}\n",
                  "  - {id: service, name: Service}\n  - {id: marketing}\n"}}));
  RosterApplyResult result = ComputeRosterApply(Roster(kCurrent), file);
  ExpectChanges(
      result.changes,
      {R"pb(kind: ADDED resource: "departments/marketing")pb",
       R"pb(kind: MODIFIED
            resource: "departments/service"
            changes { field: "name" before: "service" after: "Service" })pb",
       R"pb(kind: ADDED resource: "teams/mkt")pb",
       R"pb(kind: REMOVED resource: "teams/pool-a")pb"});
  EXPECT_TRUE(MessageDifferencer::Equals(result.roster, file));
}

TEST(ComputeRosterApplyTest, DepartmentRemovedAndRepAdded) {
  const v1::Roster file = Roster(R"(departments:
  - {id: sales, name: 销售部}
reps:
  - {id: ann, skills: [C]}
  - {id: bob}
  - {id: cat, status: away}
  - {id: dan}
  - {id: eve}
teams:
  - id: ka
    department: sales
    members: [{rep: ann, capacity: 50}, {rep: bob}]
  - id: pool-a
    department: sales
    pool: {claim_limit_per_day: 5}
)");
  RosterApplyResult result = ComputeRosterApply(Roster(kCurrent), file);
  ExpectChanges(result.changes, {R"pb(kind: REMOVED
                                      resource: "departments/service")pb",
                                 R"pb(kind: ADDED resource: "reps/eve")pb",
                                 R"pb(kind: REMOVED resource: "teams/svc")pb"});
}

TEST(ComputeRosterApplyTest, TeamDepartmentAndPoolSettings) {
  const v1::Roster file = Roster(absl::StrReplaceAll(
      kCurrent,
      {{"  - id: svc\n    department: service\n    members: [{rep: dan}]\n",
        "  - id: svc\n    department: sales\n    pool: {cooldown: 30d}\n"},
       {"pool: {claim_limit_per_day: 5}", "pool: {cooldown: 7d}"}}));
  RosterApplyResult result = ComputeRosterApply(Roster(kCurrent), file);
  ExpectChanges(
      result.changes,
      {R"pb(kind: MODIFIED
            resource: "teams/pool-a"
            changes { field: "pool.claim_limit_per_day" before: "5" after: "0" }
            changes { field: "pool.cooldown" before: "" after: "7d" })pb",
       R"pb(kind: MODIFIED
            resource: "teams/svc"
            changes { field: "department" before: "service" after: "sales" }
            changes { field: "members[dan]" before: "{rep: dan}" }
            changes { field: "pool" after: "{cooldown: 30d}" })pb"});
}

// ---------------------------------------------------------------------------
// Rules a roster would break.

constexpr absl::string_view kRuleset = R"(ruleset: r
departments:
  sales:
    rules:
      - id: ka-rule
        when: {segment: big}
        assign: {team: ka}
      - id: mfg-rule
        when: {industry: {under: C}}
        assign: {team: mfg}
      - id: ann-rule
        when: {tags: {any_of: [ann]}}
        assign: {rep: ann}
    fallback: {pool: pool-a}
segments:
  - name: big
    when: {annual_revenue: {gte: 1000}}
policies:
  recycling:
    - {department: sales, when: {sales_stage: lost}, to_pool: pool-a}
)";

constexpr absl::string_view kRosterForRules = R"(departments:
  - {id: sales}
reps:
  - {id: ann}
  - {id: bob}
teams:
  - {id: ka, department: sales, members: [{rep: ann}, {rep: bob}]}
  - {id: mfg, department: sales, members: [{rep: bob}]}
  - {id: pool-a, department: sales, pool: {}}
)";

v1::Ruleset ActiveRuleset() {
  const v1::Roster roster = Roster(kRosterForRules);
  auto check = CheckRulesetText(kRuleset, "r.yaml", &roster);
  EXPECT_TRUE(check->valid())
      << absl::StrJoin(testing::Strings(check->diagnostics), "\n");
  return check->ruleset;
}

// The roster after applying `file` text to kRosterForRules.
v1::Roster Applied(absl::string_view file) {
  return ComputeRosterApply(Roster(kRosterForRules), Roster(file)).roster;
}

std::vector<std::string> Strings(const std::vector<BrokenRule>& broken) {
  std::vector<std::string> out;
  for (const BrokenRule& b : broken) {
    out.push_back(
        absl::StrCat(b.department, "|", b.rule_id, "|", b.ToString()));
  }
  return out;
}

TEST(RulesBrokenByRosterTest, NothingBrokenByTheSameRoster) {
  EXPECT_THAT(RulesBrokenByRoster(ActiveRuleset(), Roster(kRosterForRules)),
              IsEmpty());
}

TEST(RulesBrokenByRosterTest, TeamThatDisappearsNamesTheRule) {
  const v1::Roster roster = Applied(absl::StrReplaceAll(
      kRosterForRules,
      {{"  - {id: mfg, department: sales, members: [{rep: bob}]}\n", ""}}));
  const std::vector<BrokenRule> broken =
      RulesBrokenByRoster(ActiveRuleset(), roster);
  EXPECT_THAT(Strings(broken),
              ElementsAre("sales|mfg-rule|departments.sales.rules[1].assign."
                          "team (rule mfg-rule): unknown team \"mfg\" (not in "
                          "the roster)"));
  EXPECT_EQ(SummarizeBrokenRules(broken),
            "the roster would break the active ruleset (1 problem): "
            "departments.sales.rules[1].assign.team (rule mfg-rule): unknown "
            "team \"mfg\" (not in the roster)");
}

TEST(RulesBrokenByRosterTest, RepThatLeavesTheFileBreaksItsFixedTarget) {
  const v1::Roster roster = Applied(R"(departments:
  - {id: sales}
reps:
  - {id: bob}
teams:
  - {id: ka, department: sales, members: [{rep: bob}]}
  - {id: mfg, department: sales, members: [{rep: bob}]}
  - {id: pool-a, department: sales, pool: {}}
)");
  // ann is kept as LEFT but is in no team any more.
  EXPECT_THAT(Strings(RulesBrokenByRoster(ActiveRuleset(), roster)),
              ElementsAre("sales|ann-rule|departments.sales.rules[2].assign."
                          "rep (rule ann-rule): rep \"ann\" is not a member "
                          "of any team of department sales; their capacity "
                          "there is undefined"));
}

TEST(RulesBrokenByRosterTest, LeftRepStillInATeamIsOnlyAWarning) {
  const v1::Roster roster = Applied(absl::StrReplaceAll(
      kRosterForRules, {{"  - {id: ann}\n", "  - {id: ann, status: left}\n"}}));
  EXPECT_THAT(RulesBrokenByRoster(ActiveRuleset(), roster), IsEmpty());
  // The analyzer still warns about it.
  auto check = CheckRulesetText(kRuleset, "r.yaml", &roster);
  EXPECT_THAT(testing::Strings(check->diagnostics),
              ::testing::Contains(::testing::HasSubstr("rep \"ann\" is left")));
}

TEST(RulesBrokenByRosterTest, PoolAndDepartmentRemovalBreakFallbackAndPolicy) {
  const v1::Roster roster = Applied(R"(departments:
  - {id: service}
reps:
  - {id: ann}
teams:
  - {id: ka, department: service, members: [{rep: ann}]}
)");
  const std::vector<BrokenRule> broken =
      RulesBrokenByRoster(ActiveRuleset(), roster);
  EXPECT_THAT(
      Strings(broken),
      ElementsAre(
          "sales||departments.sales: unknown department \"sales\" (not in "
          "the roster)",
          "sales|ka-rule|departments.sales.rules[0].assign.team (rule "
          "ka-rule): team \"ka\" belongs to department service, not sales",
          "sales|mfg-rule|departments.sales.rules[1].assign.team (rule "
          "mfg-rule): unknown team \"mfg\" (not in the roster)",
          "sales|ann-rule|departments.sales.rules[2].assign.rep (rule "
          "ann-rule): rep \"ann\" is not a member of any team of department "
          "sales; their capacity there is undefined",
          "sales|fallback|departments.sales.fallback.pool: unknown pool "
          "\"pool-a\" (not in the roster)",
          "||policies.recycling[0].department: unknown department \"sales\" "
          "(not in the roster)",
          "||policies.recycling[0].to_pool: unknown pool \"pool-a\" (not in "
          "the roster)"));
  EXPECT_EQ(SummarizeBrokenRules(broken, 2),
            "the roster would break the active ruleset (7 problems): "
            "departments.sales: unknown department \"sales\" (not in the "
            "roster); departments.sales.rules[0].assign.team (rule ka-rule): "
            "team \"ka\" belongs to department service, not sales; and 5 "
            "more");
}

TEST(RulesBrokenByRosterTest, ErrorsWithoutAnyRosterAreNotBlamedOnIt) {
  v1::Ruleset active = ActiveRuleset();
  active.mutable_departments(0)->mutable_rules(0)->clear_assign();
  EXPECT_THAT(RulesBrokenByRoster(active, Roster(kRosterForRules)), IsEmpty());
  EXPECT_EQ(SummarizeBrokenRules({}), "");
}

}  // namespace
}  // namespace custodian::rules
