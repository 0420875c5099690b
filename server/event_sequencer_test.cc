#include "server/event_sequencer.h"

#include <atomic>
#include <cstdint>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/ownership_book_testing.h"
#include "storage/store.h"

namespace custodian::server {
namespace {

using book_testing::OpenStore;
using book_testing::TempDir;

TEST(EventSequencerTest, WatermarkStopsBelowTheLowestInFlightSequence) {
  EventSequencer sequencer(10);
  EXPECT_EQ(sequencer.watermark(), 10);
  SequenceTicket a = sequencer.Allocate(1);
  SequenceTicket b = sequencer.Allocate(3);
  SequenceTicket c = sequencer.Allocate(1);
  EXPECT_EQ(a.first(), 11);
  EXPECT_EQ(b.first(), 12);
  EXPECT_EQ(b.sequence(2), 14);
  EXPECT_EQ(c.first(), 15);
  EXPECT_EQ(sequencer.watermark(), 10);
  EXPECT_EQ(sequencer.in_flight(), 3);

  sequencer.Committed(c);
  EXPECT_FALSE(c.active());
  EXPECT_EQ(sequencer.watermark(), 10);
  sequencer.Committed(b);
  EXPECT_EQ(sequencer.watermark(), 10);
  sequencer.Committed(a);
  EXPECT_EQ(sequencer.watermark(), 15);
  EXPECT_EQ(sequencer.in_flight(), 0);
  EXPECT_EQ(sequencer.committed_tickets(), 3);
  // Finishing twice does nothing.
  sequencer.Abandoned(a);
  EXPECT_EQ(sequencer.abandoned_tickets(), 0);
}

TEST(EventSequencerTest, AbandonedSequencesLeaveGaps) {
  EventSequencer sequencer(0);
  {
    SequenceTicket dropped = sequencer.Allocate(2);  // 1, 2
    EXPECT_EQ(sequencer.watermark(), 0);
  }
  EXPECT_EQ(sequencer.watermark(), 2);
  SequenceTicket t = sequencer.Allocate(1);     // 3
  SequenceTicket held = sequencer.Allocate(1);  // 4
  t = sequencer.Allocate(1);  // 5; 3 is abandoned by the assignment
  EXPECT_EQ(sequencer.watermark(), 3);
  SequenceTicket moved = std::move(held);
  EXPECT_FALSE(held.active());
  sequencer.Abandoned(moved);
  EXPECT_EQ(sequencer.watermark(), 4);
  sequencer.Committed(t);
  EXPECT_EQ(sequencer.watermark(), 5);
  EXPECT_EQ(sequencer.Allocate(1).first(), 6);  // never reused
  EXPECT_EQ(sequencer.abandoned_tickets(), 4);
  EXPECT_EQ(sequencer.committed_tickets(), 1);
}

TEST(EventSequencerTest, ConcurrentTicketsNeverLetTheWatermarkPassThem) {
  EventSequencer sequencer(0);
  constexpr int kThreads = 8;
  constexpr int kRounds = 2000;
  std::atomic<int64_t> violations{0};
  std::atomic<int64_t> allocated{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      std::mt19937 rng(i);
      std::vector<SequenceTicket> held;
      for (int r = 0; r < kRounds; ++r) {
        const int64_t n = 1 + static_cast<int64_t>(rng() % 3);
        held.push_back(sequencer.Allocate(n));
        allocated += n;
        // Finish a random subset, in random order, committing or
        // abandoning; the rest stay in flight a while longer.
        std::shuffle(held.begin(), held.end(), rng);
        while (held.size() > rng() % 3) {
          for (const SequenceTicket& t : held) {
            if (sequencer.watermark() >= t.first()) ++violations;
          }
          if (rng() % 4 == 0) {
            sequencer.Abandoned(held.back());
          } else {
            sequencer.Committed(held.back());
          }
          held.pop_back();
        }
      }
      for (const SequenceTicket& t : held) {
        if (sequencer.watermark() >= t.first()) ++violations;
      }
    });  // `held` abandons the rest
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(sequencer.last_allocated(), allocated.load());
  EXPECT_EQ(sequencer.watermark(), allocated.load());
  EXPECT_EQ(sequencer.in_flight(), 0);
  EXPECT_EQ(sequencer.committed_tickets() + sequencer.abandoned_tickets(),
            kThreads * kRounds);
}

TEST(EventSequencerTest, WaitReturnsAtOnceWhenSatisfiedOrPastItsDeadline) {
  EventSequencer sequencer(5);
  auto satisfied =
      sequencer.WaitForWatermarkAbove(4, absl::InfinitePast(), nullptr);
  ASSERT_TRUE(satisfied.ok());
  EXPECT_EQ(*satisfied, 5);
  auto late = sequencer.WaitForWatermarkAbove(5, absl::InfinitePast(), nullptr);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded);
  WaitCancellation cancel(sequencer);
  cancel.Cancel();
  auto cancelled =
      sequencer.WaitForWatermarkAbove(5, absl::InfiniteFuture(), &cancel);
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled);
  // Satisfied wins over cancelled.
  EXPECT_TRUE(
      sequencer.WaitForWatermarkAbove(4, absl::InfiniteFuture(), &cancel).ok());
}

TEST(EventSequencerTest, WaitWakesOnCommitCancelAndShutdown) {
  EventSequencer sequencer(0);
  SequenceTicket first = sequencer.Allocate(1);
  SequenceTicket second = sequencer.Allocate(1);

  // Woken by the watermark passing 1: needs both tickets, finished out of
  // order.
  absl::StatusOr<int64_t> woken = absl::UnknownError("not run");
  std::thread waiter([&] {
    woken = sequencer.WaitForWatermarkAbove(1, absl::InfiniteFuture(), nullptr);
  });
  sequencer.Committed(second);
  sequencer.Abandoned(first);
  waiter.join();
  ASSERT_TRUE(woken.ok()) << woken.status();
  EXPECT_EQ(*woken, 2);

  WaitCancellation cancel(sequencer);
  absl::StatusOr<int64_t> cancelled = absl::UnknownError("not run");
  std::thread cancelled_waiter([&] {
    cancelled =
        sequencer.WaitForWatermarkAbove(2, absl::InfiniteFuture(), &cancel);
  });
  cancel.Cancel();
  cancelled_waiter.join();
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled);

  absl::StatusOr<int64_t> shut = absl::UnknownError("not run");
  std::thread shut_waiter([&] {
    shut = sequencer.WaitForWatermarkAbove(2, absl::InfiniteFuture(), nullptr);
  });
  sequencer.Shutdown();
  shut_waiter.join();
  EXPECT_EQ(shut.status().code(), absl::StatusCode::kCancelled);
  // Tickets still work after a shutdown.
  SequenceTicket after = sequencer.Allocate(1);
  EXPECT_EQ(after.first(), 3);
}

TEST(EventSequencerTest, SeedsFromTheLastStoredEvent) {
  TempDir dir;
  std::unique_ptr<storage::Store> store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  {
    auto sequencer = EventSequencer::Create(store.get());
    ASSERT_TRUE(sequencer.ok()) << sequencer.status();
    EXPECT_EQ((*sequencer)->watermark(), 0);
    EXPECT_EQ((*sequencer)->Allocate(1).first(), 1);
  }
  for (const std::vector<int64_t>& sequences :
       std::vector<std::vector<int64_t>>{
           {1}, {2, 3, 7}, {1000000007}, {(int64_t{1} << 62) + 12345}}) {
    ASSERT_TRUE(storage::RunInTransaction(
                    *store,
                    [&](storage::Transaction& txn) -> absl::Status {
                      for (int64_t s : sequences) {
                        absl::Status put =
                            txn.Put(storage::Table::kEvents, EventKey(s), "x");
                        if (!put.ok()) return put;
                      }
                      // Keys of other tables do not count.
                      return txn.Put(storage::Table::kIndexes, "zz", "");
                    })
                    .ok());
    auto snapshot = store->NewSnapshot();
    ASSERT_TRUE(snapshot.ok());
    auto last = LastStoredEventSequence(**snapshot);
    ASSERT_TRUE(last.ok()) << last.status();
    EXPECT_EQ(*last, sequences.back());
    snapshot->reset();
    auto sequencer = EventSequencer::Create(store.get());
    ASSERT_TRUE(sequencer.ok());
    EXPECT_EQ((*sequencer)->watermark(), sequences.back());
    EXPECT_EQ((*sequencer)->Allocate(1).first(), sequences.back() + 1);
  }
  EXPECT_EQ(EventSequencer::Create(nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store->Close().ok());
}

TEST(EventKeyTest, RoundTripsAndRejectsOtherKeys) {
  auto parsed = ParseEventKey(EventKey(42));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, 42);
  EXPECT_LT(EventKey(255), EventKey(256));
  EXPECT_FALSE(ParseEventKey("ev").ok());
  EXPECT_FALSE(ParseEventKey(EventKey(1) + "x").ok());
}

}  // namespace
}  // namespace custodian::server
