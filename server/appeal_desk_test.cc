#include "server/appeal_desk.h"

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/appeal_expiry_sweeper.h"
#include "server/pool_testing.h"
#include "server/request_checks.h"

namespace custodian::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The pool test's roster and rules, with disputes: panels of 3 from team t.
constexpr absl::string_view kDisputeRuleset = R"(ruleset: acme
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
      when: {last_activity_time: {older_than: 30d}}
      to_pool: p1
  disputes:
    panel: {team: t, size: 3}
    quorum: 2
    sla: 7d
    on_expiry: ON_EXPIRY
    reappeal_after: 30d
)";

AppealCaller As(absl::string_view id, RoleSet roles,
                std::set<std::string> departments = {"sales"}) {
  AppealCaller c;
  c.actor = Actor(std::string(id));
  c.roles = roles;
  c.departments = std::move(departments);
  return c;
}

const AppealCaller kManager = As("mgr", Roles({Role::kManager}));

class AppealDeskTest : public testing::PoolTest {
 protected:
  virtual std::string OnExpiry() const { return "uphold"; }
  virtual int PanelSize() const { return 3; }

  absl::string_view RulesetYaml() const override {
    ruleset_ = std::string(kDisputeRuleset);
    ruleset_.replace(ruleset_.find("ON_EXPIRY"), 9, OnExpiry());
    ruleset_.replace(ruleset_.find("size: 3"), 7,
                     absl::StrCat("size: ", PanelSize()));
    return ruleset_;
  }

  void SetUp() override {
    PoolTest::SetUp();
    MakeDesk();
  }
  void TearDown() override {
    expiry_.reset();
    appeals_.reset();
    PoolTest::TearDown();
  }
  void MakeDesk() {
    AppealDesk::Options options;
    options.store = store_.get();
    options.rulesets = rulesets_.get();
    options.book = book_.get();
    options.allocator = allocator_.get();
    options.clock = &clock_;
    auto desk = AppealDesk::Create(options);
    ASSERT_TRUE(desk.ok()) << desk.status();
    appeals_ = std::move(*desk);
    auto sweeper = AppealExpirySweeper::Create(
        {store_.get(), appeals_.get(), &clock_, 1000});
    ASSERT_TRUE(sweeper.ok()) << sweeper.status();
    expiry_ = std::move(*sweeper);
  }

  // Pools `customer` and lets `owner` claim it.
  void Own(absl::string_view customer, absl::string_view owner) {
    Pool(customer);
    MustClaim(customer, owner);
  }

  absl::StatusOr<v1::Appeal> File(absl::string_view customer,
                                  absl::string_view claimant,
                                  absl::string_view request_id = "") {
    v1::FileAppealRequest r;
    r.set_customer_id(std::string(customer));
    r.set_department("sales");
    r.set_claimant(std::string(claimant));
    r.set_reason("I met them first");
    r.add_evidence("https://crm.example/visits/1");
    r.set_request_id(request_id.empty()
                         ? absl::StrCat("file-", ++request_counter_)
                         : std::string(request_id));
    return appeals_->FileAppeal(r, As(claimant, Roles({Role::kRep})));
  }

  absl::StatusOr<v1::Appeal> Vote(const std::string& id,
                                  absl::string_view arbiter,
                                  v1::AppealVote::Decision d) {
    v1::CastVoteRequest r;
    r.set_appeal_id(id);
    r.set_decision(d);
    r.set_reason("read the evidence");
    r.set_request_id(absl::StrCat("vote-", ++request_counter_));
    return appeals_->CastVote(r, As(arbiter, Roles({Role::kArbiter})));
  }

  absl::StatusOr<v1::Appeal> Rule(const std::string& id,
                                  v1::AppealVote::Decision d,
                                  const AppealCaller& who = kManager,
                                  bool override_capacity = false) {
    v1::RuleOnAppealRequest r;
    r.set_appeal_id(id);
    r.set_decision(d);
    r.set_reason("manager decision");
    r.set_override_capacity(override_capacity);
    if (override_capacity) r.set_override_reason("strategic account");
    r.set_request_id(absl::StrCat("rule-", ++request_counter_));
    return appeals_->RuleOnAppeal(r, who);
  }

  static std::vector<std::string> Panel(const v1::Appeal& a) {
    std::vector<std::string> out;
    for (const v1::PanelSeat& s : a.panel()) out.push_back(s.arbiter());
    return out;
  }

  mutable std::string ruleset_;
  std::unique_ptr<AppealDesk> appeals_;
  std::unique_ptr<AppealExpirySweeper> expiry_;
};

TEST_F(AppealDeskTest, FilingFreezesTheOwnershipAndDrawsAPanelOfNonParties) {
  Own("c1", "r1");
  auto a = File("c1", "r2", "file-c1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->state(), v1::Appeal::OPEN);
  EXPECT_EQ(a->owner(), "r1");
  EXPECT_EQ(a->claimant(), "r2");
  EXPECT_THAT(Panel(*a), ElementsAre("r3", "r4", "r5"));
  EXPECT_EQ(a->quorum(), 2);
  EXPECT_FALSE(a->routed_to_managers());
  EXPECT_EQ(a->deadline().seconds(),
            absl::ToUnixSeconds(clock_.Now() + absl::Hours(24 * 7)));
  ASSERT_EQ(a->timeline_size(), 2);
  EXPECT_EQ(a->timeline(0).kind(), v1::AppealEntry::FILED);
  EXPECT_EQ(a->timeline(1).kind(), v1::AppealEntry::PANEL);
  EXPECT_EQ(Get("c1").state(), v1::Ownership::FROZEN);
  EXPECT_EQ(Get("c1").rep(), "r1");
  std::vector<v1::OwnershipEvent> events = Events("c1");
  EXPECT_EQ(events.back().cause(), v1::OwnershipEvent::APPEAL);
  EXPECT_EQ(events.back().appeal_id(), a->id());
  EXPECT_EQ(a->freeze_event_sequence(), events.back().sequence());
  EXPECT_EQ(Owned("r1"), 1);  // a frozen customer still counts

  // A retry gets the first answer and writes nothing.
  auto before = Dump();
  auto retry = File("c1", "r2", "file-c1");
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(SerializeDeterministic(*retry), SerializeDeterministic(*a));
  EXPECT_EQ(Dump(), before);
  // A second appeal on the ownership is ALREADY_EXISTS.
  EXPECT_EQ(File("c1", "r3").status().code(), absl::StatusCode::kAlreadyExists);
  // Nothing moves a frozen ownership.
  EXPECT_EQ(Claim("c1", "r3").code(), absl::StatusCode::kFailedPrecondition);
  auto release = desk_->Release(testing::ReleaseReq("c1", "p1", "rel-1"), "r1");
  EXPECT_EQ(release.status().code(), absl::StatusCode::kFailedPrecondition);
  // Recycling skips it even when its rule holds (no activity for 60 days);
  // expiry (the SLA is 7 days) is the appeal sweeper's.
  Own("c2", "r1");
  for (const char* c : {"c1", "c2"}) {
    v1::RecordActivityRequest activity;
    activity.set_customer_id(c);
    activity.set_department("sales");
    activity.set_kind(v1::RecordActivityRequest::CALL);
    *activity.mutable_at() = testing::Ts(clock_.Now());
    activity.set_request_id(absl::StrCat("activity-", c));
    ASSERT_TRUE(desk_->RecordActivity(activity, "crm").ok());
  }
  clock_.Advance(absl::Hours(24 * 60));
  auto recycled = sweeper_->SweepNow();
  ASSERT_TRUE(recycled.ok()) << recycled.status();
  EXPECT_EQ(recycled->recycled, 1);
  EXPECT_EQ(Get("c2").state(), v1::Ownership::POOLED);
  EXPECT_EQ(Get("c1").state(), v1::Ownership::FROZEN);
}

TEST_F(AppealDeskTest, FilingChecksTheOwnershipAndTheClaimant) {
  Own("c1", "r1");
  Pool("c2");
  auto before = Dump();
  auto s = File("c1", "nobody");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("claimant"));
  s = File("c1", "s1");  // only in a service team
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("not a member of any team of department sales"));
  s = File("c1", "r1");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("already owns"));
  s = File("c2", "r2");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("POOLED"));
  s = File("c9", "r2");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Dump(), before);
}

TEST_F(AppealDeskTest, PanelsGoToTheLeastRecentlySeatedFirst) {
  Own("c1", "r1");
  Own("c2", "r1");
  auto a1 = File("c1", "r2");
  ASSERT_TRUE(a1.ok()) << a1.status();
  auto a2 = File("c2", "r2");
  ASSERT_TRUE(a2.ok()) << a2.status();
  EXPECT_THAT(Panel(*a1), ElementsAre("r3", "r4", "r5"));
  EXPECT_THAT(Panel(*a2), ElementsAre("r6", "r3", "r4"));
  Own("c3", "r3");
  auto a3 = File("c3", "r2");  // r3 is a party now
  ASSERT_TRUE(a3.ok()) << a3.status();
  // r1, never seated, first; then r5 and r6, seated longest ago.
  EXPECT_THAT(Panel(*a3), ElementsAre("r1", "r5", "r6"));
}

TEST_F(AppealDeskTest, ThePanelDecidesAtQuorumAndOverturningMovesTheOwner) {
  Own("c1", "r1");
  auto a = File("c1", "r2");
  ASSERT_TRUE(a.ok()) << a.status();
  auto v = Vote(a->id(), "r3", v1::AppealVote::OVERTURN);
  ASSERT_TRUE(v.ok()) << v.status();
  v = Vote(a->id(), "r4", v1::AppealVote::UPHOLD);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->state(), v1::Appeal::OPEN);
  ASSERT_EQ(v->votes_size(), 2);
  v = Vote(a->id(), "r4", v1::AppealVote::OVERTURN);  // changes their vote
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->state(), v1::Appeal::OVERTURNED);
  EXPECT_EQ(v->ruling_source(), v1::Appeal::PANEL);
  EXPECT_EQ(v->ruled_by(), "custodiand");
  ASSERT_EQ(v->votes_size(), 2);
  EXPECT_EQ(v->votes(1).arbiter(), "r4");
  EXPECT_EQ(v->votes(1).decision(), v1::AppealVote::OVERTURN);
  EXPECT_EQ(v->timeline(v->timeline_size() - 1).kind(),
            v1::AppealEntry::RULING);
  v1::Ownership o = Get("c1");
  EXPECT_EQ(o.state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(o.rep(), "r2");
  EXPECT_EQ(o.team(), "t");
  EXPECT_EQ(Owned("r1"), 0);
  EXPECT_EQ(Owned("r2"), 1);
  // The overruled owner lost it: p1's 30 days (server/cooldowns.h).
  EXPECT_TRUE(desk_->InCooldown("c1", "sales", "r1"));
  EXPECT_FALSE(desk_->InCooldown("c1", "sales", "r2"));
  const v1::OwnershipEvent last = Events("c1").back();
  EXPECT_EQ(last.cause(), v1::OwnershipEvent::APPEAL_RULING);
  EXPECT_EQ(last.appeal_id(), a->id());
  EXPECT_EQ(last.before().state(), v1::Ownership::FROZEN);
  EXPECT_EQ(v->end_event_sequence(), last.sequence());
  // Once ruled, nobody votes or rules again.
  EXPECT_EQ(Vote(a->id(), "r5", v1::AppealVote::UPHOLD).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Rule(a->id(), v1::AppealVote::UPHOLD).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(AppealDeskTest, APartyNeverVotesOrRules) {
  Own("c1", "r1");
  auto a = File("c1", "r2");
  ASSERT_TRUE(a.ok()) << a.status();
  auto before = Dump();
  for (const char* party : {"r1", "r2"}) {
    EXPECT_EQ(Vote(a->id(), party, v1::AppealVote::OVERTURN).status().code(),
              absl::StatusCode::kPermissionDenied);
    auto r = Rule(a->id(), v1::AppealVote::OVERTURN,
                  As(party, Roles({Role::kManager, Role::kAdmin}), {"*"}));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("a party"));
  }
  // A manager of another department does not rule either.
  EXPECT_EQ(Rule(a->id(), v1::AppealVote::UPHOLD,
                 As("mgr2", Roles({Role::kManager}), {"service"}))
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Dump(), before);
}

TEST_F(AppealDeskTest, UpholdingUnfreezesAndOpensTheReappealWindow) {
  Own("c1", "r1");
  auto a = File("c1", "r2");
  ASSERT_TRUE(a.ok()) << a.status();
  auto r = Rule(a->id(), v1::AppealVote::UPHOLD);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->state(), v1::Appeal::UPHELD);
  EXPECT_EQ(r->ruling_source(), v1::Appeal::MANAGER);
  EXPECT_EQ(r->ruled_by(), "mgr");
  EXPECT_EQ(Get("c1").state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(Get("c1").rep(), "r1");
  EXPECT_FALSE(desk_->InCooldown("c1", "sales", "r1"));
  EXPECT_FALSE(desk_->InCooldown("c1", "sales", "r2"));
  clock_.Advance(absl::Hours(24 * 30) - absl::Seconds(1));
  auto early = File("c1", "r2");
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(early.status().message()),
              HasSubstr("allows a new appeal from 2026-01-31T00:00:00Z"));
  clock_.Advance(absl::Seconds(1));
  auto again = File("c1", "r2");
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST_F(AppealDeskTest, OverturningToAClaimantAtCapacityNeedsAnOverride) {
  Own("c1", "r1");
  Own("c2", "r1");  // r1 holds 2, its capacity
  Own("c3", "r2");
  auto a = File("c3", "r1");
  ASSERT_TRUE(a.ok()) << a.status();
  auto before = Dump();
  auto refused = Rule(a->id(), v1::AppealVote::OVERTURN);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("at capacity"));
  EXPECT_EQ(Dump(), before);
  auto forced = Rule(a->id(), v1::AppealVote::OVERTURN, kManager, true);
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_TRUE(forced->capacity_override());
  EXPECT_EQ(Get("c3").rep(), "r1");
  EXPECT_EQ(Owned("r1"), 3);
  EXPECT_EQ(Owned("r2"), 0);
}

TEST_F(AppealDeskTest, WithdrawalUnfreezesWithoutAReappealWindow) {
  Own("c1", "r1");
  auto a = File("c1", "r2");
  ASSERT_TRUE(a.ok()) << a.status();
  v1::WithdrawAppealRequest w;
  w.set_appeal_id(a->id());
  w.set_request_id("withdraw-1");
  EXPECT_EQ(appeals_->WithdrawAppeal(w, As("r3", Roles({Role::kRep})))
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  auto done = appeals_->WithdrawAppeal(w, As("r2", Roles({Role::kRep})));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::Appeal::WITHDRAWN);
  EXPECT_EQ(Get("c1").state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(Events("c1").back().cause(), v1::OwnershipEvent::APPEAL);
  EXPECT_TRUE(File("c1", "r2").ok());
}

TEST_F(AppealDeskTest, ConcurrentRulingsHaveOneWinner) {
  Own("c1", "r1");
  auto a = File("c1", "r2");
  ASSERT_TRUE(a.ok()) << a.status();
  std::vector<absl::StatusOr<v1::Appeal>> results(
      6, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      v1::RuleOnAppealRequest r;
      r.set_appeal_id(a->id());
      r.set_decision(i % 2 == 0 ? v1::AppealVote::UPHOLD
                                : v1::AppealVote::OVERTURN);
      r.set_reason("race");
      r.set_request_id(absl::StrCat("race-", i));
      results[i] = appeals_->RuleOnAppeal(r, kManager);
    });
  }
  for (std::thread& t : threads) t.join();
  int winners = 0;
  for (const auto& r : results) {
    if (r.ok()) {
      ++winners;
    } else {
      EXPECT_THAT(r.status().code(),
                  ::testing::AnyOf(absl::StatusCode::kFailedPrecondition,
                                   absl::StatusCode::kAborted))
          << r.status();
    }
  }
  EXPECT_EQ(winners, 1);
  EXPECT_EQ(Get("c1").state(), v1::Ownership::ACTIVE);
}

TEST_F(AppealDeskTest, StatsCountPerRepAndPerArbiter) {
  Own("c1", "r2");
  Own("c2", "r2");
  Own("c3", "r2");
  auto a1 = File("c1", "r1");  // panel r3 r4 r5
  auto a2 = File("c2", "r1");  // panel r6 r3 r4
  auto a3 = File("c3", "r1");  // panel r5 r6 r3
  ASSERT_TRUE(a1.ok() && a2.ok() && a3.ok());
  clock_.Advance(absl::Hours(2));
  ASSERT_TRUE(Vote(a1->id(), "r3", v1::AppealVote::OVERTURN).ok());
  clock_.Advance(absl::Hours(2));
  ASSERT_TRUE(Vote(a1->id(), "r4", v1::AppealVote::OVERTURN).ok());  // won
  ASSERT_TRUE(Vote(a2->id(), "r3", v1::AppealVote::UPHOLD).ok());
  ASSERT_TRUE(Rule(a2->id(), v1::AppealVote::UPHOLD).ok());  // lost
  v1::GetAppealStatsRequest r;
  auto stats = appeals_->GetAppealStats(r);
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(stats->reps_size(), 2);
  const v1::RepAppealStats& owner = stats->reps(1);
  EXPECT_EQ(owner.rep(), "r2");
  EXPECT_EQ(owner.filed(), 0);
  EXPECT_EQ(owner.defended(), 1);
  EXPECT_EQ(owner.overturned_against(), 1);
  const v1::RepAppealStats& claimant = stats->reps(0);
  EXPECT_EQ(claimant.rep(), "r1");
  EXPECT_EQ(claimant.filed(), 3);
  EXPECT_EQ(claimant.won(), 1);
  EXPECT_EQ(claimant.lost(), 1);
  EXPECT_EQ(claimant.pending(), 1);
  EXPECT_EQ(claimant.withdrawn(), 0);
  ASSERT_EQ(stats->arbiters_size(), 4);
  const v1::ArbiterAppealStats& r3 = stats->arbiters(0);
  EXPECT_EQ(r3.arbiter(), "r3");
  EXPECT_EQ(r3.seats(), 3);
  EXPECT_EQ(r3.votes(), 2);
  EXPECT_EQ(r3.awaiting_vote(), 1);                       // a3
  EXPECT_EQ(r3.mean_time_to_vote().seconds(), 3 * 3600);  // (2h + 4h) / 2
  const v1::ArbiterAppealStats& r4 = stats->arbiters(1);
  EXPECT_EQ(r4.arbiter(), "r4");
  EXPECT_EQ(r4.seats(), 2);
  EXPECT_EQ(r4.votes(), 1);
  EXPECT_EQ(r4.awaiting_vote(), 0);  // a2 is ruled
  EXPECT_EQ(r4.mean_time_to_vote().seconds(), 4 * 3600);
  // Another department has none.
  r.set_department("service");
  stats = appeals_->GetAppealStats(r);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->reps_size(), 0);
  EXPECT_EQ(stats->arbiters_size(), 0);
  r.set_department("Bad Dept");
  EXPECT_EQ(appeals_->GetAppealStats(r).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(AppealDeskTest, RetriedRulingsAndVotesGetTheFirstAnswer) {
  Own("c1", "r1");
  auto a = File("c1", "r2");
  ASSERT_TRUE(a.ok()) << a.status();
  v1::CastVoteRequest vote;
  vote.set_appeal_id(a->id());
  vote.set_decision(v1::AppealVote::UPHOLD);
  vote.set_reason("read it");
  vote.set_request_id("vote-once");
  const AppealCaller r3 = As("r3", Roles({Role::kArbiter}));
  auto first = appeals_->CastVote(vote, r3);
  ASSERT_TRUE(first.ok()) << first.status();
  auto before = Dump();
  auto again = appeals_->CastVote(vote, r3);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(SerializeDeterministic(*again), SerializeDeterministic(*first));
  EXPECT_EQ(Dump(), before);  // one VOTE entry, not two

  v1::RuleOnAppealRequest rule;
  rule.set_appeal_id(a->id());
  rule.set_decision(v1::AppealVote::OVERTURN);
  rule.set_reason("decided");
  rule.set_request_id("rule-once");
  auto ruled = appeals_->RuleOnAppeal(rule, kManager);
  ASSERT_TRUE(ruled.ok()) << ruled.status();
  before = Dump();
  auto retried = appeals_->RuleOnAppeal(rule, kManager);
  ASSERT_TRUE(retried.ok()) << retried.status();  // not FAILED_PRECONDITION
  EXPECT_EQ(SerializeDeterministic(*retried), SerializeDeterministic(*ruled));
  EXPECT_EQ(Dump(), before);
  EXPECT_EQ(Owned("r2"), 1);
  // The same id for another request is refused.
  rule.set_decision(v1::AppealVote::UPHOLD);
  EXPECT_EQ(appeals_->RuleOnAppeal(rule, kManager).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(AppealDeskTest, BadOptionsAndAPassLimitedSweep) {
  EXPECT_EQ(AppealDesk::Create(AppealDesk::Options()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      AppealExpirySweeper::Create({store_.get(), appeals_.get(), &clock_, 0})
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  auto one =
      AppealExpirySweeper::Create({store_.get(), appeals_.get(), &clock_, 1});
  ASSERT_TRUE(one.ok()) << one.status();
  Own("c1", "r1");
  Own("c2", "r3");
  ASSERT_TRUE(File("c1", "r2").ok());
  ASSERT_TRUE(File("c2", "r2").ok());
  clock_.Advance(absl::Hours(24 * 7));
  for (int pass = 0; pass < 2; ++pass) {
    auto stats = (*one)->SweepNow();
    ASSERT_TRUE(stats.ok()) << stats.status();
    EXPECT_EQ(stats->examined, 1);
    EXPECT_EQ(stats->upheld, 1);
  }
  auto stats = (*one)->SweepNow();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->examined, 0);
  EXPECT_EQ(Get("c1").state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(Get("c2").state(), v1::Ownership::ACTIVE);
}

TEST_F(AppealDeskTest, ExpiryUpholdsAtTheDeadlineAndNotBefore) {
  Own("c1", "r1");
  auto a = File("c1", "r2");
  ASSERT_TRUE(a.ok()) << a.status();
  clock_.Advance(absl::Hours(24 * 7) - absl::Seconds(1));
  auto stats = expiry_->SweepNow();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->examined, 0);
  clock_.Advance(absl::Seconds(1));
  stats = expiry_->SweepNow();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->upheld, 1);
  EXPECT_EQ(Get("c1").state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(Get("c1").rep(), "r1");
  stats = expiry_->SweepNow();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->examined, 0);
}

class AppealEscalateTest : public AppealDeskTest {
 protected:
  std::string OnExpiry() const override { return "escalate"; }
};

TEST_F(AppealEscalateTest, ExpiryEscalatesWithANewDeadlineThenUpholds) {
  Own("c1", "r1");
  auto a = File("c1", "r2");
  ASSERT_TRUE(a.ok()) << a.status();
  clock_.Advance(absl::Hours(24 * 7));
  auto stats = expiry_->SweepNow();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->escalated, 1);
  v1::GetAppealRequest g;
  g.set_appeal_id(a->id());
  auto got = appeals_->GetAppeal(g, kManager);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state(), v1::Appeal::ESCALATED);
  EXPECT_EQ(got->deadline().seconds(),
            absl::ToUnixSeconds(clock_.Now() + absl::Hours(24 * 7)));
  EXPECT_EQ(Get("c1").state(), v1::Ownership::FROZEN);
  // The panel no longer votes; the inbox of the managers holds it.
  EXPECT_EQ(Vote(a->id(), "r3", v1::AppealVote::UPHOLD).status().code(),
            absl::StatusCode::kFailedPrecondition);
  v1::ListAppealsRequest inbox;
  inbox.set_assigned_to_me(true);
  auto list = appeals_->ListAppeals(inbox, kManager);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->appeals_size(), 1);
  clock_.Advance(absl::Hours(24 * 7));
  stats = expiry_->SweepNow();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->upheld, 1);
  EXPECT_EQ(Get("c1").state(), v1::Ownership::ACTIVE);
}

class AppealOverturnTest : public AppealDeskTest {
 protected:
  std::string OnExpiry() const override { return "overturn"; }
};

TEST_F(AppealOverturnTest, ExpiryOverturns) {
  Own("c1", "r1");
  auto a = File("c1", "r2");
  ASSERT_TRUE(a.ok()) << a.status();
  clock_.Advance(absl::Hours(24 * 7));
  auto stats = expiry_->SweepNow();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->overturned, 1);
  EXPECT_EQ(Get("c1").rep(), "r2");
}

class AppealBigPanelTest : public AppealDeskTest {
 protected:
  int PanelSize() const override { return 5; }
};

TEST_F(AppealBigPanelTest, TooFewArbitersRouteTheAppealToTheManagers) {
  Own("c1", "r1");
  auto a = File("c1", "r2");  // eligible: r3..r6 (away1 is away)
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->routed_to_managers());
  EXPECT_EQ(a->panel_size(), 0);
  EXPECT_THAT(a->timeline(1).text(), HasSubstr("routed to the managers"));
  EXPECT_THAT(a->timeline(1).text(), HasSubstr("has 4 eligible arbiter(s)"));
  v1::ListAppealsRequest inbox;
  inbox.set_assigned_to_me(true);
  auto list = appeals_->ListAppeals(inbox, kManager);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->appeals_size(), 1);
  auto r = Rule(a->id(), v1::AppealVote::OVERTURN);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Get("c1").rep(), "r2");
}

}  // namespace
}  // namespace custodian::server
