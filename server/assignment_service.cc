#include "server/assignment_service.h"

#include <string>

#include "server/status_mapping.h"
#include "server/worker_pool_reactor.h"

namespace custodian::server {

grpc::ServerUnaryReactor* AssignmentServiceImpl::Assign(
    grpc::CallbackServerContext* context, const v1::AssignRequest* request,
    v1::AssignResponse* response) {
  absl::StatusOr<Caller> caller = authorizer_->Authorize(
      *context, "custodian.v1.AssignmentService.Assign", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response,
      [this, request,
       actor = ActorOf(*caller, "custodian.v1.AssignmentService.Assign")] {
        return assigner_->Assign(*request, actor);
      });
}

grpc::ServerUnaryReactor* AssignmentServiceImpl::BatchAssign(
    grpc::CallbackServerContext* context, const v1::BatchAssignRequest* request,
    v1::BatchAssignResponse* response) {
  absl::StatusOr<Caller> caller = authorizer_->Authorize(
      *context, "custodian.v1.AssignmentService.BatchAssign", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response,
      [this, request,
       actor = ActorOf(*caller, "custodian.v1.AssignmentService.BatchAssign")] {
        return assigner_->BatchAssign(*request, actor);
      });
}

grpc::ServerUnaryReactor* AssignmentServiceImpl::Evaluate(
    grpc::CallbackServerContext* context, const v1::EvaluateRequest* request,
    v1::AssignResponse* response) {
  absl::StatusOr<Caller> caller = authorizer_->Authorize(
      *context, "custodian.v1.AssignmentService.Evaluate", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnary(context, assigner_->Evaluate(*request), response);
}

grpc::ServerUnaryReactor* AssignmentServiceImpl::GetCustomer(
    grpc::CallbackServerContext* context, const v1::GetCustomerRequest* request,
    v1::Customer* response) {
  absl::StatusOr<Caller> caller = authorizer_->Authorize(
      *context, "custodian.v1.AssignmentService.GetCustomer", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnary(context, assigner_->GetCustomer(*request), response);
}

grpc::ServerUnaryReactor* AssignmentServiceImpl::UpdateCustomer(
    grpc::CallbackServerContext* context,
    const v1::UpdateCustomerRequest* request, v1::AssignResponse* response) {
  absl::StatusOr<Caller> caller = authorizer_->Authorize(
      *context, "custodian.v1.AssignmentService.UpdateCustomer", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response,
      [this, request,
       actor =
           ActorOf(*caller, "custodian.v1.AssignmentService.UpdateCustomer")] {
        return assigner_->UpdateCustomer(*request, actor);
      });
}

}  // namespace custodian::server
