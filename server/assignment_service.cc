#include "server/assignment_service.h"

#include <string>

#include "server/status_mapping.h"
#include "server/worker_pool_reactor.h"

namespace custodian::server {

grpc::ServerUnaryReactor* AssignmentServiceImpl::Assign(
    grpc::CallbackServerContext* context, const v1::AssignRequest* request,
    v1::AssignResponse* response) {
  return FinishUnaryOnPool(*pool_, context, response,
                           [this, request, actor = ActorOf(*context)] {
                             return assigner_->Assign(*request, actor);
                           });
}

grpc::ServerUnaryReactor* AssignmentServiceImpl::BatchAssign(
    grpc::CallbackServerContext* context, const v1::BatchAssignRequest* request,
    v1::BatchAssignResponse* response) {
  return FinishUnaryOnPool(*pool_, context, response,
                           [this, request, actor = ActorOf(*context)] {
                             return assigner_->BatchAssign(*request, actor);
                           });
}

grpc::ServerUnaryReactor* AssignmentServiceImpl::Evaluate(
    grpc::CallbackServerContext* context, const v1::EvaluateRequest* request,
    v1::AssignResponse* response) {
  return FinishUnary(context, assigner_->Evaluate(*request), response);
}

grpc::ServerUnaryReactor* AssignmentServiceImpl::GetCustomer(
    grpc::CallbackServerContext* context, const v1::GetCustomerRequest* request,
    v1::Customer* response) {
  return FinishUnary(context, assigner_->GetCustomer(*request), response);
}

grpc::ServerUnaryReactor* AssignmentServiceImpl::UpdateCustomer(
    grpc::CallbackServerContext* context,
    const v1::UpdateCustomerRequest* request, v1::AssignResponse* response) {
  return FinishUnaryOnPool(*pool_, context, response,
                           [this, request, actor = ActorOf(*context)] {
                             return assigner_->UpdateCustomer(*request, actor);
                           });
}

}  // namespace custodian::server
