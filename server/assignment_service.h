// custodian.v1.AssignmentService: the thin gRPC adapter over Assigner
// (server/assigner.h), which holds every rule of the API: request checks,
// planning, the one-commit-per-change write discipline, request ids. Each
// handler translates the request, delegates, and maps the result through
// ToGrpcStatus (server/status_mapping.h), error details included. Mutations
// are recorded with the caller's principal, after the Authorizer
// (server/authorizer.h) has checked the caller.
//
// Where each call runs (STYLE.md: never block a callback thread on long
// work):
//   Assign, UpdateCustomer, BatchAssign  on the WorkerPool: each waits for a
//       store commit (an fsync shared with concurrent commits) and may retry
//       on conflicts; BatchAssign runs up to 1000 of them. The handler queues
//       the work and returns; a pool thread finishes the call
//       (worker_pool_reactor.h). A full pool answers RESOURCE_EXHAUSTED at
//       once, writing nothing.
//   Evaluate, GetCustomer  inline on the callback thread: point reads from
//       one snapshot (the customer's ownerships, the stored customer) and
//       in-memory planning, with no commit, no fsync and no lock waits (an
//       allocator counter not yet in memory is read once, also a point
//       read).
//
// Thread-safe: the assigner and the pool are.
#ifndef CUSTODIAN_SERVER_ASSIGNMENT_SERVICE_H_
#define CUSTODIAN_SERVER_ASSIGNMENT_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "custodian/v1/assignment_service.grpc.pb.h"
#include "custodian/v1/assignment_service.pb.h"
#include "server/assigner.h"
#include "server/authorizer.h"
#include "server/worker_pool.h"

namespace custodian::server {

class AssignmentServiceImpl final
    : public v1::AssignmentService::CallbackService {
 public:
  // REQUIRES: `assigner` and `pool` are not null and outlive this service;
  // the pool runs until every call of this service has finished (the gRPC
  // server's Shutdown waits for that).
  AssignmentServiceImpl(Assigner* assigner, WorkerPool* pool,
                        Authorizer* authorizer)
      : assigner_(assigner), pool_(pool), authorizer_(authorizer) {}

  AssignmentServiceImpl(const AssignmentServiceImpl&) = delete;
  AssignmentServiceImpl& operator=(const AssignmentServiceImpl&) = delete;

  // Assigner::Assign by the caller's principal, on the pool.
  grpc::ServerUnaryReactor* Assign(grpc::CallbackServerContext* context,
                                   const v1::AssignRequest* request,
                                   v1::AssignResponse* response) override;
  // Assigner::BatchAssign by the caller's principal, on the pool. Per-item
  // errors are in the response; the call fails only for a bad batch (empty,
  // over 1000) or a full pool.
  grpc::ServerUnaryReactor* BatchAssign(
      grpc::CallbackServerContext* context,
      const v1::BatchAssignRequest* request,
      v1::BatchAssignResponse* response) override;
  // Assigner::Evaluate, inline.
  grpc::ServerUnaryReactor* Evaluate(grpc::CallbackServerContext* context,
                                     const v1::EvaluateRequest* request,
                                     v1::AssignResponse* response) override;
  // Assigner::GetCustomer, inline.
  grpc::ServerUnaryReactor* GetCustomer(grpc::CallbackServerContext* context,
                                        const v1::GetCustomerRequest* request,
                                        v1::Customer* response) override;
  // Assigner::UpdateCustomer by the caller's principal, on the pool.
  grpc::ServerUnaryReactor* UpdateCustomer(
      grpc::CallbackServerContext* context,
      const v1::UpdateCustomerRequest* request,
      v1::AssignResponse* response) override;

 private:
  Assigner* const assigner_;
  WorkerPool* const pool_;
  Authorizer* const authorizer_;
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_ASSIGNMENT_SERVICE_H_
