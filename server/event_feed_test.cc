#include "server/event_feed.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/ownership_book_testing.h"

namespace custodian::server {
namespace {

using book_testing::BookTest;
using ::testing::ElementsAre;

std::vector<int64_t> Sequences(const std::vector<v1::OwnershipEvent>& events) {
  std::vector<int64_t> out;
  for (const v1::OwnershipEvent& e : events) out.push_back(e.sequence());
  return out;
}

class EventFeedTest : public BookTest {
 protected:
  // Stages `change` in a new transaction left open.
  struct Open {
    std::unique_ptr<storage::Transaction> txn;
    PendingEvents pending;
  };
  Open StageOpen(const ChangeSpec& change) {
    Open open;
    auto txn = store_->Begin();
    EXPECT_TRUE(txn.ok()) << txn.status();
    open.txn = std::move(*txn);
    auto pending = book_->Stage(*open.txn, change);
    EXPECT_TRUE(pending.ok()) << pending.status();
    if (pending.ok()) open.pending = std::move(*pending);
    return open;
  }
  void CommitOpen(Open& open) {
    ASSERT_TRUE(open.txn->Commit().ok());
    open.pending.Committed();
  }

  std::vector<int64_t> ReadAll(int64_t after) {
    auto batch = feed_->ReadEvents(after, kMaxFeedBatch);
    EXPECT_TRUE(batch.ok()) << batch.status();
    return batch.ok() ? Sequences(batch->events) : std::vector<int64_t>();
  }
};

TEST_F(EventFeedTest, OutOfOrderCommitsStayHiddenUntilTheWatermarkPasses) {
  PutCustomer("c1", {});
  PutCustomer("c2", {});
  PutCustomer("c3", {});
  Open first = StageOpen(Active("c1", "sales", "zhang.wei", "ka-east"));
  Open second = StageOpen(Active("c2", "sales", "zhang.wei", "ka-east"));
  Open third = StageOpen(Active("c3", "sales", "zhang.wei", "ka-east"));
  CommitOpen(second);
  // Event 2 is in the store, but 1 is in flight: a reader that saw 2 now
  // would skip 1 when it commits.
  EXPECT_THAT(ReadAll(0), ElementsAre());
  CommitOpen(first);
  EXPECT_THAT(ReadAll(0), ElementsAre(1, 2));
  third.txn->Rollback();
  third.pending.Abandoned();
  auto batch = feed_->ReadEvents(2, 10);
  ASSERT_TRUE(batch.ok());
  EXPECT_TRUE(batch->events.empty());
  EXPECT_EQ(batch->resume_after, 3);  // past the gap
  MustCommit(Active("c3", "sales", "li.na", "ka-east"));
  EXPECT_THAT(ReadAll(0), ElementsAre(1, 2, 4));
  EXPECT_THAT(ReadAll(2), ElementsAre(4));
}

TEST_F(EventFeedTest, ReadsInBatchesAndValidatesArguments) {
  for (int i = 0; i < 5; ++i) {
    const std::string c = absl::StrCat("c", i);
    PutCustomer(c, {});
    MustCommit(Active(c, "sales", "zhang.wei", "ka-east"));
  }
  auto batch = feed_->ReadEvents(0, 2);
  ASSERT_TRUE(batch.ok());
  EXPECT_THAT(Sequences(batch->events), ElementsAre(1, 2));
  EXPECT_EQ(batch->resume_after, 2);
  batch = feed_->ReadEvents(batch->resume_after, 2);
  EXPECT_THAT(Sequences(batch->events), ElementsAre(3, 4));
  batch = feed_->ReadEvents(batch->resume_after, 2);
  EXPECT_THAT(Sequences(batch->events), ElementsAre(5));
  EXPECT_EQ(batch->resume_after, 5);
  EXPECT_EQ(batch->events[0].customer_id(), "c4");

  EXPECT_EQ(feed_->ReadEvents(-1, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(feed_->ReadEvents(0, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(feed_->ReadEvents(0, kMaxFeedBatch + 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EventFeedTest, WatchWaitsForTheNextCommitOrCancellation) {
  PutCustomer("c1", {});
  // Past deadline: an empty batch at once.
  auto idle = feed_->Watch(0, 10, absl::InfinitePast(), nullptr);
  ASSERT_TRUE(idle.ok()) << idle.status();
  EXPECT_TRUE(idle->events.empty());

  absl::StatusOr<EventBatch> watched = absl::UnknownError("not run");
  std::thread watcher(
      [&] { watched = feed_->Watch(0, 10, absl::InfiniteFuture(), nullptr); });
  // An abandoned change moves the watermark without an event; the watcher
  // keeps waiting for the committed one.
  {
    Open dropped = StageOpen(Active("c1", "sales", "li.na", "ka-east"));
    dropped.txn->Rollback();
  }
  MustCommit(Active("c1", "sales", "zhang.wei", "ka-east"));
  watcher.join();
  ASSERT_TRUE(watched.ok()) << watched.status();
  EXPECT_THAT(Sequences(watched->events), ElementsAre(2));

  WaitCancellation cancel(*sequencer_);
  absl::StatusOr<EventBatch> cancelled = absl::UnknownError("not run");
  std::thread stream([&] {
    cancelled = feed_->Watch(2, 10, absl::InfiniteFuture(), &cancel);
  });
  cancel.Cancel();
  stream.join();
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled);
}

// Writers commit and abandon changes in random order while readers follow
// the feed, each resuming after the last event it received: every reader
// gets every committed event exactly once, in order.
TEST_F(EventFeedTest, ConcurrentReadersNeverSkipOrRepeatAnEvent) {
  constexpr int kWriters = 3;
  constexpr int kReaders = 2;
  constexpr int kRounds = 25;
  constexpr int kOpenPerRound = 3;
  for (int w = 0; w < kWriters; ++w) {
    for (int k = 0; k < kOpenPerRound; ++k) {
      PutCustomer(absl::StrCat("w", w, "-", k), {});
    }
  }

  absl::Mutex mu;
  std::set<int64_t> committed;
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937 rng(w + 1);
      const char* reps[] = {"zhang.wei", "li.na"};
      for (int r = 0; r < kRounds; ++r) {
        std::vector<Open> open;
        for (int k = 0; k < kOpenPerRound; ++k) {
          open.push_back(StageOpen(Active(absl::StrCat("w", w, "-", k), "sales",
                                          reps[(r + k) % 2], "ka-east")));
        }
        std::shuffle(open.begin(), open.end(), rng);
        for (Open& o : open) {
          const int64_t sequence = o.pending.events().at(0).sequence();
          if (sequencer_->watermark() >= sequence) ++failures;
          if (rng() % 5 == 0) {
            o.txn->Rollback();
            o.pending.Abandoned();
            continue;
          }
          if (!o.txn->Commit().ok()) {
            ++failures;
            continue;
          }
          o.pending.Committed();
          absl::MutexLock lock(&mu);
          committed.insert(sequence);
        }
      }
    });
  }

  WaitCancellation cancel(*sequencer_);
  std::vector<std::vector<int64_t>> received(kReaders);
  std::vector<std::thread> readers;
  for (int i = 0; i < kReaders; ++i) {
    readers.emplace_back([&, i] {
      int64_t cursor = 0;  // the client's cursor: its last event's sequence
      for (int calls = 0; calls < 100000; ++calls) {
        absl::StatusOr<EventBatch> batch =
            feed_->Watch(cursor, 1 + i * 4, absl::InfiniteFuture(), &cancel);
        if (absl::IsCancelled(batch.status())) break;
        if (!batch.ok()) {
          ++failures;
          return;
        }
        for (const v1::OwnershipEvent& e : batch->events) {
          received[i].push_back(e.sequence());
        }
        cursor = batch->events.back().sequence();
      }
      // Drain what was committed before the cancellation.
      for (int calls = 0; calls < 100000; ++calls) {
        absl::StatusOr<EventBatch> batch = feed_->ReadEvents(cursor, 5);
        if (!batch.ok()) {
          ++failures;
          return;
        }
        if (batch->events.empty()) break;
        for (const v1::OwnershipEvent& e : batch->events) {
          received[i].push_back(e.sequence());
        }
        cursor = batch->events.back().sequence();
      }
    });
  }
  for (std::thread& t : writers) t.join();
  cancel.Cancel();
  for (std::thread& t : readers) t.join();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(sequencer_->in_flight(), 0);
  EXPECT_EQ(sequencer_->watermark(), kWriters * kRounds * kOpenPerRound);
  const std::vector<int64_t> expected(committed.begin(), committed.end());
  EXPECT_GT(expected.size(), 0u);
  EXPECT_LT(expected.size(),
            static_cast<size_t>(kWriters * kRounds * kOpenPerRound));
  for (int i = 0; i < kReaders; ++i) {
    EXPECT_EQ(received[i], expected) << "reader " << i;
  }
}

TEST_F(EventFeedTest, RestartContinuesSequencesAndResumesExactlyOnce) {
  PutCustomer("c1", {});
  PutCustomer("c2", {});
  MustCommit(Active("c1", "sales", "zhang.wei", "ka-east"));
  MustCommit(Active("c2", "sales", "zhang.wei", "ka-east"));
  {
    // An abandoned sequence at the end: 3.
    Open dropped = StageOpen(Active("c1", "sales", "li.na", "ka-east"));
    dropped.txn->Rollback();
  }
  auto batch = feed_->ReadEvents(0, 1);
  ASSERT_TRUE(batch.ok());
  ASSERT_THAT(Sequences(batch->events), ElementsAre(1));
  const int64_t cursor = batch->events.back().sequence();

  Reopen();
  EXPECT_EQ(sequencer_->watermark(), 2);
  clock_.Advance(absl::Minutes(1));
  v1::OwnershipEvent next =
      MustCommit(Active("c1", "sales", "li.na", "ka-east"));
  EXPECT_EQ(next.sequence(), 3);
  EXPECT_EQ(next.before().rep(), "zhang.wei");
  MustCommit(Pooled("c2", "sales", "east-pool"));
  EXPECT_THAT(ReadAll(cursor), ElementsAre(2, 3, 4));
  EXPECT_THAT(ReadAll(0), ElementsAre(1, 2, 3, 4));

  // The history index and counters survived too.
  EXPECT_EQ(Counter(OwnedCounterKeyOf("sales", "zhang.wei")), 0);
  EXPECT_EQ(Counter(OwnedCounterKeyOf("sales", "li.na")), 1);
  Reopen();
  EXPECT_EQ(sequencer_->watermark(), 4);
  EXPECT_THAT(ReadAll(3), ElementsAre(4));
  v1::ListOwnershipEventsRequest request;
  request.set_customer_id("c1");
  auto history = book_->ListOwnershipEvents(request);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->events_size(), 2);
  EXPECT_EQ(history->events(0).sequence(), 1);
  EXPECT_EQ(history->events(1).sequence(), 3);
}

}  // namespace
}  // namespace custodian::server
