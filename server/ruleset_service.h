// custodian.v1.RulesetService: the thin gRPC adapter over RulesetRegistry
// (server/ruleset_registry.h), which holds every rule of the API: request
// checks, validation against the stored roster, versions, activation,
// request ids. Each handler translates the request, delegates, and maps the
// result through ToGrpcStatus (server/status_mapping.h), error details
// included. Every handler first has the Authorizer (server/authorizer.h)
// check the caller; mutations are recorded with the caller's principal.
//
// Each call but SimulateRuleset runs inline on the gRPC callback thread; the
// work is bounded (at most 4 MiB of text to check, one store transaction that
// waits for at most one shared fsync and the store's lock timeout).
// SimulateRuleset (RulesetSimulator, server/ruleset_simulator.h) reads every
// stored customer and takes seconds for a million, so it never runs on a
// callback thread: the handler starts a dedicated thread, which runs the
// simulation (stopping at its next batch if the call is cancelled, e.g. by
// the client's deadline or the server's shutdown deadline), finishes the
// reactor from there and ends. The destructor joins those threads.
//
// Thread-safe: the registry and the simulator are.
#ifndef CUSTODIAN_SERVER_RULESET_SERVICE_H_
#define CUSTODIAN_SERVER_RULESET_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <list>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "custodian/v1/ruleset_service.grpc.pb.h"
#include "custodian/v1/ruleset_service.pb.h"
#include "server/authorizer.h"
#include "server/ruleset_registry.h"
#include "server/ruleset_simulator.h"

namespace custodian::server {

class RulesetServiceImpl final : public v1::RulesetService::CallbackService {
 public:
  // REQUIRES: `registry`, `simulator` and `authorizer` are not null and
  // outlive this service.
  RulesetServiceImpl(RulesetRegistry* registry,
                     const RulesetSimulator* simulator, Authorizer* authorizer)
      : registry_(registry), simulator_(simulator), authorizer_(authorizer) {}
  // Waits for the simulation threads to end (they end once their call is
  // finished; the gRPC server's Shutdown waits for that).
  ~RulesetServiceImpl() override;

  RulesetServiceImpl(const RulesetServiceImpl&) = delete;
  RulesetServiceImpl& operator=(const RulesetServiceImpl&) = delete;

  // RulesetRegistry::Validate.
  grpc::ServerUnaryReactor* ValidateRuleset(
      grpc::CallbackServerContext* context,
      const v1::ValidateRulesetRequest* request,
      v1::ValidateRulesetResponse* response) override;
  // RulesetRegistry::CreateVersion by the caller's principal.
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
  // RulesetRegistry::Activate by the caller's principal.
  grpc::ServerUnaryReactor* ActivateRuleset(
      grpc::CallbackServerContext* context,
      const v1::ActivateRulesetRequest* request,
      v1::ActivateRulesetResponse* response) override;
  // RulesetRegistry::Diff.
  grpc::ServerUnaryReactor* DiffRulesets(
      grpc::CallbackServerContext* context,
      const v1::DiffRulesetsRequest* request,
      v1::DiffRulesetsResponse* response) override;
  // RulesetSimulator::Simulate, on a dedicated thread (see the top), stopped
  // when the call is cancelled.
  grpc::ServerUnaryReactor* SimulateRuleset(
      grpc::CallbackServerContext* context,
      const v1::SimulateRulesetRequest* request,
      v1::SimulateRulesetResponse* response) override;

 private:
  struct Job {
    std::thread thread;
    bool done = false;
  };

  // Runs `work` on a new thread; joins the threads of finished jobs.
  void RunOffReactor(std::function<void()> work) ABSL_LOCKS_EXCLUDED(jobs_mu_);

  RulesetRegistry* const registry_;
  const RulesetSimulator* const simulator_;
  Authorizer* const authorizer_;

  absl::Mutex jobs_mu_;
  std::list<Job> jobs_ ABSL_GUARDED_BY(jobs_mu_);
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_RULESET_SERVICE_H_
