#include "rules/fields.h"

#include <array>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace custodian::rules {
namespace {

struct FieldEntry {
  absl::string_view name;
  FieldId id;
  FieldType type;
};

constexpr std::array<FieldEntry, 12> kFields = {{
    {"id", FieldId::kId, FieldType::kString},
    {"name", FieldId::kName, FieldType::kString},
    {"region", FieldId::kRegion, FieldType::kPath},
    {"industry", FieldId::kIndustry, FieldType::kPath},
    {"customer_type", FieldId::kCustomerType, FieldType::kToken},
    {"sales_stage", FieldId::kSalesStage, FieldType::kToken},
    {"value_tier", FieldId::kValueTier, FieldType::kToken},
    {"annual_revenue", FieldId::kAnnualRevenue, FieldType::kInteger},
    {"employee_count", FieldId::kEmployeeCount, FieldType::kInteger},
    {"tags", FieldId::kTags, FieldType::kTags},
    {"created_time", FieldId::kCreatedTime, FieldType::kTimestamp},
    {"last_activity_time", FieldId::kLastActivityTime, FieldType::kTimestamp},
}};

struct OperatorEntry {
  absl::string_view name;
  v1::Operator::OpCase op;
};

constexpr std::array<OperatorEntry, 17> kOperators = {{
    {"eq", v1::Operator::kEq},
    {"ne", v1::Operator::kNe},
    {"in", v1::Operator::kIn},
    {"not_in", v1::Operator::kNotIn},
    {"under", v1::Operator::kUnder},
    {"not_under", v1::Operator::kNotUnder},
    {"gt", v1::Operator::kGt},
    {"gte", v1::Operator::kGte},
    {"lt", v1::Operator::kLt},
    {"lte", v1::Operator::kLte},
    {"matches", v1::Operator::kMatches},
    {"exists", v1::Operator::kExists},
    {"any_of", v1::Operator::kAnyOf},
    {"all_of", v1::Operator::kAllOf},
    {"none_of", v1::Operator::kNoneOf},
    {"older_than", v1::Operator::kOlderThan},
    {"newer_than", v1::Operator::kNewerThan},
}};

constexpr absl::string_view kAttributesPrefix = "attributes.";

}  // namespace

std::optional<FieldRef> LookupField(absl::string_view name) {
  if (absl::StartsWith(name, kAttributesPrefix)) {
    absl::string_view key = name.substr(kAttributesPrefix.size());
    if (key.empty()) return std::nullopt;
    return FieldRef{FieldId::kAttribute, FieldType::kString, std::string(key)};
  }
  for (const FieldEntry& f : kFields) {
    if (f.name == name) return FieldRef{f.id, f.type, ""};
  }
  return std::nullopt;
}

bool IsMatchOnlyField(absl::string_view name) {
  return name == "tax_id" || name == "email_domain" || name == "phone";
}

std::string FieldName(const FieldRef& field) {
  if (field.id == FieldId::kAttribute) {
    return absl::StrCat(kAttributesPrefix, field.attribute_key);
  }
  for (const FieldEntry& f : kFields) {
    if (f.id == field.id) return std::string(f.name);
  }
  return "?";
}

absl::string_view FieldTypeName(FieldType type) {
  switch (type) {
    case FieldType::kString:
      return "string";
    case FieldType::kToken:
      return "token";
    case FieldType::kPath:
      return "path";
    case FieldType::kInteger:
      return "integer";
    case FieldType::kTags:
      return "tags";
    case FieldType::kTimestamp:
      return "timestamp";
  }
  return "?";
}

absl::string_view OperatorName(v1::Operator::OpCase op) {
  for (const OperatorEntry& o : kOperators) {
    if (o.op == op) return o.name;
  }
  return "(none)";
}

std::optional<v1::Operator::OpCase> LookupOperator(absl::string_view name) {
  for (const OperatorEntry& o : kOperators) {
    if (o.name == name) return o.op;
  }
  return std::nullopt;
}

bool OperatorFits(v1::Operator::OpCase op, FieldType type) {
  switch (op) {
    case v1::Operator::kEq:
    case v1::Operator::kNe:
    case v1::Operator::kIn:
    case v1::Operator::kNotIn:
      return type == FieldType::kString || type == FieldType::kToken ||
             type == FieldType::kPath || type == FieldType::kInteger;
    case v1::Operator::kUnder:
    case v1::Operator::kNotUnder:
      return type == FieldType::kPath;
    case v1::Operator::kGt:
    case v1::Operator::kGte:
    case v1::Operator::kLt:
    case v1::Operator::kLte:
      return type == FieldType::kInteger;
    case v1::Operator::kMatches:
      return type == FieldType::kString || type == FieldType::kToken ||
             type == FieldType::kPath;
    case v1::Operator::kExists:
      return type != FieldType::kTags;
    case v1::Operator::kAnyOf:
    case v1::Operator::kAllOf:
    case v1::Operator::kNoneOf:
      return type == FieldType::kTags;
    case v1::Operator::kOlderThan:
    case v1::Operator::kNewerThan:
      return type == FieldType::kTimestamp;
    case v1::Operator::OP_NOT_SET:
      return false;
  }
  return false;
}

}  // namespace custodian::rules
