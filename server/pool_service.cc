#include "server/pool_service.h"

#include "server/status_mapping.h"
#include "server/worker_pool_reactor.h"

namespace custodian::server {
namespace {

constexpr absl::string_view kListPool = "custodian.v1.PoolService.ListPool";
constexpr absl::string_view kClaim = "custodian.v1.PoolService.Claim";
constexpr absl::string_view kRelease = "custodian.v1.PoolService.Release";
constexpr absl::string_view kRecordActivity =
    "custodian.v1.PoolService.RecordActivity";
constexpr absl::string_view kCheckDuplicates =
    "custodian.v1.PoolService.CheckDuplicates";

}  // namespace

grpc::ServerUnaryReactor* PoolServiceImpl::ListPool(
    grpc::CallbackServerContext* context, const v1::ListPoolRequest* request,
    v1::ListPoolResponse* response) {
  absl::StatusOr<Caller> caller =
      authorizer_->Authorize(*context, kListPool, *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(*pool_, context, response, [desk = desk_, request] {
    return desk->ListPool(*request);
  });
}

grpc::ServerUnaryReactor* PoolServiceImpl::Claim(
    grpc::CallbackServerContext* context, const v1::ClaimRequest* request,
    v1::Ownership* response) {
  absl::StatusOr<Caller> caller =
      authorizer_->Authorize(*context, kClaim, *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response,
      [desk = desk_, request, actor = ActorOf(*caller, kClaim)] {
        return desk->Claim(*request, actor);
      });
}

grpc::ServerUnaryReactor* PoolServiceImpl::Release(
    grpc::CallbackServerContext* context, const v1::ReleaseRequest* request,
    v1::Ownership* response) {
  absl::StatusOr<Caller> caller =
      authorizer_->Authorize(*context, kRelease, *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response,
      [desk = desk_, request, actor = ActorOf(*caller, kRelease)] {
        return desk->Release(*request, actor);
      });
}

grpc::ServerUnaryReactor* PoolServiceImpl::RecordActivity(
    grpc::CallbackServerContext* context,
    const v1::RecordActivityRequest* request,
    v1::RecordActivityResponse* response) {
  absl::StatusOr<Caller> caller =
      authorizer_->Authorize(*context, kRecordActivity, *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response,
      [desk = desk_, request, actor = ActorOf(*caller, kRecordActivity)] {
        return desk->RecordActivity(*request, actor);
      });
}

grpc::ServerUnaryReactor* PoolServiceImpl::CheckDuplicates(
    grpc::CallbackServerContext* context,
    const v1::CheckDuplicatesRequest* request,
    v1::CheckDuplicatesResponse* response) {
  absl::StatusOr<Caller> caller =
      authorizer_->Authorize(*context, kCheckDuplicates, *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(*pool_, context, response, [desk = desk_, request] {
    return desk->CheckDuplicates(*request);
  });
}

}  // namespace custodian::server
