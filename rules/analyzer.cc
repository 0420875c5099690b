#include "rules/analyzer.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "rules/names.h"

namespace custodian::rules {
namespace {

using google::protobuf::util::MessageDifferencer;

std::string DepartmentPath(const v1::DepartmentRules& dept, int index) {
  if (dept.department().empty())
    return absl::StrCat("departments[", index, "]");
  return absl::StrCat("departments.", dept.department());
}

// Whether path `p` is under path `q`: equal, or starts with q + "/".
bool PathUnder(absl::string_view p, absl::string_view q) {
  return p == q ||
         (p.size() > q.size() && absl::StartsWith(p, q) && p[q.size()] == '/');
}

bool ValueEquals(const v1::Value& a, const v1::Value& b) {
  if (a.kind_case() != b.kind_case()) return false;
  switch (a.kind_case()) {
    case v1::Value::kStringValue:
      return a.string_value() == b.string_value();
    case v1::Value::kIntValue:
      return a.int_value() == b.int_value();
    case v1::Value::KIND_NOT_SET:
      return true;
  }
  return false;
}

bool ValueListEquals(const v1::ValueList& a, const v1::ValueList& b) {
  if (a.values_size() != b.values_size()) return false;
  for (int i = 0; i < a.values_size(); ++i) {
    if (!ValueEquals(a.values(i), b.values(i))) return false;
  }
  return true;
}

bool StringListEquals(const v1::StringList& a, const v1::StringList& b) {
  return std::equal(a.values().begin(), a.values().end(), b.values().begin(),
                    b.values().end());
}

bool DurationEquals(const google::protobuf::Duration& a,
                    const google::protobuf::Duration& b) {
  return a.seconds() == b.seconds() && a.nanos() == b.nanos();
}

// Structural equality of two operators (cheaper than reflection: the
// analyzer compares every pair of rules of a department).
bool OpEquals(const v1::Operator& x, const v1::Operator& y) {
  using Op = v1::Operator;
  if (x.op_case() != y.op_case()) return false;
  switch (x.op_case()) {
    case Op::kEq:
      return ValueEquals(x.eq(), y.eq());
    case Op::kNe:
      return ValueEquals(x.ne(), y.ne());
    case Op::kIn:
      return ValueListEquals(x.in(), y.in());
    case Op::kNotIn:
      return ValueListEquals(x.not_in(), y.not_in());
    case Op::kUnder:
      return StringListEquals(x.under(), y.under());
    case Op::kNotUnder:
      return StringListEquals(x.not_under(), y.not_under());
    case Op::kGt:
      return x.gt() == y.gt();
    case Op::kGte:
      return x.gte() == y.gte();
    case Op::kLt:
      return x.lt() == y.lt();
    case Op::kLte:
      return x.lte() == y.lte();
    case Op::kMatches:
      return x.matches() == y.matches();
    case Op::kExists:
      return x.exists() == y.exists();
    case Op::kAnyOf:
      return StringListEquals(x.any_of(), y.any_of());
    case Op::kAllOf:
      return StringListEquals(x.all_of(), y.all_of());
    case Op::kNoneOf:
      return StringListEquals(x.none_of(), y.none_of());
    case Op::kOlderThan:
      return DurationEquals(x.older_than(), y.older_than());
    case Op::kNewerThan:
      return DurationEquals(x.newer_than(), y.newer_than());
    case Op::OP_NOT_SET:
      return true;
  }
  return false;
}

bool ValueIn(const v1::Value& v, const v1::ValueList& list) {
  return std::any_of(list.values().begin(), list.values().end(),
                     [&](const v1::Value& w) { return ValueEquals(v, w); });
}

bool StringIn(const std::string& s, const v1::StringList& list) {
  return std::find(list.values().begin(), list.values().end(), s) !=
         list.values().end();
}

// Every string of `a` is in `b`.
bool StringSubset(const v1::StringList& a, const v1::StringList& b) {
  return std::all_of(a.values().begin(), a.values().end(),
                     [&](const std::string& s) { return StringIn(s, b); });
}

// Every path of `a` is under some path of `b`.
bool PathsUnder(const v1::StringList& a, const v1::StringList& b) {
  return std::all_of(
      a.values().begin(), a.values().end(), [&](const std::string& p) {
        return std::any_of(
            b.values().begin(), b.values().end(),
            [&](const std::string& q) { return PathUnder(p, q); });
      });
}

int64_t Seconds(const google::protobuf::Duration& d) { return d.seconds(); }

// Whether operator `x` holding implies operator `y` holds, both on the same
// field. Sound, not complete: false when unsure.
bool OpImplies(const v1::Operator& x, const v1::Operator& y) {
  using Op = v1::Operator;
  if (OpEquals(x, y)) return true;
  // Any condition but `exists: false` holds only on a present field.
  if (y.op_case() == Op::kExists && y.exists()) {
    return !(x.op_case() == Op::kExists && !x.exists());
  }
  switch (y.op_case()) {
    case Op::kIn:
      if (x.op_case() == Op::kEq) return ValueIn(x.eq(), y.in());
      if (x.op_case() == Op::kIn) {
        return std::all_of(
            x.in().values().begin(), x.in().values().end(),
            [&](const v1::Value& v) { return ValueIn(v, y.in()); });
      }
      return false;
    case Op::kNotIn:
      // Present and outside a superset: outside the subset too.
      if (x.op_case() == Op::kNotIn) {
        return std::all_of(
            y.not_in().values().begin(), y.not_in().values().end(),
            [&](const v1::Value& v) { return ValueIn(v, x.not_in()); });
      }
      return false;
    case Op::kUnder: {
      if (x.op_case() == Op::kUnder) return PathsUnder(x.under(), y.under());
      if (x.op_case() == Op::kEq && x.eq().has_string_value()) {
        v1::StringList one;
        one.add_values(x.eq().string_value());
        return PathsUnder(one, y.under());
      }
      if (x.op_case() == Op::kIn) {
        return std::all_of(x.in().values().begin(), x.in().values().end(),
                           [&](const v1::Value& v) {
                             return v.has_string_value() &&
                                    std::any_of(y.under().values().begin(),
                                                y.under().values().end(),
                                                [&](const std::string& q) {
                                                  return PathUnder(
                                                      v.string_value(), q);
                                                });
                           });
      }
      return false;
    }
    case Op::kNotUnder:
      // Under none of x's paths: under none of paths that are under them.
      if (x.op_case() == Op::kNotUnder) {
        return PathsUnder(y.not_under(), x.not_under());
      }
      return false;
    case Op::kGt:
    case Op::kGte: {
      // Lower bound implied: x's smallest possible value >= y's bound.
      const int64_t need = y.op_case() == Op::kGt ? y.gt() : y.gte();
      std::optional<int64_t> low;
      if (x.op_case() == Op::kGte) low = x.gte();
      if (x.op_case() == Op::kGt && x.gt() < INT64_MAX) low = x.gt() + 1;
      if (x.op_case() == Op::kEq && x.eq().has_int_value()) {
        low = x.eq().int_value();
      }
      if (!low) return false;
      return y.op_case() == Op::kGt ? *low > need : *low >= need;
    }
    case Op::kLt:
    case Op::kLte: {
      const int64_t need = y.op_case() == Op::kLt ? y.lt() : y.lte();
      std::optional<int64_t> high;
      if (x.op_case() == Op::kLte) high = x.lte();
      if (x.op_case() == Op::kLt && x.lt() > INT64_MIN) high = x.lt() - 1;
      if (x.op_case() == Op::kEq && x.eq().has_int_value()) {
        high = x.eq().int_value();
      }
      if (!high) return false;
      return y.op_case() == Op::kLt ? *high < need : *high <= need;
    }
    case Op::kAnyOf:
      if (x.op_case() == Op::kAnyOf)
        return StringSubset(x.any_of(), y.any_of());
      if (x.op_case() == Op::kAllOf) {
        return std::any_of(
            x.all_of().values().begin(), x.all_of().values().end(),
            [&](const std::string& t) { return StringIn(t, y.any_of()); });
      }
      return false;
    case Op::kAllOf:
      return x.op_case() == Op::kAllOf && StringSubset(y.all_of(), x.all_of());
    case Op::kNoneOf:
      return x.op_case() == Op::kNoneOf &&
             StringSubset(y.none_of(), x.none_of());
    case Op::kOlderThan:
      // Older than a longer time: older than a shorter one.
      return x.op_case() == Op::kOlderThan && x.older_than().nanos() == 0 &&
             y.older_than().nanos() == 0 &&
             Seconds(x.older_than()) >= Seconds(y.older_than());
    case Op::kNewerThan:
      return x.op_case() == Op::kNewerThan && x.newer_than().nanos() == 0 &&
             y.newer_than().nanos() == 0 &&
             Seconds(x.newer_than()) <= Seconds(y.newer_than());
    default:
      return false;
  }
}

// Whether segment condition `x` holding implies `y` holds.
bool SegmentImplies(const v1::SegmentCondition& x,
                    const v1::SegmentCondition& y) {
  using S = v1::SegmentCondition;
  switch (y.kind_case()) {
    case S::kName:
      if (x.kind_case() == S::kName) return x.name() == y.name();
      // Only `any_of: [name]` (possibly repeated) says the same.
      return x.kind_case() == S::kAnyOf && !x.any_of().values().empty() &&
             std::all_of(x.any_of().values().begin(), x.any_of().values().end(),
                         [&](const std::string& s) { return s == y.name(); });
    case S::kAnyOf:
      if (x.kind_case() == S::kName) return StringIn(x.name(), y.any_of());
      return x.kind_case() == S::kAnyOf && StringSubset(x.any_of(), y.any_of());
    case S::kNoneOf:
      return x.kind_case() == S::kNoneOf &&
             StringSubset(y.none_of(), x.none_of());
    case S::KIND_NOT_SET:
      break;
  }
  return false;
}

// Deepest any/all nesting the implication search follows; deeper: "unsure".
constexpr int kMaxDepth = 40;

bool CondImpliesCond(const v1::Condition& b, const v1::Condition& a, int depth);
bool CondImpliesClause(const v1::Condition& b, const v1::Clause& a, int depth);

// Whether clause `b` holding implies clause `a` holds.
bool ClauseImplies(const v1::Clause& b, const v1::Clause& a, int depth) {
  if (depth > kMaxDepth) return false;
  // Field clauses are compared operator by operator in CondImpliesClause;
  // `not` blocks only by equality.
  if (a.kind_case() == v1::Clause::kNot && b.kind_case() == v1::Clause::kNot) {
    return MessageDifferencer::Equals(b.not_(), a.not_());
  }
  if (a.kind_case() == v1::Clause::kSegment &&
      b.kind_case() == v1::Clause::kSegment) {
    return SegmentImplies(b.segment(), a.segment());
  }
  if (b.kind_case() == v1::Clause::kAll) {
    // Every sub-block holds: enough that one of them implies `a`.
    for (const v1::Condition& sub : b.all().conditions()) {
      if (CondImpliesClause(sub, a, depth + 1)) return true;
    }
    return false;
  }
  if (b.kind_case() == v1::Clause::kAny) {
    // Some sub-block holds: each of them must imply `a`.
    if (b.any().conditions().empty()) return false;
    for (const v1::Condition& sub : b.any().conditions()) {
      if (!CondImpliesClause(sub, a, depth + 1)) return false;
    }
    return true;
  }
  return false;
}

// Whether every clause of `b` holding implies clause `a` holds.
bool CondImpliesClause(const v1::Condition& b, const v1::Clause& a, int depth) {
  if (depth > kMaxDepth) return false;
  for (const v1::Clause& c : b.clauses()) {
    if (ClauseImplies(c, a, depth + 1)) return true;
  }
  switch (a.kind_case()) {
    case v1::Clause::kField: {
      // Each operator of `a` implied by some operator on the same field,
      // possibly from different clauses of `b`.
      const v1::FieldCondition& fa = a.field();
      if (fa.operators().empty()) return false;
      for (const v1::Operator& y : fa.operators()) {
        bool implied = false;
        for (const v1::Clause& c : b.clauses()) {
          if (c.kind_case() != v1::Clause::kField ||
              c.field().field() != fa.field()) {
            continue;
          }
          for (const v1::Operator& x : c.field().operators()) {
            if (OpImplies(x, y)) {
              implied = true;
              break;
            }
          }
          if (implied) break;
        }
        if (!implied) return false;
      }
      return true;
    }
    case v1::Clause::kAll:
      for (const v1::Condition& sub : a.all().conditions()) {
        if (!CondImpliesCond(b, sub, depth + 1)) return false;
      }
      return true;
    case v1::Clause::kAny:
      for (const v1::Condition& sub : a.any().conditions()) {
        if (CondImpliesCond(b, sub, depth + 1)) return true;
      }
      return false;
    default:
      return false;
  }
}

// Whether `b` holding implies `a` holds (every clause of `a` is implied).
bool CondImpliesCond(const v1::Condition& b, const v1::Condition& a,
                     int depth) {
  if (depth > kMaxDepth) return false;
  for (const v1::Clause& clause : a.clauses()) {
    if (!CondImpliesClause(b, clause, depth + 1)) return false;
  }
  return true;
}

class Analyzer {
 public:
  Analyzer(const v1::Ruleset& ruleset, const v1::Roster* roster,
           Diagnostics* diags)
      : ruleset_(ruleset), diags_(diags) {
    if (roster != nullptr) {
      for (const v1::Rep& r : roster->reps()) reps_.try_emplace(r.id(), &r);
      for (const v1::Team& t : roster->teams()) teams_.try_emplace(t.id(), &t);
    }
  }

  void Run() {
    for (int d = 0; d < ruleset_.departments_size(); ++d) {
      const v1::DepartmentRules& dept = ruleset_.departments(d);
      const std::string path = DepartmentPath(dept, d);
      const std::string rules_path = absl::StrCat(path, ".rules");
      for (int j = 0; j < dept.rules_size(); ++j) {
        const std::string rule_path = absl::StrCat(rules_path, "[", j, "]");
        Shadowing(dept, j, rule_path);
        const v1::Rule& rule = dept.rules(j);
        Target(rule.assign(), absl::StrCat(rule_path, ".assign"));
        if (rule.has_overflow()) {
          Target(rule.overflow(), absl::StrCat(rule_path, ".overflow"));
        }
      }
      if (dept.has_fallback()) {
        Target(dept.fallback(), absl::StrCat(path, ".fallback"));
      } else {
        diags_->Warning(path, absl::StrCat("department ", dept.department(),
                                           " has no fallback: customers no "
                                           "rule matches stay unowned "
                                           "(NO_MATCH)"));
      }
    }
    Panel();
  }

 private:
  // What the top level of a `when` constrains: a cheap necessary test for
  // implication (see MayImply).
  struct Shape {
    std::vector<std::string> fields;  // sorted, unique
    bool segment = false;
    bool negation = false;
    bool composite = false;  // has any/all blocks
  };

  static Shape ShapeOf(const v1::Condition& c) {
    Shape shape;
    for (const v1::Clause& clause : c.clauses()) {
      switch (clause.kind_case()) {
        case v1::Clause::kField:
          shape.fields.push_back(clause.field().field());
          break;
        case v1::Clause::kSegment:
          shape.segment = true;
          break;
        case v1::Clause::kNot:
          shape.negation = true;
          break;
        default:
          shape.composite = true;
          break;
      }
    }
    std::sort(shape.fields.begin(), shape.fields.end());
    shape.fields.erase(std::unique(shape.fields.begin(), shape.fields.end()),
                       shape.fields.end());
    return shape;
  }

  // false when `later` certainly does not imply `earlier`: without any/all
  // blocks, a field, segment or not clause is implied only by clauses of the
  // same kind (and field).
  static bool MayImply(const Shape& later, const Shape& earlier) {
    if (later.composite) return true;
    if (earlier.segment && !later.segment) return false;
    if (earlier.negation && !later.negation) return false;
    return std::includes(later.fields.begin(), later.fields.end(),
                         earlier.fields.begin(), earlier.fields.end());
  }

  void Shadowing(const v1::DepartmentRules& dept, int j,
                 const std::string& rule_path) {
    if (j == 0) {
      shapes_.clear();
    }
    shapes_.push_back(ShapeOf(dept.rules(j).when()));
    const v1::Rule& rule = dept.rules(j);
    for (int i = 0; i < j; ++i) {
      const v1::Rule& earlier = dept.rules(i);
      if (earlier.when().clauses().empty()) {
        diags_->Warning(rule_path,
                        absl::StrCat("rule ", Quote(rule.id()),
                                     " can never match: earlier rule ",
                                     Quote(earlier.id()), " (rules[", i,
                                     "]) has no conditions and matches every "
                                     "customer"));
        return;
      }
      if (MayImply(shapes_[j], shapes_[i]) &&
          CondImpliesCond(rule.when(), earlier.when(), 0)) {
        diags_->Warning(
            rule_path,
            absl::StrCat("rule ", Quote(rule.id()),
                         " can never match: earlier rule ", Quote(earlier.id()),
                         " (rules[", i, "]) matches every customer it would"));
        return;
      }
    }
  }

  // Counts the active members of a team.
  int ActiveMembers(const v1::Team& team) const {
    int active = 0;
    for (const v1::TeamMember& m : team.members()) {
      auto it = reps_.find(m.rep());
      if (it != reps_.end() && it->second->status() == v1::ACTIVE) ++active;
    }
    return active;
  }

  void Target(const v1::Target& t, const std::string& path) {
    if (t.kind_case() == v1::Target::kTeam) {
      auto it = teams_.find(t.team());
      if (it == teams_.end() || ActiveMembers(*it->second) > 0) return;
      diags_->Warning(absl::StrCat(path, ".team"),
                      absl::StrCat("team ", Quote(t.team()),
                                   " has no active member: customers routed "
                                   "here go to the overflow, then the "
                                   "fallback, else stay unowned "
                                   "(NO_CAPACITY)"));
    } else if (t.kind_case() == v1::Target::kRep) {
      auto it = reps_.find(t.rep());
      if (it == reps_.end() || it->second->status() == v1::ACTIVE) return;
      diags_->Warning(
          absl::StrCat(path, ".rep"),
          absl::StrCat("rep ", Quote(t.rep()), " is ",
                       it->second->status() == v1::AWAY ? "away" : "left",
                       ": customers routed here go to the "
                       "overflow, then the fallback, else stay "
                       "unowned (NO_CAPACITY)"));
    }
  }

  void Panel() {
    const v1::Policies& p = ruleset_.policies();
    if (!p.has_disputes()) return;
    const v1::PanelSpec& panel = p.disputes().panel();
    auto it = teams_.find(panel.team());
    if (it == teams_.end()) return;
    const int active = ActiveMembers(*it->second);
    if (active < panel.size()) {
      diags_->Warning(
          "policies.disputes.panel.team",
          absl::StrCat("team ", Quote(panel.team()), " has ", active,
                       " active member", active == 1 ? "" : "s",
                       " for a panel of ", panel.size(),
                       ": appeals cannot get a full panel"));
    }
  }

  const v1::Ruleset& ruleset_;
  Diagnostics* diags_;
  absl::flat_hash_map<std::string, const v1::Rep*> reps_;
  absl::flat_hash_map<std::string, const v1::Team*> teams_;
  std::vector<Shape> shapes_;  // of the current department's rules so far
};

}  // namespace

void AnalyzeRuleset(const v1::Ruleset& ruleset, const v1::Roster* roster,
                    Diagnostics* diags) {
  Analyzer(ruleset, roster, diags).Run();
}

}  // namespace custodian::rules
