// TEST ONLY: canned-answer RosterService, RulesetService, AssignmentService
// and OwnershipService for custodianctl's client tests. Never linked into
// custodianctl.
//
// These are test doubles for the *client*: they record every request (so a
// test checks what custodianctl sent) and answer with what the test set
// (so a test checks how custodianctl prints answers and errors). They hold no
// domain logic; end-to-end tests against the real services live in tests/.
//
// FakeServer hosts them all on a real grpc::Server bound to 127.0.0.1:0.
//
// Thread-safe: every method may be called from the test and server threads.
#ifndef CUSTODIAN_CLIENTS_TESTING_FAKE_SERVICES_H_
#define CUSTODIAN_CLIENTS_TESTING_FAKE_SERVICES_H_

#include <grpcpp/grpcpp.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/connection.h"
#include "custodian/v1/assignment_service.grpc.pb.h"
#include "custodian/v1/ownership_service.grpc.pb.h"
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

class FakeAssignmentService final : public v1::AssignmentService::Service {
 public:
  CannedMethod<v1::AssignRequest, v1::AssignResponse> assign;
  CannedMethod<v1::EvaluateRequest, v1::AssignResponse> evaluate;

  // BatchAssign answers with `answer(request, &response)` (set by the test:
  // canned per-item results); with no answer set, an empty response.
  // Every request is recorded.
  void AnswerBatches(std::function<grpc::Status(const v1::BatchAssignRequest&,
                                                v1::BatchAssignResponse*)>
                         answer) {
    absl::MutexLock lock(&mu_);
    batch_answer_ = std::move(answer);
  }
  std::vector<v1::BatchAssignRequest> batch_requests() const {
    absl::MutexLock lock(&mu_);
    return batch_requests_;
  }

  grpc::Status Assign(grpc::ServerContext*, const v1::AssignRequest* request,
                      v1::AssignResponse* response) override {
    return assign.Handle(*request, response);
  }
  grpc::Status Evaluate(grpc::ServerContext*,
                        const v1::EvaluateRequest* request,
                        v1::AssignResponse* response) override {
    return evaluate.Handle(*request, response);
  }
  grpc::Status BatchAssign(grpc::ServerContext*,
                           const v1::BatchAssignRequest* request,
                           v1::BatchAssignResponse* response) override {
    std::function<grpc::Status(const v1::BatchAssignRequest&,
                               v1::BatchAssignResponse*)>
        answer;
    {
      absl::MutexLock lock(&mu_);
      batch_requests_.push_back(*request);
      answer = batch_answer_;
    }
    return answer ? answer(*request, response) : grpc::Status::OK;
  }

 private:
  mutable absl::Mutex mu_;
  std::function<grpc::Status(const v1::BatchAssignRequest&,
                             v1::BatchAssignResponse*)>
      batch_answer_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::BatchAssignRequest> batch_requests_ ABSL_GUARDED_BY(mu_);
};

class FakeOwnershipService final : public v1::OwnershipService::Service {
 public:
  CannedMethod<v1::GetOwnershipRequest, v1::Ownership> get;
  CannedMethod<v1::ListOwnershipsRequest, v1::ListOwnershipsResponse> list;
  CannedMethod<v1::ListOwnershipEventsRequest, v1::ListOwnershipEventsResponse>
      events;
  CannedMethod<v1::TransferRequest, v1::Ownership> transfer;
  CannedMethod<v1::ApproveRequest, v1::Ownership> approve;
  CannedMethod<v1::RejectRequest, v1::Ownership> reject;

  // WatchOwnershipEvents sends `events` (whatever the cursor), then, with
  // `hold_open`, keeps the stream open until the client cancels it; else it
  // ends the stream with `end`.
  void SetWatch(std::vector<v1::OwnershipEvent> events, bool hold_open,
                grpc::Status end = grpc::Status::OK) {
    absl::MutexLock lock(&mu_);
    watch_events_ = std::move(events);
    watch_hold_open_ = hold_open;
    watch_end_ = std::move(end);
  }
  std::vector<v1::WatchOwnershipEventsRequest> watch_requests() const {
    absl::MutexLock lock(&mu_);
    return watch_requests_;
  }
  // true once a watch call has seen its client cancel.
  bool watch_cancelled() const {
    absl::MutexLock lock(&mu_);
    return watch_cancelled_;
  }

  grpc::Status GetOwnership(grpc::ServerContext*,
                            const v1::GetOwnershipRequest* request,
                            v1::Ownership* response) override {
    return get.Handle(*request, response);
  }
  grpc::Status ListOwnerships(grpc::ServerContext*,
                              const v1::ListOwnershipsRequest* request,
                              v1::ListOwnershipsResponse* response) override {
    return list.Handle(*request, response);
  }
  grpc::Status ListOwnershipEvents(
      grpc::ServerContext*, const v1::ListOwnershipEventsRequest* request,
      v1::ListOwnershipEventsResponse* response) override {
    return events.Handle(*request, response);
  }
  grpc::Status WatchOwnershipEvents(
      grpc::ServerContext* context,
      const v1::WatchOwnershipEventsRequest* request,
      grpc::ServerWriter<v1::OwnershipEvent>* writer) override {
    std::vector<v1::OwnershipEvent> events;
    bool hold_open;
    grpc::Status end;
    {
      absl::MutexLock lock(&mu_);
      watch_requests_.push_back(*request);
      events = watch_events_;
      hold_open = watch_hold_open_;
      end = watch_end_;
    }
    for (const v1::OwnershipEvent& event : events) {
      if (!writer->Write(event)) break;
    }
    if (!hold_open) return end;
    while (!context->IsCancelled()) absl::SleepFor(absl::Milliseconds(5));
    absl::MutexLock lock(&mu_);
    watch_cancelled_ = true;
    return grpc::Status::CANCELLED;
  }
  grpc::Status Transfer(grpc::ServerContext*,
                        const v1::TransferRequest* request,
                        v1::Ownership* response) override {
    return transfer.Handle(*request, response);
  }
  grpc::Status Approve(grpc::ServerContext*, const v1::ApproveRequest* request,
                       v1::Ownership* response) override {
    return approve.Handle(*request, response);
  }
  grpc::Status Reject(grpc::ServerContext*, const v1::RejectRequest* request,
                      v1::Ownership* response) override {
    return reject.Handle(*request, response);
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<v1::OwnershipEvent> watch_events_ ABSL_GUARDED_BY(mu_);
  bool watch_hold_open_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status watch_end_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::WatchOwnershipEventsRequest> watch_requests_
      ABSL_GUARDED_BY(mu_);
  bool watch_cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

// Every fake on a real server bound to 127.0.0.1:0 (started by the
// constructor, stopped by the destructor).
class FakeServer {
 public:
  FakeServer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&roster);
    builder.RegisterService(&rulesets);
    builder.RegisterService(&assignment);
    builder.RegisterService(&ownership);
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
  FakeAssignmentService assignment;
  FakeOwnershipService ownership;

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace custodian::clients::testing

#endif  // CUSTODIAN_CLIENTS_TESTING_FAKE_SERVICES_H_
