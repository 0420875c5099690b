#include "server/pool_desk.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/pool_testing.h"
#include "server/request_checks.h"

namespace custodian::server {
namespace {

using ::testing::HasSubstr;
using PoolDeskTest = testing::PoolTest;
using testing::ClaimReq;
using testing::ReleaseReq;
using testing::Ts;

// ---------------------------------------------------------------------------
// Claim

TEST_F(PoolDeskTest, ClaimMovesAPooledCustomerToTheRep) {
  Pool("c1");
  ASSERT_EQ(Get("c1").state(), v1::Ownership::POOLED);
  clock_.Advance(absl::Hours(1));
  v1::Ownership o = MustClaim("c1", "r2");
  EXPECT_EQ(o.state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(o.rep(), "r2");
  EXPECT_EQ(o.team(), "t");
  EXPECT_EQ(o.pool(), "");
  EXPECT_EQ(o.since().seconds(), absl::ToUnixSeconds(clock_.Now()));
  EXPECT_EQ(Get("c1").rep(), "r2");
  EXPECT_EQ(Owned("r2"), 1);
  EXPECT_EQ(*book_->ReadCounter(PoolSizeCounterKey("sales", "p1")), 0);
  std::vector<v1::OwnershipEvent> events = Events("c1");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].cause(), v1::OwnershipEvent::CLAIM);
  EXPECT_EQ(events[1].actor(), "r2");
  EXPECT_EQ(events[1].before().pool(), "p1");
  EXPECT_EQ(events[1].after().rep(), "r2");
}

TEST_F(PoolDeskTest, ClaimRetryWithTheSameRequestIdGetsTheFirstAnswer) {
  Pool("c1");
  auto first = desk_->Claim(ClaimReq("c1", "r2", "req-1"), "r2");
  ASSERT_TRUE(first.ok()) << first.status();
  auto before = Dump();
  auto retry = desk_->Claim(ClaimReq("c1", "r2", "req-1"), "r2");
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(SerializeDeterministic(*retry), SerializeDeterministic(*first));
  EXPECT_EQ(Dump(), before);
  // The same id for another request is refused.
  auto other = desk_->Claim(ClaimReq("c1", "r3", "req-1"), "r3");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PoolDeskTest, ConcurrentClaimsOfOneCustomerHaveOneWinner) {
  Pool("c1");
  const std::vector<std::string> reps = {"r2", "r3", "r4", "r5", "r6"};
  std::vector<absl::StatusOr<v1::Ownership>> results(
      reps.size() * 2, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      const std::string& rep = reps[i % reps.size()];
      results[i] = desk_->Claim(
          ClaimReq("c1", rep, absl::StrCat("concurrent-", i)), rep);
    });
  }
  for (std::thread& t : threads) t.join();
  int winners = 0;
  std::string winner;
  for (const auto& r : results) {
    if (r.ok()) {
      ++winners;
      winner = r->rep();
    }
  }
  ASSERT_EQ(winners, 1);
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].ok()) continue;
    EXPECT_EQ(results[i].status().code(), absl::StatusCode::kFailedPrecondition)
        << results[i].status();
    EXPECT_THAT(std::string(results[i].status().message()),
                HasSubstr(absl::StrCat("\"", winner, "\"")));
  }
  EXPECT_EQ(Get("c1").rep(), winner);
  EXPECT_EQ(Owned(winner), 1);
  EXPECT_EQ(Events("c1").size(), 2u);
}

TEST_F(PoolDeskTest, ClaimOfAnotherRepsCustomerNamesTheOwnerAndTheAppeal) {
  Pool("c1");
  MustClaim("c1", "r2");
  auto before = Dump();
  absl::Status s = Claim("c1", "r3");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("owned by rep \"r2\""));
  EXPECT_THAT(std::string(s.message()), HasSubstr("appeal"));
  // The owner claiming again is told it is theirs.
  s = Claim("c1", "r2");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("already owned"));
  EXPECT_EQ(Dump(), before);
}

TEST_F(PoolDeskTest, HoldingLimitIsTheRepsCapacityExactly) {
  Pool("c1");
  Pool("c2");
  Pool("c3");
  MustClaim("c1", "r1");
  MustClaim("c2", "r1");  // r1 now holds 2 = its capacity
  auto before = Dump();
  absl::Status s = Claim("c3", "r1");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("at capacity (2"));
  EXPECT_EQ(Dump(), before);
  // One released: room for exactly one more.
  MustRelease("c1", "p2");
  EXPECT_EQ(Owned("r1"), 1);
  MustClaim("c3", "r1");
  EXPECT_EQ(Owned("r1"), 2);
}

TEST_F(PoolDeskTest, DailyClaimLimitHoldsUntilTheNextUtcDay) {
  for (const char* id : {"c1", "c2", "c3", "c4"}) Pool(id);
  clock_.Set(testing::T0() + absl::Hours(23));  // T0 is midnight UTC
  MustClaim("c1", "r2");
  MustClaim("c2", "r2");
  MustClaim("c3", "r2");  // the 3rd of claim_limit_per_day: 3
  absl::Status s = Claim("c4", "r2");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("claim_limit_per_day of 3"));
  // The last instant of the day: still refused.
  clock_.Set(testing::T0() + absl::Hours(24) - absl::Microseconds(1));
  s = Claim("c4", "r2");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  clock_.Set(testing::T0() + absl::Hours(24));  // the next UTC day
  MustClaim("c4", "r2");
  // The first claim of the day deleted the spent counter of the day before:
  // one counter per (pool, rep), today's.
  auto snapshot = store_->NewSnapshot();
  ASSERT_TRUE(snapshot.ok());
  std::vector<std::string> counters;
  std::unique_ptr<storage::ScanIterator> it = (*snapshot)->Scan(
      storage::Table::kIndexes, ClaimDayPrefix("sales", "p1", "r2"));
  for (; it->Valid(); it->Next()) counters.emplace_back(it->key());
  ASSERT_TRUE(it->status().ok());
  EXPECT_THAT(counters, ::testing::ElementsAre(ClaimDayKey(
                            "sales", "p1", "r2", UtcDay(clock_.Now()))));
}

TEST_F(PoolDeskTest, DailyLimitCountsPerRep) {
  for (const char* id : {"c1", "c2", "c3", "c4"}) Pool(id);
  MustClaim("c1", "r2");
  MustClaim("c2", "r2");
  MustClaim("c3", "r2");
  MustClaim("c4", "r3");
}

// Claims of different customers by one rep at once: the limits stay exact.
TEST_F(PoolDeskTest, ConcurrentClaimsByOneRepStopAtTheDailyLimit) {
  const int kCustomers = 8;
  for (int i = 0; i < kCustomers; ++i) Pool(absl::StrCat("c", i));
  std::vector<absl::Status> results(kCustomers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCustomers; ++i) {
    threads.emplace_back([&, i] {
      results[i] = desk_
                       ->Claim(ClaimReq(absl::StrCat("c", i), "r2",
                                        absl::StrCat("daily-", i)),
                               "r2")
                       .status();
    });
  }
  for (std::thread& t : threads) t.join();
  int ok = 0;
  for (const absl::Status& s : results) {
    if (s.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
      EXPECT_THAT(std::string(s.message()), HasSubstr("claim_limit_per_day"));
    }
  }
  EXPECT_EQ(ok, 3);  // p1: claim_limit_per_day 3
  EXPECT_EQ(Owned("r2"), 3);
}

TEST_F(PoolDeskTest, ConcurrentClaimsByOneRepStopAtTheHoldingLimit) {
  const int kCustomers = 6;
  for (int i = 0; i < kCustomers; ++i) {
    Pool(absl::StrCat("c", i));
    // Into p2 (no daily limit), so that only capacity limits r1.
    MustClaim(absl::StrCat("c", i), i < 3 ? "r3" : "r4");
    MustRelease(absl::StrCat("c", i), "p2");
  }
  std::vector<absl::Status> results(kCustomers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCustomers; ++i) {
    threads.emplace_back([&, i] {
      results[i] = desk_
                       ->Claim(ClaimReq(absl::StrCat("c", i), "r1",
                                        absl::StrCat("hold-", i)),
                               "r1")
                       .status();
    });
  }
  for (std::thread& t : threads) t.join();
  int ok = 0;
  for (const absl::Status& s : results) {
    if (s.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
      EXPECT_THAT(std::string(s.message()), HasSubstr("at capacity"));
    }
  }
  EXPECT_EQ(ok, 2);  // r1: capacity 2
  EXPECT_EQ(Owned("r1"), 2);
}

TEST_F(PoolDeskTest, PoolWithoutLimitTakesAnyNumberOfClaims) {
  const std::vector<std::string> reps = {"r2", "r3", "r4", "r5", "r6"};
  for (int i = 0; i < 5; ++i) {
    const std::string id = absl::StrCat("c", i);
    Pool(id);
    MustClaim(id, reps[i]);  // one claim from p1 each
    MustRelease(id, "p2");
  }
  // In p2 (no daily limit, no cooldown) one rep takes all five, more than
  // p1's limit of 3.
  for (int i = 0; i < 5; ++i) MustClaim(absl::StrCat("c", i), "r2");
  EXPECT_EQ(Owned("r2"), 5);
}

TEST_F(PoolDeskTest, CooldownAfterReleaseEndsExactlyAtItsBoundary) {
  Pool("c1");
  MustClaim("c1", "r2");
  const absl::Time released = clock_.Now() + absl::Hours(1);
  clock_.Set(released);
  MustRelease("c1", "p1");  // p1: 30 days of cooldown
  EXPECT_TRUE(desk_->InCooldown("c1", "sales", "r2"));
  EXPECT_FALSE(desk_->InCooldown("c1", "sales", "r3"));
  clock_.Set(released + absl::Hours(24 * 30) - absl::Microseconds(1));
  absl::Status s = Claim("c1", "r2");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("cooldown until"));
  clock_.Set(released + absl::Hours(24 * 30));
  EXPECT_FALSE(desk_->InCooldown("c1", "sales", "r2"));
  MustClaim("c1", "r2");
}

TEST_F(PoolDeskTest, CooldownDoesNotStopOtherReps) {
  Pool("c1");
  MustClaim("c1", "r2");
  MustRelease("c1", "p1");
  MustClaim("c1", "r3");
}

TEST_F(PoolDeskTest, FrozenOwnershipIsNeitherClaimedNorReleased) {
  Pool("c1");
  Freeze("c1", "r3");
  auto before = Dump();
  absl::Status s = Claim("c1", "r2");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("FROZEN"));
  auto r = desk_->Release(ReleaseReq("c1", "p1", "rel-frozen"), "r3");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("FROZEN"));
  EXPECT_EQ(Dump(), before);
}

TEST_F(PoolDeskTest, ClaimRefusesIneligibleRepsAndUnknownThings) {
  Pool("c1");
  auto before = Dump();
  EXPECT_EQ(Claim("c1", "away1").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Claim("c1", "s1").code(),  // no team in sales
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Claim("c1", "nobody").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Claim("c-unknown", "r2").code(), absl::StatusCode::kNotFound);
  v1::ClaimRequest r = ClaimReq("c1", "r2", "other-dept");
  r.set_department("marketing");
  EXPECT_EQ(desk_->Claim(r, "r2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Dump(), before);
}

TEST_F(PoolDeskTest, AssignSkipsARepInCooldownForTheCustomer) {
  // r1 releases n1 into p1 (30 days of cooldown); r2 claims it and leaves.
  Pool("n1");
  MustClaim("n1", "r1");
  auto released = desk_->Release(ReleaseReq("n1", "p1", "rel-n1"), "r1");
  ASSERT_TRUE(released.ok()) << released.status();
  ASSERT_TRUE(desk_->InCooldown("n1", "sales", "r1"));
  MustClaim("n1", "r2");
  v1::SetRepStatusRequest left;
  left.set_rep("r2");
  left.set_status(v1::LEFT);
  left.set_reason("resigned");
  left.set_request_id("left-r2");
  ASSERT_TRUE(roster_->SetRepStatus(left, "admin").ok());
  // n1 moves north: the rep who left is replaced by a fresh pick over t,
  // where round robin would give r1 first; the cooldown skips r1.
  v1::AssignRequest north;
  *north.mutable_customer() = testing::MakeCustomer("n1", "CN/North/Beijing");
  north.set_request_id("assign-n1-north");
  ASSERT_TRUE(assigner_->Assign(north, "crm").ok());
  v1::Ownership o = Get("n1");
  EXPECT_EQ(o.state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(o.rep(), "r3");
  std::vector<std::pair<std::string, v1::SkippedCandidate::Reason>> skipped;
  for (const v1::SkippedCandidate& c : o.explanation().skipped()) {
    skipped.emplace_back(c.rep(), c.reason());
  }
  EXPECT_THAT(skipped, ::testing::Contains(std::make_pair(
                           std::string("r1"), v1::SkippedCandidate::COOLDOWN)));
  // Another customer is not affected by n1's cooldown.
  EXPECT_FALSE(desk_->InCooldown("n2", "sales", "r1"));
}

// ---------------------------------------------------------------------------
// Release

TEST_F(PoolDeskTest, ReleaseRecordsTheReasonAndFreesCapacity) {
  Pool("c1");
  MustClaim("c1", "r2");
  v1::ReleaseRequest r = ReleaseReq("c1", "p2", "rel-1");
  r.set_reason(v1::ReleaseRequest::OTHER);
  r.set_reason_text("moved abroad");
  auto o = desk_->Release(r, "r2");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->state(), v1::Ownership::POOLED);
  EXPECT_EQ(o->pool(), "p2");
  EXPECT_EQ(o->rep(), "");
  EXPECT_EQ(Owned("r2"), 0);
  EXPECT_EQ(*book_->ReadCounter(PoolSizeCounterKey("sales", "p2")), 1);
  std::vector<v1::OwnershipEvent> events = Events("c1");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].cause(), v1::OwnershipEvent::RELEASE);
  EXPECT_EQ(events[2].reason(), "OTHER: moved abroad");
  EXPECT_EQ(events[2].before().rep(), "r2");
  // p2 has no cooldown.
  EXPECT_FALSE(desk_->InCooldown("c1", "sales", "r2"));
}

TEST_F(PoolDeskTest, ReleaseNeedsAPoolWhenTheDepartmentHasSeveral) {
  Pool("c1");
  MustClaim("c1", "r2");
  auto before = Dump();
  auto o = desk_->Release(ReleaseReq("c1", "", "rel-1"), "r2");
  EXPECT_EQ(o.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(o.status().message()), HasSubstr("has 2 pools"));
  o = desk_->Release(ReleaseReq("c1", "t", "rel-2"), "r2");
  EXPECT_EQ(o.status().code(), absl::StatusCode::kFailedPrecondition);
  o = desk_->Release(ReleaseReq("c1", "nope", "rel-3"), "r2");
  EXPECT_EQ(o.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Dump(), before);
}

TEST_F(PoolDeskTest, ReleaseOfAPooledCustomerIsRefused) {
  Pool("c1");
  auto before = Dump();
  auto o = desk_->Release(ReleaseReq("c1", "p1", "rel-1"), "r2");
  EXPECT_EQ(o.status().code(), absl::StatusCode::kFailedPrecondition);
  o = desk_->Release(ReleaseReq("c-none", "p1", "rel-2"), "r2");
  EXPECT_EQ(o.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Dump(), before);
}

// ---------------------------------------------------------------------------
// RecordActivity

v1::RecordActivityRequest ActivityReq(absl::string_view customer, absl::Time at,
                                      absl::string_view request_id) {
  v1::RecordActivityRequest r;
  r.set_customer_id(std::string(customer));
  r.set_department("sales");
  r.set_kind(v1::RecordActivityRequest::CALL);
  *r.mutable_at() = Ts(at);
  r.set_request_id(std::string(request_id));
  return r;
}

TEST_F(PoolDeskTest, RecordActivityMovesLastActivityTimeForwardOnly) {
  Pool("c1");
  const absl::Time t1 = clock_.Now() - absl::Hours(2);
  auto a = desk_->RecordActivity(ActivityReq("c1", t1, "act-1"), "crm");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->changed());
  EXPECT_EQ(a->last_activity_time().seconds(), absl::ToUnixSeconds(t1));
  v1::GetCustomerRequest get;
  get.set_customer_id("c1");
  EXPECT_EQ(assigner_->GetCustomer(get)->last_activity_time().seconds(),
            absl::ToUnixSeconds(t1));
  // An older activity does not move it back.
  auto before = Dump();
  auto b = desk_->RecordActivity(
      ActivityReq("c1", t1 - absl::Hours(1), "act-2"), "crm");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_FALSE(b->changed());
  EXPECT_EQ(b->last_activity_time().seconds(), absl::ToUnixSeconds(t1));
  EXPECT_EQ(assigner_->GetCustomer(get)->last_activity_time().seconds(),
            absl::ToUnixSeconds(t1));
  EXPECT_NE(Dump(), before);  // only the idempotency record
}

TEST_F(PoolDeskTest, RecordActivityAcceptsClockSkewUpToItsLimit) {
  Pool("c1");
  auto ok = desk_->RecordActivity(
      ActivityReq("c1", clock_.Now() + absl::Minutes(5), "act-1"), "crm");
  EXPECT_TRUE(ok.ok()) << ok.status();
  auto before = Dump();
  auto late = desk_->RecordActivity(
      ActivityReq("c1", clock_.Now() + absl::Minutes(5) + absl::Seconds(1),
                  "act-2"),
      "crm");
  EXPECT_EQ(late.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(late.status().message()), HasSubstr("at:"));
  EXPECT_EQ(Dump(), before);
}

TEST_F(PoolDeskTest, RecordActivityOfUnknownCustomerOrDepartment) {
  Pool("c1");
  auto before = Dump();
  auto a =
      desk_->RecordActivity(ActivityReq("c-none", clock_.Now(), "a1"), "crm");
  EXPECT_EQ(a.status().code(), absl::StatusCode::kNotFound);
  v1::RecordActivityRequest r = ActivityReq("c1", clock_.Now(), "a2");
  r.set_department("marketing");
  EXPECT_EQ(desk_->RecordActivity(r, "crm").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Dump(), before);
}

// ---------------------------------------------------------------------------
// ListPool

std::vector<std::string> Ids(const v1::ListPoolResponse& r) {
  std::vector<std::string> ids;
  for (const v1::PoolEntry& e : r.entries()) {
    ids.push_back(e.ownership().customer_id());
  }
  return ids;
}

TEST_F(PoolDeskTest, ListPoolFiltersAndPaginates) {
  Pool("c1", "CN/East/Shanghai");
  Pool("c2", "CN/East/Hangzhou");
  Pool("c3", "CN/Eastern");
  Pool("c4", "CN/East/Shanghai");
  Pool("n1", "CN/North/Beijing");  // rule north: team t, not pooled
  MustClaim("c4", "r2");
  MustRelease("c4", "p2");

  v1::ListPoolRequest r;
  r.set_department("sales");
  auto all = desk_->ListPool(r);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(Ids(*all), ::testing::ElementsAre("c1", "c2", "c3", "c4"));
  EXPECT_EQ(all->next_page_token(), "");
  EXPECT_EQ(all->entries(0).customer().region(), "CN/East/Shanghai");

  r.set_pool("p1");
  EXPECT_THAT(Ids(*desk_->ListPool(r)),
              ::testing::ElementsAre("c1", "c2", "c3"));
  r.set_region_under("CN/East");  // not CN/Eastern
  EXPECT_THAT(Ids(*desk_->ListPool(r)), ::testing::ElementsAre("c1", "c2"));

  // Pages of one.
  r.set_page_size(1);
  std::vector<std::string> seen;
  for (int page = 0; page < 5; ++page) {
    auto p = desk_->ListPool(r);
    ASSERT_TRUE(p.ok()) << p.status();
    for (const std::string& id : Ids(*p)) seen.push_back(id);
    if (p->next_page_token().empty()) break;
    r.set_page_token(p->next_page_token());
  }
  EXPECT_THAT(seen, ::testing::ElementsAre("c1", "c2"));
  // A token of another listing is refused.
  r.set_region_under("CN");
  EXPECT_EQ(desk_->ListPool(r).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PoolDeskTest, ListPoolTimeInPoolAtItsBoundary) {
  Pool("c1");
  clock_.Advance(absl::Hours(1));
  Pool("c2");
  v1::ListPoolRequest r;
  r.set_department("sales");
  r.mutable_min_time_in_pool()->set_seconds(3600);
  EXPECT_THAT(Ids(*desk_->ListPool(r)), ::testing::ElementsAre("c1"));
  clock_.Advance(absl::Hours(1));
  EXPECT_THAT(Ids(*desk_->ListPool(r)), ::testing::ElementsAre("c1", "c2"));
}

// ---------------------------------------------------------------------------
// Bad input: every field, each named, nothing written.

TEST_F(PoolDeskTest, BadInputOnEveryFieldIsNamedAndWritesNothing) {
  Pool("c1");
  auto before = Dump();
  auto expect_bad = [](const absl::Status& s, absl::string_view field) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(std::string(field))) << s;
  };

  struct ClaimCase {
    void (*mutate)(v1::ClaimRequest&);
    const char* field;
  };
  const ClaimCase claim_cases[] = {
      {[](v1::ClaimRequest& r) { r.clear_customer_id(); }, "customer_id"},
      {[](v1::ClaimRequest& r) { r.set_customer_id("bad\nid"); },
       "customer_id"},
      {[](v1::ClaimRequest& r) { r.clear_department(); }, "department"},
      {[](v1::ClaimRequest& r) { r.set_department("Sales Dept"); },
       "department"},
      {[](v1::ClaimRequest& r) { r.clear_rep(); }, "rep"},
      {[](v1::ClaimRequest& r) { r.set_rep("R 1"); }, "rep"},
      {[](v1::ClaimRequest& r) { r.clear_request_id(); }, "request_id"},
      {[](v1::ClaimRequest& r) { r.set_request_id(std::string(500, 'x')); },
       "request_id"},
  };
  for (const ClaimCase& c : claim_cases) {
    v1::ClaimRequest r = ClaimReq("c1", "r2", "bad-claim");
    c.mutate(r);
    expect_bad(desk_->Claim(r, "r2").status(), c.field);
  }
  expect_bad(desk_->Claim(ClaimReq("c1", "r2", "bad-actor"), "").status(),
             "actor");

  struct ReleaseCase {
    void (*mutate)(v1::ReleaseRequest&);
    const char* field;
  };
  const ReleaseCase release_cases[] = {
      {[](v1::ReleaseRequest& r) { r.clear_customer_id(); }, "customer_id"},
      {[](v1::ReleaseRequest& r) { r.set_department("?"); }, "department"},
      {[](v1::ReleaseRequest& r) { r.set_pool("P 1"); }, "pool"},
      {[](v1::ReleaseRequest& r) { r.clear_reason(); }, "reason"},
      {[](v1::ReleaseRequest& r) {
         r.set_reason(static_cast<v1::ReleaseRequest::Reason>(99));
       },
       "reason"},
      {[](v1::ReleaseRequest& r) {
         r.set_reason(v1::ReleaseRequest::OTHER);  // without text
       },
       "reason_text"},
      {[](v1::ReleaseRequest& r) {
         r.set_reason_text(std::string(kMaxReasonBytes + 1, 'x'));
       },
       "reason_text"},
      {[](v1::ReleaseRequest& r) { r.clear_request_id(); }, "request_id"},
  };
  for (const ReleaseCase& c : release_cases) {
    v1::ReleaseRequest r = ReleaseReq("c1", "p1", "bad-release");
    c.mutate(r);
    expect_bad(desk_->Release(r, "r2").status(), c.field);
  }

  struct ActivityCase {
    void (*mutate)(v1::RecordActivityRequest&);
    const char* field;
  };
  const ActivityCase activity_cases[] = {
      {[](v1::RecordActivityRequest& r) { r.clear_customer_id(); },
       "customer_id"},
      {[](v1::RecordActivityRequest& r) { r.clear_department(); },
       "department"},
      {[](v1::RecordActivityRequest& r) { r.clear_kind(); }, "kind"},
      {[](v1::RecordActivityRequest& r) {
         r.set_kind(static_cast<v1::RecordActivityRequest::Kind>(42));
       },
       "kind"},
      {[](v1::RecordActivityRequest& r) { r.clear_at(); }, "at"},
      {[](v1::RecordActivityRequest& r) { r.mutable_at()->set_nanos(-1); },
       "at"},
      {[](v1::RecordActivityRequest& r) { r.clear_request_id(); },
       "request_id"},
  };
  for (const ActivityCase& c : activity_cases) {
    v1::RecordActivityRequest r = ActivityReq("c1", clock_.Now(), "bad-act");
    c.mutate(r);
    expect_bad(desk_->RecordActivity(r, "crm").status(), c.field);
  }

  struct ListCase {
    void (*mutate)(v1::ListPoolRequest&);
    const char* field;
  };
  const ListCase list_cases[] = {
      {[](v1::ListPoolRequest& r) { r.clear_department(); }, "department"},
      {[](v1::ListPoolRequest& r) { r.set_pool("a b"); }, "pool"},
      {[](v1::ListPoolRequest& r) { r.set_segment("Not A Segment"); },
       "segment"},
      {[](v1::ListPoolRequest& r) { r.set_region_under("/CN"); },
       "region_under"},
      {[](v1::ListPoolRequest& r) { r.set_industry_under("C//C39"); },
       "industry_under"},
      {[](v1::ListPoolRequest& r) {
         r.mutable_min_time_in_pool()->set_seconds(-1);
       },
       "min_time_in_pool"},
      {[](v1::ListPoolRequest& r) { r.set_page_size(-1); }, "page_size"},
      {[](v1::ListPoolRequest& r) { r.set_page_token("garbage"); },
       "page_token"},
  };
  for (const ListCase& c : list_cases) {
    v1::ListPoolRequest r;
    r.set_department("sales");
    c.mutate(r);
    expect_bad(desk_->ListPool(r).status(), c.field);
  }
  EXPECT_EQ(Dump(), before);
}

TEST(PoolDeskOptionsTest, RejectsMissingDependencies) {
  auto desk = PoolDesk::Create(PoolDesk::Options());
  EXPECT_EQ(desk.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(desk.status().message()), HasSubstr("store"));
  EXPECT_THAT(std::string(desk.status().message()), HasSubstr("allocator"));
}

TEST(UtcDayTest, CountsCalendarDaysInUtc) {
  EXPECT_EQ(UtcDay(absl::UnixEpoch()), 0);
  EXPECT_EQ(UtcDay(absl::UnixEpoch() + absl::Hours(24) - absl::Nanoseconds(1)),
            0);
  EXPECT_EQ(UtcDay(absl::UnixEpoch() + absl::Hours(24)), 1);
  EXPECT_EQ(UtcDay(absl::UnixEpoch() - absl::Nanoseconds(1)), -1);
}

}  // namespace
}  // namespace custodian::server
