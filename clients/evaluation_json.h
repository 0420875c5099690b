// The JSON forms `custodianctl` prints for evaluations.
//
// EvaluationLine is exactly the offline evaluation output of RULES.md: one
// object per customer and department, keys in this order:
//   {"customer_id":"c-1","department":"sales","segments":["key_account"],
//    "rule_id":"key-accounts-east","target":{"team":"ka-east",
//    "strategy":"best_match"},"requires_approval":true}
// `rule_id` is "fallback" when the fallback applied, and null (with no
// `target`) when nothing applied. Pool and rep targets print as
// {"pool":"east-pool"} and {"rep":"zhang.wei"}.
//
// Thread-safe: pure functions.
#ifndef CUSTODIAN_CLIENTS_EVALUATION_JSON_H_
#define CUSTODIAN_CLIENTS_EVALUATION_JSON_H_

#include <string>

#include "absl/strings/string_view.h"
#include "custodian/v1/evaluation.pb.h"
#include "custodian/v1/ruleset.pb.h"

namespace custodian::clients {

// One JSONL line (without the trailing newline) for `decision` of
// `evaluation`.
std::string EvaluationLine(const v1::Evaluation& evaluation,
                           const v1::DepartmentDecision& decision);

// "round_robin", "weighted", "least_loaded", "best_match"; "" if unset.
absl::string_view StrategyName(v1::Strategy strategy);

// "team ka-east (best_match)", "pool east-pool", "rep zhang.wei", plus
// ", requires approval" when set.
std::string DescribeTarget(const v1::Target& target);

}  // namespace custodian::clients

#endif  // CUSTODIAN_CLIENTS_EVALUATION_JSON_H_
