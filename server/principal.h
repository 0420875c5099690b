// Who is calling: a principal (an id, its roles and the departments its
// department-scoped roles apply to), as the Authenticator (authenticator.h)
// derives it from a call's credentials and the Authorizer (authorizer.h)
// checks it against the RPC table. Plain values; thread-compatible.
#ifndef CUSTODIAN_SERVER_PRINCIPAL_H_
#define CUSTODIAN_SERVER_PRINCIPAL_H_

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace custodian::server {

// The roles of DESIGN.md "The domain". A bit each, so a set of roles is a
// RoleSet bit mask.
enum class Role : uint32_t {
  kSystem = 1u << 0,   // other services: assign, evaluate, read
  kRep = 1u << 1,      // read owners, own book (department-scoped)
  kManager = 1u << 2,  // transfer, approve, reject (department-scoped)
  kArbiter = 1u << 3,  // vote on appeals of their panel
  kAdmin = 1u << 4,    // everything
  kAuditor = 1u << 5,  // read everything, change nothing
};
using RoleSet = uint32_t;

inline constexpr Role kAllRoles[] = {Role::kSystem,  Role::kRep,
                                     Role::kManager, Role::kArbiter,
                                     Role::kAdmin,   Role::kAuditor};
inline constexpr RoleSet kEveryRole = (1u << 6) - 1;

constexpr RoleSet Roles(std::initializer_list<Role> roles) {
  RoleSet set = 0;
  for (Role r : roles) set |= static_cast<RoleSet>(r);
  return set;
}
constexpr bool HasRole(RoleSet set, Role role) {
  return (set & static_cast<RoleSet>(role)) != 0;
}

// Roles whose grants apply only within the principal's departments.
inline constexpr RoleSet kDepartmentScopedRoles =
    Roles({Role::kRep, Role::kManager});

// "system", "rep", "manager", "arbiter", "admin", "auditor".
absl::string_view RoleName(Role role);
// The role named `name` (as RoleName spells it); nullopt for anything else.
std::optional<Role> ParseRole(absl::string_view name);
// The names of the roles in `set`, in kAllRoles order.
std::vector<std::string> RoleNames(RoleSet set);

// The department wildcard: a principal with it in `departments` is in every
// department.
inline constexpr absl::string_view kAllDepartments = "*";

// The actor recorded, and the principal used, when no authentication is
// configured (local development mode, DESIGN.md "Security").
inline constexpr absl::string_view kLocalDevActor = "local-dev";

struct Principal {
  // Recorded as the actor of every change (created_by, updated_by, events,
  // audit records). Never empty.
  std::string id;
  RoleSet roles = 0;
  // The departments the department-scoped roles (rep, manager) apply to;
  // kAllDepartments for all.
  std::set<std::string> departments;
  // How it was identified: "local-dev", "token", "jwt" or "mtls".
  std::string authenticated_by;

  // Whether the principal's department scope contains `department`.
  bool InDepartment(absl::string_view department) const {
    return departments.count(std::string(kAllDepartments)) > 0 ||
           departments.count(std::string(department)) > 0;
  }
};

// The principal of every call in local development mode: kLocalDevActor,
// every role, every department.
Principal LocalDevPrincipal();

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_PRINCIPAL_H_
