// custodian.v1.RulesetService: the thin gRPC adapter over RulesetRegistry
// (server/ruleset_registry.h), which holds every rule of the API: request
// checks, validation against the stored roster, versions, activation,
// request ids. Each handler translates the request, delegates, and maps the
// result through ToGrpcStatus (server/status_mapping.h), error details
// included. Mutations are recorded with the actor ActorOf(context).
//
// Each call runs on the gRPC callback thread; the work is bounded (at most
// 4 MiB of text to check, one store transaction that waits for at most one
// shared fsync and the store's lock timeout).
//
// Thread-safe: the registry is.
#ifndef CUSTODIAN_SERVER_RULESET_SERVICE_H_
#define CUSTODIAN_SERVER_RULESET_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "custodian/v1/ruleset_service.grpc.pb.h"
#include "custodian/v1/ruleset_service.pb.h"
#include "server/ruleset_registry.h"

namespace custodian::server {

class RulesetServiceImpl final : public v1::RulesetService::CallbackService {
 public:
  // REQUIRES: `registry` is not null and outlives this service.
  explicit RulesetServiceImpl(RulesetRegistry* registry)
      : registry_(registry) {}

  RulesetServiceImpl(const RulesetServiceImpl&) = delete;
  RulesetServiceImpl& operator=(const RulesetServiceImpl&) = delete;

  // RulesetRegistry::Validate.
  grpc::ServerUnaryReactor* ValidateRuleset(
      grpc::CallbackServerContext* context,
      const v1::ValidateRulesetRequest* request,
      v1::ValidateRulesetResponse* response) override;
  // RulesetRegistry::CreateVersion by ActorOf(context).
  grpc::ServerUnaryReactor* CreateRulesetVersion(
      grpc::CallbackServerContext* context,
      const v1::CreateRulesetVersionRequest* request,
      v1::RulesetVersion* response) override;
  // RulesetRegistry::Get.
  grpc::ServerUnaryReactor* GetRuleset(grpc::CallbackServerContext* context,
                                       const v1::GetRulesetRequest* request,
                                       v1::RulesetVersion* response) override;
  // RulesetRegistry::List.
  grpc::ServerUnaryReactor* ListRulesetVersions(
      grpc::CallbackServerContext* context,
      const v1::ListRulesetVersionsRequest* request,
      v1::ListRulesetVersionsResponse* response) override;
  // RulesetRegistry::Activate by ActorOf(context).
  grpc::ServerUnaryReactor* ActivateRuleset(
      grpc::CallbackServerContext* context,
      const v1::ActivateRulesetRequest* request,
      v1::ActivateRulesetResponse* response) override;
  // RulesetRegistry::Diff.
  grpc::ServerUnaryReactor* DiffRulesets(
      grpc::CallbackServerContext* context,
      const v1::DiffRulesetsRequest* request,
      v1::DiffRulesetsResponse* response) override;

 private:
  RulesetRegistry* const registry_;
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_RULESET_SERVICE_H_
