#include "server/worker_pool.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace custodian::server {

absl::StatusOr<std::unique_ptr<WorkerPool>> WorkerPool::Create(
    Options options) {
  if (options.threads < 1 || options.threads > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("threads ", options.threads, " is not in [1, 4096]"));
  }
  if (options.queue_capacity < 0 || options.queue_capacity > 1000000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "queue_capacity ", options.queue_capacity, " is not in [0, 1000000]"));
  }
  std::unique_ptr<WorkerPool> pool(new WorkerPool(std::move(options)));
  pool->threads_.reserve(pool->options_.threads);
  for (int i = 0; i < pool->options_.threads; ++i) {
    pool->threads_.emplace_back([p = pool.get()] { p->Loop(); });
  }
  // Return once every thread waits for work, so that a pool with
  // queue_capacity 0 accepts its first `threads` tasks.
  absl::MutexLock lock(&pool->mu_);
  pool->mu_.Await(absl::Condition(pool.get(), &WorkerPool::AllIdle));
  return pool;
}

WorkerPool::~WorkerPool() { Shutdown(); }

absl::Status WorkerPool::Submit(absl::AnyInvocable<void()> task) {
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    return absl::UnavailableError(
        absl::StrCat("the ", options_.name, " pool is shutting down"));
  }
  // Idle threads take queued tasks at once: only what exceeds them waits.
  const int64_t waiting = static_cast<int64_t>(queue_.size()) - idle_;
  if (waiting >= options_.queue_capacity) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the server is at capacity: all ", threads_.size(), " ",
                     options_.name, " are busy and ", options_.queue_capacity,
                     " calls are waiting; retry with backoff"));
  }
  queue_.push_back(std::move(task));
  return absl::OkStatus();
}

void WorkerPool::Loop() {
  mu_.Lock();
  while (true) {
    ++idle_;
    mu_.Await(absl::Condition(this, &WorkerPool::HasWork));
    --idle_;
    if (queue_.empty()) break;  // stopping and drained
    absl::AnyInvocable<void()> task = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    mu_.Unlock();
    task();
    task = nullptr;  // destroy captures outside the lock
    mu_.Lock();
    --running_;
  }
  mu_.Unlock();
}

void WorkerPool::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  absl::MutexLock lock(&join_mu_);
  if (joined_) return;
  for (std::thread& t : threads_) t.join();
  joined_ = true;
}

bool WorkerPool::HasWork() const { return !queue_.empty() || stopping_; }

bool WorkerPool::AllIdle() const { return idle_ == options_.threads; }

int64_t WorkerPool::queued() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(queue_.size());
}

int64_t WorkerPool::running() const {
  absl::MutexLock lock(&mu_);
  return running_;
}

}  // namespace custodian::server
