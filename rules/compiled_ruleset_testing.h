// Test and benchmark hooks into a CompiledRuleset. Not for production code:
// these expose how the engine works, not what it promises.
//
// Thread-safe as CompiledRuleset::Evaluate is.
#ifndef CUSTODIAN_RULES_COMPILED_RULESET_TESTING_H_
#define CUSTODIAN_RULES_COMPILED_RULESET_TESTING_H_

#include <string>

#include "absl/time/time.h"
#include "custodian/v1/customer.pb.h"
#include "custodian/v1/evaluation.pb.h"
#include "rules/compiled_ruleset.h"

namespace custodian::rules::testing {

// Evaluates like compiled.Evaluate(customer, at, {}, out) but scans every
// department's rules linearly instead of using the index: the reference the
// index must agree with, and the benchmark's baseline.
// REQUIRES: `compiled` was returned by CompiledRuleset::Compile.
void EvaluateLinear(const CompiledRuleset& compiled,
                    const v1::Customer& customer, absl::Time at,
                    v1::Evaluation* out);

// The index key rule `rule` of department `department` (positions in the
// ruleset) is registered under, e.g. "region:CN/East", "customer_type:a|b",
// or "" when the rule is an always-candidate.
// REQUIRES: both positions are in range.
std::string IndexKeyOf(const CompiledRuleset& compiled, int department,
                       int rule);

// How many rules of department `department` the index offers as candidates
// for `customer` (evaluated at `at`), without stopping at a match.
int CountCandidates(const CompiledRuleset& compiled, int department,
                    const v1::Customer& customer, absl::Time at);

}  // namespace custodian::rules::testing

#endif  // CUSTODIAN_RULES_COMPILED_RULESET_TESTING_H_
