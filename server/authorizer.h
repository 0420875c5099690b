// Authorization: may this principal make this call? One table (RpcRules())
// holds a rule for every RPC of every custodian.v1 service; every handler
// calls Authorizer::Authorize first, before it reads or writes anything, so
// permission is checked before existence: a denied caller gets the same
// PERMISSION_DENIED whether or not the customer, rep or version exists.
// docs/security.md shows the table as a matrix; authorizer_test.cc walks it
// cell by cell and checks that it covers every RPC.
//
// A rule lists the roles that may call the RPC. For the department-scoped
// roles (rep, manager; principal.h) a rule may also name the request field
// that holds the department (the grant then applies only when the principal
// is in that department, and an empty field needs the "*" scope), the field
// that must equal a rep's own id (their own book), or the field naming a
// rep whose departments (those of the teams the rep is a member of) must
// meet the principal's.
//
// Thread-safe.
#ifndef CUSTODIAN_SERVER_AUTHORIZER_H_
#define CUSTODIAN_SERVER_AUTHORIZER_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "google/protobuf/message.h"
#include "server/audit_log.h"
#include "server/authenticator.h"
#include "server/principal.h"

namespace custodian::server {

struct RpcRule {
  // The full method name, e.g. "custodian.v1.RosterService.ApplyRoster".
  absl::string_view method;
  // The roles that may call it.
  RoleSet roles = 0;
  // The request's department field, when the call concerns one department
  // ("" when it does not): rep and manager grants apply only within their
  // departments.
  absl::string_view department_field;
  // Rep grants apply only when this request field equals the principal id
  // ("" for no such condition): a rep's own book.
  absl::string_view rep_self_field;
  // The request field naming a rep; manager grants apply only when one of
  // the rep's departments is the manager's ("" for no such condition).
  absl::string_view rep_field;
  // Whether the call changes state (it is then audited).
  bool mutation = false;
  // Open to every authenticated principal, whatever its roles (`roles` is
  // then only documentation).
  bool any_authenticated = false;
};

// The table: one rule per RPC.
absl::Span<const RpcRule> RpcRules();
// The rule of `method`; nullptr when there is none.
const RpcRule* FindRpcRule(absl::string_view method);

// Who made a call and which of their roles allowed it.
struct Caller {
  Principal principal;
  RoleSet roles_used = 0;
};

// The actor of a mutation made by `caller` through `rpc` (full method name):
// the principal id and the roles that allowed the call, for the audit record.
Actor ActorOf(const Caller& caller, absl::string_view rpc);

class Authorizer {
 public:
  // The departments of a rep (the departments of the teams the rep is a
  // member of); empty for an unknown rep. Errors are returned to the caller
  // as they are.
  using RepDepartments =
      std::function<absl::StatusOr<std::set<std::string>>(absl::string_view)>;

  // REQUIRES: `authenticator` outlives this.
  Authorizer(const Authenticator* authenticator, RepDepartments rep_departments)
      : authenticator_(authenticator),
        rep_departments_(std::move(rep_departments)) {}

  // Authenticates the call (Authenticator::Authenticate) and checks the rule
  // of `method` against `request`. Returns the caller; UNAUTHENTICATED as
  // Authenticate says; PERMISSION_DENIED naming the principal and the RPC
  // when no role of the principal allows it (or `method` has no rule). Each
  // refusal is counted and logged with the principal (when known) and the
  // RPC, never with the credentials.
  absl::StatusOr<Caller> Authorize(const grpc::ServerContextBase& context,
                                   absl::string_view method,
                                   const google::protobuf::Message& request)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The rule check alone, for an authenticated principal.
  absl::StatusOr<Caller> Check(const Principal& principal,
                               absl::string_view method,
                               const google::protobuf::Message& request) const;

  // Refusals so far of `method` (UNAUTHENTICATED and PERMISSION_DENIED).
  int64_t denied(absl::string_view method) const ABSL_LOCKS_EXCLUDED(mu_);

  const Authenticator& authenticator() const { return *authenticator_; }

 private:
  void CountDenied(absl::string_view method, absl::string_view who,
                   const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);

  const Authenticator* const authenticator_;
  const RepDepartments rep_departments_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, int64_t> denied_ ABSL_GUARDED_BY(mu_);
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_AUTHORIZER_H_
