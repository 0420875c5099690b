// TEST ONLY: canned-answer RosterService and RulesetService for custodianctl's
// client tests. Never linked into custodianctl.
//
// These are test doubles for the *client*: they record every request (so a
// test checks what custodianctl sent) and answer with what the test set
// (so a test checks how custodianctl prints answers and errors). They hold no
// domain logic; end-to-end tests against the real services live in tests/.
//
// FakeServer hosts both on a real grpc::Server bound to 127.0.0.1:0.
//
// Thread-safe: every method may be called from the test and server threads.
#ifndef CUSTODIAN_CLIENTS_TESTING_FAKE_SERVICES_H_
#define CUSTODIAN_CLIENTS_TESTING_FAKE_SERVICES_H_

#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clients/connection.h"
#include "custodian/v1/roster_service.grpc.pb.h"
#include "custodian/v1/ruleset_service.grpc.pb.h"
#include "google/protobuf/any.pb.h"
#include "google/rpc/status.pb.h"

namespace custodian::clients::testing {

// A grpc::Status carrying `details` the way servers send them: a serialized
// google.rpc.Status in error_details (grpc-status-details-bin).
template <typename... Details>
grpc::Status StatusWithDetails(grpc::StatusCode code,
                               const std::string& message,
                               const Details&... details) {
  google::rpc::Status status;
  status.set_code(static_cast<int>(code));
  status.set_message(message);
  (status.add_details()->PackFrom(details), ...);
  return grpc::Status(code, message, status.SerializeAsString());
}

// One method's canned answers and the requests it received.
template <typename Request, typename Response>
class CannedMethod {
 public:
  // Queues an answer. Answers are used in order; the last one is repeated.
  // With none queued the method answers an empty response.
  void Reply(Response response) {
    absl::MutexLock lock(&mu_);
    answers_.push_back({grpc::Status::OK, std::move(response)});
  }
  void Fail(grpc::Status status) {
    absl::MutexLock lock(&mu_);
    answers_.push_back({std::move(status), Response()});
  }

  // Every request received, in order.
  std::vector<Request> requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

  grpc::Status Handle(const Request& request, Response* response) {
    absl::MutexLock lock(&mu_);
    requests_.push_back(request);
    if (answers_.empty()) return grpc::Status::OK;
    Answer answer = answers_.front();
    if (answers_.size() > 1) answers_.pop_front();
    *response = answer.response;
    return answer.status;
  }

 private:
  struct Answer {
    grpc::Status status;
    Response response;
  };
  mutable absl::Mutex mu_;
  std::deque<Answer> answers_ ABSL_GUARDED_BY(mu_);
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
};

class FakeRosterService final : public v1::RosterService::Service {
 public:
  CannedMethod<v1::ApplyRosterRequest, v1::ApplyRosterResponse> apply;
  CannedMethod<v1::GetRosterRequest, v1::GetRosterResponse> get;
  CannedMethod<v1::SetRepStatusRequest, v1::SetRepStatusResponse> set_status;

  grpc::Status ApplyRoster(grpc::ServerContext*,
                           const v1::ApplyRosterRequest* request,
                           v1::ApplyRosterResponse* response) override {
    return apply.Handle(*request, response);
  }
  grpc::Status GetRoster(grpc::ServerContext*,
                         const v1::GetRosterRequest* request,
                         v1::GetRosterResponse* response) override {
    return get.Handle(*request, response);
  }
  grpc::Status SetRepStatus(grpc::ServerContext*,
                            const v1::SetRepStatusRequest* request,
                            v1::SetRepStatusResponse* response) override {
    return set_status.Handle(*request, response);
  }
};

class FakeRulesetService final : public v1::RulesetService::Service {
 public:
  CannedMethod<v1::CreateRulesetVersionRequest, v1::RulesetVersion> create;
  CannedMethod<v1::GetRulesetRequest, v1::RulesetVersion> get;
  CannedMethod<v1::ListRulesetVersionsRequest, v1::ListRulesetVersionsResponse>
      list;
  CannedMethod<v1::ActivateRulesetRequest, v1::ActivateRulesetResponse>
      activate;
  CannedMethod<v1::DiffRulesetsRequest, v1::DiffRulesetsResponse> diff;

  grpc::Status CreateRulesetVersion(
      grpc::ServerContext*, const v1::CreateRulesetVersionRequest* request,
      v1::RulesetVersion* response) override {
    return create.Handle(*request, response);
  }
  grpc::Status GetRuleset(grpc::ServerContext*,
                          const v1::GetRulesetRequest* request,
                          v1::RulesetVersion* response) override {
    return get.Handle(*request, response);
  }
  grpc::Status ListRulesetVersions(
      grpc::ServerContext*, const v1::ListRulesetVersionsRequest* request,
      v1::ListRulesetVersionsResponse* response) override {
    return list.Handle(*request, response);
  }
  grpc::Status ActivateRuleset(grpc::ServerContext*,
                               const v1::ActivateRulesetRequest* request,
                               v1::ActivateRulesetResponse* response) override {
    return activate.Handle(*request, response);
  }
  grpc::Status DiffRulesets(grpc::ServerContext*,
                            const v1::DiffRulesetsRequest* request,
                            v1::DiffRulesetsResponse* response) override {
    return diff.Handle(*request, response);
  }
};

// Both fakes on a real server bound to 127.0.0.1:0 (started by the
// constructor, stopped by the destructor).
class FakeServer {
 public:
  FakeServer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&roster);
    builder.RegisterService(&rulesets);
    server_ = builder.BuildAndStart();
  }
  ~FakeServer() {
    if (server_ != nullptr) server_->Shutdown();
  }
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  // false if the server did not start (the test should fail).
  bool ok() const { return server_ != nullptr && port_ > 0; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

  // A connection as custodianctl makes it (Connection::Open).
  std::unique_ptr<Connection> Connect(
      absl::Duration timeout = absl::Seconds(30)) const {
    ConnectionOptions options;
    options.address = address();
    options.timeout = timeout;
    return Connection::Open(std::move(options));
  }

  FakeRosterService roster;
  FakeRulesetService rulesets;

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace custodian::clients::testing

#endif  // CUSTODIAN_CLIENTS_TESTING_FAKE_SERVICES_H_
