#include "server/assignment_planner.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "rules/validator.h"

namespace custodian::server {
namespace {

using ::google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ToProtoTime(absl::Time t) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

// The prefix of the allocator team ids used to reserve capacity for a fixed
// rep (rep targets and transfers). Roster team ids are [a-z0-9-], so these
// never collide with a real team; their cursors are never stored.
constexpr absl::string_view kFixedRepTeamPrefix = "rep:";

// One target of a department's chain and which part of the decision it is.
struct ChainStep {
  // Into the decision or the ruleset, which outlive the chain.
  const v1::Target* target;
  absl::string_view used;  // "rule", "overflow" or "fallback"
};

// The chain of a decision (see the top of the header). `fallback` is the
// department's fallback (null when none). The steps point into `decision`
// and `*fallback`.
std::vector<ChainStep> BuildChain(const v1::DepartmentDecision& decision,
                                  const v1::Target* fallback) {
  std::vector<ChainStep> chain;
  switch (decision.kind()) {
    case v1::RULE:
      chain.push_back({&decision.target(), "rule"});
      if (decision.has_overflow()) {
        chain.push_back({&decision.overflow(), "overflow"});
      }
      if (fallback != nullptr) chain.push_back({fallback, "fallback"});
      break;
    case v1::FALLBACK:
      chain.push_back({&decision.target(), "fallback"});
      break;
    default:
      break;
  }
  return chain;
}

const v1::Target* DepartmentFallback(const v1::Ruleset& ruleset,
                                     absl::string_view department) {
  for (const v1::DepartmentRules& d : ruleset.departments()) {
    if (d.department() == department) {
      return d.has_fallback() ? &d.fallback() : nullptr;
    }
  }
  return nullptr;
}

bool TeamListsRep(const v1::Team& team, absl::string_view rep) {
  for (const v1::TeamMember& m : team.members()) {
    if (m.rep() == rep) return true;
  }
  return false;
}

bool IsRepOwned(const v1::Ownership& o) {
  return (o.state() == v1::Ownership::ACTIVE ||
          o.state() == v1::Ownership::PENDING_APPROVAL) &&
         !o.rep().empty();
}

// Whether `step` holds the owner of `o` (see "contained" in the header).
bool StepContains(const ChainStep& step, const v1::Ownership& o,
                  absl::string_view department, const RosterIndex& roster) {
  const v1::Target& t = *step.target;
  switch (t.kind_case()) {
    case v1::Target::kTeam: {
      if (!IsRepOwned(o)) return false;
      const v1::Team* team = roster.FindTeam(t.team());
      return team != nullptr && team->department() == department &&
             !team->has_pool() && TeamListsRep(*team, o.rep());
    }
    case v1::Target::kRep:
      return IsRepOwned(o) && o.rep() == t.rep();
    case v1::Target::kPool:
      return o.state() == v1::Ownership::POOLED && o.pool() == t.pool();
    default:
      return false;
  }
}

// BEST_MATCH terms: industry path segments, tags, segment names.
std::vector<std::string> MatchTerms(const v1::Customer& customer,
                                    const v1::Evaluation& evaluation) {
  std::vector<std::string> terms;
  if (!customer.industry().empty()) {
    for (absl::string_view s : absl::StrSplit(customer.industry(), '/')) {
      terms.emplace_back(s);
    }
  }
  for (const std::string& tag : customer.tags()) terms.push_back(tag);
  for (const std::string& s : evaluation.segments()) terms.push_back(s);
  return terms;
}

// What a chain walk produced.
struct Outcome {
  // state, rep, team, pool, unowned_reason and explanation's team,
  // strategy, skipped and target_used.
  v1::Ownership ownership;
  std::optional<CapacityReservation> reservation;
  bool moves_cursor = false;
};

class ChainWalker {
 public:
  ChainWalker(TeamAllocator* allocator, PickMode mode,
              absl::string_view department,
              const std::vector<std::string>& match_terms,
              const v1::Policies& policies, const RosterIndex& roster,
              const CooldownFn& in_cooldown, absl::string_view exclude_rep)
      : allocator_(allocator),
        mode_(mode),
        department_(department),
        match_terms_(match_terms),
        policies_(policies),
        roster_(roster),
        in_cooldown_(in_cooldown),
        exclude_rep_(exclude_rep) {}

  // Walks chain[from..] into `*result` (REQUIRES: a new Outcome; filled in
  // place, as an ownership moved between calls costs a construction, a swap
  // and a destruction each time); the rep `exclude_rep` is left out of the
  // first step's team (Reject).
  absl::Status Walk(const std::vector<ChainStep>& chain, size_t from,
                    Outcome* result) {
    Outcome& out = *result;
    v1::OwnershipExplanation* ex = out.ownership.mutable_explanation();
    bool described_team = false;
    for (size_t i = from; i < chain.size(); ++i) {
      const ChainStep& step = chain[i];
      const v1::Target& t = *step.target;
      switch (t.kind_case()) {
        case v1::Target::kTeam: {
          const v1::Team* team = roster_.FindTeam(t.team());
          if (team == nullptr || team->department() != department_ ||
              team->has_pool()) {
            break;
          }
          PickRequest request;
          request.department = department_;
          request.team_id = team->id();
          request.strategy = t.strategy() == v1::STRATEGY_UNSPECIFIED
                                 ? v1::ROUND_ROBIN
                                 : t.strategy();
          // Terms and skills matter to BEST_MATCH only (PickRequest).
          const bool best_match = request.strategy == v1::BEST_MATCH;
          if (best_match) request.match_terms = match_terms_;
          request.count_won = policies_.capacity().count_won();
          request.members.reserve(team->members_size());
          const absl::Span<const v1::Rep* const> reps =
              roster_.MemberReps(*team);
          for (int k = 0; k < team->members_size(); ++k) {
            const v1::TeamMember& m = team->members(k);
            if (i == from && !exclude_rep_.empty() && m.rep() == exclude_rep_) {
              continue;
            }
            request.members.push_back(
                MakeMember(m, reps[static_cast<size_t>(k)], best_match));
          }
          if (!described_team) {
            ex->set_team(team->id());
            ex->set_strategy(std::string(StrategyFileName(request.strategy)));
            described_team = true;
          }
          ASSIGN_OR_RETURN(PickResult pick, DoPick(request));
          AppendSkipped(pick, ex);
          if (pick.rep_id.empty()) break;
          ex->set_team(team->id());
          ex->set_strategy(std::string(StrategyFileName(request.strategy)));
          SetRepOwner(step, pick.rep_id, team->id(), result);
          out.reservation = std::move(pick.reservation);
          out.moves_cursor = out.reservation.has_value();
          return absl::OkStatus();
        }
        case v1::Target::kRep: {
          if (i == from && !exclude_rep_.empty() && t.rep() == exclude_rep_) {
            break;  // the rejected rep
          }
          ASSIGN_OR_RETURN(PickResult pick, PickFixedRep(t.rep()));
          AppendSkipped(pick, ex);
          if (pick.rep_id.empty()) break;
          ex->clear_team();
          ex->clear_strategy();
          SetRepOwner(step, pick.rep_id, "", result);
          out.reservation = std::move(pick.reservation);
          return absl::OkStatus();
        }
        case v1::Target::kPool: {
          const v1::Team* pool = roster_.FindTeam(t.pool());
          if (pool == nullptr || pool->department() != department_ ||
              !pool->has_pool()) {
            break;
          }
          ex->clear_team();
          ex->clear_strategy();
          ex->set_target_used(std::string(step.used));
          out.ownership.set_state(v1::Ownership::POOLED);
          out.ownership.set_pool(pool->id());
          return absl::OkStatus();
        }
        default:
          break;
      }
    }
    out.ownership.set_state(v1::Ownership::UNOWNED);
    out.ownership.set_unowned_reason(
        chain.empty() ? v1::Ownership::NO_MATCH : v1::Ownership::NO_CAPACITY);
    return absl::OkStatus();
  }

  // Picks `rep_id` alone, as for a fixed-rep target or a transfer: the
  // same eligibility (status, cooldown, capacity at its seat).
  absl::StatusOr<PickResult> PickFixedRep(absl::string_view rep_id) {
    const v1::Rep* rep = roster_.FindRep(rep_id);
    if (rep == nullptr) {
      PickResult result;
      result.skipped.push_back({std::string(rep_id), SkipReason::kLeft});
      return result;
    }
    std::optional<RosterIndex::Seat> seat =
        roster_.FindSeat(department_, rep_id);
    v1::TeamMember member;
    if (seat.has_value()) {
      member = *seat->member;
    } else {
      member.set_rep(std::string(rep_id));
    }
    PickRequest request;
    request.department = department_;
    request.team_id = absl::StrCat(kFixedRepTeamPrefix, rep_id);
    request.strategy = v1::ROUND_ROBIN;
    request.count_won = policies_.capacity().count_won();
    request.members.push_back(MakeMember(member, rep, /*with_skills=*/false));
    return DoPick(request);
  }

 private:
  // `rep`: m's rep in the roster (null: none). `with_skills`: fill in the
  // rep's skills (BEST_MATCH).
  PickMember MakeMember(const v1::TeamMember& m, const v1::Rep* rep,
                        bool with_skills) const {
    PickMember member;
    member.rep_id = m.rep();
    member.capacity = MemberCapacity(m, policies_);
    member.weight = m.weight() < 1 ? 1 : m.weight();
    member.status = rep == nullptr ? v1::LEFT : rep->status();
    if (member.status == v1::REP_STATUS_UNSPECIFIED) member.status = v1::ACTIVE;
    if (rep != nullptr && with_skills) {
      member.skills.assign(rep->skills().begin(), rep->skills().end());
    }
    member.in_cooldown =
        in_cooldown_ != nullptr && in_cooldown_(department_, m.rep());
    return member;
  }

  absl::StatusOr<PickResult> DoPick(const PickRequest& request) {
    if (mode_ == PickMode::kReserve) return allocator_->Pick(request);
    return allocator_->Peek(request);
  }

  static void AppendSkipped(const PickResult& pick,
                            v1::OwnershipExplanation* ex) {
    for (const SkippedCandidate& s : pick.skipped) {
      v1::SkippedCandidate* c = ex->add_skipped();
      c->set_rep(s.rep_id);
      c->set_reason(ToProtoSkipReason(s.reason));
    }
  }

  static void SetRepOwner(const ChainStep& step, const std::string& rep,
                          const std::string& team, Outcome* out) {
    out->ownership.set_state(step.target->requires_approval()
                                 ? v1::Ownership::PENDING_APPROVAL
                                 : v1::Ownership::ACTIVE);
    out->ownership.set_rep(rep);
    out->ownership.set_team(team);
    out->ownership.mutable_explanation()->set_target_used(
        std::string(step.used));
  }

  TeamAllocator* allocator_;
  PickMode mode_;
  std::string department_;
  const std::vector<std::string>& match_terms_;
  const v1::Policies& policies_;
  const RosterIndex& roster_;
  const CooldownFn& in_cooldown_;
  std::string exclude_rep_;
};

// Fills the fields every planned ownership has.
void Complete(const v1::Customer& customer,
              const v1::DepartmentDecision& decision,
              const v1::Evaluation& evaluation, int64_t ruleset_version,
              absl::Time now, v1::Ownership* o) {
  o->set_customer_id(customer.id());
  o->set_department(decision.department());
  o->set_rule_id(decision.rule_id());
  o->set_ruleset_version(ruleset_version);
  *o->mutable_since() = ToProtoTime(now);
  v1::OwnershipExplanation* ex = o->mutable_explanation();
  *ex->mutable_segments() = evaluation.segments();
  *ex->mutable_decision() = decision;
  ex->mutable_decision()->clear_rule_traces();
}

// `since` as OwnershipBook::Stage sets it: kept from `before` when the owner
// (rep and pool) is the same, else `now`.
void SetSince(const v1::Ownership* before, absl::Time now,
              v1::Ownership* after) {
  if (before != nullptr && before->rep() == after->rep() &&
      before->pool() == after->pool()) {
    *after->mutable_since() = before->since();
  } else {
    *after->mutable_since() = ToProtoTime(now);
  }
}

// Same owner and same deciding rule (what makes re-planning an unowned
// customer a no-op).
bool SameOutcome(const v1::Ownership& a, const v1::Ownership& b) {
  return a.state() == b.state() && a.rep() == b.rep() && a.team() == b.team() &&
         a.pool() == b.pool() && a.unowned_reason() == b.unowned_reason() &&
         a.rule_id() == b.rule_id();
}

}  // namespace

absl::string_view StrategyFileName(v1::Strategy strategy) {
  switch (strategy) {
    case v1::ROUND_ROBIN:
      return "round_robin";
    case v1::WEIGHTED:
      return "weighted";
    case v1::LEAST_LOADED:
      return "least_loaded";
    case v1::BEST_MATCH:
      return "best_match";
    default:
      return "";
  }
}

v1::SkippedCandidate::Reason ToProtoSkipReason(SkipReason reason) {
  switch (reason) {
    case SkipReason::kLeft:
      return v1::SkippedCandidate::LEFT;
    case SkipReason::kAway:
      return v1::SkippedCandidate::AWAY;
    case SkipReason::kCooldown:
      return v1::SkippedCandidate::COOLDOWN;
    case SkipReason::kAtCapacity:
      return v1::SkippedCandidate::AT_CAPACITY;
  }
  return v1::SkippedCandidate::REASON_UNSPECIFIED;
}

// ---------------------------------------------------------------------------
// RosterIndex

RosterIndex::RosterIndex(v1::Roster roster) : roster_(std::move(roster)) {
  Index();
}

RosterIndex::RosterIndex(RosterIndex&& other)
    : roster_(std::move(other.roster_)) {
  Index();
  other.Index();
}

RosterIndex& RosterIndex::operator=(RosterIndex&& other) {
  if (this != &other) {
    roster_ = std::move(other.roster_);
    Index();
    other.Index();
  }
  return *this;
}

void RosterIndex::Index() {
  departments_.clear();
  reps_.clear();
  teams_.clear();
  member_reps_.clear();
  for (int i = 0; i < roster_.departments_size(); ++i) {
    departments_.try_emplace(roster_.departments(i).id(), i);
  }
  for (int i = 0; i < roster_.reps_size(); ++i) {
    reps_.try_emplace(roster_.reps(i).id(), i);
  }
  for (int i = 0; i < roster_.teams_size(); ++i) {
    const v1::Team& team = roster_.teams(i);
    teams_.try_emplace(team.id(), i);
    std::vector<const v1::Rep*>& reps = member_reps_[&team];
    reps.reserve(static_cast<size_t>(team.members_size()));
    for (const v1::TeamMember& m : team.members()) {
      reps.push_back(FindRep(m.rep()));
    }
  }
}

bool RosterIndex::HasDepartment(absl::string_view id) const {
  return departments_.contains(id);
}

const v1::Rep* RosterIndex::FindRep(absl::string_view id) const {
  auto it = reps_.find(id);
  return it == reps_.end() ? nullptr : &roster_.reps(it->second);
}

const v1::Team* RosterIndex::FindTeam(absl::string_view id) const {
  auto it = teams_.find(id);
  return it == teams_.end() ? nullptr : &roster_.teams(it->second);
}

absl::Span<const v1::Rep* const> RosterIndex::MemberReps(
    const v1::Team& team) const {
  auto it = member_reps_.find(&team);
  if (it == member_reps_.end()) return {};
  return it->second;
}

std::optional<RosterIndex::Seat> RosterIndex::FindSeat(
    absl::string_view department, absl::string_view rep) const {
  for (const v1::Team& team : roster_.teams()) {
    if (team.department() != department || team.has_pool()) continue;
    for (const v1::TeamMember& m : team.members()) {
      if (m.rep() == rep) return Seat{&team, &m};
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Counting

const v1::Policies& DefaultPolicies() {
  static const v1::Policies* const kPolicies = [] {
    v1::Ruleset ruleset;
    rules::ApplyRulesetDefaults(&ruleset);
    return new v1::Policies(ruleset.policies());
  }();
  return *kPolicies;
}

int64_t MemberCapacity(const v1::TeamMember& member,
                       const v1::Policies& policies) {
  if (member.has_capacity()) return member.capacity();
  return policies.capacity().default_max_customers();
}

bool CountsTowardCapacity(const v1::Ownership& ownership) {
  return !ownership.rep().empty();
}

std::vector<OwnedDelta> OwnedDeltas(const v1::Ownership* before,
                                    const v1::Ownership& after) {
  const bool counted_before =
      before != nullptr && CountsTowardCapacity(*before);
  const bool counts_after = CountsTowardCapacity(after);
  std::vector<OwnedDelta> deltas;
  if (counted_before && counts_after && before->rep() == after.rep()) {
    return deltas;
  }
  if (counted_before) {
    deltas.push_back({after.department(), before->rep(), -1});
  }
  if (counts_after) deltas.push_back({after.department(), after.rep(), +1});
  return deltas;
}

// ---------------------------------------------------------------------------
// DepartmentPlan

bool DepartmentPlan::ReservationCounts() const {
  if (!reservation.has_value()) return false;
  for (const OwnedDelta& d : owned_deltas) {
    if (d.rep_id == reservation->rep_id() && d.delta > 0) return true;
  }
  return false;
}

std::optional<std::pair<std::string, int64_t>> DepartmentPlan::CursorAdd()
    const {
  if (!ReservationCounts() || !reservation_moves_cursor ||
      reservation->cursor_delta() == 0) {
    return std::nullopt;
  }
  return std::make_pair(TeamAllocator::CursorCounterKey(reservation->team_id()),
                        reservation->cursor_delta());
}

std::vector<OwnedDelta> DepartmentPlan::Adjustments() const {
  const bool covered = ReservationCounts();
  std::vector<OwnedDelta> out;
  for (const OwnedDelta& d : owned_deltas) {
    if (covered && d.rep_id == reservation->rep_id() && d.delta > 0) continue;
    out.push_back(d);
  }
  return out;
}

void DepartmentPlan::Finish(TeamAllocator& allocator) {
  if (finished) return;
  finished = true;
  const std::vector<OwnedDelta> adjustments = Adjustments();
  if (reservation.has_value()) {
    if (ReservationCounts()) {
      reservation->Commit();
    } else {
      reservation->Release();
    }
    reservation.reset();
  }
  for (const OwnedDelta& d : adjustments) {
    allocator.AdjustOwned(d.department, d.rep_id, d.delta);
  }
}

bool AssignmentPlan::changed() const {
  for (const DepartmentPlan& d : departments) {
    if (d.changed) return true;
  }
  return false;
}

void AssignmentPlan::Finish(TeamAllocator& allocator) {
  for (DepartmentPlan& d : departments) d.Finish(allocator);
}

// ---------------------------------------------------------------------------
// AssignmentPlanner

absl::StatusOr<AssignmentPlan> AssignmentPlanner::Plan(const PlanInput& input,
                                                       PickMode mode) const {
  if (input.customer == nullptr || input.ruleset == nullptr ||
      input.roster == nullptr) {
    return absl::InvalidArgumentError(
        "Plan needs a customer, a ruleset and a roster");
  }
  const v1::Customer& customer = *input.customer;
  const v1::Ruleset& ruleset = input.ruleset->ruleset();
  const v1::Policies& policies = ruleset.policies();
  const RosterIndex& roster = *input.roster;

  AssignmentPlan plan;
  plan.departments.reserve(static_cast<size_t>(ruleset.departments_size()));
  input.ruleset->Evaluate(customer, input.now, rules::EvaluateOptions(),
                          &plan.evaluation);
  const std::vector<std::string> terms = MatchTerms(customer, plan.evaluation);

  for (const v1::DepartmentDecision& decision : plan.evaluation.departments()) {
    const std::string& dept = decision.department();
    DepartmentPlan dp;
    dp.department = dept;
    dp.cause = v1::OwnershipEvent::RULE;
    const v1::Ownership* cur = nullptr;
    if (input.current != nullptr) {
      auto it = input.current->find(dept);
      if (it != input.current->end()) cur = &it->second;
    }
    if (cur != nullptr) dp.before = *cur;

    const std::vector<ChainStep> chain =
        BuildChain(decision, DepartmentFallback(ruleset, dept));
    ChainWalker walker(allocator_, mode, dept, terms, policies, roster,
                       input.in_cooldown, "");
    Outcome out;  // of fresh()
    auto fresh = [&]() -> absl::Status {
      RETURN_IF_ERROR(walker.Walk(chain, 0, &out));
      Complete(customer, decision, plan.evaluation, input.ruleset_version,
               input.now, &out.ownership);
      return absl::OkStatus();
    };
    auto take = [&] {
      dp.after = std::move(out.ownership);
      dp.changed = true;
      dp.reservation = std::move(out.reservation);
      dp.reservation_moves_cursor = out.moves_cursor;
    };
    auto keep = [&](bool drifted) {
      dp.after = *cur;
      dp.after.set_drifted(drifted);
      dp.changed = cur->drifted() != drifted;
    };

    if (cur == nullptr || cur->state() == v1::Ownership::UNOWNED ||
        cur->state() == v1::Ownership::STATE_UNSPECIFIED) {
      RETURN_IF_ERROR(fresh());
      if (cur != nullptr && SameOutcome(*cur, out.ownership)) {
        dp.after = *cur;  // nothing reserved: unowned has no rep
      } else {
        take();
      }
    } else if (cur->state() == v1::Ownership::FROZEN) {
      dp.after = *cur;
    } else {
      const v1::Rep* rep =
          cur->rep().empty() ? nullptr : roster.FindRep(cur->rep());
      const bool owner_gone =
          cur->state() == v1::Ownership::ORPHANED ||
          (IsRepOwned(*cur) && (rep == nullptr || rep->status() == v1::LEFT));
      bool contained = false;
      if (!owner_gone) {
        for (const ChainStep& step : chain) {
          if (StepContains(step, *cur, dept, roster)) {
            contained = true;
            break;
          }
        }
      }
      if (owner_gone) {
        RETURN_IF_ERROR(fresh());
        if (out.ownership.state() == v1::Ownership::UNOWNED &&
            out.ownership.unowned_reason() == v1::Ownership::NO_CAPACITY) {
          dp.after = *cur;
        } else {
          take();
        }
      } else if (contained) {
        keep(false);
      } else if (policies.on_drift() == v1::REASSIGN) {
        RETURN_IF_ERROR(fresh());
        if (out.ownership.state() == v1::Ownership::UNOWNED &&
            out.ownership.unowned_reason() == v1::Ownership::NO_CAPACITY) {
          keep(true);
        } else {
          take();
        }
      } else {
        keep(true);
      }
    }
    if (dp.changed) {
      SetSince(cur, input.now, &dp.after);
      dp.owned_deltas = OwnedDeltas(cur, dp.after);
    }
    plan.departments.push_back(std::move(dp));
  }
  return plan;
}

absl::StatusOr<DepartmentPlan> AssignmentPlanner::PlanReject(
    const RejectInput& input) const {
  if (input.customer == nullptr || input.pending == nullptr ||
      input.roster == nullptr) {
    return absl::InvalidArgumentError(
        "PlanReject needs a customer, an ownership and a roster");
  }
  const v1::Ownership& pending = *input.pending;
  if (pending.state() != v1::Ownership::PENDING_APPROVAL) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ownership of customer ", pending.customer_id(), " in department ",
        pending.department(), " is not PENDING_APPROVAL"));
  }
  const v1::Policies& policies = input.ruleset != nullptr
                                     ? input.ruleset->ruleset().policies()
                                     : DefaultPolicies();
  const std::string& dept = pending.department();
  const v1::DepartmentDecision& decision = pending.explanation().decision();
  const v1::Target* fallback =
      input.ruleset != nullptr
          ? DepartmentFallback(input.ruleset->ruleset(), dept)
          : nullptr;
  const std::vector<ChainStep> chain = BuildChain(decision, fallback);
  size_t from = 0;
  while (from < chain.size() &&
         chain[from].used != pending.explanation().target_used()) {
    ++from;
  }

  std::vector<std::string> terms;
  {
    v1::Evaluation segments_only;
    *segments_only.mutable_segments() = pending.explanation().segments();
    terms = MatchTerms(*input.customer, segments_only);
  }
  ChainWalker walker(allocator_, PickMode::kReserve, dept, terms, policies,
                     *input.roster, input.in_cooldown, pending.rep());
  Outcome out;
  RETURN_IF_ERROR(walker.Walk(chain, from, &out));
  if (chain.empty() || from >= chain.size()) {
    out.ownership.set_unowned_reason(v1::Ownership::NO_CAPACITY);
  }

  DepartmentPlan dp;
  dp.department = dept;
  dp.before = pending;
  dp.cause = v1::OwnershipEvent::REJECTION;
  dp.after = std::move(out.ownership);
  dp.after.set_customer_id(pending.customer_id());
  dp.after.set_department(dept);
  dp.after.set_rule_id(pending.rule_id());
  dp.after.set_ruleset_version(pending.ruleset_version());
  SetSince(&pending, input.now, &dp.after);
  v1::OwnershipExplanation* ex = dp.after.mutable_explanation();
  *ex->mutable_segments() = pending.explanation().segments();
  *ex->mutable_decision() = decision;
  dp.changed = true;
  dp.reservation = std::move(out.reservation);
  dp.reservation_moves_cursor = out.moves_cursor;
  dp.owned_deltas = OwnedDeltas(&pending, dp.after);
  return dp;
}

absl::StatusOr<PickResult> AssignmentPlanner::ReserveRep(
    absl::string_view department, absl::string_view rep_id,
    const RosterIndex& roster, const v1::Policies& policies,
    PickMode mode) const {
  const std::vector<std::string> no_terms;
  const CooldownFn no_cooldown;
  ChainWalker walker(allocator_, mode, department, no_terms, policies, roster,
                     no_cooldown, "");
  return walker.PickFixedRep(rep_id);
}

}  // namespace custodian::server
