#include "clients/review_commands.h"

#include <algorithm>
#include <memory>
#include <ostream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "clients/errors.h"
#include "clients/remote_commands.h"
#include "clients/rules_commands.h"
#include "clients/unary_call.h"
#include "custodian/v1/review_service.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "rules/durations.h"

namespace custodian::clients {
namespace {

using Extra = std::vector<std::pair<std::string, std::string>>;
using Stub = v1::ReviewService::Stub;

std::string Lower(absl::string_view enum_name) {
  return absl::AsciiStrToLower(enum_name);
}

std::string KindName(v1::FindingKind kind) {
  return Lower(v1::FindingKind_Name(kind));
}

std::string OrDash(absl::string_view text) {
  return text.empty() ? std::string("-") : std::string(text);
}

std::string StateName(const v1::Review& review) {
  return v1::ReviewMetadata::State_Name(review.metadata().state());
}

int64_t TotalFindings(const v1::Review& review) {
  int64_t n = 0;
  for (const v1::FindingCount& c : review.metadata().findings()) {
    n += c.count();
  }
  return n;
}

std::optional<v1::Finding::Status> ParseStatus(absl::string_view text) {
  for (v1::Finding::Status s : {v1::Finding::OPEN, v1::Finding::QUEUED,
                                v1::Finding::APPLIED, v1::Finding::DISMISSED}) {
    if (text == Lower(v1::Finding::Status_Name(s))) return s;
  }
  return std::nullopt;
}

std::optional<v1::FindingKind> ParseKind(absl::string_view text) {
  for (int k = v1::DRIFT; k <= v1::UNOWNED; ++k) {
    if (text == KindName(static_cast<v1::FindingKind>(k))) {
      return static_cast<v1::FindingKind>(k);
    }
  }
  return std::nullopt;
}

// Sets request.kind from a --kind value ("" leaves it unset); false (the
// error printed) for an unknown kind.
template <typename Request>
bool SetKindFlag(const std::string& text, Request* request, std::ostream& err) {
  if (text.empty()) return true;
  std::optional<v1::FindingKind> kind = ParseKind(text);
  if (!kind.has_value()) {
    err << "custodianctl: --kind: \"" << text
        << "\" is not one of drift, stale, over_capacity, orphaned, "
           "pending_too_long, unowned\n";
    return false;
  }
  request->set_kind(*kind);
  return true;
}

void PrintSummary(const v1::Review& review, std::ostream& out) {
  const v1::ReviewMetadata& m = review.metadata();
  out << review.name() << " " << StateName(review) << ": " << m.scanned() << "/"
      << m.total() << " customers checked, " << TotalFindings(review)
      << " findings, " << m.applied() << " applied (mode "
      << Lower(v1::ReviewMode_Name(m.mode())) << ")\n";
  if (!review.error_message().empty()) {
    out << "error: " << review.error_message() << "\n";
  }
  if (!review.done() && m.rate() > 0) {
    out << "rate " << static_cast<int64_t>(m.rate()) << " customers/s";
    if (m.has_eta()) out << ", ETA " << FormatDuration(m.eta());
    out << "\n";
  }
  Table table({"KIND", "FINDINGS"});
  for (const v1::FindingCount& c : m.findings()) {
    table.AddRow({KindName(c.kind()), absl::StrCat(c.count())});
  }
  table.Render(out);
}

std::string ProgressLine(const v1::Review& review) {
  const v1::ReviewMetadata& m = review.metadata();
  constexpr int kWidth = 30;
  const double fraction =
      m.total() > 0 ? std::min(1.0, static_cast<double>(m.scanned()) /
                                        static_cast<double>(m.total()))
                    : (review.done() ? 1.0 : 0.0);
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar = absl::StrCat(
      "[", std::string(filled, '#'),
      std::string(kWidth - std::min(filled, kWidth), '-'), "] ",
      static_cast<int>(fraction * 100), "% ", m.scanned(), "/", m.total(),
      " customers, ", TotalFindings(review), " findings");
  if (m.rate() > 0) {
    absl::StrAppend(&bar, ", ", static_cast<int64_t>(m.rate()), "/s");
  }
  if (m.has_eta()) absl::StrAppend(&bar, ", ETA ", FormatDuration(m.eta()));
  return bar;
}

// Polls until done; returns the exit code of the wait (the final review in
// *review).
int Wait(const Connection& connection, Stub* stub, const ReviewWaitArgs& args,
         v1::Review* review, const CommandOutput& output) {
  v1::GetReviewRequest get;
  get.set_name(review->name());
  absl::Time last_line = absl::InfinitePast();
  while (!review->done()) {
    absl::SleepFor(args.poll_interval);
    int code =
        Call(connection, stub, &Stub::GetReview, get, review, "", output.err);
    if (code != kExitOk) return code;
    if (args.progress == ProgressStyle::kBar) {
      output.err << "\r" << ProgressLine(*review) << std::flush;
    } else if (args.progress == ProgressStyle::kLines &&
               (review->done() ||
                absl::Now() - last_line >= absl::Seconds(5))) {
      output.err << ProgressLine(*review) << "\n";
      last_line = absl::Now();
    }
  }
  if (args.progress == ProgressStyle::kBar) output.err << "\n";
  return kExitOk;
}

int Finished(const v1::Review& review, const CommandOutput& output,
             const Extra& extra) {
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(review, extra);
  } else {
    PrintSummary(review, output.out);
  }
  if (review.metadata().state() == v1::ReviewMetadata::SUCCEEDED) {
    return kExitOk;
  }
  output.err << "custodianctl: " << review.name() << " ended "
             << StateName(review)
             << (review.error_message().empty()
                     ? std::string()
                     : absl::StrCat(": ", review.error_message()))
             << "\n";
  return kExitReviewFailed;
}

std::string CsvField(absl::string_view text) {
  if (text.find_first_of(",\"\r\n") == absl::string_view::npos) {
    return std::string(text);
  }
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

template <typename Request>
int Resolve(const Connection& connection, const ReviewResolveArgs& args,
            const CommandOutput& output,
            grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                         v1::ResolveFindingsResponse*)) {
  Request request;
  request.set_review(ReviewName(args.review));
  request.set_department(args.department);
  for (const std::string& id : args.finding_ids) request.add_finding_ids(id);
  if (!SetKindFlag(args.kind, &request, output.err)) return kExitUsage;
  if (args.finding_ids.empty() == args.kind.empty()) {
    output.err << "custodianctl: give either finding ids or --kind\n";
    return kExitUsage;
  }
  request.set_reason(args.reason);
  const bool generated = args.request_id.empty();
  request.set_request_id(generated ? NewRequestId() : args.request_id);
  auto stub = v1::ReviewService::NewStub(connection.channel());
  v1::ResolveFindingsResponse response;
  int code = Call(connection, stub.get(), method, request, &response,
                  request.request_id(), output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(
        response,
        generated ? Extra{{"request_id", request.request_id()}} : Extra{});
    return kExitOk;
  }
  Table table({"FINDING", "STATUS", "CHANGED", "NOTE"});
  int changed = 0;
  for (const v1::FindingResult& r : response.results()) {
    changed += r.changed();
    table.AddRow({r.finding_id(), Lower(v1::Finding::Status_Name(r.status())),
                  r.changed() ? "yes" : "no", OrDash(r.skipped_reason())});
  }
  table.Render(output.out);
  output.out << changed << " changed, " << response.results_size() - changed
             << " skipped\n";
  return kExitOk;
}

// Every finding of `request` (following the pages when `all`).
int ListAll(const Connection& connection, Stub* stub,
            v1::ListFindingsRequest request, bool all,
            v1::ListFindingsResponse* out, std::ostream& err) {
  while (true) {
    v1::ListFindingsResponse page;
    int code =
        Call(connection, stub, &Stub::ListFindings, request, &page, "", err);
    if (code != kExitOk) return code;
    for (v1::Finding& f : *page.mutable_findings()) {
      *out->add_findings() = std::move(f);
    }
    out->set_next_page_token(page.next_page_token());
    if (!all || page.next_page_token().empty()) return kExitOk;
    request.set_page_token(page.next_page_token());
  }
}

void RenderFindings(const v1::ListFindingsResponse& list, std::ostream& out) {
  Table table({"ID", "KIND", "CUSTOMER", "DEPARTMENT", "TEAM", "REP", "STATUS",
               "DETAIL", "FIX"});
  for (const v1::Finding& f : list.findings()) {
    table.AddRow({f.id(), KindName(f.kind()), f.customer_id(), f.department(),
                  OrDash(f.team()), OrDash(f.rep()),
                  Lower(v1::Finding::Status_Name(f.status())), f.detail(),
                  OrDash(f.proposed_fix())});
  }
  table.Render(out);
}

}  // namespace

absl::StatusOr<v1::ReviewScope> ParseReviewScope(
    const std::vector<std::string>& values) {
  v1::ReviewScope scope;
  for (const std::string& value : values) {
    for (absl::string_view item :
         absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      item = absl::StripAsciiWhitespace(item);
      if (item == "all") continue;
      const size_t sep = item.find_first_of(":=");
      if (sep == absl::string_view::npos || sep + 1 == item.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--scope: \"", item,
                         "\" is not all, department:ID, team:ID or rep:ID"));
      }
      const absl::string_view key = item.substr(0, sep);
      const std::string id(item.substr(sep + 1));
      if (key == "department" || key == "departments" || key == "dept") {
        scope.add_departments(id);
      } else if (key == "team" || key == "teams") {
        scope.add_teams(id);
      } else if (key == "rep" || key == "reps") {
        scope.add_reps(id);
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            "--scope: \"", key, "\" is not department, team or rep"));
      }
    }
  }
  return scope;
}

absl::StatusOr<std::vector<v1::FindingKind>> ParseReviewChecks(
    absl::string_view text) {
  std::vector<v1::FindingKind> kinds;
  for (absl::string_view item :
       absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    if (item == "all") continue;
    std::optional<v1::FindingKind> kind =
        ParseKind(absl::AsciiStrToLower(item));
    if (!kind.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--checks: \"", item,
          "\" is not one of drift, stale, over_capacity, orphaned, "
          "pending_too_long, unowned, all"));
    }
    kinds.push_back(*kind);
  }
  return kinds;
}

std::optional<v1::ReviewMode> ParseReviewMode(absl::string_view text) {
  for (v1::ReviewMode m : {v1::REPORT, v1::QUEUE, v1::APPLY}) {
    if (absl::AsciiStrToLower(text) == Lower(v1::ReviewMode_Name(m))) return m;
  }
  return std::nullopt;
}

std::string ReviewName(absl::string_view id) {
  if (absl::StartsWith(id, "reviews/")) return std::string(id);
  return absl::StrCat("reviews/", id);
}

int RunReviewStart(const Connection& connection, const ReviewStartArgs& args,
                   const CommandOutput& output) {
  v1::StartReviewRequest request;
  absl::StatusOr<v1::ReviewScope> scope = ParseReviewScope(args.scope);
  if (!scope.ok()) {
    output.err << "custodianctl: " << scope.status().message() << "\n";
    return kExitUsage;
  }
  *request.mutable_scope() = *scope;
  absl::StatusOr<std::vector<v1::FindingKind>> checks =
      ParseReviewChecks(args.checks);
  if (!checks.ok()) {
    output.err << "custodianctl: " << checks.status().message() << "\n";
    return kExitUsage;
  }
  for (v1::FindingKind k : *checks) request.add_checks(k);
  std::optional<v1::ReviewMode> mode = ParseReviewMode(args.mode);
  if (!mode.has_value()) {
    output.err << "custodianctl: --mode: \"" << args.mode
               << "\" is not one of report, queue, apply\n";
    return kExitUsage;
  }
  request.set_mode(*mode);
  if (!args.pending_after.empty()) {
    absl::StatusOr<google::protobuf::Duration> d =
        rules::ParseDuration(args.pending_after);
    if (!d.ok()) {
      output.err << "custodianctl: --pending-after: " << d.status().message()
                 << "\n";
      return kExitUsage;
    }
    *request.mutable_pending_after() = *d;
  }
  const bool generated = args.request_id.empty();
  request.set_request_id(generated ? NewRequestId() : args.request_id);
  const Extra extra =
      generated ? Extra{{"request_id", request.request_id()}} : Extra{};
  auto stub = v1::ReviewService::NewStub(connection.channel());
  v1::Review review;
  int code = Call(connection, stub.get(), &Stub::StartReview, request, &review,
                  request.request_id(), output.err);
  if (code != kExitOk) return code;
  if (!args.wait) {
    if (output.format == OutputFormat::kJson) {
      output.out << ToJson(review, extra);
    } else {
      output.out << "started " << review.name() << " (mode "
                 << Lower(v1::ReviewMode_Name(*mode)) << ")\n";
    }
    return kExitOk;
  }
  code = Wait(connection, stub.get(), args.wait_args, &review, output);
  if (code != kExitOk) return code;
  return Finished(review, output, extra);
}

int RunReviewStatus(const Connection& connection, const ReviewStatusArgs& args,
                    const CommandOutput& output) {
  auto stub = v1::ReviewService::NewStub(connection.channel());
  v1::GetReviewRequest get;
  get.set_name(ReviewName(args.review));
  v1::Review review;
  int code = Call(connection, stub.get(), &Stub::GetReview, get, &review, "",
                  output.err);
  if (code != kExitOk) return code;
  if (args.wait) {
    code = Wait(connection, stub.get(), args.wait_args, &review, output);
    if (code != kExitOk) return code;
    return Finished(review, output, {});
  }
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(review);
  } else {
    PrintSummary(review, output.out);
  }
  return kExitOk;
}

int RunReviewList(const Connection& connection, const ReviewListArgs& args,
                  const CommandOutput& output) {
  auto stub = v1::ReviewService::NewStub(connection.channel());
  v1::ListReviewsRequest request;
  request.set_page_size(args.page_size);
  request.set_page_token(args.page_token);
  v1::ListReviewsResponse all;
  while (true) {
    v1::ListReviewsResponse page;
    int code = Call(connection, stub.get(), &Stub::ListReviews, request, &page,
                    "", output.err);
    if (code != kExitOk) return code;
    for (v1::Review& r : *page.mutable_reviews()) {
      *all.add_reviews() = std::move(r);
    }
    all.set_next_page_token(page.next_page_token());
    if (!args.all || page.next_page_token().empty()) break;
    request.set_page_token(page.next_page_token());
  }
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(all);
    return kExitOk;
  }
  Table table({"REVIEW", "STATE", "MODE", "SCANNED", "TOTAL", "FINDINGS",
               "APPLIED", "CREATED", "BY"});
  for (const v1::Review& r : all.reviews()) {
    const v1::ReviewMetadata& m = r.metadata();
    table.AddRow({r.name(), StateName(r), Lower(v1::ReviewMode_Name(m.mode())),
                  absl::StrCat(m.scanned()), absl::StrCat(m.total()),
                  absl::StrCat(TotalFindings(r)), absl::StrCat(m.applied()),
                  FormatTimestamp(m.create_time()), m.created_by()});
  }
  table.Render(output.out);
  if (!all.next_page_token().empty()) {
    output.out << "next page: --page-token " << all.next_page_token() << "\n";
  }
  return kExitOk;
}

int RunReviewFindings(const Connection& connection,
                      const ReviewFindingsArgs& args,
                      const CommandOutput& output) {
  v1::ListFindingsRequest request;
  request.set_review(ReviewName(args.review));
  if (!SetKindFlag(args.kind, &request, output.err)) return kExitUsage;
  if (!args.status.empty()) {
    std::optional<v1::Finding::Status> status = ParseStatus(args.status);
    if (!status.has_value()) {
      output.err << "custodianctl: --status: \"" << args.status
                 << "\" is not one of open, queued, applied, dismissed\n";
      return kExitUsage;
    }
    request.set_status(*status);
  }
  request.set_department(args.department);
  request.set_team(args.team);
  request.set_rep(args.rep);
  request.set_page_size(args.page_size);
  request.set_page_token(args.page_token);
  auto stub = v1::ReviewService::NewStub(connection.channel());
  v1::ListFindingsResponse all;
  int code =
      ListAll(connection, stub.get(), request, args.all, &all, output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(all);
    return kExitOk;
  }
  RenderFindings(all, output.out);
  if (!all.next_page_token().empty()) {
    output.out << "next page: --page-token " << all.next_page_token() << "\n";
  }
  return kExitOk;
}

int RunReviewApply(const Connection& connection, const ReviewResolveArgs& args,
                   const CommandOutput& output) {
  return Resolve<v1::ApplyFindingsRequest>(connection, args, output,
                                           &Stub::ApplyFindings);
}

int RunReviewDismiss(const Connection& connection,
                     const ReviewResolveArgs& args,
                     const CommandOutput& output) {
  return Resolve<v1::DismissFindingsRequest>(connection, args, output,
                                             &Stub::DismissFindings);
}

int RunReviewCancel(const Connection& connection, const std::string& review,
                    const CommandOutput& output) {
  auto stub = v1::ReviewService::NewStub(connection.channel());
  v1::CancelReviewRequest request;
  request.set_name(ReviewName(review));
  v1::Review cancelled;
  int code = Call(connection, stub.get(), &Stub::CancelReview, request,
                  &cancelled, "", output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(cancelled);
  } else {
    output.out << "cancelled " << cancelled.name() << " after "
               << cancelled.metadata().scanned() << "/"
               << cancelled.metadata().total() << " customers\n";
  }
  return kExitOk;
}

int RunReviewReport(const Connection& connection, const ReviewReportArgs& args,
                    const CommandOutput& output) {
  if (args.format != "table" && args.format != "csv" && args.format != "json") {
    output.err << "custodianctl: --format: \"" << args.format
               << "\" is not one of table, csv, json\n";
    return kExitUsage;
  }
  auto stub = v1::ReviewService::NewStub(connection.channel());
  v1::GetReviewRequest get;
  get.set_name(ReviewName(args.review));
  v1::Review review;
  int code = Call(connection, stub.get(), &Stub::GetReview, get, &review, "",
                  output.err);
  if (code != kExitOk) return code;
  v1::ListFindingsRequest request;
  request.set_review(review.name());
  request.set_page_size(1000);
  v1::ListFindingsResponse all;
  code = ListAll(connection, stub.get(), request, true, &all, output.err);
  if (code != kExitOk) return code;
  if (args.format == "json") {
    nlohmann::json doc;
    doc["review"] = nlohmann::json::parse(ToJson(review));
    doc["findings"] = nlohmann::json::parse(ToJson(all))["findings"];
    if (doc["findings"].is_null()) doc["findings"] = nlohmann::json::array();
    output.out << doc.dump(2) << "\n";
    return kExitOk;
  }
  if (args.format == "csv") {
    output.out << "id,kind,customer_id,department,team,rep,ownership_state,"
                  "status,detail,proposed_fix,applied_owner\n";
    for (const v1::Finding& f : all.findings()) {
      output.out << CsvField(f.id()) << "," << KindName(f.kind()) << ","
                 << CsvField(f.customer_id()) << "," << CsvField(f.department())
                 << "," << CsvField(f.team()) << "," << CsvField(f.rep()) << ","
                 << CsvField(f.ownership_state()) << ","
                 << Lower(v1::Finding::Status_Name(f.status())) << ","
                 << CsvField(f.detail()) << "," << CsvField(f.proposed_fix())
                 << "," << CsvField(f.applied_owner()) << "\n";
    }
    return kExitOk;
  }
  PrintSummary(review, output.out);
  output.out << "\n";
  RenderFindings(all, output.out);
  return kExitOk;
}

}  // namespace custodian::clients
