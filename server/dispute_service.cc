#include "server/dispute_service.h"

#include <string>

#include "server/status_mapping.h"
#include "server/worker_pool_reactor.h"

namespace custodian::server {

AppealCaller AppealCallerOf(const Caller& caller, absl::string_view rpc) {
  AppealCaller out;
  out.actor = ActorOf(caller, rpc);
  out.roles = caller.roles_used;
  out.departments = caller.principal.departments;
  return out;
}

grpc::ServerUnaryReactor* DisputeServiceImpl::FileAppeal(
    grpc::CallbackServerContext* context, const v1::FileAppealRequest* request,
    v1::Appeal* response) {
  constexpr absl::string_view kRpc = "custodian.v1.DisputeService.FileAppeal";
  absl::StatusOr<Caller> caller =
      authorizer_->Authorize(*context, kRpc, *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response,
      [desk = desk_, request, who = AppealCallerOf(*caller, kRpc)] {
        return desk->FileAppeal(*request, who);
      });
}

grpc::ServerUnaryReactor* DisputeServiceImpl::GetAppeal(
    grpc::CallbackServerContext* context, const v1::GetAppealRequest* request,
    v1::Appeal* response) {
  constexpr absl::string_view kRpc = "custodian.v1.DisputeService.GetAppeal";
  absl::StatusOr<Caller> caller =
      authorizer_->Authorize(*context, kRpc, *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response,
      [desk = desk_, request, who = AppealCallerOf(*caller, kRpc)] {
        return desk->GetAppeal(*request, who);
      });
}

grpc::ServerUnaryReactor* DisputeServiceImpl::ListAppeals(
    grpc::CallbackServerContext* context, const v1::ListAppealsRequest* request,
    v1::ListAppealsResponse* response) {
  constexpr absl::string_view kRpc = "custodian.v1.DisputeService.ListAppeals";
  absl::StatusOr<Caller> caller =
      authorizer_->Authorize(*context, kRpc, *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response,
      [desk = desk_, request, who = AppealCallerOf(*caller, kRpc)] {
        return desk->ListAppeals(*request, who);
      });
}

grpc::ServerUnaryReactor* DisputeServiceImpl::CommentOnAppeal(
    grpc::CallbackServerContext* context,
    const v1::CommentOnAppealRequest* request, v1::Appeal* response) {
  constexpr absl::string_view kRpc =
      "custodian.v1.DisputeService.CommentOnAppeal";
  absl::StatusOr<Caller> caller =
      authorizer_->Authorize(*context, kRpc, *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response,
      [desk = desk_, request, who = AppealCallerOf(*caller, kRpc)] {
        return desk->CommentOnAppeal(*request, who);
      });
}

grpc::ServerUnaryReactor* DisputeServiceImpl::CastVote(
    grpc::CallbackServerContext* context, const v1::CastVoteRequest* request,
    v1::Appeal* response) {
  constexpr absl::string_view kRpc = "custodian.v1.DisputeService.CastVote";
  absl::StatusOr<Caller> caller =
      authorizer_->Authorize(*context, kRpc, *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response,
      [desk = desk_, request, who = AppealCallerOf(*caller, kRpc)] {
        return desk->CastVote(*request, who);
      });
}

grpc::ServerUnaryReactor* DisputeServiceImpl::RuleOnAppeal(
    grpc::CallbackServerContext* context,
    const v1::RuleOnAppealRequest* request, v1::Appeal* response) {
  constexpr absl::string_view kRpc = "custodian.v1.DisputeService.RuleOnAppeal";
  absl::StatusOr<Caller> caller =
      authorizer_->Authorize(*context, kRpc, *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response,
      [desk = desk_, request, who = AppealCallerOf(*caller, kRpc)] {
        return desk->RuleOnAppeal(*request, who);
      });
}

grpc::ServerUnaryReactor* DisputeServiceImpl::WithdrawAppeal(
    grpc::CallbackServerContext* context,
    const v1::WithdrawAppealRequest* request, v1::Appeal* response) {
  constexpr absl::string_view kRpc =
      "custodian.v1.DisputeService.WithdrawAppeal";
  absl::StatusOr<Caller> caller =
      authorizer_->Authorize(*context, kRpc, *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response,
      [desk = desk_, request, who = AppealCallerOf(*caller, kRpc)] {
        return desk->WithdrawAppeal(*request, who);
      });
}

grpc::ServerUnaryReactor* DisputeServiceImpl::GetAppealStats(
    grpc::CallbackServerContext* context,
    const v1::GetAppealStatsRequest* request,
    v1::GetAppealStatsResponse* response) {
  constexpr absl::string_view kRpc =
      "custodian.v1.DisputeService.GetAppealStats";
  absl::StatusOr<Caller> caller =
      authorizer_->Authorize(*context, kRpc, *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(*pool_, context, response, [desk = desk_, request] {
    return desk->GetAppealStats(*request);
  });
}

}  // namespace custodian::server
