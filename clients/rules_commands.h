// The offline `custodianctl rules` commands: validate, evaluate, explain and
// test a ruleset on this machine, without a server.
//
// Each returns the process exit code:
//   0  success (valid / every customer evaluated / every test passed);
//      warnings may print;
//   1  the ruleset, a customer or a test failed: every problem is printed to
//      `err` as FILE:LINE:COL: field.path: message;
//   2  usage: a file that cannot be read, a bad --at.
// Normal output goes to `out`.
//
// `-o json` (the OutputFormat overloads): `validate` prints one
// ValidateRulesetResponse document ({"valid":..,"diagnostics":[...]}, roster
// diagnostics first, no ruleset) and nothing to `err` except usage errors;
// `explain` prints the Evaluation proto (with traces); `test` prints
// {"tests":[{"name","file","line","column","passed","mismatches":[{"what",
// "expected","actual"}]}],"passed":N,"failed":M}. Invalid files in
// `explain`/`test` still print their diagnostics to `err` and no document.
// `evaluate` always prints JSON lines and has no format choice. Exit codes
// are the same in both formats.
//
// Thread-safe: no shared state.
#ifndef CUSTODIAN_CLIENTS_RULES_COMMANDS_H_
#define CUSTODIAN_CLIENTS_RULES_COMMANDS_H_

#include <iosfwd>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "clients/output.h"

namespace custodian::clients {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

struct RulesFiles {
  std::string ruleset_path;  // required
  std::string roster_path;   // empty: validate without a roster
};

// `rules validate`: prints "FILE: valid (N warnings)" to `out` when valid.
int RunRulesValidate(const RulesFiles& files, std::ostream& out,
                     std::ostream& err);
int RunRulesValidate(const RulesFiles& files, OutputFormat format,
                     std::ostream& out, std::ostream& err);

// `rules evaluate`: reads one customer JSON object per line from `customers`
// (named `customers_name` in messages) and writes one JSON line per customer
// and department (RULES.md "Offline evaluation output"). A bad line is
// reported with its line number and field, the others are still evaluated,
// and the exit code is then 1. Blank lines are skipped.
int RunRulesEvaluate(const RulesFiles& files, std::istream& customers,
                     const std::string& customers_name, absl::Time at,
                     std::ostream& out, std::ostream& err);

// `rules explain`: a readable trace of why each department got what it got
// for one customer given as a JSON object.
int RunRulesExplain(const RulesFiles& files, const std::string& customer_json,
                    absl::Time at, std::ostream& out, std::ostream& err);
int RunRulesExplain(const RulesFiles& files, const std::string& customer_json,
                    absl::Time at, OutputFormat format, std::ostream& out,
                    std::ostream& err);

// `rules test`: runs a test file (rules/test_suite.h); prints PASS/FAIL per
// test, a diff for each failure, and "N passed, M failed". Tests without
// their own `at` use the file's, else `at`.
int RunRulesTest(const RulesFiles& files, const std::string& tests_path,
                 absl::Time at, std::ostream& out, std::ostream& err);
int RunRulesTest(const RulesFiles& files, const std::string& tests_path,
                 absl::Time at, OutputFormat format, std::ostream& out,
                 std::ostream& err);

// Parses an RFC 3339 --at value.
std::optional<absl::Time> ParseAtFlag(const std::string& value);

}  // namespace custodian::clients

#endif  // CUSTODIAN_CLIENTS_RULES_COMMANDS_H_
