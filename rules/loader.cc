#include "rules/loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "rules/durations.h"
#include "rules/fields.h"
#include "rules/names.h"
#include "yaml-cpp/yaml.h"

namespace custodian::rules {
namespace {

// Deepest nesting of any/all/not blocks a file may use.
constexpr int kMaxConditionDepth = 32;
// Most map entries and list items one file may expand to (guards against
// alias bombs: yaml-cpp shares aliased nodes, a walk does not).
constexpr int64_t kMaxNodes = 200000;

SourceLocation ToLocation(const YAML::Mark& mark) {
  if (mark.line < 0 || mark.column < 0) return {};
  return SourceLocation{mark.line + 1, mark.column + 1};
}

std::string Child(const std::string& path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

std::string Item(const std::string& path, size_t index) {
  return absl::StrCat(path, "[", index, "]");
}

const char* KindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

// A scalar written without quotes (only those can be integers or booleans).
bool IsPlain(const YAML::Node& node) { return node.Tag() == "?"; }

template <typename E>
struct EnumName {
  const char* name;
  E value;
};

constexpr EnumName<v1::Strategy> kStrategies[] = {
    {"round_robin", v1::ROUND_ROBIN},
    {"weighted", v1::WEIGHTED},
    {"least_loaded", v1::LEAST_LOADED},
    {"best_match", v1::BEST_MATCH}};
constexpr EnumName<v1::DriftAction> kDriftActions[] = {
    {"keep", v1::KEEP}, {"reassign", v1::REASSIGN}};
constexpr EnumName<v1::DuplicateAction> kDuplicateActions[] = {
    {"route_to_existing_owner", v1::ROUTE_TO_EXISTING_OWNER},
    {"flag_only", v1::FLAG_ONLY}};
constexpr EnumName<v1::MatchKey> kMatchKeys[] = {
    {"tax_id", v1::TAX_ID},
    {"email_domain", v1::EMAIL_DOMAIN},
    {"name", v1::NAME}};
constexpr EnumName<v1::ExpiryAction> kExpiryActions[] = {
    {"uphold", v1::UPHOLD},
    {"overturn", v1::OVERTURN},
    {"escalate", v1::ESCALATE}};
constexpr EnumName<v1::RepStatus> kRepStatuses[] = {
    {"active", v1::ACTIVE}, {"away", v1::AWAY}, {"left", v1::LEFT}};

std::string AllOperatorNames() {
  std::vector<absl::string_view> names;
  for (int op = v1::Operator::kEq; op <= v1::Operator::kNewerThan; ++op) {
    names.push_back(OperatorName(static_cast<v1::Operator::OpCase>(op)));
  }
  return absl::StrJoin(names, ", ");
}

// Converts YAML nodes into protos, reporting every problem at its location.
class Reader {
 public:
  Reader(Diagnostics* diags, SourceMap* map) : diags_(diags), map_(map) {}

  struct Entry {
    std::string key;
    std::string path;
    YAML::Node value;
  };
  using Handler = std::function<void(const Entry&)>;
  using Handlers = std::vector<std::pair<absl::string_view, Handler>>;

  // Parses `text` into its one document (null for an empty file). Reports
  // syntax errors (returning nullopt) and extra documents.
  std::optional<YAML::Node> Parse(absl::string_view text) {
    if (text.size() > kMaxFileBytes) {
      diags_->ErrorAt(
          SourceLocation{}, "",
          absl::StrCat("file is larger than ", kMaxFileBytes, " bytes"));
      return std::nullopt;
    }
    std::vector<YAML::Node> docs;
    try {
      docs = YAML::LoadAll(std::string(text));
    } catch (const YAML::Exception& e) {
      diags_->ErrorAt(ToLocation(e.mark), "",
                      absl::StrCat("syntax error: ", e.msg));
      return std::nullopt;
    }
    if (docs.empty()) {
      map_->Record("", SourceLocation{1, 1});
      return YAML::Node(YAML::NodeType::Null);
    }
    if (docs.size() > 1) {
      diags_->ErrorAt(ToLocation(docs[1].Mark()), "",
                      "a file holds one YAML document; found a second one");
    }
    map_->Record("", ToLocation(docs[0].Mark()).known()
                         ? ToLocation(docs[0].Mark())
                         : SourceLocation{1, 1});
    return docs[0];
  }

  void Error(const std::string& path, std::string message) {
    diags_->ErrorAt(map_->Find(path), path, std::move(message));
  }

  void Record(const std::string& path, const YAML::Node& node) {
    SourceLocation loc = ToLocation(node.Mark());
    if (loc.known()) map_->Record(path, loc);
  }

  // Counts a visited node; false (reported once) past kMaxNodes.
  bool Visit(const std::string& path) {
    if (++visited_ <= kMaxNodes) return true;
    if (!budget_reported_) {
      budget_reported_ = true;
      Error(path, absl::StrCat("file expands to more than ", kMaxNodes,
                               " nodes (check aliases)"));
    }
    return false;
  }

  // The entries of a map, in file order, each recorded at its key. Reports
  // non-string and duplicate keys (dropping the duplicate).
  std::vector<Entry> Entries(const YAML::Node& node, const std::string& path) {
    std::vector<Entry> out;
    absl::flat_hash_map<std::string, std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!Visit(path)) break;
      const YAML::Node key = it->first;  // a copy: it-> yields a temporary
      if (!key.IsScalar()) {
        diags_->ErrorAt(
            ToLocation(key.Mark()), path,
            absl::StrCat("map keys must be strings, got ", KindName(key)));
        continue;
      }
      std::string child = Child(path, key.Scalar());
      SourceLocation loc = ToLocation(key.Mark());
      if (!seen.try_emplace(key.Scalar(), child).second) {
        diags_->ErrorAt(loc, child,
                        absl::StrCat("duplicate key ", Quote(key.Scalar())));
        continue;
      }
      if (loc.known()) map_->Record(child, loc);
      out.push_back(Entry{key.Scalar(), std::move(child), it->second});
    }
    return out;
  }

  // Reads a map whose keys are the struct fields named in `handlers`.
  // A null node is an empty map. Reports unknown keys naming the expected
  // ones. Null values are absent, except where a handler is told otherwise.
  void Struct(const YAML::Node& node, const std::string& path,
              absl::string_view what, const Handlers& handlers) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      Error(path,
            absl::StrCat("expected a map (", what, "), got ", KindName(node)));
      return;
    }
    for (const Entry& e : Entries(node, path)) {
      const Handler* handler = nullptr;
      for (const auto& [key, h] : handlers) {
        if (key == e.key) handler = &h;
      }
      if (handler == nullptr) {
        std::vector<absl::string_view> keys;
        for (const auto& [key, h] : handlers) keys.push_back(key);
        Error(e.path, absl::StrCat("unknown key ", Quote(e.key), " in ", what,
                                   " (expected one of: ",
                                   absl::StrJoin(keys, ", "), ")"));
        continue;
      }
      (*handler)(e);
    }
  }

  // Calls `fn(item, item_path)` for each item of a list; null is an empty
  // list. Each item is recorded at its own location.
  void List(
      const YAML::Node& node, const std::string& path,
      const std::function<void(const YAML::Node&, const std::string&)>& fn) {
    if (node.IsNull()) return;
    if (!node.IsSequence()) {
      Error(path, absl::StrCat("expected a list, got ", KindName(node)));
      return;
    }
    size_t i = 0;
    for (auto it = node.begin(); it != node.end(); ++it, ++i) {
      if (!Visit(path)) break;
      std::string item = Item(path, i);
      Record(item, *it);
      fn(*it, item);
    }
  }

  // A scalar as a string; nullopt for null (absent) or on error.
  std::optional<std::string> String(const YAML::Node& node,
                                    const std::string& path) {
    if (node.IsNull()) return std::nullopt;
    if (!node.IsScalar()) {
      Error(path, absl::StrCat("expected a string, got ", KindName(node)));
      return std::nullopt;
    }
    return node.Scalar();
  }

  // A non-null scalar as a string (list items, condition values).
  std::optional<std::string> RequiredString(const YAML::Node& node,
                                            const std::string& path) {
    if (node.IsNull()) {
      Error(path, "expected a string, got null");
      return std::nullopt;
    }
    return String(node, path);
  }

  std::optional<int64_t> Int(const YAML::Node& node, const std::string& path,
                             bool null_is_error = false) {
    if (node.IsNull()) {
      if (null_is_error) Error(path, "expected an integer, got null");
      return std::nullopt;
    }
    if (!node.IsScalar()) {
      Error(path, absl::StrCat("expected an integer, got ", KindName(node)));
      return std::nullopt;
    }
    const std::string& s = node.Scalar();
    if (!IsPlain(node)) {
      Error(path,
            absl::StrCat("expected an integer, got the string ", Quote(s)));
      return std::nullopt;
    }
    bool digits = !s.empty();
    for (size_t i = 0; i < s.size(); ++i) {
      bool sign = i == 0 && s[i] == '-' && s.size() > 1;
      digits = digits && (sign || (s[i] >= '0' && s[i] <= '9'));
    }
    int64_t value = 0;
    if (!digits) {
      Error(path, absl::StrCat("expected an integer, got ", Quote(s)));
      return std::nullopt;
    }
    if (!absl::SimpleAtoi(s, &value)) {
      Error(path, absl::StrCat("integer ", s, " is out of range"));
      return std::nullopt;
    }
    return value;
  }

  // An integer into an int32 field. `min` > 0 rejects values that the
  // defaults would otherwise silently replace (0 means "unset" in proto3).
  std::optional<int32_t> Int32(const YAML::Node& node, const std::string& path,
                               absl::string_view name, int64_t min,
                               int64_t max) {
    std::optional<int64_t> v = Int(node, path);
    if (!v) return std::nullopt;
    if (*v < INT32_MIN || *v > INT32_MAX || (min > 0 && *v == 0)) {
      Error(path,
            absl::StrCat(name, " ", *v, " is out of range ", min, "-", max));
      return std::nullopt;
    }
    return static_cast<int32_t>(*v);
  }

  std::optional<bool> Bool(const YAML::Node& node, const std::string& path) {
    if (node.IsNull()) return std::nullopt;
    if (node.IsScalar() && IsPlain(node)) {
      if (node.Scalar() == "true") return true;
      if (node.Scalar() == "false") return false;
    }
    Error(path, absl::StrCat("expected true or false, got ",
                             node.IsScalar() ? Quote(node.Scalar())
                                             : std::string(KindName(node))));
    return std::nullopt;
  }

  std::optional<google::protobuf::Duration> Duration(const YAML::Node& node,
                                                     const std::string& path,
                                                     bool null_is_error) {
    if (node.IsNull()) {
      if (null_is_error)
        Error(path, "expected a duration such as 30d, got null");
      return std::nullopt;
    }
    std::optional<std::string> s = String(node, path);
    if (!s) return std::nullopt;
    absl::StatusOr<google::protobuf::Duration> d = ParseDuration(*s);
    if (!d.ok()) {
      Error(path, std::string(d.status().message()));
      return std::nullopt;
    }
    return *d;
  }

  template <typename E, size_t N>
  std::optional<E> Enum(const YAML::Node& node, const std::string& path,
                        absl::string_view what, const EnumName<E> (&names)[N]) {
    std::optional<std::string> s =
        node.IsNull() ? std::optional<std::string>() : String(node, path);
    if (!s) {
      if (node.IsNull())
        Error(path, absl::StrCat("expected a ", what, ", got null"));
      return std::nullopt;
    }
    std::vector<absl::string_view> all;
    for (const EnumName<E>& n : names) {
      if (*s == n.name) return n.value;
      all.push_back(n.name);
    }
    Error(path,
          absl::StrCat("unknown ", what, " ", Quote(*s),
                       " (expected one of: ", absl::StrJoin(all, ", "), ")"));
    return std::nullopt;
  }

  void Strings(const YAML::Node& node, const std::string& path,
               google::protobuf::RepeatedPtrField<std::string>* out) {
    List(node, path, [&](const YAML::Node& item, const std::string& item_path) {
      if (std::optional<std::string> s = RequiredString(item, item_path)) {
        out->Add(std::move(*s));
      }
    });
  }

  // Sets a string field when the value is present and well typed.
  Handler SetString(std::string* out) {
    return [this, out](const Entry& e) {
      if (std::optional<std::string> s = String(e.value, e.path)) *out = *s;
    };
  }

  // ---------------------------------------------------------------------
  // Conditions.

  void Condition(const YAML::Node& node, const std::string& path,
                 v1::Condition* out, int depth) {
    if (node.IsNull()) return;
    if (depth > kMaxConditionDepth) {
      Error(path, absl::StrCat("conditions nest deeper than ",
                               kMaxConditionDepth, " levels"));
      return;
    }
    if (!node.IsMap()) {
      Error(path,
            absl::StrCat("expected a map of conditions, got ", KindName(node)));
      return;
    }
    for (const Entry& e : Entries(node, path)) {
      if (e.key == "segment") {
        v1::SegmentCondition segment;
        if (Segment(e.value, e.path, &segment)) {
          *out->add_clauses()->mutable_segment() = std::move(segment);
        }
      } else if (e.key == "any" || e.key == "all") {
        if (!e.value.IsSequence()) {
          Error(e.path,
                absl::StrCat(e.key, " expects a list of condition maps, got ",
                             KindName(e.value)));
          continue;
        }
        v1::Clause* clause = out->add_clauses();
        v1::ConditionList* list =
            e.key == "any" ? clause->mutable_any() : clause->mutable_all();
        List(e.value, e.path,
             [&](const YAML::Node& item, const std::string& item_path) {
               Condition(item, item_path, list->add_conditions(), depth + 1);
             });
      } else if (e.key == "not") {
        if (!e.value.IsMap() && !e.value.IsNull()) {
          Error(e.path, absl::StrCat("not expects a map of conditions, got ",
                                     KindName(e.value)));
          continue;
        }
        Condition(e.value, e.path, out->add_clauses()->mutable_not_(),
                  depth + 1);
      } else {
        v1::FieldCondition field;
        if (Field(e.key, e.value, e.path, &field)) {
          *out->add_clauses()->mutable_field() = std::move(field);
        }
      }
    }
  }

  // `segment: name` / `segment: {any_of: [...]}` / `segment: {none_of: [...]}`.
  bool Segment(const YAML::Node& node, const std::string& path,
               v1::SegmentCondition* out) {
    constexpr absl::string_view kForms =
        "segment: name, segment: {any_of: [...]} or segment: {none_of: [...]}";
    if (node.IsScalar()) {
      out->set_name(node.Scalar());
      return true;
    }
    if (!node.IsMap()) {
      Error(path, absl::StrCat("expected ", kForms, ", got ", KindName(node)));
      return false;
    }
    std::vector<Entry> entries = Entries(node, path);
    if (entries.size() != 1) {
      Error(path, absl::StrCat("expected exactly one of any_of or none_of (",
                               kForms, ")"));
      return false;
    }
    const Entry& e = entries[0];
    v1::StringList* list;
    if (e.key == "any_of") {
      list = out->mutable_any_of();
    } else if (e.key == "none_of") {
      list = out->mutable_none_of();
    } else {
      Error(e.path, absl::StrCat("unknown key ", Quote(e.key),
                                 " in segment condition (expected one of: "
                                 "any_of, none_of)"));
      return false;
    }
    if (!e.value.IsSequence()) {
      Error(e.path, absl::StrCat("expected a list of segment names, got ",
                                 KindName(e.value)));
      return false;
    }
    Strings(e.value, e.path, list->mutable_values());
    return true;
  }

  // One value of eq/ne/in/not_in: an integer for integer fields, else a
  // string.
  bool ScalarValue(const YAML::Node& node, const std::string& path,
                   bool integer, v1::Value* out) {
    if (node.IsNull() || !node.IsScalar()) {
      Error(path,
            absl::StrCat("expected a scalar value, got ", KindName(node)));
      return false;
    }
    if (integer) {
      std::optional<int64_t> v = Int(node, path);
      if (!v) return false;
      out->set_int_value(*v);
    } else {
      out->set_string_value(node.Scalar());
    }
    return true;
  }

  bool ValueList(const YAML::Node& node, const std::string& path, bool integer,
                 v1::ValueList* out) {
    if (!node.IsSequence()) {
      Error(path,
            absl::StrCat("expected a list of values, got ", KindName(node)));
      return false;
    }
    bool ok = true;
    List(node, path, [&](const YAML::Node& item, const std::string& item_path) {
      v1::Value value;
      if (ScalarValue(item, item_path, integer, &value)) {
        *out->add_values() = std::move(value);
      } else {
        ok = false;
      }
    });
    return ok;
  }

  bool StringListOperand(const YAML::Node& node, const std::string& path,
                         bool scalar_ok, v1::StringList* out) {
    if (scalar_ok && node.IsScalar()) {
      Record(Item(path, 0), node);
      out->add_values(node.Scalar());
      return true;
    }
    if (!node.IsSequence()) {
      Error(path, absl::StrCat(scalar_ok ? "expected a string or a list of "
                                           "strings, got "
                                         : "expected a list of strings, got ",
                               KindName(node)));
      return false;
    }
    int errors = diags_->error_count();
    Strings(node, path, out->mutable_values());
    return diags_->error_count() == errors;
  }

  // `field: value`, `field: [a, b]` or `field: {op: operand, ...}`. Returns
  // false when nothing usable was read.
  bool Field(const std::string& name, const YAML::Node& node,
             const std::string& path, v1::FieldCondition* out) {
    out->set_field(name);
    std::optional<FieldRef> ref = LookupField(name);
    const bool integer = ref && ref->type == FieldType::kInteger;
    if (node.IsScalar()) {
      std::string op_path = Child(path, "eq");
      Record(op_path, node);
      return ScalarValue(node, op_path, integer,
                         out->add_operators()->mutable_eq());
    }
    if (node.IsSequence()) {
      std::string op_path = Child(path, "in");
      Record(op_path, node);
      return ValueList(node, op_path, integer,
                       out->add_operators()->mutable_in());
    }
    if (!node.IsMap()) {
      Error(path, absl::StrCat("condition on ", name, " needs a value: write ",
                               name, ": value, ", name, ": [a, b] or ", name,
                               ": {operator: operand}"));
      return false;
    }
    std::vector<Entry> entries = Entries(node, path);
    if (entries.empty()) return true;  // the validator reports "no operators"
    for (const Entry& e : entries) {
      std::optional<v1::Operator::OpCase> op = LookupOperator(e.key);
      if (!op) {
        Error(e.path,
              absl::StrCat("unknown operator ", Quote(e.key),
                           " (expected one of: ", AllOperatorNames(), ")"));
        continue;
      }
      v1::Operator operator_;
      if (Operand(*op, e.value, e.path, integer, &operator_)) {
        *out->add_operators() = std::move(operator_);
      }
    }
    return out->operators_size() > 0;
  }

  bool Operand(v1::Operator::OpCase op, const YAML::Node& node,
               const std::string& path, bool integer, v1::Operator* out) {
    switch (op) {
      case v1::Operator::kEq:
        return ScalarValue(node, path, integer, out->mutable_eq());
      case v1::Operator::kNe:
        return ScalarValue(node, path, integer, out->mutable_ne());
      case v1::Operator::kIn:
        return ValueList(node, path, integer, out->mutable_in());
      case v1::Operator::kNotIn:
        return ValueList(node, path, integer, out->mutable_not_in());
      case v1::Operator::kUnder:
        return StringListOperand(node, path, true, out->mutable_under());
      case v1::Operator::kNotUnder:
        return StringListOperand(node, path, true, out->mutable_not_under());
      case v1::Operator::kAnyOf:
        return StringListOperand(node, path, false, out->mutable_any_of());
      case v1::Operator::kAllOf:
        return StringListOperand(node, path, false, out->mutable_all_of());
      case v1::Operator::kNoneOf:
        return StringListOperand(node, path, false, out->mutable_none_of());
      case v1::Operator::kGt:
      case v1::Operator::kGte:
      case v1::Operator::kLt:
      case v1::Operator::kLte: {
        std::optional<int64_t> v = Int(node, path, /*null_is_error=*/true);
        if (!v) return false;
        if (op == v1::Operator::kGt) out->set_gt(*v);
        if (op == v1::Operator::kGte) out->set_gte(*v);
        if (op == v1::Operator::kLt) out->set_lt(*v);
        if (op == v1::Operator::kLte) out->set_lte(*v);
        return true;
      }
      case v1::Operator::kMatches: {
        std::optional<std::string> s = RequiredString(node, path);
        if (!s) return false;
        out->set_matches(*s);
        return true;
      }
      case v1::Operator::kExists: {
        std::optional<bool> b = Bool(node, path);
        if (!b) {
          if (node.IsNull()) Error(path, "expected true or false, got null");
          return false;
        }
        out->set_exists(*b);
        return true;
      }
      case v1::Operator::kOlderThan:
      case v1::Operator::kNewerThan: {
        std::optional<google::protobuf::Duration> d =
            Duration(node, path, /*null_is_error=*/true);
        if (!d) return false;
        *(op == v1::Operator::kOlderThan ? out->mutable_older_than()
                                         : out->mutable_newer_than()) = *d;
        return true;
      }
      case v1::Operator::OP_NOT_SET:
        break;
    }
    return false;
  }

  // ---------------------------------------------------------------------
  // Ruleset.

  // Reads a target map; returns false when absent (null) or not a map.
  bool Target(const YAML::Node& node, const std::string& path,
              v1::Target* out) {
    if (node.IsNull()) return false;
    if (!node.IsMap()) {
      Error(path, absl::StrCat("expected a map (target: one of team, rep or "
                               "pool), got ",
                               KindName(node)));
      return false;
    }
    std::string first_kind;
    auto kind = [&](absl::string_view name,
                    void (v1::Target::*set)(const std::string&)) {
      return [this, out, name, set, &first_kind](const Entry& e) {
        std::optional<std::string> s = String(e.value, e.path);
        if (!s) return;
        if (!first_kind.empty()) {
          Error(e.path,
                absl::StrCat("target names both ", first_kind, " and ", name,
                             "; a target names exactly one of team, "
                             "rep or pool"));
          return;
        }
        first_kind = std::string(name);
        (out->*set)(*s);
      };
    };
    Struct(node, path, "target",
           {{"team", kind("team", &v1::Target::set_team)},
            {"rep", kind("rep", &v1::Target::set_rep)},
            {"pool", kind("pool", &v1::Target::set_pool)},
            {"strategy",
             [&](const Entry& e) {
               if (e.value.IsNull()) return;
               if (auto s = Enum(e.value, e.path, "strategy", kStrategies)) {
                 out->set_strategy(*s);
               }
             }},
            {"requires_approval", [&](const Entry& e) {
               if (auto b = Bool(e.value, e.path))
                 out->set_requires_approval(*b);
             }}});
    return true;
  }

  void Rule(const YAML::Node& node, const std::string& path, v1::Rule* out) {
    if (node.IsNull()) {
      Error(path, "expected a map (rule), got null");
      return;
    }
    Struct(node, path, "rule",
           {{"id", SetString(out->mutable_id())},
            {"description", SetString(out->mutable_description())},
            {"when",
             [&](const Entry& e) {
               Condition(e.value, e.path, out->mutable_when(), 0);
             }},
            {"assign",
             [&](const Entry& e) {
               v1::Target t;
               if (Target(e.value, e.path, &t)) *out->mutable_assign() = t;
             }},
            {"overflow", [&](const Entry& e) {
               v1::Target t;
               if (Target(e.value, e.path, &t)) *out->mutable_overflow() = t;
             }}});
  }

  void Department(const Entry& dept, v1::DepartmentRules* out) {
    out->set_department(dept.key);
    Struct(dept.value, dept.path, "department",
           {{"rules",
             [&](const Entry& e) {
               List(e.value, e.path,
                    [&](const YAML::Node& item, const std::string& item_path) {
                      Rule(item, item_path, out->add_rules());
                    });
             }},
            {"fallback", [&](const Entry& e) {
               v1::Target t;
               if (Target(e.value, e.path, &t)) *out->mutable_fallback() = t;
             }}});
  }

  void Segments(const Entry& e, v1::Ruleset* out) {
    List(e.value, e.path, [&](const YAML::Node& item, const std::string& path) {
      v1::Segment* segment = out->add_segments();
      if (item.IsNull()) {
        Error(path, "expected a map (segment), got null");
        return;
      }
      Struct(item, path, "segment",
             {{"name", SetString(segment->mutable_name())},
              {"description", SetString(segment->mutable_description())},
              {"when", [&](const Entry& w) {
                 Condition(w.value, w.path, segment->mutable_when(), 0);
               }}});
    });
  }

  void Departments(const Entry& e, v1::Ruleset* out) {
    if (e.value.IsNull()) return;
    if (!e.value.IsMap()) {
      Error(e.path, absl::StrCat("expected a map of departments by id, got ",
                                 KindName(e.value)));
      return;
    }
    for (const Entry& dept : Entries(e.value, e.path)) {
      Department(dept, out->add_departments());
    }
  }

  void Policies(const Entry& e, v1::Policies* out) {
    Struct(
        e.value, e.path, "policies",
        {{"capacity",
          [&](const Entry& c) {
            v1::CapacityPolicy* cap = out->mutable_capacity();
            Struct(c.value, c.path, "capacity",
                   {{"default_max_customers",
                     [&](const Entry& f) {
                       std::optional<int64_t> v = Int(f.value, f.path);
                       if (v && *v == 0) {
                         Error(f.path,
                               "default_max_customers 0 is out of range "
                               "1-1000000");
                       } else if (v) {
                         cap->set_default_max_customers(*v);
                       }
                     }},
                    {"count_won", [&](const Entry& f) {
                       if (auto b = Bool(f.value, f.path))
                         cap->set_count_won(*b);
                     }}});
          }},
         {"on_drift",
          [&](const Entry& f) {
            if (f.value.IsNull()) return;
            if (auto v = Enum(f.value, f.path, "drift action", kDriftActions)) {
              out->set_on_drift(*v);
            }
          }},
         {"recycling",
          [&](const Entry& r) {
            List(r.value, r.path,
                 [&](const YAML::Node& item, const std::string& path) {
                   v1::RecyclingRule* rule = out->add_recycling();
                   if (item.IsNull()) {
                     Error(path, "expected a map (recycling rule), got null");
                     return;
                   }
                   Struct(
                       item, path, "recycling rule",
                       {{"department", SetString(rule->mutable_department())},
                        {"when",
                         [&](const Entry& w) {
                           Condition(w.value, w.path, rule->mutable_when(), 0);
                         }},
                        {"to_pool", SetString(rule->mutable_to_pool())}});
                 });
          }},
         {"protection",
          [&](const Entry& p) {
            v1::ProtectionPolicy* protection = out->mutable_protection();
            Struct(p.value, p.path, "protection",
                   {{"new_owner", [&](const Entry& f) {
                       if (auto d = Duration(f.value, f.path, false)) {
                         *protection->mutable_new_owner() = *d;
                       }
                     }}});
          }},
         {"duplicates",
          [&](const Entry& d) {
            v1::DuplicatesPolicy* dup = out->mutable_duplicates();
            Struct(
                d.value, d.path, "duplicates",
                {{"match_on",
                  [&](const Entry& f) {
                    List(f.value, f.path,
                         [&](const YAML::Node& item, const std::string& path) {
                           if (auto k =
                                   Enum(item, path, "match key", kMatchKeys)) {
                             dup->add_match_on(*k);
                           }
                         });
                  }},
                 {"on_match", [&](const Entry& f) {
                    if (f.value.IsNull()) return;
                    if (auto v = Enum(f.value, f.path, "duplicate action",
                                      kDuplicateActions)) {
                      dup->set_on_match(*v);
                    }
                  }}});
          }},
         {"disputes",
          [&](const Entry& d) {
            v1::DisputesPolicy* disputes = out->mutable_disputes();
            Struct(d.value, d.path, "disputes",
                   {{"panel",
                     [&](const Entry& p) {
                       if (p.value.IsNull()) return;
                       v1::PanelSpec* panel = disputes->mutable_panel();
                       Struct(p.value, p.path, "panel",
                              {{"team", SetString(panel->mutable_team())},
                               {"size", [&](const Entry& f) {
                                  if (auto v = Int32(f.value, f.path,
                                                     "panel size", 0, 15)) {
                                    panel->set_size(*v);
                                  }
                                }}});
                     }},
                    {"quorum",
                     [&](const Entry& f) {
                       if (auto v = Int32(f.value, f.path, "quorum", 1, 15)) {
                         disputes->set_quorum(*v);
                       }
                     }},
                    {"sla",
                     [&](const Entry& f) {
                       if (auto v = Duration(f.value, f.path, false)) {
                         *disputes->mutable_sla() = *v;
                       }
                     }},
                    {"on_expiry",
                     [&](const Entry& f) {
                       if (f.value.IsNull()) return;
                       if (auto v = Enum(f.value, f.path, "expiry action",
                                         kExpiryActions)) {
                         disputes->set_on_expiry(*v);
                       }
                     }},
                    {"reappeal_after", [&](const Entry& f) {
                       if (auto v = Duration(f.value, f.path, false)) {
                         *disputes->mutable_reappeal_after() = *v;
                       }
                     }}});
          }},
         {"review", [&](const Entry& r) {
            v1::ReviewPolicy* review = out->mutable_review();
            Struct(r.value, r.path, "review",
                   {{"stale_after", [&](const Entry& f) {
                       if (auto v = Duration(f.value, f.path, false)) {
                         *review->mutable_stale_after() = *v;
                       }
                     }}});
          }}});
  }

  void Ruleset(const YAML::Node& root, v1::Ruleset* out) {
    Struct(root, "", "ruleset file",
           {{"ruleset", SetString(out->mutable_name())},
            {"description", SetString(out->mutable_description())},
            {"segments", [&](const Entry& e) { Segments(e, out); }},
            {"departments", [&](const Entry& e) { Departments(e, out); }},
            {"policies",
             [&](const Entry& e) { Policies(e, out->mutable_policies()); }}});
  }

  // ---------------------------------------------------------------------
  // Roster.

  void Roster(const YAML::Node& root, v1::Roster* out) {
    auto items =
        [&](const Entry& e, absl::string_view what,
            const std::function<void(const YAML::Node&, const std::string&)>&
                fn) {
          List(e.value, e.path,
               [&](const YAML::Node& item, const std::string& path) {
                 if (item.IsNull()) {
                   Error(path,
                         absl::StrCat("expected a map (", what, "), got null"));
                   return;
                 }
                 fn(item, path);
               });
        };
    Struct(root, "", "roster file",
           {{"departments",
             [&](const Entry& e) {
               items(e, "department",
                     [&](const YAML::Node& n, const std::string& p) {
                       v1::Department* d = out->add_departments();
                       Struct(n, p, "department",
                              {{"id", SetString(d->mutable_id())},
                               {"name", SetString(d->mutable_name())}});
                     });
             }},
            {"reps",
             [&](const Entry& e) {
               items(e, "rep", [&](const YAML::Node& n, const std::string& p) {
                 v1::Rep* rep = out->add_reps();
                 Struct(n, p, "rep",
                        {{"id", SetString(rep->mutable_id())},
                         {"name", SetString(rep->mutable_name())},
                         {"status",
                          [&](const Entry& f) {
                            if (f.value.IsNull()) return;
                            if (auto s = Enum(f.value, f.path, "rep status",
                                              kRepStatuses)) {
                              rep->set_status(*s);
                            }
                          }},
                         {"skills", [&](const Entry& f) {
                            Strings(f.value, f.path, rep->mutable_skills());
                          }}});
               });
             }},
            {"teams", [&](const Entry& e) {
               items(e, "team", [&](const YAML::Node& n, const std::string& p) {
                 v1::Team* team = out->add_teams();
                 Struct(
                     n, p, "team",
                     {{"id", SetString(team->mutable_id())},
                      {"department", SetString(team->mutable_department())},
                      {"members",
                       [&](const Entry& f) {
                         items(f, "member",
                               [&](const YAML::Node& m, const std::string& mp) {
                                 Member(m, mp, team->add_members());
                               });
                       }},
                      {"pool", [&](const Entry& f) {
                         // `pool:` with no settings still makes a pool.
                         v1::PoolSettings* pool = team->mutable_pool();
                         Struct(f.value, f.path, "pool",
                                {{"claim_limit_per_day",
                                  [&](const Entry& g) {
                                    if (auto v = Int32(g.value, g.path,
                                                       "claim_limit_per_day", 0,
                                                       10000)) {
                                      pool->set_claim_limit_per_day(*v);
                                    }
                                  }},
                                 {"cooldown", [&](const Entry& g) {
                                    if (auto d =
                                            Duration(g.value, g.path, false)) {
                                      *pool->mutable_cooldown() = *d;
                                    }
                                  }}});
                       }}});
               });
             }}});
  }

  void Member(const YAML::Node& node, const std::string& path,
              v1::TeamMember* out) {
    Struct(node, path, "member",
           {{"rep", SetString(out->mutable_rep())},
            {"capacity",
             [&](const Entry& f) {
               if (auto v = Int(f.value, f.path)) out->set_capacity(*v);
             }},
            {"weight", [&](const Entry& f) {
               if (auto v = Int32(f.value, f.path, "weight", 1, 1000)) {
                 out->set_weight(*v);
               }
             }}});
  }

  // ---------------------------------------------------------------------
  // Customer.

  void Timestamp(const Entry& e, google::protobuf::Timestamp* out) {
    std::optional<std::string> s = String(e.value, e.path);
    if (!s) return;
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, *s, &t, &err)) {
      Error(e.path, absl::StrCat("expected an RFC 3339 timestamp such as "
                                 "2026-01-31T09:00:00Z, got ",
                                 Quote(*s)));
      return;
    }
    const int64_t seconds = absl::ToUnixSeconds(t);
    out->set_seconds(seconds);
    out->set_nanos(static_cast<int32_t>((t - absl::FromUnixSeconds(seconds)) /
                                        absl::Nanoseconds(1)));
  }

  void Customer(const YAML::Node& root, const std::string& prefix,
                v1::Customer* out) {
    if (!root.IsMap()) {
      Error(prefix,
            absl::StrCat("expected a map (customer), got ", KindName(root)));
      return;
    }
    auto integer = [&](void (v1::Customer::*set)(int64_t)) {
      return [this, out, set](const Entry& e) {
        if (auto v = Int(e.value, e.path)) (out->*set)(*v);
      };
    };
    Struct(
        root, prefix, "customer",
        {{"id", SetString(out->mutable_id())},
         {"name", SetString(out->mutable_name())},
         {"region", SetString(out->mutable_region())},
         {"industry", SetString(out->mutable_industry())},
         {"customer_type", SetString(out->mutable_customer_type())},
         {"sales_stage", SetString(out->mutable_sales_stage())},
         {"value_tier", SetString(out->mutable_value_tier())},
         {"annual_revenue", integer(&v1::Customer::set_annual_revenue)},
         {"employee_count", integer(&v1::Customer::set_employee_count)},
         {"tags",
          [&](const Entry& e) {
            Strings(e.value, e.path, out->mutable_tags());
          }},
         {"attributes",
          [&](const Entry& e) {
            if (e.value.IsNull()) return;
            if (!e.value.IsMap()) {
              Error(e.path, absl::StrCat("expected a map of strings, got ",
                                         KindName(e.value)));
              return;
            }
            for (const Entry& a : Entries(e.value, e.path)) {
              if (auto s = String(a.value, a.path)) {
                (*out->mutable_attributes())[a.key] = *s;
              }
            }
          }},
         {"created_time",
          [&](const Entry& e) { Timestamp(e, out->mutable_created_time()); }},
         {"last_activity_time",
          [&](const Entry& e) {
            Timestamp(e, out->mutable_last_activity_time());
          }},
         {"tax_id", SetString(out->mutable_tax_id())},
         {"email_domain", SetString(out->mutable_email_domain())},
         {"phone", SetString(out->mutable_phone())}});
  }

 private:
  Diagnostics* diags_;
  SourceMap* map_;
  int64_t visited_ = 0;
  bool budget_reported_ = false;
};

}  // namespace

absl::StatusOr<std::string> ReadTextFile(const std::string& path,
                                         size_t max_bytes) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string message = absl::StrCat(path, ": ", std::strerror(err));
    if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(message);
    if (err == EACCES || err == EPERM) {
      return absl::PermissionDeniedError(message);
    }
    return absl::UnavailableError(message);
  }
  struct stat st;
  if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file"));
  }
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return absl::UnavailableError(
          absl::StrCat(path, ": ", std::strerror(err)));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      close(fd);
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": file is larger than ", max_bytes, " bytes"));
    }
  }
  close(fd);
  return out;
}

LoadedRuleset LoadRuleset(absl::string_view text, Diagnostics* diags) {
  LoadedRuleset out;
  Reader reader(diags, &out.source_map);
  if (std::optional<YAML::Node> root = reader.Parse(text)) {
    reader.Ruleset(*root, &out.ruleset);
  }
  return out;
}

LoadedRoster LoadRoster(absl::string_view text, Diagnostics* diags) {
  LoadedRoster out;
  Reader reader(diags, &out.source_map);
  if (std::optional<YAML::Node> root = reader.Parse(text)) {
    reader.Roster(*root, &out.roster);
  }
  return out;
}

std::optional<v1::Customer> LoadCustomer(absl::string_view text,
                                         absl::string_view field_prefix,
                                         Diagnostics* diags) {
  SourceMap map;
  Reader reader(diags, &map);
  const int errors = diags->error_count();
  std::optional<YAML::Node> root = reader.Parse(text);
  v1::Customer customer;
  if (root && diags->error_count() == errors) {
    map.Record(field_prefix, map.Find(""));
    reader.Customer(*root, std::string(field_prefix), &customer);
  }
  if (diags->error_count() != errors) return std::nullopt;
  return customer;
}

}  // namespace custodian::rules
