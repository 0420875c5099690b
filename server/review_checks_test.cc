// The pure review checks: scope matching and overlap, finding ids, and each
// check of CheckCustomer at its boundaries, on hand-built plans.
#include "server/review_checks.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custodian::server {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1767225600);

google::protobuf::Timestamp Ts(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  return ts;
}

v1::ReviewScope Scope(std::vector<std::string> departments,
                      std::vector<std::string> teams,
                      std::vector<std::string> reps) {
  v1::ReviewScope s;
  for (auto& d : departments) s.add_departments(d);
  for (auto& t : teams) s.add_teams(t);
  for (auto& r : reps) s.add_reps(r);
  return s;
}

TEST(ReviewScopeTest, InScopeNeedsEveryNamedDimension) {
  EXPECT_TRUE(InScope(Scope({}, {}, {}), "sales", "t", "r1"));
  EXPECT_TRUE(InScope(Scope({"sales"}, {}, {}), "sales", "", ""));
  EXPECT_FALSE(InScope(Scope({"service"}, {}, {}), "sales", "t", "r1"));
  EXPECT_TRUE(InScope(Scope({"sales"}, {"t"}, {}), "sales", "t", "r1"));
  EXPECT_FALSE(InScope(Scope({"sales"}, {"u"}, {}), "sales", "t", "r1"));
  EXPECT_FALSE(InScope(Scope({}, {}, {"r2"}), "sales", "t", "r1"));
  EXPECT_FALSE(InScope(Scope({}, {}, {"r1"}), "sales", "", ""));
}

TEST(ReviewScopeTest, ScopesOverlapUnlessDisjointOnADimensionBothName) {
  EXPECT_TRUE(ScopesOverlap(Scope({}, {}, {}), Scope({"sales"}, {}, {})));
  EXPECT_FALSE(
      ScopesOverlap(Scope({"sales"}, {}, {}), Scope({"service"}, {}, {})));
  EXPECT_TRUE(ScopesOverlap(Scope({"sales", "service"}, {}, {}),
                            Scope({"service"}, {}, {})));
  EXPECT_TRUE(ScopesOverlap(Scope({"sales"}, {}, {}), Scope({}, {}, {"r1"})));
  EXPECT_FALSE(ScopesOverlap(Scope({}, {}, {"r1"}), Scope({}, {}, {"r2"})));
  EXPECT_FALSE(ScopesOverlap(Scope({}, {"t"}, {}), Scope({}, {"u"}, {})));
}

TEST(FindingIdTest, StableAndDistinctPerKindCustomerDepartment) {
  const std::string id = FindingId("rev", v1::DRIFT, "c1", "sales");
  EXPECT_EQ(id.size(), 16u);
  EXPECT_EQ(id, FindingId("rev", v1::DRIFT, "c1", "sales"));
  EXPECT_NE(id, FindingId("rev", v1::STALE, "c1", "sales"));
  EXPECT_NE(id, FindingId("rev", v1::DRIFT, "c2", "sales"));
  EXPECT_NE(id, FindingId("rev", v1::DRIFT, "c1", "service"));
  EXPECT_NE(id, FindingId("rev2", v1::DRIFT, "c1", "sales"));
}

class CheckCustomerTest : public ::testing::Test {
 protected:
  CheckCustomerTest() : roster_(MakeRoster()) {
    record_.mutable_customer()->set_id("c1");
    policies_.mutable_review()->mutable_stale_after()->set_seconds(90 * 24 *
                                                                   3600);
    scope_ = v1::ReviewScope();
  }

  static v1::Roster MakeRoster() {
    v1::Roster roster;
    roster.add_departments()->set_id("sales");
    for (const char* id : {"r1", "r2"}) roster.add_reps()->set_id(id);
    v1::Rep* left = roster.add_reps();
    left->set_id("gone");
    left->set_status(v1::LEFT);
    v1::Team* t = roster.add_teams();
    t->set_id("t");
    t->set_department("sales");
    for (const char* id : {"r1", "r2", "gone"}) t->add_members()->set_rep(id);
    return roster;
  }

  // Stores an ownership of c1 in sales.
  v1::Ownership& Own(v1::Ownership::State state, const std::string& rep,
                     absl::Time since) {
    v1::Ownership& o = current_["sales"];
    o.set_customer_id("c1");
    o.set_department("sales");
    o.set_state(state);
    o.set_rep(rep);
    o.set_team(rep.empty() ? "" : "t");
    *o.mutable_since() = Ts(since);
    return o;
  }

  // The sales plan: `after` as planned, under decision `kind`.
  void Plan(const v1::Ownership& after, bool changed, v1::DecisionKind kind) {
    plan_.departments.clear();
    plan_.evaluation.clear_departments();
    DepartmentPlan d;
    d.department = "sales";
    d.after = after;
    d.changed = changed;
    plan_.departments.push_back(std::move(d));
    v1::DepartmentDecision* decision = plan_.evaluation.add_departments();
    decision->set_department("sales");
    decision->set_kind(kind);
    decision->set_rule_id(kind == v1::RULE ? "r" : "");
  }

  std::vector<v1::Finding> Run(CheckSet checks = AllChecks()) {
    CheckInput in;
    in.review_name = "reviews/x";
    in.review_id = "x";
    in.record = &record_;
    in.current = &current_;
    in.plan = plan_.departments.empty() ? nullptr : &plan_;
    in.roster = &roster_;
    in.policies = &policies_;
    in.scope = &scope_;
    in.checks = checks;
    in.now = kNow;
    in.pending_after = absl::Hours(24 * 7);
    return CheckCustomer(in);
  }

  static std::vector<v1::FindingKind> Kinds(const std::vector<v1::Finding>& f) {
    std::vector<v1::FindingKind> out;
    for (const v1::Finding& x : f) out.push_back(x.kind());
    return out;
  }

  storage::v1::CustomerRecord record_;
  absl::flat_hash_map<std::string, v1::Ownership> current_;
  AssignmentPlan plan_;
  RosterIndex roster_;
  v1::Policies policies_;
  v1::ReviewScope scope_;
};

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST_F(CheckCustomerTest, ContainedRecentOwnerHasNoFinding) {
  const v1::Ownership o =
      Own(v1::Ownership::ACTIVE, "r1", kNow - absl::Hours(1));
  Plan(o, false, v1::RULE);
  EXPECT_THAT(Run(), IsEmpty());
}

TEST_F(CheckCustomerTest, FrozenIsNeverReported) {
  v1::Ownership o =
      Own(v1::Ownership::FROZEN, "gone", kNow - absl::Hours(24 * 400));
  v1::Ownership drifted = o;
  drifted.set_drifted(true);
  Plan(drifted, true, v1::RULE);
  EXPECT_THAT(Run(), IsEmpty());
}

TEST_F(CheckCustomerTest, DriftWhenThePlanFlagsOrMovesTheOwner) {
  v1::Ownership o = Own(v1::Ownership::ACTIVE, "r1", kNow);
  v1::Ownership flagged = o;
  flagged.set_drifted(true);
  Plan(flagged, true, v1::RULE);
  std::vector<v1::Finding> f = Run();
  ASSERT_THAT(Kinds(f), ElementsAre(v1::DRIFT));
  EXPECT_TRUE(f[0].fixable());
  EXPECT_EQ(f[0].rep(), "r1");
  EXPECT_EQ(f[0].ownership_state(), "active");
  v1::Ownership moved = o;
  moved.set_rep("r2");
  Plan(moved, true, v1::RULE);
  f = Run();
  ASSERT_THAT(Kinds(f), ElementsAre(v1::DRIFT));
  EXPECT_EQ(f[0].proposed_fix(), "re-route to rep r2 (team t)");
  EXPECT_THAT(Run(CheckBit(v1::STALE)), IsEmpty());
}

TEST_F(CheckCustomerTest, OrphanedWhenTheRepLeftAndNothingElse) {
  v1::Ownership o =
      Own(v1::Ownership::ACTIVE, "gone", kNow - absl::Hours(24 * 400));
  v1::Ownership pick = o;
  pick.set_rep("r2");
  pick.set_rule_id("r");
  Plan(pick, true, v1::RULE);
  std::vector<v1::Finding> f = Run();
  ASSERT_THAT(Kinds(f), ElementsAre(v1::ORPHANED));
  EXPECT_TRUE(f[0].fixable());
  EXPECT_EQ(f[0].proposed_fix(), "re-assign to rep r2 (team t) (rule r)");
  // No one eligible: reported, not fixable.
  v1::Ownership none;
  none.set_state(v1::Ownership::UNOWNED);
  Plan(none, true, v1::RULE);
  f = Run();
  ASSERT_THAT(Kinds(f), ElementsAre(v1::ORPHANED));
  EXPECT_FALSE(f[0].fixable());
}

TEST_F(CheckCustomerTest, StaleAtExactlyStaleAfter) {
  record_.mutable_customer()->mutable_last_activity_time()->set_seconds(
      absl::ToUnixSeconds(kNow - absl::Hours(24 * 90)));
  const v1::Ownership o =
      Own(v1::Ownership::ACTIVE, "r1", kNow - absl::Hours(24 * 200));
  Plan(o, false, v1::RULE);
  EXPECT_THAT(Kinds(Run()), ElementsAre(v1::STALE));
  record_.mutable_customer()->mutable_last_activity_time()->set_seconds(
      absl::ToUnixSeconds(kNow - absl::Hours(24 * 90) + absl::Seconds(1)));
  EXPECT_THAT(Run(), IsEmpty());
}

TEST_F(CheckCustomerTest, PendingTooLongAtExactlyPendingAfter) {
  const v1::Ownership o =
      Own(v1::Ownership::PENDING_APPROVAL, "r1", kNow - absl::Hours(24 * 7));
  Plan(o, false, v1::RULE);
  std::vector<v1::Finding> f = Run();
  ASSERT_THAT(Kinds(f), ElementsAre(v1::PENDING_TOO_LONG));
  EXPECT_FALSE(f[0].fixable());
  Own(v1::Ownership::PENDING_APPROVAL, "r1",
      kNow - absl::Hours(24 * 7) + absl::Seconds(1));
  EXPECT_THAT(Run(), IsEmpty());
}

TEST_F(CheckCustomerTest, UnownedOnlyWhereARuleApplies) {
  v1::Ownership pick;
  pick.set_state(v1::Ownership::ACTIVE);
  pick.set_rep("r1");
  pick.set_team("t");
  pick.set_rule_id("r");
  Plan(pick, true, v1::RULE);  // no record at all
  std::vector<v1::Finding> f = Run();
  ASSERT_THAT(Kinds(f), ElementsAre(v1::UNOWNED));
  EXPECT_EQ(f[0].ownership_state(), "none");
  EXPECT_TRUE(f[0].fixable());
  v1::Ownership nobody;
  nobody.set_state(v1::Ownership::UNOWNED);
  nobody.set_unowned_reason(v1::Ownership::NO_MATCH);
  Plan(nobody, true, v1::NO_MATCH);
  EXPECT_THAT(Run(), IsEmpty());
  // A rep-scoped review never reports unowned customers.
  Plan(pick, true, v1::RULE);
  scope_.add_reps("r1");
  EXPECT_THAT(Run(), IsEmpty());
}

TEST_F(CheckCustomerTest, OutOfScopeDepartmentIsSkipped) {
  Own(v1::Ownership::ACTIVE, "gone", kNow);
  scope_.add_departments("service");
  EXPECT_THAT(Run(), IsEmpty());
}

}  // namespace
}  // namespace custodian::server
