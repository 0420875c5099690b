// AppealDesk: disputes over the Store, independent of gRPC: FileAppeal,
// GetAppeal, ListAppeals, CommentOnAppeal, CastVote, RuleOnAppeal,
// WithdrawAppeal, and Expire (for the expiry sweeper,
// appeal_expiry_sweeper.h). Same write discipline as PoolDesk
// (server/mutation.h): every mutation is ONE locking transaction holding the
// idempotency lookup, GetForUpdate of the appeal record and of every record
// the decision depends on, the ownership change (OwnershipBook::Stage: its
// record, event, indexes, counters), the appeal record and its index
// entries, the audit record and the idempotency answer.
//
// FileAppeal: the ownership of (customer, department) must be ACTIVE with a
// rep other than the claimant (FAILED_PRECONDITION otherwise, FROZEN when an
// appeal is open: ALREADY_EXISTS); the claimant must be in the roster
// (NOT_FOUND), not `left`, and a member of a team of the department
// (FAILED_PRECONDITION). The active ruleset must have policies.disputes
// (FAILED_PRECONDITION otherwise). Within policies.disputes.reappeal_after
// of the last ruling on the ownership: FAILED_PRECONDITION naming the
// instant a new appeal becomes possible (an appeal at exactly that instant
// is accepted). The ownership becomes FROZEN (event cause APPEAL, appeal_id
// set), and nothing else moves it until the appeal ends: Transfer, Claim,
// Release, recycling and re-evaluation refuse or skip FROZEN ownerships.
//
// The panel: policies.disputes.panel.size members of the panel team, never
// a party (owner or claimant) and only ACTIVE reps, least recently seated
// first: each arbiter has a durable seat ordinal (the draw that seated them
// last); never-seated arbiters come first, ties in team member order, and a
// draw gives its arbiters ordinals above every ordinal of the team. With
// fewer eligible arbiters than the size, the appeal has no panel,
// routed_to_managers is set and the PANEL timeline entry says why: the
// department's managers decide (RuleOnAppeal). quorum =
// min(policies.disputes.quorum, size) (a majority when unset).
//
// CastVote: only a seated arbiter (PERMISSION_DENIED otherwise, so a party
// never votes), while the appeal is OPEN; a vote replaces the arbiter's
// previous one. When `quorum` current votes agree the appeal is ruled in the
// same commit (ruled_by "custodiand", source PANEL).
//
// RuleOnAppeal: a manager of the department (or an admin) who is not a
// party (PERMISSION_DENIED otherwise), while OPEN or ESCALATED.
//
// A ruling: UPHOLD makes the ownership ACTIVE again (cause APPEAL_RULING);
// OVERTURN moves it to the claimant (ACTIVE, the claimant's team in the
// department, cause APPEAL_RULING; the overruled owner gets a cooldown for
// the customer, cooldowns.h) after a capacity reservation in the
// shared TeamAllocator: a claimant at capacity (or away) fails the ruling with
// FAILED_PRECONDITION unless override_capacity (with override_reason). When
// the panel's quorum or expiry would overturn to a claimant at capacity, the
// appeal is ESCALATED to the managers instead (the timeline says why). The
// ownership event carries appeal_id and the ruling's reason. A ruled appeal
// records the instant for the re-appeal window.
//
// WithdrawAppeal: the claimant (or an admin) while OPEN or ESCALATED; the
// ownership becomes ACTIVE again (cause APPEAL). It does not start a
// re-appeal window.
//
// Expire: an OPEN or ESCALATED appeal whose deadline <= now ends as
// policies.disputes.on_expiry says: UPHOLD and OVERTURN rule (source
// EXPIRY, ruled_by "custodiand"); ESCALATE turns an OPEN appeal ESCALATED
// with deadline now + sla; an ESCALATED appeal that expires again is upheld.
// An expiry overturning to a claimant at capacity escalates instead.
//
// Who sees what (GetAppeal, ListAppeals): admins, auditors and arbiters
// every appeal; managers the appeals of their departments; anyone the
// appeals they are a party to or seated on. Otherwise PERMISSION_DENIED
// (GetAppeal, whether or not the appeal exists) or left out (ListAppeals).
// CommentOnAppeal: parties, seated arbiters, managers of the department and
// admins, while OPEN or ESCALATED.
//
// Concurrency: two mutations of one appeal serialize on its record's lock;
// the second then sees the first's result (FAILED_PRECONDITION once ruled)
// or conflicts (ABORTED after Options::max_attempts).
//
// Stored layout (Table::kAppeals):
//   ("appeal", id)                        -> v1::Appeal
//   ("open", customer, department)        -> id of the open appeal
//   ("ruled", customer, department)       -> EncodeCounter(Unix us of the
//                                             last ruling)
//   ("deadline", Unix us: int64, id)      -> "" (OPEN and ESCALATED only)
//   ("seat_ordinal", arbiter)             -> EncodeCounter(ordinal)
//
// Errors, with nothing written: INVALID_ARGUMENT naming every bad field
// (with a BadRequest); NOT_FOUND; ALREADY_EXISTS; FAILED_PRECONDITION and
// PERMISSION_DENIED as above; ABORTED when the store kept conflicting (retry
// with the same request_id); UNAVAILABLE / DATA_LOSS from the store.
//
// Thread-safe: all methods may be called concurrently.
#ifndef CUSTODIAN_SERVER_APPEAL_DESK_H_
#define CUSTODIAN_SERVER_APPEAL_DESK_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "custodian/v1/appeal.pb.h"
#include "custodian/v1/dispute_service.pb.h"
#include "server/assignment_planner.h"
#include "server/audit_log.h"
#include "server/idempotency.h"
#include "server/mutation.h"
#include "server/ownership_book.h"
#include "server/principal.h"
#include "server/ruleset_registry.h"
#include "server/team_allocator.h"
#include "storage/store.h"

namespace custodian::server {

inline constexpr absl::string_view kFileAppealMethod =
    "custodian.v1.DisputeService/FileAppeal";
inline constexpr absl::string_view kCommentOnAppealMethod =
    "custodian.v1.DisputeService/CommentOnAppeal";
inline constexpr absl::string_view kCastVoteMethod =
    "custodian.v1.DisputeService/CastVote";
inline constexpr absl::string_view kRuleOnAppealMethod =
    "custodian.v1.DisputeService/RuleOnAppeal";
inline constexpr absl::string_view kWithdrawAppealMethod =
    "custodian.v1.DisputeService/WithdrawAppeal";
// The "RPC" the audit record of an expiry names.
inline constexpr absl::string_view kAppealExpiryRpc =
    "custodiand/AppealExpirySweeper";

// Keys (see the top of this file).
std::string AppealKey(absl::string_view appeal_id);
std::string AppealDeadlinePrefix();

// Who calls: the actor recorded, the roles that allowed the call and the
// principal's department scope.
struct AppealCaller {
  Actor actor = Actor(std::string());
  RoleSet roles = 0;
  std::set<std::string> departments;

  bool Has(Role role) const { return HasRole(roles, role); }
  // A manager whose scope holds `department`.
  bool ManagerOf(absl::string_view department) const;
};

class AppealDesk {
 public:
  struct Options {
    // Where everything lives. Required; must outlive the desk.
    storage::Store* store = nullptr;
    // The active ruleset (disputes and capacity policies). Required.
    const RulesetRegistry* rulesets = nullptr;
    // Ownership records and events. Required.
    const OwnershipBook* book = nullptr;
    // The allocator every writer of ownerships shares. Required.
    TeamAllocator* allocator = nullptr;
    // Deadlines, timeline times, windows. Default: the real clock.
    Clock* clock = Clock::Real();
    // Request-id window.
    IdempotencyOptions idempotency;
    // Attempts per transaction on ABORTED, >= 1. Default: 10.
    int max_attempts = 10;
    // Appeal records ListAppeals examines per page, >= 1. Default: 10000.
    int64_t max_examined_per_page = 10000;
  };

  // Returns INVALID_ARGUMENT naming a bad option.
  static absl::StatusOr<std::unique_ptr<AppealDesk>> Create(Options options);

  // See the top of this file. Each returns the appeal as stored after it.
  absl::StatusOr<v1::Appeal> FileAppeal(const v1::FileAppealRequest& request,
                                        const AppealCaller& caller);
  absl::StatusOr<v1::Appeal> GetAppeal(const v1::GetAppealRequest& request,
                                       const AppealCaller& caller) const;
  absl::StatusOr<v1::ListAppealsResponse> ListAppeals(
      const v1::ListAppealsRequest& request, const AppealCaller& caller) const;
  absl::StatusOr<v1::Appeal> CommentOnAppeal(
      const v1::CommentOnAppealRequest& request, const AppealCaller& caller);
  absl::StatusOr<v1::Appeal> CastVote(const v1::CastVoteRequest& request,
                                      const AppealCaller& caller);
  absl::StatusOr<v1::Appeal> RuleOnAppeal(
      const v1::RuleOnAppealRequest& request, const AppealCaller& caller);
  absl::StatusOr<v1::Appeal> WithdrawAppeal(
      const v1::WithdrawAppealRequest& request, const AppealCaller& caller);

  // Per-rep and per-arbiter counts over every appeal (of
  // request.department, if given) at one snapshot: O(appeals stored).
  // INVALID_ARGUMENT naming a malformed department.
  absl::StatusOr<v1::GetAppealStatsResponse> GetAppealStats(
      const v1::GetAppealStatsRequest& request) const;

  // What Expire did.
  enum class ExpiryOutcome { kNotDue, kUpheld, kOverturned, kEscalated };
  // Ends `appeal_id` per on_expiry if it is OPEN or ESCALATED and its
  // deadline <= the clock's now; kNotDue (nothing written) otherwise or when
  // it does not exist. Store errors.
  absl::StatusOr<ExpiryOutcome> Expire(absl::string_view appeal_id);

 private:
  explicit AppealDesk(Options options);

  // One appeal mutation (RunMutation): the idempotency lookup of (method,
  // request_id) (a retry gets the stored first answer), then `body` decides
  // and stages the change, filling *response and the audit outcome; then
  // the audit record and the idempotency answer are staged with it.
  absl::Status Mutate(
      absl::string_view method, const AppealCaller& caller,
      const std::string& request_id, const std::string& fingerprint,
      v1::Appeal* response,
      absl::FunctionRef<absl::Status(storage::Transaction&, MutationEffects&,
                                     absl::Time, std::string*)>
          body);

  // Shared by CastVote, RuleOnAppeal and Expire: stages `ruling` of the
  // open appeal (stored as `before`, locked; `appeal` is it with this
  // call's changes): the ownership change, the record and its indexes.
  struct Ruling;
  absl::Status StageRuling(storage::Transaction& txn, MutationEffects& effects,
                           const Ruling& ruling, const v1::Appeal& before,
                           v1::Appeal& appeal, absl::Time now) const;

  Options options_;
  Idempotency idempotency_;
  AssignmentPlanner planner_;
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_APPEAL_DESK_H_
