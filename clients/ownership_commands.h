// custodianctl's assignment and ownership commands: `assign` (one customer,
// or a JSONL file in bulk), `evaluate`, `owner`, `owners`, `history`,
// `watch`, `transfer`, `approve`, `reject`.
//
// The conventions are remote_commands.h's: each Run* function makes its
// calls over `connection`, writes its result to `output.out` (a table, or
// with OutputFormat::kJson one JSON document, the response message with
// proto field names) and problems to `output.err`, and returns the process
// exit code (errors.h): 0 success; 1 the server refused (printed by
// ReportRpcError with every bad field); 2 a local problem before any call
// (a bad flag value, a customer that does not load or validate, a file that
// cannot be read); 3 the server is unreachable. Exceptions are documented on
// the function (`assign --jsonl`: 1 when any line failed; `watch`: one JSON
// object per line).
//
// Mutating commands send an AIP-155 request_id: the one given, else a fresh
// random one (NewRequestId), added to the JSON document as a top-level
// "request_id" member and printed in the retry hint when the outcome is
// unknown. `assign --jsonl` derives one id per line instead (see
// BulkAssignArgs).
//
// Thread-safe: no shared state; RunBulkAssign uses threads of its own and
// returns after they have finished.
#ifndef CUSTODIAN_CLIENTS_OWNERSHIP_COMMANDS_H_
#define CUSTODIAN_CLIENTS_OWNERSHIP_COMMANDS_H_

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clients/connection.h"
#include "clients/output.h"
#include "clients/remote_commands.h"
#include "custodian/v1/assignment.pb.h"
#include "custodian/v1/customer.pb.h"
#include "custodian/v1/ownership.pb.h"
#include "custodian/v1/ownership_requests.pb.h"

namespace custodian::clients {

// ---- customer input --------------------------------------------------------

// One customer for `assign` / `evaluate`: either attribute flags or a file.
struct CustomerInput {
  // A file holding one customer as a JSON object (or YAML map) in the shape
  // of examples/customers.jsonl lines (RULES.md). Exclusive with the flags
  // below. Default: none.
  std::string file;
  // --id (required without a file), --name, --region, --industry, --type,
  // --stage, --tier. Empty: absent.
  std::string id;
  std::string name;
  std::string region;
  std::string industry;
  std::string customer_type;
  std::string sales_stage;
  std::string value_tier;
  // --revenue, --employees: integers >= 0. Empty: absent.
  std::string annual_revenue;
  std::string employee_count;
  // --tag (repeatable).
  std::vector<std::string> tags;
  // --attr KEY=VALUE (repeatable); the value may contain '='.
  std::vector<std::string> attributes;

  // true if any attribute flag is set.
  bool HasFlags() const;
};

// The customer `input` describes, loaded (rules::LoadCustomer) and
// validated (rules::ValidateCustomer) here, before any call. On a problem
// prints every one to `err` (a file's as FILE:LINE:COL: customer.field:
// message, a flag's naming the flag) and returns nullopt: a usage error
// (exit 2).
std::optional<v1::Customer> BuildCustomer(const CustomerInput& input,
                                          std::ostream& err);

// ---- assign, evaluate ------------------------------------------------------

struct AssignArgs {
  CustomerInput customer;
  // Default: a fresh id.
  std::string request_id;
};

// `assign`: Assign. Table: RenderAssignResponse.
int RunAssign(const Connection& connection, const AssignArgs& args,
              const CommandOutput& output);

// `evaluate`: Evaluate, which writes nothing. Table: RenderAssignResponse
// as an evaluation.
int RunEvaluate(const Connection& connection, const CustomerInput& customer,
                const CommandOutput& output);

// How `assign --jsonl` shows progress on `err`.
enum class ProgressStyle {
  kNone,
  // A bar redrawn in place with "\r" (for a terminal).
  kBar,
  // A plain line every progress_interval (for logs).
  kLines,
};

struct BulkAssignArgs {
  // One customer JSON object per line (RULES.md); "-" reads `stdin`. Blank
  // lines are skipped. Required.
  std::string path;
  // Where "-" reads from. Default: std::cin.
  std::istream* stdin_stream = nullptr;
  // Request ids are PREFIX:LINE (LINE is the 1-based line number in the
  // file), so running the same file again with the same prefix is
  // idempotent: the server answers every line it already assigned with its
  // first answer, and assigns the rest. Characters [A-Za-z0-9._-], at most
  // 100. Default: a fresh random prefix, printed in the summary.
  std::string request_id_prefix;
  // Customers per BatchAssign, 1-1000. Default: 1000.
  int batch_size = 1000;
  // Batches in flight at once, 1-64. Default: 4.
  int parallel = 4;
  // Retries of a whole batch whose call failed with UNAVAILABLE,
  // DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED or ABORTED after reaching the
  // server (safe: the request ids make them idempotent), 0-10, with
  // backoff from `retry_backoff` doubling. Default: 2.
  int retries = 2;
  absl::Duration retry_backoff = absl::Milliseconds(500);
  // Default: no progress.
  ProgressStyle progress = ProgressStyle::kNone;
  // How often progress is redrawn (kBar) or printed (kLines).
  absl::Duration progress_interval = absl::Seconds(5);
};

// `assign --jsonl FILE`: streams the lines into BatchAssign calls of up to
// batch_size customers, `parallel` calls in flight. Every line is loaded and
// validated locally first; a bad line is an error at its line number and
// field and is not sent. Per-customer errors from the server are errors at
// their line. The others go on. Prints a summary to `out`: lines, assigned,
// failed, not sent, time and rate; per department the customers by
// ownership state and how many changed; every error as LINE CUSTOMER ERROR;
// the request id prefix. JSON: one document {"file", "request_id_prefix",
// "lines", "assigned", "failed", "not_sent", "seconds", "per_second",
// "departments": [{"department", "states": {STATE: n}, "changed"}],
// "errors": [{"line", "customer_id", "code", "message"}]}.
// When a whole BatchAssign call fails (after retries) no further batch is
// sent; the call's error is reported on `err` and its lines count as not
// sent. Returns 0 when every line was assigned, 1 when any line failed or
// was not sent (3 when the server was unreachable), 2 for bad arguments or
// an unreadable file (nothing sent).
int RunBulkAssign(const Connection& connection, const BulkAssignArgs& args,
                  const CommandOutput& output);

// ---- owner, owners, history ------------------------------------------------

struct OwnerArgs {
  // Required.
  std::string customer_id;
  // Default: every department of the roster that has an ownership of the
  // customer.
  std::string department;
};

// `owner CUSTOMER [--department D]`: GetOwnership (without --department,
// one per department of GetRoster, skipping NOT_FOUND; NOT_FOUND when
// there is none). Table: RenderOwnership per department, blank-line
// separated. JSON: the Ownership with --department, else a
// ListOwnershipsResponse holding one per department.
int RunOwner(const Connection& connection, const OwnerArgs& args,
             const CommandOutput& output);

struct OwnersArgs {
  // Required.
  std::string department;
  // Filters; empty: not applied. `state` is a state name (ParseOwnershipState).
  std::string team;
  std::string rep;
  std::string state;
  std::string segment;
  // 0 (server default) to 1000. Default: 0.
  int32_t page_size = 0;
  std::string page_token;
  // Follow next_page_token to the end. Default: false.
  bool all = false;
};

// `owners --department D [...]`: ListOwnerships. Table: RenderOwnerships,
// then "next page: --page-token T" when there is one. JSON: the
// ListOwnershipsResponse (with --all, every page's ownerships in one).
int RunOwners(const Connection& connection, const OwnersArgs& args,
              const CommandOutput& output);

struct HistoryArgs {
  // Required.
  std::string customer_id;
  // Default: every department.
  std::string department;
  // RFC 3339. Set: only who owned the customer at that time (per
  // department, the event in force). Default: the whole history.
  std::string as_of;
};

// `history CUSTOMER [--department D] [--as-of T]`: ListOwnershipEvents,
// every page. Table: RenderHistory / RenderHistoryAsOf. JSON: one
// ListOwnershipEventsResponse with every event.
int RunHistory(const Connection& connection, const HistoryArgs& args,
               const CommandOutput& output);

// ---- watch -----------------------------------------------------------------

// Asks a running `watch` to stop, from any thread (e.g. on SIGINT).
// Thread-safe.
class StopSignal {
 public:
  // Idempotent. Runs the registered callback, if any.
  void Stop();
  bool stopped() const;
  // Sets the callback Stop() runs (runs it at once if already stopped);
  // nullptr clears it. The callback must not call back into this object.
  void OnStop(std::function<void()> callback);

 private:
  mutable absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> callback_ ABSL_GUARDED_BY(mu_);
};

// Makes SIGINT and SIGTERM call stop->Stop() (from a helper thread; the
// handler only writes to a pipe). `stop` must live until the process exits.
// Call once.
void StopOnInterrupt(StopSignal* stop);

struct WatchArgs {
  // Events with a greater sequence are printed. Default: 0, the beginning.
  int64_t from_sequence = 0;
  // Stop after this many events (0: no limit). Default: 0.
  int64_t max_events = 0;
};

// `watch [--from SEQ]`: WatchOwnershipEvents, no deadline. Prints each event
// as it arrives (table: FormatEventLine; JSON: one compact JSON object per
// line) and flushes. When `stop` is stopped, or after max_events, it ends
// the call and returns 0. Whenever it returns it prints to `err` "last
// sequence N: resume with --from N" (N: the last sequence printed, else
// from_sequence). A stream that fails prints the error and returns its exit
// code; a stream the server ends normally returns 0.
int RunWatch(const Connection& connection, const WatchArgs& args,
             const CommandOutput& output, StopSignal* stop);

// ---- transfer, approve, reject ---------------------------------------------

struct TransferArgs {
  std::string customer_id;  // required
  std::string department;   // required
  // Exactly one of them.
  std::string to_rep;
  std::string to_pool;
  std::string reason;  // required
  // Default: a fresh id.
  std::string request_id;
};

// `transfer`: Transfer. Table: "transferred C in D: now OWNER (team T),
// STATE (event N)".
int RunTransfer(const Connection& connection, const TransferArgs& args,
                const CommandOutput& output);

struct DecideArgs {
  std::string customer_id;  // required
  std::string department;   // required
  // Optional for approve, required for reject.
  std::string reason;
  // Default: a fresh id.
  std::string request_id;
};

// `approve`: Approve. Table: "approved C in D: OWNER (team T), STATE
// (event N)".
int RunApprove(const Connection& connection, const DecideArgs& args,
               const CommandOutput& output);

// `reject`: Reject. Table: "rejected C in D: now OWNER (team T), STATE
// (event N)": the next candidate, overflow or fallback.
int RunReject(const Connection& connection, const DecideArgs& args,
              const CommandOutput& output);

// ---- rendering -------------------------------------------------------------

// "active", "pending_approval", "pooled", "frozen", "orphaned", "unowned";
// "unspecified" otherwise.
std::string OwnershipStateName(v1::Ownership::State state);

// The names above, case-insensitive, also upper-case enum names
// ("PENDING_APPROVAL"); nullopt otherwise (and for "unspecified").
std::optional<v1::Ownership::State> ParseOwnershipState(absl::string_view text);

// "rule", "transfer", "claim", "release", "recycle", "approval", "rejection",
// "appeal_ruling", "review", "roster", "duplicate_of"; "unspecified".
std::string EventCauseName(v1::OwnershipEvent::Cause cause);

// Who holds it: the rep id, "pool ID", "unowned (no match)", "unowned (no
// capacity)"; "-" for nothing.
std::string FormatOwner(const v1::Ownership& ownership);

// `assign` / `evaluate`: a "customer ID: ruleset version N, segments: S"
// line ("evaluated ID (nothing written): ..." for an evaluation), then
// DEPARTMENT STATE OWNER TEAM RULE CHANGED (WOULD CHANGE for an
// evaluation).
void RenderAssignResponse(const v1::AssignResponse& response, bool evaluation,
                          std::ostream& out);

// `owner`: one "key  value" line per fact: customer, department, state,
// owner, team, since, rule (with its ruleset version), decision (the
// target, overflow), target used, strategy, skipped (rep (reason), ...),
// segments, drifted, last event. Explanation lines are left out when the
// ownership has no explanation (transfers, claims, rulings).
void RenderOwnership(const v1::Ownership& ownership, std::ostream& out);

// `owners`: CUSTOMER STATE OWNER TEAM RULE VERSION SINCE; "no ownerships"
// when empty.
void RenderOwnerships(const v1::ListOwnershipsResponse& response,
                      std::ostream& out);

// `history`: SEQ TIME DEPARTMENT CAUSE FROM TO STATE RULE VERSION ACTOR
// REASON, oldest first; "no events" when empty.
void RenderHistory(const v1::ListOwnershipEventsResponse& response,
                   std::ostream& out);

// `history --as-of T`: "as of T:" then DEPARTMENT OWNER TEAM STATE RULE
// VERSION SINCE CAUSE SEQ; "no owner at T" when empty.
void RenderHistoryAsOf(const v1::ListOwnershipEventsResponse& response,
                       absl::Time as_of, std::ostream& out);

// `watch`: "SEQ TIME CUSTOMER DEPARTMENT CAUSE: FROM → TO (STATE)", then
// " rule R vN" when a rule decided, " by ACTOR", and ": REASON" when there
// is one. No newline.
std::string FormatEventLine(const v1::OwnershipEvent& event);

}  // namespace custodian::clients

#endif  // CUSTODIAN_CLIENTS_OWNERSHIP_COMMANDS_H_
