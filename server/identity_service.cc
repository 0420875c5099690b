#include "server/identity_service.h"

#include <string>

#include "server/status_mapping.h"

namespace custodian::server {

grpc::ServerUnaryReactor* IdentityServiceImpl::WhoAmI(
    grpc::CallbackServerContext* context, const v1::WhoAmIRequest* request,
    v1::WhoAmIResponse* response) {
  absl::StatusOr<Caller> caller = authorizer_->Authorize(
      *context, "custodian.v1.IdentityService.WhoAmI", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  v1::WhoAmIResponse answer;
  answer.set_principal(caller->principal.id);
  for (std::string& role : RoleNames(caller->principal.roles)) {
    answer.add_roles(std::move(role));
  }
  for (const std::string& department : caller->principal.departments) {
    answer.add_departments(department);
  }
  answer.set_authenticated_by(caller->principal.authenticated_by);
  return FinishUnary(context, absl::StatusOr<v1::WhoAmIResponse>(answer),
                     response);
}

}  // namespace custodian::server
