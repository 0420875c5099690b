// A ruleset compiled once into an evaluator. Evaluating a customer does no
// YAML or proto-reflection work and no allocation beyond the output proto.
// Rules are indexed per department on their must-hold clauses (region and
// industry paths, customer_type, sales_stage, value_tier, tags, segments,
// integer ranges and timestamp ages): a customer's candidates are the
// intersection, across those attributes, of per-value rule bitsets
// (rule_index.h), so evaluation cost grows well below linearly with the
// number of rules, while the answer is always exactly "the first rule, in
// order, whose `when` holds".
//
// Thread-safe: a CompiledRuleset is immutable; Evaluate may be called from
// many threads at once.
#ifndef CUSTODIAN_RULES_COMPILED_RULESET_H_
#define CUSTODIAN_RULES_COMPILED_RULESET_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "custodian/v1/customer.pb.h"
#include "custodian/v1/evaluation.pb.h"
#include "custodian/v1/ruleset.pb.h"

namespace custodian::rules {

struct EvaluateOptions {
  // Fill segment_traces and rule_traces: for every rule before the decision
  // (and the deciding one), the first condition that failed and the value it
  // saw. Slower: evaluates rules linearly.
  bool explain = false;
};

class CompiledRuleset {
 public:
  // Compiles a ruleset. REQUIRES: defaults applied and ValidateRuleset
  // reported no errors. Returns INVALID_ARGUMENT (naming the field) if it
  // finds something the validator should have rejected.
  static absl::StatusOr<std::unique_ptr<const CompiledRuleset>> Compile(
      const v1::Ruleset& ruleset);

  virtual ~CompiledRuleset() = default;

  // Evaluates `customer` with time conditions checked against `at`, writing
  // the customer's segments and one decision per department (in ruleset
  // order) into *out, which is cleared first. REQUIRES: ValidateCustomer(
  // customer) is OK.
  virtual void Evaluate(const v1::Customer& customer, absl::Time at,
                        const EvaluateOptions& options,
                        v1::Evaluation* out) const = 0;

  // The ruleset this was compiled from.
  virtual const v1::Ruleset& ruleset() const = 0;
};

}  // namespace custodian::rules

#endif  // CUSTODIAN_RULES_COMPILED_RULESET_H_
