#include "rules/condition_eval.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "re2/re2.h"

namespace custodian::rules::internal {
namespace {

using v1::Operator;

// What one field of a customer holds.
struct FieldValue {
  bool present = false;
  absl::string_view str;  // string, token, path
  int64_t num = 0;        // integer
  absl::Time time;        // timestamp
  const google::protobuf::RepeatedPtrField<std::string>* tags = nullptr;
};

FieldValue ReadField(const v1::Customer& c, const FieldRef& field) {
  FieldValue v;
  switch (field.type) {
    case FieldType::kString:
    case FieldType::kToken:
    case FieldType::kPath:
      v.str = StringFieldValue(c, field);
      v.present = !v.str.empty();
      break;
    case FieldType::kInteger:
      if (field.id == FieldId::kAnnualRevenue) {
        v.present = c.has_annual_revenue();
        v.num = c.annual_revenue();
      } else {
        v.present = c.has_employee_count();
        v.num = c.employee_count();
      }
      break;
    case FieldType::kTags:
      v.present = true;
      v.tags = &c.tags();
      break;
    case FieldType::kTimestamp:
      if (field.id == FieldId::kCreatedTime) {
        v.present = c.has_created_time();
        if (v.present) v.time = ToTime(c.created_time());
      } else {
        v.present = c.has_last_activity_time();
        if (v.present) v.time = ToTime(c.last_activity_time());
      }
      break;
  }
  return v;
}

bool InStrings(const CompiledOp& op, absl::string_view s) {
  if (!op.string_set.empty()) return op.string_set.contains(s);
  for (const std::string& x : op.strings) {
    if (x == s) return true;
  }
  return false;
}

bool AnyTagIn(const CompiledOp& op, const FieldValue& v) {
  for (const std::string& tag : *v.tags) {
    if (InStrings(op, tag)) return true;
  }
  return false;
}

bool HasTag(const FieldValue& v, absl::string_view tag) {
  for (const std::string& t : *v.tags) {
    if (t == tag) return true;
  }
  return false;
}

bool OpHolds(const CompiledOp& op, FieldType type, const FieldValue& v,
             absl::Time at) {
  if (op.op == Operator::kExists) return v.present == op.flag;
  if (!v.present) return false;
  switch (op.op) {
    case Operator::kEq:
      return type == FieldType::kInteger ? v.num == op.num : v.str == op.str;
    case Operator::kNe:
      return type == FieldType::kInteger ? v.num != op.num : v.str != op.str;
    case Operator::kIn:
    case Operator::kNotIn: {
      bool in;
      if (type == FieldType::kInteger) {
        in = std::find(op.ints.begin(), op.ints.end(), v.num) != op.ints.end();
      } else {
        in = InStrings(op, v.str);
      }
      return op.op == Operator::kIn ? in : !in;
    }
    case Operator::kUnder:
    case Operator::kNotUnder: {
      bool under = false;
      for (const std::string& p : op.strings) {
        if (PathUnder(v.str, p)) {
          under = true;
          break;
        }
      }
      return op.op == Operator::kUnder ? under : !under;
    }
    case Operator::kGt:
      return v.num > op.num;
    case Operator::kGte:
      return v.num >= op.num;
    case Operator::kLt:
      return v.num < op.num;
    case Operator::kLte:
      return v.num <= op.num;
    case Operator::kMatches:
      return re2::RE2::FullMatch(re2::StringPiece(v.str.data(), v.str.size()),
                                 *op.regex);
    case Operator::kAnyOf:
      return AnyTagIn(op, v);
    case Operator::kNoneOf:
      return !AnyTagIn(op, v);
    case Operator::kAllOf:
      for (const std::string& tag : op.strings) {
        if (!HasTag(v, tag)) return false;
      }
      return true;
    case Operator::kOlderThan:
      return v.time < at - op.duration;
    case Operator::kNewerThan:
      return v.time > at - op.duration;
    case Operator::kExists:
    case Operator::OP_NOT_SET:
      break;
  }
  return false;
}

bool SegmentHolds(const CompiledSegmentCondition& s, const SegmentSet& set) {
  bool any = false;
  for (int i : s.segments) {
    if (set.Contains(i)) {
      any = true;
      break;
    }
  }
  return s.none_of ? !any : any;
}

bool ClauseHolds(const CompiledClause& clause, const EvalContext& ctx) {
  switch (clause.kind) {
    case CompiledClause::Kind::kField: {
      const FieldValue v = ReadField(ctx.customer, clause.field.field);
      for (const CompiledOp& op : clause.field.ops) {
        if (!OpHolds(op, clause.field.field.type, v, ctx.at)) return false;
      }
      return true;
    }
    case CompiledClause::Kind::kSegment:
      return SegmentHolds(clause.segment, ctx.segments);
    case CompiledClause::Kind::kAny:
      for (const CompiledCondition& sub : clause.subs) {
        if (Holds(sub, ctx)) return true;
      }
      return false;
    case CompiledClause::Kind::kAll:
      for (const CompiledCondition& sub : clause.subs) {
        if (!Holds(sub, ctx)) return false;
      }
      return true;
    case CompiledClause::Kind::kNot:
      return !Holds(clause.subs[0], ctx);
  }
  return false;
}

// ---------------------------------------------------------------------------
// Compilation.

absl::Status Invalid(absl::string_view where, absl::string_view path,
                     absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": ", path, ": ", what));
}

bool ValidPath(absl::string_view p) {
  if (p.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t slash = p.find('/', start);
    size_t end = slash == absl::string_view::npos ? p.size() : slash;
    if (end == start) return false;  // empty segment
    if (slash == absl::string_view::npos) return true;
    start = slash + 1;
  }
}

// Fills op->strings (and op->string_set when long) from `values`.
template <typename Strings>
void SetStrings(const Strings& values, CompiledOp* op) {
  for (const auto& v : values) op->strings.emplace_back(v);
  if (op->strings.size() > kSmallListMax) {
    op->string_set.insert(op->strings.begin(), op->strings.end());
  }
}

absl::Status CompileOp(const Operator& src, const FieldRef& field,
                       absl::string_view where, const std::string& path,
                       CompiledOp* op) {
  const Operator::OpCase kind = src.op_case();
  op->op = kind;
  op->source = &src;
  if (kind == Operator::OP_NOT_SET) {
    return Invalid(where, path, "operator not set");
  }
  if (!OperatorFits(kind, field.type)) {
    return Invalid(
        where, path,
        absl::StrCat("operator ", OperatorName(kind), " does not fit a ",
                     FieldTypeName(field.type), " field"));
  }
  const bool integer = field.type == FieldType::kInteger;
  auto check_value = [&](const v1::Value& v) -> absl::Status {
    if (integer && v.kind_case() != v1::Value::kIntValue) {
      return Invalid(where, path,
                     absl::StrCat(OperatorName(kind), " needs an integer"));
    }
    if (!integer && v.kind_case() != v1::Value::kStringValue) {
      return Invalid(where, path,
                     absl::StrCat(OperatorName(kind), " needs a string"));
    }
    if (field.type == FieldType::kPath && !ValidPath(v.string_value())) {
      return Invalid(where, path,
                     absl::StrCat("invalid path \"", v.string_value(), "\""));
    }
    return absl::OkStatus();
  };
  auto check_paths = [&](const v1::StringList& list) -> absl::Status {
    if (list.values().empty()) {
      return Invalid(where, path,
                     absl::StrCat(OperatorName(kind), " needs a value"));
    }
    for (const std::string& p : list.values()) {
      if (!ValidPath(p)) {
        return Invalid(where, path, absl::StrCat("invalid path \"", p, "\""));
      }
    }
    return absl::OkStatus();
  };
  switch (kind) {
    case Operator::kEq:
    case Operator::kNe: {
      const v1::Value& v = kind == Operator::kEq ? src.eq() : src.ne();
      if (absl::Status s = check_value(v); !s.ok()) return s;
      op->num = v.int_value();
      op->str = v.string_value();
      break;
    }
    case Operator::kIn:
    case Operator::kNotIn: {
      const v1::ValueList& list =
          kind == Operator::kIn ? src.in() : src.not_in();
      if (list.values().empty()) {
        return Invalid(where, path,
                       absl::StrCat(OperatorName(kind), " needs a value"));
      }
      std::vector<std::string> strings;
      for (const v1::Value& v : list.values()) {
        if (absl::Status s = check_value(v); !s.ok()) return s;
        if (integer) {
          op->ints.push_back(v.int_value());
        } else {
          strings.push_back(v.string_value());
        }
      }
      SetStrings(strings, op);
      break;
    }
    case Operator::kUnder:
      if (absl::Status s = check_paths(src.under()); !s.ok()) return s;
      for (const std::string& p : src.under().values())
        op->strings.push_back(p);
      break;
    case Operator::kNotUnder:
      if (absl::Status s = check_paths(src.not_under()); !s.ok()) return s;
      for (const std::string& p : src.not_under().values()) {
        op->strings.push_back(p);
      }
      break;
    case Operator::kGt:
      op->num = src.gt();
      break;
    case Operator::kGte:
      op->num = src.gte();
      break;
    case Operator::kLt:
      op->num = src.lt();
      break;
    case Operator::kLte:
      op->num = src.lte();
      break;
    case Operator::kMatches: {
      re2::RE2::Options options;
      options.set_log_errors(false);
      auto re = std::make_shared<re2::RE2>(src.matches(), options);
      if (!re->ok()) {
        return Invalid(where, path,
                       absl::StrCat("invalid regular expression \"",
                                    src.matches(), "\": ", re->error()));
      }
      op->regex = std::move(re);
      break;
    }
    case Operator::kExists:
      op->flag = src.exists();
      break;
    case Operator::kAnyOf:
    case Operator::kAllOf:
    case Operator::kNoneOf: {
      const v1::StringList& list = kind == Operator::kAnyOf   ? src.any_of()
                                   : kind == Operator::kAllOf ? src.all_of()
                                                              : src.none_of();
      if (list.values().empty()) {
        return Invalid(where, path,
                       absl::StrCat(OperatorName(kind), " needs a value"));
      }
      if (kind == Operator::kAllOf) {
        for (const std::string& t : list.values()) op->strings.push_back(t);
      } else {
        SetStrings(list.values(), op);
      }
      break;
    }
    case Operator::kOlderThan:
    case Operator::kNewerThan: {
      const google::protobuf::Duration& d =
          kind == Operator::kOlderThan ? src.older_than() : src.newer_than();
      if (d.seconds() < 0 || d.nanos() < 0) {
        return Invalid(where, path, "negative duration");
      }
      op->duration = absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
      break;
    }
    case Operator::OP_NOT_SET:
      break;
  }
  return absl::OkStatus();
}

absl::Status CompileSegments(
    const v1::SegmentCondition& src,
    const absl::flat_hash_map<std::string, int>& segment_index,
    absl::string_view where, const std::string& path,
    CompiledSegmentCondition* out) {
  out->source = &src;
  auto add = [&](const std::string& name) -> absl::Status {
    auto it = segment_index.find(name);
    if (it == segment_index.end()) {
      return Invalid(where, path,
                     absl::StrCat("unknown segment \"", name,
                                  "\" (a segment may only use segments "
                                  "defined before it)"));
    }
    out->segments.push_back(it->second);
    return absl::OkStatus();
  };
  switch (src.kind_case()) {
    case v1::SegmentCondition::kName:
      return add(src.name());
    case v1::SegmentCondition::kAnyOf:
    case v1::SegmentCondition::kNoneOf: {
      out->none_of = src.kind_case() == v1::SegmentCondition::kNoneOf;
      const v1::StringList& list = out->none_of ? src.none_of() : src.any_of();
      if (list.values().empty()) return Invalid(where, path, "empty list");
      for (const std::string& name : list.values()) {
        if (absl::Status s = add(name); !s.ok()) return s;
      }
      return absl::OkStatus();
    }
    case v1::SegmentCondition::KIND_NOT_SET:
      break;
  }
  return Invalid(where, path, "segment condition not set");
}

// Relative cost of evaluating a clause; cheaper clauses are evaluated first.
int EvaluationCost(const CompiledClause& clause) {
  switch (clause.kind) {
    case CompiledClause::Kind::kSegment:
      return 0;
    case CompiledClause::Kind::kField: {
      int cost = 0;
      for (const CompiledOp& op : clause.field.ops) {
        if (op.op == Operator::kMatches) cost = std::max(cost, 5);
        if (!op.string_set.empty()) cost = std::max(cost, 2);
      }
      switch (clause.field.field.type) {
        case FieldType::kInteger:
        case FieldType::kToken:
          return std::max(cost, 0);
        case FieldType::kPath:
        case FieldType::kTimestamp:
          return std::max(cost, 1);
        case FieldType::kTags:
          return std::max(cost, 2);
        case FieldType::kString:  // attributes need a map lookup
          return std::max(cost, 3);
      }
      return cost;
    }
    case CompiledClause::Kind::kAny:
    case CompiledClause::Kind::kAll:
    case CompiledClause::Kind::kNot:
      return 4;
  }
  return 4;
}

void OrderForEvaluation(CompiledCondition* c) {
  const size_t n = c->clauses.size();
  std::vector<uint32_t> order(n);  // order[k]: file index of k-th evaluated
  for (size_t i = 0; i < n; ++i) order[i] = static_cast<uint32_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return EvaluationCost(c->clauses[a]) < EvaluationCost(c->clauses[b]);
  });
  std::vector<CompiledClause> sorted;
  sorted.reserve(n);
  c->file_order.assign(n, 0);
  for (size_t k = 0; k < n; ++k) {
    sorted.push_back(std::move(c->clauses[order[k]]));
    c->file_order[order[k]] = static_cast<uint32_t>(k);
  }
  c->clauses = std::move(sorted);
}

absl::Status CompileBlock(
    const v1::Condition& condition,
    const absl::flat_hash_map<std::string, int>& segment_index,
    absl::string_view where, const std::string& prefix,
    CompiledCondition* out) {
  out->clauses.reserve(condition.clauses_size());
  for (const v1::Clause& src : condition.clauses()) {
    CompiledClause& clause = out->clauses.emplace_back();
    switch (src.kind_case()) {
      case v1::Clause::kField: {
        clause.kind = CompiledClause::Kind::kField;
        const v1::FieldCondition& fc = src.field();
        const std::string path = absl::StrCat(prefix, ".", fc.field());
        std::optional<FieldRef> ref = LookupField(fc.field());
        if (!ref.has_value()) {
          return Invalid(where, path,
                         absl::StrCat("unknown field \"", fc.field(), "\""));
        }
        clause.field.field = *std::move(ref);
        if (fc.operators().empty()) return Invalid(where, path, "no operator");
        for (const Operator& op : fc.operators()) {
          if (absl::Status s = CompileOp(op, clause.field.field, where, path,
                                         &clause.field.ops.emplace_back());
              !s.ok()) {
            return s;
          }
        }
        break;
      }
      case v1::Clause::kSegment: {
        clause.kind = CompiledClause::Kind::kSegment;
        if (absl::Status s = CompileSegments(
                src.segment(), segment_index, where,
                absl::StrCat(prefix, ".segment"), &clause.segment);
            !s.ok()) {
          return s;
        }
        break;
      }
      case v1::Clause::kAny:
      case v1::Clause::kAll: {
        const bool any = src.kind_case() == v1::Clause::kAny;
        clause.kind =
            any ? CompiledClause::Kind::kAny : CompiledClause::Kind::kAll;
        const v1::ConditionList& list = any ? src.any() : src.all();
        const char* name = any ? ".any" : ".all";
        if (list.conditions().empty()) {
          return Invalid(where, absl::StrCat(prefix, name), "empty list");
        }
        clause.subs.resize(list.conditions_size());
        for (int i = 0; i < list.conditions_size(); ++i) {
          if (absl::Status s = CompileBlock(
                  list.conditions(i), segment_index, where,
                  absl::StrCat(prefix, name, "[", i, "]"), &clause.subs[i]);
              !s.ok()) {
            return s;
          }
        }
        break;
      }
      case v1::Clause::kNot: {
        clause.kind = CompiledClause::Kind::kNot;
        clause.subs.resize(1);
        if (absl::Status s =
                CompileBlock(src.not_(), segment_index, where,
                             absl::StrCat(prefix, ".not"), &clause.subs[0]);
            !s.ok()) {
          return s;
        }
        break;
      }
      case v1::Clause::KIND_NOT_SET:
        return Invalid(where, prefix, "clause not set");
    }
  }
  OrderForEvaluation(out);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Explanations.

// "180d", "1d12h", "90m" (the file syntax); sub-second parts in absl form.
std::string FormatDurationExact(absl::Duration d) {
  if (d == absl::ZeroDuration()) return "0s";
  const struct {
    absl::Duration unit;
    const char* suffix;
  } kUnits[] = {{absl::Hours(24), "d"},
                {absl::Hours(1), "h"},
                {absl::Minutes(1), "m"},
                {absl::Seconds(1), "s"}};
  std::string out;
  for (const auto& u : kUnits) {
    const int64_t n = absl::IDivDuration(d, u.unit, &d);
    if (n > 0) absl::StrAppend(&out, n, u.suffix);
  }
  if (d != absl::ZeroDuration()) absl::StrAppend(&out, absl::FormatDuration(d));
  return out;
}

std::string FormatValue(const v1::Value& v) {
  return v.kind_case() == v1::Value::kIntValue ? absl::StrCat(v.int_value())
                                               : v.string_value();
}

std::string FormatList(
    const google::protobuf::RepeatedPtrField<std::string>& l) {
  return absl::StrCat("[", absl::StrJoin(l, ", "), "]");
}

// "region under [CN/East]".
std::string FormatOp(absl::string_view field, const Operator& op) {
  std::string operand;
  switch (op.op_case()) {
    case Operator::kEq:
      operand = FormatValue(op.eq());
      break;
    case Operator::kNe:
      operand = FormatValue(op.ne());
      break;
    case Operator::kIn:
    case Operator::kNotIn: {
      const v1::ValueList& l =
          op.op_case() == Operator::kIn ? op.in() : op.not_in();
      operand =
          absl::StrCat("[",
                       absl::StrJoin(l.values(), ", ",
                                     [](std::string* out, const v1::Value& v) {
                                       out->append(FormatValue(v));
                                     }),
                       "]");
      break;
    }
    case Operator::kUnder:
      operand = FormatList(op.under().values());
      break;
    case Operator::kNotUnder:
      operand = FormatList(op.not_under().values());
      break;
    case Operator::kGt:
      operand = absl::StrCat(op.gt());
      break;
    case Operator::kGte:
      operand = absl::StrCat(op.gte());
      break;
    case Operator::kLt:
      operand = absl::StrCat(op.lt());
      break;
    case Operator::kLte:
      operand = absl::StrCat(op.lte());
      break;
    case Operator::kMatches:
      operand = op.matches();
      break;
    case Operator::kExists:
      operand = op.exists() ? "true" : "false";
      break;
    case Operator::kAnyOf:
      operand = FormatList(op.any_of().values());
      break;
    case Operator::kAllOf:
      operand = FormatList(op.all_of().values());
      break;
    case Operator::kNoneOf:
      operand = FormatList(op.none_of().values());
      break;
    case Operator::kOlderThan:
    case Operator::kNewerThan: {
      const google::protobuf::Duration& d = op.op_case() == Operator::kOlderThan
                                                ? op.older_than()
                                                : op.newer_than();
      operand = FormatDurationExact(absl::Seconds(d.seconds()) +
                                    absl::Nanoseconds(d.nanos()));
      break;
    }
    case Operator::OP_NOT_SET:
      break;
  }
  return absl::StrCat(field, " ", OperatorName(op.op_case()), " ", operand);
}

std::string FormatSegmentCondition(const v1::SegmentCondition& s) {
  switch (s.kind_case()) {
    case v1::SegmentCondition::kName:
      return absl::StrCat("segment ", s.name());
    case v1::SegmentCondition::kAnyOf:
      return absl::StrCat("segment any_of ", FormatList(s.any_of().values()));
    case v1::SegmentCondition::kNoneOf:
      return absl::StrCat("segment none_of ", FormatList(s.none_of().values()));
    case v1::SegmentCondition::KIND_NOT_SET:
      break;
  }
  return "segment";
}

std::string FormatBlock(const CompiledCondition& c);

std::string FormatClause(const CompiledClause& clause) {
  switch (clause.kind) {
    case CompiledClause::Kind::kField: {
      const std::string name = FieldName(clause.field.field);
      return absl::StrJoin(clause.field.ops, ", ",
                           [&](std::string* out, const CompiledOp& op) {
                             out->append(FormatOp(name, *op.source));
                           });
    }
    case CompiledClause::Kind::kSegment:
      return FormatSegmentCondition(*clause.segment.source);
    case CompiledClause::Kind::kAny:
    case CompiledClause::Kind::kAll:
      return absl::StrCat(
          clause.kind == CompiledClause::Kind::kAny ? "any [" : "all [",
          absl::StrJoin(clause.subs, ", ",
                        [](std::string* out, const CompiledCondition& c) {
                          out->append(FormatBlock(c));
                        }),
          "]");
    case CompiledClause::Kind::kNot:
      return absl::StrCat("not ", FormatBlock(clause.subs[0]));
  }
  return "";
}

std::string FormatBlock(const CompiledCondition& c) {
  return absl::StrCat("{",
                      absl::StrJoin(c.file_order, ", ",
                                    [&](std::string* out, uint32_t k) {
                                      out->append(FormatClause(c.clauses[k]));
                                    }),
                      "}");
}

std::string FormatObserved(const FieldValue& v, FieldType type) {
  if (type == FieldType::kTags) return FormatList(*v.tags);
  if (!v.present) return "(absent)";
  switch (type) {
    case FieldType::kInteger:
      return absl::StrCat(v.num);
    case FieldType::kTimestamp:
      return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", v.time,
                              absl::UTCTimeZone());
    default:
      return std::string(v.str);
  }
}

std::string FormatSegmentSet(const EvalContext& ctx) {
  std::vector<absl::string_view> names;
  for (size_t i = 0; i < ctx.segment_names.size(); ++i) {
    if (ctx.segments.Contains(static_cast<int>(i))) {
      names.push_back(ctx.segment_names[i]);
    }
  }
  return absl::StrCat("[", absl::StrJoin(names, ", "), "]");
}

// The values the clauses of `c` saw: "region=CN/East, segments=[ka]".
std::string FormatObservedBlock(const CompiledCondition& c,
                                const EvalContext& ctx) {
  std::vector<std::string> parts;
  for (uint32_t k : c.file_order) {
    const CompiledClause& clause = c.clauses[k];
    if (clause.kind == CompiledClause::Kind::kField) {
      parts.push_back(absl::StrCat(
          FieldName(clause.field.field), "=",
          FormatObserved(ReadField(ctx.customer, clause.field.field),
                         clause.field.field.type)));
    } else if (clause.kind == CompiledClause::Kind::kSegment) {
      parts.push_back(absl::StrCat("segments=", FormatSegmentSet(ctx)));
    }
  }
  return absl::StrJoin(parts, ", ");
}

bool ExplainBlock(const CompiledCondition& c, const EvalContext& ctx,
                  const std::string& prefix, Failure* failure) {
  for (uint32_t k : c.file_order) {
    const CompiledClause& clause = c.clauses[k];
    switch (clause.kind) {
      case CompiledClause::Kind::kField: {
        const FieldValue v = ReadField(ctx.customer, clause.field.field);
        for (const CompiledOp& op : clause.field.ops) {
          if (OpHolds(op, clause.field.field.type, v, ctx.at)) continue;
          const std::string name = FieldName(clause.field.field);
          failure->path = absl::StrCat(prefix, ".", name);
          failure->condition = FormatOp(name, *op.source);
          failure->observed = FormatObserved(v, clause.field.field.type);
          return false;
        }
        break;
      }
      case CompiledClause::Kind::kSegment:
        if (!SegmentHolds(clause.segment, ctx.segments)) {
          failure->path = absl::StrCat(prefix, ".segment");
          failure->condition = FormatSegmentCondition(*clause.segment.source);
          failure->observed = FormatSegmentSet(ctx);
          return false;
        }
        break;
      case CompiledClause::Kind::kAny: {
        bool held = false;
        for (size_t i = 0; i < clause.subs.size() && !held; ++i) {
          held = ExplainBlock(clause.subs[i], ctx,
                              absl::StrCat(prefix, ".any[", i, "]"), failure);
        }
        if (!held) {
          if (clause.subs.empty()) {
            failure->path = absl::StrCat(prefix, ".any");
            failure->condition = "any []";
            failure->observed = "";
          }
          return false;
        }
        break;
      }
      case CompiledClause::Kind::kAll:
        for (size_t i = 0; i < clause.subs.size(); ++i) {
          if (!ExplainBlock(clause.subs[i], ctx,
                            absl::StrCat(prefix, ".all[", i, "]"), failure)) {
            return false;
          }
        }
        break;
      case CompiledClause::Kind::kNot:
        if (Holds(clause.subs[0], ctx)) {
          failure->path = absl::StrCat(prefix, ".not");
          failure->condition = FormatClause(clause);
          failure->observed = FormatObservedBlock(clause.subs[0], ctx);
          return false;
        }
        break;
    }
  }
  return true;
}

}  // namespace

absl::string_view StringFieldValue(const v1::Customer& c,
                                   const FieldRef& field) {
  switch (field.id) {
    case FieldId::kId:
      return c.id();
    case FieldId::kName:
      return c.name();
    case FieldId::kRegion:
      return c.region();
    case FieldId::kIndustry:
      return c.industry();
    case FieldId::kCustomerType:
      return c.customer_type();
    case FieldId::kSalesStage:
      return c.sales_stage();
    case FieldId::kValueTier:
      return c.value_tier();
    case FieldId::kAttribute: {
      auto it = c.attributes().find(field.attribute_key);
      return it == c.attributes().end() ? absl::string_view()
                                        : absl::string_view(it->second);
    }
    default:
      return absl::string_view();
  }
}

absl::Status CompileCondition(
    const v1::Condition& condition,
    const absl::flat_hash_map<std::string, int>& segment_index,
    absl::string_view where, CompiledCondition* out) {
  return CompileBlock(condition, segment_index, where, "when", out);
}

bool Holds(const CompiledCondition& condition, const EvalContext& ctx) {
  for (const CompiledClause& clause : condition.clauses) {
    if (!ClauseHolds(clause, ctx)) return false;
  }
  return true;
}

bool Explain(const CompiledCondition& condition, const EvalContext& ctx,
             Failure* failure) {
  return ExplainBlock(condition, ctx, "when", failure);
}

}  // namespace custodian::rules::internal
