// Rule tests: a file of customers with the rule and target each department
// is expected to give them, run against a compiled ruleset (the way
// `opa test` works for policies). Used by `custodianctl rules test`.
//
// File format (YAML, or JSON of the same shape):
//
//   at: 2026-06-01T00:00:00Z        # optional: evaluation time for every test
//   tests:
//     - name: KA in Shanghai        # required, unique in the file
//       at: 2026-07-01T00:00:00Z    # optional: overrides the file's `at`
//       customer: {id: c-1, region: CN/East/Shanghai, ...}   # required
//       segments: [key_account]     # optional: the exact segment set
//       expect:                     # required: department -> expectation
//         sales: {rule: key-accounts-east, team: ka-east,
//                 strategy: best_match, requires_approval: true}
//         service: {rule: fallback, team: service-global}
//         marketing: {rule: null}   # null: no rule and no fallback applied
//
// In an expectation every key is optional and only given keys are checked:
// `rule` (a rule id, "fallback", or null), at most one of `team`, `pool`,
// `rep`, `strategy` (with `team`), `requires_approval`. Departments not named
// are not checked.
//
// Thread-safe: no shared state.
#ifndef CUSTODIAN_RULES_TEST_SUITE_H_
#define CUSTODIAN_RULES_TEST_SUITE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "custodian/v1/customer.pb.h"
#include "custodian/v1/ruleset.pb.h"
#include "rules/compiled_ruleset.h"
#include "rules/diagnostics.h"
#include "rules/source_map.h"

namespace custodian::rules {

struct DepartmentExpectation {
  std::string department;
  // Expected rule: nullopt = not checked; "" = nothing applied (NO_MATCH);
  // "fallback" = the fallback; else a rule id.
  std::optional<std::string> rule;
  // Expected target kind and name; checked when target_kind != KIND_NOT_SET.
  v1::Target::KindCase target_kind = v1::Target::KIND_NOT_SET;
  std::string target_name;
  std::optional<v1::Strategy> strategy;
  std::optional<bool> requires_approval;
  std::string field_path;  // e.g. "tests[0].expect.sales"
};

struct TestCase {
  std::string name;
  std::string field_path;  // "tests[i]"
  SourceLocation location;
  std::optional<absl::Time> at;
  v1::Customer customer;
  std::optional<std::vector<std::string>> segments;  // sorted
  std::vector<DepartmentExpectation> expectations;
};

struct TestSuite {
  std::optional<absl::Time> at;
  std::vector<TestCase> tests;
  SourceMap source_map;
};

// Parses a test file. Every problem goes to *diags, which is pointed at the
// returned suite's source map so that problems are located; returns the tests
// that could be read. Customers are checked with ValidateCustomer; departments
// must exist in `ruleset`; test names must be unique.
std::unique_ptr<TestSuite> LoadTestSuite(absl::string_view text,
                                         const v1::Ruleset& ruleset,
                                         Diagnostics* diags);

// One difference between what a test expected and what evaluation gave.
struct Mismatch {
  std::string what;  // "sales.rule", "segments", ...
  std::string expected;
  std::string actual;
};

struct TestOutcome {
  bool passed() const { return mismatches.empty(); }
  absl::Time at;
  std::vector<Mismatch> mismatches;
};

// Evaluates `test` against `ruleset` at test.at, else `default_at`, and
// compares.
TestOutcome RunTestCase(const CompiledRuleset& ruleset, const TestCase& test,
                        absl::Time default_at);

}  // namespace custodian::rules

#endif  // CUSTODIAN_RULES_TEST_SUITE_H_
