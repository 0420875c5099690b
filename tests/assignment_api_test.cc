// custodian.v1.AssignmentService over a real channel, against a real server
// on a real store (tests/ownership_testing.h): every RPC's happy path, each
// strategy's picks on a constructed roster, concurrency, idempotent retries,
// bad input on every request field.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "custodian/v1/assignment_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/ownership_testing.h"

namespace custodian::server {
namespace {

using testing::AssignReq;
using testing::BadFields;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::MakeCustomer;
using testing::OwnerIn;
using testing::OwnerOf;
using ::testing::StartsWith;

// "rep:REASON" of each skipped candidate.
std::vector<std::string> Skipped(const v1::Ownership& o) {
  std::vector<std::string> out;
  for (const v1::SkippedCandidate& s : o.explanation().skipped()) {
    out.push_back(absl::StrCat(s.rep(), ":",
                               v1::SkippedCandidate::Reason_Name(s.reason())));
  }
  return out;
}

class AssignmentApiTest : public testing::OwnershipFixture {
 protected:
  // The sales owners of `n` new customers of `type`, assigned one by one.
  std::vector<std::string> AssignInTurn(const std::string& type, int n) {
    std::vector<std::string> owners;
    for (int i = 0; i < n; ++i) {
      owners.push_back(
          OwnerIn(MustAssign(MakeCustomer(absl::StrCat(type, "-", i), type),
                             absl::StrCat("req-", type, "-", i)),
                  0));
    }
    return owners;
  }

  // Assigns `n` new customers of `type` from `threads` client threads at
  // once; returns the sales owner per customer.
  std::vector<std::string> AssignConcurrently(const std::string& type, int n,
                                              int threads) {
    std::vector<std::string> owners(n);
    std::vector<std::thread> clients;
    for (int t = 0; t < threads; ++t) {
      clients.emplace_back([&, t] {
        for (int i = t; i < n; i += threads) {
          owners[i] =
              OwnerIn(MustAssign(MakeCustomer(absl::StrCat(type, "-", i), type),
                                 absl::StrCat("req-", type, "-", i)),
                      0);
        }
      });
    }
    for (std::thread& c : clients) c.join();
    return owners;
  }

  // How many sales ownerships each rep (or pool) holds, by ListOwnerships.
  std::map<std::string, int> ListedOwners(const std::string& team) {
    v1::ListOwnershipsRequest filter;
    filter.set_department("sales");
    filter.set_team(team);
    std::map<std::string, int> out;
    for (const v1::Ownership& o : ListAll(filter, 7)) ++out[OwnerOf(o)];
    return out;
  }
};

TEST_F(AssignmentApiTest, AssignGivesAnOwnerPerDepartmentWithItsExplanation) {
  v1::Customer customer = MakeCustomer("acme", "rr", "CN/East/Shanghai");
  customer.add_tags("strategic");
  clock_.Advance(absl::Minutes(1));
  v1::AssignResponse r = MustAssign(customer, "assign-acme");
  EXPECT_EQ(r.customer_id(), "acme");
  EXPECT_EQ(r.ruleset_version(), 2);
  EXPECT_THAT(r.segments(), ElementsAre("key_account"));
  ASSERT_EQ(r.departments_size(), 2);

  const v1::DepartmentAssignment& sales = r.departments(0);
  EXPECT_TRUE(sales.changed());
  const v1::Ownership& o = sales.ownership();
  EXPECT_EQ(o.customer_id(), "acme");
  EXPECT_EQ(o.department(), "sales");
  EXPECT_EQ(o.state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(o.rep(), "r1");
  EXPECT_EQ(o.team(), "rr-team");
  EXPECT_EQ(o.rule_id(), "rr");
  EXPECT_EQ(o.ruleset_version(), 2);
  EXPECT_EQ(o.since().seconds(),
            absl::ToUnixSeconds(testing::T0() + absl::Minutes(1)));
  EXPECT_GT(o.last_event_sequence(), 0);
  EXPECT_THAT(o.explanation().segments(), ElementsAre("key_account"));
  EXPECT_EQ(o.explanation().decision().rule_id(), "rr");
  EXPECT_EQ(o.explanation().team(), "rr-team");
  EXPECT_EQ(o.explanation().strategy(), "round_robin");
  EXPECT_EQ(o.explanation().target_used(), "rule");
  EXPECT_TRUE(o.explanation().skipped().empty());

  const v1::Ownership& service = r.departments(1).ownership();
  EXPECT_EQ(service.department(), "service");
  EXPECT_EQ(service.rep(), "s1");
  EXPECT_EQ(service.rule_id(), "svc");
  EXPECT_GT(service.last_event_sequence(), 0);
  EXPECT_NE(service.last_event_sequence(), o.last_event_sequence());

  // What GetOwnership and GetCustomer say afterwards.
  v1::GetOwnershipRequest get;
  get.set_customer_id("acme");
  get.set_department("sales");
  v1::Ownership stored;
  ASSERT_TRUE(GetOwnership(get, &stored).ok());
  EXPECT_EQ(stored.SerializeAsString(), o.SerializeAsString());
  v1::GetCustomerRequest get_customer;
  get_customer.set_customer_id("acme");
  v1::Customer got;
  ASSERT_TRUE(GetCustomer(get_customer, &got).ok());
  EXPECT_EQ(got.SerializeAsString(), customer.SerializeAsString());
}

TEST_F(AssignmentApiTest, HealthIsServingForBothServicesAndTheLogKnowsThem) {
  std::unique_ptr<grpc::health::v1::Health::Stub> health =
      grpc::health::v1::Health::NewStub(channel_);
  for (const char* service :
       {"custodian.v1.AssignmentService", "custodian.v1.OwnershipService"}) {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    grpc::ClientContext context;
    testing::SetDeadline(&context);
    grpc::Status status = health->Check(&context, request, &response);
    ASSERT_TRUE(status.ok()) << service << ": " << status.error_message();
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING)
        << service;
  }
  // A fresh store has no events: the high-water mark is 0; a restart sees
  // the events written since.
  EXPECT_EQ(server_->startup().event_sequence, 0);
  v1::AssignResponse r = MustAssign(MakeCustomer("c1", "rr"), "a1");
  RestartServer();
  EXPECT_EQ(server_->startup().event_sequence,
            std::max(r.departments(0).ownership().last_event_sequence(),
                     r.departments(1).ownership().last_event_sequence()));
}

TEST_F(AssignmentApiTest, GetCustomerOfAnUnknownCustomerIsNotFound) {
  v1::GetCustomerRequest get;
  get.set_customer_id("nobody");
  v1::Customer got;
  grpc::Status status = GetCustomer(get, &got);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("nobody"));
}

TEST_F(AssignmentApiTest, RoundRobinTakesTheTeamInTurn) {
  EXPECT_THAT(AssignInTurn("rr", 7),
              ElementsAre("r1", "r2", "r3", "r1", "r2", "r3", "r1"));
}

TEST_F(AssignmentApiTest, WeightedFollowsTheWeights) {
  // Smooth weighted round robin, weights 3/1/1.
  EXPECT_THAT(
      AssignInTurn("wt", 10),
      ElementsAre("w1", "w2", "w1", "w3", "w1", "w1", "w2", "w1", "w3", "w1"));
}

TEST_F(AssignmentApiTest, LeastLoadedSkipsAwayAndFullRepsThenOverflows) {
  std::vector<v1::AssignResponse> answers;
  for (int i = 0; i < 4; ++i) {
    answers.push_back(MustAssign(MakeCustomer(absl::StrCat("cap-", i), "cap"),
                                 absl::StrCat("cap-", i)));
  }
  EXPECT_EQ(OwnerIn(answers[0], 0), "k1");
  EXPECT_THAT(Skipped(answers[0].departments(0).ownership()),
              ElementsAre("away1:AWAY"));
  EXPECT_EQ(OwnerIn(answers[1], 0), "k2");  // k1 has one, k2 none
  EXPECT_EQ(OwnerIn(answers[2], 0), "k1");  // k2 is full (capacity 1)
  EXPECT_THAT(Skipped(answers[2].departments(0).ownership()),
              ElementsAre("k2:AT_CAPACITY", "away1:AWAY"));
  const v1::Ownership& overflow = answers[3].departments(0).ownership();
  EXPECT_EQ(overflow.state(), v1::Ownership::POOLED);
  EXPECT_EQ(overflow.pool(), "t-pool");
  EXPECT_EQ(overflow.explanation().target_used(), "overflow");
  EXPECT_EQ(answers[0].departments(0).ownership().explanation().strategy(),
            "least_loaded");
  EXPECT_THAT(Skipped(overflow),
              ElementsAre("k1:AT_CAPACITY", "k2:AT_CAPACITY", "away1:AWAY"));
}

TEST_F(AssignmentApiTest, BestMatchPicksTheMostSkillsThenTheLeastLoaded) {
  v1::Customer c39 = MakeCustomer("bm-c39", "bm");
  c39.set_industry("C/C39");
  EXPECT_EQ(OwnerIn(MustAssign(c39, "bm-1"), 0), "b1");
  v1::Customer strategic = MakeCustomer("bm-strategic", "bm");
  strategic.add_tags("strategic");  // the tag and the key_account segment
  EXPECT_EQ(OwnerIn(MustAssign(strategic, "bm-2"), 0), "b2");
  // No skill matches: least loaded, b3.
  v1::AssignResponse plain = MustAssign(MakeCustomer("bm-plain", "bm"), "bm-3");
  EXPECT_EQ(OwnerIn(plain, 0), "b3");
  EXPECT_EQ(plain.departments(0).ownership().explanation().strategy(),
            "best_match");
}

TEST_F(AssignmentApiTest, RequiresApprovalGivesAPendingOwnerAndPoolRules) {
  v1::AssignResponse vip = MustAssign(MakeCustomer("vip-1", "vip"), "vip-1");
  EXPECT_EQ(vip.departments(0).ownership().state(),
            v1::Ownership::PENDING_APPROVAL);
  EXPECT_EQ(OwnerIn(vip, 0), "a1");
  v1::AssignResponse lead = MustAssign(MakeCustomer("lead-1", "lead"), "lead");
  EXPECT_EQ(OwnerIn(lead, 0), "pool:t-pool");
  EXPECT_EQ(lead.departments(0).ownership().state(), v1::Ownership::POOLED);
  // No rule: the fallback; outside CN: no service rule and no fallback.
  v1::AssignResponse other =
      MustAssign(MakeCustomer("other-1", "other", "US/West"), "other");
  EXPECT_EQ(OwnerIn(other, 0), "pool:t-pool");
  EXPECT_EQ(other.departments(0).ownership().explanation().target_used(),
            "fallback");
  EXPECT_EQ(other.departments(1).ownership().state(), v1::Ownership::UNOWNED);
  EXPECT_EQ(other.departments(1).ownership().unowned_reason(),
            v1::Ownership::NO_MATCH);
}

TEST_F(AssignmentApiTest, BatchAssignAnswersEachItemAndNamesTheBadField) {
  v1::BatchAssignRequest batch;
  *batch.add_requests() = AssignReq(MakeCustomer("b-0", "rr"), "batch-0");
  *batch.add_requests() =
      AssignReq(MakeCustomer("b-1", "rr", "CN//East"), "batch-1");
  *batch.add_requests() = AssignReq(MakeCustomer("b-2", "rr"), "batch-2");
  *batch.add_requests() = AssignReq(MakeCustomer("b-3", "lead"), "batch-3");
  v1::BatchAssignResponse response;
  grpc::Status status = BatchAssign(batch, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(response.results(i).index(), i);
  ASSERT_TRUE(response.results(1).has_error());
  EXPECT_EQ(response.results(1).error().code(),
            static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(response.results(1).error().message(),
              StartsWith("requests[1].customer.region"));
  std::vector<std::string> owners;
  for (int i : {0, 2, 3}) {
    ASSERT_TRUE(response.results(i).has_response()) << i;
    owners.push_back(OwnerIn(response.results(i).response(), 0));
  }
  EXPECT_THAT(owners,
              ::testing::UnorderedElementsAre("r1", "r2", "pool:t-pool"));
  // The bad one wrote nothing.
  v1::GetCustomerRequest get;
  get.set_customer_id("b-1");
  v1::Customer got;
  EXPECT_EQ(GetCustomer(get, &got).error_code(), grpc::StatusCode::NOT_FOUND);

  // Retrying the whole batch returns the first answers.
  v1::BatchAssignResponse retry;
  ASSERT_TRUE(BatchAssign(batch, &retry).ok());
  for (int i : {0, 2, 3}) {
    EXPECT_EQ(retry.results(i).response().SerializeAsString(),
              response.results(i).response().SerializeAsString())
        << i;
  }
}

TEST_F(AssignmentApiTest, EvaluateEqualsTheFollowingAssignAndWritesNothing) {
  MustAssign(MakeCustomer("first", "rr"), "first");  // r1
  const std::string before = OwnershipState({"second"});
  v1::EvaluateRequest evaluate;
  *evaluate.mutable_customer() = MakeCustomer("second", "rr", "CN/North");
  v1::AssignResponse evaluated;
  ASSERT_TRUE(Evaluate(evaluate, &evaluated).ok());
  v1::AssignResponse again;
  ASSERT_TRUE(Evaluate(evaluate, &again).ok());
  EXPECT_EQ(again.SerializeAsString(), evaluated.SerializeAsString());
  EXPECT_EQ(OwnerIn(evaluated, 0), "r2");
  EXPECT_EQ(OwnershipState({"second"}), before);

  v1::AssignResponse assigned = MustAssign(evaluate.customer(), "second");
  for (v1::DepartmentAssignment& d : *assigned.mutable_departments()) {
    EXPECT_GT(d.ownership().last_event_sequence(), 0);
    d.mutable_ownership()->set_last_event_sequence(0);  // unknown to Evaluate
  }
  EXPECT_EQ(assigned.SerializeAsString(), evaluated.SerializeAsString());
}

TEST_F(AssignmentApiTest, UpdateCustomerKeepsOrReassignsAsOnDriftSays) {
  MustAssign(MakeCustomer("drifter", "rr"), "assign");  // r1
  v1::UpdateCustomerRequest update;
  *update.mutable_customer() = MakeCustomer("drifter", "wt");
  update.set_request_id("update-keep");
  v1::AssignResponse kept;
  ASSERT_TRUE(UpdateCustomer(update, &kept).ok());
  // The owner and its since are kept; only the drift flag is set (which
  // the assigner counts as a change of the record).
  EXPECT_EQ(OwnerIn(kept, 0), "r1");
  EXPECT_TRUE(kept.departments(0).ownership().drifted());
  EXPECT_EQ(kept.departments(0).ownership().since().seconds(),
            absl::ToUnixSeconds(testing::T0()));
  v1::GetCustomerRequest get;
  get.set_customer_id("drifter");
  v1::Customer stored;
  ASSERT_TRUE(GetCustomer(get, &stored).ok());
  EXPECT_EQ(stored.customer_type(), "wt");

  // on_drift: reassign moves it.
  ASSERT_EQ(MustCreate(testing::TestRuleset("reassign"), "create-v3").version(),
            3);
  MustActivate(3, "activate-v3");
  update.set_request_id("update-reassign");
  v1::AssignResponse moved;
  ASSERT_TRUE(UpdateCustomer(update, &moved).ok());
  EXPECT_EQ(OwnerIn(moved, 0), "w1");
  EXPECT_TRUE(moved.departments(0).changed());
  EXPECT_FALSE(moved.departments(0).ownership().drifted());
  EXPECT_EQ(moved.ruleset_version(), 3);
  std::vector<v1::OwnershipEvent> history = History("drifter");
  ASSERT_FALSE(history.empty());
  EXPECT_EQ(history.back().cause(), v1::OwnershipEvent::RULE);
  EXPECT_EQ(history.back().before().rep(), "r1");
  EXPECT_EQ(history.back().after().rep(), "w1");

  // Unknown customers are NOT_FOUND (Assign creates them).
  *update.mutable_customer() = MakeCustomer("stranger", "rr");
  update.set_request_id("update-stranger");
  v1::AssignResponse none;
  EXPECT_EQ(UpdateCustomer(update, &none).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(AssignmentApiTest, AssignRetryWithTheSameRequestIdGetsTheFirstAnswer) {
  v1::AssignResponse first = MustAssign(MakeCustomer("c1", "rr"), "same-id");
  const std::string before = OwnershipState();
  v1::AssignResponse retry = MustAssign(MakeCustomer("c1", "rr"), "same-id");
  EXPECT_EQ(retry.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(OwnershipState(), before);
  // The retry moved no cursor: the next customer gets r2.
  EXPECT_EQ(OwnerIn(MustAssign(MakeCustomer("c2", "rr"), "other-id"), 0), "r2");
  // The same id for another request is refused, naming request_id.
  v1::AssignResponse reused;
  grpc::Status status =
      Assign(AssignReq(MakeCustomer("c3", "rr"), "same-id"), &reused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(BadFields(status), ElementsAre("request_id"));
}

TEST_F(AssignmentApiTest, SixtyFourConcurrentAssignsOfOneCustomerGiveOneOwner) {
  constexpr int kCalls = 64;
  std::vector<v1::AssignResponse> answers(kCalls);
  std::vector<grpc::Status> statuses(kCalls);
  std::vector<std::thread> clients;
  for (int i = 0; i < kCalls; ++i) {
    clients.emplace_back([&, i] {
      statuses[i] =
          Assign(AssignReq(MakeCustomer("hot", "rr"), absl::StrCat("hot-", i)),
                 &answers[i]);
    });
  }
  for (std::thread& c : clients) c.join();
  int changed = 0;
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
    EXPECT_EQ(OwnerIn(answers[i], 0), "r1") << i;
    EXPECT_EQ(OwnerIn(answers[i], 1), "s1") << i;
    if (answers[i].departments(0).changed()) ++changed;
  }
  EXPECT_EQ(changed, 1);
  // Exactly one creating event per department.
  std::vector<v1::OwnershipEvent> history = History("hot");
  ASSERT_EQ(history.size(), 2u);
  for (const v1::OwnershipEvent& e : history) EXPECT_FALSE(e.has_before());
  // And the cursor moved once.
  EXPECT_EQ(OwnerIn(MustAssign(MakeCustomer("next", "rr"), "next"), 0), "r2");
}

TEST_F(AssignmentApiTest, ConcurrentLoadStaysFairAndWithinCapacity) {
  std::map<std::string, int> rr;
  for (const std::string& o : AssignConcurrently("rr", 61, 16)) ++rr[o];
  EXPECT_EQ(rr.size(), 3u);
  for (const auto& [rep, n] : rr) EXPECT_NEAR(n, 61.0 / 3, 1) << rep;

  std::map<std::string, int> wt;
  for (const std::string& o : AssignConcurrently("wt", 50, 16)) ++wt[o];
  EXPECT_NEAR(wt["w1"], 30, 1);
  EXPECT_NEAR(wt["w2"], 10, 1);
  EXPECT_NEAR(wt["w3"], 10, 1);

  std::map<std::string, int> cap;
  for (const std::string& o : AssignConcurrently("cap", 12, 12)) ++cap[o];
  EXPECT_EQ(cap["k1"], 2);
  EXPECT_EQ(cap["k2"], 1);
  EXPECT_EQ(cap["pool:t-pool"], 9);

  // The stored state agrees with the answers.
  EXPECT_EQ(ListedOwners("rr-team"), rr);
  EXPECT_EQ(ListedOwners("w-team"), wt);
  std::map<std::string, int> listed_cap = ListedOwners("cap-team");
  EXPECT_EQ(listed_cap["k1"], 2);
  EXPECT_EQ(listed_cap["k2"], 1);

  // The stored load counters are exact: after a restart (which reloads
  // them) k1 and k2 are still full, and round robin resumes its cycle.
  RestartServer();
  v1::AssignResponse after =
      MustAssign(MakeCustomer("cap-late", "cap"), "late");
  EXPECT_EQ(OwnerIn(after, 0), "pool:t-pool");
  EXPECT_THAT(Skipped(after.departments(0).ownership()),
              ElementsAre("k1:AT_CAPACITY", "k2:AT_CAPACITY", "away1:AWAY"));
}

// Bad input on every field of every AssignmentService request:
// INVALID_ARGUMENT naming the field in the message and in the BadRequest,
// and nothing written.
TEST_F(AssignmentApiTest, BadInputOnEveryFieldIsInvalidArgumentNamingIt) {
  MustAssign(MakeCustomer("known", "rr"), "setup");
  const std::vector<std::string> ids = {"known", "c1"};
  const std::string before = OwnershipState(ids);

  struct Case {
    std::string field;
    std::function<grpc::Status()> call;
  };
  auto assign = [&](std::function<void(v1::AssignRequest*)> edit) {
    return [this, edit] {
      v1::AssignRequest r = AssignReq(MakeCustomer("c1", "rr"), "bad-input");
      edit(&r);
      v1::AssignResponse out;
      return Assign(r, &out);
    };
  };
  auto update = [&](std::function<void(v1::UpdateCustomerRequest*)> edit) {
    return [this, edit] {
      v1::UpdateCustomerRequest r;
      *r.mutable_customer() = MakeCustomer("known", "wt");
      r.set_request_id("bad-update");
      edit(&r);
      v1::AssignResponse out;
      return UpdateCustomer(r, &out);
    };
  };
  std::vector<Case> cases = {
      {"customer", assign([](auto* r) { r->clear_customer(); })},
      {"customer.id",
       assign([](auto* r) { r->mutable_customer()->set_id("bad id!"); })},
      {"customer.id",
       assign([](auto* r) { r->mutable_customer()->clear_id(); })},
      {"customer.region",
       assign([](auto* r) { r->mutable_customer()->set_region("CN//East"); })},
      {"customer.customer_type", assign([](auto* r) {
         r->mutable_customer()->set_customer_type("Not A Token");
       })},
      {"customer.annual_revenue",
       assign([](auto* r) { r->mutable_customer()->set_annual_revenue(-1); })},
      {"request_id", assign([](auto* r) { r->clear_request_id(); })},
      {"request_id", assign([](auto* r) { r->set_request_id("bad id"); })},
      {"requests",
       [this] {
         v1::BatchAssignResponse out;
         return BatchAssign(v1::BatchAssignRequest(), &out);
       }},
      {"requests",
       [this] {
         v1::BatchAssignRequest r;
         for (int i = 0; i < 1001; ++i) {
           *r.add_requests() = AssignReq(
               MakeCustomer(absl::StrCat("x", i), "rr"), absl::StrCat("x", i));
         }
         v1::BatchAssignResponse out;
         return BatchAssign(r, &out);
       }},
      {"customer",
       [this] {
         v1::AssignResponse out;
         return Evaluate(v1::EvaluateRequest(), &out);
       }},
      {"customer.region",
       [this] {
         v1::EvaluateRequest r;
         *r.mutable_customer() = MakeCustomer("c1", "rr", "CN//East");
         v1::AssignResponse out;
         return Evaluate(r, &out);
       }},
      {"customer_id",
       [this] {
         v1::Customer out;
         return GetCustomer(v1::GetCustomerRequest(), &out);
       }},
      {"customer_id",
       [this] {
         v1::GetCustomerRequest r;
         r.set_customer_id("bad id!");
         v1::Customer out;
         return GetCustomer(r, &out);
       }},
      {"customer", update([](auto* r) { r->clear_customer(); })},
      {"customer.id",
       update([](auto* r) { r->mutable_customer()->set_id("bad id!"); })},
      {"customer.sales_stage", update([](auto* r) {
         r->mutable_customer()->set_sales_stage("Not A Token");
       })},
      {"request_id", update([](auto* r) { r->clear_request_id(); })},
  };
  for (const Case& c : cases) {
    grpc::Status status = c.call();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.field << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), StartsWith(c.field + ":")) << c.field;
    std::vector<std::string> fields = BadFields(status);
    ASSERT_FALSE(fields.empty()) << c.field;
    EXPECT_EQ(fields[0], c.field);
  }
  EXPECT_EQ(OwnershipState(ids), before);
}

}  // namespace
}  // namespace custodian::server
