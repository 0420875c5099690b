// Cooldowns of reps who lose a customer other than by Release or
// recycling (server/cooldowns.h): Transfer, an on_drift reassign, and the
// duration rules over a roster. Appeal overturns and review fixes are
// covered in appeal_desk_test.cc and review_runner_test.cc.
#include "server/cooldowns.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/pool_testing.h"

namespace custodian::server {
namespace {

using ::testing::HasSubstr;

class LossCooldownTest : public testing::PoolTest {
 protected:
  v1::Ownership MustTransfer(absl::string_view customer, absl::string_view rep,
                             absl::string_view pool = "") {
    v1::TransferRequest t;
    t.set_customer_id(std::string(customer));
    t.set_department("sales");
    if (!rep.empty()) t.set_rep(std::string(rep));
    if (!pool.empty()) t.set_pool(std::string(pool));
    t.set_reason("account plan");
    t.set_request_id(
        absl::StrCat("transfer-", customer, "-", rep, pool, "-", ++transfers_));
    auto o = assigner_->Transfer(t, "boss");
    EXPECT_TRUE(o.ok()) << o.status();
    return o.ok() ? *o : v1::Ownership();
  }

  int transfers_ = 0;
};

TEST_F(LossCooldownTest, TransferToAnotherRepCoolsTheLoserForTheLongestPool) {
  Pool("c1");
  MustClaim("c1", "r2");
  const absl::Time moved = clock_.Now() + absl::Hours(2);
  clock_.Set(moved);
  ASSERT_EQ(MustTransfer("c1", "r3").rep(), "r3");
  // p1 cools for 30 days, p2 not at all: the longer one holds.
  EXPECT_TRUE(desk_->InCooldown("c1", "sales", "r2"));
  EXPECT_FALSE(desk_->InCooldown("c1", "sales", "r3"));
  // r3 releases it into p2, which has no cooldown of its own.
  MustRelease("c1", "p2");
  EXPECT_FALSE(desk_->InCooldown("c1", "sales", "r3"));
  clock_.Set(moved + absl::Hours(24 * 30) - absl::Microseconds(1));
  absl::Status s = Claim("c1", "r2");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("cooldown until"));
  clock_.Set(moved + absl::Hours(24 * 30));
  EXPECT_FALSE(desk_->InCooldown("c1", "sales", "r2"));
  MustClaim("c1", "r2");
}

TEST_F(LossCooldownTest, TransferToAPoolCoolsForThatPool) {
  Pool("c1");
  MustClaim("c1", "r2");
  MustTransfer("c1", "", "p2");  // no cooldown
  EXPECT_FALSE(desk_->InCooldown("c1", "sales", "r2"));
  MustClaim("c1", "r2");
  const absl::Time moved = clock_.Now();
  MustTransfer("c1", "", "p1");  // 30 days
  EXPECT_TRUE(desk_->InCooldown("c1", "sales", "r2"));
  clock_.Set(moved + absl::Hours(24 * 30) - absl::Microseconds(1));
  EXPECT_TRUE(desk_->InCooldown("c1", "sales", "r2"));
  clock_.Set(moved + absl::Hours(24 * 30));
  EXPECT_FALSE(desk_->InCooldown("c1", "sales", "r2"));
}

TEST_F(LossCooldownTest, TransferOfAPooledCustomerStartsNoCooldown) {
  Pool("c1");
  MustTransfer("c1", "r2");  // from p1: nobody loses it
  MustTransfer("c1", "r2");  // already r2's: no change
  for (const char* rep : {"r1", "r2", "r3"}) {
    EXPECT_FALSE(desk_->InCooldown("c1", "sales", rep)) << rep;
  }
}

TEST_F(LossCooldownTest, ALaterLossNeverShortensAStoredCooldown) {
  Pool("c1");
  MustClaim("c1", "r2");
  const absl::Time first = clock_.Now();
  MustTransfer("c1", "", "p1");  // r2 until first + 30 days
  clock_.Set(first + absl::Hours(1));
  MustTransfer("c1", "r2");      // a manager may hand it back
  MustTransfer("c1", "", "p2");  // a zero cooldown leaves the record
  clock_.Set(first + absl::Hours(24 * 30) - absl::Microseconds(1));
  EXPECT_TRUE(desk_->InCooldown("c1", "sales", "r2"));
  clock_.Set(first + absl::Hours(24 * 30));
  EXPECT_FALSE(desk_->InCooldown("c1", "sales", "r2"));
}

// on_drift: reassign moves the customer away from its rep.
class DriftCooldownTest : public LossCooldownTest {
 protected:
  absl::string_view RulesetYaml() const override {
    static const std::string* const yaml = new std::string(
        absl::StrCat(testing::kRuleset, "policies:\n  on_drift: reassign\n"));
    return *yaml;
  }
};

TEST_F(DriftCooldownTest, ReassignOnDriftCoolsTheRepWhoLostIt) {
  AssignCustomer(testing::MakeCustomer("n1", "CN/North/Beijing"));
  const std::string rep = Get("n1").rep();
  ASSERT_FALSE(rep.empty());
  const absl::Time moved = clock_.Now();
  v1::UpdateCustomerRequest update;
  *update.mutable_customer() = testing::MakeCustomer("n1", "CN/East/Shanghai");
  update.set_request_id("update-n1");
  auto r = assigner_->UpdateCustomer(update, "crm");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(Get("n1").state(), v1::Ownership::POOLED);
  EXPECT_EQ(Get("n1").pool(), "p1");
  EXPECT_TRUE(desk_->InCooldown("n1", "sales", rep));
  clock_.Set(moved + absl::Hours(24 * 30));
  EXPECT_FALSE(desk_->InCooldown("n1", "sales", rep));
  // A new customer's first owner starts nobody's cooldown.
  AssignCustomer(testing::MakeCustomer("n2", "CN/North/Beijing"));
  EXPECT_FALSE(desk_->InCooldown("n2", "sales", Get("n2").rep()));
}

// ---------------------------------------------------------------------------
// Durations over a roster

v1::Roster TwoPoolRoster() {
  v1::Roster roster;
  roster.add_departments()->set_id("sales");
  roster.add_departments()->set_id("service");
  v1::Team* t = roster.add_teams();
  t->set_id("t");
  t->set_department("sales");
  v1::Team* short_pool = roster.add_teams();
  short_pool->set_id("short");
  short_pool->set_department("sales");
  short_pool->mutable_pool()->mutable_cooldown()->set_seconds(3600);
  v1::Team* long_pool = roster.add_teams();
  long_pool->set_id("long");
  long_pool->set_department("sales");
  long_pool->mutable_pool()->mutable_cooldown()->set_seconds(7200);
  long_pool->mutable_pool()->mutable_cooldown()->set_nanos(5);
  v1::Team* svc = roster.add_teams();
  svc->set_id("svc");
  svc->set_department("service");
  return roster;
}

v1::Ownership Pooled(absl::string_view department, absl::string_view pool) {
  v1::Ownership o;
  o.set_department(std::string(department));
  o.set_state(v1::Ownership::POOLED);
  o.set_pool(std::string(pool));
  return o;
}

TEST(LossCooldownDurationTest, PoolOrTheDepartmentsLongest) {
  const RosterIndex roster(TwoPoolRoster());
  EXPECT_EQ(LongestPoolCooldown(roster, "sales"),
            absl::Seconds(7200) + absl::Nanoseconds(5));
  EXPECT_EQ(LongestPoolCooldown(roster, "service"), absl::ZeroDuration());
  EXPECT_EQ(LossCooldown(roster, Pooled("sales", "short")), absl::Hours(1));
  v1::Ownership to_rep;
  to_rep.set_department("sales");
  to_rep.set_state(v1::Ownership::ACTIVE);
  to_rep.set_rep("r9");
  EXPECT_EQ(LossCooldown(roster, to_rep),
            absl::Seconds(7200) + absl::Nanoseconds(5));
  // A pool of another department, or one not in the roster: the longest.
  EXPECT_EQ(LossCooldown(roster, Pooled("sales", "svc")),
            absl::Seconds(7200) + absl::Nanoseconds(5));
  EXPECT_EQ(LossCooldown(roster, Pooled("sales", "gone")),
            absl::Seconds(7200) + absl::Nanoseconds(5));
  to_rep.set_department("service");
  EXPECT_EQ(LossCooldown(roster, to_rep), absl::ZeroDuration());
}

TEST(CooldownKeyTest, KeysOfACustomerShareItsPrefix) {
  const std::string prefix = CooldownPrefix("sales", "c1");
  EXPECT_EQ(CooldownKey("sales", "c1", "r1").substr(0, prefix.size()), prefix);
  EXPECT_NE(CooldownKey("sales", "c10", "r1").substr(0, prefix.size()), prefix);
  EXPECT_NE(CooldownKey("sales", "c1", "r1"), CooldownKey("sales", "c1", "r2"));
}

}  // namespace
}  // namespace custodian::server
