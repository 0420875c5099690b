// RecyclingMatcher: policies.recycling of a ruleset (RULES.md), compiled
// once and evaluated against one customer: which recycling rule, if any,
// now sends an ownership of a department back to a pool. Pure: no store, no
// gRPC (the sweeper in server/ calls it).
//
// Semantics: the rules are checked in file order; the first rule whose
// department is the ownership's department and whose `when` holds for the
// customer at `at` is the match. Segment conditions in a `when` refer to
// the ruleset's segments, evaluated for the customer at `at` as the
// ruleset's evaluation does. Protection and freezing are the caller's
// concern (they depend on the ownership, not the customer).
//
// Thread-safe: immutable after Compile; Match may be called from many
// threads.
#ifndef CUSTODIAN_RULES_RECYCLING_H_
#define CUSTODIAN_RULES_RECYCLING_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "custodian/v1/customer.pb.h"
#include "custodian/v1/ruleset.pb.h"

namespace custodian::rules {

class RecyclingMatcher {
 public:
  // Compiles the segments and recycling rules of `ruleset`, which must
  // have validated. INVALID_ARGUMENT naming the rule ("policies.recycling[1]
  // ...") when a condition does not compile.
  static absl::StatusOr<std::unique_ptr<const RecyclingMatcher>> Compile(
      const v1::Ruleset& ruleset);

  virtual ~RecyclingMatcher() = default;

  // The index in policies.recycling of the first rule of `department` that
  // holds for `customer` at `at`; -1 when none does.
  virtual int Match(absl::string_view department, const v1::Customer& customer,
                    absl::Time at) const = 0;

  // Whether some rule names `department`.
  virtual bool HasRulesFor(absl::string_view department) const = 0;

  // The ruleset compiled (policies.recycling(i) is rule i).
  virtual const v1::Ruleset& ruleset() const = 0;
};

}  // namespace custodian::rules

#endif  // CUSTODIAN_RULES_RECYCLING_H_
