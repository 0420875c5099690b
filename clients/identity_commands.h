// custodianctl's identity and audit commands: `whoami` and `audit`.
// Exit codes and output as remote_commands.h says.
//
// Thread-safe: no shared state.
#ifndef CUSTODIAN_CLIENTS_IDENTITY_COMMANDS_H_
#define CUSTODIAN_CLIENTS_IDENTITY_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "clients/connection.h"
#include "clients/remote_commands.h"

namespace custodian::clients {

// `whoami`: IdentityService.WhoAmI. Table:
//   principal         mgr.sales
//   roles             manager
//   departments       sales
//   authenticated by  token
// Context and server are printed too, so a mix-up of contexts shows.
int RunWhoAmI(const Connection& connection, const std::string& context,
              const CommandOutput& output);

struct AuditArgs {
  std::string principal;
  std::string resource;
  std::optional<absl::Time> since;
  std::optional<absl::Time> until;
  // 0-1000 (0: server default).
  int32_t page_size = 0;
  std::string page_token;
  // Every page, one after the other.
  bool all = false;
};

// `audit`: AuditService.ListAuditRecords. Table columns TIME, PRINCIPAL,
// ROLES, RPC, REQUEST ID, RESOURCES, OUTCOME (RPC without the
// "custodian.v1." prefix); then "next page: --page-token T" when there is
// one and not --all. JSON: the ListAuditRecordsResponse (with --all, every
// record in one).
int RunAudit(const Connection& connection, const AuditArgs& args,
             const CommandOutput& output);

}  // namespace custodian::clients

#endif  // CUSTODIAN_CLIENTS_IDENTITY_COMMANDS_H_
