// custodian.v1.DisputeService through the wire: a real server
// (tests/server_testing.h) on the sample roster and ruleset (disputes: panels
// of 3 from team arbitration, quorum 2, sla 7d, reappeal_after 30d), with a
// static token per principal so that parties, arbiters and managers are
// different callers, and the manual clock for expiry and re-appeal windows.
#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "custodian/v1/assignment_service.grpc.pb.h"
#include "custodian/v1/audit_service.grpc.pb.h"
#include "custodian/v1/dispute_service.grpc.pb.h"
#include "custodian/v1/ownership_service.grpc.pb.h"
#include "custodian/v1/pool_service.grpc.pb.h"
#include "custodian/v1/ruleset_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "server/authenticator.h"
#include "tests/server_testing.h"

namespace custodian::server {
namespace {

using testing::BadFields;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::SetDeadline;
using ::testing::StartsWith;
using v1::AppealVote;

struct Token {
  const char* token;
  const char* id;
  const char* roles;
  const char* departments;
};

// liu.yang owns the test customer (round robin of mfg-east) and is also a
// manager of sales: a party who could otherwise rule. huang.min claims it.
constexpr Token kTokens[] = {
    {"tok-sys", "svc-crm", "[system]", "['*']"},
    {"tok-admin", "root", "[admin]", "['*']"},
    {"tok-liu", "liu.yang", "[rep, manager]", "[sales]"},
    {"tok-huang", "huang.min", "[rep]", "[sales]"},
    {"tok-zhou", "zhou.tao", "[rep]", "[sales]"},
    {"tok-wang", "wang.fang", "[rep, arbiter]", "[sales]"},
    {"tok-zhao", "zhao.lei", "[arbiter]", "[]"},
    {"tok-sun", "sun.li", "[arbiter]", "[]"},
    {"tok-mgr", "mgr.sales", "[manager]", "[sales]"},
};

class DisputeApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tokens = "tokens:\n";
    for (const Token& t : kTokens) {
      absl::StrAppend(&tokens, "  - sha256: ", TokenSha256Hex(t.token),
                      "\n    principal: ", t.id, "\n    roles: ", t.roles,
                      "\n    departments: ", t.departments, "\n");
    }
    token_file_ = dir_.Write("tokens.yaml", tokens);
    Start();
  }
  void TearDown() override { Stop(); }

  void Start() {
    Options options = testing::TestOptions(dir_, &clock_);
    options.auth.token_file = token_file_;
    auto server = CustodianServer::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(server_->address(),
                                   grpc::InsecureChannelCredentials());
    disputes_ = v1::DisputeService::NewStub(channel_);
    ownership_ = v1::OwnershipService::NewStub(channel_);
    assignment_ = v1::AssignmentService::NewStub(channel_);
    pool_ = v1::PoolService::NewStub(channel_);
    rulesets_ = v1::RulesetService::NewStub(channel_);
  }
  void Stop() {
    if (server_ == nullptr) return;
    EXPECT_TRUE(server_->Shutdown(absl::Now() + absl::Seconds(5)).ok());
    server_.reset();
  }

  template <typename Stub, typename Request, typename Response>
  static grpc::Status Call(const std::string& token, Stub* stub,
                           grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                        const Request&,
                                                        Response*),
                           const Request& request, Response* response) {
    grpc::ClientContext context;
    SetDeadline(&context);
    context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    return (stub->*method)(&context, request, response);
  }

  // Assigns `id` (enterprise, CN/East, industry C: team mfg-east, round
  // robin: the first goes to liu.yang).
  std::string Assign(const std::string& id) {
    v1::AssignRequest r;
    r.mutable_customer()->set_id(id);
    r.mutable_customer()->set_region("CN/East/Shanghai");
    r.mutable_customer()->set_industry("C/C39");
    r.mutable_customer()->set_customer_type("enterprise");
    r.mutable_customer()->set_sales_stage("qualified");
    r.set_request_id("assign-" + id);
    v1::AssignResponse response;
    grpc::Status s = Call("tok-sys", assignment_.get(),
                          &v1::AssignmentService::Stub::Assign, r, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return Owner(id).rep();
  }

  v1::Ownership Owner(const std::string& customer) {
    v1::GetOwnershipRequest r;
    r.set_customer_id(customer);
    r.set_department("sales");
    v1::Ownership o;
    grpc::Status s = Call("tok-admin", ownership_.get(),
                          &v1::OwnershipService::Stub::GetOwnership, r, &o);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return o;
  }

  std::vector<v1::OwnershipEvent> Events(const std::string& customer) {
    v1::ListOwnershipEventsRequest r;
    r.set_customer_id(customer);
    r.set_department("sales");
    r.set_page_size(100);
    v1::ListOwnershipEventsResponse response;
    grpc::Status s =
        Call("tok-admin", ownership_.get(),
             &v1::OwnershipService::Stub::ListOwnershipEvents, r, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {response.events().begin(), response.events().end()};
  }

  static v1::FileAppealRequest FileReq(const std::string& customer,
                                       const std::string& claimant) {
    v1::FileAppealRequest r;
    r.set_customer_id(customer);
    r.set_department("sales");
    r.set_claimant(claimant);
    r.set_reason("I visited them in March");
    r.add_evidence("https://crm.example/visit/42");
    r.set_request_id("file-" + customer + "-" + claimant);
    return r;
  }

  grpc::Status File(const v1::FileAppealRequest& r, v1::Appeal* out,
                    const std::string& token = "tok-huang") {
    return Call(token, disputes_.get(), &v1::DisputeService::Stub::FileAppeal,
                r, out);
  }

  // huang.min appeals liu.yang's `customer`; returns the appeal.
  v1::Appeal MustFile(const std::string& customer) {
    v1::Appeal a;
    grpc::Status s = File(FileReq(customer, "huang.min"), &a);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return a;
  }

  grpc::Status Vote(const std::string& token, const std::string& id,
                    AppealVote::Decision d, v1::Appeal* out = nullptr) {
    v1::CastVoteRequest r;
    r.set_appeal_id(id);
    r.set_decision(d);
    r.set_reason("weighed the evidence");
    r.set_request_id(absl::StrCat("vote-", ++counter_));
    v1::Appeal ignored;
    return Call(token, disputes_.get(), &v1::DisputeService::Stub::CastVote, r,
                out != nullptr ? out : &ignored);
  }

  grpc::Status Rule(const std::string& token, const std::string& id,
                    AppealVote::Decision d, v1::Appeal* out = nullptr,
                    const std::string& request_id = "") {
    v1::RuleOnAppealRequest r;
    r.set_appeal_id(id);
    r.set_decision(d);
    r.set_reason("the manager's call");
    r.set_request_id(request_id.empty() ? absl::StrCat("rule-", ++counter_)
                                        : request_id);
    v1::Appeal ignored;
    return Call(token, disputes_.get(), &v1::DisputeService::Stub::RuleOnAppeal,
                r, out != nullptr ? out : &ignored);
  }

  v1::Appeal GetAppeal(const std::string& id,
                       const std::string& token = "tok-admin") {
    v1::GetAppealRequest r;
    r.set_appeal_id(id);
    v1::Appeal a;
    grpc::Status s = Call(token, disputes_.get(),
                          &v1::DisputeService::Stub::GetAppeal, r, &a);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return a;
  }

  // Publishes the sample ruleset with on_expiry `action` and activates it.
  void SetOnExpiry(const std::string& action) {
    std::string text = testing::ReadFile(testing::SamplePath("ruleset.yaml"));
    ASSERT_NE(text.find("on_expiry: uphold"), std::string::npos);
    text = absl::StrReplaceAll(text,
                               {{"on_expiry: uphold", "on_expiry: " + action}});
    v1::CreateRulesetVersionRequest create;
    create.set_source_text(text);
    create.set_file_name("ruleset.yaml");
    create.set_request_id("create-" + action);
    v1::RulesetVersion version;
    grpc::Status s =
        Call("tok-admin", rulesets_.get(),
             &v1::RulesetService::Stub::CreateRulesetVersion, create, &version);
    ASSERT_TRUE(s.ok()) << s.error_message();
    v1::ListRulesetVersionsResponse list;
    s = Call("tok-admin", rulesets_.get(),
             &v1::RulesetService::Stub::ListRulesetVersions,
             v1::ListRulesetVersionsRequest(), &list);
    ASSERT_TRUE(s.ok()) << s.error_message();
    v1::ActivateRulesetRequest activate;
    activate.set_version(version.version());
    activate.set_etag(list.activation_etag());
    activate.set_reason("test on_expiry");
    activate.set_request_id("activate-" + action);
    v1::ActivateRulesetResponse activated;
    s = Call("tok-admin", rulesets_.get(),
             &v1::RulesetService::Stub::ActivateRuleset, activate, &activated);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  static std::vector<std::string> Panel(const v1::Appeal& a) {
    std::vector<std::string> out;
    for (const v1::PanelSeat& s : a.panel()) out.push_back(s.arbiter());
    return out;
  }
  static std::vector<v1::AppealEntry::Kind> Kinds(const v1::Appeal& a) {
    std::vector<v1::AppealEntry::Kind> out;
    for (const v1::AppealEntry& e : a.timeline()) out.push_back(e.kind());
    return out;
  }

  testing::TempDir dir_;
  ManualClock clock_{testing::T0()};
  std::string token_file_;
  std::unique_ptr<CustodianServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::DisputeService::Stub> disputes_;
  std::unique_ptr<v1::OwnershipService::Stub> ownership_;
  std::unique_ptr<v1::AssignmentService::Stub> assignment_;
  std::unique_ptr<v1::PoolService::Stub> pool_;
  std::unique_ptr<v1::RulesetService::Stub> rulesets_;
  int counter_ = 0;
};

TEST_F(DisputeApiTest, HealthReportsTheServiceServing) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("custodian.v1.DisputeService");
  grpc::health::v1::HealthCheckResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  ASSERT_TRUE(health->Check(&context, request, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(DisputeApiTest, UpheldByThePanelFreezesThenUnfreezesAndIsWatched) {
  ASSERT_EQ(Assign("c1"), "liu.yang");
  v1::Appeal a = MustFile("c1");
  EXPECT_EQ(a.state(), v1::Appeal::OPEN);
  EXPECT_EQ(a.owner(), "liu.yang");
  EXPECT_THAT(Panel(a), ElementsAre("wang.fang", "zhao.lei", "sun.li"));
  EXPECT_EQ(a.quorum(), 2);
  EXPECT_EQ(Owner("c1").state(), v1::Ownership::FROZEN);

  // Frozen: no transfer, no claim.
  v1::TransferRequest t;
  t.set_customer_id("c1");
  t.set_department("sales");
  t.set_rep("zhou.tao");
  t.set_reason("rebalance");
  t.set_request_id("transfer-1");
  v1::Ownership o;
  grpc::Status s = Call("tok-mgr", ownership_.get(),
                        &v1::OwnershipService::Stub::Transfer, t, &o);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("FROZEN"));
  v1::ClaimRequest claim;
  claim.set_customer_id("c1");
  claim.set_department("sales");
  claim.set_rep("huang.min");
  claim.set_request_id("claim-1");
  s = Call("tok-huang", pool_.get(), &v1::PoolService::Stub::Claim, claim, &o);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("FROZEN"));
  // A second appeal on the ownership.
  v1::Appeal second;
  v1::FileAppealRequest again = FileReq("c1", "zhou.tao");
  EXPECT_EQ(File(again, &second, "tok-zhou").error_code(),
            grpc::StatusCode::ALREADY_EXISTS);

  v1::Appeal after;
  ASSERT_TRUE(Vote("tok-wang", a.id(), AppealVote::UPHOLD, &after).ok());
  EXPECT_EQ(after.state(), v1::Appeal::OPEN);
  ASSERT_TRUE(Vote("tok-zhao", a.id(), AppealVote::UPHOLD, &after).ok());
  EXPECT_EQ(after.state(), v1::Appeal::UPHELD);
  EXPECT_EQ(after.ruling_source(), v1::Appeal::PANEL);
  EXPECT_THAT(Kinds(after),
              ElementsAre(v1::AppealEntry::FILED, v1::AppealEntry::PANEL,
                          v1::AppealEntry::VOTE, v1::AppealEntry::VOTE,
                          v1::AppealEntry::RULING));
  EXPECT_EQ(Owner("c1").state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(Owner("c1").rep(), "liu.yang");

  // The freeze, the first vote (a step) and the ruling are ownership events
  // linked to the appeal, in the history and in the watch stream.
  std::vector<v1::OwnershipEvent> events = Events("c1");
  ASSERT_GE(events.size(), 4u);
  const v1::OwnershipEvent& freeze = events[events.size() - 3];
  const v1::OwnershipEvent& step = events[events.size() - 2];
  const v1::OwnershipEvent& ruling = events.back();
  EXPECT_EQ(step.cause(), v1::OwnershipEvent::APPEAL_STEP);
  EXPECT_EQ(step.actor(), "wang.fang");
  EXPECT_EQ(step.appeal_id(), a.id());
  EXPECT_THAT(step.reason(), StartsWith(absl::StrCat(a.id(), " vote UPHOLD")));
  EXPECT_EQ(step.before().SerializeAsString(),
            freeze.after().SerializeAsString());
  EXPECT_EQ(step.after().state(), v1::Ownership::FROZEN);
  EXPECT_EQ(step.after().rep(), "liu.yang");
  EXPECT_EQ(freeze.cause(), v1::OwnershipEvent::APPEAL);
  EXPECT_EQ(freeze.after().state(), v1::Ownership::FROZEN);
  EXPECT_EQ(freeze.appeal_id(), a.id());
  EXPECT_EQ(ruling.cause(), v1::OwnershipEvent::APPEAL_RULING);
  EXPECT_EQ(ruling.after().state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(ruling.appeal_id(), a.id());
  grpc::ClientContext context;
  SetDeadline(&context);
  context.AddMetadata("authorization", "Bearer tok-sys");
  v1::WatchOwnershipEventsRequest watch;
  watch.set_after_sequence(a.freeze_event_sequence() - 1);
  auto reader = ownership_->WatchOwnershipEvents(&context, watch);
  v1::OwnershipEvent e;
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.appeal_id(), a.id());
  EXPECT_EQ(e.cause(), v1::OwnershipEvent::APPEAL);
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.appeal_id(), a.id());
  EXPECT_EQ(e.cause(), v1::OwnershipEvent::APPEAL_STEP);
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.appeal_id(), a.id());
  EXPECT_EQ(e.cause(), v1::OwnershipEvent::APPEAL_RULING);
  context.TryCancel();
}

TEST_F(DisputeApiTest, OverturnedByThePanelMovesTheOwnerToTheClaimant) {
  ASSERT_EQ(Assign("c1"), "liu.yang");
  v1::Appeal a = MustFile("c1");
  ASSERT_TRUE(Vote("tok-sun", a.id(), AppealVote::OVERTURN).ok());
  v1::Appeal after;
  ASSERT_TRUE(Vote("tok-wang", a.id(), AppealVote::OVERTURN, &after).ok());
  EXPECT_EQ(after.state(), v1::Appeal::OVERTURNED);
  v1::Ownership o = Owner("c1");
  EXPECT_EQ(o.state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(o.rep(), "huang.min");
  EXPECT_EQ(o.team(), "mfg-east");
  EXPECT_EQ(Events("c1").back().appeal_id(), a.id());
  EXPECT_EQ(after.end_event_sequence(), o.last_event_sequence());

  // Each mutation left one audit record naming the appeal, with its caller.
  auto audit = v1::AuditService::NewStub(channel_);
  v1::ListAuditRecordsRequest r;
  r.set_resource("appeals/" + a.id());
  v1::ListAuditRecordsResponse records;
  ASSERT_TRUE(Call("tok-admin", audit.get(),
                   &v1::AuditService::Stub::ListAuditRecords, r, &records)
                  .ok());
  std::vector<std::string> seen;
  for (const v1::AuditRecord& record : records.records()) {
    seen.push_back(absl::StrCat(record.principal(), " ", record.rpc(), " ",
                                record.outcome()));
  }
  EXPECT_THAT(
      seen,
      ::testing::UnorderedElementsAre(
          "huang.min custodian.v1.DisputeService.FileAppeal OK: appeal filed",
          "sun.li custodian.v1.DisputeService.CastVote OK: vote recorded",
          "wang.fang custodian.v1.DisputeService.CastVote OK: vote "
          "recorded; OVERTURNED"));
}

TEST_F(DisputeApiTest, APartyNeverVotesOrRulesAndAManagerRules) {
  ASSERT_EQ(Assign("c1"), "liu.yang");
  v1::Appeal a = MustFile("c1");
  // The owner is a manager of sales, but a party.
  grpc::Status s = Rule("tok-liu", a.id(), AppealVote::UPHOLD);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("a party never rules"));
  for (const char* party : {"tok-liu", "tok-huang"}) {
    EXPECT_EQ(Vote(party, a.id(), AppealVote::OVERTURN).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  // An arbiter without a seat does not vote.
  v1::Appeal other;
  ASSERT_EQ(Assign("c2"), "huang.min");
  v1::FileAppealRequest by_wang = FileReq("c2", "wang.fang");
  ASSERT_TRUE(File(by_wang, &other, "tok-wang").ok());
  EXPECT_TRUE(other.routed_to_managers());  // 2 eligible, the panel needs 3
  EXPECT_EQ(Vote("tok-wang", other.id(), AppealVote::OVERTURN).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Vote("tok-zhao", other.id(), AppealVote::OVERTURN).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Nothing changed.
  EXPECT_EQ(GetAppeal(a.id()).votes_size(), 0);
  EXPECT_EQ(Owner("c1").state(), v1::Ownership::FROZEN);

  v1::Appeal ruled;
  ASSERT_TRUE(Rule("tok-mgr", a.id(), AppealVote::OVERTURN, &ruled).ok());
  EXPECT_EQ(ruled.state(), v1::Appeal::OVERTURNED);
  EXPECT_EQ(ruled.ruling_source(), v1::Appeal::MANAGER);
  EXPECT_EQ(ruled.ruled_by(), "mgr.sales");
  EXPECT_EQ(Owner("c1").rep(), "huang.min");
  // Once ruled: FAILED_PRECONDITION.
  EXPECT_EQ(Rule("tok-mgr", a.id(), AppealVote::UPHOLD).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(DisputeApiTest, OnlyTheClaimantWithdraws) {
  ASSERT_EQ(Assign("c1"), "liu.yang");
  v1::Appeal a = MustFile("c1");
  v1::WithdrawAppealRequest w;
  w.set_appeal_id(a.id());
  w.set_reason("we agreed");
  w.set_request_id("withdraw-1");
  v1::Appeal out;
  EXPECT_EQ(Call("tok-zhou", disputes_.get(),
                 &v1::DisputeService::Stub::WithdrawAppeal, w, &out)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(Call("tok-huang", disputes_.get(),
                   &v1::DisputeService::Stub::WithdrawAppeal, w, &out)
                  .ok());
  EXPECT_EQ(out.state(), v1::Appeal::WITHDRAWN);
  EXPECT_EQ(Owner("c1").state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(Owner("c1").rep(), "liu.yang");
  EXPECT_EQ(Events("c1").back().cause(), v1::OwnershipEvent::APPEAL);
  EXPECT_EQ(Events("c1").back().appeal_id(), a.id());
}

TEST_F(DisputeApiTest, ExpiryUpholdsAndTheReappealWindowEndsOnTheDot) {
  ASSERT_EQ(Assign("c1"), "liu.yang");
  v1::Appeal a = MustFile("c1");
  clock_.Advance(absl::Hours(24 * 7) - absl::Seconds(1));
  auto stats = server_->SweepAppealsNow();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->examined, 0);
  clock_.Advance(absl::Seconds(1));
  stats = server_->SweepAppealsNow();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->upheld, 1);
  v1::Appeal ended = GetAppeal(a.id());
  EXPECT_EQ(ended.state(), v1::Appeal::UPHELD);
  EXPECT_EQ(ended.ruling_source(), v1::Appeal::EXPIRY);
  EXPECT_EQ(ended.timeline(ended.timeline_size() - 2).kind(),
            v1::AppealEntry::EXPIRY);
  EXPECT_EQ(Owner("c1").state(), v1::Ownership::ACTIVE);

  clock_.Advance(absl::Hours(24 * 30) - absl::Seconds(1));
  v1::FileAppealRequest r = FileReq("c1", "huang.min");
  r.set_request_id("file-again-1");
  v1::Appeal out;
  grpc::Status s = File(r, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(),
              HasSubstr("allows a new appeal from 2026-02-07T00:00:00Z"));
  clock_.Advance(absl::Seconds(1));
  r.set_request_id("file-again-2");
  s = File(r, &out);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(DisputeApiTest, ExpiryEscalatesToTheManagersWithANewDeadline) {
  SetOnExpiry("escalate");
  ASSERT_EQ(Assign("c1"), "liu.yang");
  v1::Appeal a = MustFile("c1");
  clock_.Advance(absl::Hours(24 * 7));
  auto stats = server_->SweepAppealsNow();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->escalated, 1);
  v1::Appeal escalated = GetAppeal(a.id());
  EXPECT_EQ(escalated.state(), v1::Appeal::ESCALATED);
  // Watchers learn of the escalation: an APPEAL_STEP event by custodiand.
  const v1::OwnershipEvent last = Events("c1").back();
  EXPECT_EQ(last.cause(), v1::OwnershipEvent::APPEAL_STEP);
  EXPECT_EQ(last.actor(), "custodiand");
  EXPECT_THAT(last.reason(),
              StartsWith(absl::StrCat(a.id(),
                                      " escalation: escalated to the "
                                      "managers of department sales")));
  EXPECT_EQ(last.after().state(), v1::Ownership::FROZEN);
  EXPECT_EQ(escalated.deadline().seconds(),
            absl::ToUnixSeconds(clock_.Now() + absl::Hours(24 * 7)));
  // The manager's inbox holds it; the arbiter's does not any more.
  v1::ListAppealsRequest inbox;
  inbox.set_assigned_to_me(true);
  v1::ListAppealsResponse list;
  ASSERT_TRUE(Call("tok-mgr", disputes_.get(),
                   &v1::DisputeService::Stub::ListAppeals, inbox, &list)
                  .ok());
  ASSERT_EQ(list.appeals_size(), 1);
  EXPECT_EQ(list.appeals(0).id(), a.id());
  ASSERT_TRUE(Call("tok-wang", disputes_.get(),
                   &v1::DisputeService::Stub::ListAppeals, inbox, &list)
                  .ok());
  EXPECT_EQ(list.appeals_size(), 0);
  v1::Appeal ruled;
  ASSERT_TRUE(Rule("tok-mgr", a.id(), AppealVote::UPHOLD, &ruled).ok());
  EXPECT_EQ(ruled.state(), v1::Appeal::UPHELD);
}

TEST_F(DisputeApiTest, ExpiryOverturns) {
  SetOnExpiry("overturn");
  ASSERT_EQ(Assign("c1"), "liu.yang");
  v1::Appeal a = MustFile("c1");
  clock_.Advance(absl::Hours(24 * 7));
  auto stats = server_->SweepAppealsNow();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->overturned, 1);
  EXPECT_EQ(GetAppeal(a.id()).state(), v1::Appeal::OVERTURNED);
  EXPECT_EQ(Owner("c1").rep(), "huang.min");
}

TEST_F(DisputeApiTest, ConcurrentRulingsHaveExactlyOneWinner) {
  ASSERT_EQ(Assign("c1"), "liu.yang");
  v1::Appeal a = MustFile("c1");
  std::vector<grpc::Status> results(6);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      results[i] = Rule(i % 2 == 0 ? "tok-mgr" : "tok-admin", a.id(),
                        i % 2 == 0 ? AppealVote::UPHOLD : AppealVote::OVERTURN,
                        nullptr, absl::StrCat("race-", i));
    });
  }
  for (std::thread& t : threads) t.join();
  int winners = 0;
  for (const grpc::Status& s : results) {
    if (s.ok()) {
      ++winners;
    } else {
      EXPECT_THAT(s.error_code(),
                  ::testing::AnyOf(grpc::StatusCode::FAILED_PRECONDITION,
                                   grpc::StatusCode::ABORTED))
          << s.error_message();
    }
  }
  EXPECT_EQ(winners, 1);
  v1::Appeal ended = GetAppeal(a.id());
  EXPECT_EQ(Kinds(ended).back(), v1::AppealEntry::RULING);
  EXPECT_EQ(Owner("c1").rep(),
            ended.state() == v1::Appeal::OVERTURNED ? "huang.min" : "liu.yang");
}

TEST_F(DisputeApiTest, ARestartInTheMiddleOfAVoteKeepsEveryVote) {
  ASSERT_EQ(Assign("c1"), "liu.yang");
  v1::Appeal a = MustFile("c1");
  ASSERT_TRUE(Vote("tok-wang", a.id(), AppealVote::OVERTURN).ok());
  ASSERT_TRUE(Vote("tok-sun", a.id(), AppealVote::UPHOLD).ok());
  v1::CommentOnAppealRequest c;
  c.set_appeal_id(a.id());
  c.set_text("I have the visit report");
  c.set_request_id("comment-1");
  v1::Appeal commented;
  ASSERT_TRUE(Call("tok-liu", disputes_.get(),
                   &v1::DisputeService::Stub::CommentOnAppeal, c, &commented)
                  .ok());
  const v1::OwnershipEvent comment_event = Events("c1").back();
  EXPECT_EQ(comment_event.cause(), v1::OwnershipEvent::APPEAL_STEP);
  EXPECT_EQ(comment_event.actor(), "liu.yang");
  EXPECT_EQ(comment_event.reason(),
            absl::StrCat(a.id(), " comment: I have the visit report"));
  EXPECT_EQ(comment_event.request_id(), "comment-1");
  Stop();
  Start();
  v1::Appeal kept = GetAppeal(a.id());
  ASSERT_EQ(kept.votes_size(), 2);
  EXPECT_EQ(kept.votes(0).arbiter(), "sun.li");
  EXPECT_EQ(kept.votes(0).decision(), AppealVote::UPHOLD);
  EXPECT_EQ(kept.votes(1).arbiter(), "wang.fang");
  EXPECT_EQ(kept.votes(1).decision(), AppealVote::OVERTURN);
  EXPECT_EQ(kept.timeline().rbegin()->kind(), v1::AppealEntry::COMMENT);
  v1::Appeal after;
  ASSERT_TRUE(Vote("tok-zhao", a.id(), AppealVote::OVERTURN, &after).ok());
  EXPECT_EQ(after.state(), v1::Appeal::OVERTURNED);
  EXPECT_EQ(Owner("c1").rep(), "huang.min");
}

TEST_F(DisputeApiTest, VisibilityAndTheArbitersInbox) {
  ASSERT_EQ(Assign("c1"), "liu.yang");
  v1::Appeal a = MustFile("c1");
  v1::GetAppealRequest g;
  g.set_appeal_id(a.id());
  v1::Appeal out;
  EXPECT_EQ(Call("tok-zhou", disputes_.get(),
                 &v1::DisputeService::Stub::GetAppeal, g, &out)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(GetAppeal(a.id(), "tok-liu").id(), a.id());  // a party sees it
  g.set_appeal_id("ap-000000000000000000000000");
  EXPECT_EQ(Call("tok-zhou", disputes_.get(),
                 &v1::DisputeService::Stub::GetAppeal, g, &out)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Call("tok-admin", disputes_.get(),
                 &v1::DisputeService::Stub::GetAppeal, g, &out)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::ListAppealsRequest inbox;
  inbox.set_assigned_to_me(true);
  v1::ListAppealsResponse list;
  ASSERT_TRUE(Call("tok-zhao", disputes_.get(),
                   &v1::DisputeService::Stub::ListAppeals, inbox, &list)
                  .ok());
  ASSERT_EQ(list.appeals_size(), 1);
  ASSERT_TRUE(Vote("tok-zhao", a.id(), AppealVote::UPHOLD).ok());
  v1::ListAppealsRequest mine;
  mine.set_claimant("huang.min");
  ASSERT_TRUE(Call("tok-zhou", disputes_.get(),
                   &v1::DisputeService::Stub::ListAppeals, mine, &list)
                  .ok());
  EXPECT_EQ(list.appeals_size(), 0);  // not zhou.tao's
  ASSERT_TRUE(Call("tok-huang", disputes_.get(),
                   &v1::DisputeService::Stub::ListAppeals, mine, &list)
                  .ok());
  EXPECT_EQ(list.appeals_size(), 1);
}

TEST_F(DisputeApiTest, BadInputOnEveryFieldNamesItAndWritesNothing) {
  ASSERT_EQ(Assign("c1"), "liu.yang");
  const std::vector<v1::OwnershipEvent> before = Events("c1");
  const std::string long_text(1025, 'x');
  struct FileCase {
    std::string field;
    std::function<void(v1::FileAppealRequest*)> spoil;
  };
  const std::vector<FileCase> file_cases = {
      {"customer_id", [](auto* r) { r->clear_customer_id(); }},
      {"customer_id", [](auto* r) { r->set_customer_id("bad id!"); }},
      {"department", [](auto* r) { r->clear_department(); }},
      {"department", [](auto* r) { r->set_department("Sales"); }},
      {"claimant", [](auto* r) { r->clear_claimant(); }},
      {"claimant", [](auto* r) { r->set_claimant("Huang Min"); }},
      {"reason", [](auto* r) { r->clear_reason(); }},
      {"reason", [&](auto* r) { r->set_reason(long_text); }},
      {"evidence[1]", [](auto* r) { r->add_evidence(""); }},
      {"evidence[1]", [&](auto* r) { r->add_evidence(long_text); }},
      {"evidence",
       [](auto* r) {
         for (int i = 0; i < 20; ++i) r->add_evidence("more");
       }},
      {"request_id", [](auto* r) { r->clear_request_id(); }},
  };
  for (const FileCase& c : file_cases) {
    v1::FileAppealRequest r = FileReq("c1", "huang.min");
    c.spoil(&r);
    v1::Appeal out;
    grpc::Status s = File(r, &out, "tok-admin");
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_THAT(BadFields(s), ::testing::Contains(c.field)) << c.field;
  }
  EXPECT_EQ(Events("c1").size(), before.size());
  EXPECT_EQ(Owner("c1").state(), v1::Ownership::ACTIVE);

  v1::Appeal a = MustFile("c1");
  auto expect_bad = [](const grpc::Status& s, const std::string& field) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_THAT(BadFields(s), ::testing::Contains(field)) << field;
  };
  v1::Appeal out;
  {
    v1::CastVoteRequest r;
    r.set_appeal_id("ap-1");
    r.set_decision(AppealVote::UPHOLD);
    r.set_reason("x");
    r.set_request_id("v1");
    expect_bad(Call("tok-wang", disputes_.get(),
                    &v1::DisputeService::Stub::CastVote, r, &out),
               "appeal_id");
    r.set_appeal_id(a.id());
    r.set_decision(AppealVote::DECISION_UNSPECIFIED);
    expect_bad(Call("tok-wang", disputes_.get(),
                    &v1::DisputeService::Stub::CastVote, r, &out),
               "decision");
    r.set_decision(static_cast<AppealVote::Decision>(7));
    expect_bad(Call("tok-wang", disputes_.get(),
                    &v1::DisputeService::Stub::CastVote, r, &out),
               "decision");
    r.set_decision(AppealVote::UPHOLD);
    r.clear_reason();
    expect_bad(Call("tok-wang", disputes_.get(),
                    &v1::DisputeService::Stub::CastVote, r, &out),
               "reason");
    r.set_reason("x");
    r.clear_request_id();
    expect_bad(Call("tok-wang", disputes_.get(),
                    &v1::DisputeService::Stub::CastVote, r, &out),
               "request_id");
  }
  {
    v1::RuleOnAppealRequest r;
    r.set_appeal_id(a.id());
    r.set_decision(AppealVote::UPHOLD);
    r.set_reason("x");
    r.set_override_capacity(true);
    r.set_override_reason("y");
    r.set_request_id("r1");
    expect_bad(Call("tok-mgr", disputes_.get(),
                    &v1::DisputeService::Stub::RuleOnAppeal, r, &out),
               "override_capacity");
    r.set_decision(AppealVote::OVERTURN);
    r.clear_override_reason();
    expect_bad(Call("tok-mgr", disputes_.get(),
                    &v1::DisputeService::Stub::RuleOnAppeal, r, &out),
               "override_reason");
    r.set_override_capacity(false);
    r.set_override_reason("y");
    expect_bad(Call("tok-mgr", disputes_.get(),
                    &v1::DisputeService::Stub::RuleOnAppeal, r, &out),
               "override_reason");
    r.clear_override_reason();
    r.clear_reason();
    expect_bad(Call("tok-mgr", disputes_.get(),
                    &v1::DisputeService::Stub::RuleOnAppeal, r, &out),
               "reason");
  }
  {
    v1::CommentOnAppealRequest r;
    r.set_appeal_id(a.id());
    r.set_request_id("c1");
    expect_bad(Call("tok-huang", disputes_.get(),
                    &v1::DisputeService::Stub::CommentOnAppeal, r, &out),
               "text");
    v1::WithdrawAppealRequest w;
    w.set_appeal_id(a.id());
    w.set_reason(long_text);
    w.set_request_id("w1");
    expect_bad(Call("tok-huang", disputes_.get(),
                    &v1::DisputeService::Stub::WithdrawAppeal, w, &out),
               "reason");
    v1::GetAppealRequest g;
    expect_bad(Call("tok-huang", disputes_.get(),
                    &v1::DisputeService::Stub::GetAppeal, g, &out),
               "appeal_id");
    v1::ListAppealsRequest l;
    v1::ListAppealsResponse list;
    l.set_page_size(-1);
    expect_bad(Call("tok-huang", disputes_.get(),
                    &v1::DisputeService::Stub::ListAppeals, l, &list),
               "page_size");
    l.set_page_size(0);
    l.set_page_token("garbage");
    expect_bad(Call("tok-huang", disputes_.get(),
                    &v1::DisputeService::Stub::ListAppeals, l, &list),
               "page_token");
    l.clear_page_token();
    l.set_state(static_cast<v1::Appeal::State>(42));
    expect_bad(Call("tok-huang", disputes_.get(),
                    &v1::DisputeService::Stub::ListAppeals, l, &list),
               "state");
    l.clear_state();
    for (const char* field : {"department", "claimant", "owner"}) {
      v1::ListAppealsRequest bad;
      bad.GetReflection()->SetString(
          &bad, bad.GetDescriptor()->FindFieldByName(field), "Not Valid!");
      expect_bad(Call("tok-huang", disputes_.get(),
                      &v1::DisputeService::Stub::ListAppeals, bad, &list),
                 field);
    }
    v1::GetAppealStatsRequest stats_request;
    stats_request.set_department("Not Valid!");
    v1::GetAppealStatsResponse stats;
    expect_bad(
        Call("tok-admin", disputes_.get(),
             &v1::DisputeService::Stub::GetAppealStats, stats_request, &stats),
        "department");
    v1::RuleOnAppealRequest rule;
    rule.set_decision(AppealVote::UPHOLD);
    rule.set_reason("x");
    expect_bad(Call("tok-mgr", disputes_.get(),
                    &v1::DisputeService::Stub::RuleOnAppeal, rule, &out),
               "appeal_id");
    rule.set_appeal_id(a.id());
    expect_bad(Call("tok-mgr", disputes_.get(),
                    &v1::DisputeService::Stub::RuleOnAppeal, rule, &out),
               "request_id");
    v1::CommentOnAppealRequest comment;
    comment.set_appeal_id(a.id());
    comment.set_text(long_text);
    expect_bad(Call("tok-huang", disputes_.get(),
                    &v1::DisputeService::Stub::CommentOnAppeal, comment, &out),
               "text");
    comment.set_text("fine");
    expect_bad(Call("tok-huang", disputes_.get(),
                    &v1::DisputeService::Stub::CommentOnAppeal, comment, &out),
               "request_id");
    w.clear_reason();
    w.clear_request_id();
    expect_bad(Call("tok-huang", disputes_.get(),
                    &v1::DisputeService::Stub::WithdrawAppeal, w, &out),
               "request_id");
    w.set_request_id("w2");
    w.set_appeal_id("AP-1");
    expect_bad(Call("tok-huang", disputes_.get(),
                    &v1::DisputeService::Stub::WithdrawAppeal, w, &out),
               "appeal_id");
  }
  v1::Appeal unchanged = GetAppeal(a.id());
  EXPECT_EQ(unchanged.timeline_size(), a.timeline_size());
  EXPECT_EQ(unchanged.votes_size(), 0);
  EXPECT_EQ(unchanged.state(), v1::Appeal::OPEN);
}

}  // namespace
}  // namespace custodian::server
