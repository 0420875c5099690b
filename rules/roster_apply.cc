#include "rules/roster_apply.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rules/diagnostics.h"
#include "rules/format.h"
#include "rules/validator.h"

namespace custodian::rules {
namespace {

using ValueChanges = ::google::protobuf::RepeatedPtrField<v1::ValueChange>;

void Add(ValueChanges* out, std::string field, std::string before,
         std::string after) {
  v1::ValueChange* c = out->Add();
  c->set_field(std::move(field));
  c->set_before(std::move(before));
  c->set_after(std::move(after));
}

v1::RosterChange Change(v1::ChangeKind kind, absl::string_view collection,
                        absl::string_view id) {
  v1::RosterChange change;
  change.set_kind(kind);
  change.set_resource(absl::StrCat(collection, "/", id));
  return change;
}

std::string StatusName(v1::RepStatus status) {
  const auto* value = v1::RepStatus_descriptor()->FindValueByNumber(status);
  return value == nullptr ? absl::StrCat(status)
                          : absl::AsciiStrToLower(value->name());
}

// A list of strings as a flow list, "" when empty.
std::string FlowList(const std::vector<std::string>& items) {
  v1::StringList list;
  for (const std::string& s : items) list.add_values(s);
  return FormatFieldValue(
      list, v1::StringList::descriptor()->FindFieldByName("values"));
}

std::string Skills(const v1::Rep& rep) {
  return FlowList({rep.skills().begin(), rep.skills().end()});
}

std::string Capacity(const v1::TeamMember& m) {
  return m.has_capacity() ? absl::StrCat(m.capacity()) : "";
}

std::string Cooldown(const v1::PoolSettings& p) {
  return p.has_cooldown() ? FormatDuration(p.cooldown()) : "";
}

void RepChanges(const v1::Rep& a, const v1::Rep& b, ValueChanges* out) {
  if (a.name() != b.name()) Add(out, "name", a.name(), b.name());
  if (a.status() != b.status()) {
    Add(out, "status", StatusName(a.status()), StatusName(b.status()));
  }
  std::string skills_a = Skills(a);
  std::string skills_b = Skills(b);
  if (skills_a != skills_b) {
    Add(out, "skills", std::move(skills_a), std::move(skills_b));
  }
}

void TeamChanges(const v1::Team& a, const v1::Team& b, ValueChanges* out) {
  if (a.department() != b.department()) {
    Add(out, "department", a.department(), b.department());
  }
  absl::flat_hash_map<std::string, const v1::TeamMember*> in_a;
  for (const v1::TeamMember& m : a.members()) in_a.try_emplace(m.rep(), &m);
  absl::flat_hash_set<std::string> in_b;
  std::vector<std::string> shared_b;  // shared reps in b's order
  for (const v1::TeamMember& m : b.members()) {
    in_b.insert(m.rep());
    const std::string member = absl::StrCat("members[", m.rep(), "]");
    auto it = in_a.find(m.rep());
    if (it == in_a.end()) {
      Add(out, member, "", FormatTeamMember(m));
      continue;
    }
    shared_b.push_back(m.rep());
    const v1::TeamMember& old = *it->second;
    if (Capacity(old) != Capacity(m)) {
      Add(out, absl::StrCat(member, ".capacity"), Capacity(old), Capacity(m));
    }
    if (old.weight() != m.weight()) {
      Add(out, absl::StrCat(member, ".weight"), absl::StrCat(old.weight()),
          absl::StrCat(m.weight()));
    }
  }
  std::vector<std::string> shared_a;  // shared reps in a's order
  for (const v1::TeamMember& m : a.members()) {
    if (in_b.contains(m.rep())) {
      shared_a.push_back(m.rep());
    } else {
      Add(out, absl::StrCat("members[", m.rep(), "]"), FormatTeamMember(m), "");
    }
  }
  if (shared_a != shared_b) {
    std::vector<std::string> all_a, all_b;
    for (const v1::TeamMember& m : a.members()) all_a.push_back(m.rep());
    for (const v1::TeamMember& m : b.members()) all_b.push_back(m.rep());
    Add(out, "members", FlowList(all_a), FlowList(all_b));
  }
  if (a.has_pool() != b.has_pool()) {
    Add(out, "pool", a.has_pool() ? FormatPoolSettings(a.pool()) : "",
        b.has_pool() ? FormatPoolSettings(b.pool()) : "");
  } else if (a.has_pool()) {
    if (a.pool().claim_limit_per_day() != b.pool().claim_limit_per_day()) {
      Add(out, "pool.claim_limit_per_day",
          absl::StrCat(a.pool().claim_limit_per_day()),
          absl::StrCat(b.pool().claim_limit_per_day()));
    }
    if (Cooldown(a.pool()) != Cooldown(b.pool())) {
      Add(out, "pool.cooldown", Cooldown(a.pool()), Cooldown(b.pool()));
    }
  }
}

// Diffs one collection (departments, reps or teams) matched by id: calls
// `modified(old, new, changes)` for items both sides have, and reports items
// only `file` has as ADDED and, when `removed` is true, items only
// `current` has as REMOVED.
template <typename T, typename IdFn, typename ModifiedFn>
void DiffCollection(const google::protobuf::RepeatedPtrField<T>& current,
                    const google::protobuf::RepeatedPtrField<T>& file,
                    absl::string_view collection, IdFn id, bool removed,
                    ModifiedFn modified, std::vector<v1::RosterChange>* out) {
  absl::flat_hash_map<std::string, const T*> in_current;
  for (const T& item : current) in_current.try_emplace(id(item), &item);
  absl::flat_hash_set<std::string> in_file;
  for (const T& item : file) {
    in_file.insert(id(item));
    auto it = in_current.find(id(item));
    if (it == in_current.end()) {
      out->push_back(Change(v1::ADDED, collection, id(item)));
      continue;
    }
    v1::RosterChange change = Change(v1::MODIFIED, collection, id(item));
    modified(*it->second, item, change.mutable_changes());
    if (!change.changes().empty()) out->push_back(std::move(change));
  }
  if (!removed) return;
  for (const T& item : current) {
    if (!in_file.contains(id(item))) {
      out->push_back(Change(v1::REMOVED, collection, id(item)));
    }
  }
}

// The department and rule a ruleset field path points into:
// `departments.<id>.rules[<i>]...` or `departments.<id>.fallback...`.
void Locate(const v1::Ruleset& ruleset, BrokenRule* broken) {
  constexpr absl::string_view kPrefix = "departments.";
  absl::string_view path = broken->field_path;
  if (!absl::StartsWith(path, kPrefix)) return;
  path.remove_prefix(kPrefix.size());
  const size_t end = path.find_first_of(".[");
  const absl::string_view department = path.substr(0, end);
  broken->department = std::string(department);
  if (end == absl::string_view::npos) return;
  const absl::string_view tail = path.substr(end);
  if (absl::StartsWith(tail, ".fallback")) {
    broken->rule_id = "fallback";
    return;
  }
  constexpr absl::string_view kRules = ".rules[";
  if (!absl::StartsWith(tail, kRules)) return;
  const absl::string_view index_text =
      tail.substr(kRules.size(), tail.find(']') - kRules.size());
  int index = 0;
  if (!absl::SimpleAtoi(index_text, &index)) return;
  for (const v1::DepartmentRules& dept : ruleset.departments()) {
    if (dept.department() != department) continue;
    if (index >= 0 && index < dept.rules_size()) {
      broken->rule_id = dept.rules(index).id();
    }
    return;
  }
}

}  // namespace

RosterApplyResult ComputeRosterApply(const v1::Roster& current,
                                     const v1::Roster& file) {
  RosterApplyResult result;
  result.roster = file;
  std::vector<v1::RosterChange>& changes = result.changes;

  DiffCollection(
      current.departments(), file.departments(), "departments",
      [](const v1::Department& d) { return d.id(); }, /*removed=*/true,
      [](const v1::Department& a, const v1::Department& b, ValueChanges* out) {
        if (a.name() != b.name()) Add(out, "name", a.name(), b.name());
      },
      &changes);

  DiffCollection(
      current.reps(), file.reps(), "reps",
      [](const v1::Rep& r) { return r.id(); }, /*removed=*/false, RepChanges,
      &changes);
  absl::flat_hash_set<std::string> named;
  for (const v1::Rep& r : file.reps()) named.insert(r.id());
  for (const v1::Rep& r : current.reps()) {
    if (!named.insert(r.id()).second) continue;
    v1::Rep* kept = result.roster.add_reps();
    *kept = r;
    if (r.status() == v1::LEFT) continue;
    kept->set_status(v1::LEFT);
    v1::RosterChange change = Change(v1::MODIFIED, "reps", r.id());
    Add(change.mutable_changes(), "status", StatusName(r.status()),
        StatusName(v1::LEFT));
    changes.push_back(std::move(change));
  }

  DiffCollection(
      current.teams(), file.teams(), "teams",
      [](const v1::Team& t) { return t.id(); }, /*removed=*/true, TeamChanges,
      &changes);

  std::sort(changes.begin(), changes.end(),
            [](const v1::RosterChange& a, const v1::RosterChange& b) {
              return a.resource() < b.resource();
            });
  return result;
}

std::string BrokenRule::ToString() const {
  if (rule_id.empty() || rule_id == "fallback") {
    return absl::StrCat(field_path, ": ", message);
  }
  return absl::StrCat(field_path, " (rule ", rule_id, "): ", message);
}

std::vector<BrokenRule> RulesBrokenByRoster(const v1::Ruleset& active,
                                            const v1::Roster& new_roster) {
  Diagnostics baseline("ruleset", nullptr);
  ValidateRuleset(active, nullptr, &baseline);
  absl::flat_hash_set<std::string> known;
  for (const Diagnostic& d : baseline.items()) {
    known.insert(absl::StrCat(d.field_path, "\n", d.message));
  }
  Diagnostics diags("ruleset", nullptr);
  ValidateRuleset(active, &new_roster, &diags);
  std::vector<BrokenRule> out;
  for (const Diagnostic& d : diags.items()) {
    if (d.severity != Diagnostic::Severity::kError) continue;
    if (known.contains(absl::StrCat(d.field_path, "\n", d.message))) continue;
    BrokenRule broken;
    broken.field_path = d.field_path;
    broken.message = d.message;
    Locate(active, &broken);
    out.push_back(std::move(broken));
  }
  return out;
}

std::string SummarizeBrokenRules(const std::vector<BrokenRule>& broken,
                                 size_t max_items) {
  if (broken.empty()) return "";
  std::vector<std::string> items;
  for (size_t i = 0; i < broken.size() && i < max_items; ++i) {
    items.push_back(broken[i].ToString());
  }
  std::string out =
      absl::StrCat("the roster would break the active ruleset (", broken.size(),
                   broken.size() == 1 ? " problem): " : " problems): ",
                   absl::StrJoin(items, "; "));
  if (broken.size() > items.size()) {
    absl::StrAppend(&out, "; and ", broken.size() - items.size(), " more");
  }
  return out;
}

}  // namespace custodian::rules
