// Helpers of the AssignmentService / OwnershipService tests: a real server
// (tests/server_testing.h) whose roster gains test teams, one per strategy,
// applied through RosterService, and whose active ruleset becomes a test
// ruleset (version 2) published and activated through RulesetService; stubs
// of both services; a watch stream reader; and a dump of the ownership state
// to prove that a call wrote nothing.
#ifndef CUSTODIAN_TESTS_OWNERSHIP_TESTING_H_
#define CUSTODIAN_TESTS_OWNERSHIP_TESTING_H_

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "custodian/v1/assignment_service.grpc.pb.h"
#include "custodian/v1/ownership_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/server_testing.h"

namespace custodian::server::testing {

// Reps and teams added to the sample roster (which the sample ruleset,
// active at first start, still needs).
inline constexpr char kTestReps[] =
    "  - {id: r1}\n"
    "  - {id: r2}\n"
    "  - {id: r3}\n"
    "  - {id: w1}\n"
    "  - {id: w2}\n"
    "  - {id: w3}\n"
    "  - {id: k1}\n"
    "  - {id: k2}\n"
    "  - {id: away1, status: away}\n"
    "  - {id: b1, skills: [C39]}\n"
    "  - {id: b2, skills: [strategic, key_account]}\n"
    "  - {id: b3}\n"
    "  - {id: a1}\n"
    "  - {id: a2}\n"
    "  - {id: s1}\n";

inline constexpr char kTestTeams[] =
    "  - id: rr-team\n"
    "    department: sales\n"
    "    members: [{rep: r1}, {rep: r2}, {rep: r3}]\n"
    "  - id: w-team\n"
    "    department: sales\n"
    "    members: [{rep: w1, weight: 3}, {rep: w2}, {rep: w3}]\n"
    "  - id: cap-team\n"
    "    department: sales\n"
    "    members: [{rep: k1, capacity: 2}, {rep: k2, capacity: 1}, "
    "{rep: away1}]\n"
    "  - id: bm-team\n"
    "    department: sales\n"
    "    members: [{rep: b1}, {rep: b2}, {rep: b3}]\n"
    "  - id: appr-team\n"
    "    department: sales\n"
    "    members: [{rep: a1}, {rep: a2}]\n"
    "  - id: t-pool\n"
    "    department: sales\n"
    "    pool: {}\n"
    "  - id: svc-team\n"
    "    department: service\n"
    "    members: [{rep: s1}]\n";

// The test ruleset: one sales rule per strategy (customer_type picks it),
// a service rule for customers in CN; on_drift as given.
inline std::string TestRuleset(const std::string& on_drift) {
  return absl::StrCat(
      "ruleset: wire-test-", on_drift,
      "\n"
      "segments:\n"
      "  - name: key_account\n"
      "    when: {tags: {any_of: [strategic]}}\n"
      "departments:\n"
      "  sales:\n"
      "    rules:\n"
      "      - id: rr\n"
      "        when: {customer_type: rr}\n"
      "        assign: {team: rr-team, strategy: round_robin}\n"
      "      - id: wt\n"
      "        when: {customer_type: wt}\n"
      "        assign: {team: w-team, strategy: weighted}\n"
      "      - id: cap\n"
      "        when: {customer_type: cap}\n"
      "        assign: {team: cap-team, strategy: least_loaded}\n"
      "        overflow: {pool: t-pool}\n"
      "      - id: bm\n"
      "        when: {customer_type: bm}\n"
      "        assign: {team: bm-team, strategy: best_match}\n"
      "      - id: vip\n"
      "        when: {customer_type: vip}\n"
      "        assign: {team: appr-team, requires_approval: true}\n"
      "      - id: lead\n"
      "        when: {customer_type: lead}\n"
      "        assign: {pool: t-pool}\n"
      "    fallback: {pool: t-pool}\n"
      "  service:\n"
      "    rules:\n"
      "      - id: svc\n"
      "        when: {region: {under: CN}}\n"
      "        assign: {team: svc-team}\n"
      "policies:\n"
      "  capacity: {default_max_customers: 1000}\n"
      "  on_drift: ",
      on_drift, "\n");
}

inline v1::Customer MakeCustomer(const std::string& id, const std::string& type,
                                 const std::string& region = "CN/East") {
  v1::Customer c;
  c.set_id(id);
  c.set_customer_type(type);
  if (!region.empty()) c.set_region(region);
  return c;
}

inline v1::AssignRequest AssignReq(const v1::Customer& customer,
                                   const std::string& request_id) {
  v1::AssignRequest r;
  *r.mutable_customer() = customer;
  r.set_request_id(request_id);
  return r;
}

// The owner of `o`: the rep, "pool:<id>" or the state's name.
inline std::string OwnerOf(const v1::Ownership& o) {
  if (!o.rep().empty()) return o.rep();
  if (!o.pool().empty()) return absl::StrCat("pool:", o.pool());
  return v1::Ownership::State_Name(o.state());
}

// The owner in department `i` of an answer ("(none)" if absent).
inline std::string OwnerIn(const v1::AssignResponse& r, int i) {
  if (r.departments_size() <= i) return "(none)";
  return OwnerOf(r.departments(i).ownership());
}

// Reads a WatchOwnershipEvents stream.
class WatchStream {
 public:
  WatchStream(v1::OwnershipService::Stub* stub, int64_t after_sequence) {
    SetDeadline(&context_);
    v1::WatchOwnershipEventsRequest request;
    request.set_after_sequence(after_sequence);
    reader_ = stub->WatchOwnershipEvents(&context_, request);
  }
  ~WatchStream() {
    if (!finished_) {
      context_.TryCancel();
      (void)Finish();
    }
  }

  // Reads `n` events; fewer if the stream ends first.
  std::vector<v1::OwnershipEvent> Read(size_t n) {
    std::vector<v1::OwnershipEvent> events;
    v1::OwnershipEvent event;
    while (events.size() < n && reader_->Read(&event)) events.push_back(event);
    return events;
  }
  // Reads until the stream ends; returns what was read.
  std::vector<v1::OwnershipEvent> ReadToEnd() { return Read(SIZE_MAX); }
  // Cancels the stream (the client disconnects) and returns its status.
  grpc::Status Cancel() {
    context_.TryCancel();
    return Finish();
  }
  // Waits for the stream's status. REQUIRES: everything was read.
  grpc::Status Finish() {
    finished_ = true;
    v1::OwnershipEvent ignored;
    while (reader_->Read(&ignored)) {
    }
    return reader_->Finish();
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::OwnershipEvent>> reader_;
  bool finished_ = false;
};

// The server with the test roster and ruleset (version 2, active, on_drift
// keep) and stubs of AssignmentService and OwnershipService.
class OwnershipFixture : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    if (HasFatalFailure()) return;
    MakeStubs();
    std::string roster = ReadFile(SamplePath("roster.yaml"));
    ASSERT_NE(roster.find("\nteams:\n"), std::string::npos);
    roster = absl::StrReplaceAll(
        roster, {{"\nteams:\n", absl::StrCat("\n", kTestReps, "teams:\n")}});
    if (roster.back() != '\n') roster.push_back('\n');
    roster += kTestTeams;
    v1::ApplyRosterRequest apply;
    apply.set_source_text(roster);
    apply.set_file_name("roster.yaml");
    apply.set_request_id("test-roster");
    v1::ApplyRosterResponse applied;
    grpc::Status status = Apply(apply, &applied);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(MustCreate(TestRuleset("keep"), "create-test").version(), 2);
    MustActivate(2, "activate-test");
  }

  void MakeStubs() {
    assignment_ = v1::AssignmentService::NewStub(channel_);
    ownership_ = v1::OwnershipService::NewStub(channel_);
  }

  // Restarts the server on the same data dir and renews the stubs.
  void RestartServer() {
    Restart();
    MakeStubs();
  }

  grpc::Status Assign(const v1::AssignRequest& r, v1::AssignResponse* out) {
    return Call(assignment_.get(), &v1::AssignmentService::Stub::Assign, r,
                out);
  }
  grpc::Status BatchAssign(const v1::BatchAssignRequest& r,
                           v1::BatchAssignResponse* out) {
    return Call(assignment_.get(), &v1::AssignmentService::Stub::BatchAssign, r,
                out);
  }
  grpc::Status Evaluate(const v1::EvaluateRequest& r, v1::AssignResponse* out) {
    return Call(assignment_.get(), &v1::AssignmentService::Stub::Evaluate, r,
                out);
  }
  grpc::Status GetCustomer(const v1::GetCustomerRequest& r, v1::Customer* out) {
    return Call(assignment_.get(), &v1::AssignmentService::Stub::GetCustomer, r,
                out);
  }
  grpc::Status UpdateCustomer(const v1::UpdateCustomerRequest& r,
                              v1::AssignResponse* out) {
    return Call(assignment_.get(), &v1::AssignmentService::Stub::UpdateCustomer,
                r, out);
  }
  grpc::Status GetOwnership(const v1::GetOwnershipRequest& r,
                            v1::Ownership* out) {
    return Call(ownership_.get(), &v1::OwnershipService::Stub::GetOwnership, r,
                out);
  }
  grpc::Status ListOwnerships(const v1::ListOwnershipsRequest& r,
                              v1::ListOwnershipsResponse* out) {
    return Call(ownership_.get(), &v1::OwnershipService::Stub::ListOwnerships,
                r, out);
  }
  grpc::Status ListEvents(const v1::ListOwnershipEventsRequest& r,
                          v1::ListOwnershipEventsResponse* out) {
    return Call(ownership_.get(),
                &v1::OwnershipService::Stub::ListOwnershipEvents, r, out);
  }
  grpc::Status Transfer(const v1::TransferRequest& r, v1::Ownership* out) {
    return Call(ownership_.get(), &v1::OwnershipService::Stub::Transfer, r,
                out);
  }
  grpc::Status Approve(const v1::ApproveRequest& r, v1::Ownership* out) {
    return Call(ownership_.get(), &v1::OwnershipService::Stub::Approve, r, out);
  }
  grpc::Status Reject(const v1::RejectRequest& r, v1::Ownership* out) {
    return Call(ownership_.get(), &v1::OwnershipService::Stub::Reject, r, out);
  }

  v1::AssignResponse MustAssign(const v1::Customer& customer,
                                const std::string& request_id) {
    v1::AssignResponse response;
    grpc::Status status = Assign(AssignReq(customer, request_id), &response);
    EXPECT_TRUE(status.ok()) << customer.id() << ": " << status.error_message();
    return response;
  }

  // Every ownership of `department` matching `filter`'s filters, over all
  // pages of `page_size`.
  std::vector<v1::Ownership> ListAll(v1::ListOwnershipsRequest filter,
                                     int32_t page_size = 1000) {
    std::vector<v1::Ownership> out;
    filter.set_page_size(page_size);
    for (int page = 0; page < 10000; ++page) {
      v1::ListOwnershipsResponse response;
      grpc::Status status = ListOwnerships(filter, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      for (const v1::Ownership& o : response.ownerships()) out.push_back(o);
      if (response.next_page_token().empty()) break;
      filter.set_page_token(response.next_page_token());
    }
    return out;
  }

  // Every event of `customer_id` (all departments), oldest first.
  std::vector<v1::OwnershipEvent> History(const std::string& customer_id) {
    std::vector<v1::OwnershipEvent> out;
    v1::ListOwnershipEventsRequest request;
    request.set_customer_id(customer_id);
    request.set_page_size(1000);
    while (true) {
      v1::ListOwnershipEventsResponse response;
      grpc::Status status = ListEvents(request, &response);
      if (status.error_code() == grpc::StatusCode::NOT_FOUND) break;
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      for (const v1::OwnershipEvent& e : response.events()) out.push_back(e);
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    return out;
  }

  // Every ownership of both departments and every event of their customers,
  // plus the stored attributes of `also` customers (or NOT_FOUND). Equal
  // before and after a call = the call wrote nothing visible.
  std::string OwnershipState(const std::vector<std::string>& also = {}) {
    std::string state;
    std::set<std::string> customers(also.begin(), also.end());
    for (const char* department : {"sales", "service"}) {
      v1::ListOwnershipsRequest filter;
      filter.set_department(department);
      for (const v1::Ownership& o : ListAll(filter)) {
        absl::StrAppend(&state, o.DebugString());
        customers.insert(o.customer_id());
      }
    }
    for (const std::string& id : customers) {
      for (const v1::OwnershipEvent& e : History(id)) {
        absl::StrAppend(&state, e.DebugString());
      }
      v1::GetCustomerRequest get;
      get.set_customer_id(id);
      v1::Customer customer;
      grpc::Status status = GetCustomer(get, &customer);
      absl::StrAppend(&state, id, ": ", status.error_code(), " ",
                      customer.DebugString());
    }
    return state;
  }

  std::unique_ptr<v1::AssignmentService::Stub> assignment_;
  std::unique_ptr<v1::OwnershipService::Stub> ownership_;
};

}  // namespace custodian::server::testing

#endif  // CUSTODIAN_TESTS_OWNERSHIP_TESTING_H_
