// custodian.v1.ReviewService: the thin gRPC adapter over ReviewRunner
// (server/review_runner.h), which holds every rule of the API. Each handler
// authorizes first (authorizer.h, the ReviewService rows: StartReview and
// CancelReview for system and admins; reads for system, managers, admins
// and auditors; ApplyFindings and DismissFindings for managers of the
// request's department and admins), then delegates on the WorkerPool and
// maps the result through ToGrpcStatus (server/status_mapping.h). A full
// pool answers RESOURCE_EXHAUSTED at once, writing nothing. Mutations are
// recorded with the caller's principal, roles and RPC.
//
// Thread-safe.
#ifndef CUSTODIAN_SERVER_REVIEW_SERVICE_H_
#define CUSTODIAN_SERVER_REVIEW_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "custodian/v1/review_service.grpc.pb.h"
#include "server/authorizer.h"
#include "server/review_runner.h"
#include "server/worker_pool.h"

namespace custodian::server {

class ReviewServiceImpl final : public v1::ReviewService::CallbackService {
 public:
  // REQUIRES: `runner`, `pool` and `authorizer` outlive the service; `pool`
  // runs until every call of this service has finished.
  ReviewServiceImpl(ReviewRunner* runner, WorkerPool* pool,
                    Authorizer* authorizer)
      : runner_(runner), pool_(pool), authorizer_(authorizer) {}

  grpc::ServerUnaryReactor* StartReview(grpc::CallbackServerContext* context,
                                        const v1::StartReviewRequest* request,
                                        v1::Review* response) override;
  grpc::ServerUnaryReactor* GetReview(grpc::CallbackServerContext* context,
                                      const v1::GetReviewRequest* request,
                                      v1::Review* response) override;
  grpc::ServerUnaryReactor* ListReviews(
      grpc::CallbackServerContext* context,
      const v1::ListReviewsRequest* request,
      v1::ListReviewsResponse* response) override;
  grpc::ServerUnaryReactor* ListFindings(
      grpc::CallbackServerContext* context,
      const v1::ListFindingsRequest* request,
      v1::ListFindingsResponse* response) override;
  grpc::ServerUnaryReactor* ApplyFindings(
      grpc::CallbackServerContext* context,
      const v1::ApplyFindingsRequest* request,
      v1::ResolveFindingsResponse* response) override;
  grpc::ServerUnaryReactor* DismissFindings(
      grpc::CallbackServerContext* context,
      const v1::DismissFindingsRequest* request,
      v1::ResolveFindingsResponse* response) override;
  grpc::ServerUnaryReactor* CancelReview(grpc::CallbackServerContext* context,
                                         const v1::CancelReviewRequest* request,
                                         v1::Review* response) override;

 private:
  ReviewRunner* const runner_;
  WorkerPool* const pool_;
  Authorizer* const authorizer_;
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_REVIEW_SERVICE_H_
