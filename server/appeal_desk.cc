#include "server/appeal_desk.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "rules/names.h"
#include "server/cooldowns.h"
#include "server/pool_desk.h"
#include "server/recycling_sweeper.h"
#include "server/request_checks.h"
#include "storage/keys.h"

namespace custodian::server {
namespace {

using storage::KeyBuilder;
using storage::Table;

constexpr int kMaxEvidence = 20;

absl::Time FromProto(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t seconds = absl::ToUnixSeconds(t);  // rounds down
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>((t - absl::FromUnixSeconds(seconds)) /
                                    absl::Nanoseconds(1)));
  return ts;
}

std::string RfcTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

void CheckName(absl::string_view field, absl::string_view value, bool required,
               std::string (*checker)(absl::string_view), FieldErrors* errors) {
  if (value.empty()) {
    if (required) errors->Add(field, "is required");
    return;
  }
  if (std::string e = checker(value); !e.empty()) errors->Add(field, e);
}

void CheckAppealId(absl::string_view field, absl::string_view id,
                   FieldErrors* errors) {
  if (id.empty()) {
    errors->Add(field, "is required");
    return;
  }
  bool ok = id.size() == 27 && absl::StartsWith(id, "ap-");
  for (size_t i = 3; ok && i < id.size(); ++i) {
    ok = absl::ascii_isdigit(id[i]) || (id[i] >= 'a' && id[i] <= 'f');
  }
  if (!ok) {
    errors->Add(field,
                "is not an appeal id (\"ap-\" and 24 lower-case hex digits)");
  }
}

void CheckDecision(absl::string_view field, v1::AppealVote::Decision decision,
                   FieldErrors* errors) {
  if (decision == v1::AppealVote::DECISION_UNSPECIFIED) {
    errors->Add(field, "is required (UPHOLD or OVERTURN)");
  } else if (!v1::AppealVote::Decision_IsValid(decision)) {
    errors->Add(field, absl::StrCat(static_cast<int>(decision),
                                    " is not UPHOLD or OVERTURN"));
  }
}

template <typename Message>
absl::Status ParseAnswer(const std::string& bytes, Message* out) {
  if (!out->ParseFromString(bytes)) {
    return absl::DataLossError(
        absl::StrCat("stored idempotency answer does not parse as ",
                     out->GetDescriptor()->full_name()));
  }
  return absl::OkStatus();
}

std::string OpenKey(absl::string_view customer, absl::string_view department) {
  return KeyBuilder()
      .AddString("open")
      .AddString(customer)
      .AddString(department)
      .Build();
}

std::string RuledKey(absl::string_view customer, absl::string_view department) {
  return KeyBuilder()
      .AddString("ruled")
      .AddString(customer)
      .AddString(department)
      .Build();
}

std::string DeadlineKey(absl::Time deadline, absl::string_view id) {
  return KeyBuilder()
      .AddString("deadline")
      .AddInt64(absl::ToUnixMicros(deadline))
      .AddString(id)
      .Build();
}

std::string SeatOrdinalKey(absl::string_view arbiter) {
  return KeyBuilder().AddString("seat_ordinal").AddString(arbiter).Build();
}

std::string AppealPrefix() { return KeyBuilder().AddString("appeal").Build(); }

// The disputes policy with its defaults.
struct DisputeSettings {
  std::string team;
  int size = 0;
  int quorum = 0;
  absl::Duration sla = absl::Hours(24 * 7);
  v1::ExpiryAction on_expiry = v1::UPHOLD;
  absl::Duration reappeal_after = absl::Hours(24 * 30);
};

std::optional<DisputeSettings> SettingsOf(const RulesetRegistry& rulesets) {
  const RulesetRegistry::Active active = rulesets.ActiveRuleset();
  if (active.ruleset == nullptr ||
      !active.ruleset->ruleset().policies().has_disputes()) {
    return std::nullopt;
  }
  const v1::DisputesPolicy& p = active.ruleset->ruleset().policies().disputes();
  DisputeSettings s;
  s.team = p.panel().team();
  s.size = std::max(1, p.panel().size());
  s.quorum = p.quorum() > 0 ? std::min(p.quorum(), s.size) : s.size / 2 + 1;
  if (p.has_sla()) s.sla = FromProto(p.sla());
  if (p.on_expiry() != v1::EXPIRY_ACTION_UNSPECIFIED) {
    s.on_expiry = p.on_expiry();
  }
  if (p.has_reappeal_after()) s.reappeal_after = FromProto(p.reappeal_after());
  return s;
}

const v1::Policies& ActivePolicies(const RulesetRegistry& rulesets) {
  const RulesetRegistry::Active active = rulesets.ActiveRuleset();
  return active.ruleset != nullptr ? active.ruleset->ruleset().policies()
                                   : DefaultPolicies();
}

bool IsOpen(const v1::Appeal& a) {
  return a.state() == v1::Appeal::OPEN || a.state() == v1::Appeal::ESCALATED;
}

bool IsParty(const v1::Appeal& a, absl::string_view id) {
  return id == a.claimant() || id == a.owner();
}

bool IsSeated(const v1::Appeal& a, absl::string_view id) {
  for (const v1::PanelSeat& s : a.panel()) {
    if (s.arbiter() == id) return true;
  }
  return false;
}

bool Visible(const v1::Appeal& a, const AppealCaller& caller) {
  return caller.Has(Role::kAdmin) || caller.Has(Role::kAuditor) ||
         caller.Has(Role::kArbiter) || caller.ManagerOf(a.department()) ||
         IsParty(a, caller.actor.id) || IsSeated(a, caller.actor.id);
}

bool AssignedTo(const v1::Appeal& a, const AppealCaller& caller) {
  if (a.state() == v1::Appeal::OPEN && IsSeated(a, caller.actor.id)) {
    return true;
  }
  return caller.ManagerOf(a.department()) &&
         (a.state() == v1::Appeal::ESCALATED ||
          (a.state() == v1::Appeal::OPEN && a.routed_to_managers()));
}

std::string Describe(const v1::Appeal& a) {
  return absl::StrCat("appeal ", a.id(), " (customer ",
                      rules::Quote(a.customer_id()), " in department ",
                      a.department(), ")");
}

absl::Status NotOpen(const v1::Appeal& a) {
  return absl::FailedPreconditionError(absl::StrCat(
      Describe(a), " is ", v1::Appeal::State_Name(a.state()),
      a.state() == v1::Appeal::WITHDRAWN ? ": it was withdrawn"
                                         : ": it was ruled on already"));
}

void AddEntry(
    v1::Appeal& a, absl::Time now, absl::string_view actor,
    v1::AppealEntry::Kind kind, absl::string_view text,
    v1::AppealVote::Decision decision = v1::AppealVote::DECISION_UNSPECIFIED) {
  v1::AppealEntry* e = a.add_timeline();
  *e->mutable_time() = ToProto(now);
  e->set_actor(std::string(actor));
  e->set_kind(kind);
  e->set_text(std::string(text));
  e->set_decision(decision);
}

absl::StatusOr<std::optional<v1::Appeal>> ParseAppeal(absl::Status s,
                                                      const std::string& bytes,
                                                      absl::string_view id) {
  if (absl::IsNotFound(s)) return std::optional<v1::Appeal>();
  RETURN_IF_ERROR(s);
  v1::Appeal appeal;
  if (!appeal.ParseFromString(bytes)) {
    return absl::DataLossError(
        absl::StrCat("the record of appeal ", id, " does not parse"));
  }
  return std::optional<v1::Appeal>(std::move(appeal));
}

absl::StatusOr<std::optional<v1::Appeal>> ReadAppealForUpdate(
    storage::Transaction& txn, absl::string_view id) {
  std::string bytes;
  absl::Status s = txn.GetForUpdate(Table::kAppeals, AppealKey(id), &bytes);
  return ParseAppeal(s, bytes, id);
}

// Stages `after` (the appeal record) and moves its index entries from
// `before` (nullptr: a new appeal).
absl::Status StageAppealRecord(storage::Transaction& txn,
                               const v1::Appeal* before,
                               const v1::Appeal& after) {
  if (before != nullptr && IsOpen(*before)) {
    RETURN_IF_ERROR(
        txn.Delete(Table::kAppeals,
                   DeadlineKey(FromProto(before->deadline()), before->id())));
  }
  const std::string open_key = OpenKey(after.customer_id(), after.department());
  if (IsOpen(after)) {
    RETURN_IF_ERROR(
        txn.Put(Table::kAppeals,
                DeadlineKey(FromProto(after.deadline()), after.id()), ""));
    RETURN_IF_ERROR(txn.Put(Table::kAppeals, open_key, after.id()));
  } else {
    RETURN_IF_ERROR(txn.Delete(Table::kAppeals, open_key));
  }
  if (after.state() == v1::Appeal::UPHELD ||
      after.state() == v1::Appeal::OVERTURNED) {
    RETURN_IF_ERROR(txn.Put(
        Table::kAppeals, RuledKey(after.customer_id(), after.department()),
        storage::EncodeCounter(
            absl::ToUnixMicros(FromProto(after.end_time())))));
  }
  return txn.Put(Table::kAppeals, AppealKey(after.id()),
                 SerializeDeterministic(after));
}

std::vector<std::string> AppealResources(const v1::Appeal& a) {
  return {absl::StrCat("appeals/", a.id()),
          absl::StrCat("customers/", a.customer_id()),
          absl::StrCat("customers/", a.customer_id(), "/ownerships/",
                       a.department())};
}

// Stages the change of an ownership (read and locked as `current`) to
// `after`; returns the event's sequence. `plan` may carry a reservation.
absl::StatusOr<int64_t> StageOwnership(
    storage::Transaction& txn, MutationEffects& effects,
    const OwnershipBook& book, TeamAllocator& allocator,
    const v1::Ownership& current, const v1::Ownership& after,
    v1::OwnershipEvent::Cause cause, absl::string_view actor,
    absl::string_view reason, absl::string_view request_id,
    absl::string_view appeal_id, DepartmentPlan plan = DepartmentPlan()) {
  plan.department = after.department();
  plan.before = current;
  plan.after = after;
  plan.cause = cause;
  plan.changed = true;
  plan.owned_deltas = OwnedDeltas(&current, after);
  for (const OwnedDelta& a : plan.Adjustments()) {
    RETURN_IF_ERROR(allocator.Preload(a.department, a.rep_id));
  }
  ChangeSpec spec;
  spec.after = after;
  spec.cause = cause;
  spec.actor = std::string(actor);
  spec.reason = std::string(reason);
  spec.request_id = std::string(request_id);
  spec.appeal_id = std::string(appeal_id);
  spec.before = &plan.before;
  ASSIGN_OR_RETURN(PendingEvents pending, book.Stage(txn, spec));
  const int64_t sequence = pending.events().back().sequence();
  effects.events.Append(std::move(pending));
  effects.plans.push_back(std::move(plan));
  return sequence;
}

// The FROZEN ownership of an open appeal, locked.
absl::StatusOr<v1::Ownership> LockFrozen(storage::Transaction& txn,
                                         const v1::Appeal& appeal) {
  ASSIGN_OR_RETURN(std::optional<v1::Ownership> current,
                   OwnershipBook::ReadForUpdate(txn, appeal.customer_id(),
                                                appeal.department()));
  if (!current.has_value() || current->state() != v1::Ownership::FROZEN) {
    return absl::DataLossError(absl::StrCat(
        "the ownership under open ", Describe(appeal), " is not FROZEN"));
  }
  return *std::move(current);
}

// Stages an unfreeze: the frozen ownership back to ACTIVE with its rep.
absl::StatusOr<int64_t> StageUnfreeze(
    storage::Transaction& txn, MutationEffects& effects,
    const OwnershipBook& book, TeamAllocator& allocator,
    const v1::Appeal& appeal, v1::OwnershipEvent::Cause cause,
    absl::string_view actor, absl::string_view reason,
    absl::string_view request_id) {
  ASSIGN_OR_RETURN(v1::Ownership current, LockFrozen(txn, appeal));
  v1::Ownership after = current;
  after.set_state(v1::Ownership::ACTIVE);
  return StageOwnership(txn, effects, book, allocator, current, after, cause,
                        actor, reason, request_id, appeal.id());
}

// Stages an APPEAL_STEP event for the timeline entry just added to the open
// `appeal` (a comment, a vote, an escalation): its FROZEN ownership is
// unchanged, so the event only tells watchers (WatchOwnershipEvents).
absl::Status StageAppealStep(storage::Transaction& txn,
                             MutationEffects& effects,
                             const OwnershipBook& book,
                             TeamAllocator& allocator, const v1::Appeal& appeal,
                             absl::string_view request_id) {
  ASSIGN_OR_RETURN(v1::Ownership current, LockFrozen(txn, appeal));
  const v1::AppealEntry& entry = appeal.timeline(appeal.timeline_size() - 1);
  std::string reason = absl::StrCat(
      appeal.id(), " ",
      absl::AsciiStrToLower(v1::AppealEntry::Kind_Name(entry.kind())));
  if (entry.decision() != v1::AppealVote::DECISION_UNSPECIFIED) {
    absl::StrAppend(&reason, " ",
                    v1::AppealVote::Decision_Name(entry.decision()));
  }
  if (!entry.text().empty()) absl::StrAppend(&reason, ": ", entry.text());
  return StageOwnership(txn, effects, book, allocator, current, current,
                        v1::OwnershipEvent::APPEAL_STEP, entry.actor(), reason,
                        request_id, appeal.id())
      .status();
}

// Appeal-level rights.
bool MayRule(const v1::Appeal& a, const AppealCaller& caller) {
  return !IsParty(a, caller.actor.id) &&
         (caller.ManagerOf(a.department()) || caller.Has(Role::kAdmin));
}

bool MayComment(const v1::Appeal& a, const AppealCaller& caller) {
  return IsParty(a, caller.actor.id) || IsSeated(a, caller.actor.id) ||
         caller.ManagerOf(a.department()) || caller.Has(Role::kAdmin);
}

// Reads and locks the appeal `id` into *appeal (and the stored record into
// *before) for a caller `allowed` lets act on it: otherwise
// PERMISSION_DENIED "principal P may not ACT appeal ID: WHY", also when it
// does not exist (the caller learns nothing); FAILED_PRECONDITION when it
// has ended.
absl::Status LockOpenAppeal(
    storage::Transaction& txn, absl::string_view id, const AppealCaller& caller,
    absl::FunctionRef<bool(const v1::Appeal&)> allowed, absl::string_view act,
    absl::FunctionRef<std::string(const v1::Appeal*)> why, v1::Appeal* before,
    v1::Appeal* appeal) {
  ASSIGN_OR_RETURN(std::optional<v1::Appeal> found,
                   ReadAppealForUpdate(txn, id));
  if (!found.has_value() || !allowed(*found)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "principal ", caller.actor.id, " may not ", act, " appeal ", id, ": ",
        why(found.has_value() ? &*found : nullptr)));
  }
  *before = *found;
  *appeal = *std::move(found);
  return IsOpen(*appeal) ? absl::OkStatus() : NotOpen(*appeal);
}

}  // namespace

bool AppealCaller::ManagerOf(absl::string_view department) const {
  return Has(Role::kManager) &&
         (departments.count(std::string(kAllDepartments)) > 0 ||
          departments.count(std::string(department)) > 0);
}

std::string AppealKey(absl::string_view appeal_id) {
  return KeyBuilder().AddString("appeal").AddString(appeal_id).Build();
}

std::string AppealDeadlinePrefix() {
  return KeyBuilder().AddString("deadline").Build();
}

// What a ruling decides and who decided it.
struct AppealDesk::Ruling {
  v1::AppealVote::Decision decision = v1::AppealVote::DECISION_UNSPECIFIED;
  v1::Appeal::RulingSource source = v1::Appeal::RULING_SOURCE_UNSPECIFIED;
  std::string ruled_by;  // the principal, or "custodiand"
  std::string reason;
  bool override_capacity = false;
  std::string override_reason;
  std::string request_id;
  // When true, a claimant at capacity escalates the appeal instead of
  // failing (panel quorum, expiry).
  bool escalate_at_capacity = false;
  absl::Duration escalation_sla;
};

absl::StatusOr<std::unique_ptr<AppealDesk>> AppealDesk::Create(
    Options options) {
  FieldErrors errors;
  if (options.store == nullptr) errors.Add("store", "is required");
  if (options.rulesets == nullptr) errors.Add("rulesets", "is required");
  if (options.book == nullptr) errors.Add("book", "is required");
  if (options.allocator == nullptr) errors.Add("allocator", "is required");
  if (options.clock == nullptr) errors.Add("clock", "is required");
  if (options.max_attempts < 1) errors.Add("max_attempts", "must be >= 1");
  if (options.max_examined_per_page < 1) {
    errors.Add("max_examined_per_page", "must be >= 1");
  }
  if (absl::Status s = ValidateIdempotencyOptions(options.idempotency);
      !s.ok()) {
    errors.Add("idempotency", s.message());
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("AppealDesk options: ", errors.ToStatus().message()));
  }
  return std::unique_ptr<AppealDesk>(new AppealDesk(std::move(options)));
}

AppealDesk::AppealDesk(Options options)
    : options_(std::move(options)),
      idempotency_(options_.idempotency),
      planner_(options_.allocator) {}

absl::Status AppealDesk::Mutate(
    absl::string_view method, const AppealCaller& caller,
    const std::string& request_id, const std::string& fingerprint,
    v1::Appeal* response,
    absl::FunctionRef<absl::Status(storage::Transaction&, MutationEffects&,
                                   absl::Time, std::string*)>
        body) {
  return RunMutation(
      *options_.store, *options_.allocator, options_.max_attempts,
      [&](storage::Transaction& txn, MutationEffects& effects) -> absl::Status {
        response->Clear();
        const absl::Time now = options_.clock->Now();
        ASSIGN_OR_RETURN(
            std::optional<std::string> first,
            idempotency_.Lookup(txn, method, request_id, fingerprint, now));
        if (first.has_value()) {
          effects.replay = true;
          return ParseAnswer(*first, response);
        }
        std::string outcome;
        RETURN_IF_ERROR(body(txn, effects, now, &outcome));
        RETURN_IF_ERROR(StageAuditRecord(txn, caller.actor, method, request_id,
                                         AppealResources(*response), outcome,
                                         now));
        return idempotency_.Record(txn, method, request_id, fingerprint,
                                   SerializeDeterministic(*response), now);
      });
}

// ---------------------------------------------------------------------------
// FileAppeal

absl::StatusOr<v1::Appeal> AppealDesk::FileAppeal(
    const v1::FileAppealRequest& request, const AppealCaller& caller) {
  FieldErrors errors;
  CheckName("customer_id", request.customer_id(), true, rules::CheckCustomerId,
            &errors);
  CheckName("department", request.department(), true, rules::CheckDepartmentId,
            &errors);
  CheckName("claimant", request.claimant(), true, rules::CheckRepId, &errors);
  CheckReason("reason", request.reason(), true, &errors);
  if (request.evidence_size() > kMaxEvidence) {
    errors.Add("evidence", absl::StrCat("has ", request.evidence_size(),
                                        " items; at most ", kMaxEvidence));
  }
  for (int i = 0; i < request.evidence_size(); ++i) {
    CheckReason(absl::StrCat("evidence[", i, "]"), request.evidence(i), true,
                &errors);
  }
  CheckRequestId("request_id", request.request_id(), true, &errors);
  CheckActor(caller.actor.id, &errors);
  RETURN_IF_ERROR(errors.ToStatus());

  const std::optional<DisputeSettings> settings =
      SettingsOf(*options_.rulesets);
  if (!settings.has_value()) {
    return absl::FailedPreconditionError(
        "the active ruleset has no policies.disputes: appeals are not "
        "accepted");
  }
  const std::string fingerprint = RequestFingerprint(request);
  const std::string& customer_id = request.customer_id();
  const std::string& department = request.department();
  const std::string& claimant = request.claimant();

  v1::Appeal response;
  RETURN_IF_ERROR(Mutate(
      kFileAppealMethod, caller, request.request_id(), fingerprint, &response,
      [&](storage::Transaction& txn, MutationEffects& effects, absl::Time now,
          std::string* outcome) -> absl::Status {
        ASSIGN_OR_RETURN(RosterIndex roster, ReadStoredRoster(txn));
        if (!roster.HasDepartment(department)) {
          return absl::NotFoundError(absl::StrCat("department: department ",
                                                  rules::Quote(department),
                                                  " is not in the roster"));
        }
        const v1::Rep* claimant_rep = roster.FindRep(claimant);
        if (claimant_rep == nullptr) {
          return absl::NotFoundError(absl::StrCat("claimant: rep ",
                                                  rules::Quote(claimant),
                                                  " is not in the roster"));
        }
        if (claimant_rep->status() == v1::LEFT) {
          return absl::FailedPreconditionError(
              absl::StrCat("claimant: rep ", rules::Quote(claimant),
                           " has left: only a current rep files an appeal"));
        }
        if (!roster.FindSeat(department, claimant).has_value()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "claimant: rep ", rules::Quote(claimant),
              " is not a member of any team of department ", department));
        }
        // The open marker first: a second appeal is ALREADY_EXISTS.
        std::string open_id;
        absl::Status s = txn.GetForUpdate(
            Table::kAppeals, OpenKey(customer_id, department), &open_id);
        if (s.ok()) {
          return absl::AlreadyExistsError(absl::StrCat(
              "customer ", rules::Quote(customer_id), " in department ",
              department, " already has an open appeal: ", open_id));
        }
        if (!absl::IsNotFound(s)) return s;
        // The re-appeal window.
        std::string ruled;
        s = txn.GetForUpdate(Table::kAppeals, RuledKey(customer_id, department),
                             &ruled);
        if (s.ok()) {
          ASSIGN_OR_RETURN(const int64_t us, storage::DecodeCounter(ruled));
          const absl::Time possible =
              absl::FromUnixMicros(us) + settings->reappeal_after;
          if (now < possible) {
            return absl::FailedPreconditionError(
                absl::StrCat("customer ", rules::Quote(customer_id),
                             " in department ", department, " was ruled on at ",
                             RfcTime(absl::FromUnixMicros(us)),
                             "; policies.disputes.reappeal_after (",
                             absl::FormatDuration(settings->reappeal_after),
                             ") allows a new appeal from ", RfcTime(possible)));
          }
        } else if (!absl::IsNotFound(s)) {
          return s;
        }
        ASSIGN_OR_RETURN(
            std::optional<v1::Ownership> current,
            OwnershipBook::ReadForUpdate(txn, customer_id, department));
        if (!current.has_value()) {
          return absl::NotFoundError(
              absl::StrCat("customer ", rules::Quote(customer_id),
                           " has no ownership in department ", department,
                           ": nothing to appeal"));
        }
        if (current->state() != v1::Ownership::ACTIVE) {
          return absl::FailedPreconditionError(absl::StrCat(
              "customer ", rules::Quote(customer_id), " in department ",
              department, " is ", v1::Ownership::State_Name(current->state()),
              ": only an ACTIVE owner is appealed",
              current->state() == v1::Ownership::POOLED
                  ? " (claim it from the pool instead)"
                  : ""));
        }
        if (current->rep() == claimant) {
          return absl::FailedPreconditionError(
              absl::StrCat("claimant: rep ", rules::Quote(claimant),
                           " already owns customer ", rules::Quote(customer_id),
                           " in department ", department));
        }

        v1::Appeal& appeal = response;
        char stamp[17];
        std::snprintf(stamp, sizeof(stamp), "%016llx",
                      static_cast<unsigned long long>(absl::ToUnixMicros(now)));
        appeal.set_id(
            absl::StrCat("ap-", stamp,
                         Sha256Hex(absl::StrCat(request.request_id(), "\n",
                                                customer_id, "\n", department),
                                   4)));
        appeal.set_customer_id(customer_id);
        appeal.set_department(department);
        appeal.set_claimant(claimant);
        appeal.set_owner(current->rep());
        appeal.set_reason(request.reason());
        *appeal.mutable_evidence() = request.evidence();
        appeal.set_state(v1::Appeal::OPEN);
        *appeal.mutable_create_time() = ToProto(now);
        *appeal.mutable_deadline() = ToProto(now + settings->sla);
        AddEntry(appeal, now, caller.actor.id, v1::AppealEntry::FILED,
                 request.reason());

        // The panel: least recently seated eligible members first.
        const v1::Team* team = roster.FindTeam(settings->team);
        struct Candidate {
          std::string rep;
          int64_t ordinal;  // -1: never seated
          int index;
        };
        std::vector<Candidate> eligible;
        int64_t max_ordinal = 0;
        if (team != nullptr) {
          for (int i = 0; i < team->members_size(); ++i) {
            const std::string& rep = team->members(i).rep();
            std::string value;
            s = txn.GetForUpdate(Table::kAppeals, SeatOrdinalKey(rep), &value);
            int64_t ordinal = -1;
            if (s.ok()) {
              ASSIGN_OR_RETURN(ordinal, storage::DecodeCounter(value));
              max_ordinal = std::max(max_ordinal, ordinal);
            } else if (!absl::IsNotFound(s)) {
              return s;
            }
            const v1::Rep* r = roster.FindRep(rep);
            const bool active =
                r != nullptr && (r->status() == v1::ACTIVE ||
                                 r->status() == v1::REP_STATUS_UNSPECIFIED);
            if (rep == claimant || rep == current->rep() || !active) continue;
            eligible.push_back({rep, ordinal, i});
          }
        }
        std::sort(eligible.begin(), eligible.end(),
                  [](const Candidate& a, const Candidate& b) {
                    return a.ordinal != b.ordinal ? a.ordinal < b.ordinal
                                                  : a.index < b.index;
                  });
        if (static_cast<int>(eligible.size()) < settings->size) {
          appeal.set_routed_to_managers(true);
          appeal.set_quorum(0);
          AddEntry(
              appeal, now, kSweeperActor, v1::AppealEntry::PANEL,
              absl::StrCat("routed to the managers of department ", department,
                           ": panel team ", rules::Quote(settings->team),
                           " has ", eligible.size(),
                           " eligible arbiter(s) (not a party, active), "
                           "the panel needs ",
                           settings->size));
        } else {
          std::vector<std::string> names;
          for (int i = 0; i < settings->size; ++i) {
            v1::PanelSeat* seat = appeal.add_panel();
            seat->set_arbiter(eligible[i].rep);
            *seat->mutable_seat_time() = ToProto(now);
            names.push_back(eligible[i].rep);
            RETURN_IF_ERROR(
                txn.Put(Table::kAppeals, SeatOrdinalKey(eligible[i].rep),
                        storage::EncodeCounter(max_ordinal + 1 + i)));
          }
          appeal.set_quorum(settings->quorum);
          AddEntry(appeal, now, kSweeperActor, v1::AppealEntry::PANEL,
                   absl::StrCat("panel drawn from team ", settings->team, ": ",
                                absl::StrJoin(names, ", "), "; quorum ",
                                settings->quorum));
        }

        v1::Ownership frozen = *current;
        frozen.set_state(v1::Ownership::FROZEN);
        ASSIGN_OR_RETURN(
            const int64_t sequence,
            StageOwnership(txn, effects, *options_.book, *options_.allocator,
                           *current, frozen, v1::OwnershipEvent::APPEAL,
                           caller.actor.id,
                           absl::StrCat("appeal filed by ", claimant),
                           request.request_id(), appeal.id()));
        appeal.set_freeze_event_sequence(sequence);
        RETURN_IF_ERROR(StageAppealRecord(txn, nullptr, appeal));
        *outcome = "OK: appeal filed";
        return absl::OkStatus();
      }));
  return response;
}

// ---------------------------------------------------------------------------
// Rulings

absl::Status AppealDesk::StageRuling(storage::Transaction& txn,
                                     MutationEffects& effects,
                                     const Ruling& ruling,
                                     const v1::Appeal& before,
                                     v1::Appeal& appeal, absl::Time now) const {
  ASSIGN_OR_RETURN(v1::Ownership current, LockFrozen(txn, appeal));
  v1::Ownership after = current;
  after.set_state(v1::Ownership::ACTIVE);
  DepartmentPlan plan;
  bool overridden = false;
  if (ruling.decision == v1::AppealVote::OVERTURN) {
    ASSIGN_OR_RETURN(RosterIndex roster, ReadStoredRoster(txn));
    std::optional<RosterIndex::Seat> seat =
        roster.FindSeat(appeal.department(), appeal.claimant());
    const v1::Rep* rep = roster.FindRep(appeal.claimant());
    if (!seat.has_value() || rep == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("the claimant ", rules::Quote(appeal.claimant()),
                       " is no longer a member of a team of department ",
                       appeal.department(), ": the appeal can only be upheld"));
    }
    const v1::Policies& policies = ActivePolicies(*options_.rulesets);
    ASSIGN_OR_RETURN(PickResult pick,
                     planner_.ReserveRep(appeal.department(), appeal.claimant(),
                                         roster, policies));
    if (pick.picked()) {
      plan.reservation = std::move(pick.reservation);
    } else if (ruling.override_capacity) {
      overridden = true;
    } else {
      const SkipReason skipped = pick.skipped.empty()
                                     ? SkipReason::kAtCapacity
                                     : pick.skipped.front().reason;
      const std::string why = absl::StrCat(
          "the claimant ", rules::Quote(appeal.claimant()),
          skipped == SkipReason::kAtCapacity
              ? absl::StrCat(" is at capacity (",
                             MemberCapacity(*seat->member, policies),
                             " customers) in department ", appeal.department())
              : absl::StrCat(" is not eligible (", SkipReasonName(skipped),
                             ")"));
      if (!ruling.escalate_at_capacity) {
        return absl::FailedPreconditionError(absl::StrCat(
            why, ": overturning needs override_capacity with a reason"));
      }
      appeal.set_state(v1::Appeal::ESCALATED);
      *appeal.mutable_deadline() = ToProto(now + ruling.escalation_sla);
      AddEntry(appeal, now, kSweeperActor, v1::AppealEntry::ESCALATION,
               absl::StrCat(ruling.reason, "; but ", why,
                            ": escalated to the managers of department ",
                            appeal.department(), " until ",
                            RfcTime(now + ruling.escalation_sla)));
      RETURN_IF_ERROR(StageAppealStep(txn, effects, *options_.book,
                                      *options_.allocator, appeal,
                                      ruling.request_id));
      return StageAppealRecord(txn, &before, appeal);
    }
    after.set_rep(appeal.claimant());
    after.set_team(seat->team->id());
    after.clear_rule_id();
    after.set_drifted(false);
    after.clear_explanation();
    // The owner overruled loses the customer (server/cooldowns.h).
    RETURN_IF_ERROR(StageLossCooldown(txn, roster, &current, after, now));
  }
  std::string reason = ruling.reason;
  if (overridden) {
    absl::StrAppend(&reason, " (capacity override: ", ruling.override_reason,
                    ")");
  }
  ASSIGN_OR_RETURN(
      const int64_t sequence,
      StageOwnership(txn, effects, *options_.book, *options_.allocator, current,
                     after, v1::OwnershipEvent::APPEAL_RULING, ruling.ruled_by,
                     absl::StrCat(appeal.id(), " ",
                                  ruling.decision == v1::AppealVote::OVERTURN
                                      ? "overturned"
                                      : "upheld",
                                  ": ", reason),
                     ruling.request_id, appeal.id(), std::move(plan)));
  appeal.set_state(ruling.decision == v1::AppealVote::OVERTURN
                       ? v1::Appeal::OVERTURNED
                       : v1::Appeal::UPHELD);
  *appeal.mutable_end_time() = ToProto(now);
  appeal.set_ruled_by(ruling.ruled_by);
  appeal.set_ruling_source(ruling.source);
  appeal.set_ruling_reason(reason);
  appeal.set_capacity_override(overridden);
  appeal.set_end_event_sequence(sequence);
  appeal.clear_deadline();
  AddEntry(appeal, now, ruling.ruled_by, v1::AppealEntry::RULING, reason,
           ruling.decision);
  // The deadline index entry of `before` is removed by StageAppealRecord.
  return StageAppealRecord(txn, &before, appeal);
}

absl::StatusOr<v1::Appeal> AppealDesk::CastVote(
    const v1::CastVoteRequest& request, const AppealCaller& caller) {
  FieldErrors errors;
  CheckAppealId("appeal_id", request.appeal_id(), &errors);
  CheckDecision("decision", request.decision(), &errors);
  CheckReason("reason", request.reason(), true, &errors);
  CheckRequestId("request_id", request.request_id(), true, &errors);
  CheckActor(caller.actor.id, &errors);
  RETURN_IF_ERROR(errors.ToStatus());
  const std::string fingerprint = RequestFingerprint(request);
  const std::optional<DisputeSettings> settings =
      SettingsOf(*options_.rulesets);

  v1::Appeal response;
  RETURN_IF_ERROR(Mutate(
      kCastVoteMethod, caller, request.request_id(), fingerprint, &response,
      [&](storage::Transaction& txn, MutationEffects& effects, absl::Time now,
          std::string* outcome) -> absl::Status {
        const std::string& me = caller.actor.id;
        v1::Appeal before;
        v1::Appeal& appeal = response;
        RETURN_IF_ERROR(LockOpenAppeal(
            txn, request.appeal_id(), caller,
            [&](const v1::Appeal& a) { return IsSeated(a, me); }, "vote on",
            [](const v1::Appeal*) -> std::string {
              return "only its panel votes";
            },
            &before, &appeal));
        if (appeal.state() != v1::Appeal::OPEN) {
          return absl::FailedPreconditionError(
              absl::StrCat(Describe(appeal),
                           " is ESCALATED: the department's managers decide"));
        }
        // Replace the arbiter's vote; keep votes in arbiter order.
        v1::AppealVote vote;
        vote.set_arbiter(me);
        vote.set_decision(request.decision());
        vote.set_reason(request.reason());
        *vote.mutable_vote_time() = ToProto(now);
        std::vector<v1::AppealVote> votes;
        for (const v1::AppealVote& v : appeal.votes()) {
          if (v.arbiter() != me) votes.push_back(v);
        }
        votes.push_back(vote);
        std::sort(votes.begin(), votes.end(),
                  [](const v1::AppealVote& a, const v1::AppealVote& b) {
                    return a.arbiter() < b.arbiter();
                  });
        appeal.clear_votes();
        int agreeing = 0;
        for (v1::AppealVote& v : votes) {
          if (v.decision() == request.decision()) ++agreeing;
          *appeal.add_votes() = std::move(v);
        }
        AddEntry(appeal, now, me, v1::AppealEntry::VOTE, request.reason(),
                 request.decision());
        *outcome = "OK: vote recorded";
        if (appeal.quorum() > 0 && agreeing >= appeal.quorum()) {
          Ruling ruling;
          ruling.decision = request.decision();
          ruling.source = v1::Appeal::PANEL;
          ruling.ruled_by = std::string(kSweeperActor);
          ruling.reason = absl::StrCat(
              "panel: ", agreeing, " of ", appeal.panel_size(), " voted ",
              v1::AppealVote::Decision_Name(request.decision()), " (quorum ",
              appeal.quorum(), ")");
          ruling.request_id = request.request_id();
          ruling.escalate_at_capacity = true;
          ruling.escalation_sla =
              settings.has_value() ? settings->sla : absl::Hours(24 * 7);
          RETURN_IF_ERROR(
              StageRuling(txn, effects, ruling, before, appeal, now));
          *outcome = absl::StrCat("OK: vote recorded; ",
                                  v1::Appeal::State_Name(appeal.state()));
        } else {
          RETURN_IF_ERROR(StageAppealStep(txn, effects, *options_.book,
                                          *options_.allocator, appeal,
                                          request.request_id()));
          RETURN_IF_ERROR(StageAppealRecord(txn, &before, appeal));
        }
        return absl::OkStatus();
      }));
  return response;
}

absl::StatusOr<v1::Appeal> AppealDesk::RuleOnAppeal(
    const v1::RuleOnAppealRequest& request, const AppealCaller& caller) {
  FieldErrors errors;
  CheckAppealId("appeal_id", request.appeal_id(), &errors);
  CheckDecision("decision", request.decision(), &errors);
  CheckReason("reason", request.reason(), true, &errors);
  if (request.override_capacity() &&
      request.decision() != v1::AppealVote::OVERTURN) {
    errors.Add("override_capacity", "applies only to decision OVERTURN");
  }
  CheckReason("override_reason", request.override_reason(),
              request.override_capacity(), &errors);
  if (!request.override_capacity() && !request.override_reason().empty()) {
    errors.Add("override_reason", "is set without override_capacity");
  }
  CheckRequestId("request_id", request.request_id(), true, &errors);
  CheckActor(caller.actor.id, &errors);
  RETURN_IF_ERROR(errors.ToStatus());
  const std::string fingerprint = RequestFingerprint(request);

  v1::Appeal response;
  RETURN_IF_ERROR(Mutate(
      kRuleOnAppealMethod, caller, request.request_id(), fingerprint, &response,
      [&](storage::Transaction& txn, MutationEffects& effects, absl::Time now,
          std::string* outcome) -> absl::Status {
        const std::string& me = caller.actor.id;
        v1::Appeal before;
        v1::Appeal& appeal = response;
        RETURN_IF_ERROR(LockOpenAppeal(
            txn, request.appeal_id(), caller,
            [&](const v1::Appeal& a) { return MayRule(a, caller); }, "rule on",
            [&](const v1::Appeal* a) -> std::string {
              return a != nullptr && IsParty(*a, me)
                         ? "a party never rules on its own appeal"
                         : "only a manager of its department who is not a "
                           "party rules";
            },
            &before, &appeal));
        Ruling ruling;
        ruling.decision = request.decision();
        ruling.source = v1::Appeal::MANAGER;
        ruling.ruled_by = me;
        ruling.reason = request.reason();
        ruling.override_capacity = request.override_capacity();
        ruling.override_reason = request.override_reason();
        ruling.request_id = request.request_id();
        RETURN_IF_ERROR(StageRuling(txn, effects, ruling, before, appeal, now));
        *outcome = absl::StrCat("OK: ", v1::Appeal::State_Name(appeal.state()));
        return absl::OkStatus();
      }));
  return response;
}

// ---------------------------------------------------------------------------
// WithdrawAppeal, CommentOnAppeal

absl::StatusOr<v1::Appeal> AppealDesk::WithdrawAppeal(
    const v1::WithdrawAppealRequest& request, const AppealCaller& caller) {
  FieldErrors errors;
  CheckAppealId("appeal_id", request.appeal_id(), &errors);
  CheckReason("reason", request.reason(), false, &errors);
  CheckRequestId("request_id", request.request_id(), true, &errors);
  CheckActor(caller.actor.id, &errors);
  RETURN_IF_ERROR(errors.ToStatus());
  const std::string fingerprint = RequestFingerprint(request);

  v1::Appeal response;
  RETURN_IF_ERROR(Mutate(
      kWithdrawAppealMethod, caller, request.request_id(), fingerprint,
      &response,
      [&](storage::Transaction& txn, MutationEffects& effects, absl::Time now,
          std::string* outcome) -> absl::Status {
        const std::string& me = caller.actor.id;
        v1::Appeal before;
        v1::Appeal& appeal = response;
        RETURN_IF_ERROR(LockOpenAppeal(
            txn, request.appeal_id(), caller,
            [&](const v1::Appeal& a) {
              return a.claimant() == me || caller.Has(Role::kAdmin);
            },
            "withdraw",
            [](const v1::Appeal*) -> std::string {
              return "only its claimant does";
            },
            &before, &appeal));
        ASSIGN_OR_RETURN(
            const int64_t sequence,
            StageUnfreeze(txn, effects, *options_.book, *options_.allocator,
                          appeal, v1::OwnershipEvent::APPEAL, me,
                          absl::StrCat(appeal.id(), " withdrawn",
                                       request.reason().empty() ? "" : ": ",
                                       request.reason()),
                          request.request_id()));
        appeal.set_state(v1::Appeal::WITHDRAWN);
        *appeal.mutable_end_time() = ToProto(now);
        appeal.set_ruling_reason(request.reason());
        appeal.set_end_event_sequence(sequence);
        appeal.clear_deadline();
        AddEntry(appeal, now, me, v1::AppealEntry::WITHDRAWAL,
                 request.reason());
        RETURN_IF_ERROR(StageAppealRecord(txn, &before, appeal));
        *outcome = "OK: withdrawn";
        return absl::OkStatus();
      }));
  return response;
}

absl::StatusOr<v1::Appeal> AppealDesk::CommentOnAppeal(
    const v1::CommentOnAppealRequest& request, const AppealCaller& caller) {
  FieldErrors errors;
  CheckAppealId("appeal_id", request.appeal_id(), &errors);
  CheckReason("text", request.text(), true, &errors);
  CheckRequestId("request_id", request.request_id(), true, &errors);
  CheckActor(caller.actor.id, &errors);
  RETURN_IF_ERROR(errors.ToStatus());
  const std::string fingerprint = RequestFingerprint(request);

  v1::Appeal response;
  RETURN_IF_ERROR(Mutate(
      kCommentOnAppealMethod, caller, request.request_id(), fingerprint,
      &response,
      [&](storage::Transaction& txn, MutationEffects& effects, absl::Time now,
          std::string* outcome) -> absl::Status {
        const std::string& me = caller.actor.id;
        v1::Appeal before;
        v1::Appeal& appeal = response;
        RETURN_IF_ERROR(LockOpenAppeal(
            txn, request.appeal_id(), caller,
            [&](const v1::Appeal& a) { return MayComment(a, caller); },
            "comment on",
            [](const v1::Appeal*) -> std::string {
              return "only its parties, panel and the department's managers "
                     "do";
            },
            &before, &appeal));
        AddEntry(appeal, now, me, v1::AppealEntry::COMMENT, request.text());
        RETURN_IF_ERROR(StageAppealStep(txn, effects, *options_.book,
                                        *options_.allocator, appeal,
                                        request.request_id()));
        RETURN_IF_ERROR(StageAppealRecord(txn, &before, appeal));
        *outcome = "OK: commented";
        return absl::OkStatus();
      }));
  return response;
}

// ---------------------------------------------------------------------------
// Reads

absl::StatusOr<v1::Appeal> AppealDesk::GetAppeal(
    const v1::GetAppealRequest& request, const AppealCaller& caller) const {
  FieldErrors errors;
  CheckAppealId("appeal_id", request.appeal_id(), &errors);
  RETURN_IF_ERROR(errors.ToStatus());
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  std::string bytes;
  absl::Status s =
      snapshot->Get(Table::kAppeals, AppealKey(request.appeal_id()), &bytes);
  ASSIGN_OR_RETURN(std::optional<v1::Appeal> appeal,
                   ParseAppeal(s, bytes, request.appeal_id()));
  // Those who see every appeal learn whether it exists; others do not.
  const bool sees_all = caller.Has(Role::kAdmin) ||
                        caller.Has(Role::kAuditor) ||
                        caller.Has(Role::kArbiter);
  if (!appeal.has_value() && sees_all) {
    return absl::NotFoundError(absl::StrCat(
        "appeal_id: appeal ", request.appeal_id(), " does not exist"));
  }
  if (!appeal.has_value() || !Visible(*appeal, caller)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "principal ", caller.actor.id, " may not see appeal ",
        request.appeal_id(),
        ": only its parties, panel, the department's managers, arbiters, "
        "admins and auditors do"));
  }
  return *std::move(appeal);
}

absl::StatusOr<v1::ListAppealsResponse> AppealDesk::ListAppeals(
    const v1::ListAppealsRequest& request, const AppealCaller& caller) const {
  FieldErrors errors;
  if (!v1::Appeal::State_IsValid(request.state())) {
    errors.Add("state", absl::StrCat(static_cast<int>(request.state()),
                                     " is not an appeal state"));
  }
  CheckName("department", request.department(), false, rules::CheckDepartmentId,
            &errors);
  CheckName("claimant", request.claimant(), false, rules::CheckRepId, &errors);
  CheckName("owner", request.owner(), false, rules::CheckRepId, &errors);
  const int32_t page_size =
      CheckPageSize("page_size", request.page_size(), kDefaultOwnershipPageSize,
                    kMaxOwnershipPageSize, &errors);
  v1::ListAppealsRequest scope_request = request;
  scope_request.clear_page_size();
  scope_request.clear_page_token();
  const std::string scope =
      absl::StrCat("ListAppeals:", caller.actor.id, ":",
                   Sha256Hex(SerializeDeterministic(scope_request), 16));
  const std::string prefix = AppealPrefix();
  std::string start_after;
  if (!request.page_token().empty()) {
    std::optional<std::string> position =
        DecodePageToken("page_token", scope, request.page_token(), &errors);
    if (position.has_value()) start_after = prefix + *position;
  }
  RETURN_IF_ERROR(errors.ToStatus());

  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  v1::ListAppealsResponse response;
  storage::ScanOptions scan_options;
  scan_options.start_after = start_after;
  std::unique_ptr<storage::ScanIterator> it =
      snapshot->Scan(Table::kAppeals, prefix, scan_options);
  int64_t examined = 0;
  std::string last_key;
  bool more = false;
  for (; it->Valid(); it->Next()) {
    if (response.appeals_size() >= page_size ||
        examined >= options_.max_examined_per_page) {
      more = true;
      break;
    }
    ++examined;
    last_key = std::string(it->key());
    v1::Appeal a;
    if (!a.ParseFromString(std::string(it->value()))) {
      return absl::DataLossError("an appeal record does not parse");
    }
    if (request.state() != v1::Appeal::STATE_UNSPECIFIED &&
        a.state() != request.state()) {
      continue;
    }
    if (!request.department().empty() &&
        a.department() != request.department()) {
      continue;
    }
    if (!request.claimant().empty() && a.claimant() != request.claimant()) {
      continue;
    }
    if (!request.owner().empty() && a.owner() != request.owner()) continue;
    if (request.assigned_to_me() && !AssignedTo(a, caller)) continue;
    if (!Visible(a, caller)) continue;
    *response.add_appeals() = std::move(a);
  }
  RETURN_IF_ERROR(it->status());
  if (more) {
    response.set_next_page_token(
        EncodePageToken(scope, last_key.substr(prefix.size())));
  }
  return response;
}

// ---------------------------------------------------------------------------
// Expire

absl::StatusOr<AppealDesk::ExpiryOutcome> AppealDesk::Expire(
    absl::string_view appeal_id) {
  const std::optional<DisputeSettings> settings =
      SettingsOf(*options_.rulesets);
  const Actor actor(kSweeperActor);
  ExpiryOutcome outcome = ExpiryOutcome::kNotDue;
  RETURN_IF_ERROR(RunMutation(
      *options_.store, *options_.allocator, options_.max_attempts,
      [&](storage::Transaction& txn, MutationEffects& effects) -> absl::Status {
        outcome = ExpiryOutcome::kNotDue;
        const absl::Time now = options_.clock->Now();
        ASSIGN_OR_RETURN(std::optional<v1::Appeal> found,
                         ReadAppealForUpdate(txn, appeal_id));
        if (!found.has_value() || !IsOpen(*found) ||
            FromProto(found->deadline()) > now) {
          effects.replay = true;  // nothing to write
          return absl::OkStatus();
        }
        const v1::Appeal before = *found;
        v1::Appeal appeal = *std::move(found);
        const v1::ExpiryAction action =
            settings.has_value() ? settings->on_expiry : v1::UPHOLD;
        const absl::Duration sla =
            settings.has_value() ? settings->sla : absl::Hours(24 * 7);
        const std::string past = absl::StrCat(
            "past its deadline ", RfcTime(FromProto(before.deadline())));
        if (action == v1::ESCALATE && appeal.state() == v1::Appeal::OPEN) {
          appeal.set_state(v1::Appeal::ESCALATED);
          *appeal.mutable_deadline() = ToProto(now + sla);
          AddEntry(appeal, now, kSweeperActor, v1::AppealEntry::EXPIRY,
                   absl::StrCat(past, ": on_expiry escalate"));
          AddEntry(
              appeal, now, kSweeperActor, v1::AppealEntry::ESCALATION,
              absl::StrCat("escalated to the managers of department ",
                           appeal.department(), " until ", RfcTime(now + sla)));
          RETURN_IF_ERROR(StageAppealStep(txn, effects, *options_.book,
                                          *options_.allocator, appeal, ""));
          RETURN_IF_ERROR(StageAppealRecord(txn, &before, appeal));
          outcome = ExpiryOutcome::kEscalated;
        } else {
          Ruling ruling;
          // An ESCALATED appeal that expires again is upheld.
          const bool escalated = appeal.state() == v1::Appeal::ESCALATED;
          ruling.decision = action == v1::OVERTURN && !escalated
                                ? v1::AppealVote::OVERTURN
                                : v1::AppealVote::UPHOLD;
          ruling.source = v1::Appeal::EXPIRY;
          ruling.ruled_by = std::string(kSweeperActor);
          ruling.reason =
              absl::StrCat(past, ": on_expiry ",
                           escalated ? "(escalated, expired again): upheld"
                           : action == v1::OVERTURN ? "overturn"
                                                    : "uphold");
          ruling.escalate_at_capacity = true;
          ruling.escalation_sla = sla;
          AddEntry(appeal, now, kSweeperActor, v1::AppealEntry::EXPIRY,
                   ruling.reason);
          RETURN_IF_ERROR(
              StageRuling(txn, effects, ruling, before, appeal, now));
          outcome = appeal.state() == v1::Appeal::UPHELD
                        ? ExpiryOutcome::kUpheld
                    : appeal.state() == v1::Appeal::OVERTURNED
                        ? ExpiryOutcome::kOverturned
                        : ExpiryOutcome::kEscalated;
        }
        return StageAuditRecord(
            txn, actor, kAppealExpiryRpc, "", AppealResources(appeal),
            absl::StrCat("OK: expired: ",
                         v1::Appeal::State_Name(appeal.state())),
            now);
      }));
  return outcome;
}

// ---------------------------------------------------------------------------
// GetAppealStats

absl::StatusOr<v1::GetAppealStatsResponse> AppealDesk::GetAppealStats(
    const v1::GetAppealStatsRequest& request) const {
  FieldErrors errors;
  CheckName("department", request.department(), false, rules::CheckDepartmentId,
            &errors);
  RETURN_IF_ERROR(errors.ToStatus());
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  std::map<std::string, v1::RepAppealStats> reps;
  struct Arbiter {
    v1::ArbiterAppealStats stats;
    absl::Duration total_to_vote;
  };
  std::map<std::string, Arbiter> arbiters;
  auto rep = [&](const std::string& id) -> v1::RepAppealStats& {
    v1::RepAppealStats& r = reps[id];
    r.set_rep(id);
    return r;
  };
  std::unique_ptr<storage::ScanIterator> it =
      snapshot->Scan(Table::kAppeals, AppealPrefix());
  for (; it->Valid(); it->Next()) {
    v1::Appeal a;
    if (!a.ParseFromString(std::string(it->value()))) {
      return absl::DataLossError("an appeal record does not parse");
    }
    if (!request.department().empty() &&
        a.department() != request.department()) {
      continue;
    }
    v1::RepAppealStats& claimant = rep(a.claimant());
    claimant.set_filed(claimant.filed() + 1);
    switch (a.state()) {
      case v1::Appeal::OVERTURNED:
        claimant.set_won(claimant.won() + 1);
        rep(a.owner()).set_overturned_against(
            rep(a.owner()).overturned_against() + 1);
        break;
      case v1::Appeal::UPHELD:
        claimant.set_lost(claimant.lost() + 1);
        rep(a.owner()).set_defended(rep(a.owner()).defended() + 1);
        break;
      case v1::Appeal::WITHDRAWN:
        claimant.set_withdrawn(claimant.withdrawn() + 1);
        break;
      default:
        claimant.set_pending(claimant.pending() + 1);
        break;
    }
    for (const v1::PanelSeat& seat : a.panel()) {
      Arbiter& arb = arbiters[seat.arbiter()];
      arb.stats.set_arbiter(seat.arbiter());
      arb.stats.set_seats(arb.stats.seats() + 1);
      const v1::AppealEntry* first_vote = nullptr;
      for (const v1::AppealEntry& e : a.timeline()) {
        if (e.kind() == v1::AppealEntry::VOTE && e.actor() == seat.arbiter()) {
          first_vote = &e;
          break;
        }
      }
      if (first_vote != nullptr) {
        arb.stats.set_votes(arb.stats.votes() + 1);
        arb.total_to_vote +=
            FromProto(first_vote->time()) - FromProto(seat.seat_time());
      } else if (a.state() == v1::Appeal::OPEN) {
        arb.stats.set_awaiting_vote(arb.stats.awaiting_vote() + 1);
      }
    }
  }
  RETURN_IF_ERROR(it->status());
  v1::GetAppealStatsResponse response;
  for (auto& [id, r] : reps) *response.add_reps() = std::move(r);
  for (auto& [id, arb] : arbiters) {
    if (arb.stats.votes() > 0) {
      const absl::Duration mean = arb.total_to_vote / arb.stats.votes();
      google::protobuf::Duration* d = arb.stats.mutable_mean_time_to_vote();
      d->set_seconds(absl::ToInt64Seconds(mean));
      d->set_nanos(static_cast<int32_t>(
          (mean - absl::Seconds(absl::ToInt64Seconds(mean))) /
          absl::Nanoseconds(1)));
    }
    *response.add_arbiters() = std::move(arb.stats);
  }
  return response;
}

}  // namespace custodian::server
