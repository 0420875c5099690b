// custodian.v1.OwnershipService.WatchOwnershipEvents over a real channel,
// against a real server on a real store (tests/ownership_testing.h): order,
// live events, resume by cursor exactly once (also across a restart on the
// same data dir), shutdown with open watches, watches not starving
// mutations, bad input.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "custodian/v1/ownership_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ownership_testing.h"

namespace custodian::server {
namespace {

using testing::BadFields;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using testing::MakeCustomer;
using testing::WatchStream;

std::vector<int64_t> Sequences(const std::vector<v1::OwnershipEvent>& events) {
  std::vector<int64_t> out;
  for (const v1::OwnershipEvent& e : events) out.push_back(e.sequence());
  return out;
}

class WatchApiTest : public testing::OwnershipFixture {
 protected:
  // Assigns customers w-<from>..w-<to - 1> (2 events each: sales, service).
  void AssignRange(int from, int to) {
    for (int i = from; i < to; ++i) {
      MustAssign(MakeCustomer(absl::StrCat("w-", i), "rr"),
                 absl::StrCat("w-", i));
    }
  }

  // Every event so far, by a fresh watch from the start that reads `n`.
  std::vector<v1::OwnershipEvent> AllEvents(size_t n) {
    WatchStream all(ownership_.get(), 0);
    std::vector<v1::OwnershipEvent> events = all.Read(n);
    EXPECT_EQ(events.size(), n);
    return events;
  }

  // Every event of customers w-0..w-<n - 1> by ListOwnershipEvents, in
  // sequence order.
  std::vector<int64_t> ListedSequences(int n) {
    std::vector<int64_t> out;
    for (int i = 0; i < n; ++i) {
      for (const auto& e : History(absl::StrCat("w-", i))) {
        out.push_back(e.sequence());
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }
};

TEST_F(WatchApiTest, SendsEveryEventInOrderThenNewOnesAsTheyCommit) {
  AssignRange(0, 3);
  WatchStream watch(ownership_.get(), 0);
  std::vector<v1::OwnershipEvent> events = watch.Read(6);
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(Sequences(events), ListedSequences(3));
  EXPECT_EQ(events[0].customer_id(), "w-0");
  EXPECT_EQ(events[0].cause(), v1::OwnershipEvent::RULE);
  EXPECT_EQ(events[0].actor(), "local-dev");

  // The watch is caught up and waiting: new events arrive as they commit.
  AssignRange(3, 4);
  std::vector<v1::OwnershipEvent> live = watch.Read(2);
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0].customer_id(), "w-3");
  EXPECT_GT(live[0].sequence(), events.back().sequence());
  EXPECT_EQ(Sequences(AllEvents(8)), ListedSequences(4));

  EXPECT_EQ(watch.Cancel().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(WatchApiTest, ReconnectingAfterTheLastSequenceGetsTheRestExactlyOnce) {
  AssignRange(0, 2);
  std::vector<v1::OwnershipEvent> received;
  {
    WatchStream first(ownership_.get(), 0);
    received = first.Read(3);
    ASSERT_EQ(received.size(), 3u);
    first.Cancel();  // the client disconnects
  }
  AssignRange(2, 4);
  WatchStream second(ownership_.get(), received.back().sequence());
  for (const v1::OwnershipEvent& e : second.Read(5)) received.push_back(e);
  EXPECT_THAT(Sequences(received), ElementsAreArray(ListedSequences(4)));
  // Starting after the last event sent is also exact: only the next one.
  WatchStream third(ownership_.get(), received.back().sequence());
  AssignRange(4, 5);
  std::vector<v1::OwnershipEvent> next = third.Read(1);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].customer_id(), "w-4");
  EXPECT_GT(next[0].sequence(), received.back().sequence());
}

TEST_F(WatchApiTest, ResumesExactlyOnceAcrossAServerRestart) {
  AssignRange(0, 2);
  std::vector<v1::OwnershipEvent> received;
  {
    WatchStream watch(ownership_.get(), 0);
    received = watch.Read(2);
    ASSERT_EQ(received.size(), 2u);
    // Shutting the server down ends the open watch with UNAVAILABLE (so the
    // shutdown does not wait for its deadline), after what it had sent.
    absl::Status closed = server_->Shutdown(absl::Now() + absl::Seconds(30));
    ASSERT_TRUE(closed.ok()) << closed;
    for (const v1::OwnershipEvent& e : watch.ReadToEnd()) received.push_back(e);
    grpc::Status ended = watch.Finish();
    EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(ended.error_message(), HasSubstr("after_sequence"));
  }
  const int64_t last_before_restart = received.back().sequence();
  RestartServer();
  // The sequencer re-seeds from the store.
  EXPECT_EQ(server_->startup().event_sequence, ListedSequences(2).back());

  AssignRange(2, 4);
  WatchStream resumed(ownership_.get(), last_before_restart);
  const size_t missing = 8 - received.size();
  for (const v1::OwnershipEvent& e : resumed.Read(missing)) {
    received.push_back(e);
  }
  EXPECT_THAT(Sequences(received), ElementsAreArray(ListedSequences(4)));
  EXPECT_EQ(Sequences(AllEvents(8)), Sequences(received));
}

// Each open watch has its own thread, outside the worker pool: more open
// watches than workers (64) do not hold up mutations, and all of them get
// the new events.
TEST_F(WatchApiTest, MoreOpenWatchesThanWorkersDoNotStarveMutations) {
  constexpr int kWatches = 70;
  std::vector<std::unique_ptr<WatchStream>> watches;
  for (int i = 0; i < kWatches; ++i) {
    watches.push_back(std::make_unique<WatchStream>(ownership_.get(), 0));
  }
  AssignRange(0, 1);
  const std::vector<int64_t> want = ListedSequences(1);
  ASSERT_EQ(want.size(), 2u);
  for (int i = 0; i < kWatches; ++i) {
    EXPECT_EQ(Sequences(watches[i]->Read(2)), want) << i;
  }
}

TEST_F(WatchApiTest, NegativeAfterSequenceIsInvalidArgument) {
  WatchStream watch(ownership_.get(), -1);
  EXPECT_TRUE(watch.ReadToEnd().empty());
  grpc::Status status = watch.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), ::testing::StartsWith("after_sequence:"));
  EXPECT_THAT(BadFields(status), ElementsAre("after_sequence"));
}

}  // namespace
}  // namespace custodian::server
