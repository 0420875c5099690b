// custodian.v1.OwnershipService: the thin gRPC adapter over OwnershipBook
// (server/ownership_book.h: the reads), Assigner (server/assigner.h:
// Transfer, Approve, Reject) and EventFeed (server/event_feed.h: the watch).
// They hold every rule of the API; each handler translates the request,
// delegates, and maps the result through ToGrpcStatus
// (server/status_mapping.h), error details included. Mutations are recorded
// with the caller's principal, after the Authorizer (server/authorizer.h)
// has checked the caller (every handler, reads included).
//
// Where each call runs (STYLE.md: never block a callback thread on long
// work):
//   GetOwnership  inline: one point read from a snapshot.
//   ListOwnerships, ListOwnershipEvents  on the WorkerPool: a page may
//       examine up to thousands of index entries and records.
//   Transfer, Approve, Reject  on the WorkerPool: each waits for a store
//       commit (an fsync). A full pool answers RESOURCE_EXHAUSTED at once,
//       writing nothing.
//   WatchOwnershipEvents  on a dedicated watch thread per open stream (at
//       most Options::max_watches at a time; more: RESOURCE_EXHAUSTED), which
//       reads batches from the feed, writes them one event at a time (one
//       write in flight; OnWriteDone releases the next) and, when it has
//       caught up, waits for the sequencer's watermark to move. Watch
//       threads never take pool threads, so open watches cannot starve
//       mutations.
//
// A watch sends every committed event with sequence > after_sequence in
// sequence order, then new ones as they commit; it never ends by itself. It
// ends
//   - when the client cancels it (or its deadline passes): the watch thread
//     is woken (WaitCancellation) and finishes the stream CANCELLED;
//   - on EndWatches() (server shutdown): every open watch finishes
//     UNAVAILABLE ("reconnect with after_sequence = the last sequence
//     received"), and new ones are refused UNAVAILABLE;
//   - on a store error reading the feed: that error, mapped.
// A client that reconnects with the sequence of the last event it received
// gets every later event exactly once, in order, also across a restart of
// custodiand (event_feed.h).
//
// Thread-safe.
#ifndef CUSTODIAN_SERVER_OWNERSHIP_SERVICE_H_
#define CUSTODIAN_SERVER_OWNERSHIP_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <list>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "custodian/v1/ownership_service.grpc.pb.h"
#include "custodian/v1/ownership_service.pb.h"
#include "server/assigner.h"
#include "server/authorizer.h"
#include "server/event_feed.h"
#include "server/event_sequencer.h"
#include "server/ownership_book.h"
#include "server/worker_pool.h"

namespace custodian::server {

class OwnershipServiceImpl final
    : public v1::OwnershipService::CallbackService {
 public:
  struct Options {
    // Reads. Required; must outlive the service.
    const OwnershipBook* book = nullptr;
    // Transfer, Approve, Reject. Required; must outlive the service.
    Assigner* assigner = nullptr;
    // The watch's source. Required; must outlive the service.
    const EventFeed* feed = nullptr;
    // The feed's sequencer (watch cancellation). Required; must outlive the
    // service.
    EventSequencer* sequencer = nullptr;
    // Runs the blocking calls. Required; must outlive the service and run
    // until every call of this service has finished.
    WorkerPool* pool = nullptr;
    // Checks every call first. Required; must outlive the service.
    Authorizer* authorizer = nullptr;
    // Most watch streams open at once (each has a thread). >= 1. Default:
    // 256.
    int max_watches = 256;
    // Most events read from the feed per batch, 1..kMaxFeedBatch. Default:
    // 100.
    int32_t watch_batch = 100;
  };

  // INVALID_ARGUMENT naming a bad option.
  static absl::StatusOr<std::unique_ptr<OwnershipServiceImpl>> Create(
      Options options);

  // EndWatches(), then waits for the watch threads to end (they end once
  // their stream is finished).
  ~OwnershipServiceImpl() override;

  OwnershipServiceImpl(const OwnershipServiceImpl&) = delete;
  OwnershipServiceImpl& operator=(const OwnershipServiceImpl&) = delete;

  // Ends every open watch (UNAVAILABLE) and refuses new ones (UNAVAILABLE),
  // without waiting. Idempotent. Call before the gRPC server's Shutdown, so
  // that open watches do not hold it until its deadline.
  void EndWatches();

  // Watch streams open now.
  int open_watches() const;

  // OwnershipBook::GetOwnership, inline.
  grpc::ServerUnaryReactor* GetOwnership(grpc::CallbackServerContext* context,
                                         const v1::GetOwnershipRequest* request,
                                         v1::Ownership* response) override;
  // OwnershipBook::ListOwnerships, on the pool.
  grpc::ServerUnaryReactor* ListOwnerships(
      grpc::CallbackServerContext* context,
      const v1::ListOwnershipsRequest* request,
      v1::ListOwnershipsResponse* response) override;
  // OwnershipBook::ListOwnershipEvents, on the pool.
  grpc::ServerUnaryReactor* ListOwnershipEvents(
      grpc::CallbackServerContext* context,
      const v1::ListOwnershipEventsRequest* request,
      v1::ListOwnershipEventsResponse* response) override;
  // The feed, on a watch thread (see the top). INVALID_ARGUMENT naming
  // after_sequence when it is negative.
  grpc::ServerWriteReactor<v1::OwnershipEvent>* WatchOwnershipEvents(
      grpc::CallbackServerContext* context,
      const v1::WatchOwnershipEventsRequest* request) override;
  // Assigner::Transfer by the caller's principal, on the pool.
  grpc::ServerUnaryReactor* Transfer(grpc::CallbackServerContext* context,
                                     const v1::TransferRequest* request,
                                     v1::Ownership* response) override;
  // Assigner::Approve by the caller's principal, on the pool.
  grpc::ServerUnaryReactor* Approve(grpc::CallbackServerContext* context,
                                    const v1::ApproveRequest* request,
                                    v1::Ownership* response) override;
  // Assigner::Reject by the caller's principal, on the pool.
  grpc::ServerUnaryReactor* Reject(grpc::CallbackServerContext* context,
                                   const v1::RejectRequest* request,
                                   v1::Ownership* response) override;

 private:
  class WatchReactor;
  struct WatchThread {
    std::thread thread;
    bool done = false;
  };

  explicit OwnershipServiceImpl(Options options) : options_(options) {}

  // Registers `watch` and starts its thread; joins threads of ended
  // watches. Returns UNAVAILABLE after EndWatches, RESOURCE_EXHAUSTED at
  // max_watches; then nothing was started.
  absl::Status StartWatch(WatchReactor* watch) ABSL_LOCKS_EXCLUDED(watches_mu_);
  // Unregisters `watch` (before it finishes its stream).
  void WatchEnding(WatchReactor* watch) ABSL_LOCKS_EXCLUDED(watches_mu_);

  const Options options_;

  mutable absl::Mutex watches_mu_;
  bool watches_ended_ ABSL_GUARDED_BY(watches_mu_) = false;
  absl::flat_hash_set<WatchReactor*> watches_ ABSL_GUARDED_BY(watches_mu_);
  std::list<WatchThread> threads_ ABSL_GUARDED_BY(watches_mu_);
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_OWNERSHIP_SERVICE_H_
