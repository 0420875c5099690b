#include "server/ownership_service.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/request_checks.h"
#include "server/status_mapping.h"
#include "server/worker_pool_reactor.h"

namespace custodian::server {

// One WatchOwnershipEvents stream. Owned by gRPC: deleted in OnDone. Its
// Run() executes on the stream's watch thread and calls Finish as its very
// last use of the object.
class OwnershipServiceImpl::WatchReactor final
    : public grpc::ServerWriteReactor<v1::OwnershipEvent> {
 public:
  // Why a stream stopped before it failed.
  enum class Stop { kNone, kClientCancelled, kShutdown };

  WatchReactor(OwnershipServiceImpl* service, int64_t after_sequence)
      : service_(service),
        cursor_(after_sequence),
        cancel_(*service->options_.sequencer) {}

  // The watch thread's body: streams until stopped, then finishes.
  void Run();

  // Stops the stream for `reason` (the first reason wins) and wakes the
  // watch thread. Safe from any thread while the stream is registered.
  void RequestStop(Stop reason) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_ == Stop::kNone) stop_ = reason;
    }
    cancel_.Cancel();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) write_failed_ = true;
  }
  void OnCancel() override { RequestStop(Stop::kClientCancelled); }
  void OnDone() override { delete this; }

 private:
  bool NotWriting() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !writing_;
  }
  // Writes `event` and waits for its OnWriteDone. False when the stream
  // stopped or the write failed (the client is gone).
  bool WriteOne(const v1::OwnershipEvent& event);
  // The status to finish with after the stream stopped without an error.
  grpc::Status StoppedStatus();

  OwnershipServiceImpl* const service_;
  // Where the next feed read starts (EventBatch::resume_after).
  int64_t cursor_;
  WaitCancellation cancel_;

  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  Stop stop_ ABSL_GUARDED_BY(mu_) = Stop::kNone;
};

bool OwnershipServiceImpl::WatchReactor::WriteOne(
    const v1::OwnershipEvent& event) {
  {
    absl::MutexLock lock(&mu_);
    if (stop_ != Stop::kNone || write_failed_) return false;
    writing_ = true;
  }
  StartWrite(&event);
  // Every StartWrite gets its OnWriteDone (ok=false once cancelled), so this
  // wait ends; and `event` stays alive until then.
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &WatchReactor::NotWriting));
  return stop_ == Stop::kNone && !write_failed_;
}

grpc::Status OwnershipServiceImpl::WatchReactor::StoppedStatus() {
  absl::MutexLock lock(&mu_);
  if (stop_ == Stop::kShutdown) {
    return grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        "custodiand is shutting down: reconnect with after_sequence = the "
        "sequence of the last event received");
  }
  return grpc::Status::CANCELLED;
}

void OwnershipServiceImpl::WatchReactor::Run() {
  const Options& options = service_->options_;
  grpc::Status status;
  bool stopped = false;
  while (!stopped) {
    absl::StatusOr<EventBatch> batch = options.feed->Watch(
        cursor_, options.watch_batch, absl::InfiniteFuture(), &cancel_);
    if (!batch.ok()) {
      // CANCELLED: our token (a stop was requested) or the sequencer's
      // shutdown; either way the stream ends without an error of its own.
      if (absl::IsCancelled(batch.status())) {
        RequestStop(Stop::kShutdown);  // no-op if a stop was requested
        status = StoppedStatus();
      } else {
        status = ToGrpcStatus(batch.status());
      }
      break;
    }
    for (const v1::OwnershipEvent& event : batch->events) {
      if (!WriteOne(event)) {
        stopped = true;
        break;
      }
    }
    if (stopped) {
      status = StoppedStatus();
      break;
    }
    cursor_ = batch->resume_after;
  }
  service_->WatchEnding(this);
  Finish(status);
  // `this` may be deleted from here on (OnDone).
}

absl::StatusOr<std::unique_ptr<OwnershipServiceImpl>>
OwnershipServiceImpl::Create(Options options) {
  std::vector<std::string> bad;
  if (options.book == nullptr) bad.push_back("book is required");
  if (options.assigner == nullptr) bad.push_back("assigner is required");
  if (options.feed == nullptr) bad.push_back("feed is required");
  if (options.sequencer == nullptr) bad.push_back("sequencer is required");
  if (options.pool == nullptr) bad.push_back("pool is required");
  if (options.authorizer == nullptr) bad.push_back("authorizer is required");
  if (options.max_watches < 1) bad.push_back("max_watches must be >= 1");
  if (options.watch_batch < 1 || options.watch_batch > kMaxFeedBatch) {
    bad.push_back(absl::StrCat("watch_batch must be in 1..", kMaxFeedBatch));
  }
  if (!bad.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("OwnershipServiceImpl options: ", bad.front()));
  }
  return std::unique_ptr<OwnershipServiceImpl>(
      new OwnershipServiceImpl(options));
}

OwnershipServiceImpl::~OwnershipServiceImpl() {
  EndWatches();
  std::list<WatchThread> threads;
  {
    absl::MutexLock lock(&watches_mu_);
    threads.swap(threads_);
  }
  // A thread ends once its stream has finished, which the gRPC server's
  // Shutdown waits for.
  for (WatchThread& t : threads) t.thread.join();
}

void OwnershipServiceImpl::EndWatches() {
  absl::MutexLock lock(&watches_mu_);
  watches_ended_ = true;
  // Registered watches have not finished, so they are alive.
  for (WatchReactor* watch : watches_) {
    watch->RequestStop(WatchReactor::Stop::kShutdown);
  }
}

int OwnershipServiceImpl::open_watches() const {
  absl::MutexLock lock(&watches_mu_);
  return static_cast<int>(watches_.size());
}

absl::Status OwnershipServiceImpl::StartWatch(WatchReactor* watch) {
  std::list<WatchThread> finished;
  absl::Status status;
  {
    absl::MutexLock lock(&watches_mu_);
    for (auto it = threads_.begin(); it != threads_.end();) {
      auto next = std::next(it);
      if (it->done) finished.splice(finished.end(), threads_, it);
      it = next;
    }
    if (watches_ended_) {
      status = absl::UnavailableError(
          "custodiand is shutting down: reconnect with after_sequence = the "
          "sequence of the last event received");
    } else if (static_cast<int>(watches_.size()) >= options_.max_watches) {
      status = absl::ResourceExhaustedError(
          absl::StrCat("too many open watches (", options_.max_watches,
                       "): retry with backoff"));
    } else {
      watches_.insert(watch);
      WatchThread& t = threads_.emplace_back();
      // The thread marks itself done under watches_mu_, held here until
      // t.thread is assigned.
      t.thread = std::thread([this, watch, done = &t.done] {
        watch->Run();
        absl::MutexLock done_lock(&watches_mu_);
        *done = true;
      });
    }
  }
  // Finished threads have released watches_mu_ and are ending: quick.
  for (WatchThread& t : finished) t.thread.join();
  return status;
}

void OwnershipServiceImpl::WatchEnding(WatchReactor* watch) {
  absl::MutexLock lock(&watches_mu_);
  watches_.erase(watch);
}

grpc::ServerUnaryReactor* OwnershipServiceImpl::GetOwnership(
    grpc::CallbackServerContext* context,
    const v1::GetOwnershipRequest* request, v1::Ownership* response) {
  absl::StatusOr<Caller> caller = options_.authorizer->Authorize(
      *context, "custodian.v1.OwnershipService.GetOwnership", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnary(context, options_.book->GetOwnership(*request), response);
}

grpc::ServerUnaryReactor* OwnershipServiceImpl::ListOwnerships(
    grpc::CallbackServerContext* context,
    const v1::ListOwnershipsRequest* request,
    v1::ListOwnershipsResponse* response) {
  absl::StatusOr<Caller> caller = options_.authorizer->Authorize(
      *context, "custodian.v1.OwnershipService.ListOwnerships", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(*options_.pool, context, response,
                           [book = options_.book, request] {
                             return book->ListOwnerships(*request);
                           });
}

grpc::ServerUnaryReactor* OwnershipServiceImpl::ListOwnershipEvents(
    grpc::CallbackServerContext* context,
    const v1::ListOwnershipEventsRequest* request,
    v1::ListOwnershipEventsResponse* response) {
  absl::StatusOr<Caller> caller = options_.authorizer->Authorize(
      *context, "custodian.v1.OwnershipService.ListOwnershipEvents", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(*options_.pool, context, response,
                           [book = options_.book, request] {
                             return book->ListOwnershipEvents(*request);
                           });
}

grpc::ServerWriteReactor<v1::OwnershipEvent>*
OwnershipServiceImpl::WatchOwnershipEvents(
    grpc::CallbackServerContext* context,
    const v1::WatchOwnershipEventsRequest* request) {
  auto* watch = new WatchReactor(this, request->after_sequence());
  absl::StatusOr<Caller> caller = options_.authorizer->Authorize(
      *context, "custodian.v1.OwnershipService.WatchOwnershipEvents", *request);
  if (!caller.ok()) {
    watch->Finish(ToGrpcStatus(caller.status()));
    return watch;
  }
  // The feed checks after_sequence too (EventFeed::ReadEvents); checking it
  // here answers at once, without starting a watch thread.
  FieldErrors errors;
  if (request->after_sequence() < 0) {
    errors.Add("after_sequence", "must not be negative");
  }
  absl::Status status = errors.ToStatus();
  if (status.ok()) status = StartWatch(watch);
  if (!status.ok()) watch->Finish(ToGrpcStatus(status));
  return watch;
}

grpc::ServerUnaryReactor* OwnershipServiceImpl::Transfer(
    grpc::CallbackServerContext* context, const v1::TransferRequest* request,
    v1::Ownership* response) {
  absl::StatusOr<Caller> caller = options_.authorizer->Authorize(
      *context, "custodian.v1.OwnershipService.Transfer", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *options_.pool, context, response,
      [assigner = options_.assigner, request,
       actor = ActorOf(*caller, "custodian.v1.OwnershipService.Transfer")] {
        return assigner->Transfer(*request, actor);
      });
}

grpc::ServerUnaryReactor* OwnershipServiceImpl::Approve(
    grpc::CallbackServerContext* context, const v1::ApproveRequest* request,
    v1::Ownership* response) {
  absl::StatusOr<Caller> caller = options_.authorizer->Authorize(
      *context, "custodian.v1.OwnershipService.Approve", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *options_.pool, context, response,
      [assigner = options_.assigner, request,
       actor = ActorOf(*caller, "custodian.v1.OwnershipService.Approve")] {
        return assigner->Approve(*request, actor);
      });
}

grpc::ServerUnaryReactor* OwnershipServiceImpl::Reject(
    grpc::CallbackServerContext* context, const v1::RejectRequest* request,
    v1::Ownership* response) {
  absl::StatusOr<Caller> caller = options_.authorizer->Authorize(
      *context, "custodian.v1.OwnershipService.Reject", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *options_.pool, context, response,
      [assigner = options_.assigner, request,
       actor = ActorOf(*caller, "custodian.v1.OwnershipService.Reject")] {
        return assigner->Reject(*request, actor);
      });
}

}  // namespace custodian::server
