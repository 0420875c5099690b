#include "server/roster_service.h"

#include "server/status_mapping.h"

namespace custodian::server {

grpc::ServerUnaryReactor* RosterServiceImpl::ApplyRoster(
    grpc::CallbackServerContext* context, const v1::ApplyRosterRequest* request,
    v1::ApplyRosterResponse* response) {
  absl::StatusOr<Caller> caller = authorizer_->Authorize(
      *context, "custodian.v1.RosterService.ApplyRoster", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnary(
      context,
      registry_->Apply(
          *request, ActorOf(*caller, "custodian.v1.RosterService.ApplyRoster")),
      response);
}

grpc::ServerUnaryReactor* RosterServiceImpl::GetRoster(
    grpc::CallbackServerContext* context, const v1::GetRosterRequest* request,
    v1::GetRosterResponse* response) {
  absl::StatusOr<Caller> caller = authorizer_->Authorize(
      *context, "custodian.v1.RosterService.GetRoster", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnary(context, registry_->Get(), response);
}

grpc::ServerUnaryReactor* RosterServiceImpl::SetRepStatus(
    grpc::CallbackServerContext* context,
    const v1::SetRepStatusRequest* request,
    v1::SetRepStatusResponse* response) {
  absl::StatusOr<Caller> caller = authorizer_->Authorize(
      *context, "custodian.v1.RosterService.SetRepStatus", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnary(
      context,
      registry_->SetRepStatus(
          *request,
          ActorOf(*caller, "custodian.v1.RosterService.SetRepStatus")),
      response);
}

}  // namespace custodian::server
