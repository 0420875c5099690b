// The audit log: one custodian.v1.AuditRecord per successful mutation,
// staged by the mutation itself into Table::kAudit of its own transaction, so
// the record and the change commit together or not at all. A call that fails
// (its transaction rolled back), a dry run and a retry answered from the
// idempotency record write none.
//
// Key layout (storage/README.md "Domain keys"): ("audit", time, nonce:
// uint64), time being the commit's clock time and nonce a random 64-bit
// number, so records list in time order and never collide.
//
// Thread-safe: everything here is a pure function of its arguments or reads
// through its own snapshot.
#ifndef CUSTODIAN_SERVER_AUDIT_LOG_H_
#define CUSTODIAN_SERVER_AUDIT_LOG_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "custodian/v1/audit_service.pb.h"
#include "storage/store.h"

namespace custodian::server {

// Who makes a mutation and through which RPC: the actor the domain methods
// take. The gRPC adapters build it from the authorized caller (principal id,
// the roles that allowed the call, the RPC). Internal callers (the
// first-start bootstrap, tests) may pass just an id: a string converts
// implicitly, with no roles and the domain method's own RPC name. It
// converts back to its id where only the id is recorded (created_by,
// updated_by, event actors).
struct Actor {
  Actor(const char* principal) : id(principal) {}         // NOLINT: implicit
  Actor(absl::string_view principal) : id(principal) {}   // NOLINT: implicit
  Actor(const std::string& principal) : id(principal) {}  // NOLINT: implicit
  Actor(std::string principal, std::vector<std::string> role_names,
        std::string rpc_name)
      : id(std::move(principal)),
        roles(std::move(role_names)),
        rpc(std::move(rpc_name)) {}

  operator absl::string_view() const { return id; }   // NOLINT: implicit
  operator const std::string&() const { return id; }  // NOLINT: implicit

  // The principal id.
  std::string id;
  // The roles that allowed the call ("admin", ...); empty for internal calls.
  std::vector<std::string> roles;
  // The full RPC name ("custodian.v1.RosterService.ApplyRoster"); empty:
  // the domain method's own.
  std::string rpc;
};

// Stages the audit record of a successful mutation in `txn`: `actor`'s
// principal, roles and RPC (`default_rpc` when actor.rpc is empty),
// `request_id`, the `resources` it changed or decided on, `outcome` and
// `now`. Returns the store's errors (ABORTED: retry the transaction).
absl::Status StageAuditRecord(storage::Transaction& txn, const Actor& actor,
                              absl::string_view default_rpc,
                              absl::string_view request_id,
                              std::vector<std::string> resources,
                              absl::string_view outcome, absl::Time now);

// Converts an idempotency method name ("custodian.v1.RosterService/Apply")
// to the RPC name audit records use ("custodian.v1.RosterService.Apply").
std::string AuditRpcName(absl::string_view method);

// Default and largest page size of ListAuditRecords.
inline constexpr int32_t kDefaultAuditPageSize = 50;
inline constexpr int32_t kMaxAuditPageSize = 1000;
// Most records a ListAuditRecords call reads past its filters before it
// returns a (possibly short, even empty) page with a next_page_token.
inline constexpr int kMaxAuditRecordsScanned = 10000;

// ListAuditRecords: records at or after start_time and before end_time (each
// unset = unbounded), of `principal` and naming `resource` (each empty = any),
// oldest first, AIP-158 paginated. INVALID_ARGUMENT (with a BadRequest)
// for a negative page_size, a bad page_token (or one issued for other
// filters), or end_time not after start_time; UNAVAILABLE / DATA_LOSS from
// the store.
absl::StatusOr<v1::ListAuditRecordsResponse> ListAuditRecords(
    storage::Store& store, const v1::ListAuditRecordsRequest& request);

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_AUDIT_LOG_H_
