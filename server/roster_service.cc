#include "server/roster_service.h"

#include "server/status_mapping.h"

namespace custodian::server {

grpc::ServerUnaryReactor* RosterServiceImpl::ApplyRoster(
    grpc::CallbackServerContext* context, const v1::ApplyRosterRequest* request,
    v1::ApplyRosterResponse* response) {
  return FinishUnary(context, registry_->Apply(*request, ActorOf(*context)),
                     response);
}

grpc::ServerUnaryReactor* RosterServiceImpl::GetRoster(
    grpc::CallbackServerContext* context,
    const v1::GetRosterRequest* /*request*/, v1::GetRosterResponse* response) {
  return FinishUnary(context, registry_->Get(), response);
}

grpc::ServerUnaryReactor* RosterServiceImpl::SetRepStatus(
    grpc::CallbackServerContext* context,
    const v1::SetRepStatusRequest* request,
    v1::SetRepStatusResponse* response) {
  return FinishUnary(
      context, registry_->SetRepStatus(*request, ActorOf(*context)), response);
}

}  // namespace custodian::server
