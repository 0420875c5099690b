// custodian.v1.PoolService: the thin gRPC adapter over PoolDesk
// (server/pool_desk.h), which holds every rule of the API. Each handler
// translates the request, delegates on the WorkerPool (every call reads or
// commits the store: ListPool may examine thousands of index entries, the
// mutations wait for a commit) and maps the result through ToGrpcStatus
// (server/status_mapping.h), error details included. A full pool answers
// RESOURCE_EXHAUSTED at once, writing nothing. Every handler is authorized
// first (authorizer.h, the PoolService rows), and mutations are recorded
// with the caller's principal, roles and RPC.
//
// Thread-safe.
#ifndef CUSTODIAN_SERVER_POOL_SERVICE_H_
#define CUSTODIAN_SERVER_POOL_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "custodian/v1/pool_service.grpc.pb.h"
#include "server/authorizer.h"
#include "server/pool_desk.h"
#include "server/worker_pool.h"

namespace custodian::server {

class PoolServiceImpl final : public v1::PoolService::CallbackService {
 public:
  // REQUIRES: `desk` and `pool` outlive the service; `pool` runs until
  // every call of this service has finished.
  PoolServiceImpl(PoolDesk* desk, WorkerPool* pool, Authorizer* authorizer)
      : desk_(desk), pool_(pool), authorizer_(authorizer) {}

  grpc::ServerUnaryReactor* ListPool(grpc::CallbackServerContext* context,
                                     const v1::ListPoolRequest* request,
                                     v1::ListPoolResponse* response) override;
  grpc::ServerUnaryReactor* Claim(grpc::CallbackServerContext* context,
                                  const v1::ClaimRequest* request,
                                  v1::Ownership* response) override;
  grpc::ServerUnaryReactor* Release(grpc::CallbackServerContext* context,
                                    const v1::ReleaseRequest* request,
                                    v1::Ownership* response) override;
  grpc::ServerUnaryReactor* RecordActivity(
      grpc::CallbackServerContext* context,
      const v1::RecordActivityRequest* request,
      v1::RecordActivityResponse* response) override;
  grpc::ServerUnaryReactor* CheckDuplicates(
      grpc::CallbackServerContext* context,
      const v1::CheckDuplicatesRequest* request,
      v1::CheckDuplicatesResponse* response) override;

 private:
  PoolDesk* const desk_;
  WorkerPool* const pool_;
  Authorizer* const authorizer_;
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_POOL_SERVICE_H_
