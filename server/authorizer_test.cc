#include "server/authorizer.h"

#include <map>
#include <memory>
#include <set>
#include <string>

#include "custodian/v1/assignment_service.pb.h"
#include "custodian/v1/audit_service.pb.h"
#include "custodian/v1/dispute_service.pb.h"
#include "custodian/v1/identity_service.pb.h"
#include "custodian/v1/ownership_service.pb.h"
#include "custodian/v1/pool_service.pb.h"
#include "custodian/v1/review_service.pb.h"
#include "custodian/v1/roster_service.pb.h"
#include "custodian/v1/ruleset_service.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "gtest/gtest.h"

namespace custodian::server {
namespace {

using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::MessageFactory;
using google::protobuf::MethodDescriptor;
using google::protobuf::ServiceDescriptor;

// The matrix of docs/security.md, written out independently of RpcRules():
// for each RPC, the roles allowed, and "D" after a role when its grant is
// limited to the principal's departments, "S" when (also) to its own book.
const std::map<std::string, std::map<std::string, std::string>>& Matrix() {
  static const auto* matrix =
      new std::map<std::string, std::map<std::string, std::string>>{
          {"RulesetService.ValidateRuleset", {{"admin", ""}, {"auditor", ""}}},
          {"RulesetService.CreateRulesetVersion", {{"admin", ""}}},
          {"RulesetService.GetRuleset",
           {{"system", ""}, {"manager", ""}, {"admin", ""}, {"auditor", ""}}},
          {"RulesetService.ListRulesetVersions",
           {{"system", ""}, {"manager", ""}, {"admin", ""}, {"auditor", ""}}},
          {"RulesetService.ActivateRuleset", {{"admin", ""}}},
          {"RulesetService.DiffRulesets",
           {{"system", ""}, {"manager", ""}, {"admin", ""}, {"auditor", ""}}},
          {"RulesetService.SimulateRuleset", {{"admin", ""}, {"auditor", ""}}},
          {"RosterService.ApplyRoster", {{"admin", ""}}},
          {"RosterService.GetRoster",
           {{"system", ""},
            {"rep", ""},
            {"manager", ""},
            {"arbiter", ""},
            {"admin", ""},
            {"auditor", ""}}},
          {"RosterService.SetRepStatus", {{"manager", "D"}, {"admin", ""}}},
          {"AssignmentService.Assign", {{"system", ""}, {"admin", ""}}},
          {"AssignmentService.BatchAssign", {{"system", ""}, {"admin", ""}}},
          {"AssignmentService.Evaluate",
           {{"system", ""}, {"admin", ""}, {"auditor", ""}}},
          {"AssignmentService.GetCustomer",
           {{"system", ""}, {"manager", ""}, {"admin", ""}, {"auditor", ""}}},
          {"AssignmentService.UpdateCustomer", {{"system", ""}, {"admin", ""}}},
          {"OwnershipService.GetOwnership",
           {{"system", ""},
            {"rep", "D"},
            {"manager", "D"},
            {"arbiter", ""},
            {"admin", ""},
            {"auditor", ""}}},
          {"OwnershipService.ListOwnerships",
           {{"system", ""},
            {"rep", "DS"},
            {"manager", "D"},
            {"admin", ""},
            {"auditor", ""}}},
          {"OwnershipService.ListOwnershipEvents",
           {{"system", ""},
            {"rep", "D"},
            {"manager", "D"},
            {"arbiter", ""},
            {"admin", ""},
            {"auditor", ""}}},
          {"OwnershipService.WatchOwnershipEvents",
           {{"system", ""}, {"admin", ""}, {"auditor", ""}}},
          {"OwnershipService.Transfer", {{"manager", "D"}, {"admin", ""}}},
          {"OwnershipService.Approve", {{"manager", "D"}, {"admin", ""}}},
          {"OwnershipService.Reject", {{"manager", "D"}, {"admin", ""}}},
          {"PoolService.ListPool",
           {{"system", ""},
            {"rep", "D"},
            {"manager", "D"},
            {"admin", ""},
            {"auditor", ""}}},
          {"PoolService.Claim",
           {{"rep", "DS"}, {"manager", "D"}, {"admin", ""}}},
          {"PoolService.Release",
           {{"rep", "D"}, {"manager", "D"}, {"admin", ""}}},
          {"PoolService.RecordActivity",
           {{"system", ""}, {"rep", "D"}, {"manager", "D"}, {"admin", ""}}},
          {"PoolService.CheckDuplicates",
           {{"system", ""},
            {"rep", ""},
            {"manager", ""},
            {"admin", ""},
            {"auditor", ""}}},
          {"DisputeService.FileAppeal",
           {{"rep", "DS"}, {"manager", "D"}, {"admin", ""}}},
          {"DisputeService.GetAppeal",
           {{"rep", ""},
            {"manager", ""},
            {"arbiter", ""},
            {"admin", ""},
            {"auditor", ""}}},
          {"DisputeService.ListAppeals",
           {{"rep", ""},
            {"manager", ""},
            {"arbiter", ""},
            {"admin", ""},
            {"auditor", ""}}},
          {"DisputeService.CommentOnAppeal",
           {{"rep", ""}, {"manager", ""}, {"arbiter", ""}, {"admin", ""}}},
          {"DisputeService.CastVote", {{"arbiter", ""}}},
          {"DisputeService.RuleOnAppeal", {{"manager", ""}, {"admin", ""}}},
          {"DisputeService.WithdrawAppeal",
           {{"rep", ""}, {"manager", ""}, {"admin", ""}}},
          {"DisputeService.GetAppealStats",
           {{"manager", "D"}, {"arbiter", ""}, {"admin", ""}, {"auditor", ""}}},
          {"IdentityService.WhoAmI",
           {{"system", ""},
            {"rep", ""},
            {"manager", ""},
            {"arbiter", ""},
            {"admin", ""},
            {"auditor", ""}}},
          {"AuditService.ListAuditRecords", {{"admin", ""}, {"auditor", ""}}},
          {"ReviewService.StartReview", {{"system", ""}, {"admin", ""}}},
          {"ReviewService.GetReview",
           {{"system", ""}, {"manager", ""}, {"admin", ""}, {"auditor", ""}}},
          {"ReviewService.ListReviews",
           {{"system", ""}, {"manager", ""}, {"admin", ""}, {"auditor", ""}}},
          {"ReviewService.ListFindings",
           {{"system", ""}, {"manager", "D"}, {"admin", ""}, {"auditor", ""}}},
          {"ReviewService.ApplyFindings", {{"manager", "D"}, {"admin", ""}}},
          {"ReviewService.DismissFindings", {{"manager", "D"}, {"admin", ""}}},
          {"ReviewService.CancelReview", {{"system", ""}, {"admin", ""}}},
      };
  return *matrix;
}

// Every method of every custodian.v1 service.
std::vector<const MethodDescriptor*> AllMethods() {
  // Taking the descriptor tables' addresses links their files in.
  const void* volatile files[] = {
      &descriptor_table_custodian_2fv1_2fruleset_5fservice_2eproto,
      &descriptor_table_custodian_2fv1_2froster_5fservice_2eproto,
      &descriptor_table_custodian_2fv1_2fassignment_5fservice_2eproto,
      &descriptor_table_custodian_2fv1_2fownership_5fservice_2eproto,
      &descriptor_table_custodian_2fv1_2fpool_5fservice_2eproto,
      &descriptor_table_custodian_2fv1_2fdispute_5fservice_2eproto,
      &descriptor_table_custodian_2fv1_2fidentity_5fservice_2eproto,
      &descriptor_table_custodian_2fv1_2faudit_5fservice_2eproto,
      &descriptor_table_custodian_2fv1_2freview_5fservice_2eproto};
  (void)files;
  std::vector<const MethodDescriptor*> methods;
  for (const char* name :
       {"custodian.v1.RulesetService", "custodian.v1.RosterService",
        "custodian.v1.AssignmentService", "custodian.v1.OwnershipService",
        "custodian.v1.PoolService", "custodian.v1.DisputeService",
        "custodian.v1.IdentityService", "custodian.v1.AuditService",
        "custodian.v1.ReviewService"}) {
    const ServiceDescriptor* service =
        DescriptorPool::generated_pool()->FindServiceByName(name);
    EXPECT_NE(service, nullptr) << name;
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      methods.push_back(service->method(i));
    }
  }
  return methods;
}

// The method `service`.`name`.
const MethodDescriptor* Method(const std::string& service,
                               const std::string& name) {
  (void)AllMethods();
  const ServiceDescriptor* s =
      DescriptorPool::generated_pool()->FindServiceByName("custodian.v1." +
                                                          service);
  return s == nullptr ? nullptr : s->FindMethodByName(name);
}

// A request for `method` about department `department` and rep `rep` (where
// the request has such fields).
std::unique_ptr<Message> RequestFor(const MethodDescriptor* method,
                                    const std::string& department,
                                    const std::string& rep) {
  std::unique_ptr<Message> request(MessageFactory::generated_factory()
                                       ->GetPrototype(method->input_type())
                                       ->New());
  for (const auto& [name, value] :
       {std::pair<std::string, std::string>{"department", department},
        {"rep", rep},
        {"claimant", rep}}) {
    const FieldDescriptor* field =
        request->GetDescriptor()->FindFieldByName(name);
    if (field != nullptr && field->type() == FieldDescriptor::TYPE_STRING &&
        !field->is_repeated()) {
      request->GetReflection()->SetString(request.get(), field, value);
    }
  }
  return request;
}

Principal With(Role role, const std::string& department) {
  Principal p;
  p.id = "pat";
  p.roles = static_cast<RoleSet>(role);
  p.departments = {department};
  p.authenticated_by = "token";
  return p;
}

class AuthorizerTest : public ::testing::Test {
 protected:
  AuthorizerTest()
      : authorizer_(nullptr, [](absl::string_view rep) {
          // "pat" and "li.na" are in sales teams; nobody else exists.
          if (rep == "pat" || rep == "li.na") {
            return absl::StatusOr<std::set<std::string>>(
                std::set<std::string>{"sales"});
          }
          return absl::StatusOr<std::set<std::string>>(std::set<std::string>());
        }) {}

  Authorizer authorizer_;
};

TEST_F(AuthorizerTest, TableHasOneRuleForEveryRpcAndNoOther) {
  std::set<std::string> methods;
  for (const MethodDescriptor* m : AllMethods()) {
    methods.insert(m->full_name());
    EXPECT_NE(FindRpcRule(m->full_name()), nullptr)
        << m->full_name() << " has no rule";
  }
  std::set<std::string> seen;
  for (const RpcRule& rule : RpcRules()) {
    EXPECT_TRUE(methods.count(std::string(rule.method)))
        << rule.method << " is not an RPC";
    EXPECT_TRUE(seen.insert(std::string(rule.method)).second)
        << rule.method << " has two rules";
  }
  EXPECT_EQ(Matrix().size(), methods.size());
}

// Every cell: each role alone, in the request's department and in another
// one, for each RPC; allowed exactly where the matrix says.
TEST_F(AuthorizerTest, EveryRoleAgainstEveryRpcFollowsTheMatrix) {
  for (const MethodDescriptor* m : AllMethods()) {
    const std::string short_name =
        m->full_name().substr(std::string("custodian.v1.").size());
    ASSERT_TRUE(Matrix().count(short_name)) << short_name;
    const auto& allowed = Matrix().at(short_name);
    for (Role role : kAllRoles) {
      const std::string role_name(RoleName(role));
      auto cell = allowed.find(role_name);
      for (const char* principal_department : {"sales", "service"}) {
        // The request is about sales (and the rep "pat", a sales rep).
        std::unique_ptr<Message> request = RequestFor(m, "sales", "pat");
        const bool in_department = std::string(principal_department) == "sales";
        const bool expect_allowed =
            cell != allowed.end() &&
            (cell->second.find('D') == std::string::npos || in_department);
        absl::StatusOr<Caller> caller = authorizer_.Check(
            With(role, principal_department), m->full_name(), *request);
        EXPECT_EQ(caller.ok(), expect_allowed)
            << short_name << " role " << role_name << " in "
            << principal_department << ": " << caller.status();
        if (caller.ok()) {
          EXPECT_EQ(caller->roles_used, static_cast<RoleSet>(role));
        } else {
          EXPECT_EQ(caller.status().code(),
                    absl::StatusCode::kPermissionDenied);
        }
      }
    }
  }
}

TEST_F(AuthorizerTest, RepSeesOnlyTheirOwnBook) {
  const MethodDescriptor* list = Method("OwnershipService", "ListOwnerships");
  Principal rep = With(Role::kRep, "sales");
  EXPECT_TRUE(
      authorizer_
          .Check(rep, list->full_name(), *RequestFor(list, "sales", "pat"))
          .ok());
  absl::StatusOr<Caller> other = authorizer_.Check(
      rep, list->full_name(), *RequestFor(list, "sales", "li.na"));
  EXPECT_EQ(other.status().code(), absl::StatusCode::kPermissionDenied);
  absl::StatusOr<Caller> whole =
      authorizer_.Check(rep, list->full_name(), *RequestFor(list, "sales", ""));
  EXPECT_EQ(whole.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(AuthorizerTest, EmptyDepartmentNeedsEveryDepartment) {
  const MethodDescriptor* events =
      Method("OwnershipService", "ListOwnershipEvents");
  std::unique_ptr<Message> request = RequestFor(events, "", "");
  EXPECT_EQ(
      authorizer_
          .Check(With(Role::kManager, "sales"), events->full_name(), *request)
          .status()
          .code(),
      absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(authorizer_
                  .Check(With(Role::kManager, std::string(kAllDepartments)),
                         events->full_name(), *request)
                  .ok());
}

TEST_F(AuthorizerTest, ManagerSetsStatusOfTheirRepsOnly) {
  const MethodDescriptor* set = Method("RosterService", "SetRepStatus");
  v1::SetRepStatusRequest request;
  request.set_rep("li.na");
  EXPECT_TRUE(
      authorizer_
          .Check(With(Role::kManager, "sales"), set->full_name(), request)
          .ok());
  EXPECT_EQ(
      authorizer_
          .Check(With(Role::kManager, "service"), set->full_name(), request)
          .status()
          .code(),
      absl::StatusCode::kPermissionDenied);
  // An unknown rep is denied exactly as another department's rep is.
  request.set_rep("nobody");
  absl::StatusOr<Caller> unknown = authorizer_.Check(
      With(Role::kManager, "sales"), set->full_name(), request);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(AuthorizerTest, SeveralRolesAreAllReportedAsUsed) {
  Principal p = With(Role::kAdmin, "sales");
  p.roles |= static_cast<RoleSet>(Role::kManager);
  v1::TransferRequest request;
  request.set_department("sales");
  absl::StatusOr<Caller> caller =
      authorizer_.Check(p, "custodian.v1.OwnershipService.Transfer", request);
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_EQ(caller->roles_used, Roles({Role::kManager, Role::kAdmin}));
}

TEST_F(AuthorizerTest, UnknownRpcIsDenied) {
  v1::WhoAmIRequest request;
  EXPECT_EQ(
      authorizer_
          .Check(LocalDevPrincipal(), "custodian.v1.Nope.Nothing", request)
          .status()
          .code(),
      absl::StatusCode::kPermissionDenied);
}

TEST_F(AuthorizerTest, WhoAmIIsOpenToAPrincipalWithoutRoles) {
  Principal p;
  p.id = "nobody";
  v1::WhoAmIRequest request;
  EXPECT_TRUE(
      authorizer_.Check(p, "custodian.v1.IdentityService.WhoAmI", request)
          .ok());
}

}  // namespace
}  // namespace custodian::server
