// custodianctl: the command line for Custodian's admins, managers and reps.
// Offline `rules` commands work on files without a server; the others call
// custodiand (clients/remote_commands.h, clients/ownership_commands.h). Only
// flag parsing lives here: CLI11 is slow to compile, so the commands are in
// custodian_clients.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <tuple>

#include "CLI/CLI.hpp"
#include "absl/time/clock.h"
#include "clients/appeal_commands.h"
#include "clients/client_config.h"
#include "clients/connection.h"
#include "clients/errors.h"
#include "clients/identity_commands.h"
#include "clients/output.h"
#include "clients/ownership_commands.h"
#include "clients/pool_commands.h"
#include "clients/remote_commands.h"
#include "clients/review_commands.h"
#include "clients/rules_commands.h"

namespace {

using custodian::clients::kExitUsage;

constexpr char kFooter[] = R"(
Server commands connect to --server, else $CUSTODIAN_SERVER, else the
server of the config file's context (--config, else $CUSTODIAN_CONFIG, else
~/.config/custodian/config.yaml; --context, else current_context), else
127.0.0.1:50051. Credentials likewise: --token / --token-file, else
$CUSTODIAN_TOKEN, else the context's; --ca/--cert/--key (TLS), else the
context's. Every command takes -o table (default) or -o json (one JSON
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
  custodian::clients::ConnectionFlags connection_flags;
  app.add_option(
      "--token", connection_flags.token,
      "Bearer token (default: $CUSTODIAN_TOKEN, else the context's)");
  app.add_option("--token-file", connection_flags.token_file,
                 "File holding the bearer token");
  app.add_option("--ca", connection_flags.ca,
                 "CA certificate (PEM) to trust: TLS");
  app.add_option("--cert", connection_flags.cert,
                 "Client certificate (PEM): mutual TLS (with --key)");
  app.add_option("--key", connection_flags.key, "Client private key (PEM)");
  app.add_flag("--tls", connection_flags.tls,
               "Use TLS with the system's roots when no --ca is given");
  app.add_option("--config", connection_flags.config,
                 "Config file with named contexts (default: "
                 "$CUSTODIAN_CONFIG, else ~/.config/custodian/config.yaml)");
  app.add_option("--context", connection_flags.context,
                 "Context of the config file (default: its current_context)");
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

  custodian::clients::RulesSimulateArgs simulate_args;
  std::string simulate_at;
  int32_t simulate_samples = -1;
  CLI::App* simulate = rules->add_subcommand(
      "simulate",
      "What a version would change if it were active, over every stored "
      "customer (writes nothing)");
  simulate
      ->add_option("version", simulate_args.version, "The candidate version")
      ->required();
  simulate->add_option("--baseline", simulate_args.baseline_version,
                       "The version to compare with (default 0: the active "
                       "one)");
  CLI::Option* simulate_at_option = simulate->add_option(
      "--at", simulate_at,
      "Evaluation time, RFC 3339 (default: the server's now)");
  CLI::Option* simulate_samples_option = simulate->add_option(
      "--samples", simulate_samples,
      "Sample customer ids per transition and rule, 0-100 (default 5)");

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

  // ---- assignment and ownership --------------------------------------------
  auto add_customer_flags = [](CLI::App* cmd,
                               custodian::clients::CustomerInput* input) {
    cmd->add_option("--file", input->file,
                    "The customer as a JSON (or YAML) file, instead of the "
                    "attribute flags");
    cmd->add_option("--id", input->id, "Customer id (required without --file)");
    cmd->add_option("--name", input->name, "Display name");
    cmd->add_option("--region", input->region, "Region path, e.g. CN/East");
    cmd->add_option("--industry", input->industry, "Industry path, e.g. C/C39");
    cmd->add_option("--type", input->customer_type,
                    "Customer type token, e.g. enterprise");
    cmd->add_option("--stage", input->sales_stage,
                    "Sales stage token, e.g. qualified");
    cmd->add_option("--tier", input->value_tier, "Value tier token, e.g. high");
    cmd->add_option("--revenue", input->annual_revenue,
                    "Annual revenue, an integer >= 0");
    cmd->add_option("--employees", input->employee_count,
                    "Employee count, an integer >= 0");
    cmd->add_option("--tag", input->tags, "A tag (repeatable)")
        ->allow_extra_args(false);
    cmd->add_option("--attr", input->attributes,
                    "An attribute KEY=VALUE (repeatable)")
        ->allow_extra_args(false);
  };

  custodian::clients::AssignArgs assign_args;
  custodian::clients::BulkAssignArgs bulk_args;
  bool no_progress = false;
  CLI::App* assign_cmd = app.add_subcommand(
      "assign",
      "Store a customer and decide its owner in every department; --jsonl "
      "for many");
  add_customer_flags(assign_cmd, &assign_args.customer);
  CLI::Option* jsonl_option = assign_cmd->add_option(
      "--jsonl", bulk_args.path,
      "Bulk: one customer JSON object per line (- for stdin), sent in "
      "BatchAssign calls");
  assign_cmd->add_option("--request-id", assign_args.request_id,
                         "Idempotency id (default: a fresh random id)");
  assign_cmd->add_option(
      "--request-id-prefix", bulk_args.request_id_prefix,
      "Bulk: request ids are PREFIX:LINE, so running the same file again "
      "with the same prefix is idempotent (default: a fresh prefix, printed)");
  assign_cmd->add_option("--batch-size", bulk_args.batch_size,
                         "Bulk: customers per BatchAssign, 1-1000 (default "
                         "1000)");
  assign_cmd->add_option("--parallel", bulk_args.parallel,
                         "Bulk: BatchAssign calls in flight, 1-64 (default 4)");
  assign_cmd->add_option("--retries", bulk_args.retries,
                         "Bulk: retries of a batch the server could not take "
                         "(UNAVAILABLE...), 0-10 (default 2)");
  assign_cmd->add_flag("--no-progress", no_progress,
                       "Bulk: no progress on stderr");

  custodian::clients::CustomerInput evaluate_input;
  CLI::App* evaluate_cmd = app.add_subcommand(
      "evaluate",
      "What assign would decide for a customer now (writes nothing)");
  add_customer_flags(evaluate_cmd, &evaluate_input);

  custodian::clients::OwnerArgs owner_args;
  CLI::App* owner_cmd = app.add_subcommand(
      "owner", "Who owns a customer, and why (rule, version, strategy)");
  owner_cmd->add_option("customer", owner_args.customer_id, "Customer id")
      ->required();
  owner_cmd->add_option("--department", owner_args.department,
                        "Only this department (default: every one)");

  custodian::clients::OwnersArgs owners_args;
  CLI::App* owners_cmd = app.add_subcommand(
      "owners", "List the ownerships of a department, filtered");
  owners_cmd->add_option("--department", owners_args.department, "Department")
      ->required();
  owners_cmd->add_option("--team", owners_args.team, "Only this team");
  owners_cmd->add_option("--rep", owners_args.rep, "Only this rep");
  owners_cmd->add_option("--state", owners_args.state,
                         "Only this state: active, pending_approval, pooled, "
                         "frozen, orphaned, unowned");
  owners_cmd->add_option("--segment", owners_args.segment,
                         "Only customers in this segment");
  owners_cmd->add_option("--page-size", owners_args.page_size,
                         "Ownerships per page, 0-1000 (0: server default)");
  owners_cmd->add_option("--page-token", owners_args.page_token,
                         "Continue from a previous page");
  owners_cmd->add_flag("--all", owners_args.all, "Follow every page");

  custodian::clients::HistoryArgs history_args;
  CLI::App* history_cmd = app.add_subcommand(
      "history", "A customer's ownership history, or who owned it at a time");
  history_cmd->add_option("customer", history_args.customer_id, "Customer id")
      ->required();
  history_cmd->add_option("--department", history_args.department,
                          "Only this department");
  history_cmd->add_option("--as-of", history_args.as_of,
                          "Only who owned it at this time (RFC 3339)");

  custodian::clients::WatchArgs watch_args;
  CLI::App* watch_cmd = app.add_subcommand(
      "watch",
      "Print ownership events as they happen, until Ctrl-C (exit 0); prints "
      "the last sequence to resume from");
  watch_cmd->add_option("--from", watch_args.from_sequence,
                        "Start after this sequence (default 0: from the "
                        "beginning)");
  watch_cmd->add_option("--max-events", watch_args.max_events,
                        "Stop after this many events (default 0: no limit)");

  custodian::clients::TransferArgs transfer_args;
  CLI::App* transfer_cmd = app.add_subcommand(
      "transfer", "Move a customer's ownership to a rep or a pool");
  transfer_cmd->add_option("customer", transfer_args.customer_id, "Customer id")
      ->required();
  transfer_cmd
      ->add_option("--department", transfer_args.department, "Department")
      ->required();
  CLI::Option* to_rep = transfer_cmd->add_option(
      "--to-rep", transfer_args.to_rep, "The new owner, a rep");
  CLI::Option* to_pool = transfer_cmd->add_option(
      "--to-pool", transfer_args.to_pool, "A pool of the department");
  to_rep->excludes(to_pool);
  transfer_cmd->add_option("--reason", transfer_args.reason, "Why")->required();
  transfer_cmd->add_option("--request-id", transfer_args.request_id,
                           "Idempotency id (default: a fresh random id)");

  // ---- pool, activity, dupes ----
  CLI::App* pool_cmd =
      app.add_subcommand("pool", "The public pool: list, claim, release");
  pool_cmd->require_subcommand(1);
  custodian::clients::PoolListArgs pool_list_args;
  CLI::App* pool_list =
      pool_cmd->add_subcommand("list", "List a department's pooled customers");
  pool_list->add_option("--department", pool_list_args.department, "Department")
      ->required();
  pool_list->add_option("--pool", pool_list_args.pool, "Only this pool");
  pool_list->add_option("--segment", pool_list_args.segment,
                        "Only customers in this segment");
  pool_list->add_option("--region", pool_list_args.region_under,
                        "Only customers with a region under this path");
  pool_list->add_option("--industry", pool_list_args.industry_under,
                        "Only customers with an industry under this path");
  pool_list->add_option("--min-time-in-pool", pool_list_args.min_time_in_pool,
                        "Only customers pooled at least this long (e.g. 7d)");
  pool_list->add_option("--page-size", pool_list_args.page_size,
                        "Entries per page (default: the server's, 50)");
  pool_list->add_option("--page-token", pool_list_args.page_token,
                        "Continue from a previous page");
  pool_list->add_flag("--all", pool_list_args.all, "Follow every page");

  custodian::clients::PoolClaimArgs claim_args;
  CLI::App* pool_claim =
      pool_cmd->add_subcommand("claim", "A rep takes a pooled customer");
  pool_claim->add_option("customer", claim_args.customer_id, "Customer id")
      ->required();
  pool_claim->add_option("--department", claim_args.department, "Department")
      ->required();
  pool_claim->add_option("--rep", claim_args.rep, "The claiming rep")
      ->required();
  pool_claim->add_option("--request-id", claim_args.request_id,
                         "Idempotency id (default: a fresh random id)");

  custodian::clients::PoolReleaseArgs release_args;
  CLI::App* pool_release =
      pool_cmd->add_subcommand("release", "Give a customer back to a pool");
  pool_release->add_option("customer", release_args.customer_id, "Customer id")
      ->required();
  pool_release
      ->add_option("--department", release_args.department, "Department")
      ->required();
  pool_release->add_option("--pool", release_args.pool,
                           "The pool (default: the department's only pool)");
  pool_release
      ->add_option("--reason", release_args.reason,
                   "no_demand, unreachable, invalid_contact, "
                   "lost_to_competitor, duplicate, over_capacity or other")
      ->required();
  pool_release->add_option("--text", release_args.text,
                           "Free text (required with --reason other)");
  pool_release->add_option("--request-id", release_args.request_id,
                           "Idempotency id (default: a fresh random id)");

  CLI::App* activity_cmd =
      app.add_subcommand("activity", "Follow-up activity on customers");
  activity_cmd->require_subcommand(1);
  custodian::clients::ActivityRecordArgs activity_args;
  CLI::App* activity_record = activity_cmd->add_subcommand(
      "record", "Record a follow-up: resets the recycling clock");
  activity_record
      ->add_option("customer", activity_args.customer_id, "Customer id")
      ->required();
  activity_record
      ->add_option("--department", activity_args.department, "Department")
      ->required();
  activity_record
      ->add_option("--kind", activity_args.kind,
                   "call, visit, order, email or meeting")
      ->required();
  activity_record->add_option("--at", activity_args.at,
                              "When, RFC 3339 (default: now)");
  activity_record->add_option("--request-id", activity_args.request_id,
                              "Idempotency id (default: a fresh random id)");

  // ---- appeal ----
  CLI::App* appeal_cmd = app.add_subcommand(
      "appeal",
      "Disputes: file, list, show, comment, vote, rule, withdraw, stats");
  appeal_cmd->require_subcommand(1);
  const char* kRequestIdHelp = "Idempotency id (default: a fresh random id)";
  custodian::clients::AppealFileArgs appeal_file_args;
  CLI::App* appeal_file = appeal_cmd->add_subcommand(
      "file", "Contest the owner of a customer: it is frozen meanwhile");
  appeal_file
      ->add_option("customer", appeal_file_args.customer_id, "Customer id")
      ->required();
  appeal_file
      ->add_option("--department", appeal_file_args.department, "Department")
      ->required();
  appeal_file
      ->add_option("--claimant", appeal_file_args.claimant,
                   "The contesting rep")
      ->required();
  appeal_file->add_option("--reason", appeal_file_args.reason, "Why")
      ->required();
  appeal_file->add_option("--evidence", appeal_file_args.evidence,
                          "A short text or link (repeatable)");
  appeal_file->add_option("--request-id", appeal_file_args.request_id,
                          kRequestIdHelp);
  custodian::clients::AppealListArgs appeal_list_args;
  CLI::App* appeal_list = appeal_cmd->add_subcommand("list", "List appeals");
  appeal_list->add_option(
      "--state", appeal_list_args.state,
      "Only this state: open, escalated, upheld, overturned, withdrawn");
  appeal_list->add_option("--department", appeal_list_args.department,
                          "Only this department");
  appeal_list->add_option("--claimant", appeal_list_args.claimant,
                          "Only this claimant");
  appeal_list->add_option("--owner", appeal_list_args.owner,
                          "Only appeals against this owner");
  appeal_list->add_flag(
      "--mine", appeal_list_args.mine,
      "My inbox: my panel seats, and escalations for a manager");
  appeal_list->add_option("--page-size", appeal_list_args.page_size,
                          "Appeals per page");
  appeal_list->add_option("--page-token", appeal_list_args.page_token,
                          "The next page of an earlier list");
  appeal_list->add_flag("--all", appeal_list_args.all, "Follow every page");
  std::string appeal_show_id;
  CLI::App* appeal_show =
      appeal_cmd->add_subcommand("show", "An appeal and its timeline");
  appeal_show->add_option("appeal", appeal_show_id, "Appeal id")->required();
  custodian::clients::AppealCommentArgs appeal_comment_args;
  CLI::App* appeal_comment =
      appeal_cmd->add_subcommand("comment", "Comment on an open appeal");
  appeal_comment
      ->add_option("appeal", appeal_comment_args.appeal_id, "Appeal id")
      ->required();
  appeal_comment->add_option("--text", appeal_comment_args.text, "Comment")
      ->required();
  appeal_comment->add_option("--request-id", appeal_comment_args.request_id,
                             kRequestIdHelp);
  custodian::clients::AppealVoteArgs appeal_vote_args;
  CLI::App* appeal_vote = appeal_cmd->add_subcommand(
      "vote", "Vote on an appeal of your panel (changeable until the ruling)");
  appeal_vote->add_option("appeal", appeal_vote_args.appeal_id, "Appeal id")
      ->required();
  appeal_vote
      ->add_option("--decision", appeal_vote_args.decision,
                   "uphold or overturn")
      ->required();
  appeal_vote->add_option("--reason", appeal_vote_args.reason, "Why")
      ->required();
  appeal_vote->add_option("--request-id", appeal_vote_args.request_id,
                          kRequestIdHelp);
  custodian::clients::AppealRuleArgs appeal_rule_args;
  CLI::App* appeal_rule = appeal_cmd->add_subcommand(
      "rule", "A manager rules on an appeal (asks for confirmation)");
  appeal_rule->add_option("appeal", appeal_rule_args.appeal_id, "Appeal id")
      ->required();
  appeal_rule
      ->add_option("--decision", appeal_rule_args.decision,
                   "uphold or overturn")
      ->required();
  appeal_rule->add_option("--reason", appeal_rule_args.reason, "Why")
      ->required();
  appeal_rule->add_flag("--override-capacity",
                        appeal_rule_args.override_capacity,
                        "Overturn even if the claimant is at capacity");
  appeal_rule->add_option("--override-reason", appeal_rule_args.override_reason,
                          "Why the capacity is overridden");
  appeal_rule->add_flag("--yes,-y", appeal_rule_args.yes,
                        "Do not ask for confirmation");
  appeal_rule->add_option("--request-id", appeal_rule_args.request_id,
                          kRequestIdHelp);
  std::string appeal_stats_department;
  CLI::App* appeal_stats = appeal_cmd->add_subcommand(
      "stats", "Appeals per rep (filed, won, lost) and per arbiter");
  appeal_stats->add_option("--department", appeal_stats_department,
                           "Only this department (default: every one)");
  custodian::clients::AppealWithdrawArgs appeal_withdraw_args;
  CLI::App* appeal_withdraw =
      appeal_cmd->add_subcommand("withdraw", "The claimant withdraws");
  appeal_withdraw
      ->add_option("appeal", appeal_withdraw_args.appeal_id, "Appeal id")
      ->required();
  appeal_withdraw->add_option("--reason", appeal_withdraw_args.reason, "Why");
  appeal_withdraw->add_option("--request-id", appeal_withdraw_args.request_id,
                              kRequestIdHelp);

  CLI::App* dupes_cmd =
      app.add_subcommand("dupes", "Duplicate matching of prospects");
  dupes_cmd->require_subcommand(1);
  custodian::clients::DupesCheckArgs dupes_args;
  CLI::App* dupes_check = dupes_cmd->add_subcommand(
      "check", "Is a prospect already a customer, owned or protected?");
  dupes_check->add_option("--id", dupes_args.id,
                          "The prospect's id, if it has one");
  dupes_check->add_option("--name", dupes_args.name, "Company name");
  dupes_check->add_option("--tax-id", dupes_args.tax_id, "Tax id");
  dupes_check->add_option("--email-domain", dupes_args.email_domain,
                          "E-mail domain");

  // ---- review ----
  CLI::App* review_cmd = app.add_subcommand(
      "review", "Periodic ownership review: start, follow, act on findings");
  review_cmd->require_subcommand(1);
  custodian::clients::ReviewStartArgs review_start_args;
  bool review_no_progress = false;
  std::string review_poll = "1s";
  CLI::App* review_start = review_cmd->add_subcommand(
      "start", "Start a review (with --wait: until it is done; for cron)");
  review_start
      ->add_option("--scope", review_start_args.scope,
                   "all (default), or department:ID, team:ID, rep:ID items, "
                   "comma-separated or repeated")
      ->allow_extra_args(false);
  review_start->add_option(
      "--checks", review_start_args.checks,
      "Comma-separated: drift, stale, over_capacity, orphaned, "
      "pending_too_long, unowned, or all (default)");
  review_start
      ->add_option("--mode", review_start_args.mode,
                   "report (findings only), queue (for a manager) or apply")
      ->capture_default_str();
  review_start->add_option(
      "--pending-after", review_start_args.pending_after,
      "PENDING_TOO_LONG after this long (default: the server's, 7d)");
  review_start->add_option("--request-id", review_start_args.request_id,
                           "Idempotency id (default: a fresh random id)");
  review_start->add_flag("--wait", review_start_args.wait,
                         "Wait until done, show progress, then a summary; "
                         "exit 0 only if it succeeded");
  review_start->add_flag("--no-progress", review_no_progress,
                         "With --wait: no progress output");
  review_start->add_option("--poll-interval", review_poll,
                           "With --wait: how often to ask (default 1s)");
  custodian::clients::ReviewStatusArgs review_status_args;
  CLI::App* review_status =
      review_cmd->add_subcommand("status", "A review's progress and counts");
  review_status->add_option("review", review_status_args.review, "Review id")
      ->required();
  review_status->add_flag("--wait", review_status_args.wait,
                          "Wait until done (exit 0 only if it succeeded)");
  review_status->add_flag("--no-progress", review_no_progress,
                          "With --wait: no progress output");
  review_status->add_option("--poll-interval", review_poll,
                            "With --wait: how often to ask (default 1s)");
  custodian::clients::ReviewListArgs review_list_args;
  CLI::App* review_list =
      review_cmd->add_subcommand("list", "Reviews, newest first");
  review_list->add_option("--page-size", review_list_args.page_size,
                          "Reviews per page, 0-1000 (0: server default)");
  review_list->add_option("--page-token", review_list_args.page_token,
                          "Continue from a previous page");
  review_list->add_flag("--all", review_list_args.all, "Every page");
  custodian::clients::ReviewFindingsArgs findings_args;
  CLI::App* review_findings =
      review_cmd->add_subcommand("findings", "A review's findings, filtered");
  review_findings->add_option("review", findings_args.review, "Review id")
      ->required();
  review_findings->add_option("--kind", findings_args.kind,
                              "Only this kind (drift, stale, ...)");
  review_findings->add_option("--status", findings_args.status,
                              "open, queued, applied or dismissed");
  review_findings->add_option("--department", findings_args.department,
                              "Only this department");
  review_findings->add_option("--team", findings_args.team, "Only this team");
  review_findings->add_option("--rep", findings_args.rep, "Only this rep");
  review_findings->add_option("--page-size", findings_args.page_size,
                              "Findings per page, 0-1000");
  review_findings->add_option("--page-token", findings_args.page_token,
                              "Continue from a previous page");
  review_findings->add_flag("--all", findings_args.all, "Every page");
  custodian::clients::ReviewResolveArgs review_apply_args;
  custodian::clients::ReviewResolveArgs review_dismiss_args;
  CLI::App* review_apply = review_cmd->add_subcommand(
      "apply", "Apply findings of a department (by ids or --kind)");
  CLI::App* review_dismiss = review_cmd->add_subcommand(
      "dismiss", "Dismiss findings of a department (by ids or --kind)");
  for (auto [cmd, args] : {std::pair{review_apply, &review_apply_args},
                           std::pair{review_dismiss, &review_dismiss_args}}) {
    cmd->add_option("review", args->review, "Review id")->required();
    cmd->add_option("finding", args->finding_ids, "Finding ids");
    cmd->add_option("--department", args->department, "Department")->required();
    cmd->add_option("--kind", args->kind,
                    "Every open or queued finding of this kind");
    cmd->add_option("--reason", args->reason, "Why");
    cmd->add_option("--request-id", args->request_id,
                    "Idempotency id (default: a fresh random id)");
  }
  std::string review_cancel_id;
  CLI::App* review_cancel =
      review_cmd->add_subcommand("cancel", "Stop a running review");
  review_cancel->add_option("review", review_cancel_id, "Review id")
      ->required();
  custodian::clients::ReviewReportArgs review_report_args;
  CLI::App* review_report = review_cmd->add_subcommand(
      "report", "A review and all its findings as a table, CSV or JSON");
  review_report->add_option("review", review_report_args.review, "Review id")
      ->required();
  CLI::Option* report_format =
      review_report
          ->add_option("--format", review_report_args.format,
                       "table, csv or json")
          ->capture_default_str();

  custodian::clients::DecideArgs approve_args;
  CLI::App* approve_cmd = app.add_subcommand(
      "approve", "Approve a pending ownership: it becomes active");
  approve_cmd->add_option("customer", approve_args.customer_id, "Customer id")
      ->required();
  approve_cmd->add_option("--department", approve_args.department, "Department")
      ->required();
  approve_cmd->add_option("--reason", approve_args.reason, "A note");
  approve_cmd->add_option("--request-id", approve_args.request_id,
                          "Idempotency id (default: a fresh random id)");

  custodian::clients::DecideArgs reject_args;
  CLI::App* reject_cmd = app.add_subcommand(
      "reject",
      "Reject a pending ownership: the next eligible candidate gets it");
  reject_cmd->add_option("customer", reject_args.customer_id, "Customer id")
      ->required();
  reject_cmd->add_option("--department", reject_args.department, "Department")
      ->required();
  reject_cmd->add_option("--reason", reject_args.reason, "Why")->required();
  reject_cmd->add_option("--request-id", reject_args.request_id,
                         "Idempotency id (default: a fresh random id)");

  app.add_subcommand("whoami",
                     "Who the server takes you to be: principal, "
                     "roles, departments");
  custodian::clients::AuditArgs audit_args;
  std::string audit_since;
  std::string audit_until;
  CLI::App* audit_cmd = app.add_subcommand(
      "audit", "Audit records of changes (admins and auditors)");
  audit_cmd->add_option("--principal", audit_args.principal,
                        "Only changes by this principal");
  audit_cmd->add_option("--resource", audit_args.resource,
                        "Only changes naming this resource, e.g. "
                        "customers/c-1 or reps/li.na");
  audit_cmd->add_option("--since", audit_since,
                        "Only changes at or after this time (RFC 3339)");
  audit_cmd->add_option("--until", audit_until,
                        "Only changes before this time (RFC 3339)");
  audit_cmd->add_option("--page-size", audit_args.page_size,
                        "Records per page, 0-1000 (0: server default)");
  audit_cmd->add_option("--page-token", audit_args.page_token,
                        "Continue from a previous page");
  audit_cmd->add_flag("--all", audit_args.all, "Every page");

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
  // A simulation reads every stored customer: unless --timeout says
  // otherwise, it gets 10 minutes.
  if (simulate->parsed() && app.get_option("--timeout")->count() == 0) {
    timeout_flag = "10m";
  }
  std::optional<absl::Duration> timeout =
      custodian::clients::ParseTimeout(timeout_flag);
  if (!timeout) {
    std::cerr << "custodianctl: --timeout: \"" << timeout_flag
              << "\" is not a positive duration such as 30s, 500ms or 2m\n";
    return kExitUsage;
  }
  connection_flags.server = server_flag;
  absl::StatusOr<custodian::clients::ResolvedConnection> resolved =
      custodian::clients::ResolveConnection(
          connection_flags, [](const char* name) { return std::getenv(name); });
  if (!resolved.ok()) {
    std::cerr << "custodianctl: " << resolved.status().message() << "\n";
    return kExitUsage;
  }
  std::unique_ptr<custodian::clients::Connection> connection =
      custodian::clients::Connection::Open(
          custodian::clients::ToConnectionOptions(*resolved, *timeout));
  const custodian::clients::CommandOutput output{format, std::cout, std::cerr};

  if (app.got_subcommand("whoami")) {
    return RunWhoAmI(*connection, resolved->context, output);
  }
  if (audit_cmd->parsed()) {
    for (const auto& [flag, text, time] :
         {std::tuple<const char*, const std::string&,
                     std::optional<absl::Time>*>{"--since", audit_since,
                                                 &audit_args.since},
          {"--until", audit_until, &audit_args.until}}) {
      if (text.empty()) continue;
      *time = custodian::clients::ParseAtFlag(text);
      if (!*time) {
        std::cerr << "custodianctl: " << flag << ": \"" << text
                  << "\" is not an RFC 3339 time such as "
                     "2026-06-01T00:00:00Z\n";
        return kExitUsage;
      }
    }
    return RunAudit(*connection, audit_args, output);
  }
  if (publish->parsed()) {
    return RunRulesPublish(*connection, publish_args, output);
  }
  if (list->parsed()) return RunRulesList(*connection, list_args, output);
  if (get->parsed()) return RunRulesGet(*connection, get_args, output);
  if (activate->parsed()) {
    return RunRulesActivate(*connection, activate_args, output);
  }
  if (diff->parsed()) return RunRulesDiff(*connection, diff_args, output);
  if (simulate->parsed()) {
    if (simulate_at_option->count() > 0) {
      simulate_args.at = custodian::clients::ParseAtFlag(simulate_at);
      if (!simulate_args.at) {
        std::cerr << "custodianctl: --at: \"" << simulate_at
                  << "\" is not an RFC 3339 time such as "
                     "2026-06-01T00:00:00Z\n";
        return kExitUsage;
      }
    }
    if (simulate_samples_option->count() > 0) {
      simulate_args.samples = simulate_samples;
    }
    return RunRulesSimulate(*connection, simulate_args, output);
  }
  if (apply->parsed()) return RunRosterApply(*connection, apply_args, output);
  if (roster_get->parsed()) return RunRosterGet(*connection, output);
  if (set_status->parsed()) {
    return RunRepSetStatus(*connection, status_args, output);
  }
  if (assign_cmd->parsed()) {
    if (jsonl_option->count() == 0) {
      return RunAssign(*connection, assign_args, output);
    }
    if (assign_args.customer.HasFlags() || !assign_args.customer.file.empty() ||
        !assign_args.request_id.empty()) {
      std::cerr << "custodianctl: --jsonl: the customers come from the file: "
                   "no --file, attribute flags or --request-id (use "
                   "--request-id-prefix)\n";
      return kExitUsage;
    }
    if (no_progress) {
      bulk_args.progress = custodian::clients::ProgressStyle::kNone;
    } else if (isatty(STDERR_FILENO)) {
      bulk_args.progress = custodian::clients::ProgressStyle::kBar;
      bulk_args.progress_interval = absl::Milliseconds(200);
    } else {
      bulk_args.progress = custodian::clients::ProgressStyle::kLines;
      bulk_args.progress_interval = absl::Seconds(5);
    }
    return RunBulkAssign(*connection, bulk_args, output);
  }
  if (evaluate_cmd->parsed()) {
    return RunEvaluate(*connection, evaluate_input, output);
  }
  if (owner_cmd->parsed()) return RunOwner(*connection, owner_args, output);
  if (owners_cmd->parsed()) return RunOwners(*connection, owners_args, output);
  if (history_cmd->parsed()) {
    return RunHistory(*connection, history_args, output);
  }
  if (watch_cmd->parsed()) {
    // Ctrl-C (SIGINT) or SIGTERM ends the watch with exit code 0.
    static custodian::clients::StopSignal stop;
    custodian::clients::StopOnInterrupt(&stop);
    return RunWatch(*connection, watch_args, output, &stop);
  }
  if (transfer_cmd->parsed()) {
    return RunTransfer(*connection, transfer_args, output);
  }
  if (approve_cmd->parsed()) {
    return RunApprove(*connection, approve_args, output);
  }
  if (reject_cmd->parsed()) return RunReject(*connection, reject_args, output);
  if (pool_list->parsed()) {
    return RunPoolList(*connection, pool_list_args, output);
  }
  if (pool_claim->parsed()) {
    return RunPoolClaim(*connection, claim_args, output);
  }
  if (pool_release->parsed()) {
    return RunPoolRelease(*connection, release_args, output);
  }
  if (activity_record->parsed()) {
    return RunActivityRecord(*connection, activity_args, output);
  }
  if (dupes_check->parsed()) {
    return RunDupesCheck(*connection, dupes_args, output);
  }
  if (appeal_file->parsed()) {
    return RunAppealFile(*connection, appeal_file_args, output);
  }
  if (appeal_list->parsed()) {
    return RunAppealList(*connection, appeal_list_args, output);
  }
  if (appeal_show->parsed()) {
    return RunAppealShow(*connection, appeal_show_id, output);
  }
  if (appeal_comment->parsed()) {
    return RunAppealComment(*connection, appeal_comment_args, output);
  }
  if (appeal_vote->parsed()) {
    return RunAppealVote(*connection, appeal_vote_args, output);
  }
  if (appeal_rule->parsed()) {
    appeal_rule_args.confirm = &std::cin;
    return RunAppealRule(*connection, appeal_rule_args, output);
  }
  if (appeal_stats->parsed()) {
    return RunAppealStats(*connection, appeal_stats_department, output);
  }
  if (appeal_withdraw->parsed()) {
    return RunAppealWithdraw(*connection, appeal_withdraw_args, output);
  }
  if (review_start->parsed() || review_status->parsed()) {
    std::optional<absl::Duration> poll =
        custodian::clients::ParseTimeout(review_poll);
    if (!poll) {
      std::cerr << "custodianctl: --poll-interval: \"" << review_poll
                << "\" is not a positive duration such as 1s or 500ms\n";
      return kExitUsage;
    }
    custodian::clients::ReviewWaitArgs wait;
    wait.poll_interval = *poll;
    if (review_no_progress) {
      wait.progress = custodian::clients::ProgressStyle::kNone;
    } else if (isatty(STDERR_FILENO)) {
      wait.progress = custodian::clients::ProgressStyle::kBar;
    } else {
      wait.progress = custodian::clients::ProgressStyle::kLines;
    }
    if (review_start->parsed()) {
      review_start_args.wait_args = wait;
      return RunReviewStart(*connection, review_start_args, output);
    }
    review_status_args.wait_args = wait;
    return RunReviewStatus(*connection, review_status_args, output);
  }
  if (review_list->parsed()) {
    return RunReviewList(*connection, review_list_args, output);
  }
  if (review_findings->parsed()) {
    return RunReviewFindings(*connection, findings_args, output);
  }
  if (review_apply->parsed()) {
    return RunReviewApply(*connection, review_apply_args, output);
  }
  if (review_dismiss->parsed()) {
    return RunReviewDismiss(*connection, review_dismiss_args, output);
  }
  if (review_cancel->parsed()) {
    return RunReviewCancel(*connection, review_cancel_id, output);
  }
  if (review_report->parsed()) {
    if (report_format->count() == 0 &&
        format == custodian::clients::OutputFormat::kJson) {
      review_report_args.format = "json";
    }
    return RunReviewReport(*connection, review_report_args, output);
  }
  std::cerr << "custodianctl: no command given (see --help)\n";
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
