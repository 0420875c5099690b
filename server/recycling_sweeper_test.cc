#include "server/recycling_sweeper.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/pool_testing.h"

namespace custodian::server {
namespace {

using ::testing::HasSubstr;
using testing::MakeCustomer;
using testing::T0;
using testing::Ts;

// Customers in CN/North go to team t (round robin: r1 first); an ownership
// of sales with no follow-up for 30 days and not won goes back to p1, but
// not within 14 days of its owner getting it.
constexpr absl::string_view kRecyclingRuleset = R"(ruleset: acme
departments:
  sales:
    rules:
      - id: north
        when: {region: {under: CN/North}}
        assign: {team: t}
    fallback: {pool: p1}
policies:
  recycling:
    - department: sales
      when: {last_activity_time: {older_than: 30d}, sales_stage: {not_in: [won]}}
      to_pool: p1
  protection: {new_owner: 14d}
)";

class RecyclingSweeperTest : public testing::PoolTest {
 protected:
  absl::string_view RulesetYaml() const override { return kRecyclingRuleset; }

  // Assigns a CN/North customer last followed up at `last_activity`.
  void Own(absl::string_view id, absl::Time last_activity,
           absl::string_view stage = "qualified") {
    v1::Customer c = MakeCustomer(id, "CN/North/Beijing");
    c.set_sales_stage(std::string(stage));
    *c.mutable_last_activity_time() = Ts(last_activity);
    AssignCustomer(c);
  }

  RecyclingSweeper::Stats MustSweep() {
    auto stats = sweeper_->SweepNow();
    EXPECT_TRUE(stats.ok()) << stats.status();
    return stats.ok() ? *stats : RecyclingSweeper::Stats();
  }
};

const absl::Duration kDays30 = absl::Hours(24 * 30);

TEST_F(RecyclingSweeperTest, RecyclesJustAfterTheRuleStartsToHold) {
  Own("n1", T0());
  ASSERT_EQ(Get("n1").rep(), "r1");
  ASSERT_EQ(Owned("r1"), 1);
  // older_than 30d holds once the last activity is more than 30 days old.
  clock_.Set(T0() + kDays30);
  RecyclingSweeper::Stats stats = MustSweep();
  EXPECT_EQ(stats.examined, 1);
  EXPECT_EQ(stats.recycled, 0);
  EXPECT_EQ(Get("n1").state(), v1::Ownership::ACTIVE);

  clock_.Set(T0() + kDays30 + absl::Microseconds(1));
  stats = MustSweep();
  EXPECT_EQ(stats.recycled, 1);
  v1::Ownership o = Get("n1");
  EXPECT_EQ(o.state(), v1::Ownership::POOLED);
  EXPECT_EQ(o.pool(), "p1");
  EXPECT_EQ(Owned("r1"), 0);
  std::vector<v1::OwnershipEvent> events = Events("n1");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].cause(), v1::OwnershipEvent::RECYCLE);
  EXPECT_EQ(events[1].actor(), "custodiand");
  EXPECT_THAT(events[1].reason(), HasSubstr("policies.recycling[0]"));
  EXPECT_EQ(events[1].before().rep(), "r1");
  // The rep who lost it is in p1's cooldown (30 days) for it.
  EXPECT_TRUE(desk_->InCooldown("n1", "sales", "r1"));
  EXPECT_EQ(Claim("n1", "r1").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Claim("n1", "r2").ok());
}

TEST_F(RecyclingSweeperTest, SweepingAgainRecyclesNothing) {
  Own("n1", T0());
  clock_.Set(T0() + kDays30 + absl::Hours(1));
  EXPECT_EQ(MustSweep().recycled, 1);
  auto before = Dump();
  RecyclingSweeper::Stats stats = MustSweep();
  EXPECT_EQ(stats.examined, 0);
  EXPECT_EQ(stats.recycled, 0);
  EXPECT_EQ(Dump(), before);
}

TEST_F(RecyclingSweeperTest, RecordedActivityResetsTheClock) {
  Own("n1", T0());
  clock_.Set(T0() + absl::Hours(24 * 29));
  v1::RecordActivityRequest r;
  r.set_customer_id("n1");
  r.set_department("sales");
  r.set_kind(v1::RecordActivityRequest::VISIT);
  *r.mutable_at() = Ts(clock_.Now());
  r.set_request_id("visit-1");
  ASSERT_TRUE(desk_->RecordActivity(r, "crm").ok());
  const absl::Time visited = clock_.Now();
  clock_.Set(T0() + kDays30 + absl::Hours(1));
  EXPECT_EQ(MustSweep().recycled, 0);
  clock_.Set(visited + kDays30);
  EXPECT_EQ(MustSweep().recycled, 0);
  clock_.Set(visited + kDays30 + absl::Microseconds(1));
  EXPECT_EQ(MustSweep().recycled, 1);
}

TEST_F(RecyclingSweeperTest, ProtectsANewOwnerUntilTheBoundary) {
  // Long neglected, but its owner got it only now.
  const absl::Time owned = T0() + absl::Hours(24 * 100);
  clock_.Set(owned);
  Own("n1", T0());
  clock_.Set(owned + absl::Hours(24 * 14) - absl::Microseconds(1));
  RecyclingSweeper::Stats stats = MustSweep();
  EXPECT_EQ(stats.recycled, 0);
  EXPECT_EQ(stats.protected_owner, 1);
  EXPECT_EQ(Get("n1").state(), v1::Ownership::ACTIVE);
  clock_.Set(owned + absl::Hours(24 * 14));
  stats = MustSweep();
  EXPECT_EQ(stats.recycled, 1);
  EXPECT_EQ(stats.protected_owner, 0);
}

TEST_F(RecyclingSweeperTest, LeavesFrozenAndWonOwnershipAlone) {
  Own("n1", T0());
  Own("n2", T0(), "won");
  Freeze("n1", "r1");
  clock_.Set(T0() + kDays30 * 3);
  auto before = Dump();
  RecyclingSweeper::Stats stats = MustSweep();
  EXPECT_EQ(stats.recycled, 0);
  EXPECT_EQ(Get("n1").state(), v1::Ownership::FROZEN);
  EXPECT_EQ(Get("n2").state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(Dump(), before);
}

TEST_F(RecyclingSweeperTest, ResumesAnInterruptedPassFromItsStoredCursor) {
  CloseAll();
  sweeper_batch_size_ = 2;
  OpenAll();
  for (int i = 0; i < 5; ++i) Own(absl::StrCat("n", i), T0());
  clock_.Set(T0() + kDays30 + absl::Hours(1));

  RecyclingSweeper::Stats stats;
  auto done = sweeper_->SweepBatch(&stats);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_FALSE(*done);
  EXPECT_EQ(stats.recycled, 2);
  EXPECT_EQ(Get("n0").state(), v1::Ownership::POOLED);
  EXPECT_EQ(Get("n2").state(), v1::Ownership::ACTIVE);
  std::string cursor;
  {
    auto snapshot = store_->NewSnapshot();
    ASSERT_TRUE(snapshot.ok());
    EXPECT_TRUE(
        (*snapshot)
            ->Get(storage::Table::kOperations, RecycleCursorKey(), &cursor)
            .ok());
  }

  // A restart: a new sweeper over the reopened store resumes the pass.
  CloseAll();
  OpenAll();
  stats = MustSweep();
  EXPECT_EQ(stats.recycled, 3);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Get(absl::StrCat("n", i)).state(), v1::Ownership::POOLED);
  }
  auto snapshot = store_->NewSnapshot();
  ASSERT_TRUE(snapshot.ok());
  EXPECT_TRUE(absl::IsNotFound((*snapshot)->Get(storage::Table::kOperations,
                                                RecycleCursorKey(), &cursor)));
}

TEST_F(RecyclingSweeperTest, DoesNothingWithoutARecyclingPolicy) {
  CloseAll();
  OpenAll();
  // The ruleset of PoolTest has no recycling rule.
  MustCreate(testing::kRuleset, "ruleset-2");
  MustActivate(2, "activate-2");
  Own("n1", T0());
  clock_.Set(T0() + kDays30 * 12);
  RecyclingSweeper::Stats stats = MustSweep();
  EXPECT_EQ(stats.examined, 0);
  EXPECT_EQ(Get("n1").state(), v1::Ownership::ACTIVE);
}

TEST(RecyclingSweeperOptionsTest, RejectsBadOptions) {
  RecyclingSweeper::Options options;
  options.batch_size = 0;
  auto sweeper = RecyclingSweeper::Create(options);
  EXPECT_EQ(sweeper.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(sweeper.status().message()), HasSubstr("batch_size"));
}

}  // namespace
}  // namespace custodian::server
