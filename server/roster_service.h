// custodian.v1.RosterService: the thin gRPC adapter over RosterRegistry
// (server/roster_registry.h), which holds every rule of the API: request
// checks, the declarative apply, the active-ruleset check, request ids. Each
// handler translates the request, delegates, and maps the result through
// ToGrpcStatus (server/status_mapping.h), error details included. Mutations
// are recorded with the caller's principal, after the Authorizer
// (server/authorizer.h) has checked the caller.
//
// Each call runs on the gRPC callback thread; the work is bounded (at most
// 4 MiB of text to check, one store transaction that waits for at most one
// shared fsync and the store's lock timeout).
//
// Thread-safe: the registry is.
#ifndef CUSTODIAN_SERVER_ROSTER_SERVICE_H_
#define CUSTODIAN_SERVER_ROSTER_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "custodian/v1/roster_service.grpc.pb.h"
#include "custodian/v1/roster_service.pb.h"
#include "server/authorizer.h"
#include "server/roster_registry.h"

namespace custodian::server {

class RosterServiceImpl final : public v1::RosterService::CallbackService {
 public:
  // REQUIRES: `registry` and `authorizer` are not null and outlive this
  // service.
  RosterServiceImpl(RosterRegistry* registry, Authorizer* authorizer)
      : registry_(registry), authorizer_(authorizer) {}

  RosterServiceImpl(const RosterServiceImpl&) = delete;
  RosterServiceImpl& operator=(const RosterServiceImpl&) = delete;

  // RosterRegistry::Apply by the caller's principal.
  grpc::ServerUnaryReactor* ApplyRoster(
      grpc::CallbackServerContext* context,
      const v1::ApplyRosterRequest* request,
      v1::ApplyRosterResponse* response) override;
  // RosterRegistry::Get.
  grpc::ServerUnaryReactor* GetRoster(grpc::CallbackServerContext* context,
                                      const v1::GetRosterRequest* request,
                                      v1::GetRosterResponse* response) override;
  // RosterRegistry::SetRepStatus by the caller's principal.
  grpc::ServerUnaryReactor* SetRepStatus(
      grpc::CallbackServerContext* context,
      const v1::SetRepStatusRequest* request,
      v1::SetRepStatusResponse* response) override;

 private:
  RosterRegistry* const registry_;
  Authorizer* const authorizer_;
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_ROSTER_SERVICE_H_
