#include "rules/validator.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "re2/re2.h"
#include "rules/durations.h"
#include "rules/fields.h"
#include "rules/names.h"

namespace custodian::rules {
namespace {

// Deepest nesting of any/all/not blocks (the loader enforces the same).
constexpr int kMaxConditionDepth = 32;
// Longest free text of descriptions and string operands.
constexpr size_t kMaxDescriptionBytes = 4096;
constexpr size_t kMaxValueBytes = 1024;
constexpr size_t kMaxNameBytes = 256;

std::string Child(absl::string_view path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

std::string Item(absl::string_view path, int index) {
  return absl::StrCat(path, "[", index, "]");
}

// The field path of a department: keyed by id, as in files.
std::string DepartmentPath(const v1::DepartmentRules& dept, int index) {
  if (dept.department().empty()) return Item("departments", index);
  return Child("departments", dept.department());
}

std::string KnownFieldNames() {
  return "id, name, region, industry, customer_type, sales_stage, value_tier, "
         "annual_revenue, employee_count, tags, created_time, "
         "last_activity_time, attributes.<key>";
}

std::string AllowedOperators(FieldType type) {
  std::vector<absl::string_view> names;
  for (int op = v1::Operator::kEq; op <= v1::Operator::kNewerThan; ++op) {
    auto c = static_cast<v1::Operator::OpCase>(op);
    if (OperatorFits(c, type)) names.push_back(OperatorName(c));
  }
  return absl::StrJoin(names, ", ");
}

// Reports `message` prefixed with `what` unless it is empty (the Check*
// convention of names.h).
void Report(Diagnostics* diags, absl::string_view path, std::string message) {
  if (!message.empty()) diags->Error(path, std::move(message));
}

// Roster lookups shared by ruleset validation.
struct RosterIndex {
  explicit RosterIndex(const v1::Roster& roster) {
    for (const v1::Department& d : roster.departments()) {
      departments.insert(d.id());
    }
    for (const v1::Rep& r : roster.reps()) reps.try_emplace(r.id(), &r);
    for (const v1::Team& t : roster.teams()) {
      teams.try_emplace(t.id(), &t);
      for (const v1::TeamMember& m : t.members()) {
        rep_departments.insert(absl::StrCat(m.rep(), "\n", t.department()));
      }
    }
  }
  absl::flat_hash_set<std::string> departments;
  absl::flat_hash_map<std::string, const v1::Rep*> reps;
  absl::flat_hash_map<std::string, const v1::Team*> teams;
  // "rep\ndepartment" for every rep that is a member of a team of it.
  absl::flat_hash_set<std::string> rep_departments;
};

class RulesetValidator {
 public:
  RulesetValidator(const v1::Ruleset& ruleset, const v1::Roster* roster,
                   Diagnostics* diags)
      : ruleset_(ruleset), diags_(diags) {
    if (roster != nullptr) roster_.emplace(*roster);
  }

  void Run() {
    if (ruleset_.name().empty()) {
      diags_->Error("ruleset", "ruleset name is required");
    } else {
      Report(diags_, "ruleset", CheckRulesetName(ruleset_.name()));
    }
    Text("description", ruleset_.description(), kMaxDescriptionBytes);
    Segments();
    Departments();
    Policies();
  }

 private:
  void Text(absl::string_view path, absl::string_view text, size_t max) {
    std::string error = CheckText(text, max);
    if (!error.empty()) diags_->Error(path, error);
  }

  void Segments() {
    for (int i = 0; i < ruleset_.segments_size(); ++i) {
      const v1::Segment& s = ruleset_.segments(i);
      const std::string path = Item("segments", i);
      if (s.name().empty()) {
        diags_->Error(Child(path, "name"), "segment name is required");
      } else if (std::string e = CheckSegmentName(s.name()); !e.empty()) {
        diags_->Error(Child(path, "name"), e);
      } else if (auto [it, inserted] = segments_.try_emplace(s.name(), i);
                 !inserted) {
        diags_->Error(
            Child(path, "name"),
            absl::StrCat("duplicate segment name ", Quote(s.name()),
                         " (first defined at segments[", it->second, "])"));
      }
      Text(Child(path, "description"), s.description(), kMaxDescriptionBytes);
    }
    // Conditions after every name is known, so that a use of a later
    // segment is reported as such rather than as undefined.
    for (int i = 0; i < ruleset_.segments_size(); ++i) {
      Condition(ruleset_.segments(i).when(), Child(Item("segments", i), "when"),
                i, 0);
    }
  }

  void Departments() {
    absl::flat_hash_map<std::string, int> seen;
    for (int d = 0; d < ruleset_.departments_size(); ++d) {
      const v1::DepartmentRules& dept = ruleset_.departments(d);
      const std::string path = DepartmentPath(dept, d);
      bool id_ok = DepartmentId(path, dept.department());
      if (id_ok) {
        auto [it, inserted] = seen.try_emplace(dept.department(), d);
        if (!inserted) {
          diags_->Error(path, absl::StrCat("duplicate department ",
                                           Quote(dept.department())));
        }
      }
      absl::flat_hash_map<std::string, int> rule_ids;
      for (int r = 0; r < dept.rules_size(); ++r) {
        const v1::Rule& rule = dept.rules(r);
        const std::string rule_path = Item(Child(path, "rules"), r);
        const std::string id_path = Child(rule_path, "id");
        if (rule.id().empty()) {
          diags_->Error(id_path, "rule id is required");
        } else if (std::string e = CheckRuleId(rule.id()); !e.empty()) {
          diags_->Error(id_path, e);
        } else if (auto [it, inserted] = rule_ids.try_emplace(rule.id(), r);
                   !inserted) {
          diags_->Error(
              id_path,
              absl::StrCat("duplicate rule id ", Quote(rule.id()),
                           " (first used by rules[", it->second, "])"));
        }
        Text(Child(rule_path, "description"), rule.description(),
             kMaxDescriptionBytes);
        Condition(rule.when(), Child(rule_path, "when"), -1, 0);
        if (!rule.has_assign()) {
          diags_->Error(Child(rule_path, "assign"), "assign is required");
        } else {
          Target(rule.assign(), Child(rule_path, "assign"), dept.department());
        }
        if (rule.has_overflow()) {
          const std::string overflow_path = Child(rule_path, "overflow");
          if (rule.has_assign() &&
              rule.assign().kind_case() == v1::Target::kPool) {
            diags_->Error(overflow_path,
                          "overflow is used only when assign names a team or "
                          "a rep; this rule assigns to a pool");
          }
          Target(rule.overflow(), overflow_path, dept.department());
        }
      }
      if (dept.has_fallback()) {
        Target(dept.fallback(), Child(path, "fallback"), dept.department());
      }
    }
  }

  // Syntax and, with a roster, existence of a department id at `path`.
  bool DepartmentId(const std::string& path, const std::string& id) {
    if (id.empty()) {
      diags_->Error(path, "department is required");
      return false;
    }
    if (std::string e = CheckDepartmentId(id); !e.empty()) {
      diags_->Error(path, e);
      return false;
    }
    if (roster_ && !roster_->departments.contains(id)) {
      diags_->Error(path, absl::StrCat("unknown department ", Quote(id),
                                       " (not in the roster)"));
      return false;
    }
    return true;
  }

  void Target(const v1::Target& t, const std::string& path,
              const std::string& department) {
    switch (t.kind_case()) {
      case v1::Target::KIND_NOT_SET:
        diags_->Error(path,
                      "target names none of team, rep or pool; a target "
                      "names exactly one of them");
        break;
      case v1::Target::kTeam:
        TeamRef(t.team(), Child(path, "team"), department, /*pool=*/false);
        break;
      case v1::Target::kPool:
        TeamRef(t.pool(), Child(path, "pool"), department, /*pool=*/true);
        break;
      case v1::Target::kRep:
        RepRef(t.rep(), Child(path, "rep"), department);
        break;
    }
    const std::string strategy_path = Child(path, "strategy");
    if (t.kind_case() == v1::Target::kTeam) {
      if (t.strategy() == v1::STRATEGY_UNSPECIFIED) {
        diags_->Error(strategy_path, "strategy is not set");
      } else if (!v1::Strategy_IsValid(t.strategy())) {
        diags_->Error(strategy_path,
                      absl::StrCat("unknown strategy ", t.strategy()));
      }
    } else if (t.strategy() != v1::STRATEGY_UNSPECIFIED) {
      diags_->Error(strategy_path, "strategy applies only to team targets");
    }
    if (t.kind_case() == v1::Target::kPool && t.requires_approval()) {
      diags_->Error(Child(path, "requires_approval"),
                    "requires_approval is not allowed on pool targets: a pool "
                    "holds customers unowned until a rep claims them");
    }
  }

  // A team (pool = false) or pool reference of `department` ("" = any).
  void TeamRef(const std::string& id, const std::string& path,
               const std::string& department, bool pool) {
    const char* kind = pool ? "pool" : "team";
    if (id.empty()) {
      diags_->Error(path, absl::StrCat(kind, " is empty"));
      return;
    }
    if (std::string e = CheckTeamId(id); !e.empty()) {
      diags_->Error(path, e);
      return;
    }
    if (!roster_) return;
    auto it = roster_->teams.find(id);
    if (it == roster_->teams.end()) {
      diags_->Error(path, absl::StrCat("unknown ", kind, " ", Quote(id),
                                       " (not in the roster)"));
      return;
    }
    const v1::Team& team = *it->second;
    if (pool && !team.has_pool()) {
      diags_->Error(path, absl::StrCat(Quote(id), " is a team, not a pool"));
      return;
    }
    if (!pool && team.has_pool()) {
      diags_->Error(path, absl::StrCat(Quote(id), " is a pool, not a team"));
      return;
    }
    if (!department.empty() && team.department() != department) {
      diags_->Error(
          path, absl::StrCat(kind, " ", Quote(id), " belongs to department ",
                             team.department(), ", not ", department));
    }
  }

  void RepRef(const std::string& id, const std::string& path,
              const std::string& department) {
    if (id.empty()) {
      diags_->Error(path, "rep is empty");
      return;
    }
    if (std::string e = CheckRepId(id); !e.empty()) {
      diags_->Error(path, e);
      return;
    }
    if (!roster_) return;
    if (!roster_->reps.contains(id)) {
      diags_->Error(path, absl::StrCat("unknown rep ", Quote(id),
                                       " (not in the roster)"));
      return;
    }
    if (!department.empty() && !roster_->rep_departments.contains(
                                   absl::StrCat(id, "\n", department))) {
      diags_->Error(path, absl::StrCat("rep ", Quote(id),
                                       " is not a member of any team of "
                                       "department ",
                                       department,
                                       "; their capacity there is undefined"));
    }
  }

  // ---------------------------------------------------------------------
  // Conditions. `segment_limit`: the index of the segment being defined
  // (only segments before it may be used), or -1 for rules (any segment).

  void Condition(const v1::Condition& c, const std::string& path,
                 int segment_limit, int depth) {
    if (depth > kMaxConditionDepth) {
      diags_->Error(path, absl::StrCat("conditions nest deeper than ",
                                       kMaxConditionDepth, " levels"));
      return;
    }
    for (const v1::Clause& clause : c.clauses()) {
      switch (clause.kind_case()) {
        case v1::Clause::kField:
          Field(clause.field(), path);
          break;
        case v1::Clause::kSegment:
          SegmentCondition(clause.segment(), Child(path, "segment"),
                           segment_limit);
          break;
        case v1::Clause::kAny:
        case v1::Clause::kAll: {
          const bool any = clause.kind_case() == v1::Clause::kAny;
          const v1::ConditionList& list = any ? clause.any() : clause.all();
          const std::string list_path = Child(path, any ? "any" : "all");
          if (list.conditions().empty()) {
            diags_->Error(list_path,
                          absl::StrCat(any ? "any" : "all",
                                       " needs at least one sub-block"));
          }
          for (int i = 0; i < list.conditions_size(); ++i) {
            Condition(list.conditions(i), Item(list_path, i), segment_limit,
                      depth + 1);
          }
          break;
        }
        case v1::Clause::kNot:
          Condition(clause.not_(), Child(path, "not"), segment_limit,
                    depth + 1);
          break;
        case v1::Clause::KIND_NOT_SET:
          diags_->Error(path, "a clause of this block is empty");
          break;
      }
    }
  }

  void SegmentRef(const std::string& name, const std::string& path,
                  int segment_limit) {
    if (std::string e = CheckSegmentName(name); !e.empty()) {
      diags_->Error(path, e);
      return;
    }
    auto it = segments_.find(name);
    if (it == segments_.end()) {
      diags_->Error(path,
                    absl::StrCat("segment ", Quote(name), " is not defined"));
    } else if (segment_limit >= 0 && it->second == segment_limit) {
      diags_->Error(
          path, absl::StrCat("segment ", Quote(name), " cannot use itself"));
    } else if (segment_limit >= 0 && it->second > segment_limit) {
      diags_->Error(path, absl::StrCat("segment ", Quote(name),
                                       " is defined after this one (segments[",
                                       it->second,
                                       "]); a segment may use only segments "
                                       "defined before it"));
    }
  }

  void SegmentCondition(const v1::SegmentCondition& s, const std::string& path,
                        int segment_limit) {
    switch (s.kind_case()) {
      case v1::SegmentCondition::kName:
        SegmentRef(s.name(), path, segment_limit);
        return;
      case v1::SegmentCondition::kAnyOf:
      case v1::SegmentCondition::kNoneOf: {
        const bool any = s.kind_case() == v1::SegmentCondition::kAnyOf;
        const v1::StringList& list = any ? s.any_of() : s.none_of();
        const std::string list_path = Child(path, any ? "any_of" : "none_of");
        if (list.values().empty()) {
          diags_->Error(list_path,
                        absl::StrCat(any ? "any_of" : "none_of",
                                     " needs at least one segment name"));
        }
        for (int i = 0; i < list.values_size(); ++i) {
          SegmentRef(list.values(i), Item(list_path, i), segment_limit);
        }
        return;
      }
      case v1::SegmentCondition::KIND_NOT_SET:
        diags_->Error(path, "segment condition names no segment");
        return;
    }
  }

  void Field(const v1::FieldCondition& f, const std::string& block_path) {
    if (f.field().empty()) {
      diags_->Error(block_path, "a field condition has no field name");
      return;
    }
    const std::string path = Child(block_path, f.field());
    if (IsMatchOnlyField(f.field())) {
      diags_->Error(path, absl::StrCat("field ", f.field(),
                                       " is used for duplicate matching only; "
                                       "conditions cannot read it"));
      return;
    }
    std::optional<FieldRef> ref = LookupField(f.field());
    if (!ref) {
      diags_->Error(path,
                    absl::StrCat("unknown field ", Quote(f.field()),
                                 " (rules can read: ", KnownFieldNames(), ")"));
      return;
    }
    if (ref->id == FieldId::kAttribute) {
      if (std::string e = CheckToken(ref->attribute_key); !e.empty()) {
        diags_->Error(path,
                      absl::StrCat("attribute key ", Quote(ref->attribute_key),
                                   " must be 1-128 characters of "
                                   "[a-z0-9_]"));
      }
    }
    if (f.operators().empty()) {
      diags_->Error(
          path, absl::StrCat("condition on ", f.field(), " has no operators"));
    }
    for (const v1::Operator& op : f.operators()) Operator(op, *ref, path);
  }

  void Operator(const v1::Operator& op, const FieldRef& field,
                const std::string& field_path) {
    if (op.op_case() == v1::Operator::OP_NOT_SET) {
      diags_->Error(field_path, "an operator is not set");
      return;
    }
    const absl::string_view name = OperatorName(op.op_case());
    const std::string path = Child(field_path, name);
    if (!OperatorFits(op.op_case(), field.type)) {
      diags_->Error(path, absl::StrCat("operator ", name, " does not fit ",
                                       FieldTypeName(field.type), " field ",
                                       FieldName(field), " (allowed: ",
                                       AllowedOperators(field.type), ")"));
      return;
    }
    switch (op.op_case()) {
      case v1::Operator::kEq:
        Value(op.eq(), field, path);
        break;
      case v1::Operator::kNe:
        Value(op.ne(), field, path);
        break;
      case v1::Operator::kIn:
      case v1::Operator::kNotIn: {
        const v1::ValueList& list =
            op.op_case() == v1::Operator::kIn ? op.in() : op.not_in();
        if (list.values().empty()) {
          diags_->Error(path, absl::StrCat(name, " needs at least one value"));
        }
        for (int i = 0; i < list.values_size(); ++i) {
          Value(list.values(i), field, Item(path, i));
        }
        break;
      }
      case v1::Operator::kUnder:
      case v1::Operator::kNotUnder: {
        const v1::StringList& list =
            op.op_case() == v1::Operator::kUnder ? op.under() : op.not_under();
        if (list.values().empty()) {
          diags_->Error(path, absl::StrCat(name, " needs at least one path"));
        }
        for (int i = 0; i < list.values_size(); ++i) {
          Report(diags_, Item(path, i), CheckPath(list.values(i)));
        }
        break;
      }
      case v1::Operator::kAnyOf:
      case v1::Operator::kAllOf:
      case v1::Operator::kNoneOf: {
        const v1::StringList& list =
            op.op_case() == v1::Operator::kAnyOf   ? op.any_of()
            : op.op_case() == v1::Operator::kAllOf ? op.all_of()
                                                   : op.none_of();
        if (list.values().empty()) {
          diags_->Error(path, absl::StrCat(name, " needs at least one tag"));
        }
        for (int i = 0; i < list.values_size(); ++i) {
          if (std::string e = CheckToken(list.values(i)); !e.empty()) {
            diags_->Error(Item(path, i),
                          absl::StrCat("tag ", Quote(list.values(i)),
                                       " must be 1-128 characters of "
                                       "[a-z0-9_]"));
          }
        }
        break;
      }
      case v1::Operator::kMatches: {
        if (op.matches().empty()) {
          diags_->Error(path, "matches needs a regular expression");
          break;
        }
        if (op.matches().size() > kMaxValueBytes) {
          diags_->Error(path, absl::StrCat("regular expression is longer than ",
                                           kMaxValueBytes, " bytes"));
          break;
        }
        re2::RE2::Options options;
        options.set_log_errors(false);
        re2::RE2 re(op.matches(), options);
        if (!re.ok()) {
          diags_->Error(path,
                        absl::StrCat("invalid regular expression ",
                                     Quote(op.matches()), ": ", re.error()));
        }
        break;
      }
      case v1::Operator::kOlderThan:
      case v1::Operator::kNewerThan: {
        const google::protobuf::Duration& d =
            op.op_case() == v1::Operator::kOlderThan ? op.older_than()
                                                     : op.newer_than();
        if (std::string e = CheckDuration(d, /*positive=*/true); !e.empty()) {
          diags_->Error(path, absl::StrCat(name, " ", e));
        }
        break;
      }
      case v1::Operator::kGt:
      case v1::Operator::kGte:
      case v1::Operator::kLt:
      case v1::Operator::kLte:
      case v1::Operator::kExists:
      case v1::Operator::OP_NOT_SET:
        break;
    }
  }

  // One eq/ne/in/not_in value: its kind must match the field's type and its
  // text the field's syntax.
  void Value(const v1::Value& v, const FieldRef& field,
             const std::string& path) {
    const std::string field_desc =
        absl::StrCat(FieldTypeName(field.type), " field ", FieldName(field));
    if (v.kind_case() == v1::Value::KIND_NOT_SET) {
      diags_->Error(path, "value is not set");
      return;
    }
    if (field.type == FieldType::kInteger) {
      if (v.kind_case() != v1::Value::kIntValue) {
        diags_->Error(
            path, absl::StrCat("value must be an integer for ", field_desc,
                               ", got the string ", Quote(v.string_value())));
      }
      return;
    }
    if (v.kind_case() != v1::Value::kStringValue) {
      diags_->Error(path,
                    absl::StrCat("value must be a string for ", field_desc,
                                 ", got the integer ", v.int_value()));
      return;
    }
    const std::string& s = v.string_value();
    switch (field.type) {
      case FieldType::kToken:
        if (!CheckToken(s).empty()) {
          diags_->Error(path,
                        absl::StrCat("value ", Quote(s), " of ", field_desc,
                                     " must be 1-128 characters of "
                                     "[a-z0-9_]"));
        }
        break;
      case FieldType::kPath:
        Report(diags_, path, CheckPath(s));
        break;
      default:
        if (std::string e = CheckText(s, kMaxValueBytes); !e.empty()) {
          diags_->Error(path, absl::StrCat("value of ", field_desc, ": ", e));
        }
        break;
    }
  }

  // ---------------------------------------------------------------------
  // Policies.

  void Range(const std::string& path, absl::string_view name, int64_t value,
             int64_t min, int64_t max) {
    if (value < min || value > max) {
      diags_->Error(path, absl::StrCat(name, " ", value, " is out of range ",
                                       min, "-", max));
    }
  }

  void DurationField(const std::string& path, absl::string_view name,
                     const google::protobuf::Duration& d, bool positive) {
    if (std::string e = CheckDuration(d, positive); !e.empty()) {
      diags_->Error(path, absl::StrCat(name, " ", e));
    }
  }

  template <typename IsValid>
  void EnumField(const std::string& path, absl::string_view name, int value,
                 IsValid is_valid) {
    if (value == 0) {
      diags_->Error(path, absl::StrCat(name, " is not set"));
    } else if (!is_valid(value)) {
      diags_->Error(path, absl::StrCat("unknown ", name, " value ", value));
    }
  }

  void Policies() {
    const v1::Policies& p = ruleset_.policies();
    Range("policies.capacity.default_max_customers", "default_max_customers",
          p.capacity().default_max_customers(), 1, 1000000);
    EnumField("policies.on_drift", "on_drift", p.on_drift(),
              v1::DriftAction_IsValid);
    for (int i = 0; i < p.recycling_size(); ++i) {
      const v1::RecyclingRule& r = p.recycling(i);
      const std::string path = Item("policies.recycling", i);
      bool dept_ok = DepartmentId(Child(path, "department"), r.department());
      if (r.when().clauses().empty()) {
        diags_->Error(Child(path, "when"),
                      "when is required and must not be empty: recycling "
                      "every customer of a department is almost certainly a "
                      "mistake");
      }
      Condition(r.when(), Child(path, "when"), -1, 0);
      if (r.to_pool().empty()) {
        diags_->Error(Child(path, "to_pool"), "to_pool is required");
      } else {
        TeamRef(r.to_pool(), Child(path, "to_pool"),
                dept_ok ? r.department() : std::string(), /*pool=*/true);
      }
    }
    DurationField("policies.protection.new_owner", "new_owner",
                  p.protection().new_owner(), /*positive=*/false);
    absl::flat_hash_set<int> keys;
    for (int i = 0; i < p.duplicates().match_on_size(); ++i) {
      const int key = p.duplicates().match_on(i);
      const std::string path = Item("policies.duplicates.match_on", i);
      EnumField(path, "match key", key, v1::MatchKey_IsValid);
      if (key != 0 && !keys.insert(key).second) {
        diags_->Error(path,
                      absl::StrCat("duplicate match key ",
                                   absl::AsciiStrToLower(v1::MatchKey_Name(
                                       static_cast<v1::MatchKey>(key)))));
      }
    }
    EnumField("policies.duplicates.on_match", "on_match",
              p.duplicates().on_match(), v1::DuplicateAction_IsValid);
    if (p.has_disputes()) Disputes(p.disputes());
    DurationField("policies.review.stale_after", "stale_after",
                  p.review().stale_after(), /*positive=*/true);
  }

  void Disputes(const v1::DisputesPolicy& d) {
    const std::string path = "policies.disputes";
    bool size_ok = false;
    if (!d.has_panel()) {
      diags_->Error(Child(path, "panel"), "panel is required");
    } else {
      const std::string panel = Child(path, "panel");
      if (d.panel().team().empty()) {
        diags_->Error(Child(panel, "team"), "panel team is required");
      } else {
        TeamRef(d.panel().team(), Child(panel, "team"), "", /*pool=*/false);
      }
      if (d.panel().size() == 0) {
        diags_->Error(Child(panel, "size"), "panel size is required (1-15)");
      } else {
        Range(Child(panel, "size"), "panel size", d.panel().size(), 1, 15);
        size_ok = d.panel().size() >= 1 && d.panel().size() <= 15;
      }
      if (size_ok && roster_) {
        auto it = roster_->teams.find(d.panel().team());
        if (it != roster_->teams.end() && !it->second->has_pool() &&
            d.panel().size() > it->second->members_size()) {
          diags_->Error(
              Child(panel, "size"),
              absl::StrCat("panel size ", d.panel().size(),
                           " is larger than team ", d.panel().team(), "'s ",
                           it->second->members_size(), " members"));
        }
      }
    }
    if (size_ok && d.quorum() > d.panel().size()) {
      diags_->Error(
          Child(path, "quorum"),
          absl::StrCat("quorum ", d.quorum(), " is larger than the panel size ",
                       d.panel().size()));
    } else if (size_ok) {
      Range(Child(path, "quorum"), "quorum", d.quorum(), 1, d.panel().size());
    }
    DurationField(Child(path, "sla"), "sla", d.sla(), /*positive=*/true);
    EnumField(Child(path, "on_expiry"), "on_expiry", d.on_expiry(),
              v1::ExpiryAction_IsValid);
    DurationField(Child(path, "reappeal_after"), "reappeal_after",
                  d.reappeal_after(), /*positive=*/false);
  }

  const v1::Ruleset& ruleset_;
  Diagnostics* diags_;
  std::optional<RosterIndex> roster_;
  absl::flat_hash_map<std::string, int> segments_;  // name -> first index
};

void DefaultTarget(v1::Target* t) {
  if (t->kind_case() == v1::Target::kTeam &&
      t->strategy() == v1::STRATEGY_UNSPECIFIED) {
    t->set_strategy(v1::ROUND_ROBIN);
  }
}

google::protobuf::Duration Days(int64_t days) {
  google::protobuf::Duration d;
  d.set_seconds(days * 86400);
  return d;
}

}  // namespace

void ApplyRulesetDefaults(v1::Ruleset* ruleset) {
  for (v1::DepartmentRules& dept : *ruleset->mutable_departments()) {
    for (v1::Rule& rule : *dept.mutable_rules()) {
      if (rule.has_assign()) DefaultTarget(rule.mutable_assign());
      if (rule.has_overflow()) DefaultTarget(rule.mutable_overflow());
    }
    if (dept.has_fallback()) DefaultTarget(dept.mutable_fallback());
  }
  v1::Policies* p = ruleset->mutable_policies();
  if (p->capacity().default_max_customers() == 0) {
    p->mutable_capacity()->set_default_max_customers(200);
  }
  if (p->on_drift() == v1::DRIFT_ACTION_UNSPECIFIED) p->set_on_drift(v1::KEEP);
  if (!p->protection().has_new_owner()) {
    p->mutable_protection()->mutable_new_owner();
  }
  if (p->duplicates().on_match() == v1::DUPLICATE_ACTION_UNSPECIFIED) {
    p->mutable_duplicates()->set_on_match(v1::ROUTE_TO_EXISTING_OWNER);
  }
  if (p->has_disputes()) {
    v1::DisputesPolicy* d = p->mutable_disputes();
    if (d->quorum() == 0 && d->panel().size() > 0) {
      d->set_quorum(d->panel().size() / 2 + 1);
    }
    if (!d->has_sla()) *d->mutable_sla() = Days(7);
    if (d->on_expiry() == v1::EXPIRY_ACTION_UNSPECIFIED) {
      d->set_on_expiry(v1::UPHOLD);
    }
    if (!d->has_reappeal_after()) *d->mutable_reappeal_after() = Days(30);
  }
  if (!p->review().has_stale_after()) {
    *p->mutable_review()->mutable_stale_after() = Days(90);
  }
}

void ApplyRosterDefaults(v1::Roster* roster) {
  for (v1::Department& d : *roster->mutable_departments()) {
    if (d.name().empty()) d.set_name(d.id());
  }
  for (v1::Rep& r : *roster->mutable_reps()) {
    if (r.name().empty()) r.set_name(r.id());
    if (r.status() == v1::REP_STATUS_UNSPECIFIED) r.set_status(v1::ACTIVE);
  }
  for (v1::Team& t : *roster->mutable_teams()) {
    for (v1::TeamMember& m : *t.mutable_members()) {
      if (m.weight() == 0) m.set_weight(1);
    }
  }
}

void ValidateRuleset(const v1::Ruleset& ruleset, const v1::Roster* roster,
                     Diagnostics* diags) {
  RulesetValidator(ruleset, roster, diags).Run();
}

void ValidateRoster(const v1::Roster& roster, Diagnostics* diags) {
  absl::flat_hash_map<std::string, int> departments;
  for (int i = 0; i < roster.departments_size(); ++i) {
    const v1::Department& d = roster.departments(i);
    const std::string path = Item("departments", i);
    if (std::string e = CheckDepartmentId(d.id()); !e.empty()) {
      diags->Error(Child(path, "id"), e);
    } else if (auto [it, inserted] = departments.try_emplace(d.id(), i);
               !inserted) {
      diags->Error(Child(path, "id"),
                   absl::StrCat("duplicate department id ", Quote(d.id()),
                                " (first at departments[", it->second, "])"));
    }
    if (std::string e = CheckText(d.name(), kMaxNameBytes); !e.empty()) {
      diags->Error(Child(path, "name"), absl::StrCat("name: ", e));
    }
  }
  absl::flat_hash_map<std::string, int> reps;
  for (int i = 0; i < roster.reps_size(); ++i) {
    const v1::Rep& r = roster.reps(i);
    const std::string path = Item("reps", i);
    if (std::string e = CheckRepId(r.id()); !e.empty()) {
      diags->Error(Child(path, "id"), e);
    } else if (auto [it, inserted] = reps.try_emplace(r.id(), i); !inserted) {
      diags->Error(Child(path, "id"),
                   absl::StrCat("duplicate rep id ", Quote(r.id()),
                                " (first at reps[", it->second, "])"));
    }
    if (std::string e = CheckText(r.name(), kMaxNameBytes); !e.empty()) {
      diags->Error(Child(path, "name"), absl::StrCat("name: ", e));
    }
    if (r.status() == v1::REP_STATUS_UNSPECIFIED) {
      diags->Error(Child(path, "status"), "status is not set");
    } else if (!v1::RepStatus_IsValid(r.status())) {
      diags->Error(Child(path, "status"),
                   absl::StrCat("unknown status value ", r.status()));
    }
    absl::flat_hash_set<std::string> skills;
    for (int k = 0; k < r.skills_size(); ++k) {
      const std::string skill_path = Item(Child(path, "skills"), k);
      if (std::string e = CheckSkill(r.skills(k)); !e.empty()) {
        diags->Error(skill_path, e);
      } else if (!skills.insert(r.skills(k)).second) {
        diags->Error(skill_path,
                     absl::StrCat("duplicate skill ", Quote(r.skills(k))));
      }
    }
  }
  absl::flat_hash_map<std::string, int> teams;
  for (int i = 0; i < roster.teams_size(); ++i) {
    const v1::Team& t = roster.teams(i);
    const std::string path = Item("teams", i);
    if (std::string e = CheckTeamId(t.id()); !e.empty()) {
      diags->Error(Child(path, "id"), e);
    } else if (auto [it, inserted] = teams.try_emplace(t.id(), i); !inserted) {
      diags->Error(Child(path, "id"),
                   absl::StrCat("duplicate team id ", Quote(t.id()),
                                " (first at teams[", it->second, "])"));
    }
    const std::string dept_path = Child(path, "department");
    if (t.department().empty()) {
      diags->Error(dept_path, "department is required");
    } else if (std::string e = CheckDepartmentId(t.department()); !e.empty()) {
      diags->Error(dept_path, e);
    } else if (!departments.contains(t.department())) {
      diags->Error(dept_path,
                   absl::StrCat("unknown department ", Quote(t.department()),
                                " (not in departments)"));
    }
    if (t.has_pool()) {
      if (!t.members().empty()) {
        diags->Error(Child(path, "members"),
                     "a pool team has no members; remove members or pool");
      }
      const std::string pool_path = Child(path, "pool");
      if (t.pool().claim_limit_per_day() < 0 ||
          t.pool().claim_limit_per_day() > 10000) {
        diags->Error(
            Child(pool_path, "claim_limit_per_day"),
            absl::StrCat("claim_limit_per_day ", t.pool().claim_limit_per_day(),
                         " is out of range 0-10000"));
      }
      if (std::string e = CheckDuration(t.pool().cooldown(), false);
          !e.empty()) {
        diags->Error(Child(pool_path, "cooldown"),
                     absl::StrCat("cooldown ", e));
      }
    }
    absl::flat_hash_map<std::string, int> members;
    for (int k = 0; k < t.members_size(); ++k) {
      const v1::TeamMember& m = t.members(k);
      const std::string member_path = Item(Child(path, "members"), k);
      const std::string rep_path = Child(member_path, "rep");
      if (m.rep().empty()) {
        diags->Error(rep_path, "rep is required");
      } else if (!reps.contains(m.rep())) {
        diags->Error(rep_path, absl::StrCat("unknown rep ", Quote(m.rep()),
                                            " (not in reps)"));
      } else if (auto [it, inserted] = members.try_emplace(m.rep(), k);
                 !inserted) {
        diags->Error(rep_path, absl::StrCat("rep ", Quote(m.rep()),
                                            " appears twice in this team "
                                            "(first at members[",
                                            it->second, "])"));
      }
      if (m.has_capacity() && (m.capacity() < 0 || m.capacity() > 1000000)) {
        diags->Error(Child(member_path, "capacity"),
                     absl::StrCat("capacity ", m.capacity(),
                                  " is out of range 0-1000000"));
      }
      if (m.weight() < 1 || m.weight() > 1000) {
        diags->Error(
            Child(member_path, "weight"),
            absl::StrCat("weight ", m.weight(), " is out of range 1-1000"));
      }
    }
  }
}

absl::Status ValidateCustomer(const v1::Customer& customer,
                              absl::string_view field_prefix) {
  auto bad = [&](absl::string_view field, absl::string_view message) {
    return absl::InvalidArgumentError(
        absl::StrCat(Child(field_prefix, field), ": ", message));
  };
  if (std::string e = CheckCustomerId(customer.id()); !e.empty()) {
    return bad("id", e);
  }
  if (std::string e = CheckText(customer.name(), kMaxNameBytes); !e.empty()) {
    return bad("name", e);
  }
  for (auto [name, value] : {std::pair<absl::string_view, const std::string*>{
                                 "region", &customer.region()},
                             {"industry", &customer.industry()}}) {
    if (value->empty()) continue;
    if (std::string e = CheckPath(*value); !e.empty()) return bad(name, e);
  }
  for (auto [name, value] : {std::pair<absl::string_view, const std::string*>{
                                 "customer_type", &customer.customer_type()},
                             {"sales_stage", &customer.sales_stage()},
                             {"value_tier", &customer.value_tier()}}) {
    if (value->empty()) continue;
    if (!CheckToken(*value).empty()) {
      return bad(name, absl::StrCat("value ", Quote(*value),
                                    " must be 1-128 characters of [a-z0-9_]"));
    }
  }
  if (customer.has_annual_revenue() && customer.annual_revenue() < 0) {
    return bad("annual_revenue",
               absl::StrCat("must be >= 0, got ", customer.annual_revenue()));
  }
  if (customer.has_employee_count() && customer.employee_count() < 0) {
    return bad("employee_count",
               absl::StrCat("must be >= 0, got ", customer.employee_count()));
  }
  if (customer.tags_size() > 256) {
    return bad("tags", absl::StrCat("has ", customer.tags_size(),
                                    " tags; at most 256 are allowed"));
  }
  absl::flat_hash_set<absl::string_view> tags;
  for (int i = 0; i < customer.tags_size(); ++i) {
    const std::string& tag = customer.tags(i);
    if (!CheckToken(tag).empty()) {
      return bad(Item("tags", i),
                 absl::StrCat("tag ", Quote(tag),
                              " must be 1-128 characters of [a-z0-9_]"));
    }
    if (!tags.insert(tag).second) {
      return bad(Item("tags", i), absl::StrCat("duplicate tag ", Quote(tag)));
    }
  }
  if (customer.attributes_size() > 256) {
    return bad("attributes", absl::StrCat("has ", customer.attributes_size(),
                                          " entries; at most 256 are allowed"));
  }
  std::vector<std::string> keys;
  for (const auto& [key, value] : customer.attributes()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  for (const std::string& key : keys) {
    if (!CheckToken(key).empty()) {
      return bad(Child("attributes", key),
                 absl::StrCat("attribute key ", Quote(key),
                              " must be 1-128 characters of [a-z0-9_]"));
    }
    if (std::string e =
            CheckText(customer.attributes().at(key), kMaxValueBytes);
        !e.empty()) {
      return bad(Child("attributes", key), e);
    }
  }
  constexpr int64_t kMinSeconds = -62135596800;  // 0001-01-01T00:00:00Z
  constexpr int64_t kMaxSeconds = 253402300799;  // 9999-12-31T23:59:59Z
  for (auto [name, has, ts] :
       {std::tuple<absl::string_view, bool, const google::protobuf::Timestamp*>{
            "created_time", customer.has_created_time(),
            &customer.created_time()},
        {"last_activity_time", customer.has_last_activity_time(),
         &customer.last_activity_time()}}) {
    if (!has) continue;
    if (ts->seconds() < kMinSeconds || ts->seconds() > kMaxSeconds ||
        ts->nanos() < 0 || ts->nanos() > 999999999) {
      return bad(name, "timestamp out of range 0001-01-01 to 9999-12-31");
    }
  }
  for (auto [name, value] : {std::pair<absl::string_view, const std::string*>{
                                 "tax_id", &customer.tax_id()},
                             {"email_domain", &customer.email_domain()},
                             {"phone", &customer.phone()}}) {
    if (std::string e = CheckText(*value, kMaxNameBytes); !e.empty()) {
      return bad(name, e);
    }
  }
  return absl::OkStatus();
}

}  // namespace custodian::rules
