#include "rules/format.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/duration.pb.h"
#include "rules/fields.h"
#include "yaml-cpp/yaml.h"

namespace custodian::rules {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::EnumDescriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::Reflection;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Whether a YAML 1.1 or 1.2 resolver could read `s` as a number: decimal
// integers and floats (with `_` separators and exponents), 0x/0o/0b forms,
// .inf and .nan. Errs on the side of "yes".
bool IsNumberLike(absl::string_view s) {
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
  if (s.empty()) return false;
  const std::string lower = absl::AsciiStrToLower(s);
  if (lower == ".inf" || lower == ".nan") return true;
  if (!IsDigit(s[0]) && s[0] != '.') return false;
  if (absl::StartsWith(lower, "0x") || absl::StartsWith(lower, "0o") ||
      absl::StartsWith(lower, "0b")) {
    return true;
  }
  size_t i = 0;
  bool digits = false;
  auto run = [&]() {
    while (i < s.size() && (IsDigit(s[i]) || s[i] == '_')) {
      digits = digits || IsDigit(s[i]);
      ++i;
    }
  };
  run();
  if (i < s.size() && s[i] == '.') {
    ++i;
    run();
  }
  if (!digits) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    const size_t start = i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    if (i == start) return false;
  }
  return i == s.size();
}

// Whether `s` must be double-quoted to read back as the same string (see
// format.h). yaml-cpp quotes some of these cases itself; this errs on the
// side of quoting so that the output does not depend on its heuristics.
bool NeedsQuotes(absl::string_view s) {
  if (s.empty()) return true;
  static const auto* const kWords = new absl::flat_hash_set<std::string>{
      "~",     "null", "y",   "n",  "yes", "no",  "true",
      "false", "on",   "off", "<<", "=",   "---", "..."};
  if (kWords->contains(absl::AsciiStrToLower(s))) return true;
  if (IsNumberLike(s)) return true;
  if (absl::StrContains("-?:,[]{}#&*!|>'\"%@` \t", s.front())) return true;
  if (s.back() == ' ' || s.back() == '\t') return true;
  if (absl::StartsWith(s, "...")) return true;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
    if (absl::StrContains(":#,[]{}\"'\\", c)) return true;
  }
  return false;
}

std::string EnumName(const EnumDescriptor* type, int number) {
  const auto* value = type->FindValueByNumber(number);
  if (value == nullptr) return absl::StrCat(number);
  return absl::AsciiStrToLower(value->name());
}

// Emits ruleset and roster pieces into a yaml-cpp emitter. Collections are
// block style only where the caller asks for it; everything nested inside a
// value is flow style.
class Writer {
 public:
  explicit Writer(YAML::Emitter* out) : out_(*out) {}

  void String(const std::string& s) {
    if (NeedsQuotes(s)) out_ << YAML::DoubleQuoted;
    out_ << s;
  }

  void Key(const std::string& key) {
    out_ << YAML::Key;
    String(key);
    out_ << YAML::Value;
  }

  void Int(int64_t v) { out_ << v; }
  void Bool(bool v) { out_ << (v ? "true" : "false"); }

  void BeginFlowMap() { out_ << YAML::Flow << YAML::BeginMap; }
  void BeginFlowSeq() { out_ << YAML::Flow << YAML::BeginSeq; }
  void BeginBlockMap() { out_ << YAML::Block << YAML::BeginMap; }
  void BeginBlockSeq() { out_ << YAML::Block << YAML::BeginSeq; }
  void EndMap() { out_ << YAML::EndMap; }
  void EndSeq() { out_ << YAML::EndSeq; }
  void EmptyMap() {
    BeginFlowMap();
    EndMap();
  }

  // ---------------------------------------------------------------------
  // Conditions.

  void Value(const v1::Value& v) {
    switch (v.kind_case()) {
      case v1::Value::kStringValue:
        String(v.string_value());
        return;
      case v1::Value::kIntValue:
        Int(v.int_value());
        return;
      case v1::Value::KIND_NOT_SET:
        break;
    }
    out_ << YAML::Null;
  }

  void Values(const v1::ValueList& list) {
    BeginFlowSeq();
    for (const v1::Value& v : list.values()) Value(v);
    EndSeq();
  }

  void Strings(const google::protobuf::RepeatedPtrField<std::string>& list) {
    BeginFlowSeq();
    for (const std::string& s : list) String(s);
    EndSeq();
  }

  void Duration(const google::protobuf::Duration& d) {
    String(FormatDuration(d));
  }

  // The operand of one operator.
  void Operand(const v1::Operator& op) {
    switch (op.op_case()) {
      case v1::Operator::kEq:
        return Value(op.eq());
      case v1::Operator::kNe:
        return Value(op.ne());
      case v1::Operator::kIn:
        return Values(op.in());
      case v1::Operator::kNotIn:
        return Values(op.not_in());
      case v1::Operator::kUnder:
        return Strings(op.under().values());
      case v1::Operator::kNotUnder:
        return Strings(op.not_under().values());
      case v1::Operator::kGt:
        return Int(op.gt());
      case v1::Operator::kGte:
        return Int(op.gte());
      case v1::Operator::kLt:
        return Int(op.lt());
      case v1::Operator::kLte:
        return Int(op.lte());
      case v1::Operator::kMatches:
        return String(op.matches());
      case v1::Operator::kExists:
        return Bool(op.exists());
      case v1::Operator::kAnyOf:
        return Strings(op.any_of().values());
      case v1::Operator::kAllOf:
        return Strings(op.all_of().values());
      case v1::Operator::kNoneOf:
        return Strings(op.none_of().values());
      case v1::Operator::kOlderThan:
        return Duration(op.older_than());
      case v1::Operator::kNewerThan:
        return Duration(op.newer_than());
      case v1::Operator::OP_NOT_SET:
        break;
    }
  }

  // The value of `field: ...`: the eq/in shorthands when they say it all,
  // else a flow map of operators.
  void FieldOperand(const v1::FieldCondition& f) {
    if (f.operators_size() == 1) {
      const v1::Operator& op = f.operators(0);
      if (op.op_case() == v1::Operator::kEq) return Value(op.eq());
      if (op.op_case() == v1::Operator::kIn) return Values(op.in());
    }
    BeginFlowMap();
    for (const v1::Operator& op : f.operators()) {
      if (op.op_case() == v1::Operator::OP_NOT_SET) continue;
      Key(std::string(OperatorName(op.op_case())));
      Operand(op);
    }
    EndMap();
  }

  void SegmentOperand(const v1::SegmentCondition& s) {
    switch (s.kind_case()) {
      case v1::SegmentCondition::kName:
        return String(s.name());
      case v1::SegmentCondition::kAnyOf:
        BeginFlowMap();
        Key("any_of");
        Strings(s.any_of().values());
        return EndMap();
      case v1::SegmentCondition::kNoneOf:
        BeginFlowMap();
        Key("none_of");
        Strings(s.none_of().values());
        return EndMap();
      case v1::SegmentCondition::KIND_NOT_SET:
        break;
    }
    EmptyMap();
  }

  // The value of a clause (after its key).
  void ClauseValue(const v1::Clause& clause) {
    switch (clause.kind_case()) {
      case v1::Clause::kField:
        return FieldOperand(clause.field());
      case v1::Clause::kSegment:
        return SegmentOperand(clause.segment());
      case v1::Clause::kAny:
      case v1::Clause::kAll: {
        const v1::ConditionList& list = clause.kind_case() == v1::Clause::kAny
                                            ? clause.any()
                                            : clause.all();
        BeginFlowSeq();
        for (const v1::Condition& c : list.conditions()) {
          Condition(c, /*block=*/false);
        }
        return EndSeq();
      }
      case v1::Clause::kNot:
        return Condition(clause.not_(), /*block=*/false);
      case v1::Clause::KIND_NOT_SET:
        break;
    }
  }

  // A `when:` block: a block map of clauses (flow values) when `block` and
  // not empty, else a flow map. What one YAML map cannot hold is rewritten
  // with the same meaning: a field with the same operator twice becomes
  // several clauses on that field, and clauses sharing a key make the block
  // `{all: [{k: v}, {k: w}]}`.
  void Condition(const v1::Condition& c, bool block) {
    std::vector<v1::Clause> clauses = Expand(c);
    absl::flat_hash_set<std::string> keys;
    bool duplicate = false;
    for (const v1::Clause& clause : clauses) {
      duplicate = !keys.insert(ClauseKey(clause)).second || duplicate;
    }
    if (duplicate) {
      BeginFlowMap();
      Key("all");
      BeginFlowSeq();
      for (const v1::Clause& clause : clauses) {
        BeginFlowMap();
        Key(ClauseKey(clause));
        ClauseValue(clause);
        EndMap();
      }
      EndSeq();
      EndMap();
      return;
    }
    if (block && !clauses.empty()) {
      BeginBlockMap();
    } else {
      BeginFlowMap();
    }
    for (const v1::Clause& clause : clauses) {
      Key(ClauseKey(clause));
      ClauseValue(clause);
    }
    EndMap();
  }

  // The clauses of `c` without empty ones, each field clause split so that
  // no operator appears twice in one (operators keep their order).
  static std::vector<v1::Clause> Expand(const v1::Condition& c) {
    std::vector<v1::Clause> out;
    for (const v1::Clause& clause : c.clauses()) {
      if (clause.kind_case() == v1::Clause::KIND_NOT_SET) continue;
      if (clause.kind_case() != v1::Clause::kField) {
        out.push_back(clause);
        continue;
      }
      std::vector<v1::Clause> parts;
      std::vector<absl::flat_hash_set<int>> used;
      for (const v1::Operator& op : clause.field().operators()) {
        if (op.op_case() == v1::Operator::OP_NOT_SET) continue;
        size_t k = 0;
        while (k < parts.size() && used[k].contains(op.op_case())) ++k;
        if (k == parts.size()) {
          parts.emplace_back().mutable_field()->set_field(
              clause.field().field());
          used.emplace_back();
        }
        used[k].insert(op.op_case());
        *parts[k].mutable_field()->add_operators() = op;
      }
      if (parts.empty()) {
        out.push_back(clause);
      } else {
        out.insert(out.end(), parts.begin(), parts.end());
      }
    }
    return out;
  }

  // ---------------------------------------------------------------------
  // Targets and roster pieces.

  void Target(const v1::Target& t) {
    BeginFlowMap();
    switch (t.kind_case()) {
      case v1::Target::kTeam:
        Key("team");
        String(t.team());
        break;
      case v1::Target::kRep:
        Key("rep");
        String(t.rep());
        break;
      case v1::Target::kPool:
        Key("pool");
        String(t.pool());
        break;
      case v1::Target::KIND_NOT_SET:
        break;
    }
    if (t.strategy() != v1::STRATEGY_UNSPECIFIED) {
      Key("strategy");
      String(EnumName(v1::Strategy_descriptor(), t.strategy()));
    }
    if (t.requires_approval()) {
      Key("requires_approval");
      Bool(true);
    }
    EndMap();
  }

  void Member(const v1::TeamMember& m) {
    BeginFlowMap();
    Key("rep");
    String(m.rep());
    if (m.has_capacity()) {
      Key("capacity");
      Int(m.capacity());
    }
    if (m.weight() != 1) {
      Key("weight");
      Int(m.weight());
    }
    EndMap();
  }

  void Pool(const v1::PoolSettings& p) {
    BeginFlowMap();
    if (p.claim_limit_per_day() != 0) {
      Key("claim_limit_per_day");
      Int(p.claim_limit_per_day());
    }
    if (p.has_cooldown()) {
      Key("cooldown");
      Duration(p.cooldown());
    }
    EndMap();
  }

  // ---------------------------------------------------------------------
  // Generic messages (policies).

  static bool ShouldEmit(const Message& m, const FieldDescriptor* f) {
    const Reflection* r = m.GetReflection();
    if (f->is_repeated()) return r->FieldSize(m, f) > 0;
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_BOOL && !f->has_presence()) {
      return true;
    }
    return r->HasField(m, f);
  }

  // Element `index` of a repeated field, or the singular field (index -1).
  void Element(const Message& m, const FieldDescriptor* f, int index) {
    const Reflection* r = m.GetReflection();
    const bool rep = index >= 0;
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_MESSAGE: {
        const Message& sub =
            rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f);
        const Descriptor* type = f->message_type();
        if (type == google::protobuf::Duration::descriptor()) {
          Duration(static_cast<const google::protobuf::Duration&>(sub));
        } else if (type == v1::Condition::descriptor()) {
          Condition(static_cast<const v1::Condition&>(sub), false);
        } else if (type == v1::Target::descriptor()) {
          Target(static_cast<const v1::Target&>(sub));
        } else if (type == v1::TeamMember::descriptor()) {
          Member(static_cast<const v1::TeamMember&>(sub));
        } else {
          Flow(sub);
        }
        return;
      }
      case FieldDescriptor::CPPTYPE_ENUM:
        String(
            EnumName(f->enum_type(), rep ? r->GetRepeatedEnumValue(m, f, index)
                                         : r->GetEnumValue(m, f)));
        return;
      case FieldDescriptor::CPPTYPE_BOOL:
        Bool(rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f));
        return;
      case FieldDescriptor::CPPTYPE_INT32:
        Int(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
        return;
      case FieldDescriptor::CPPTYPE_INT64:
        Int(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
        return;
      case FieldDescriptor::CPPTYPE_UINT32:
        out_ << (rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
        return;
      case FieldDescriptor::CPPTYPE_UINT64:
        out_ << (rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
        return;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        out_ << (rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
        return;
      case FieldDescriptor::CPPTYPE_FLOAT:
        out_ << (rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
        return;
      case FieldDescriptor::CPPTYPE_STRING:
        String(rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f));
        return;
    }
  }

  void FieldValue(const Message& m, const FieldDescriptor* f) {
    if (!f->is_repeated()) return Element(m, f, -1);
    BeginFlowSeq();
    for (int i = 0; i < m.GetReflection()->FieldSize(m, f); ++i) {
      Element(m, f, i);
    }
    EndSeq();
  }

  void Flow(const Message& m) {
    BeginFlowMap();
    const Descriptor* d = m.GetDescriptor();
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      if (!ShouldEmit(m, f)) continue;
      Key(f->name());
      FieldValue(m, f);
    }
    EndMap();
  }

  // ---------------------------------------------------------------------
  // Whole files.

  void Rule(const v1::Rule& rule) {
    if (rule.id().empty() && rule.description().empty() && !rule.has_when() &&
        !rule.has_assign() && !rule.has_overflow()) {
      return EmptyMap();
    }
    BeginBlockMap();
    if (!rule.id().empty()) {
      Key("id");
      String(rule.id());
    }
    if (!rule.description().empty()) {
      Key("description");
      String(rule.description());
    }
    if (rule.has_when()) {
      Key("when");
      Condition(rule.when(), /*block=*/true);
    }
    if (rule.has_assign()) {
      Key("assign");
      Target(rule.assign());
    }
    if (rule.has_overflow()) {
      Key("overflow");
      Target(rule.overflow());
    }
    EndMap();
  }

  void Department(const v1::DepartmentRules& dept) {
    if (dept.rules().empty() && !dept.has_fallback()) return EmptyMap();
    BeginBlockMap();
    if (!dept.rules().empty()) {
      Key("rules");
      BeginBlockSeq();
      for (const v1::Rule& rule : dept.rules()) Rule(rule);
      EndSeq();
    }
    if (dept.has_fallback()) {
      Key("fallback");
      Target(dept.fallback());
    }
    EndMap();
  }

  void Segment(const v1::Segment& s) {
    if (s.name().empty() && s.description().empty() && !s.has_when()) {
      return EmptyMap();
    }
    BeginBlockMap();
    if (!s.name().empty()) {
      Key("name");
      String(s.name());
    }
    if (!s.description().empty()) {
      Key("description");
      String(s.description());
    }
    if (s.has_when()) {
      Key("when");
      Condition(s.when(), /*block=*/true);
    }
    EndMap();
  }

  void Recycling(const v1::RecyclingRule& r) {
    if (r.department().empty() && !r.has_when() && r.to_pool().empty()) {
      return EmptyMap();
    }
    BeginBlockMap();
    if (!r.department().empty()) {
      Key("department");
      String(r.department());
    }
    if (r.has_when()) {
      Key("when");
      Condition(r.when(), /*block=*/true);
    }
    if (!r.to_pool().empty()) {
      Key("to_pool");
      String(r.to_pool());
    }
    EndMap();
  }

  void Policies(const v1::Policies& p) {
    const Descriptor* d = p.GetDescriptor();
    bool any = false;
    for (int i = 0; i < d->field_count(); ++i) {
      any = any || ShouldEmit(p, d->field(i));
    }
    if (!any) return EmptyMap();
    BeginBlockMap();
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      if (!ShouldEmit(p, f)) continue;
      Key(f->name());
      if (f->number() == v1::Policies::kRecyclingFieldNumber) {
        BeginBlockSeq();
        for (const v1::RecyclingRule& r : p.recycling()) Recycling(r);
        EndSeq();
      } else {
        FieldValue(p, f);
      }
    }
    EndMap();
  }

  void Ruleset(const v1::Ruleset& r) {
    BeginBlockMap();
    if (!r.name().empty()) {
      Key("ruleset");
      String(r.name());
    }
    if (!r.description().empty()) {
      Key("description");
      String(r.description());
    }
    if (!r.segments().empty()) {
      Key("segments");
      BeginBlockSeq();
      for (const v1::Segment& s : r.segments()) Segment(s);
      EndSeq();
    }
    if (!r.departments().empty()) {
      Key("departments");
      BeginBlockMap();
      for (const v1::DepartmentRules& dept : r.departments()) {
        Key(dept.department());
        Department(dept);
      }
      EndMap();
    }
    if (r.has_policies()) {
      Key("policies");
      Policies(r.policies());
    }
    EndMap();
  }

  void Team(const v1::Team& t) {
    if (t.id().empty() && t.department().empty() && t.members().empty() &&
        !t.has_pool()) {
      return EmptyMap();
    }
    BeginBlockMap();
    if (!t.id().empty()) {
      Key("id");
      String(t.id());
    }
    if (!t.department().empty()) {
      Key("department");
      String(t.department());
    }
    if (!t.members().empty()) {
      Key("members");
      BeginBlockSeq();
      for (const v1::TeamMember& m : t.members()) Member(m);
      EndSeq();
    }
    if (t.has_pool()) {
      Key("pool");
      Pool(t.pool());
    }
    EndMap();
  }

  void Roster(const v1::Roster& r) {
    if (r.departments().empty() && r.reps().empty() && r.teams().empty()) {
      return EmptyMap();
    }
    BeginBlockMap();
    if (!r.departments().empty()) {
      Key("departments");
      BeginBlockSeq();
      for (const v1::Department& d : r.departments()) {
        BeginFlowMap();
        if (!d.id().empty()) {
          Key("id");
          String(d.id());
        }
        if (!d.name().empty() && d.name() != d.id()) {
          Key("name");
          String(d.name());
        }
        EndMap();
      }
      EndSeq();
    }
    if (!r.reps().empty()) {
      Key("reps");
      BeginBlockSeq();
      for (const v1::Rep& rep : r.reps()) {
        BeginFlowMap();
        if (!rep.id().empty()) {
          Key("id");
          String(rep.id());
        }
        if (!rep.name().empty() && rep.name() != rep.id()) {
          Key("name");
          String(rep.name());
        }
        if (rep.status() != v1::REP_STATUS_UNSPECIFIED) {
          Key("status");
          String(EnumName(v1::RepStatus_descriptor(), rep.status()));
        }
        if (!rep.skills().empty()) {
          Key("skills");
          Strings(rep.skills());
        }
        EndMap();
      }
      EndSeq();
    }
    if (!r.teams().empty()) {
      Key("teams");
      BeginBlockSeq();
      for (const v1::Team& t : r.teams()) Team(t);
      EndSeq();
    }
    EndMap();
  }

 private:
  YAML::Emitter& out_;
};

// Runs `emit` on a fresh emitter and returns its text.
template <typename Fn>
std::string Emit(Fn emit) {
  YAML::Emitter out;
  out.SetIndent(2);
  Writer writer(&out);
  emit(writer);
  return out.c_str();
}

}  // namespace

std::string FormatCondition(const v1::Condition& condition) {
  return Emit([&](Writer& w) { w.Condition(condition, /*block=*/false); });
}

std::string ClauseKey(const v1::Clause& clause) {
  switch (clause.kind_case()) {
    case v1::Clause::kField:
      return clause.field().field();
    case v1::Clause::kSegment:
      return "segment";
    case v1::Clause::kAny:
      return "any";
    case v1::Clause::kAll:
      return "all";
    case v1::Clause::kNot:
      return "not";
    case v1::Clause::KIND_NOT_SET:
      break;
  }
  return "";
}

std::string FormatClause(const v1::Clause& clause) {
  if (clause.kind_case() == v1::Clause::KIND_NOT_SET) return "";
  return Emit([&](Writer& w) {
    w.BeginBlockMap();
    w.Key(ClauseKey(clause));
    w.ClauseValue(clause);
    w.EndMap();
  });
}

std::string FormatTarget(const v1::Target& target) {
  return Emit([&](Writer& w) { w.Target(target); });
}

std::string FormatTeamMember(const v1::TeamMember& member) {
  return Emit([&](Writer& w) { w.Member(member); });
}

std::string FormatPoolSettings(const v1::PoolSettings& pool) {
  return Emit([&](Writer& w) { w.Pool(pool); });
}

std::string FormatFlow(const google::protobuf::Message& message) {
  return Emit([&](Writer& w) { w.Flow(message); });
}

std::string FormatFieldValue(const google::protobuf::Message& message,
                             const google::protobuf::FieldDescriptor* field) {
  const Reflection* r = message.GetReflection();
  if (field->is_repeated()
          ? r->FieldSize(message, field) == 0
          : field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
                !r->HasField(message, field)) {
    return "";
  }
  if (!field->is_repeated() &&
      field->cpp_type() == FieldDescriptor::CPPTYPE_STRING &&
      r->GetString(message, field).empty()) {
    return "";
  }
  return Emit([&](Writer& w) { w.FieldValue(message, field); });
}

std::string FormatRulesetYaml(const v1::Ruleset& ruleset) {
  return absl::StrCat(Emit([&](Writer& w) { w.Ruleset(ruleset); }), "\n");
}

std::string FormatRosterYaml(const v1::Roster& roster) {
  return absl::StrCat(Emit([&](Writer& w) { w.Roster(roster); }), "\n");
}

}  // namespace custodian::rules
