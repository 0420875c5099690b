#include "server/assignment_planner.h"

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rules/compiled_ruleset.h"
#include "rules/loader.h"
#include "rules/validator.h"

namespace custodian::server {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr absl::string_view kRoster = R"(departments:
  - {id: sales}
  - {id: service}
reps:
  - {id: a1}
  - {id: a2}
  - {id: a3}
  - {id: w1}
  - {id: w2}
  - {id: w3}
  - {id: l1}
  - {id: l2}
  - {id: m1, skills: [C39]}
  - {id: m2, skills: [strategic, C]}
  - {id: m3}
  - {id: x-away, status: away}
  - {id: x-left, status: left}
  - {id: x-full}
  - {id: o1}
  - {id: fb1}
  - {id: solo}
  - {id: s1}
teams:
  - id: rr
    department: sales
    members: [{rep: a1}, {rep: a2}, {rep: a3}]
  - id: weighted
    department: sales
    members: [{rep: w1, weight: 3}, {rep: w2}, {rep: w3}]
  - id: least
    department: sales
    members: [{rep: l1}, {rep: l2}]
  - id: best
    department: sales
    members: [{rep: m1}, {rep: m2}, {rep: m3}]
  - id: full
    department: sales
    members: [{rep: x-away}, {rep: x-left}, {rep: x-full, capacity: 0}]
  - id: over
    department: sales
    members: [{rep: o1, capacity: 1}]
  - id: fb
    department: sales
    members: [{rep: fb1, capacity: 1}]
  - id: solo-team
    department: sales
    members: [{rep: solo, capacity: 1}]
  - id: sales-pool
    department: sales
    pool: {}
  - id: svc
    department: service
    members: [{rep: s1}]
)";

constexpr absl::string_view kRuleset = R"(ruleset: planner-test
departments:
  sales:
    rules:
      - id: rr
        when: {customer_type: rr}
        assign: {team: rr}
      - id: wt
        when: {customer_type: wt}
        assign: {team: weighted, strategy: weighted}
      - id: least
        when: {customer_type: least}
        assign: {team: least, strategy: least_loaded}
      - id: best
        when: {customer_type: best}
        assign: {team: best, strategy: best_match}
      - id: full
        when: {customer_type: full}
        assign: {team: full}
        overflow: {team: over}
      - id: vip
        when: {customer_type: vip}
        assign: {team: rr, requires_approval: true}
      - id: lead
        when: {customer_type: lead}
        assign: {pool: sales-pool}
      - id: fixed
        when: {customer_type: fixed}
        assign: {rep: solo}
      - id: fixed-approval
        when: {customer_type: fixed_vip}
        assign: {rep: solo, requires_approval: true}
    fallback: {team: fb}
  service:
    rules:
      - id: svc
        when: {region: {under: CN}}
        assign: {team: svc}
policies:
  capacity: {default_max_customers: 100}
  on_drift: DRIFT
)";

v1::Roster LoadTestRoster(absl::string_view text) {
  rules::Diagnostics diags("roster.yaml", nullptr);
  rules::LoadedRoster loaded = rules::LoadRoster(text, &diags);
  rules::ApplyRosterDefaults(&loaded.roster);
  rules::ValidateRoster(loaded.roster, &diags);
  for (const auto& d : diags.items()) ADD_FAILURE() << d.ToString();
  return loaded.roster;
}

std::shared_ptr<const rules::CompiledRuleset> CompileTestRuleset(
    absl::string_view text, const v1::Roster& roster) {
  rules::Diagnostics diags("ruleset.yaml", nullptr);
  rules::LoadedRuleset loaded = rules::LoadRuleset(text, &diags);
  rules::ApplyRulesetDefaults(&loaded.ruleset);
  rules::ValidateRuleset(loaded.ruleset, &roster, &diags);
  for (const auto& d : diags.items()) {
    if (d.severity == rules::Diagnostic::Severity::kError) {
      ADD_FAILURE() << d.ToString();
    }
  }
  auto compiled = rules::CompiledRuleset::Compile(loaded.ruleset);
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  return compiled.ok() ? std::shared_ptr<const rules::CompiledRuleset>(
                             std::move(*compiled))
                       : nullptr;
}

v1::Customer Customer(absl::string_view id, absl::string_view type) {
  v1::Customer c;
  c.set_id(std::string(id));
  c.set_customer_type(std::string(type));
  return c;
}

// The issue's name of a skip reason.
std::string ReasonName(v1::SkippedCandidate::Reason reason) {
  return v1::SkippedCandidate::Reason_Name(reason);
}

std::vector<std::string> Skipped(const v1::Ownership& o) {
  std::vector<std::string> out;
  for (const v1::SkippedCandidate& s : o.explanation().skipped()) {
    out.push_back(absl::StrCat(s.rep(), ":", ReasonName(s.reason())));
  }
  return out;
}

class PlannerTest : public ::testing::Test {
 protected:
  PlannerTest()
      : allocator_([this](absl::string_view key) -> absl::StatusOr<int64_t> {
          absl::MutexLock lock(&mu_);
          auto it = counters_.find(std::string(key));
          return it == counters_.end() ? 0 : it->second;
        }),
        planner_(&allocator_),
        roster_(LoadTestRoster(kRoster)) {
    UseRuleset("keep");
  }

  void UseRuleset(absl::string_view on_drift) {
    ruleset_ = CompileTestRuleset(
        absl::StrReplaceAll(kRuleset, {{"DRIFT", on_drift}}), roster_.roster());
    ASSERT_NE(ruleset_, nullptr);
  }

  // Plans `customer` against the stored ownerships, "commits" (stores the
  // changed ownerships, applies the counter and cursor changes as the
  // ownership commit would) and returns the plan.
  AssignmentPlan Assign(const v1::Customer& customer) {
    auto& current = owned_[customer.id()];
    PlanInput input;
    input.customer = &customer;
    input.ruleset = ruleset_.get();
    input.ruleset_version = 7;
    input.roster = &roster_;
    input.current = &current;
    input.now = now_;
    input.in_cooldown = cooldown_;
    absl::StatusOr<AssignmentPlan> plan =
        planner_.Plan(input, PickMode::kReserve);
    EXPECT_TRUE(plan.ok()) << plan.status();
    if (!plan.ok()) return AssignmentPlan();
    Commit(plan->departments);
    return std::move(*plan);
  }

  void Commit(std::vector<DepartmentPlan>& plans) {
    for (DepartmentPlan& d : plans) {
      for (const OwnedDelta& a : d.Adjustments()) {
        EXPECT_TRUE(allocator_.Preload(a.department, a.rep_id).ok());
      }
      {
        absl::MutexLock lock(&mu_);
        for (const OwnedDelta& o : d.owned_deltas) {
          counters_[TeamAllocator::OwnedCounterKey(o.department, o.rep_id)] +=
              o.delta;
        }
        if (auto add = d.CursorAdd()) counters_[add->first] += add->second;
      }
      if (d.changed) owned_[d.after.customer_id()][d.department] = d.after;
      d.Finish(allocator_);
    }
  }

  // The rep (or "pool:<id>", or the state) that owns `customer` in sales.
  std::string SalesOwner(const AssignmentPlan& plan) {
    const v1::Ownership& o = plan.departments[0].after;
    if (!o.rep().empty()) return o.rep();
    if (!o.pool().empty()) return absl::StrCat("pool:", o.pool());
    return v1::Ownership::State_Name(o.state());
  }

  int64_t Owned(absl::string_view rep) {
    auto load = allocator_.GetLoad("sales", rep);
    return load.has_value() ? load->owned : -1;
  }

  absl::Mutex mu_;
  std::map<std::string, int64_t> counters_ ABSL_GUARDED_BY(mu_);
  TeamAllocator allocator_;
  AssignmentPlanner planner_;
  RosterIndex roster_;
  std::shared_ptr<const rules::CompiledRuleset> ruleset_;
  std::map<std::string, absl::flat_hash_map<std::string, v1::Ownership>> owned_;
  absl::Time now_ = absl::FromUnixSeconds(1767225600);
  CooldownFn cooldown_;
};

// MemberReps: each member's rep, null for one the roster lacks, and the
// same after the index is moved (it points into its own roster).
TEST(RosterIndexTest, MemberRepsFollowTheMembersAndSurviveAMove) {
  v1::Roster roster;
  roster.add_reps()->set_id("r1");
  roster.add_reps()->set_id("r2");
  v1::Team* t = roster.add_teams();
  t->set_id("t");
  t->set_department("sales");
  t->add_members()->set_rep("r2");
  t->add_members()->set_rep("ghost");
  t->add_members()->set_rep("r1");
  auto check = [](const RosterIndex& index) {
    const v1::Team* team = index.FindTeam("t");
    ASSERT_NE(team, nullptr);
    absl::Span<const v1::Rep* const> reps = index.MemberReps(*team);
    ASSERT_EQ(reps.size(), 3u);
    EXPECT_EQ(reps[0], index.FindRep("r2"));
    EXPECT_EQ(reps[0]->id(), "r2");
    EXPECT_EQ(reps[1], nullptr);
    EXPECT_EQ(reps[2], index.FindRep("r1"));
    EXPECT_EQ(reps[2]->id(), "r1");
  };
  RosterIndex index(roster);
  check(index);
  EXPECT_TRUE(index.MemberReps(roster.teams(0)).empty());  // not its team

  RosterIndex moved(std::move(index));
  check(moved);
  RosterIndex assigned{v1::Roster()};
  assigned = std::move(moved);
  check(assigned);
}

TEST_F(PlannerTest, RoundRobinCyclesThroughMembersInOrder) {
  std::vector<std::string> picks;
  for (int i = 0; i < 7; ++i) {
    picks.push_back(SalesOwner(Assign(Customer(absl::StrCat("c", i), "rr"))));
  }
  EXPECT_THAT(picks, ElementsAre("a1", "a2", "a3", "a1", "a2", "a3", "a1"));
  EXPECT_EQ(Owned("a1"), 3);
  EXPECT_EQ(Owned("a2"), 2);
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(counters_[TeamAllocator::OwnedCounterKey("sales", "a1")], 3);
  // The stored cursor is 1 + the index of the last pick (a1).
  EXPECT_EQ(counters_[TeamAllocator::CursorCounterKey("rr")], 1);
}

TEST_F(PlannerTest, DryRunReservesNothingAndMovesNoCursor) {
  // Interleave dry runs with real picks: the real sequence is unchanged.
  auto dry = [&](absl::string_view type) {
    v1::Customer c = Customer("dry", type);
    absl::flat_hash_map<std::string, v1::Ownership> none;
    PlanInput input;
    input.customer = &c;
    input.ruleset = ruleset_.get();
    input.ruleset_version = 7;
    input.roster = &roster_;
    input.current = &none;
    input.now = now_;
    auto plan = planner_.Plan(input, PickMode::kDryRun);
    EXPECT_TRUE(plan.ok()) << plan.status();
    EXPECT_FALSE(plan->departments[0].reservation.has_value());
    EXPECT_FALSE(plan->departments[0].CursorAdd().has_value());
    return SalesOwner(*plan);
  };
  std::vector<std::string> rr;
  std::vector<std::string> wt;
  for (int i = 0; i < 5; ++i) {
    const std::string next_rr = dry("rr");
    EXPECT_EQ(dry("rr"), next_rr);
    rr.push_back(SalesOwner(Assign(Customer(absl::StrCat("r", i), "rr"))));
    EXPECT_EQ(rr.back(), next_rr);
    const std::string next_wt = dry("wt");
    EXPECT_EQ(dry("wt"), next_wt);
    wt.push_back(SalesOwner(Assign(Customer(absl::StrCat("w", i), "wt"))));
    EXPECT_EQ(wt.back(), next_wt);
  }
  EXPECT_THAT(rr, ElementsAre("a1", "a2", "a3", "a1", "a2"));
  EXPECT_THAT(wt, ElementsAre("w1", "w2", "w1", "w3", "w1"));
  EXPECT_EQ(allocator_.GetLoad("sales", "a1")->reserved, 0);
  EXPECT_EQ(Owned("a1"), 2);
}

TEST_F(PlannerTest, FirstAssignmentDescribesTheDecision) {
  v1::Customer c = Customer("c1", "rr");
  c.set_region("CN/East");
  AssignmentPlan plan = Assign(c);
  ASSERT_EQ(plan.departments.size(), 2u);
  const DepartmentPlan& sales = plan.departments[0];
  EXPECT_TRUE(sales.changed);
  EXPECT_FALSE(sales.before.has_value());
  EXPECT_EQ(sales.cause, v1::OwnershipEvent::RULE);
  const v1::Ownership& o = sales.after;
  EXPECT_EQ(o.customer_id(), "c1");
  EXPECT_EQ(o.department(), "sales");
  EXPECT_EQ(o.state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(o.rep(), "a1");
  EXPECT_EQ(o.team(), "rr");
  EXPECT_EQ(o.pool(), "");
  EXPECT_EQ(o.rule_id(), "rr");
  EXPECT_EQ(o.ruleset_version(), 7);
  EXPECT_EQ(o.since().seconds(), 1767225600);
  EXPECT_FALSE(o.drifted());
  EXPECT_EQ(o.explanation().team(), "rr");
  EXPECT_EQ(o.explanation().strategy(), "round_robin");
  EXPECT_EQ(o.explanation().target_used(), "rule");
  EXPECT_THAT(o.explanation().skipped(), IsEmpty());
  EXPECT_EQ(o.explanation().decision().kind(), v1::RULE);
  EXPECT_EQ(o.explanation().decision().rule_id(), "rr");
  EXPECT_EQ(o.explanation().decision().target().team(), "rr");
  EXPECT_THAT(sales.owned_deltas, ElementsAre(OwnedDelta{"sales", "a1", +1}));

  const DepartmentPlan& service = plan.departments[1];
  EXPECT_EQ(service.department, "service");
  EXPECT_EQ(service.after.rep(), "s1");
  EXPECT_EQ(service.after.rule_id(), "svc");
}

TEST_F(PlannerTest, NoMatchWithoutFallbackIsUnownedNoMatch) {
  AssignmentPlan plan = Assign(Customer("c1", "rr"));  // no region
  const DepartmentPlan& service = plan.departments[1];
  EXPECT_TRUE(service.changed);
  EXPECT_EQ(service.after.state(), v1::Ownership::UNOWNED);
  EXPECT_EQ(service.after.unowned_reason(), v1::Ownership::NO_MATCH);
  EXPECT_EQ(service.after.rule_id(), "");
  EXPECT_EQ(service.after.rep(), "");
  EXPECT_EQ(service.after.explanation().decision().kind(), v1::NO_MATCH);
  EXPECT_EQ(service.after.explanation().target_used(), "");
  EXPECT_FALSE(service.reservation.has_value());
  EXPECT_THAT(service.owned_deltas, IsEmpty());

  // Re-assigning changes nothing and writes nothing.
  AssignmentPlan again = Assign(Customer("c1", "rr"));
  EXPECT_FALSE(again.departments[1].changed);
  EXPECT_FALSE(again.departments[0].changed);
  EXPECT_FALSE(again.changed());
}

TEST_F(PlannerTest, WeightedFollowsSmoothWeights) {
  std::vector<std::string> picks;
  for (int i = 0; i < 10; ++i) {
    picks.push_back(SalesOwner(Assign(Customer(absl::StrCat("c", i), "wt"))));
  }
  EXPECT_THAT(picks, ElementsAre("w1", "w2", "w1", "w3", "w1", "w1", "w2", "w1",
                                 "w3", "w1"));
}

TEST_F(PlannerTest, LeastLoadedPicksFewestOwnedTiesByOrder) {
  // l2 already owns two customers.
  {
    absl::MutexLock lock(&mu_);
    counters_[TeamAllocator::OwnedCounterKey("sales", "l2")] = 2;
  }
  std::vector<std::string> picks;
  for (int i = 0; i < 5; ++i) {
    picks.push_back(
        SalesOwner(Assign(Customer(absl::StrCat("c", i), "least"))));
  }
  EXPECT_THAT(picks, ElementsAre("l1", "l1", "l1", "l2", "l1"));
  AssignmentPlan p = Assign(Customer("c9", "least"));
  EXPECT_EQ(p.departments[0].after.explanation().strategy(), "least_loaded");
}

TEST_F(PlannerTest, BestMatchCountsSkillsFromIndustryTagsAndSegments) {
  v1::Customer c = Customer("c1", "best");
  c.set_industry("C/C39/C391");
  c.add_tags("strategic");
  AssignmentPlan plan = Assign(c);
  EXPECT_EQ(SalesOwner(plan), "m2");  // C + strategic beats C39
  EXPECT_EQ(plan.departments[0].after.explanation().strategy(), "best_match");

  v1::Customer d = Customer("c2", "best");
  d.set_industry("C/C39");
  EXPECT_EQ(SalesOwner(Assign(d)), "m1");  // C39 and C tie: least loaded m1
  // No skill matches: least loaded, then member order (m3 owns nothing).
  EXPECT_EQ(SalesOwner(Assign(Customer("c3", "best"))), "m3");
}

TEST_F(PlannerTest, OverflowThenFallbackThenNoCapacityWithSkippedReasons) {
  AssignmentPlan first = Assign(Customer("c1", "full"));
  const v1::Ownership& o1 = first.departments[0].after;
  EXPECT_EQ(o1.rep(), "o1");
  EXPECT_EQ(o1.team(), "over");
  EXPECT_EQ(o1.rule_id(), "full");
  EXPECT_EQ(o1.explanation().target_used(), "overflow");
  EXPECT_EQ(o1.explanation().team(), "over");
  EXPECT_THAT(Skipped(o1),
              ElementsAre("x-away:AWAY", "x-left:LEFT", "x-full:AT_CAPACITY"));

  AssignmentPlan second = Assign(Customer("c2", "full"));
  const v1::Ownership& o2 = second.departments[0].after;
  EXPECT_EQ(o2.rep(), "fb1");
  EXPECT_EQ(o2.team(), "fb");
  EXPECT_EQ(o2.rule_id(), "full");
  EXPECT_EQ(o2.explanation().target_used(), "fallback");
  EXPECT_THAT(Skipped(o2), ElementsAre("x-away:AWAY", "x-left:LEFT",
                                       "x-full:AT_CAPACITY", "o1:AT_CAPACITY"));

  AssignmentPlan third = Assign(Customer("c3", "full"));
  const DepartmentPlan& d3 = third.departments[0];
  EXPECT_TRUE(d3.changed);
  EXPECT_EQ(d3.after.state(), v1::Ownership::UNOWNED);
  EXPECT_EQ(d3.after.unowned_reason(), v1::Ownership::NO_CAPACITY);
  EXPECT_EQ(d3.after.rule_id(), "full");
  EXPECT_EQ(d3.after.rep(), "");
  EXPECT_EQ(d3.after.team(), "");
  EXPECT_EQ(d3.after.explanation().team(), "full");  // the rule's team
  EXPECT_EQ(d3.after.explanation().target_used(), "");
  EXPECT_THAT(Skipped(d3.after),
              ElementsAre("x-away:AWAY", "x-left:LEFT", "x-full:AT_CAPACITY",
                          "o1:AT_CAPACITY", "fb1:AT_CAPACITY"));
  EXPECT_FALSE(d3.reservation.has_value());
  EXPECT_EQ(Owned("o1"), 1);
  EXPECT_EQ(Owned("fb1"), 1);

  // Once o1 has room again the unowned customer gets it on re-assign.
  allocator_.AdjustOwned("sales", "o1", -1);
  AssignmentPlan retry = Assign(Customer("c3", "full"));
  EXPECT_TRUE(retry.departments[0].changed);
  EXPECT_EQ(SalesOwner(retry), "o1");
}

TEST_F(PlannerTest, CooldownIsASkipReason) {
  cooldown_ = [](absl::string_view dept, absl::string_view rep) {
    return dept == "sales" && rep == "a1";
  };
  AssignmentPlan plan = Assign(Customer("c1", "rr"));
  EXPECT_EQ(SalesOwner(plan), "a2");
  EXPECT_THAT(Skipped(plan.departments[0].after), ElementsAre("a1:COOLDOWN"));
}

TEST_F(PlannerTest, RequiresApprovalMakesPendingWithThePickedRep) {
  AssignmentPlan plan = Assign(Customer("c1", "vip"));
  const v1::Ownership& o = plan.departments[0].after;
  EXPECT_EQ(o.state(), v1::Ownership::PENDING_APPROVAL);
  EXPECT_EQ(o.rep(), "a1");
  EXPECT_EQ(o.team(), "rr");
  EXPECT_EQ(Owned("a1"), 1);  // pending ownership holds capacity
  // Kept as pending on re-assign.
  AssignmentPlan again = Assign(Customer("c1", "vip"));
  EXPECT_FALSE(again.departments[0].changed);
  EXPECT_EQ(again.departments[0].after.state(),
            v1::Ownership::PENDING_APPROVAL);
}

TEST_F(PlannerTest, PoolTargetPoolsTheCustomer) {
  AssignmentPlan plan = Assign(Customer("c1", "lead"));
  const DepartmentPlan& d = plan.departments[0];
  EXPECT_EQ(d.after.state(), v1::Ownership::POOLED);
  EXPECT_EQ(d.after.pool(), "sales-pool");
  EXPECT_EQ(d.after.rep(), "");
  EXPECT_EQ(d.after.team(), "");
  EXPECT_EQ(d.after.explanation().target_used(), "rule");
  EXPECT_FALSE(d.reservation.has_value());
  EXPECT_THAT(d.owned_deltas, IsEmpty());
  EXPECT_FALSE(Assign(Customer("c1", "lead")).departments[0].changed);
}

TEST_F(PlannerTest, FixedRepOnlyWhileBelowCapacityThenFallback) {
  AssignmentPlan first = Assign(Customer("c1", "fixed"));
  const v1::Ownership& o = first.departments[0].after;
  EXPECT_EQ(o.state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(o.rep(), "solo");
  EXPECT_EQ(o.team(), "");
  EXPECT_EQ(o.explanation().strategy(), "");
  EXPECT_FALSE(first.departments[0].reservation_moves_cursor);
  EXPECT_EQ(Owned("solo"), 1);

  AssignmentPlan second = Assign(Customer("c2", "fixed"));
  const v1::Ownership& o2 = second.departments[0].after;
  EXPECT_EQ(o2.rep(), "fb1");
  EXPECT_EQ(o2.explanation().target_used(), "fallback");
  EXPECT_THAT(Skipped(o2), ElementsAre("solo:AT_CAPACITY"));
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(counters_.count(TeamAllocator::CursorCounterKey("rep:solo")), 0u);
}

TEST_F(PlannerTest, KeepsOwnerWhileTheTargetStillContainsIt) {
  AssignmentPlan first = Assign(Customer("c1", "rr"));
  ASSERT_EQ(SalesOwner(first), "a1");
  // Another rule with the same team (vip: rr with approval) still contains
  // a1: nothing changes, nothing is reserved, the cursor does not move.
  AssignmentPlan again = Assign(Customer("c1", "vip"));
  const DepartmentPlan& d = again.departments[0];
  EXPECT_FALSE(d.changed);
  EXPECT_FALSE(d.reservation.has_value());
  EXPECT_THAT(d.owned_deltas, IsEmpty());
  EXPECT_EQ(d.after.SerializeAsString(),
            first.departments[0].after.SerializeAsString());
  EXPECT_EQ(Owned("a1"), 1);
  EXPECT_EQ(SalesOwner(Assign(Customer("c2", "rr"))), "a2");
}

TEST_F(PlannerTest, DriftKeepMarksDriftedWithoutMoving) {
  ASSERT_EQ(SalesOwner(Assign(Customer("c1", "rr"))), "a1");
  AssignmentPlan drift = Assign(Customer("c1", "wt"));
  const DepartmentPlan& d = drift.departments[0];
  EXPECT_TRUE(d.changed);  // the flag flipped
  EXPECT_EQ(d.after.rep(), "a1");
  EXPECT_TRUE(d.after.drifted());
  EXPECT_EQ(d.after.rule_id(), "rr");  // still the decision that gave a1
  EXPECT_FALSE(d.reservation.has_value());
  EXPECT_THAT(d.owned_deltas, IsEmpty());
  // Still drifted: no change, no event.
  EXPECT_FALSE(Assign(Customer("c1", "wt")).departments[0].changed);
  // Back under a target that contains a1: the flag clears (a change).
  AssignmentPlan back = Assign(Customer("c1", "rr"));
  EXPECT_TRUE(back.departments[0].changed);
  EXPECT_FALSE(back.departments[0].after.drifted());
  EXPECT_EQ(back.departments[0].after.rep(), "a1");
  EXPECT_EQ(Owned("a1"), 1);
  EXPECT_EQ(Owned("w1"), -1);  // never loaded: never picked
}

TEST_F(PlannerTest, DriftReassignMovesTheCustomerAndTheCounters) {
  UseRuleset("reassign");
  ASSERT_EQ(SalesOwner(Assign(Customer("c1", "rr"))), "a1");
  AssignmentPlan moved = Assign(Customer("c1", "wt"));
  const DepartmentPlan& d = moved.departments[0];
  EXPECT_TRUE(d.changed);
  EXPECT_EQ(d.after.rep(), "w1");
  EXPECT_EQ(d.after.team(), "weighted");
  EXPECT_EQ(d.after.rule_id(), "wt");
  EXPECT_FALSE(d.after.drifted());
  ASSERT_TRUE(d.before.has_value());
  EXPECT_EQ(d.before->rep(), "a1");
  EXPECT_THAT(d.owned_deltas, ElementsAre(OwnedDelta{"sales", "a1", -1},
                                          OwnedDelta{"sales", "w1", +1}));
  EXPECT_EQ(Owned("a1"), 0);
  EXPECT_EQ(Owned("w1"), 1);
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(counters_[TeamAllocator::OwnedCounterKey("sales", "a1")], 0);
  EXPECT_EQ(counters_[TeamAllocator::OwnedCounterKey("sales", "w1")], 1);
}

TEST_F(PlannerTest, DriftReassignKeepsOwnerWhenNobodyIsEligible) {
  UseRuleset("reassign");
  ASSERT_EQ(SalesOwner(Assign(Customer("c1", "rr"))), "a1");
  // Fill o1 and fb1 so that `full` has no one.
  Assign(Customer("f1", "full"));
  Assign(Customer("f2", "full"));
  AssignmentPlan plan = Assign(Customer("c1", "full"));
  const DepartmentPlan& d = plan.departments[0];
  EXPECT_TRUE(d.changed);
  EXPECT_EQ(d.after.rep(), "a1");
  EXPECT_TRUE(d.after.drifted());
  EXPECT_THAT(d.owned_deltas, IsEmpty());
}

TEST_F(PlannerTest, FrozenOwnershipIsNeverMoved) {
  UseRuleset("reassign");
  ASSERT_EQ(SalesOwner(Assign(Customer("c1", "rr"))), "a1");
  owned_["c1"]["sales"].set_state(v1::Ownership::FROZEN);
  AssignmentPlan plan = Assign(Customer("c1", "wt"));
  const DepartmentPlan& d = plan.departments[0];
  EXPECT_FALSE(d.changed);
  EXPECT_EQ(d.after.state(), v1::Ownership::FROZEN);
  EXPECT_EQ(d.after.rep(), "a1");
  EXPECT_FALSE(d.after.drifted());
  EXPECT_FALSE(d.reservation.has_value());
  EXPECT_EQ(Owned("w1"), -1);
}

TEST_F(PlannerTest, OrphanedOwnershipGetsANewOwnerWhateverOnDrift) {
  ASSERT_EQ(SalesOwner(Assign(Customer("c1", "rr"))), "a1");
  owned_["c1"]["sales"].set_state(v1::Ownership::ORPHANED);
  AssignmentPlan plan = Assign(Customer("c1", "rr"));
  const DepartmentPlan& d = plan.departments[0];
  EXPECT_TRUE(d.changed);
  EXPECT_EQ(d.after.state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(d.after.rep(), "a2");
  EXPECT_THAT(d.owned_deltas, ElementsAre(OwnedDelta{"sales", "a1", -1},
                                          OwnedDelta{"sales", "a2", +1}));
}

TEST_F(PlannerTest, RejectPicksTheNextMemberOfTheSameTeam) {
  AssignmentPlan plan = Assign(Customer("c1", "vip"));
  ASSERT_EQ(plan.departments[0].after.rep(), "a1");
  const v1::Customer customer = Customer("c1", "vip");
  const v1::Ownership pending = owned_["c1"]["sales"];
  RejectInput input;
  input.customer = &customer;
  input.pending = &pending;
  input.ruleset = ruleset_.get();
  input.roster = &roster_;
  input.now = now_ + absl::Hours(1);
  absl::StatusOr<DepartmentPlan> reject = planner_.PlanReject(input);
  ASSERT_TRUE(reject.ok()) << reject.status();
  EXPECT_EQ(reject->cause, v1::OwnershipEvent::REJECTION);
  EXPECT_EQ(reject->after.state(), v1::Ownership::PENDING_APPROVAL);
  EXPECT_EQ(reject->after.rep(), "a2");
  EXPECT_EQ(reject->after.team(), "rr");
  EXPECT_EQ(reject->after.rule_id(), "vip");
  EXPECT_THAT(reject->owned_deltas, ElementsAre(OwnedDelta{"sales", "a1", -1},
                                                OwnedDelta{"sales", "a2", +1}));
  std::vector<DepartmentPlan> plans;
  plans.push_back(std::move(*reject));
  Commit(plans);
  EXPECT_EQ(Owned("a1"), 0);
  EXPECT_EQ(Owned("a2"), 1);
}

TEST_F(PlannerTest, RejectFallsBackThenNoCapacity) {
  // fixed_vip: rep solo with approval; then the fallback team fb (cap 1).
  AssignmentPlan plan = Assign(Customer("c1", "fixed_vip"));
  ASSERT_EQ(plan.departments[0].after.state(), v1::Ownership::PENDING_APPROVAL);
  ASSERT_EQ(plan.departments[0].after.rep(), "solo");
  const v1::Customer customer = Customer("c1", "fixed_vip");
  v1::Ownership pending = owned_["c1"]["sales"];
  RejectInput input;
  input.customer = &customer;
  input.pending = &pending;
  input.ruleset = ruleset_.get();
  input.roster = &roster_;
  input.now = now_;
  absl::StatusOr<DepartmentPlan> reject = planner_.PlanReject(input);
  ASSERT_TRUE(reject.ok()) << reject.status();
  EXPECT_EQ(reject->after.state(),
            v1::Ownership::ACTIVE);  // fallback needs no approval
  EXPECT_EQ(reject->after.rep(), "fb1");
  EXPECT_EQ(reject->after.explanation().target_used(), "fallback");
  std::vector<DepartmentPlan> plans;
  plans.push_back(std::move(*reject));
  Commit(plans);

  EXPECT_THAT(Skipped(owned_["c1"]["sales"]), IsEmpty());
  EXPECT_EQ(Owned("solo"), 0);
  // A second pending customer of solo: fb1 is full now.
  AssignmentPlan plan2 = Assign(Customer("c2", "fixed_vip"));
  ASSERT_EQ(plan2.departments[0].after.rep(), "solo");
  const v1::Customer customer2 = Customer("c2", "fixed_vip");
  pending = owned_["c2"]["sales"];
  input.customer = &customer2;
  reject = planner_.PlanReject(input);
  ASSERT_TRUE(reject.ok()) << reject.status();
  EXPECT_EQ(reject->after.state(), v1::Ownership::UNOWNED);
  EXPECT_EQ(reject->after.unowned_reason(), v1::Ownership::NO_CAPACITY);
  EXPECT_EQ(reject->after.rep(), "");
  EXPECT_THAT(Skipped(reject->after), ElementsAre("fb1:AT_CAPACITY"));
  EXPECT_THAT(reject->owned_deltas,
              ElementsAre(OwnedDelta{"sales", "solo", -1}));
}

TEST_F(PlannerTest, RejectRefusesAnOwnershipThatIsNotPending) {
  Assign(Customer("c1", "rr"));
  const v1::Customer customer = Customer("c1", "rr");
  const v1::Ownership active = owned_["c1"]["sales"];
  RejectInput input;
  input.customer = &customer;
  input.pending = &active;
  input.ruleset = ruleset_.get();
  input.roster = &roster_;
  EXPECT_EQ(planner_.PlanReject(input).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace custodian::server
