#include "server/authorizer.h"

#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "google/protobuf/descriptor.h"

namespace custodian::server {
namespace {

constexpr Role kSys = Role::kSystem;
constexpr Role kRep = Role::kRep;
constexpr Role kMgr = Role::kManager;
constexpr Role kArb = Role::kArbiter;
constexpr Role kAdm = Role::kAdmin;
constexpr Role kAud = Role::kAuditor;

// Builds a rule: Rule(method, roles) then the conditions.
struct Rule : RpcRule {
  constexpr Rule(absl::string_view m, RoleSet r) : RpcRule() {
    method = m;
    roles = r;
  }
  constexpr Rule Department(absl::string_view field) const {
    Rule copy = *this;
    copy.department_field = field;
    return copy;
  }
  constexpr Rule OwnBook(absl::string_view field) const {
    Rule copy = *this;
    copy.rep_self_field = field;
    return copy;
  }
  constexpr Rule RepsOf(absl::string_view field) const {
    Rule copy = *this;
    copy.rep_field = field;
    return copy;
  }
  constexpr Rule Mutation() const {
    Rule copy = *this;
    copy.mutation = true;
    return copy;
  }
  constexpr Rule AnyAuthenticated() const {
    Rule copy = *this;
    copy.any_authenticated = true;
    return copy;
  }
};

// The table. To add an RPC: add its row here (the test fails until every
// RPC of every custodian.v1 service has one), and its row in
// docs/security.md.
constexpr RpcRule kRules[] = {
    Rule("custodian.v1.RulesetService.ValidateRuleset", Roles({kAdm, kAud})),
    Rule("custodian.v1.RulesetService.CreateRulesetVersion", Roles({kAdm}))
        .Mutation(),
    Rule("custodian.v1.RulesetService.GetRuleset",
         Roles({kSys, kMgr, kAdm, kAud})),
    Rule("custodian.v1.RulesetService.ListRulesetVersions",
         Roles({kSys, kMgr, kAdm, kAud})),
    Rule("custodian.v1.RulesetService.ActivateRuleset", Roles({kAdm}))
        .Mutation(),
    Rule("custodian.v1.RulesetService.DiffRulesets",
         Roles({kSys, kMgr, kAdm, kAud})),
    Rule("custodian.v1.RulesetService.SimulateRuleset", Roles({kAdm, kAud})),
    Rule("custodian.v1.RosterService.ApplyRoster", Roles({kAdm})).Mutation(),
    Rule("custodian.v1.RosterService.GetRoster",
         Roles({kSys, kRep, kMgr, kArb, kAdm, kAud})),
    Rule("custodian.v1.RosterService.SetRepStatus", Roles({kMgr, kAdm}))
        .RepsOf("rep")
        .Mutation(),
    Rule("custodian.v1.AssignmentService.Assign", Roles({kSys, kAdm}))
        .Mutation(),
    Rule("custodian.v1.AssignmentService.BatchAssign", Roles({kSys, kAdm}))
        .Mutation(),
    Rule("custodian.v1.AssignmentService.Evaluate", Roles({kSys, kAdm, kAud})),
    Rule("custodian.v1.AssignmentService.GetCustomer",
         Roles({kSys, kMgr, kAdm, kAud})),
    Rule("custodian.v1.AssignmentService.UpdateCustomer", Roles({kSys, kAdm}))
        .Mutation(),
    Rule("custodian.v1.OwnershipService.GetOwnership",
         Roles({kSys, kRep, kMgr, kArb, kAdm, kAud}))
        .Department("department"),
    Rule("custodian.v1.OwnershipService.ListOwnerships",
         Roles({kSys, kRep, kMgr, kAdm, kAud}))
        .Department("department")
        .OwnBook("rep"),
    Rule("custodian.v1.OwnershipService.ListOwnershipEvents",
         Roles({kSys, kRep, kMgr, kArb, kAdm, kAud}))
        .Department("department"),
    Rule("custodian.v1.OwnershipService.WatchOwnershipEvents",
         Roles({kSys, kAdm, kAud})),
    Rule("custodian.v1.OwnershipService.Transfer", Roles({kMgr, kAdm}))
        .Department("department")
        .Mutation(),
    Rule("custodian.v1.OwnershipService.Approve", Roles({kMgr, kAdm}))
        .Department("department")
        .Mutation(),
    Rule("custodian.v1.OwnershipService.Reject", Roles({kMgr, kAdm}))
        .Department("department")
        .Mutation(),
    Rule("custodian.v1.PoolService.ListPool",
         Roles({kSys, kRep, kMgr, kAdm, kAud}))
        .Department("department"),
    Rule("custodian.v1.PoolService.Claim", Roles({kRep, kMgr, kAdm}))
        .Department("department")
        .OwnBook("rep")
        .Mutation(),
    Rule("custodian.v1.PoolService.Release", Roles({kRep, kMgr, kAdm}))
        .Department("department")
        .Mutation(),
    Rule("custodian.v1.PoolService.RecordActivity",
         Roles({kSys, kRep, kMgr, kAdm}))
        .Department("department")
        .Mutation(),
    Rule("custodian.v1.PoolService.CheckDuplicates",
         Roles({kSys, kRep, kMgr, kAdm, kAud})),
    // DisputeService: who may act on one appeal (parties, panel, managers
    // of its department) is AppealDesk's decision (appeal_desk.h).
    Rule("custodian.v1.DisputeService.FileAppeal", Roles({kRep, kMgr, kAdm}))
        .Department("department")
        .OwnBook("claimant")
        .Mutation(),
    Rule("custodian.v1.DisputeService.GetAppeal",
         Roles({kRep, kMgr, kArb, kAdm, kAud})),
    Rule("custodian.v1.DisputeService.ListAppeals",
         Roles({kRep, kMgr, kArb, kAdm, kAud})),
    Rule("custodian.v1.DisputeService.CommentOnAppeal",
         Roles({kRep, kMgr, kArb, kAdm}))
        .Mutation(),
    Rule("custodian.v1.DisputeService.CastVote", Roles({kArb})).Mutation(),
    Rule("custodian.v1.DisputeService.RuleOnAppeal", Roles({kMgr, kAdm}))
        .Mutation(),
    Rule("custodian.v1.DisputeService.WithdrawAppeal",
         Roles({kRep, kMgr, kAdm}))
        .Mutation(),
    Rule("custodian.v1.DisputeService.GetAppealStats",
         Roles({kMgr, kArb, kAdm, kAud}))
        .Department("department"),
    Rule("custodian.v1.IdentityService.WhoAmI",
         Roles({kSys, kRep, kMgr, kArb, kAdm, kAud}))
        .AnyAuthenticated(),
    Rule("custodian.v1.AuditService.ListAuditRecords", Roles({kAdm, kAud})),
    // Periodic review (issue 9).
    Rule("custodian.v1.ReviewService.StartReview", Roles({kSys, kAdm}))
        .Mutation(),
    Rule("custodian.v1.ReviewService.GetReview",
         Roles({kSys, kMgr, kAdm, kAud})),
    Rule("custodian.v1.ReviewService.ListReviews",
         Roles({kSys, kMgr, kAdm, kAud})),
    Rule("custodian.v1.ReviewService.ListFindings",
         Roles({kSys, kMgr, kAdm, kAud}))
        .Department("department"),
    Rule("custodian.v1.ReviewService.ApplyFindings", Roles({kMgr, kAdm}))
        .Department("department")
        .Mutation(),
    Rule("custodian.v1.ReviewService.DismissFindings", Roles({kMgr, kAdm}))
        .Department("department")
        .Mutation(),
    Rule("custodian.v1.ReviewService.CancelReview", Roles({kSys, kAdm}))
        .Mutation(),
};

// The string field `name` of `request`; "" when it has none or it is unset.
std::string StringField(const google::protobuf::Message& request,
                        absl::string_view name) {
  const google::protobuf::FieldDescriptor* field =
      request.GetDescriptor()->FindFieldByName(std::string(name));
  if (field == nullptr ||
      field->type() != google::protobuf::FieldDescriptor::TYPE_STRING ||
      field->is_repeated()) {
    return "";
  }
  return request.GetReflection()->GetString(request, field);
}

}  // namespace

absl::Span<const RpcRule> RpcRules() { return kRules; }

Actor ActorOf(const Caller& caller, absl::string_view rpc) {
  return Actor(caller.principal.id, RoleNames(caller.roles_used),
               std::string(rpc));
}

const RpcRule* FindRpcRule(absl::string_view method) {
  // Built once; every call looks its rule up here.
  static const auto* const index = [] {
    auto* map = new absl::flat_hash_map<absl::string_view, const RpcRule*>();
    for (const RpcRule& rule : kRules) map->emplace(rule.method, &rule);
    return map;
  }();
  auto it = index->find(method);
  return it == index->end() ? nullptr : it->second;
}

absl::StatusOr<Caller> Authorizer::Check(
    const Principal& principal, absl::string_view method,
    const google::protobuf::Message& request) const {
  const RpcRule* rule = FindRpcRule(method);
  Caller caller;
  caller.principal = principal;
  if (rule != nullptr && rule->any_authenticated) {
    caller.roles_used = principal.roles;
    return caller;
  }
  if (rule != nullptr) {
    std::string department;
    if (!rule->department_field.empty()) {
      department = StringField(request, rule->department_field);
    }
    std::optional<std::set<std::string>> rep_departments;
    for (Role role : kAllRoles) {
      if (!HasRole(principal.roles & rule->roles, role)) continue;
      const bool scoped = HasRole(kDepartmentScopedRoles, role);
      if (scoped && !rule->department_field.empty()) {
        const bool in =
            department.empty()
                ? principal.departments.count(std::string(kAllDepartments)) > 0
                : principal.InDepartment(department);
        if (!in) continue;
      }
      if (role == Role::kRep && !rule->rep_self_field.empty() &&
          StringField(request, rule->rep_self_field) != principal.id) {
        continue;
      }
      if (scoped && !rule->rep_field.empty()) {
        if (!rep_departments.has_value()) {
          absl::StatusOr<std::set<std::string>> d =
              rep_departments_ == nullptr
                  ? absl::StatusOr<std::set<std::string>>(
                        std::set<std::string>())
                  : rep_departments_(StringField(request, rule->rep_field));
          if (!d.ok()) return d.status();
          rep_departments = *std::move(d);
        }
        bool meets = false;
        for (const std::string& d : *rep_departments) {
          meets = meets || principal.InDepartment(d);
        }
        if (!meets) continue;
      }
      caller.roles_used |= static_cast<RoleSet>(role);
    }
  }
  if (caller.roles_used == 0) {
    std::vector<std::string> roles = RoleNames(principal.roles);
    return absl::PermissionDeniedError(absl::StrCat(
        "principal ", principal.id, " (roles: ",
        roles.empty() ? std::string("none") : absl::StrJoin(roles, ", "),
        ") may not call ", method,
        rule != nullptr && !rule->department_field.empty()
            ? absl::StrCat(" in department \"",
                           StringField(request, rule->department_field), "\"")
            : std::string()));
  }
  return caller;
}

absl::StatusOr<Caller> Authorizer::Authorize(
    const grpc::ServerContextBase& context, absl::string_view method,
    const google::protobuf::Message& request) {
  absl::StatusOr<Principal> principal = authenticator_->Authenticate(context);
  if (!principal.ok()) {
    CountDenied(method, "(unauthenticated)", principal.status());
    return principal.status();
  }
  absl::StatusOr<Caller> caller = Check(*principal, method, request);
  if (absl::IsPermissionDenied(caller.status())) {
    CountDenied(method, principal->id, caller.status());
  }
  return caller;
}

void Authorizer::CountDenied(absl::string_view method, absl::string_view who,
                             const absl::Status& status) {
  int64_t count = 0;
  {
    absl::MutexLock lock(&mu_);
    count = ++denied_[method];
  }
  LogWarning(absl::StrCat("denied: rpc=", method, " principal=", who, " code=",
                          absl::StatusCodeToString(status.code()), " reason=\"",
                          status.message(), "\" denied_total_for_rpc=", count));
}

int64_t Authorizer::denied(absl::string_view method) const {
  absl::MutexLock lock(&mu_);
  auto it = denied_.find(method);
  return it == denied_.end() ? 0 : it->second;
}

}  // namespace custodian::server
