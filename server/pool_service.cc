#include "server/pool_service.h"

#include "server/status_mapping.h"
#include "server/worker_pool_reactor.h"

namespace custodian::server {

grpc::ServerUnaryReactor* PoolServiceImpl::ListPool(
    grpc::CallbackServerContext* context, const v1::ListPoolRequest* request,
    v1::ListPoolResponse* response) {
  return FinishUnaryOnPool(*pool_, context, response, [desk = desk_, request] {
    return desk->ListPool(*request);
  });
}

grpc::ServerUnaryReactor* PoolServiceImpl::Claim(
    grpc::CallbackServerContext* context, const v1::ClaimRequest* request,
    v1::Ownership* response) {
  return FinishUnaryOnPool(*pool_, context, response,
                           [desk = desk_, request, actor = ActorOf(*context)] {
                             return desk->Claim(*request, actor);
                           });
}

grpc::ServerUnaryReactor* PoolServiceImpl::Release(
    grpc::CallbackServerContext* context, const v1::ReleaseRequest* request,
    v1::Ownership* response) {
  return FinishUnaryOnPool(*pool_, context, response,
                           [desk = desk_, request, actor = ActorOf(*context)] {
                             return desk->Release(*request, actor);
                           });
}

grpc::ServerUnaryReactor* PoolServiceImpl::RecordActivity(
    grpc::CallbackServerContext* context,
    const v1::RecordActivityRequest* request,
    v1::RecordActivityResponse* response) {
  return FinishUnaryOnPool(*pool_, context, response,
                           [desk = desk_, request, actor = ActorOf(*context)] {
                             return desk->RecordActivity(*request, actor);
                           });
}

grpc::ServerUnaryReactor* PoolServiceImpl::CheckDuplicates(
    grpc::CallbackServerContext* context,
    const v1::CheckDuplicatesRequest* request,
    v1::CheckDuplicatesResponse* response) {
  return FinishUnaryOnPool(*pool_, context, response, [desk = desk_, request] {
    return desk->CheckDuplicates(*request);
  });
}

}  // namespace custodian::server
