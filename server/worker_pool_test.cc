#include "server/worker_pool.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custodian::server {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<WorkerPool> MakePool(int threads, int64_t queue_capacity) {
  WorkerPool::Options options;
  options.threads = threads;
  options.queue_capacity = queue_capacity;
  absl::StatusOr<std::unique_ptr<WorkerPool>> pool =
      WorkerPool::Create(options);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return pool.ok() ? *std::move(pool) : nullptr;
}

TEST(WorkerPoolTest, RefusesBadOptionsNamingThem) {
  WorkerPool::Options options;
  options.threads = 0;
  absl::StatusOr<std::unique_ptr<WorkerPool>> pool =
      WorkerPool::Create(options);
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(pool.status().message()), HasSubstr("threads 0"));
  options.threads = 1;
  options.queue_capacity = -1;
  pool = WorkerPool::Create(options);
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(pool.status().message()),
              HasSubstr("queue_capacity -1"));
}

TEST(WorkerPoolTest, RunsEveryAcceptedTaskExactlyOnce) {
  std::unique_ptr<WorkerPool> pool = MakePool(4, 1000);
  std::vector<std::atomic<int>> runs(500);
  absl::BlockingCounter done(500);
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(pool->Submit([&runs, &done, i] {
                      runs[i].fetch_add(1);
                      done.DecrementCount();
                    })
                    .ok());
  }
  done.Wait();
  pool->Shutdown();
  for (int i = 0; i < 500; ++i) EXPECT_EQ(runs[i].load(), 1) << i;
}

// 64 tasks that each wait for all the others can only finish if all 64 run
// at the same time: the pool does not serialize blocking work.
TEST(WorkerPoolTest, RunsAsManyBlockingTasksAtOnceAsItHasThreads) {
  std::unique_ptr<WorkerPool> pool = MakePool(64, 64);
  absl::BlockingCounter started(64);
  absl::Notification all_started;
  absl::BlockingCounter finished(64);
  for (int i = 0; i < 64; ++i) {
    ASSERT_TRUE(pool->Submit([&] {
                      started.DecrementCount();
                      all_started.WaitForNotification();
                      finished.DecrementCount();
                    })
                    .ok())
        << i;
  }
  started.Wait();
  all_started.Notify();
  finished.Wait();
}

TEST(WorkerPoolTest, RefusesWithResourceExhaustedWhenTheQueueIsFull) {
  std::unique_ptr<WorkerPool> pool = MakePool(2, 3);
  absl::Notification release;
  absl::BlockingCounter started(2);
  std::atomic<int> ran{0};
  auto blocking = [&] {
    started.DecrementCount();
    release.WaitForNotification();
    ran.fetch_add(1);
  };
  auto task = [&] { ran.fetch_add(1); };
  ASSERT_TRUE(pool->Submit(blocking).ok());
  ASSERT_TRUE(pool->Submit(blocking).ok());
  started.Wait();  // both threads busy
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pool->Submit(task).ok()) << i;
  bool refused_ran = false;
  absl::Status refused = pool->Submit([&] { refused_ran = true; });
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("2 workers"));
  EXPECT_EQ(pool->queued(), 3);
  release.Notify();
  pool->Shutdown();
  EXPECT_EQ(ran.load(), 5);
  EXPECT_FALSE(refused_ran);
}

TEST(WorkerPoolTest, ZeroQueueCapacityAcceptsOnlyWhileAThreadIsIdle) {
  std::unique_ptr<WorkerPool> pool = MakePool(1, 0);
  absl::Notification started;
  absl::Notification release;
  ASSERT_TRUE(pool->Submit([&] {
                    started.Notify();
                    release.WaitForNotification();
                  })
                  .ok());
  started.WaitForNotification();
  EXPECT_EQ(pool->Submit([] {}).code(), absl::StatusCode::kResourceExhausted);
  release.Notify();
}

TEST(WorkerPoolTest, ShutdownRunsEveryAcceptedTaskThenRefusesNewOnes) {
  std::unique_ptr<WorkerPool> pool = MakePool(1, 10);
  absl::Notification started;
  absl::Notification release;
  std::atomic<int> ran{0};
  ASSERT_TRUE(pool->Submit([&] {
                    started.Notify();
                    release.WaitForNotification();
                    ran.fetch_add(1);
                  })
                  .ok());
  started.WaitForNotification();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(pool->Submit([&] { ran.fetch_add(1); }).ok());
  }
  std::thread stopper([&] { pool->Shutdown(); });
  release.Notify();
  stopper.join();
  EXPECT_EQ(ran.load(), 6);
  EXPECT_EQ(pool->Submit([] {}).code(), absl::StatusCode::kUnavailable);
  pool->Shutdown();  // idempotent
}

}  // namespace
}  // namespace custodian::server
