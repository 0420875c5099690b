// custodianctl: the command line for Custodian's admins, managers and reps.
// Offline `rules` commands work on files without a server.
#include <fstream>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/time/clock.h"
#include "clients/rules_commands.h"

namespace {

using custodian::clients::kExitUsage;

int Main(int argc, char** argv) {
  CLI::App app{"custodianctl: who owns each customer, and why"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "custodianctl 0.1.0");

  CLI::App* rules = app.add_subcommand(
      "rules", "Validate, evaluate, explain and test rulesets offline");
  rules->require_subcommand(1);

  custodian::clients::RulesFiles files;
  std::string at_flag;
  std::string customers_path;
  std::string customer_json;
  std::string tests_path;

  auto add_common = [&](CLI::App* cmd, bool roster_required) {
    cmd->add_option("--ruleset", files.ruleset_path, "Ruleset file (YAML/JSON)")
        ->required();
    CLI::Option* roster = cmd->add_option("--roster", files.roster_path,
                                          "Roster file (YAML/JSON)");
    if (roster_required) roster->required();
  };
  auto add_at = [&](CLI::App* cmd) {
    cmd->add_option("--at", at_flag,
                    "Evaluation time, RFC 3339 (default: now)");
  };

  CLI::App* validate = rules->add_subcommand(
      "validate", "Validate a ruleset (against a roster when given)");
  add_common(validate, /*roster_required=*/false);

  CLI::App* evaluate = rules->add_subcommand(
      "evaluate", "Evaluate customers (JSONL) and print decisions as JSONL");
  add_common(evaluate, /*roster_required=*/true);
  evaluate
      ->add_option("--customers", customers_path,
                   "One customer JSON object per line; - for stdin")
      ->required();
  add_at(evaluate);

  CLI::App* explain = rules->add_subcommand(
      "explain", "Explain why each department gets what it gets");
  add_common(explain, /*roster_required=*/false);
  explain->add_option("--customer", customer_json, "The customer as JSON")
      ->required();
  add_at(explain);

  CLI::App* test = rules->add_subcommand(
      "test", "Run a rule test file: expected rule and target per department");
  add_common(test, /*roster_required=*/true);
  test->add_option("tests", tests_path, "Test file (YAML/JSON)")->required();
  add_at(test);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  absl::Time at = absl::Now();
  if (!at_flag.empty()) {
    std::optional<absl::Time> parsed = custodian::clients::ParseAtFlag(at_flag);
    if (!parsed) {
      std::cerr << "custodianctl: --at: \"" << at_flag
                << "\" is not an RFC 3339 time such as 2026-06-01T00:00:00Z\n";
      return kExitUsage;
    }
    at = *parsed;
  }

  if (validate->parsed()) {
    return custodian::clients::RunRulesValidate(files, std::cout, std::cerr);
  }
  if (evaluate->parsed()) {
    if (customers_path == "-") {
      return custodian::clients::RunRulesEvaluate(files, std::cin, "<stdin>",
                                                  at, std::cout, std::cerr);
    }
    std::ifstream in(customers_path);
    if (!in) {
      std::cerr << "custodianctl: --customers: cannot open " << customers_path
                << "\n";
      return kExitUsage;
    }
    return custodian::clients::RunRulesEvaluate(files, in, customers_path, at,
                                                std::cout, std::cerr);
  }
  if (explain->parsed()) {
    return custodian::clients::RunRulesExplain(files, customer_json, at,
                                               std::cout, std::cerr);
  }
  return custodian::clients::RunRulesTest(files, tests_path, at, std::cout,
                                          std::cerr);
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
