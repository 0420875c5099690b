#include "server/audit_service.h"

#include "server/audit_log.h"
#include "server/status_mapping.h"
#include "server/worker_pool_reactor.h"

namespace custodian::server {

grpc::ServerUnaryReactor* AuditServiceImpl::ListAuditRecords(
    grpc::CallbackServerContext* context,
    const v1::ListAuditRecordsRequest* request,
    v1::ListAuditRecordsResponse* response) {
  absl::StatusOr<Caller> caller = authorizer_->Authorize(
      *context, "custodian.v1.AuditService.ListAuditRecords", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response, [store = store_, request] {
        return custodian::server::ListAuditRecords(*store, *request);
      });
}

}  // namespace custodian::server
