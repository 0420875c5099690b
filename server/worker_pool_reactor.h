// Unary gRPC calls whose work runs on a WorkerPool (server/worker_pool.h)
// instead of the callback thread that received them: the handler queues the
// work and returns; a pool thread runs it and finishes the call.
#ifndef CUSTODIAN_SERVER_WORKER_POOL_REACTOR_H_
#define CUSTODIAN_SERVER_WORKER_POOL_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/status_mapping.h"
#include "server/worker_pool.h"

namespace custodian::server {

// Queues `work` (callable as absl::StatusOr<Response>()) on `pool` and
// returns the call's reactor for the handler to return. On a pool thread:
// when the call was cancelled while it waited (client gone, deadline passed,
// server shutdown deadline), `work` is skipped and the call finishes
// CANCELLED; otherwise `work` runs, a success is moved into *response, and
// the call finishes with ToGrpcStatus of the result. When the pool refuses
// the work (RESOURCE_EXHAUSTED: full; UNAVAILABLE: shutting down) the call
// finishes at once with that status and `work` never runs.
//
// REQUIRES: everything `work` captures by reference, and `pool`, outlive the
// call (the request and response do: they live until the call finishes).
template <typename Response, typename Work>
grpc::ServerUnaryReactor* FinishUnaryOnPool(
    WorkerPool& pool, grpc::CallbackServerContext* context, Response* response,
    Work work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status queued =
      pool.Submit([context, reactor, response, work = std::move(work)]() {
        if (context->IsCancelled()) {
          reactor->Finish(grpc::Status::CANCELLED);
          return;
        }
        absl::StatusOr<Response> result = work();
        if (result.ok()) *response = *std::move(result);
        reactor->Finish(ToGrpcStatus(result.status()));
      });
  if (!queued.ok()) reactor->Finish(ToGrpcStatus(queued));
  return reactor;
}

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_WORKER_POOL_REACTOR_H_
