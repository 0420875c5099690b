// custodian.v1.IdentityService: WhoAmI, the caller's principal as the
// Authorizer (server/authorizer.h) authenticates it. Inline on the callback
// thread; reads nothing from the store. Thread-safe.
#ifndef CUSTODIAN_SERVER_IDENTITY_SERVICE_H_
#define CUSTODIAN_SERVER_IDENTITY_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "custodian/v1/identity_service.grpc.pb.h"
#include "server/authorizer.h"

namespace custodian::server {

class IdentityServiceImpl final : public v1::IdentityService::CallbackService {
 public:
  // REQUIRES: `authorizer` is not null and outlives this service.
  explicit IdentityServiceImpl(Authorizer* authorizer)
      : authorizer_(authorizer) {}

  // The caller's principal; UNAUTHENTICATED without valid credentials.
  grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* context,
                                   const v1::WhoAmIRequest* request,
                                   v1::WhoAmIResponse* response) override;

 private:
  Authorizer* const authorizer_;
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_IDENTITY_SERVICE_H_
