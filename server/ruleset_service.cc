#include "server/ruleset_service.h"

#include <utility>

#include "server/status_mapping.h"

namespace custodian::server {

grpc::ServerUnaryReactor* RulesetServiceImpl::ValidateRuleset(
    grpc::CallbackServerContext* context,
    const v1::ValidateRulesetRequest* request,
    v1::ValidateRulesetResponse* response) {
  absl::StatusOr<Caller> caller = authorizer_->Authorize(
      *context, "custodian.v1.RulesetService.ValidateRuleset", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnary(context, registry_->Validate(*request), response);
}

grpc::ServerUnaryReactor* RulesetServiceImpl::CreateRulesetVersion(
    grpc::CallbackServerContext* context,
    const v1::CreateRulesetVersionRequest* request,
    v1::RulesetVersion* response) {
  absl::StatusOr<Caller> caller = authorizer_->Authorize(
      *context, "custodian.v1.RulesetService.CreateRulesetVersion", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnary(
      context,
      registry_->CreateVersion(
          *request,
          ActorOf(*caller, "custodian.v1.RulesetService.CreateRulesetVersion")),
      response);
}

grpc::ServerUnaryReactor* RulesetServiceImpl::GetRuleset(
    grpc::CallbackServerContext* context, const v1::GetRulesetRequest* request,
    v1::RulesetVersion* response) {
  absl::StatusOr<Caller> caller = authorizer_->Authorize(
      *context, "custodian.v1.RulesetService.GetRuleset", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnary(context, registry_->Get(*request), response);
}

grpc::ServerUnaryReactor* RulesetServiceImpl::ListRulesetVersions(
    grpc::CallbackServerContext* context,
    const v1::ListRulesetVersionsRequest* request,
    v1::ListRulesetVersionsResponse* response) {
  absl::StatusOr<Caller> caller = authorizer_->Authorize(
      *context, "custodian.v1.RulesetService.ListRulesetVersions", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnary(context, registry_->List(*request), response);
}

grpc::ServerUnaryReactor* RulesetServiceImpl::ActivateRuleset(
    grpc::CallbackServerContext* context,
    const v1::ActivateRulesetRequest* request,
    v1::ActivateRulesetResponse* response) {
  absl::StatusOr<Caller> caller = authorizer_->Authorize(
      *context, "custodian.v1.RulesetService.ActivateRuleset", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnary(
      context,
      registry_->Activate(
          *request,
          ActorOf(*caller, "custodian.v1.RulesetService.ActivateRuleset")),
      response);
}

grpc::ServerUnaryReactor* RulesetServiceImpl::DiffRulesets(
    grpc::CallbackServerContext* context,
    const v1::DiffRulesetsRequest* request,
    v1::DiffRulesetsResponse* response) {
  absl::StatusOr<Caller> caller = authorizer_->Authorize(
      *context, "custodian.v1.RulesetService.DiffRulesets", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  return FinishUnary(context, registry_->Diff(*request), response);
}

grpc::ServerUnaryReactor* RulesetServiceImpl::SimulateRuleset(
    grpc::CallbackServerContext* context,
    const v1::SimulateRulesetRequest* request,
    v1::SimulateRulesetResponse* response) {
  absl::StatusOr<Caller> caller = authorizer_->Authorize(
      *context, "custodian.v1.RulesetService.SimulateRuleset", *request);
  if (!caller.ok()) return FinishError(context, caller.status());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  RunOffReactor([this, context, request, response, reactor] {
    absl::StatusOr<v1::SimulateRulesetResponse> result = simulator_->Simulate(
        *request, [context] { return context->IsCancelled(); });
    if (result.ok()) *response = *std::move(result);
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  return reactor;
}

void RulesetServiceImpl::RunOffReactor(std::function<void()> work) {
  std::list<Job> finished;
  {
    absl::MutexLock lock(&jobs_mu_);
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      auto next = std::next(it);
      if (it->done) finished.splice(finished.end(), jobs_, it);
      it = next;
    }
    Job& job = jobs_.emplace_back();
    // The thread marks its job done under jobs_mu_, which is held here until
    // `job.thread` is assigned.
    job.thread = std::thread([this, &job, work = std::move(work)] {
      work();
      absl::MutexLock done_lock(&jobs_mu_);
      job.done = true;
    });
  }
  // Done jobs have released jobs_mu_ and are ending: joining is quick.
  for (Job& job : finished) job.thread.join();
}

RulesetServiceImpl::~RulesetServiceImpl() {
  std::list<Job> jobs;
  {
    absl::MutexLock lock(&jobs_mu_);
    jobs.swap(jobs_);
  }
  for (Job& job : jobs) job.thread.join();
}

}  // namespace custodian::server
