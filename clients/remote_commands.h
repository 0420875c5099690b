// custodianctl's server commands: `roster apply|get`, `rep set-status`,
// `rules publish|list|get|activate|diff|simulate`.
//
// Each Run* function makes its calls over `connection`, writes its result to
// `out` (a table, or with OutputFormat::kJson exactly one JSON document: the
// response message, see output.h) and problems to `err`, and returns the
// process exit code (errors.h):
//   0  success;
//   1  the server refused (any non-OK status but those under 3), printed by
//      ReportRpcError with its code and every bad field;
//   2  a local problem before any call: a file that cannot be read, a bad
//      argument (status name, negative version, page size out of range);
//   3  the server is unreachable.
//
// Mutating commands send an AIP-155 request_id: the one given, else a fresh
// random id (NewRequestId). A generated id is added to the JSON document as
// a top-level "request_id" member, and printed in the retry hint when the
// outcome of the call is unknown, so a script can retry the same change.
//
// Thread-safe: no shared state.
#ifndef CUSTODIAN_CLIENTS_REMOTE_COMMANDS_H_
#define CUSTODIAN_CLIENTS_REMOTE_COMMANDS_H_

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "clients/connection.h"
#include "clients/output.h"

namespace custodian::clients {

// A random request id shaped like a version 4 UUID:
// "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" (lower-case hex), valid for every
// request_id field.
std::string NewRequestId();

// `given`, else NewRequestId(); *generated says which.
std::string RequestIdOr(const std::string& given, bool* generated);

// The extra JSON members (ToJson) of a mutating command's answer: the
// request id when the command generated it, so that the user can retry
// with it; none when the user gave it.
std::vector<std::pair<std::string, std::string>> GeneratedId(
    bool generated, const std::string& request_id);

// Where a command prints.
struct CommandOutput {
  OutputFormat format = OutputFormat::kTable;
  std::ostream& out;
  std::ostream& err;
};

struct RosterApplyArgs {
  // The roster file (YAML or JSON), sent verbatim as source_text with its
  // base name as file_name. Required.
  std::string path;
  // List the changes, write nothing. Default: false.
  bool dry_run = false;
  // Default: a fresh id (none for a dry run).
  std::string request_id;
  // Apply only if the roster's etag is still this one. Default: no check.
  std::string etag;
};

// `roster apply FILE`: ApplyRoster. Table: the changes (RenderRosterChanges);
// the file's warnings go to `err` as FILE:LINE:COL lines.
int RunRosterApply(const Connection& connection, const RosterApplyArgs& args,
                   const CommandOutput& output);

// `roster get`: GetRoster. Table: RenderRoster.
int RunRosterGet(const Connection& connection, const CommandOutput& output);

struct RepSetStatusArgs {
  // The rep id. Required.
  std::string rep;
  // "active", "away" or "left". Required.
  std::string status;
  // Why. Required by the server.
  std::string reason;
  // Default: a fresh id.
  std::string request_id;
};

// `rep set-status REP --status S --reason TEXT`: SetRepStatus. Table:
// "rep ID: BEFORE → AFTER (roster version N)".
int RunRepSetStatus(const Connection& connection, const RepSetStatusArgs& args,
                    const CommandOutput& output);

struct RulesPublishArgs {
  // The ruleset file, sent verbatim with its base name as file_name.
  std::string path;
  // Default: a fresh id.
  std::string request_id;
};

// `rules publish FILE`: CreateRulesetVersion. Table: "published version N
// (NAME)" then each publication warning as FILE:LINE:COL (to `out`), and a
// reminder that the version is not active.
int RunRulesPublish(const Connection& connection, const RulesPublishArgs& args,
                    const CommandOutput& output);

struct RulesListArgs {
  // 0 (server default) to 1000. Default: 0.
  int32_t page_size = 0;
  // Start from this page. Default: the first.
  std::string page_token;
  // Follow next_page_token to the end. Default: false.
  bool all = false;
};

// `rules list`: ListRulesetVersions. Table: RenderRulesetVersions, then
// "next page: --page-token T" when there is one (not with --all). With
// --all the JSON document is one ListRulesetVersionsResponse holding every
// version, with next_page_token empty and active_version/activation_etag
// from the last page.
int RunRulesList(const Connection& connection, const RulesListArgs& args,
                 const CommandOutput& output);

struct RulesGetArgs {
  // The version; 0 (default) is the active one. Must be >= 0.
  int64_t version = 0;
  // Table: print the stored source text verbatim (byte for byte, nothing
  // added). JSON: include source_text. Default: false (omit_source).
  bool source = false;
};

// `rules get [VERSION]`: GetRuleset. Table: RenderRulesetVersion, or the
// source text with --source.
int RunRulesGet(const Connection& connection, const RulesGetArgs& args,
                const CommandOutput& output);

struct RulesActivateArgs {
  // Required (>= 1).
  int64_t version = 0;
  // The activation etag. Default: read it with ListRulesetVersions first
  // (read-then-write: another admin's activation in between is overwritten
  // silently; pass --etag to make the activation conditional).
  std::string etag;
  // Why. Default: empty.
  std::string reason;
  // Default: a fresh id.
  std::string request_id;
};

// `rules activate VERSION`: ActivateRuleset. Table: "activated version N
// (previously M)" and the new etag.
int RunRulesActivate(const Connection& connection,
                     const RulesActivateArgs& args,
                     const CommandOutput& output);

struct RulesDiffArgs {
  int64_t from_version = 0;  // >= 1
  int64_t to_version = 0;    // >= 1
};

// `rules diff FROM TO`: DiffRulesets. Table: RenderRulesetDiff.
int RunRulesDiff(const Connection& connection, const RulesDiffArgs& args,
                 const CommandOutput& output);

struct RulesSimulateArgs {
  // The candidate version. Required (>= 1).
  int64_t version = 0;
  // The version to compare with; 0 (default) is the active one. >= 0.
  int64_t baseline_version = 0;
  // The evaluation time. Default: the server's now.
  std::optional<absl::Time> at;
  // Sample customer ids per transition and rule, 0-100. Default: the
  // server's (5).
  std::optional<int32_t> samples;
};

// `rules simulate VERSION [--baseline V] [--at T] [--samples N]`:
// SimulateRuleset. Table: RenderSimulation. Checks the arguments locally
// first (exit 2): VERSION >= 1, --baseline >= 0, --samples 0-100.
int RunRulesSimulate(const Connection& connection,
                     const RulesSimulateArgs& args,
                     const CommandOutput& output);

}  // namespace custodian::clients

#endif  // CUSTODIAN_CLIENTS_REMOTE_COMMANDS_H_
