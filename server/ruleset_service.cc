#include "server/ruleset_service.h"

#include "server/status_mapping.h"

namespace custodian::server {

grpc::ServerUnaryReactor* RulesetServiceImpl::ValidateRuleset(
    grpc::CallbackServerContext* context,
    const v1::ValidateRulesetRequest* request,
    v1::ValidateRulesetResponse* response) {
  return FinishUnary(context, registry_->Validate(*request), response);
}

grpc::ServerUnaryReactor* RulesetServiceImpl::CreateRulesetVersion(
    grpc::CallbackServerContext* context,
    const v1::CreateRulesetVersionRequest* request,
    v1::RulesetVersion* response) {
  return FinishUnary(
      context, registry_->CreateVersion(*request, ActorOf(*context)), response);
}

grpc::ServerUnaryReactor* RulesetServiceImpl::GetRuleset(
    grpc::CallbackServerContext* context, const v1::GetRulesetRequest* request,
    v1::RulesetVersion* response) {
  return FinishUnary(context, registry_->Get(*request), response);
}

grpc::ServerUnaryReactor* RulesetServiceImpl::ListRulesetVersions(
    grpc::CallbackServerContext* context,
    const v1::ListRulesetVersionsRequest* request,
    v1::ListRulesetVersionsResponse* response) {
  return FinishUnary(context, registry_->List(*request), response);
}

grpc::ServerUnaryReactor* RulesetServiceImpl::ActivateRuleset(
    grpc::CallbackServerContext* context,
    const v1::ActivateRulesetRequest* request,
    v1::ActivateRulesetResponse* response) {
  return FinishUnary(context, registry_->Activate(*request, ActorOf(*context)),
                     response);
}

grpc::ServerUnaryReactor* RulesetServiceImpl::DiffRulesets(
    grpc::CallbackServerContext* context,
    const v1::DiffRulesetsRequest* request,
    v1::DiffRulesetsResponse* response) {
  return FinishUnary(context, registry_->Diff(*request), response);
}

}  // namespace custodian::server
