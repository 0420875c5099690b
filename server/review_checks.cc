#include "server/review_checks.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/request_checks.h"

namespace custodian::server {
namespace {

absl::Time FromProto(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

bool Contains(const google::protobuf::RepeatedPtrField<std::string>& list,
              absl::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool Disjoint(const google::protobuf::RepeatedPtrField<std::string>& a,
              const google::protobuf::RepeatedPtrField<std::string>& b) {
  if (a.empty() || b.empty()) return false;
  for (const std::string& v : a) {
    if (Contains(b, v)) return false;
  }
  return true;
}

// Who holds an ownership: "rep X", "pool P" or "nobody".
std::string OwnerText(const v1::Ownership& o) {
  if (!o.rep().empty()) {
    return o.team().empty()
               ? absl::StrCat("rep ", o.rep())
               : absl::StrCat("rep ", o.rep(), " (team ", o.team(), ")");
  }
  if (!o.pool().empty()) return absl::StrCat("pool ", o.pool());
  return "nobody";
}

bool HasOwner(const v1::Ownership& o) {
  return o.state() != v1::Ownership::UNOWNED &&
         (!o.rep().empty() || !o.pool().empty());
}

bool SameOwner(const v1::Ownership& a, const v1::Ownership& b) {
  return a.state() == b.state() && a.rep() == b.rep() && a.pool() == b.pool();
}

v1::Finding Base(const CheckInput& in, v1::FindingKind kind,
                 absl::string_view department, const v1::Ownership* before) {
  v1::Finding f;
  f.set_id(
      FindingId(in.review_id, kind, in.record->customer().id(), department));
  f.set_review(in.review_name);
  f.set_kind(kind);
  f.set_customer_id(in.record->customer().id());
  f.set_department(std::string(department));
  if (before != nullptr) {
    f.set_team(before->team());
    f.set_rep(before->rep());
  }
  f.set_ownership_state(OwnershipStateName(before));
  return f;
}

void SetFreshPickFix(const DepartmentPlan* plan, v1::Finding* f) {
  if (plan != nullptr && HasOwner(plan->after) &&
      (f->rep().empty() || plan->after.rep() != f->rep())) {
    f->set_fixable(true);
    f->set_proposed_fix(absl::StrCat("re-assign to ", OwnerText(plan->after),
                                     " (rule ", plan->after.rule_id(), ")"));
  } else {
    f->set_fixable(false);
    f->set_proposed_fix("none: no eligible owner now");
  }
}

}  // namespace

CheckSet AllChecks() {
  CheckSet all = 0;
  for (int k = v1::DRIFT; k <= v1::UNOWNED; ++k) {
    all |= CheckBit(static_cast<v1::FindingKind>(k));
  }
  return all;
}

std::vector<v1::FindingKind> KindsOf(CheckSet checks) {
  std::vector<v1::FindingKind> kinds;
  for (int k = v1::DRIFT; k <= v1::UNOWNED; ++k) {
    if (checks & CheckBit(static_cast<v1::FindingKind>(k))) {
      kinds.push_back(static_cast<v1::FindingKind>(k));
    }
  }
  return kinds;
}

bool InScope(const v1::ReviewScope& scope, absl::string_view department,
             absl::string_view team, absl::string_view rep) {
  if (!scope.departments().empty() &&
      !Contains(scope.departments(), department))
    return false;
  if (!scope.teams().empty() && !Contains(scope.teams(), team)) return false;
  if (!scope.reps().empty() && !Contains(scope.reps(), rep)) return false;
  return true;
}

bool ScopesOverlap(const v1::ReviewScope& a, const v1::ReviewScope& b) {
  return !Disjoint(a.departments(), b.departments()) &&
         !Disjoint(a.teams(), b.teams()) && !Disjoint(a.reps(), b.reps());
}

std::string FindingId(absl::string_view review_id, v1::FindingKind kind,
                      absl::string_view customer_id,
                      absl::string_view department) {
  return Sha256Hex(absl::StrCat(review_id, "\n", static_cast<int>(kind), "\n",
                                customer_id, "\n", department),
                   8);
}

std::string OwnershipStateName(const v1::Ownership* ownership) {
  if (ownership == nullptr) return "none";
  return absl::AsciiStrToLower(v1::Ownership::State_Name(ownership->state()));
}

absl::Duration StaleAfter(const v1::Policies& policies) {
  if (policies.has_review() && policies.review().has_stale_after()) {
    const auto& d = policies.review().stale_after();
    return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
  }
  return absl::Hours(24 * 90);
}

std::vector<v1::Finding> CheckCustomer(const CheckInput& in) {
  std::vector<v1::Finding> out;
  const v1::Customer& customer = in.record->customer();
  // The departments: the plan's (ruleset order), else the stored ones in
  // name order.
  std::vector<std::string> departments;
  if (in.plan != nullptr) {
    for (const DepartmentPlan& d : in.plan->departments) {
      departments.push_back(d.department);
    }
  }
  std::vector<std::string> stored;
  for (const auto& [d, o] : *in.current) {
    if (std::find(departments.begin(), departments.end(), d) ==
        departments.end()) {
      stored.push_back(d);
    }
  }
  std::sort(stored.begin(), stored.end());
  departments.insert(departments.end(), stored.begin(), stored.end());

  for (const std::string& department : departments) {
    const v1::Ownership* before = nullptr;
    if (auto it = in.current->find(department); it != in.current->end()) {
      before = &it->second;
    }
    const DepartmentPlan* plan = nullptr;
    const v1::DepartmentDecision* decision = nullptr;
    if (in.plan != nullptr) {
      for (size_t i = 0; i < in.plan->departments.size(); ++i) {
        if (in.plan->departments[i].department == department) {
          plan = &in.plan->departments[i];
          if (static_cast<int>(i) < in.plan->evaluation.departments_size()) {
            decision = &in.plan->evaluation.departments(static_cast<int>(i));
          }
        }
      }
    }
    if (!InScope(*in.scope, department, before ? before->team() : "",
                 before ? before->rep() : "")) {
      continue;
    }
    if (before != nullptr && before->state() == v1::Ownership::FROZEN) {
      continue;
    }
    const bool unowned =
        before == nullptr || before->state() == v1::Ownership::UNOWNED;
    if (unowned) {
      if ((in.checks & CheckBit(v1::UNOWNED)) && decision != nullptr &&
          decision->kind() != v1::NO_MATCH) {
        v1::Finding f = Base(in, v1::UNOWNED, department, before);
        f.set_detail(
            absl::StrCat("no owner, but ",
                         decision->kind() == v1::FALLBACK
                             ? std::string("the fallback")
                             : absl::StrCat("rule ", decision->rule_id()),
                         " applies"));
        SetFreshPickFix(plan, &f);
        out.push_back(std::move(f));
      }
      continue;
    }
    const v1::Rep* rep =
        before->rep().empty() ? nullptr : in.roster->FindRep(before->rep());
    const bool orphaned = before->state() == v1::Ownership::ORPHANED ||
                          (!before->rep().empty() &&
                           (rep == nullptr || rep->status() == v1::LEFT));
    if (orphaned) {
      if (in.checks & CheckBit(v1::ORPHANED)) {
        v1::Finding f = Base(in, v1::ORPHANED, department, before);
        f.set_detail(
            before->state() == v1::Ownership::ORPHANED
                ? absl::StrCat("orphaned: rep ", before->rep(), " left")
                : absl::StrCat(
                      "rep ", before->rep(),
                      rep == nullptr ? " is not in the roster" : " has left"));
        SetFreshPickFix(plan, &f);
        out.push_back(std::move(f));
      }
      continue;
    }
    const absl::Time since = FromProto(before->since());
    if ((in.checks & CheckBit(v1::PENDING_TOO_LONG)) &&
        before->state() == v1::Ownership::PENDING_APPROVAL &&
        in.now - since >= in.pending_after) {
      v1::Finding f = Base(in, v1::PENDING_TOO_LONG, department, before);
      f.set_detail(absl::StrCat("awaiting approval since ",
                                absl::FormatTime(since), " (",
                                absl::FormatDuration(in.now - since), ")"));
      f.set_proposed_fix("none: a manager approves or rejects it");
      out.push_back(std::move(f));
    }
    if ((in.checks & CheckBit(v1::DRIFT)) && plan != nullptr &&
        (plan->after.drifted() ||
         (plan->changed && !SameOwner(plan->after, *before)))) {
      v1::Finding f = Base(in, v1::DRIFT, department, before);
      f.set_detail(absl::StrCat(
          "the active rules no longer hold ", OwnerText(*before), ": ",
          decision == nullptr || decision->kind() == v1::NO_MATCH
              ? std::string("no rule matches")
              : absl::StrCat(
                    "now ", decision->kind() == v1::FALLBACK
                                ? std::string("the fallback")
                                : absl::StrCat("rule ", decision->rule_id()))));
      f.set_fixable(true);
      f.set_proposed_fix(
          plan->changed && !plan->after.drifted()
              ? absl::StrCat("re-route to ", OwnerText(plan->after))
              : std::string("re-route by a fresh pick of the active rules"));
      out.push_back(std::move(f));
    }
    if ((in.checks & CheckBit(v1::STALE)) &&
        before->state() == v1::Ownership::ACTIVE) {
      const absl::Time last = customer.has_last_activity_time()
                                  ? FromProto(customer.last_activity_time())
                                  : since;
      const absl::Duration stale_after = StaleAfter(*in.policies);
      if (in.now - last >= stale_after) {
        v1::Finding f = Base(in, v1::STALE, department, before);
        f.set_detail(absl::StrCat("no activity since ", absl::FormatTime(last),
                                  " (stale after ",
                                  absl::FormatDuration(stale_after), ")"));
        f.set_proposed_fix("none: follow up, or release to a pool");
        out.push_back(std::move(f));
      }
    }
  }
  return out;
}

v1::Finding OverCapacityFinding(absl::string_view review_name,
                                absl::string_view review_id,
                                const v1::Ownership& ownership, int64_t owned,
                                int64_t capacity) {
  v1::Finding f;
  f.set_id(FindingId(review_id, v1::OVER_CAPACITY, ownership.customer_id(),
                     ownership.department()));
  f.set_review(std::string(review_name));
  f.set_kind(v1::OVER_CAPACITY);
  f.set_customer_id(ownership.customer_id());
  f.set_department(ownership.department());
  f.set_team(ownership.team());
  f.set_rep(ownership.rep());
  f.set_ownership_state(OwnershipStateName(&ownership));
  f.set_detail(absl::StrCat("rep ", ownership.rep(), " owns ", owned,
                            " customers, capacity ", capacity,
                            "; this one has among the least-recent activity"));
  f.set_fixable(true);
  f.set_proposed_fix("re-assign by a fresh pick (the rep is passed over)");
  return f;
}

}  // namespace custodian::server
