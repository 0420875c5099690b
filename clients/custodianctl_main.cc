// custodianctl: the command line for Custodian's admins, managers and reps.
// Offline `rules` commands work on files without a server; the others call
// custodiand (clients/remote_commands.h). Only flag parsing lives here: CLI11
// is slow to compile, so the commands are in custodian_clients.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/time/clock.h"
#include "clients/connection.h"
#include "clients/errors.h"
#include "clients/output.h"
#include "clients/remote_commands.h"
#include "clients/rules_commands.h"

namespace {

using custodian::clients::kExitUsage;

constexpr char kFooter[] = R"(
Server commands connect to --server, else $CUSTODIAN_SERVER, else
127.0.0.1:50051. Every command takes -o table (default) or -o json (one JSON
document: the response message, proto field names).

Exit codes:
  0  success
  1  the server refused the request (its code and every bad field are
     printed), or an offline check or test failed
  2  usage or local error: bad flags, a file that cannot be read
  3  the server is unreachable (UNAVAILABLE, or DEADLINE_EXCEEDED before
     connecting)

See docs/custodianctl.md.)";

int Main(int argc, char** argv) {
  CLI::App app{"custodianctl: who owns each customer, and why"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "custodianctl 0.1.0");
  app.footer(kFooter);
  // Global flags may also follow the subcommand: `rules list -o json`.
  app.fallthrough();

  std::string server_flag;
  std::string timeout_flag = "30s";
  std::string output_flag = "table";
  app.add_option("--server", server_flag,
                 "Server address host:port (default: $CUSTODIAN_SERVER, "
                 "else 127.0.0.1:50051)");
  app.add_option("--timeout", timeout_flag,
                 "Deadline per call: 30s, 500ms, 2m or seconds (default 30s)");
  app.add_option("-o,--output", output_flag, "Output format: table or json")
      ->check(CLI::IsMember({"table", "json"}));

  // ---- rules ---------------------------------------------------------------
  CLI::App* rules = app.add_subcommand(
      "rules",
      "Rulesets: validate, evaluate, explain and test offline; publish, list, "
      "get, activate and diff on the server");
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
      "validate", "Validate a ruleset (against a roster when given), offline");
  add_common(validate, /*roster_required=*/false);

  CLI::App* evaluate = rules->add_subcommand(
      "evaluate",
      "Evaluate customers (JSONL) and print decisions as JSONL, offline");
  add_common(evaluate, /*roster_required=*/true);
  evaluate
      ->add_option("--customers", customers_path,
                   "One customer JSON object per line; - for stdin")
      ->required();
  add_at(evaluate);

  CLI::App* explain = rules->add_subcommand(
      "explain", "Explain why each department gets what it gets, offline");
  add_common(explain, /*roster_required=*/false);
  explain->add_option("--customer", customer_json, "The customer as JSON")
      ->required();
  add_at(explain);

  CLI::App* test = rules->add_subcommand(
      "test",
      "Run a rule test file: expected rule and target per department, "
      "offline");
  add_common(test, /*roster_required=*/true);
  test->add_option("tests", tests_path, "Test file (YAML/JSON)")->required();
  add_at(test);

  custodian::clients::RulesPublishArgs publish_args;
  CLI::App* publish = rules->add_subcommand(
      "publish", "Publish a ruleset file as the next version (not active)");
  publish->add_option("file", publish_args.path, "Ruleset file (YAML/JSON)")
      ->required();
  publish->add_option("--request-id", publish_args.request_id,
                      "Idempotency id (default: a fresh random id)");

  custodian::clients::RulesListArgs list_args;
  CLI::App* list =
      rules->add_subcommand("list", "List ruleset versions, newest first");
  list->add_option("--page-size", list_args.page_size,
                   "Versions per page, 0-1000 (0: server default)");
  list->add_option("--page-token", list_args.page_token,
                   "Continue from a previous page");
  list->add_flag("--all", list_args.all, "Follow every page");

  custodian::clients::RulesGetArgs get_args;
  CLI::App* get = rules->add_subcommand("get", "Show one ruleset version");
  get->add_option("version", get_args.version,
                  "The version (default 0: the active one)");
  get->add_flag("--source", get_args.source,
                "Print the stored file byte for byte");

  custodian::clients::RulesActivateArgs activate_args;
  CLI::App* activate = rules->add_subcommand(
      "activate", "Make a version the active one (rollback: an older one)");
  activate->add_option("version", activate_args.version, "The version")
      ->required();
  activate->add_option(
      "--etag", activate_args.etag,
      "Activate only if no one activated since this activation etag "
      "(default: read the current etag first, then write)");
  activate->add_option("--reason", activate_args.reason, "Why");
  activate->add_option("--request-id", activate_args.request_id,
                       "Idempotency id (default: a fresh random id)");

  custodian::clients::RulesDiffArgs diff_args;
  CLI::App* diff =
      rules->add_subcommand("diff", "What changes between two versions");
  diff->add_option("from", diff_args.from_version, "The old version")
      ->required();
  diff->add_option("to", diff_args.to_version, "The new version")->required();

  // ---- roster --------------------------------------------------------------
  CLI::App* roster = app.add_subcommand(
      "roster", "The roster on the server: departments, reps and teams");
  roster->require_subcommand(1);

  custodian::clients::RosterApplyArgs apply_args;
  CLI::App* apply = roster->add_subcommand(
      "apply", "Make the roster what the file says (declarative)");
  apply->add_option("file", apply_args.path, "Roster file (YAML/JSON)")
      ->required();
  apply->add_flag("--dry-run", apply_args.dry_run,
                  "List the changes, write nothing");
  apply->add_option("--request-id", apply_args.request_id,
                    "Idempotency id (default: a fresh random id)");
  apply->add_option("--etag", apply_args.etag,
                    "Apply only if the roster still has this etag");

  CLI::App* roster_get =
      roster->add_subcommand("get", "Show the current roster");

  // ---- rep -----------------------------------------------------------------
  CLI::App* rep = app.add_subcommand("rep", "One rep on the server");
  rep->require_subcommand(1);
  custodian::clients::RepSetStatusArgs status_args;
  CLI::App* set_status = rep->add_subcommand(
      "set-status", "Set a rep's status (active/away/left)");
  set_status->add_option("rep", status_args.rep, "The rep id")->required();
  set_status->add_option("--status", status_args.status, "active, away or left")
      ->required()
      ->check(CLI::IsMember({"active", "away", "left"}, CLI::ignore_case));
  set_status->add_option("--reason", status_args.reason, "Why")->required();
  set_status->add_option("--request-id", status_args.request_id,
                         "Idempotency id (default: a fresh random id)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  custodian::clients::OutputFormat format =
      *custodian::clients::ParseOutputFormat(output_flag);

  // Offline commands.
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
    return custodian::clients::RunRulesValidate(files, format, std::cout,
                                                std::cerr);
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
    return custodian::clients::RunRulesExplain(files, customer_json, at, format,
                                               std::cout, std::cerr);
  }
  if (test->parsed()) {
    return custodian::clients::RunRulesTest(files, tests_path, at, format,
                                            std::cout, std::cerr);
  }

  // Server commands.
  std::optional<absl::Duration> timeout =
      custodian::clients::ParseTimeout(timeout_flag);
  if (!timeout) {
    std::cerr << "custodianctl: --timeout: \"" << timeout_flag
              << "\" is not a positive duration such as 30s, 500ms or 2m\n";
    return kExitUsage;
  }
  custodian::clients::ConnectionOptions options;
  options.address = custodian::clients::ResolveServerAddress(
      server_flag, std::getenv(custodian::clients::kServerEnvVar));
  options.timeout = *timeout;
  std::unique_ptr<custodian::clients::Connection> connection =
      custodian::clients::Connection::Open(std::move(options));
  const custodian::clients::CommandOutput output{format, std::cout, std::cerr};

  if (publish->parsed()) {
    return RunRulesPublish(*connection, publish_args, output);
  }
  if (list->parsed()) return RunRulesList(*connection, list_args, output);
  if (get->parsed()) return RunRulesGet(*connection, get_args, output);
  if (activate->parsed()) {
    return RunRulesActivate(*connection, activate_args, output);
  }
  if (diff->parsed()) return RunRulesDiff(*connection, diff_args, output);
  if (apply->parsed()) return RunRosterApply(*connection, apply_args, output);
  if (roster_get->parsed()) return RunRosterGet(*connection, output);
  if (set_status->parsed()) {
    return RunRepSetStatus(*connection, status_args, output);
  }
  std::cerr << "custodianctl: no command given (see --help)\n";
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
