// custodianctl's periodic-review commands: `review start|status|list|
// findings|apply|dismiss|cancel|report` (docs/reviews.md).
//
// The conventions are remote_commands.h's: each Run* function makes its
// calls over `connection`, writes a table (or with OutputFormat::kJson one
// JSON document: the response message with proto field names) to
// `output.out` and problems to `output.err`, and returns the exit code
// (errors.h): 0 success; 1 the server refused (every bad field printed);
// 2 a bad flag value, before any call; 3 the server is unreachable; and,
// for `review start --wait` and `review status --wait`, kExitReviewFailed
// (4) when the review ended FAILED or CANCELLED, so a scheduler (cron, a
// systemd timer, a Kubernetes CronJob) sees the failure. Mutating commands
// send the given --request-id, else a fresh one (added to the JSON document
// as "request_id").
//
// Thread-safe: no shared state.
#ifndef CUSTODIAN_CLIENTS_REVIEW_COMMANDS_H_
#define CUSTODIAN_CLIENTS_REVIEW_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "clients/connection.h"
#include "clients/output.h"
#include "clients/ownership_commands.h"
#include "custodian/v1/review_service.pb.h"

namespace custodian::clients {

// The review ended FAILED or CANCELLED (--wait).
inline constexpr int kExitReviewFailed = 4;

// Parses --scope values: each "all", or comma-separated KEY:VALUE (or
// KEY=VALUE) items with KEY department, team or rep (plurals accepted).
// "all" alone (or nothing) is every customer. INVALID_ARGUMENT naming the
// bad item.
absl::StatusOr<v1::ReviewScope> ParseReviewScope(
    const std::vector<std::string>& values);
// Parses --checks: comma-separated lower-case kinds (drift, stale,
// over_capacity, orphaned, pending_too_long, unowned), or "all"/"" for every
// check (an empty list). INVALID_ARGUMENT naming the bad item.
absl::StatusOr<std::vector<v1::FindingKind>> ParseReviewChecks(
    absl::string_view text);
// report, queue or apply.
std::optional<v1::ReviewMode> ParseReviewMode(absl::string_view text);
// "reviews/ID" or a bare ID -> "reviews/ID".
std::string ReviewName(absl::string_view id);

struct ReviewWaitArgs {
  // Redraw / print progress to `output.err` while waiting.
  ProgressStyle progress = ProgressStyle::kNone;
  // How often GetReview is polled. Default: 1 s.
  absl::Duration poll_interval = absl::Seconds(1);
};

struct ReviewStartArgs {
  std::vector<std::string> scope;
  std::string checks;
  std::string mode = "report";
  // A duration ("7d"); empty: the server's default.
  std::string pending_after;
  std::string request_id;
  // Wait until the review is done, then print its summary.
  bool wait = false;
  ReviewWaitArgs wait_args;
};
// `review start`: StartReview. Without --wait prints "started reviews/ID
// (mode M)"; with it, the progress while it runs, then the summary of
// `review status`.
int RunReviewStart(const Connection& connection, const ReviewStartArgs& args,
                   const CommandOutput& output);

struct ReviewStatusArgs {
  std::string review;
  bool wait = false;
  ReviewWaitArgs wait_args;
};
// `review status`: GetReview. Prints "reviews/ID STATE: S/T customers
// checked, N findings, A applied (mode M)", then a table KIND FINDINGS,
// and the rate and ETA while running.
int RunReviewStatus(const Connection& connection, const ReviewStatusArgs& args,
                    const CommandOutput& output);

struct ReviewListArgs {
  int32_t page_size = 0;
  std::string page_token;
  bool all = false;
};
// `review list`: ListReviews. Table: REVIEW STATE MODE SCANNED TOTAL
// FINDINGS APPLIED CREATED BY.
int RunReviewList(const Connection& connection, const ReviewListArgs& args,
                  const CommandOutput& output);

struct ReviewFindingsArgs {
  std::string review;
  std::string kind;    // lower-case kind; empty: any
  std::string status;  // open, queued, applied, dismissed; empty: any
  std::string department;
  std::string team;
  std::string rep;
  int32_t page_size = 0;
  std::string page_token;
  bool all = false;
};
// `review findings`: ListFindings. Table: ID KIND CUSTOMER DEPARTMENT TEAM
// REP STATUS DETAIL FIX.
int RunReviewFindings(const Connection& connection,
                      const ReviewFindingsArgs& args,
                      const CommandOutput& output);

struct ReviewResolveArgs {
  std::string review;
  std::string department;
  std::vector<std::string> finding_ids;
  std::string kind;
  std::string reason;
  std::string request_id;
};
// `review apply` / `review dismiss`: ApplyFindings / DismissFindings.
// Table: FINDING STATUS CHANGED NOTE, then "N changed, M skipped".
int RunReviewApply(const Connection& connection, const ReviewResolveArgs& args,
                   const CommandOutput& output);
int RunReviewDismiss(const Connection& connection,
                     const ReviewResolveArgs& args,
                     const CommandOutput& output);

// `review cancel`: CancelReview. Prints "cancelled reviews/ID after S/T
// customers".
int RunReviewCancel(const Connection& connection, const std::string& review,
                    const CommandOutput& output);

struct ReviewReportArgs {
  std::string review;
  // table, csv or json.
  std::string format = "table";
};
// `review report`: the review and every one of its findings (all pages).
// table: the status summary then the findings table; csv: a header line
// (id,kind,customer_id,department,team,rep,ownership_state,status,detail,
// proposed_fix,applied_owner) and one line per finding (RFC 4180 quoting);
// json: {"review": Review, "findings": [Finding...]}.
int RunReviewReport(const Connection& connection, const ReviewReportArgs& args,
                    const CommandOutput& output);

}  // namespace custodian::clients

#endif  // CUSTODIAN_CLIENTS_REVIEW_COMMANDS_H_
