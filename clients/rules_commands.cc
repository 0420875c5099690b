#include "clients/rules_commands.h"

#include <istream>
#include <memory>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "clients/evaluation_json.h"
#include "nlohmann/json.hpp"
#include "rules/check.h"
#include "rules/compiled_ruleset.h"
#include "rules/loader.h"
#include "rules/test_suite.h"
#include "rules/validator.h"

namespace custodian::clients {
namespace {

void PrintDiagnostics(const rules::Diagnostics& diags, std::ostream& err) {
  for (const rules::Diagnostic& d : diags.Sorted()) {
    err << d.ToString() << "\n";
  }
}

// Loads and checks the roster, printing its diagnostics. nullptr when it is
// unreadable (*exit_code = 2) or invalid (*exit_code = 1).
std::unique_ptr<rules::RosterCheck> LoadRoster(const std::string& path,
                                               std::ostream& err,
                                               int* exit_code) {
  absl::StatusOr<std::string> text = rules::ReadTextFile(path);
  if (!text.ok()) {
    err << "custodianctl: " << text.status().message() << "\n";
    *exit_code = kExitUsage;
    return nullptr;
  }
  std::unique_ptr<rules::RosterCheck> check =
      rules::CheckRosterText(*text, path);
  PrintDiagnostics(check->diagnostics, err);
  if (!check->valid()) {
    *exit_code = kExitFailed;
    return nullptr;
  }
  return check;
}

struct LoadedRules {
  std::unique_ptr<rules::RosterCheck> roster;  // null without --roster
  std::unique_ptr<rules::RulesetCheck> ruleset;
  std::unique_ptr<const rules::CompiledRuleset> compiled;  // when compiled
};

// Loads the roster (if named) and the ruleset, prints every diagnostic and
// returns the exit code so far (0 when both are valid).
int LoadRules(const RulesFiles& files, bool compile, LoadedRules* loaded,
              std::ostream& err) {
  int exit_code = kExitOk;
  if (!files.roster_path.empty()) {
    loaded->roster = LoadRoster(files.roster_path, err, &exit_code);
    if (loaded->roster == nullptr) return exit_code;
  }
  absl::StatusOr<std::string> text = rules::ReadTextFile(files.ruleset_path);
  if (!text.ok()) {
    err << "custodianctl: " << text.status().message() << "\n";
    return kExitUsage;
  }
  loaded->ruleset = rules::CheckRulesetText(
      *text, files.ruleset_path,
      loaded->roster ? &loaded->roster->roster : nullptr);
  PrintDiagnostics(loaded->ruleset->diagnostics, err);
  if (!loaded->ruleset->valid()) return kExitFailed;
  if (compile) {
    absl::StatusOr<std::unique_ptr<const rules::CompiledRuleset>> compiled =
        rules::CompiledRuleset::Compile(loaded->ruleset->ruleset);
    if (!compiled.ok()) {
      err << files.ruleset_path << ": " << compiled.status().message() << "\n";
      return kExitFailed;
    }
    loaded->compiled = *std::move(compiled);
  }
  return kExitOk;
}

// Parses and validates one customer; prints located problems to `err`
// (line numbers shifted to `line` of `file`).
std::optional<v1::Customer> ParseCustomerLine(absl::string_view text,
                                              const std::string& file, int line,
                                              std::ostream& err) {
  rules::Diagnostics diags(file, nullptr);
  std::optional<v1::Customer> customer =
      rules::LoadCustomer(text, "customer", &diags);
  for (const rules::Diagnostic& d : diags.Sorted()) {
    rules::Diagnostic located = d;
    if (line > 0) {
      located.location.line = line;
      if (located.location.column == 0) located.location.column = 1;
    }
    err << located.ToString() << "\n";
  }
  if (!customer) return std::nullopt;
  absl::Status status = rules::ValidateCustomer(*customer, "customer");
  if (!status.ok()) {
    err << file;
    if (line > 0) err << ":" << line;
    err << ": " << status.message() << "\n";
    return std::nullopt;
  }
  return customer;
}

std::string ObservedText(const v1::ConditionTrace& trace) {
  return absl::StrCat(trace.failed_path(), ": ", trace.failed_condition(),
                      " — saw ", trace.observed());
}

void AppendDiagnostics(const rules::Diagnostics& diags,
                       v1::ValidateRulesetResponse* response) {
  for (const rules::Diagnostic& d : diags.Sorted()) {
    d.ToProto(response->add_diagnostics());
  }
}

// `rules validate -o json`: the same checks as LoadRules, every diagnostic
// collected into one ValidateRulesetResponse.
int RunRulesValidateJson(const RulesFiles& files, std::ostream& out,
                         std::ostream& err) {
  v1::ValidateRulesetResponse response;
  std::unique_ptr<rules::RosterCheck> roster;
  if (!files.roster_path.empty()) {
    absl::StatusOr<std::string> text = rules::ReadTextFile(files.roster_path);
    if (!text.ok()) {
      err << "custodianctl: " << text.status().message() << "\n";
      return kExitUsage;
    }
    roster = rules::CheckRosterText(*text, files.roster_path);
    AppendDiagnostics(roster->diagnostics, &response);
    if (!roster->valid()) {
      response.set_valid(false);
      out << ToJson(response);
      return kExitFailed;
    }
  }
  absl::StatusOr<std::string> text = rules::ReadTextFile(files.ruleset_path);
  if (!text.ok()) {
    err << "custodianctl: " << text.status().message() << "\n";
    return kExitUsage;
  }
  std::unique_ptr<rules::RulesetCheck> ruleset = rules::CheckRulesetText(
      *text, files.ruleset_path, roster ? &roster->roster : nullptr);
  AppendDiagnostics(ruleset->diagnostics, &response);
  bool valid = ruleset->valid();
  if (valid) {
    absl::StatusOr<std::unique_ptr<const rules::CompiledRuleset>> compiled =
        rules::CompiledRuleset::Compile(ruleset->ruleset);
    if (!compiled.ok()) {
      valid = false;
      v1::Diagnostic* d = response.add_diagnostics();
      d->set_severity(v1::ERROR);
      d->set_file(files.ruleset_path);
      d->set_message(std::string(compiled.status().message()));
    }
  }
  response.set_valid(valid);
  out << ToJson(response);
  return valid ? kExitOk : kExitFailed;
}

}  // namespace

std::optional<absl::Time> ParseAtFlag(const std::string& value) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, value, &t, &error)) {
    return std::nullopt;
  }
  return t;
}

int RunRulesValidate(const RulesFiles& files, std::ostream& out,
                     std::ostream& err) {
  return RunRulesValidate(files, OutputFormat::kTable, out, err);
}

int RunRulesValidate(const RulesFiles& files, OutputFormat format,
                     std::ostream& out, std::ostream& err) {
  if (format == OutputFormat::kJson) {
    return RunRulesValidateJson(files, out, err);
  }
  LoadedRules loaded;
  int exit_code = LoadRules(files, /*compile=*/true, &loaded, err);
  if (exit_code != kExitOk) return exit_code;
  const rules::Diagnostics& diags = loaded.ruleset->diagnostics;
  out << files.ruleset_path << ": valid";
  if (!files.roster_path.empty()) out << " against " << files.roster_path;
  out << " (" << diags.warning_count() << " warning"
      << (diags.warning_count() == 1 ? "" : "s") << ")\n";
  return kExitOk;
}

int RunRulesEvaluate(const RulesFiles& files, std::istream& customers,
                     const std::string& customers_name, absl::Time at,
                     std::ostream& out, std::ostream& err) {
  LoadedRules loaded;
  int exit_code = LoadRules(files, /*compile=*/true, &loaded, err);
  if (exit_code != kExitOk) return exit_code;
  v1::Evaluation evaluation;
  std::string line;
  int line_number = 0;
  while (std::getline(customers, line)) {
    ++line_number;
    absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    if (trimmed.empty()) continue;
    std::optional<v1::Customer> customer =
        ParseCustomerLine(trimmed, customers_name, line_number, err);
    if (!customer) {
      exit_code = kExitFailed;
      continue;
    }
    loaded.compiled->Evaluate(*customer, at, rules::EvaluateOptions{},
                              &evaluation);
    for (const v1::DepartmentDecision& decision : evaluation.departments()) {
      out << EvaluationLine(evaluation, decision) << "\n";
    }
  }
  return exit_code;
}

int RunRulesExplain(const RulesFiles& files, const std::string& customer_json,
                    absl::Time at, std::ostream& out, std::ostream& err) {
  return RunRulesExplain(files, customer_json, at, OutputFormat::kTable, out,
                         err);
}

int RunRulesExplain(const RulesFiles& files, const std::string& customer_json,
                    absl::Time at, OutputFormat format, std::ostream& out,
                    std::ostream& err) {
  LoadedRules loaded;
  int exit_code = LoadRules(files, /*compile=*/true, &loaded, err);
  if (exit_code != kExitOk) return exit_code;
  std::optional<v1::Customer> customer =
      ParseCustomerLine(customer_json, "--customer", 0, err);
  if (!customer) return kExitFailed;
  v1::Evaluation evaluation;
  rules::EvaluateOptions options;
  options.explain = true;
  loaded.compiled->Evaluate(*customer, at, options, &evaluation);
  if (format == OutputFormat::kJson) {
    out << ToJson(evaluation);
    return kExitOk;
  }

  out << "customer " << evaluation.customer_id() << " at "
      << absl::FormatTime(absl::RFC3339_full, at, absl::UTCTimeZone()) << "\n";
  out << "segments: "
      << (evaluation.segments().empty()
              ? std::string("(none)")
              : absl::StrJoin(evaluation.segments(), ", "))
      << "\n";
  for (const v1::ConditionTrace& trace : evaluation.segment_traces()) {
    out << "  " << (trace.matched() ? "in     " : "not in ") << trace.name();
    if (!trace.matched()) out << "  (" << ObservedText(trace) << ")";
    out << "\n";
  }
  for (const v1::DepartmentDecision& decision : evaluation.departments()) {
    out << "\n" << decision.department() << ": ";
    switch (decision.kind()) {
      case v1::RULE:
        out << "rule " << decision.rule_id() << " -> "
            << DescribeTarget(decision.target());
        break;
      case v1::FALLBACK:
        out << "no rule matched; fallback -> "
            << DescribeTarget(decision.target());
        break;
      default:
        out << "no rule matched and no fallback: stays unowned (NO_MATCH)";
        break;
    }
    if (decision.has_overflow()) {
      out << "; overflow -> " << DescribeTarget(decision.overflow());
    }
    out << "\n";
    int index = 0;
    for (const v1::ConditionTrace& trace : decision.rule_traces()) {
      out << "  " << ++index << ". " << trace.name() << ": ";
      if (trace.matched()) {
        out << "matched\n";
      } else {
        out << "skipped, " << ObservedText(trace) << "\n";
      }
    }
  }
  return kExitOk;
}

int RunRulesTest(const RulesFiles& files, const std::string& tests_path,
                 absl::Time at, std::ostream& out, std::ostream& err) {
  return RunRulesTest(files, tests_path, at, OutputFormat::kTable, out, err);
}

int RunRulesTest(const RulesFiles& files, const std::string& tests_path,
                 absl::Time at, OutputFormat format, std::ostream& out,
                 std::ostream& err) {
  LoadedRules loaded;
  int exit_code = LoadRules(files, /*compile=*/true, &loaded, err);
  if (exit_code != kExitOk) return exit_code;
  absl::StatusOr<std::string> text = rules::ReadTextFile(tests_path);
  if (!text.ok()) {
    err << "custodianctl: " << text.status().message() << "\n";
    return kExitUsage;
  }
  rules::Diagnostics diags(tests_path, nullptr);
  std::unique_ptr<rules::TestSuite> suite =
      rules::LoadTestSuite(*text, loaded.ruleset->ruleset, &diags);
  PrintDiagnostics(diags, err);
  if (diags.has_errors()) return kExitFailed;

  absl::Time default_at = suite->at.value_or(at);
  int passed = 0;
  int failed = 0;
  if (format == OutputFormat::kJson) {
    nlohmann::ordered_json tests = nlohmann::ordered_json::array();
    for (const rules::TestCase& test : suite->tests) {
      rules::TestOutcome outcome =
          rules::RunTestCase(*loaded.compiled, test, default_at);
      ++(outcome.passed() ? passed : failed);
      nlohmann::ordered_json mismatches = nlohmann::ordered_json::array();
      for (const rules::Mismatch& m : outcome.mismatches) {
        mismatches.push_back(
            {{"what", m.what}, {"expected", m.expected}, {"actual", m.actual}});
      }
      tests.push_back({{"name", test.name},
                       {"file", tests_path},
                       {"line", test.location.line},
                       {"column", test.location.column},
                       {"passed", outcome.passed()},
                       {"mismatches", std::move(mismatches)}});
    }
    nlohmann::ordered_json document = {
        {"tests", std::move(tests)}, {"passed", passed}, {"failed", failed}};
    out << document.dump(2, ' ', /*ensure_ascii=*/false,
                         nlohmann::ordered_json::error_handler_t::replace)
        << "\n";
    return failed == 0 ? kExitOk : kExitFailed;
  }
  for (const rules::TestCase& test : suite->tests) {
    rules::TestOutcome outcome =
        rules::RunTestCase(*loaded.compiled, test, default_at);
    if (outcome.passed()) {
      ++passed;
      out << "PASS  " << test.name << "\n";
      continue;
    }
    ++failed;
    out << "FAIL  " << test.name << "  (" << tests_path << ":"
        << test.location.line << ":" << test.location.column << ")\n";
    for (const rules::Mismatch& m : outcome.mismatches) {
      out << "      " << m.what << ":\n";
      out << "      - " << m.expected << "\n";
      out << "      + " << m.actual << "\n";
    }
  }
  out << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? kExitOk : kExitFailed;
}

}  // namespace custodian::clients
