// WorkerPool: a fixed set of threads running tasks from a bounded FIFO queue,
// so that gRPC handlers can hand blocking work (a store commit waiting for
// its fsync, a long read) off the callback threads and still bound how much
// such work is admitted.
//
// Why many threads: a mutation blocks for its commit's fsync, and RocksDB's
// group commit lets every writer waiting at the same time share one fsync.
// With N threads, N concurrent mutations share one fsync, so throughput
// grows with N while each thread mostly sleeps. N is fixed at creation (no
// growth under load), and at most `queue_capacity` tasks wait for a thread:
// beyond that Submit refuses with RESOURCE_EXHAUSTED at once, which callers
// pass on to clients (retry with backoff) instead of queueing without
// bound.
//
// Thread-safety: a WorkerPool is safe for concurrent use from many threads
// without external synchronization; tasks may Submit further tasks.
#ifndef CUSTODIAN_SERVER_WORKER_POOL_H_
#define CUSTODIAN_SERVER_WORKER_POOL_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace custodian::server {

class WorkerPool {
 public:
  struct Options {
    // Threads, fixed for the pool's life. 1-4096. Default: 64.
    int threads = 64;
    // Most tasks waiting for a free thread (tasks running do not count).
    // 0 means a task is accepted only when a thread is idle. 0-1,000,000.
    // Default: 1024.
    int64_t queue_capacity = 1024;
    // Names the pool in error messages ("workers"). Default: "workers".
    std::string name = "workers";
  };

  // Starts the threads and returns once each waits for work.
  // INVALID_ARGUMENT naming a bad option.
  static absl::StatusOr<std::unique_ptr<WorkerPool>> Create(Options options);

  // Shutdown(), then returns.
  ~WorkerPool();

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task` to run once on a pool thread, in submission order relative
  // to other queued tasks. Returns OK when accepted: the task will run, even
  // if Shutdown() is called meanwhile (Shutdown drains the queue).
  // RESOURCE_EXHAUSTED when queue_capacity tasks are already waiting (the
  // message names the pool and its size); UNAVAILABLE once Shutdown() has
  // begun. A refused task is destroyed without running.
  // REQUIRES: task is callable; it must not block forever (Shutdown waits
  // for it).
  absl::Status Submit(absl::AnyInvocable<void()> task);

  // Stops accepting tasks, runs every task already accepted, and joins the
  // threads. Idempotent; concurrent calls all return once the pool is
  // drained. REQUIRES: not called from a pool thread.
  void Shutdown();

  // Threads of the pool.
  int threads() const { return static_cast<int>(threads_.size()); }
  // Tasks accepted and not yet started, and tasks running, at this instant.
  int64_t queued() const;
  int64_t running() const;

 private:
  explicit WorkerPool(Options options) : options_(std::move(options)) {}
  void Loop();
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool AllIdle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  std::vector<std::thread> threads_;

  mutable absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void()>> queue_ ABSL_GUARDED_BY(mu_);
  int64_t running_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // Serializes Shutdown's joins.
  absl::Mutex join_mu_;
  bool joined_ ABSL_GUARDED_BY(join_mu_) = false;
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_WORKER_POOL_H_
