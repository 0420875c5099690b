#include "server/principal.h"

namespace custodian::server {

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kSystem:
      return "system";
    case Role::kRep:
      return "rep";
    case Role::kManager:
      return "manager";
    case Role::kArbiter:
      return "arbiter";
    case Role::kAdmin:
      return "admin";
    case Role::kAuditor:
      return "auditor";
  }
  return "unknown";
}

std::optional<Role> ParseRole(absl::string_view name) {
  for (Role role : kAllRoles) {
    if (RoleName(role) == name) return role;
  }
  return std::nullopt;
}

std::vector<std::string> RoleNames(RoleSet set) {
  std::vector<std::string> names;
  for (Role role : kAllRoles) {
    if (HasRole(set, role)) names.emplace_back(RoleName(role));
  }
  return names;
}

Principal LocalDevPrincipal() {
  Principal p;
  p.id = std::string(kLocalDevActor);
  p.roles = kEveryRole;
  p.departments.insert(std::string(kAllDepartments));
  p.authenticated_by = "local-dev";
  return p;
}

}  // namespace custodian::server
