// Test and benchmark hooks into a CompiledRuleset. Not for production code:
// these expose how the engine works, not what it promises.
//
// Thread-safe as CompiledRuleset::Evaluate is.
#ifndef CUSTODIAN_RULES_COMPILED_RULESET_TESTING_H_
#define CUSTODIAN_RULES_COMPILED_RULESET_TESTING_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "custodian/v1/customer.pb.h"
#include "custodian/v1/evaluation.pb.h"
#include "custodian/v1/ruleset.pb.h"
#include "rules/compiled_ruleset.h"

namespace custodian::rules::testing {

// Evaluates like compiled.Evaluate(customer, at, {}, out) but scans every
// department's rules linearly instead of using the index: the reference the
// index must agree with, and the benchmark's baseline.
// REQUIRES: `compiled` was returned by CompiledRuleset::Compile.
void EvaluateLinear(const CompiledRuleset& compiled,
                    const v1::Customer& customer, absl::Time at,
                    v1::Evaluation* out);

// Compiles like CompiledRuleset::Compile, with each department's rule index
// limited to about `index_max_bytes` of bitsets (rules/rule_index.h): over
// it, attributes are dropped from the index. Answers are the same.
absl::StatusOr<std::unique_ptr<const CompiledRuleset>> CompileWithIndexBudget(
    const v1::Ruleset& ruleset, size_t index_max_bytes);

// The clauses rule `rule` of department `department` (positions in the
// ruleset) is indexed on, by attribute, joined with "; ", e.g.
// "region under CN/East; customer_type in a|b; annual_revenue [5, max]";
// "" when it is indexed on none (a candidate for every customer); "never"
// when its clauses can hold for no customer.
// REQUIRES: both positions are in range.
std::string IndexKeysOf(const CompiledRuleset& compiled, int department,
                        int rule);

// The attributes department `department`'s index uses, e.g. {"region",
// "customer_type"}, in a fixed order.
std::vector<std::string> IndexedAttributes(const CompiledRuleset& compiled,
                                           int department);

// Bytes of bitsets held by department `department`'s index.
size_t IndexBytes(const CompiledRuleset& compiled, int department);

// How many rules of department `department` the index offers as candidates
// for `customer` (evaluated at `at`), without stopping at a match.
int CountCandidates(const CompiledRuleset& compiled, int department,
                    const v1::Customer& customer, absl::Time at);

}  // namespace custodian::rules::testing

#endif  // CUSTODIAN_RULES_COMPILED_RULESET_TESTING_H_
