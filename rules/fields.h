// The catalog of customer fields that rules can read (RULES.md "Customer
// attributes the rules can read") and which operators fit which field type.
// One table, used by the loader, the validator and the compiler.
//
// Thread-safe: everything here is immutable.
#ifndef CUSTODIAN_RULES_FIELDS_H_
#define CUSTODIAN_RULES_FIELDS_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "custodian/v1/condition.pb.h"

namespace custodian::rules {

enum class FieldType {
  kString,     // free UTF-8 string: id, name, attributes.<key>
  kToken,      // [a-z0-9_]+: customer_type, sales_stage, value_tier
  kPath,       // segments joined by "/": region, industry
  kInteger,    // int64 >= 0: annual_revenue, employee_count
  kTags,       // set of tokens: tags
  kTimestamp,  // RFC 3339: created_time, last_activity_time
};

enum class FieldId {
  kId,
  kName,
  kRegion,
  kIndustry,
  kCustomerType,
  kSalesStage,
  kValueTier,
  kAnnualRevenue,
  kEmployeeCount,
  kTags,
  kAttribute,  // attributes.<key>
  kCreatedTime,
  kLastActivityTime,
};

// A resolved field reference of a condition.
struct FieldRef {
  FieldId id;
  FieldType type;
  std::string attribute_key;  // kAttribute only: the <key>
};

// Resolves a rule-readable field name ("region", "attributes.tier").
// Returns nullopt for an unknown name, and for the duplicate-matching-only
// fields tax_id, email_domain and phone (see IsMatchOnlyField).
std::optional<FieldRef> LookupField(absl::string_view name);

// true for tax_id, email_domain and phone: fields used for duplicate matching
// only, which conditions may not read.
bool IsMatchOnlyField(absl::string_view name);

// The canonical name of a field ("region"; "attributes.<key>").
std::string FieldName(const FieldRef& field);

// "string", "token", "path", "integer", "tags", "timestamp".
absl::string_view FieldTypeName(FieldType type);

// The operator's name as written in files: "eq", "under", "older_than", ...
absl::string_view OperatorName(v1::Operator::OpCase op);

// Resolves an operator name as written in files; nullopt if unknown.
std::optional<v1::Operator::OpCase> LookupOperator(absl::string_view name);

// Whether `op` may be applied to a field of `type`:
//   eq, ne, in, not_in:        string, token, path, integer
//   under, not_under:          path
//   gt, gte, lt, lte:          integer
//   matches:                   string, token, path
//   exists:                    every type but tags (always present)
//   any_of, all_of, none_of:   tags
//   older_than, newer_than:    timestamp
bool OperatorFits(v1::Operator::OpCase op, FieldType type);

}  // namespace custodian::rules

#endif  // CUSTODIAN_RULES_FIELDS_H_
