#include "rules/ruleset_diff.h"

#include <algorithm>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/duration.pb.h"
#include "rules/format.h"

namespace custodian::rules {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::Reflection;
using ValueChanges = ::google::protobuf::RepeatedPtrField<v1::ValueChange>;

void Add(ValueChanges* out, std::string field, std::string before,
         std::string after) {
  v1::ValueChange* c = out->Add();
  c->set_field(std::move(field));
  c->set_before(std::move(before));
  c->set_after(std::move(after));
}

// For each index of `to`: whether that item also appears in `from` and keeps
// its place, i.e. belongs to a longest common subsequence of the two id
// sequences. With unique ids this is a longest increasing subsequence of the
// shared items' `from` indexes taken in `to` order (O(n log n)). Ties go to
// the subsequence that keeps the earliest `from` items.
std::vector<bool> KeptInPlace(const std::vector<std::string>& from,
                              const std::vector<std::string>& to) {
  absl::flat_hash_map<std::string, int> from_index;
  for (int i = 0; i < static_cast<int>(from.size()); ++i) {
    from_index.try_emplace(from[i], i);
  }
  std::vector<int> to_index;  // positions in `to` of shared items
  std::vector<int> rank;      // their index in `from`
  for (int j = 0; j < static_cast<int>(to.size()); ++j) {
    auto it = from_index.find(to[j]);
    if (it == from_index.end()) continue;
    to_index.push_back(j);
    rank.push_back(it->second);
  }
  std::vector<int> tails;  // tails[k]: item ending the best run of length k+1
  std::vector<int> prev(rank.size(), -1);
  for (int k = 0; k < static_cast<int>(rank.size()); ++k) {
    auto it = std::lower_bound(
        tails.begin(), tails.end(), rank[k],
        [&](int item, int value) { return rank[item] < value; });
    if (it != tails.begin()) prev[k] = *(it - 1);
    if (it == tails.end()) {
      tails.push_back(k);
    } else {
      *it = k;
    }
  }
  std::vector<bool> kept(to.size(), false);
  for (int k = tails.empty() ? -1 : tails.back(); k >= 0; k = prev[k]) {
    kept[to_index[k]] = true;
  }
  return kept;
}

// A `when:` block's clauses grouped by key, in first-appearance order, each
// group rendered as its clauses' FormatClause joined with ", ".
using ClauseGroups = std::vector<std::pair<std::string, std::string>>;

ClauseGroups GroupClauses(const v1::Condition& c) {
  ClauseGroups out;
  absl::flat_hash_map<std::string, size_t> index;
  for (const v1::Clause& clause : c.clauses()) {
    if (clause.kind_case() == v1::Clause::KIND_NOT_SET) continue;
    auto [it, inserted] = index.try_emplace(ClauseKey(clause), out.size());
    if (inserted) {
      out.emplace_back(it->first, FormatClause(clause));
    } else {
      absl::StrAppend(&out[it->second].second, ", ", FormatClause(clause));
    }
  }
  return out;
}

// Calls fn(key, before, after) for each clause key whose clauses differ:
// keys of `b` in order, then keys only `a` has.
template <typename Fn>
void ForEachClauseChange(const v1::Condition& a, const v1::Condition& b,
                         Fn fn) {
  const ClauseGroups ga = GroupClauses(a);
  const ClauseGroups gb = GroupClauses(b);
  absl::flat_hash_map<std::string, const std::string*> in_a;
  for (const auto& [key, text] : ga) in_a.try_emplace(key, &text);
  absl::flat_hash_set<std::string> in_b;
  for (const auto& [key, text] : gb) {
    in_b.insert(key);
    auto it = in_a.find(key);
    const std::string before = it == in_a.end() ? "" : *it->second;
    if (before != text) fn(key, before, text);
  }
  for (const auto& [key, text] : ga) {
    if (!in_b.contains(key)) fn(key, text, "");
  }
}

bool SameCondition(const v1::Condition& a, const v1::Condition& b) {
  bool same = true;
  ForEachClauseChange(
      a, b, [&](const std::string&, const std::string&, const std::string&) {
        same = false;
      });
  return same;
}

std::string TargetText(bool has, const v1::Target& t) {
  return has ? FormatTarget(t) : "";
}

// The changes between two versions of a rule; `a` or `b` is null for a rule
// only one side has. `moved`: the rule left the common subsequence.
void RuleChanges(const v1::Rule* a, const v1::Rule* b, bool moved,
                 int old_position, int new_position, ValueChanges* out) {
  const v1::Rule& x = a != nullptr ? *a : v1::Rule::default_instance();
  const v1::Rule& y = b != nullptr ? *b : v1::Rule::default_instance();
  ForEachClauseChange(x.when(), y.when(),
                      [&](const std::string& key, const std::string& before,
                          const std::string& after) {
                        Add(out, absl::StrCat("when.", key), before, after);
                      });
  for (auto [name, has_x, tx, has_y, ty] :
       {std::tuple<const char*, bool, const v1::Target*, bool,
                   const v1::Target*>{"assign", x.has_assign(), &x.assign(),
                                      y.has_assign(), &y.assign()},
        {"overflow", x.has_overflow(), &x.overflow(), y.has_overflow(),
         &y.overflow()}}) {
    std::string before = TargetText(has_x, *tx);
    std::string after = TargetText(has_y, *ty);
    if (before != after) Add(out, name, std::move(before), std::move(after));
  }
  if (moved) {
    Add(out, "position", absl::StrCat(old_position),
        absl::StrCat(new_position));
  }
  if (x.description() != y.description()) {
    Add(out, "description", x.description(), y.description());
  }
}

void AddRule(v1::DepartmentDiff* dd, v1::ChangeKind kind, const v1::Rule* a,
             const v1::Rule* b, bool moved, int old_position,
             int new_position) {
  v1::RuleChange change;
  change.set_kind(kind);
  change.set_rule_id(b != nullptr ? b->id() : a->id());
  change.set_old_position(old_position);
  change.set_new_position(new_position);
  RuleChanges(a, b, moved, old_position, new_position,
              change.mutable_changes());
  if (kind == v1::MODIFIED && change.changes().empty()) return;
  *dd->add_rules() = std::move(change);
}

void SetFallback(v1::DepartmentDiff* dd, const v1::DepartmentRules* a,
                 const v1::DepartmentRules* b) {
  std::string before =
      a != nullptr ? TargetText(a->has_fallback(), a->fallback()) : "";
  std::string after =
      b != nullptr ? TargetText(b->has_fallback(), b->fallback()) : "";
  if (before == after) return;
  v1::ValueChange* c = dd->mutable_fallback();
  c->set_field("fallback");
  c->set_before(std::move(before));
  c->set_after(std::move(after));
}

// The diff of one department; `a` or `b` is null for a department only one
// side has.
v1::DepartmentDiff DiffDepartment(const v1::DepartmentRules* a,
                                  const v1::DepartmentRules* b) {
  v1::DepartmentDiff dd;
  dd.set_department(b != nullptr ? b->department() : a->department());
  dd.set_kind(a == nullptr   ? v1::ADDED
              : b == nullptr ? v1::REMOVED
                             : v1::MODIFIED);
  std::vector<std::string> from_ids, to_ids;
  if (a != nullptr) {
    for (const v1::Rule& r : a->rules()) from_ids.push_back(r.id());
  }
  if (b != nullptr) {
    for (const v1::Rule& r : b->rules()) to_ids.push_back(r.id());
  }
  absl::flat_hash_map<std::string, int> from_index;
  for (int i = 0; i < static_cast<int>(from_ids.size()); ++i) {
    from_index.try_emplace(from_ids[i], i);
  }
  const std::vector<bool> kept = KeptInPlace(from_ids, to_ids);
  absl::flat_hash_set<std::string> in_to;
  for (int j = 0; j < static_cast<int>(to_ids.size()); ++j) {
    in_to.insert(to_ids[j]);
    auto it = from_index.find(to_ids[j]);
    if (it == from_index.end()) {
      AddRule(&dd, v1::ADDED, nullptr, &b->rules(j), false, -1, j);
    } else {
      AddRule(&dd, v1::MODIFIED, &a->rules(it->second), &b->rules(j), !kept[j],
              it->second, j);
    }
  }
  for (int i = 0; i < static_cast<int>(from_ids.size()); ++i) {
    if (!in_to.contains(from_ids[i])) {
      AddRule(&dd, v1::REMOVED, &a->rules(i), nullptr, false, i, -1);
    }
  }
  SetFallback(&dd, a, b);
  return dd;
}

void DiffDepartments(const v1::Ruleset& from, const v1::Ruleset& to,
                     v1::RulesetDiff* out) {
  absl::flat_hash_map<std::string, const v1::DepartmentRules*> in_from;
  for (const v1::DepartmentRules& d : from.departments()) {
    in_from.try_emplace(d.department(), &d);
  }
  absl::flat_hash_set<std::string> in_to;
  for (const v1::DepartmentRules& d : to.departments()) {
    if (!in_to.insert(d.department()).second) continue;
    auto it = in_from.find(d.department());
    v1::DepartmentDiff dd =
        DiffDepartment(it == in_from.end() ? nullptr : it->second, &d);
    if (dd.kind() == v1::MODIFIED && dd.rules().empty() && !dd.has_fallback()) {
      continue;
    }
    *out->add_departments() = std::move(dd);
  }
  for (const v1::DepartmentRules& d : from.departments()) {
    if (in_to.insert(d.department()).second) {
      *out->add_departments() = DiffDepartment(&d, nullptr);
    }
  }
}

void SegmentChanges(const v1::Segment* a, const v1::Segment* b, bool moved,
                    int old_position, int new_position, ValueChanges* out) {
  if (a == nullptr || b == nullptr || !SameCondition(a->when(), b->when())) {
    Add(out, "when", a != nullptr ? FormatCondition(a->when()) : "",
        b != nullptr ? FormatCondition(b->when()) : "");
  }
  if (moved) {
    Add(out, "position", absl::StrCat(old_position),
        absl::StrCat(new_position));
  }
  const std::string da = a != nullptr ? a->description() : "";
  const std::string db = b != nullptr ? b->description() : "";
  if (da != db) Add(out, "description", da, db);
}

void DiffSegments(const v1::Ruleset& from, const v1::Ruleset& to,
                  v1::RulesetDiff* out) {
  std::vector<std::string> from_names, to_names;
  absl::flat_hash_map<std::string, int> from_index;
  for (int i = 0; i < from.segments_size(); ++i) {
    from_names.push_back(from.segments(i).name());
    from_index.try_emplace(from.segments(i).name(), i);
  }
  for (const v1::Segment& s : to.segments()) to_names.push_back(s.name());
  const std::vector<bool> kept = KeptInPlace(from_names, to_names);
  absl::flat_hash_set<std::string> in_to;
  for (int j = 0; j < to.segments_size(); ++j) {
    const v1::Segment& b = to.segments(j);
    in_to.insert(b.name());
    auto it = from_index.find(b.name());
    v1::SegmentChange change;
    change.set_name(b.name());
    if (it == from_index.end()) {
      change.set_kind(v1::ADDED);
      SegmentChanges(nullptr, &b, false, -1, j, change.mutable_changes());
    } else {
      change.set_kind(v1::MODIFIED);
      SegmentChanges(&from.segments(it->second), &b, !kept[j], it->second, j,
                     change.mutable_changes());
      if (change.changes().empty()) continue;
    }
    *out->add_segments() = std::move(change);
  }
  for (int i = 0; i < from.segments_size(); ++i) {
    const v1::Segment& a = from.segments(i);
    if (in_to.contains(a.name())) continue;
    v1::SegmentChange* change = out->add_segments();
    change->set_kind(v1::REMOVED);
    change->set_name(a.name());
    SegmentChanges(&a, nullptr, false, i, -1, change->mutable_changes());
  }
}

// Leaf-by-leaf differences of two messages of one type, at `path`.
void DiffMessage(const Message& a, const Message& b, const std::string& path,
                 ValueChanges* out) {
  const Descriptor* d = a.GetDescriptor();
  const Reflection* r = a.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const std::string field_path = absl::StrCat(path, ".", f->name());
    const bool message = f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
    if (f->is_repeated() && message) {
      const int n = r->FieldSize(a, f);
      const int m = r->FieldSize(b, f);
      for (int k = 0; k < std::max(n, m); ++k) {
        std::string before =
            k < n ? FormatFlow(r->GetRepeatedMessage(a, f, k)) : "";
        std::string after =
            k < m ? FormatFlow(r->GetRepeatedMessage(b, f, k)) : "";
        if (before != after) {
          Add(out, absl::StrCat(field_path, "[", k, "]"), std::move(before),
              std::move(after));
        }
      }
      continue;
    }
    if (!f->is_repeated() && message &&
        f->message_type() != google::protobuf::Duration::descriptor()) {
      const bool ha = r->HasField(a, f);
      const bool hb = r->HasField(b, f);
      if (ha && hb) {
        DiffMessage(r->GetMessage(a, f), r->GetMessage(b, f), field_path, out);
        continue;
      }
      if (!ha && !hb) continue;
    }
    std::string before = FormatFieldValue(a, f);
    std::string after = FormatFieldValue(b, f);
    if (before != after) {
      Add(out, field_path, std::move(before), std::move(after));
    }
  }
}

}  // namespace

v1::RulesetDiff DiffRulesets(const v1::Ruleset& from, const v1::Ruleset& to) {
  v1::RulesetDiff out;
  DiffDepartments(from, to, &out);
  DiffSegments(from, to, &out);
  DiffMessage(from.policies(), to.policies(), "policies",
              out.mutable_policies());
  if (from.name() != to.name()) {
    v1::ValueChange* name = out.mutable_name();
    name->set_field("ruleset");
    name->set_before(from.name());
    name->set_after(to.name());
  }
  if (from.description() != to.description()) {
    v1::ValueChange* description = out.mutable_description();
    description->set_field("description");
    description->set_before(from.description());
    description->set_after(to.description());
  }
  return out;
}

bool IsEmptyDiff(const v1::RulesetDiff& diff) {
  return diff.departments().empty() && diff.segments().empty() &&
         diff.policies().empty() && !diff.has_name() && !diff.has_description();
}

}  // namespace custodian::rules
