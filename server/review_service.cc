#include "server/review_service.h"

#include "server/status_mapping.h"
#include "server/worker_pool_reactor.h"

namespace custodian::server {
namespace {

constexpr absl::string_view kStart = "custodian.v1.ReviewService.StartReview";
constexpr absl::string_view kGet = "custodian.v1.ReviewService.GetReview";
constexpr absl::string_view kList = "custodian.v1.ReviewService.ListReviews";
constexpr absl::string_view kListFindings =
    "custodian.v1.ReviewService.ListFindings";
constexpr absl::string_view kApply = "custodian.v1.ReviewService.ApplyFindings";
constexpr absl::string_view kDismiss =
    "custodian.v1.ReviewService.DismissFindings";
constexpr absl::string_view kCancel = "custodian.v1.ReviewService.CancelReview";

}  // namespace

grpc::ServerUnaryReactor* ReviewServiceImpl::StartReview(
    grpc::CallbackServerContext* context, const v1::StartReviewRequest* request,
    v1::Review* response) {
  absl::StatusOr<Caller> caller =
      authorizer_->Authorize(*context, kStart, *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response,
      [runner = runner_, request, actor = ActorOf(*caller, kStart)] {
        return runner->Start(*request, actor);
      });
}

grpc::ServerUnaryReactor* ReviewServiceImpl::GetReview(
    grpc::CallbackServerContext* context, const v1::GetReviewRequest* request,
    v1::Review* response) {
  absl::StatusOr<Caller> caller =
      authorizer_->Authorize(*context, kGet, *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response,
      [runner = runner_, request] { return runner->Get(*request); });
}

grpc::ServerUnaryReactor* ReviewServiceImpl::ListReviews(
    grpc::CallbackServerContext* context, const v1::ListReviewsRequest* request,
    v1::ListReviewsResponse* response) {
  absl::StatusOr<Caller> caller =
      authorizer_->Authorize(*context, kList, *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response,
      [runner = runner_, request] { return runner->List(*request); });
}

grpc::ServerUnaryReactor* ReviewServiceImpl::ListFindings(
    grpc::CallbackServerContext* context,
    const v1::ListFindingsRequest* request,
    v1::ListFindingsResponse* response) {
  absl::StatusOr<Caller> caller =
      authorizer_->Authorize(*context, kListFindings, *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response,
      [runner = runner_, request] { return runner->ListFindings(*request); });
}

grpc::ServerUnaryReactor* ReviewServiceImpl::ApplyFindings(
    grpc::CallbackServerContext* context,
    const v1::ApplyFindingsRequest* request,
    v1::ResolveFindingsResponse* response) {
  absl::StatusOr<Caller> caller =
      authorizer_->Authorize(*context, kApply, *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response,
      [runner = runner_, request, actor = ActorOf(*caller, kApply)] {
        return runner->Apply(*request, actor);
      });
}

grpc::ServerUnaryReactor* ReviewServiceImpl::DismissFindings(
    grpc::CallbackServerContext* context,
    const v1::DismissFindingsRequest* request,
    v1::ResolveFindingsResponse* response) {
  absl::StatusOr<Caller> caller =
      authorizer_->Authorize(*context, kDismiss, *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response,
      [runner = runner_, request, actor = ActorOf(*caller, kDismiss)] {
        return runner->Dismiss(*request, actor);
      });
}

grpc::ServerUnaryReactor* ReviewServiceImpl::CancelReview(
    grpc::CallbackServerContext* context,
    const v1::CancelReviewRequest* request, v1::Review* response) {
  absl::StatusOr<Caller> caller =
      authorizer_->Authorize(*context, kCancel, *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnaryOnPool(
      *pool_, context, response,
      [runner = runner_, request, actor = ActorOf(*caller, kCancel)] {
        return runner->Cancel(*request, actor);
      });
}

}  // namespace custodian::server
