// custodian.v1.DisputeService: the thin gRPC adapter over AppealDesk
// (server/appeal_desk.h), which holds every rule of the API, including who
// may do what on one appeal (parties, panel, managers of its department).
// Each handler authorizes first (authorizer.h, the DisputeService rows: the
// roles that may call at all), translates the caller into an AppealCaller
// (principal id, the roles that allowed the call, the principal's
// departments), delegates on the WorkerPool and maps the result through
// ToGrpcStatus (server/status_mapping.h), error details included. A full
// pool answers RESOURCE_EXHAUSTED at once, writing nothing.
//
// Thread-safe.
#ifndef CUSTODIAN_SERVER_DISPUTE_SERVICE_H_
#define CUSTODIAN_SERVER_DISPUTE_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "custodian/v1/dispute_service.grpc.pb.h"
#include "server/appeal_desk.h"
#include "server/authorizer.h"
#include "server/worker_pool.h"

namespace custodian::server {

// The AppealCaller of `caller` calling `rpc` (full method name).
AppealCaller AppealCallerOf(const Caller& caller, absl::string_view rpc);

class DisputeServiceImpl final : public v1::DisputeService::CallbackService {
 public:
  // REQUIRES: `desk`, `pool` and `authorizer` outlive the service; `pool`
  // runs until every call of this service has finished.
  DisputeServiceImpl(AppealDesk* desk, WorkerPool* pool, Authorizer* authorizer)
      : desk_(desk), pool_(pool), authorizer_(authorizer) {}

  grpc::ServerUnaryReactor* FileAppeal(grpc::CallbackServerContext* context,
                                       const v1::FileAppealRequest* request,
                                       v1::Appeal* response) override;
  grpc::ServerUnaryReactor* GetAppeal(grpc::CallbackServerContext* context,
                                      const v1::GetAppealRequest* request,
                                      v1::Appeal* response) override;
  grpc::ServerUnaryReactor* ListAppeals(
      grpc::CallbackServerContext* context,
      const v1::ListAppealsRequest* request,
      v1::ListAppealsResponse* response) override;
  grpc::ServerUnaryReactor* CommentOnAppeal(
      grpc::CallbackServerContext* context,
      const v1::CommentOnAppealRequest* request, v1::Appeal* response) override;
  grpc::ServerUnaryReactor* CastVote(grpc::CallbackServerContext* context,
                                     const v1::CastVoteRequest* request,
                                     v1::Appeal* response) override;
  grpc::ServerUnaryReactor* RuleOnAppeal(grpc::CallbackServerContext* context,
                                         const v1::RuleOnAppealRequest* request,
                                         v1::Appeal* response) override;
  grpc::ServerUnaryReactor* WithdrawAppeal(
      grpc::CallbackServerContext* context,
      const v1::WithdrawAppealRequest* request, v1::Appeal* response) override;
  grpc::ServerUnaryReactor* GetAppealStats(
      grpc::CallbackServerContext* context,
      const v1::GetAppealStatsRequest* request,
      v1::GetAppealStatsResponse* response) override;

 private:
  AppealDesk* const desk_;
  WorkerPool* const pool_;
  Authorizer* const authorizer_;
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_DISPUTE_SERVICE_H_
