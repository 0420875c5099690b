#include "server/team_allocator.h"

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custodian::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kDept[] = "sales";
constexpr char kTeam[] = "ka-east";

// The store's counters, as the loader sees them; counts the reads.
class FakeCounters {
 public:
  void Set(const std::string& key, int64_t value) {
    absl::MutexLock lock(&mu_);
    values_[key] = value;
  }
  void Add(const std::string& key, int64_t delta) {
    absl::MutexLock lock(&mu_);
    values_[key] += delta;
  }
  int64_t Get(const std::string& key) {
    absl::MutexLock lock(&mu_);
    auto it = values_.find(key);
    return it == values_.end() ? 0 : it->second;
  }
  void Fail(const std::string& key, absl::Status status) {
    absl::MutexLock lock(&mu_);
    failures_[key] = std::move(status);
  }
  void Heal(const std::string& key) {
    absl::MutexLock lock(&mu_);
    failures_.erase(key);
  }
  int reads(const std::string& key) {
    absl::MutexLock lock(&mu_);
    auto it = reads_.find(key);
    return it == reads_.end() ? 0 : it->second;
  }

  TeamAllocator::CounterLoader Loader() {
    return [this](absl::string_view key) -> absl::StatusOr<int64_t> {
      absl::MutexLock lock(&mu_);
      ++reads_[std::string(key)];
      auto f = failures_.find(key);
      if (f != failures_.end()) return f->second;
      auto it = values_.find(key);
      return it == values_.end() ? 0 : it->second;
    };
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, int64_t> values_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::Status> failures_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int> reads_ ABSL_GUARDED_BY(mu_);
};

PickMember Member(std::string rep, int64_t capacity = 1000, int32_t weight = 1,
                  v1::RepStatus status = v1::ACTIVE) {
  PickMember m;
  m.rep_id = std::move(rep);
  m.capacity = capacity;
  m.weight = weight;
  m.status = status;
  return m;
}

PickRequest Request(v1::Strategy strategy, std::vector<PickMember> members,
                    std::string team = kTeam) {
  PickRequest r;
  r.department = kDept;
  r.team_id = std::move(team);
  r.strategy = strategy;
  r.members = std::move(members);
  return r;
}

std::string OwnedKey(absl::string_view rep) {
  return TeamAllocator::OwnedCounterKey(kDept, rep);
}

class TeamAllocatorTest : public ::testing::Test {
 protected:
  // Picks and commits `count` times; returns the picked reps ("-" for none).
  std::vector<std::string> PickCommit(const PickRequest& request, int count) {
    std::vector<std::string> reps;
    for (int i = 0; i < count; ++i) {
      absl::StatusOr<PickResult> pick = allocator_.Pick(request);
      EXPECT_TRUE(pick.ok()) << pick.status();
      if (!pick.ok()) break;
      if (!pick->picked()) {
        reps.push_back("-");
        continue;
      }
      reps.push_back(pick->rep_id);
      pick->reservation->Commit();
    }
    return reps;
  }

  RepLoadInfo Load(absl::string_view rep) {
    std::optional<RepLoadInfo> load = allocator_.GetLoad(kDept, rep);
    EXPECT_TRUE(load.has_value()) << rep;
    return load.value_or(RepLoadInfo{-1, -1, -1});
  }

  FakeCounters counters_;
  TeamAllocator allocator_{counters_.Loader()};
};

// ---------------------------------------------------------------------------
// Strategies

TEST_F(TeamAllocatorTest, RoundRobinCyclesInMemberOrder) {
  PickRequest r =
      Request(v1::ROUND_ROBIN, {Member("a"), Member("b"), Member("c")});
  EXPECT_THAT(PickCommit(r, 7), ElementsAre("a", "b", "c", "a", "b", "c", "a"));
}

TEST_F(TeamAllocatorTest, RoundRobinSkipsIneligibleThenContinuesAfterLastPick) {
  PickRequest r = Request(v1::ROUND_ROBIN,
                          {Member("a"), Member("b"), Member("c"), Member("d")});
  EXPECT_THAT(PickCommit(r, 1), ElementsAre("a"));
  r.members[1].status = v1::AWAY;
  absl::StatusOr<PickResult> pick = allocator_.Pick(r);
  ASSERT_TRUE(pick.ok()) << pick.status();
  EXPECT_EQ(pick->rep_id, "c");
  EXPECT_EQ(pick->member_index, 2);
  EXPECT_THAT(pick->skipped,
              ElementsAre(SkippedCandidate{"b", SkipReason::kAway}));
  pick->reservation->Commit();
  r.members[1].status = v1::ACTIVE;
  EXPECT_THAT(PickCommit(r, 3), ElementsAre("d", "a", "b"));
}

TEST_F(TeamAllocatorTest, RoundRobinFollowsLastRepAcrossMemberChanges) {
  PickRequest r = Request(v1::ROUND_ROBIN,
                          {Member("a"), Member("b"), Member("c"), Member("d")});
  EXPECT_THAT(PickCommit(r, 2), ElementsAre("a", "b"));
  // A member inserted before the last pick does not shift the cursor.
  r.members.insert(r.members.begin(), Member("x"));
  EXPECT_THAT(PickCommit(r, 1), ElementsAre("c"));
  // The last picked rep removed: the member now in its slot is next.
  r.members.erase(r.members.begin() + 3);  // [x, a, b, d]
  EXPECT_THAT(PickCommit(r, 3), ElementsAre("d", "x", "a"));
}

TEST_F(TeamAllocatorTest, WeightedIsSmoothWeightedRoundRobin) {
  PickRequest r = Request(
      v1::WEIGHTED,
      {Member("a", 1000, 3), Member("b", 1000, 1), Member("c", 1000, 1)});
  EXPECT_THAT(PickCommit(r, 10), ElementsAre("a", "b", "a", "c", "a",  //
                                             "a", "b", "a", "c", "a"));
}

TEST_F(TeamAllocatorTest, WeightedEqualWeightsTieInMemberOrder) {
  PickRequest r =
      Request(v1::WEIGHTED, {Member("a"), Member("b"), Member("c")});
  EXPECT_THAT(PickCommit(r, 6), ElementsAre("a", "b", "c", "a", "b", "c"));
}

TEST_F(TeamAllocatorTest, WeightedLeavesIneligibleMembersWeightsAlone) {
  PickRequest r =
      Request(v1::WEIGHTED, {Member("a", 1000, 2), Member("b", 1000, 1),
                             Member("c", 1000, 1, v1::AWAY)});
  // Among a (2) and b (1): a, b, a; c keeps current weight 0.
  for (const char* want : {"a", "b", "a"}) {
    absl::StatusOr<PickResult> pick = allocator_.Pick(r);
    ASSERT_TRUE(pick.ok()) << pick.status();
    EXPECT_EQ(pick->rep_id, want);
    EXPECT_THAT(pick->skipped,
                ElementsAre(SkippedCandidate{"c", SkipReason::kAway}));
    pick->reservation->Commit();
  }
  // All back to 0: 2/1/1 gives a, b, c, a.
  r.members[2].status = v1::ACTIVE;
  EXPECT_THAT(PickCommit(r, 4), ElementsAre("a", "b", "c", "a"));
}

TEST_F(TeamAllocatorTest, LeastLoadedPicksFewestOwnedTiesByMemberOrder) {
  counters_.Set(OwnedKey("a"), 5);
  counters_.Set(OwnedKey("b"), 2);
  counters_.Set(OwnedKey("c"), 2);
  PickRequest r =
      Request(v1::LEAST_LOADED, {Member("a"), Member("b"), Member("c")});
  EXPECT_THAT(PickCommit(r, 9),
              ElementsAre("b", "c", "b", "c", "b", "c", "a", "b", "c"));
  EXPECT_EQ(Load("a").owned, 6);
  EXPECT_EQ(Load("b").owned, 6);
  EXPECT_EQ(Load("c").owned, 6);
}

TEST_F(TeamAllocatorTest, LeastLoadedCountsOpenReservations) {
  PickRequest r = Request(v1::LEAST_LOADED, {Member("a"), Member("b")});
  absl::StatusOr<PickResult> first = allocator_.Pick(r);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->rep_id, "a");  // not committed yet
  absl::StatusOr<PickResult> second = allocator_.Pick(r);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->rep_id, "b");
}

TEST_F(TeamAllocatorTest, BestMatchPicksMostDistinctSkillsFound) {
  std::vector<PickMember> members = {Member("a"), Member("b"), Member("c"),
                                     Member("d")};
  members[0].skills = {"C", "strategic"};
  members[1].skills = {"C39"};
  members[2].skills = {"C", "C", "C", "x"};  // C counts once
  members[3].skills = {"C39", "key_account", "strategic"};
  PickRequest r = Request(v1::BEST_MATCH, members);
  r.match_terms = {"C", "C39", "C391", "strategic", "key_account"};
  EXPECT_THAT(PickCommit(r, 2), ElementsAre("d", "d"));  // 3 skills each time
  r.members[3].status = v1::LEFT;
  EXPECT_THAT(PickCommit(r, 1), ElementsAre("a"));  // 2 > 1
}

TEST_F(TeamAllocatorTest, BestMatchTiesByLeastLoadedThenMemberOrder) {
  counters_.Set(OwnedKey("a"), 3);
  counters_.Set(OwnedKey("b"), 1);
  counters_.Set(OwnedKey("c"), 1);
  std::vector<PickMember> members = {Member("a"), Member("b"), Member("c"),
                                     Member("d")};
  members[0].skills = {"C"};
  members[1].skills = {"C", "zzz"};
  members[2].skills = {"C"};
  members[3].skills = {"other"};  // no match, least loaded: never picked
  PickRequest r = Request(v1::BEST_MATCH, members);
  r.match_terms = {"C", "C39"};
  // b and c tie on score and load -> b; then c (less loaded); then b, c, ...
  EXPECT_THAT(PickCommit(r, 6), ElementsAre("b", "c", "b", "c", "a", "b"));
}

TEST_F(TeamAllocatorTest, BestMatchWithoutAnyMatchIsLeastLoaded) {
  counters_.Set(OwnedKey("a"), 2);
  std::vector<PickMember> members = {Member("a"), Member("b")};
  members[0].skills = {"C"};
  PickRequest r = Request(v1::BEST_MATCH, members);
  r.match_terms = {"G"};
  EXPECT_THAT(PickCommit(r, 4), ElementsAre("b", "b", "a", "b"));
}

// ---------------------------------------------------------------------------
// Eligibility

TEST_F(TeamAllocatorTest, SkipReasonsFollowPrecedenceInMemberOrder) {
  std::vector<PickMember> members = {
      Member("left", 0, 1, v1::LEFT),
      Member("away", 0, 1, v1::AWAY),
      Member("cool", 0),
      Member("full", 0),
      Member("ok"),
  };
  members[0].in_cooldown = true;
  members[1].in_cooldown = true;
  members[2].in_cooldown = true;
  for (v1::Strategy s :
       {v1::ROUND_ROBIN, v1::WEIGHTED, v1::LEAST_LOADED, v1::BEST_MATCH}) {
    absl::StatusOr<PickResult> pick = allocator_.Pick(Request(s, members));
    ASSERT_TRUE(pick.ok()) << pick.status();
    EXPECT_EQ(pick->rep_id, "ok") << v1::Strategy_Name(s);
    EXPECT_EQ(pick->member_index, 4);
    EXPECT_THAT(pick->skipped,
                ElementsAre(SkippedCandidate{"left", SkipReason::kLeft},
                            SkippedCandidate{"away", SkipReason::kAway},
                            SkippedCandidate{"cool", SkipReason::kCooldown},
                            SkippedCandidate{"full", SkipReason::kAtCapacity}));
  }
  EXPECT_EQ(SkipReasonName(SkipReason::kLeft), "LEFT");
  EXPECT_EQ(SkipReasonName(SkipReason::kAway), "AWAY");
  EXPECT_EQ(SkipReasonName(SkipReason::kCooldown), "COOLDOWN");
  EXPECT_EQ(SkipReasonName(SkipReason::kAtCapacity), "AT_CAPACITY");
}

TEST_F(TeamAllocatorTest, CapacityTwoThirdPickIsAtCapacity) {
  PickRequest r = Request(v1::ROUND_ROBIN, {Member("a", 2)});
  EXPECT_THAT(PickCommit(r, 2), ElementsAre("a", "a"));
  absl::StatusOr<PickResult> third = allocator_.Pick(r);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_FALSE(third->picked());
  EXPECT_THAT(third->skipped,
              ElementsAre(SkippedCandidate{"a", SkipReason::kAtCapacity}));
  EXPECT_EQ(Load("a").owned, 2);
  EXPECT_EQ(Load("a").reserved, 0);
}

TEST_F(TeamAllocatorTest, StoredLoadCountsTowardCapacity) {
  counters_.Set(OwnedKey("a"), 4);
  PickRequest r = Request(v1::ROUND_ROBIN, {Member("a", 5), Member("b", 1)});
  EXPECT_THAT(PickCommit(r, 4), ElementsAre("a", "b", "-", "-"));
}

TEST_F(TeamAllocatorTest, WonCustomersCountOnlyWhenCountWonIsSet) {
  // a owns 5, 3 of them won; capacity 4.
  counters_.Set(OwnedKey("a"), 5);
  counters_.Set(TeamAllocator::WonCounterKey(kDept, "a"), 3);
  PickRequest counting = Request(v1::ROUND_ROBIN, {Member("a", 4)});
  counting.count_won = true;
  EXPECT_THAT(PickCommit(counting, 1), ElementsAre("-"));
  PickRequest not_counting = counting;
  not_counting.count_won = false;
  // 5 - 3 = 2 counted: two units left, then at capacity.
  EXPECT_THAT(PickCommit(not_counting, 3), ElementsAre("a", "a", "-"));
  EXPECT_EQ(Load("a").owned, 7);
  EXPECT_EQ(Load("a").won, 3);
  // One of them becomes won: a unit is free again; and back.
  allocator_.AdjustWon(kDept, "a", +1);
  EXPECT_THAT(PickCommit(not_counting, 2), ElementsAre("a", "-"));
  allocator_.AdjustWon(kDept, "a", -2);
  EXPECT_THAT(PickCommit(not_counting, 1), ElementsAre("-"));
  EXPECT_EQ(Load("a").won, 2);
}

TEST_F(TeamAllocatorTest, LeastLoadedComparesEverythingOwnedEvenWhenWonIsFree) {
  counters_.Set(OwnedKey("a"), 3);
  counters_.Set(TeamAllocator::WonCounterKey(kDept, "a"), 3);
  counters_.Set(OwnedKey("b"), 1);
  PickRequest r = Request(v1::LEAST_LOADED, {Member("a", 10), Member("b", 10)});
  r.count_won = false;
  EXPECT_THAT(PickCommit(r, 3), ElementsAre("b", "b", "a"));
}

TEST_F(TeamAllocatorTest, CapacityZeroIsNeverEligible) {
  PickRequest r = Request(v1::LEAST_LOADED, {Member("a", 0), Member("b", 1)});
  absl::StatusOr<PickResult> pick = allocator_.Pick(r);
  ASSERT_TRUE(pick.ok()) << pick.status();
  EXPECT_EQ(pick->rep_id, "b");
  EXPECT_THAT(pick->skipped,
              ElementsAre(SkippedCandidate{"a", SkipReason::kAtCapacity}));
}

TEST_F(TeamAllocatorTest, OpenReservationCountsTowardCapacity) {
  PickRequest r = Request(v1::ROUND_ROBIN, {Member("a", 1)});
  absl::StatusOr<PickResult> held = allocator_.Pick(r);
  ASSERT_TRUE(held.ok() && held->picked());
  EXPECT_EQ(Load("a").reserved, 1);
  EXPECT_EQ(Load("a").owned, 0);
  absl::StatusOr<PickResult> second = allocator_.Pick(r);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->picked());
}

TEST_F(TeamAllocatorTest, NoEligibleMemberListsEverySkipAndReservesNothing) {
  std::vector<PickMember> members = {Member("a", 5, 1, v1::LEFT),
                                     Member("b", 5, 1, v1::AWAY), Member("c"),
                                     Member("d", 0)};
  members[2].in_cooldown = true;
  for (v1::Strategy s :
       {v1::ROUND_ROBIN, v1::WEIGHTED, v1::LEAST_LOADED, v1::BEST_MATCH}) {
    absl::StatusOr<PickResult> pick = allocator_.Pick(Request(s, members));
    ASSERT_TRUE(pick.ok()) << pick.status();
    EXPECT_FALSE(pick->picked());
    EXPECT_EQ(pick->rep_id, "");
    EXPECT_EQ(pick->member_index, -1);
    EXPECT_THAT(pick->skipped,
                ElementsAre(SkippedCandidate{"a", SkipReason::kLeft},
                            SkippedCandidate{"b", SkipReason::kAway},
                            SkippedCandidate{"c", SkipReason::kCooldown},
                            SkippedCandidate{"d", SkipReason::kAtCapacity}));
  }
  for (const char* rep : {"a", "b", "c", "d"}) EXPECT_EQ(Load(rep).reserved, 0);
}

TEST_F(TeamAllocatorTest, EmptyTeamPicksNobody) {
  absl::StatusOr<PickResult> pick =
      allocator_.Pick(Request(v1::ROUND_ROBIN, {}));
  ASSERT_TRUE(pick.ok()) << pick.status();
  EXPECT_FALSE(pick->picked());
  EXPECT_THAT(pick->skipped, IsEmpty());
}

TEST_F(TeamAllocatorTest, CapacityIsSharedByTeamsOfOneDepartment) {
  PickRequest t1 = Request(v1::ROUND_ROBIN, {Member("a", 2)}, "t1");
  PickRequest t2 =
      Request(v1::ROUND_ROBIN, {Member("a", 2), Member("b")}, "t2");
  EXPECT_THAT(PickCommit(t1, 1), ElementsAre("a"));
  EXPECT_THAT(PickCommit(t2, 1), ElementsAre("a"));
  EXPECT_THAT(PickCommit(t1, 1), ElementsAre("-"));
  EXPECT_THAT(PickCommit(t2, 2), ElementsAre("b", "b"));
  // Another department has its own count.
  PickRequest service = Request(v1::ROUND_ROBIN, {Member("a", 2)}, "svc");
  service.department = "service";
  EXPECT_THAT(PickCommit(service, 3), ElementsAre("a", "a", "-"));
  EXPECT_EQ(allocator_.GetLoad("service", "a")->owned, 2);
  EXPECT_EQ(Load("a").owned, 2);
}

// ---------------------------------------------------------------------------
// Reservations

TEST_F(TeamAllocatorTest, DestroyedReservationGivesCapacityBack) {
  PickRequest r = Request(v1::ROUND_ROBIN, {Member("a", 1)});
  {
    absl::StatusOr<PickResult> pick = allocator_.Pick(r);
    ASSERT_TRUE(pick.ok() && pick->picked());
  }  // the commit "failed": no Commit()
  EXPECT_EQ(Load("a").reserved, 0);
  EXPECT_EQ(Load("a").owned, 0);
  EXPECT_THAT(PickCommit(r, 2), ElementsAre("a", "-"));
}

TEST_F(TeamAllocatorTest, ReleaseThenCommitDoesNothing) {
  PickRequest r = Request(v1::ROUND_ROBIN, {Member("a", 1)});
  absl::StatusOr<PickResult> pick = allocator_.Pick(r);
  ASSERT_TRUE(pick.ok() && pick->picked());
  pick->reservation->Release();
  EXPECT_FALSE(pick->reservation->active());
  pick->reservation->Commit();
  EXPECT_EQ(Load("a").owned, 0);
  EXPECT_EQ(Load("a").reserved, 0);
}

TEST_F(TeamAllocatorTest, MovedReservationIsReleasedOnce) {
  PickRequest r = Request(v1::ROUND_ROBIN, {Member("a", 2)});
  absl::StatusOr<PickResult> p1 = allocator_.Pick(r);
  absl::StatusOr<PickResult> p2 = allocator_.Pick(r);
  ASSERT_TRUE(p1.ok() && p1->picked() && p2.ok() && p2->picked());
  CapacityReservation moved = std::move(*p1->reservation);
  EXPECT_FALSE(p1->reservation->active());
  EXPECT_TRUE(moved.active());
  EXPECT_EQ(moved.rep_id(), "a");
  EXPECT_EQ(moved.department(), kDept);
  EXPECT_EQ(moved.team_id(), kTeam);
  p1->reservation.reset();  // moved-from: gives nothing back
  EXPECT_EQ(Load("a").reserved, 2);
  moved = std::move(*p2->reservation);  // releases the first one
  EXPECT_EQ(Load("a").reserved, 1);
  moved.Commit();
  EXPECT_EQ(Load("a").reserved, 0);
  EXPECT_EQ(Load("a").owned, 1);
}

TEST_F(TeamAllocatorTest, CommitThenAdjustOwnedMinusOneFreesOneUnit) {
  PickRequest r = Request(v1::ROUND_ROBIN, {Member("a", 1)});
  EXPECT_THAT(PickCommit(r, 2), ElementsAre("a", "-"));
  ASSERT_TRUE(allocator_.Preload(kDept, "a").ok());
  allocator_.AdjustOwned(kDept, "a", -1);  // e.g. transferred away
  EXPECT_EQ(Load("a").owned, 0);
  EXPECT_THAT(PickCommit(r, 2), ElementsAre("a", "-"));
}

TEST_F(TeamAllocatorTest, AdjustOwnedOfUnloadedRepIsLeftToTheLoad) {
  allocator_.AdjustOwned(kDept, "a", +1);
  EXPECT_FALSE(allocator_.GetLoad(kDept, "a").has_value());
  counters_.Set(OwnedKey("a"), 1);  // what the commit wrote
  ASSERT_TRUE(allocator_.Preload(kDept, "a").ok());
  EXPECT_EQ(Load("a").owned, 1);
  allocator_.AdjustOwned(kDept, "a", +2);
  EXPECT_EQ(Load("a").owned, 3);
}

// ---------------------------------------------------------------------------
// Loading

TEST_F(TeamAllocatorTest, LoadsCountsLazilyOnceFromTheLoader) {
  counters_.Set(OwnedKey("a"), 4);
  PickRequest r = Request(v1::ROUND_ROBIN, {Member("a", 5), Member("b", 5)});
  EXPECT_FALSE(allocator_.GetLoad(kDept, "a").has_value());
  EXPECT_EQ(counters_.reads(OwnedKey("a")), 0);
  EXPECT_THAT(PickCommit(r, 1), ElementsAre("a"));
  EXPECT_EQ(counters_.reads(OwnedKey("a")), 1);
  EXPECT_EQ(counters_.reads(OwnedKey("b")), 1);
  EXPECT_EQ(counters_.reads(TeamAllocator::CursorCounterKey(kTeam)), 1);
  EXPECT_EQ(Load("a").owned, 5);
  // The store changing under it is not re-read: the allocator is the
  // authority once loaded.
  counters_.Set(OwnedKey("a"), 0);
  EXPECT_THAT(PickCommit(r, 3), ElementsAre("b", "b", "b"));
  EXPECT_EQ(counters_.reads(OwnedKey("a")), 1);
  EXPECT_EQ(counters_.reads(TeamAllocator::CursorCounterKey(kTeam)), 1);
  // A different member list loads only the new member.
  r.members.push_back(Member("c"));
  EXPECT_THAT(PickCommit(r, 1), ElementsAre("c"));
  EXPECT_EQ(counters_.reads(OwnedKey("a")), 1);
  EXPECT_EQ(counters_.reads(OwnedKey("c")), 1);
}

TEST_F(TeamAllocatorTest, LoaderErrorPropagatesAndReservesNothing) {
  counters_.Fail(OwnedKey("b"), absl::UnavailableError("disk on fire"));
  PickRequest r = Request(v1::ROUND_ROBIN, {Member("a"), Member("b")});
  absl::StatusOr<PickResult> pick = allocator_.Pick(r);
  EXPECT_EQ(pick.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(pick.status().message(), HasSubstr("disk on fire"));
  EXPECT_THAT(pick.status().message(), HasSubstr("rep b"));
  EXPECT_FALSE(allocator_.GetLoad(kDept, "b").has_value());
  if (std::optional<RepLoadInfo> a = allocator_.GetLoad(kDept, "a")) {
    EXPECT_EQ(a->reserved, 0);
  }
  EXPECT_EQ(allocator_.Preload(kDept, "b").code(),
            absl::StatusCode::kUnavailable);
  // Not cached: once the store answers, picks work.
  counters_.Heal(OwnedKey("b"));
  EXPECT_THAT(PickCommit(r, 2), ElementsAre("a", "b"));
}

TEST_F(TeamAllocatorTest, CursorLoaderErrorPropagates) {
  counters_.Fail(TeamAllocator::CursorCounterKey(kTeam),
                 absl::DataLossError("bad counter"));
  absl::StatusOr<PickResult> pick =
      allocator_.Pick(Request(v1::ROUND_ROBIN, {Member("a")}));
  EXPECT_EQ(pick.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(pick.status().message(), HasSubstr("cursor of team ka-east"));
}

TEST_F(TeamAllocatorTest, RejectsInvalidRequests) {
  auto expect_invalid = [&](PickRequest r, absl::string_view field) {
    absl::StatusOr<PickResult> pick = allocator_.Pick(r);
    EXPECT_EQ(pick.status().code(), absl::StatusCode::kInvalidArgument)
        << field;
    EXPECT_THAT(pick.status().message(), HasSubstr(field));
  };
  const PickRequest good = Request(v1::ROUND_ROBIN, {Member("a"), Member("b")});
  PickRequest r = good;
  r.department = "";
  expect_invalid(r, "department");
  r = good;
  r.team_id = "";
  expect_invalid(r, "team_id");
  r = good;
  r.strategy = v1::STRATEGY_UNSPECIFIED;
  expect_invalid(r, "STRATEGY_UNSPECIFIED");
  r = good;
  r.members[1].rep_id = "";
  expect_invalid(r, "members[1].rep_id");
  r = good;
  r.members[1].rep_id = "a";
  expect_invalid(r, "members[1].rep_id: rep a appears twice");
  r = good;
  r.members[0].capacity = -1;
  expect_invalid(r, "members[0].capacity");
  r = good;
  r.members[1].weight = 0;
  expect_invalid(r, "members[1].weight");
  r = good;
  r.members[0].status = v1::REP_STATUS_UNSPECIFIED;
  expect_invalid(r, "members[0].status is REP_STATUS_UNSPECIFIED");
  EXPECT_FALSE(allocator_.GetLoad(kDept, "a").has_value());
}

// ---------------------------------------------------------------------------
// Peek

TEST_F(TeamAllocatorTest, PeekShowsTheNextPickWithoutMovingAnything) {
  PickRequest r = Request(v1::ROUND_ROBIN, {Member("a", 1), Member("b", 1)});
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<PickResult> peek = allocator_.Peek(r);
    ASSERT_TRUE(peek.ok()) << peek.status();
    EXPECT_TRUE(peek->picked());
    EXPECT_EQ(peek->rep_id, "a");
    EXPECT_EQ(peek->member_index, 0);
    EXPECT_FALSE(peek->reservation.has_value());
    EXPECT_EQ(Load("a").reserved, 0);
  }
  absl::StatusOr<PickResult> held = allocator_.Pick(r);  // a, not committed
  ASSERT_TRUE(held.ok() && held->picked());
  EXPECT_EQ(held->rep_id, "a");
  absl::StatusOr<PickResult> peek = allocator_.Peek(r);
  ASSERT_TRUE(peek.ok());
  EXPECT_EQ(peek->rep_id, "b");
  EXPECT_THAT(PickCommit(r, 1), ElementsAre("b"));
  peek = allocator_.Peek(r);
  ASSERT_TRUE(peek.ok());
  EXPECT_FALSE(peek->picked());
  EXPECT_EQ(peek->rep_id, "");
  EXPECT_THAT(peek->skipped,
              ElementsAre(SkippedCandidate{"a", SkipReason::kAtCapacity},
                          SkippedCandidate{"b", SkipReason::kAtCapacity}));
}

TEST_F(TeamAllocatorTest, PeekLeavesTheWeightedSequenceAlone) {
  PickRequest r = Request(
      v1::WEIGHTED,
      {Member("a", 1000, 3), Member("b", 1000, 1), Member("c", 1000, 1)});
  EXPECT_THAT(PickCommit(r, 1), ElementsAre("a"));
  absl::StatusOr<PickResult> peek = allocator_.Peek(r);
  ASSERT_TRUE(peek.ok());
  EXPECT_EQ(peek->rep_id, "b");
  // Another member list starts from zero weights, and does not reset the
  // team's.
  PickRequest other = r;
  other.members.pop_back();
  peek = allocator_.Peek(other);
  ASSERT_TRUE(peek.ok());
  EXPECT_EQ(peek->rep_id, "a");
  EXPECT_THAT(PickCommit(r, 4), ElementsAre("b", "a", "c", "a"));
}

TEST_F(TeamAllocatorTest, PeeksAtANewTeamLeaveItsFirstPicksAsTheyWouldBe) {
  PickRequest r = Request(
      v1::WEIGHTED,
      {Member("a", 1000, 3), Member("b", 1000, 1), Member("c", 1000, 1)});
  for (int i = 0; i < 3; ++i) {  // the team keeps this member list
    absl::StatusOr<PickResult> peek = allocator_.Peek(r);
    ASSERT_TRUE(peek.ok()) << peek.status();
    EXPECT_EQ(peek->rep_id, "a");
  }
  EXPECT_THAT(PickCommit(r, 5), ElementsAre("a", "b", "a", "c", "a"));
  PickRequest rr = Request(v1::ROUND_ROBIN, {Member("x"), Member("y")}, "rr");
  ASSERT_TRUE(allocator_.Peek(rr).ok());
  EXPECT_THAT(PickCommit(rr, 3), ElementsAre("x", "y", "x"));
}

// ---------------------------------------------------------------------------
// Round-robin cursor persistence

TEST_F(TeamAllocatorTest, CursorIsSeededFromItsCounter) {
  counters_.Set(TeamAllocator::CursorCounterKey(kTeam), 2);  // last pick: b
  PickRequest r =
      Request(v1::ROUND_ROBIN, {Member("a"), Member("b"), Member("c")});
  EXPECT_THAT(PickCommit(r, 2), ElementsAre("c", "a"));
  // Out of range after the team shrank: wraps.
  counters_.Set(TeamAllocator::CursorCounterKey("other"), 7);  // index 6
  PickRequest other = Request(v1::ROUND_ROBIN,
                              {Member("a"), Member("b"), Member("c")}, "other");
  EXPECT_THAT(PickCommit(other, 1), ElementsAre("b"));  // (6 + 1) % 3 = 1
}

TEST_F(TeamAllocatorTest, CursorDeltasKeepTheCounterEqualToTheLastPick) {
  const std::string key = TeamAllocator::CursorCounterKey(kTeam);
  PickRequest r = Request(v1::ROUND_ROBIN,
                          {Member("a"), Member("b"), Member("c"), Member("d")});
  // Commits add the reservation's delta in the same "transaction".
  auto commit = [&](PickResult& p) {
    counters_.Add(key, p.reservation->cursor_delta());
    p.reservation->Commit();
  };
  absl::StatusOr<PickResult> p1 = allocator_.Pick(r);  // a
  absl::StatusOr<PickResult> p2 = allocator_.Pick(r);  // b, held
  absl::StatusOr<PickResult> p3 = allocator_.Pick(r);  // c, fails
  ASSERT_TRUE(p1.ok() && p2.ok() && p3.ok());
  EXPECT_EQ(p1->rep_id, "a");
  EXPECT_EQ(p2->rep_id, "b");
  EXPECT_EQ(p3->rep_id, "c");
  commit(*p1);
  EXPECT_EQ(counters_.Get(key), 1);
  p3->reservation->Release();  // its delta never reaches the store
  absl::StatusOr<PickResult> p4 = allocator_.Pick(r);  // d: not rewound
  ASSERT_TRUE(p4.ok());
  EXPECT_EQ(p4->rep_id, "d");
  commit(*p4);
  commit(*p2);                       // commits may land out of pick order
  EXPECT_EQ(counters_.Get(key), 4);  // 1 + index of d

  // A restarted allocator resumes after d, as this one does.
  TeamAllocator restarted(counters_.Loader());
  absl::StatusOr<PickResult> next = allocator_.Pick(r);
  absl::StatusOr<PickResult> next_after_restart = restarted.Pick(r);
  ASSERT_TRUE(next.ok() && next_after_restart.ok());
  EXPECT_EQ(next->rep_id, "a");
  EXPECT_EQ(next_after_restart->rep_id, "a");
}

// ---------------------------------------------------------------------------
// Concurrency (real threads)

void RunThreads(int count, const std::function<void(int)>& body) {
  absl::Notification start;
  std::vector<std::thread> threads;
  threads.reserve(count);
  for (int t = 0; t < count; ++t) {
    threads.emplace_back([&, t] {
      start.WaitForNotification();
      body(t);
    });
  }
  start.Notify();
  for (std::thread& thread : threads) thread.join();
}

constexpr int kThreads = 16;

TEST_F(TeamAllocatorTest, ConcurrentRoundRobinStaysWithinOneOfEven) {
  constexpr int kPicks = 1000;
  PickRequest r =
      Request(v1::ROUND_ROBIN,
              {Member("a", 1 << 20), Member("b", 1 << 20), Member("c", 1 << 20),
               Member("d", 1 << 20), Member("e", 1 << 20), Member("f", 1 << 20),
               Member("g", 1 << 20)});
  std::atomic<int64_t> counts[7] = {};
  std::atomic<int> errors{0};
  RunThreads(kThreads, [&](int) {
    for (int i = 0; i < kPicks; ++i) {
      absl::StatusOr<PickResult> pick = allocator_.Pick(r);
      if (!pick.ok() || !pick->picked()) {
        ++errors;
        continue;
      }
      ++counts[pick->member_index];
      pick->reservation->Commit();
    }
  });
  EXPECT_EQ(errors.load(), 0);
  int64_t total = 0, lo = INT64_MAX, hi = 0;
  for (auto& c : counts) {
    total += c.load();
    lo = std::min<int64_t>(lo, c.load());
    hi = std::max<int64_t>(hi, c.load());
  }
  EXPECT_EQ(total, kThreads * kPicks);
  EXPECT_LE(hi - lo, 1);  // 16000 / 7: every member 2285 or 2286
  EXPECT_EQ(lo, total / 7);
}

TEST_F(TeamAllocatorTest, ConcurrentWeightedStaysWithinOneOfShares) {
  constexpr int kPicks = 500;  // 8000 picks = 1600 full cycles of 3+1+1
  PickRequest r =
      Request(v1::WEIGHTED, {Member("a", 1 << 20, 3), Member("b", 1 << 20, 1),
                             Member("c", 1 << 20, 1)});
  std::atomic<int64_t> counts[3] = {};
  RunThreads(kThreads, [&](int) {
    for (int i = 0; i < kPicks; ++i) {
      absl::StatusOr<PickResult> pick = allocator_.Pick(r);
      ASSERT_TRUE(pick.ok() && pick->picked());
      ++counts[pick->member_index];
      pick->reservation->Commit();
    }
  });
  const int64_t total = kThreads * kPicks;
  const int64_t shares[3] = {total * 3 / 5, total / 5, total / 5};
  for (int i = 0; i < 3; ++i) {
    EXPECT_LE(std::abs(counts[i].load() - shares[i]), 1) << i;
  }
}

TEST_F(TeamAllocatorTest, ConcurrentPicksNeverExceedCapacity) {
  constexpr int64_t kCapacity = 50;
  constexpr int kAttempts = 100;  // 1600 attempts for 4 x 50 units
  const std::vector<std::string> reps = {"a", "b", "c", "d"};
  counters_.Set(OwnedKey("d"), 10);  // d starts with 10 of its 50
  std::vector<PickMember> members;
  for (const std::string& rep : reps) members.push_back(Member(rep, kCapacity));
  // Two teams of the same department share the reps, with different
  // strategies, so reservations race across team locks.
  PickRequest t1 = Request(v1::ROUND_ROBIN, members, "t1");
  PickRequest t2 = Request(v1::LEAST_LOADED, members, "t2");
  absl::Mutex mu;
  std::map<std::string, int64_t> committed;  // guarded by mu
  std::atomic<int> released{0};
  std::atomic<int> over{0};
  std::atomic<int> errors{0};
  RunThreads(kThreads, [&](int t) {
    for (int i = 0; i < kAttempts; ++i) {
      absl::StatusOr<PickResult> pick =
          allocator_.Pick((t + i) % 2 == 0 ? t1 : t2);
      if (!pick.ok()) {
        ++errors;
        continue;
      }
      if (!pick->picked()) continue;
      if (i % 5 == 0) {  // a failed commit
        ++released;
        pick->reservation.reset();
        continue;
      }
      pick->reservation->Commit();
      absl::MutexLock lock(&mu);
      int64_t& n = committed[pick->rep_id];
      ++n;
      if (n + (pick->rep_id == "d" ? 10 : 0) > kCapacity) ++over;
    }
  });
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(over.load(), 0);
  EXPECT_GT(released.load(), 0);
  absl::MutexLock lock(&mu);
  EXPECT_EQ(committed["a"], kCapacity);
  EXPECT_EQ(committed["b"], kCapacity);
  EXPECT_EQ(committed["c"], kCapacity);
  EXPECT_EQ(committed["d"], kCapacity - 10);
  for (const std::string& rep : reps) {
    EXPECT_EQ(Load(rep).owned, kCapacity) << rep;
    EXPECT_EQ(Load(rep).reserved, 0) << rep;
  }
  absl::StatusOr<PickResult> after = allocator_.Pick(t1);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->picked());
  EXPECT_EQ(after->skipped.size(), reps.size());
}

// Many teams share one rep: each team's pick reads the rep's load under its
// own team lock, so two teams may both see the last unit free; exactly one
// reservation may win it. Rounds of one unit, every thread on its own team.
TEST_F(TeamAllocatorTest, TeamsRacingForTheLastUnitOfASharedRepGetItOnce) {
  constexpr int kRacers = 4;
  constexpr int kRounds = 3000;
  std::barrier sync(kRacers);
  std::atomic<int> winners[kRounds] = {};
  std::atomic<int> errors{0};
  RunThreads(kRacers, [&](int t) {
    for (int round = 0; round < kRounds; ++round) {
      PickRequest r =
          Request(v1::LEAST_LOADED, {Member(absl::StrCat("r", round), 1)},
                  absl::StrCat("team", t));
      EXPECT_TRUE(allocator_.Preload(kDept, r.members[0].rep_id).ok());
      sync.arrive_and_wait();
      absl::StatusOr<PickResult> pick = allocator_.Pick(r);
      if (!pick.ok()) {
        ++errors;
      } else if (pick->picked()) {
        ++winners[round];
      }
      sync.arrive_and_wait();  // keep the reservation until all have tried
    }
  });
  EXPECT_EQ(errors.load(), 0);
  int wrong = 0;
  for (int round = 0; round < kRounds; ++round) {
    if (winners[round].load() != 1) ++wrong;
  }
  EXPECT_EQ(wrong, 0);
}

TEST_F(TeamAllocatorTest, OpenReservationDoesNotBlockOtherPicks) {
  constexpr int kOthers = 8;
  constexpr int kPicks = 200;
  PickRequest r =
      Request(v1::ROUND_ROBIN, {Member("a", 1 << 20), Member("b", 1 << 20)});
  PickRequest shares_a = Request(v1::WEIGHTED, {Member("a", 1 << 20)}, "t2");
  absl::Notification held;
  absl::Notification others_done;
  bool others_finished_while_held = false;
  std::thread holder([&] {
    absl::StatusOr<PickResult> pick = allocator_.Pick(r);
    if (!pick.ok() || !pick->picked()) {
      ADD_FAILURE() << "holder could not pick";
      held.Notify();
      return;
    }
    held.Notify();
    // Between Pick and Commit: the "fsync" of the ownership transaction.
    others_finished_while_held =
        others_done.WaitForNotificationWithTimeout(absl::Seconds(60));
    pick->reservation->Commit();
  });
  held.WaitForNotification();
  RunThreads(kOthers, [&](int t) {
    for (int i = 0; i < kPicks; ++i) {
      absl::StatusOr<PickResult> pick = allocator_.Pick(t % 2 ? r : shares_a);
      ASSERT_TRUE(pick.ok() && pick->picked());
      pick->reservation->Commit();
    }
  });
  others_done.Notify();
  holder.join();
  EXPECT_TRUE(others_finished_while_held);
  EXPECT_EQ(Load("a").owned + Load("b").owned, 1 + kOthers * kPicks);
  EXPECT_EQ(Load("a").reserved + Load("b").reserved, 0);
}

TEST_F(TeamAllocatorTest, ConcurrentFirstUseLoadsEachCounterConsistently) {
  counters_.Set(OwnedKey("a"), 3);
  PickRequest r = Request(v1::ROUND_ROBIN, {Member("a", 10), Member("b", 7)});
  std::atomic<int> picked{0};
  RunThreads(kThreads, [&](int) {
    for (int i = 0; i < 4; ++i) {
      absl::StatusOr<PickResult> pick = allocator_.Pick(r);
      ASSERT_TRUE(pick.ok());
      if (!pick->picked()) continue;
      ++picked;
      pick->reservation->Commit();
    }
  });
  EXPECT_EQ(picked.load(), 14);  // 7 free units each
  EXPECT_EQ(Load("a").owned, 10);
  EXPECT_EQ(Load("b").owned, 7);
}

}  // namespace
}  // namespace custodian::server
