// custodian.v1.AuditService: ListAuditRecords (server/audit_log.h) over the
// store, for admins and auditors (server/authorizer.h). The listing reads up
// to kMaxAuditRecordsScanned records, so it runs on the worker pool, off
// gRPC's callback threads. Thread-safe.
#ifndef CUSTODIAN_SERVER_AUDIT_SERVICE_H_
#define CUSTODIAN_SERVER_AUDIT_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "custodian/v1/audit_service.grpc.pb.h"
#include "server/authorizer.h"
#include "server/worker_pool.h"
#include "storage/store.h"

namespace custodian::server {

class AuditServiceImpl final : public v1::AuditService::CallbackService {
 public:
  // REQUIRES: every argument is not null and outlives this service; `pool`
  // runs until every call of this service has finished.
  AuditServiceImpl(storage::Store* store, WorkerPool* pool,
                   Authorizer* authorizer)
      : store_(store), pool_(pool), authorizer_(authorizer) {}

  // ListAuditRecords (audit_log.h), on the pool.
  grpc::ServerUnaryReactor* ListAuditRecords(
      grpc::CallbackServerContext* context,
      const v1::ListAuditRecordsRequest* request,
      v1::ListAuditRecordsResponse* response) override;

 private:
  storage::Store* const store_;
  WorkerPool* const pool_;
  Authorizer* const authorizer_;
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_AUDIT_SERVICE_H_
