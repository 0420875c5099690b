#include "clients/ownership_commands.h"

#include <google/protobuf/util/json_util.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <ostream>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "clients/errors.h"
#include "clients/evaluation_json.h"
#include "clients/rules_commands.h"
#include "clients/unary_call.h"
#include "custodian/v1/assignment_service.grpc.pb.h"
#include "custodian/v1/ownership_service.grpc.pb.h"
#include "custodian/v1/roster_service.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "rules/diagnostics.h"
#include "rules/loader.h"
#include "rules/validator.h"

namespace custodian::clients {
namespace {

// The longest JSONL line read; longer lines are an error at their number.
constexpr size_t kMaxLineBytes = 1 << 20;
// Longest --request-id-prefix: leaves room for ":LINE" within 128.
constexpr size_t kMaxPrefixBytes = 100;

// One JSON object on one line (the ToJson options, without indentation).
std::string ToJsonLine(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string line;
  google::protobuf::util::Status status =
      google::protobuf::util::MessageToJsonString(message, &line, options);
  if (!status.ok()) {
    return nlohmann::json({{"error", std::string(status.message())}}).dump();
  }
  return line;
}

std::string OrDash(absl::string_view text) {
  return text.empty() ? std::string("-") : std::string(text);
}

std::string VersionText(int64_t version) {
  return version == 0 ? std::string("-") : absl::StrCat(version);
}

bool IsPrefixChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
         c == '_' || c == '-';
}

absl::string_view SkipReasonName(v1::SkippedCandidate::Reason reason) {
  switch (reason) {
    case v1::SkippedCandidate::AT_CAPACITY:
      return "at capacity";
    case v1::SkippedCandidate::AWAY:
      return "away";
    case v1::SkippedCandidate::LEFT:
      return "left";
    case v1::SkippedCandidate::COOLDOWN:
      return "cooldown";
    default:
      return "unspecified";
  }
}

std::string StateText(const v1::Ownership& ownership) {
  std::string state = OwnershipStateName(ownership.state());
  if (ownership.drifted()) absl::StrAppend(&state, ", drifted");
  return state;
}

std::string DecisionText(const v1::DepartmentDecision& decision) {
  std::string text;
  switch (decision.kind()) {
    case v1::RULE:
      text = absl::StrCat("rule ", decision.rule_id(), " → ",
                          DescribeTarget(decision.target()));
      break;
    case v1::FALLBACK:
      text = absl::StrCat("no rule matched; fallback → ",
                          DescribeTarget(decision.target()));
      break;
    case v1::NO_MATCH:
      text = "no rule matched and no fallback";
      break;
    default:
      text = "-";
      break;
  }
  if (decision.has_overflow()) {
    absl::StrAppend(&text, "; overflow → ",
                    DescribeTarget(decision.overflow()));
  }
  return text;
}

// Parses a --revenue / --employees value; on failure reports it.
bool ParseCount(absl::string_view flag, const std::string& text,
                std::ostream& err, int64_t* value) {
  if (absl::SimpleAtoi(text, value) && *value >= 0) return true;
  err << "custodianctl: " << flag << ": \"" << text
      << "\" is not an integer >= 0\n";
  return false;
}

std::optional<v1::Customer> CustomerFromFlags(const CustomerInput& input,
                                              std::ostream& err) {
  bool ok = true;
  if (input.id.empty()) {
    err << "custodianctl: --id is required (or give the customer with "
           "--file)\n";
    ok = false;
  }
  v1::Customer customer;
  customer.set_id(input.id);
  customer.set_name(input.name);
  customer.set_region(input.region);
  customer.set_industry(input.industry);
  customer.set_customer_type(input.customer_type);
  customer.set_sales_stage(input.sales_stage);
  customer.set_value_tier(input.value_tier);
  int64_t number = 0;
  if (!input.annual_revenue.empty()) {
    if (ParseCount("--revenue", input.annual_revenue, err, &number)) {
      customer.set_annual_revenue(number);
    } else {
      ok = false;
    }
  }
  if (!input.employee_count.empty()) {
    if (ParseCount("--employees", input.employee_count, err, &number)) {
      customer.set_employee_count(number);
    } else {
      ok = false;
    }
  }
  for (const std::string& tag : input.tags) customer.add_tags(tag);
  for (const std::string& attribute : input.attributes) {
    size_t equals = attribute.find('=');
    if (equals == std::string::npos || equals == 0) {
      err << "custodianctl: --attr: \"" << attribute << "\" is not KEY=VALUE\n";
      ok = false;
      continue;
    }
    std::string key = attribute.substr(0, equals);
    auto [it, inserted] = customer.mutable_attributes()->insert(
        {key, attribute.substr(equals + 1)});
    if (!inserted) {
      err << "custodianctl: --attr: key \"" << key << "\" is given twice\n";
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  absl::Status valid = rules::ValidateCustomer(customer, "customer");
  if (!valid.ok()) {
    err << "custodianctl: " << valid.message() << "\n";
    return std::nullopt;
  }
  return customer;
}

std::optional<v1::Customer> CustomerFromFile(const std::string& path,
                                             std::ostream& err) {
  absl::StatusOr<std::string> text = rules::ReadTextFile(path);
  if (!text.ok()) {
    err << "custodianctl: --file: " << text.status().message() << "\n";
    return std::nullopt;
  }
  rules::Diagnostics diags(path, nullptr);
  std::optional<v1::Customer> customer =
      rules::LoadCustomer(*text, "customer", &diags);
  for (const rules::Diagnostic& d : diags.Sorted()) {
    err << d.ToString() << "\n";
  }
  if (!customer) return std::nullopt;
  absl::Status valid = rules::ValidateCustomer(*customer, "customer");
  if (!valid.ok()) {
    err << path << ": " << valid.message() << "\n";
    return std::nullopt;
  }
  return customer;
}

// ---- bulk assign -----------------------------------------------------------

struct LineError {
  int64_t line = 0;
  std::string customer_id;
  std::string code;
  std::string message;
};

// One BatchAssign call's worth of lines.
struct Batch {
  std::vector<int64_t> lines;
  v1::BatchAssignRequest request;
};

struct DepartmentCounts {
  std::map<int, int64_t> by_state;  // v1::Ownership::State -> customers
  int64_t changed = 0;
};

// Loads and validates one JSONL line; on failure fills `error`.
std::optional<v1::Customer> ParseLine(absl::string_view text, int64_t line,
                                      LineError* error) {
  error->line = line;
  error->code = StatusCodeName(grpc::StatusCode::INVALID_ARGUMENT);
  if (text.size() > kMaxLineBytes) {
    error->message = absl::StrCat("line is longer than ", kMaxLineBytes,
                                  " bytes (checked locally, not sent)");
    return std::nullopt;
  }
  rules::Diagnostics diags("", nullptr);
  std::optional<v1::Customer> customer =
      rules::LoadCustomer(text, "customer", &diags);
  if (!customer) {
    // The id, when the line has one, makes the error easier to find.
    nlohmann::json doc = nlohmann::json::parse(text, nullptr,
                                               /*allow_exceptions=*/false);
    if (doc.is_object() && doc.contains("id") && doc["id"].is_string()) {
      error->customer_id = doc["id"].get<std::string>();
    }
    std::vector<std::string> problems;
    for (const rules::Diagnostic& d : diags.Sorted()) {
      std::string problem = d.field_path.empty()
                                ? d.message
                                : absl::StrCat(d.field_path, ": ", d.message);
      if (d.location.column > 0) {
        absl::StrAppend(&problem, " (column ", d.location.column, ")");
      }
      problems.push_back(std::move(problem));
    }
    error->message = absl::StrCat(absl::StrJoin(problems, "; "),
                                  " (checked locally, not sent)");
    return std::nullopt;
  }
  error->customer_id = customer->id();
  absl::Status valid = rules::ValidateCustomer(*customer, "customer");
  if (!valid.ok()) {
    error->message =
        absl::StrCat(valid.message(), " (checked locally, not sent)");
    return std::nullopt;
  }
  return customer;
}

// 4.25 -> "4.2" (one decimal, rounded).
std::string OneDecimal(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f", value);
  return text;
}

bool Retryable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE ||
         code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::RESOURCE_EXHAUSTED ||
         code == grpc::StatusCode::ABORTED;
}

// The shared state of one bulk import: the reader thread queues batches,
// `parallel` workers send them, a progress thread reports.
class BulkImport {
 public:
  BulkImport(const Connection& connection, const BulkAssignArgs& args,
             int64_t total_lines, const CommandOutput& output)
      : connection_(connection),
        args_(args),
        total_lines_(total_lines),
        output_(output),
        stub_(v1::AssignmentService::NewStub(connection.channel())),
        start_(absl::Now()) {}

  // Reads `in` to the end (or until a batch call fails), sends every valid
  // line, waits for the answers. Returns the exit code.
  int Run(std::istream& in) {
    std::vector<std::thread> workers;
    for (int i = 0; i < args_.parallel; ++i) {
      workers.emplace_back([this] { WorkLoop(); });
    }
    std::thread progress;
    if (args_.progress != ProgressStyle::kNone) {
      progress = std::thread([this] { ProgressLoop(); });
    }
    ReadLines(in);
    {
      absl::MutexLock lock(&mu_);
      done_reading_ = true;
      cv_.SignalAll();
    }
    for (std::thread& worker : workers) worker.join();
    {
      absl::MutexLock lock(&mu_);
      finished_ = true;
      cv_.SignalAll();
    }
    if (progress.joinable()) progress.join();
    if (args_.progress != ProgressStyle::kNone) {
      absl::MutexLock lock(&mu_);
      PrintProgressLocked(/*final=*/true);
    }
    return Finish();
  }

 private:
  void ReadLines(std::istream& in) {
    std::string text;
    int64_t line = 0;
    Batch batch;
    while (std::getline(in, text)) {
      ++line;
      absl::string_view trimmed = absl::StripAsciiWhitespace(text);
      if (trimmed.empty()) continue;
      LineError error;
      std::optional<v1::Customer> customer = ParseLine(trimmed, line, &error);
      {
        absl::MutexLock lock(&mu_);
        if (aborted_) return;
        ++lines_read_;
        if (!customer) {
          ++rejected_locally_;
          errors_.push_back(std::move(error));
          continue;
        }
      }
      v1::AssignRequest* request = batch.request.add_requests();
      *request->mutable_customer() = *std::move(customer);
      request->set_request_id(absl::StrCat(prefix(), ":", line));
      batch.lines.push_back(line);
      if (batch.request.requests_size() >= args_.batch_size) {
        if (!Enqueue(std::move(batch))) return;
        batch = Batch();
      }
    }
    if (!batch.lines.empty()) Enqueue(std::move(batch));
  }

  // Waits for room in the queue; false if the import was aborted.
  bool Enqueue(Batch batch) {
    absl::MutexLock lock(&mu_);
    while (!aborted_ && static_cast<int>(queue_.size()) >= args_.parallel) {
      cv_.Wait(&mu_);
    }
    if (aborted_) return false;
    queue_.push_back(std::move(batch));
    cv_.SignalAll();
    return true;
  }

  void WorkLoop() {
    while (true) {
      Batch batch;
      {
        absl::MutexLock lock(&mu_);
        while (!aborted_ && queue_.empty() && !done_reading_) cv_.Wait(&mu_);
        if (aborted_ || queue_.empty()) return;
        batch = std::move(queue_.front());
        queue_.pop_front();
        cv_.SignalAll();
      }
      Send(batch);
    }
  }

  void Send(const Batch& batch) {
    v1::BatchAssignResponse response;
    grpc::Status status;
    for (int attempt = 0;; ++attempt) {
      grpc::ClientContext context;
      connection_.PrepareContext(&context);
      response.Clear();
      status = stub_->BatchAssign(&context, batch.request, &response);
      if (status.ok()) break;
      bool reached_server;
      {
        absl::MutexLock lock(&mu_);
        if (aborted_) break;
        reached_server = any_answer_ || connection_.IsConnected();
      }
      if (!Retryable(status.error_code()) || !reached_server ||
          attempt >= args_.retries) {
        break;
      }
      absl::SleepFor(args_.retry_backoff * (1 << attempt));
    }
    absl::MutexLock lock(&mu_);
    if (!status.ok()) {
      if (!aborted_) {
        aborted_ = true;
        failure_ = status;
        failure_connected_ = any_answer_ || connection_.IsConnected();
      }
      cv_.SignalAll();
      return;
    }
    any_answer_ = true;
    std::vector<bool> answered(batch.lines.size(), false);
    for (const v1::BatchAssignResult& result : response.results()) {
      int index = result.index();
      if (index < 0 || index >= static_cast<int>(batch.lines.size()) ||
          answered[index]) {
        continue;
      }
      answered[index] = true;
      if (result.has_response()) {
        ++assigned_;
        for (const v1::DepartmentAssignment& d :
             result.response().departments()) {
          DepartmentCounts& counts = CountsFor(d.ownership().department());
          ++counts.by_state[d.ownership().state()];
          if (d.changed()) ++counts.changed;
        }
        continue;
      }
      ++server_failed_;
      errors_.push_back(
          {batch.lines[index], batch.request.requests(index).customer().id(),
           StatusCodeName(static_cast<grpc::StatusCode>(result.error().code())),
           result.error().message()});
    }
    for (size_t i = 0; i < answered.size(); ++i) {
      if (answered[i]) continue;
      ++server_failed_;
      errors_.push_back(
          {batch.lines[i],
           batch.request.requests(static_cast<int>(i)).customer().id(),
           StatusCodeName(grpc::StatusCode::INTERNAL),
           "the server's answer has no result for this line"});
    }
  }

  DepartmentCounts& CountsFor(const std::string& department)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = counts_.find(department);
    if (it == counts_.end()) {
      departments_.push_back(department);
      it = counts_.emplace(department, DepartmentCounts()).first;
    }
    return it->second;
  }

  // Prints progress every progress_interval until the import has finished
  // (cv_ is also signalled for queue changes: wait for the deadline).
  void ProgressLoop() {
    absl::MutexLock lock(&mu_);
    absl::Time next = absl::Now() + args_.progress_interval;
    while (!finished_) {
      if (absl::Now() < next) {
        cv_.WaitWithDeadline(&mu_, next);
        continue;
      }
      PrintProgressLocked(/*final=*/false);
      next = absl::Now() + args_.progress_interval;
    }
  }

  int64_t Processed() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return assigned_ + server_failed_ + rejected_locally_;
  }

  void PrintProgressLocked(bool final) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int64_t done = Processed();
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start_);
    const int64_t rate =
        seconds > 0 ? static_cast<int64_t>(done / seconds) : int64_t{0};
    const int64_t failed = server_failed_ + rejected_locally_;
    std::ostream& err = output_.err;
    if (args_.progress == ProgressStyle::kBar) {
      constexpr int kWidth = 30;
      err << "\rassign ";
      if (total_lines_ > 0) {
        int filled = static_cast<int>(kWidth * std::min(done, total_lines_) /
                                      total_lines_);
        err << "[" << std::string(filled, '#')
            << std::string(kWidth - filled, '-') << "] " << FormatCount(done)
            << "/" << FormatCount(total_lines_) << " "
            << (100 * done / total_lines_) << "%";
      } else {
        err << FormatCount(done) << " lines";
      }
      err << "  " << FormatCount(failed) << " failed  " << FormatCount(rate)
          << "/s\x1b[K";
      if (final) err << "\n";
    } else {
      err << "assign: " << FormatCount(done);
      if (total_lines_ > 0) {
        err << "/" << FormatCount(total_lines_) << " lines ("
            << (100 * done / total_lines_) << "%)";
      } else {
        err << " lines";
      }
      err << ", " << FormatCount(assigned_) << " assigned, "
          << FormatCount(failed) << " failed, " << FormatCount(rate) << "/s\n";
    }
    err.flush();
  }

  const std::string& prefix() const { return args_.request_id_prefix; }

  int Finish() {
    absl::MutexLock lock(&mu_);
    std::sort(
        errors_.begin(), errors_.end(),
        [](const LineError& a, const LineError& b) { return a.line < b.line; });
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start_);
    const double per_second = seconds > 0 ? assigned_ / seconds : 0;
    const int64_t lines = std::max(total_lines_, lines_read_);
    const int64_t failed = server_failed_ + rejected_locally_;
    const int64_t not_sent = lines - Processed();
    int exit_code = kExitOk;
    if (aborted_) {
      exit_code = ReportRpcError(
          failure_, RpcFailure{connection_.address(), failure_connected_, ""},
          output_.err);
      output_.err << "  no further batch was sent: run again with "
                     "--request-id-prefix "
                  << prefix() << " to resume\n";
    } else if (failed > 0 || not_sent > 0) {
      exit_code = kExitFailed;
    }

    if (output_.format == OutputFormat::kJson) {
      nlohmann::ordered_json doc;
      doc["file"] = args_.path;
      doc["request_id_prefix"] = prefix();
      doc["lines"] = lines;
      doc["assigned"] = assigned_;
      doc["failed"] = failed;
      doc["rejected_locally"] = rejected_locally_;
      doc["not_sent"] = not_sent;
      doc["seconds"] = seconds;
      doc["per_second"] = per_second;
      doc["departments"] = nlohmann::ordered_json::array();
      for (const std::string& department : departments_) {
        const DepartmentCounts& counts = counts_.at(department);
        nlohmann::ordered_json states = nlohmann::ordered_json::object();
        for (const auto& [state, n] : counts.by_state) {
          states[v1::Ownership::State_Name(
              static_cast<v1::Ownership::State>(state))] = n;
        }
        doc["departments"].push_back({{"department", department},
                                      {"states", states},
                                      {"changed", counts.changed}});
      }
      doc["errors"] = nlohmann::ordered_json::array();
      for (const LineError& e : errors_) {
        doc["errors"].push_back({{"line", e.line},
                                 {"customer_id", e.customer_id},
                                 {"code", e.code},
                                 {"message", e.message}});
      }
      output_.out << doc.dump(2, ' ', /*ensure_ascii=*/false,
                              nlohmann::ordered_json::error_handler_t::replace)
                  << "\n";
      return exit_code;
    }

    std::ostream& out = output_.out;
    out << "assigned " << FormatCount(assigned_) << " of " << FormatCount(lines)
        << " customers from " << args_.path << " in " << OneDecimal(seconds)
        << "s (" << FormatCount(static_cast<int64_t>(per_second)) << "/s)\n";
    out << FormatCount(failed) << " failed";
    if (rejected_locally_ > 0) {
      out << " (" << FormatCount(rejected_locally_)
          << " rejected locally, not sent)";
    }
    if (not_sent > 0) out << ", " << FormatCount(not_sent) << " not sent";
    out << "\n";
    if (!departments_.empty()) {
      std::vector<int> states;
      for (const auto& [department, counts] : counts_) {
        for (const auto& [state, n] : counts.by_state) states.push_back(state);
      }
      std::sort(states.begin(), states.end());
      states.erase(std::unique(states.begin(), states.end()), states.end());
      std::vector<std::string> headers = {"DEPARTMENT"};
      for (int state : states) {
        headers.push_back(absl::AsciiStrToUpper(
            OwnershipStateName(static_cast<v1::Ownership::State>(state))));
      }
      headers.push_back("CHANGED");
      Table table(std::move(headers));
      for (const std::string& department : departments_) {
        const DepartmentCounts& counts = counts_.at(department);
        std::vector<std::string> row = {department};
        for (int state : states) {
          auto it = counts.by_state.find(state);
          row.push_back(
              FormatCount(it == counts.by_state.end() ? 0 : it->second));
        }
        row.push_back(FormatCount(counts.changed));
        table.AddRow(std::move(row));
      }
      out << "\n";
      table.Render(out);
    }
    if (!errors_.empty()) {
      out << "\nERRORS\n";
      Table table({"LINE", "CUSTOMER", "CODE", "ERROR"});
      for (const LineError& e : errors_) {
        table.AddRow(
            {absl::StrCat(e.line), OrDash(e.customer_id), e.code, e.message});
      }
      table.Render(out);
    }
    out << "\nrequest ids: " << prefix()
        << ":LINE (run the same file again with --request-id-prefix "
        << prefix() << ": lines already assigned get their first answer)\n";
    return exit_code;
  }

  const Connection& connection_;
  const BulkAssignArgs& args_;
  const int64_t total_lines_;  // 0: unknown (stdin)
  const CommandOutput& output_;
  const std::unique_ptr<v1::AssignmentService::Stub> stub_;
  const absl::Time start_;

  absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<Batch> queue_ ABSL_GUARDED_BY(mu_);
  bool done_reading_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool aborted_ ABSL_GUARDED_BY(mu_) = false;
  bool any_answer_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status failure_ ABSL_GUARDED_BY(mu_);
  bool failure_connected_ ABSL_GUARDED_BY(mu_) = true;
  int64_t lines_read_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t assigned_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t server_failed_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t rejected_locally_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<LineError> errors_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> departments_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, DepartmentCounts> counts_ ABSL_GUARDED_BY(mu_);
};

// Non-blank lines of `in`, which is rewound.
int64_t CountLines(std::istream& in) {
  int64_t count = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StripAsciiWhitespace(line).empty()) ++count;
  }
  in.clear();
  in.seekg(0);
  return count;
}

// ---- watch -----------------------------------------------------------------

int interrupt_pipe[2] = {-1, -1};

extern "C" void OnInterrupt(int) {
  const char byte = 1;
  ssize_t written = write(interrupt_pipe[1], &byte, 1);
  (void)written;
}

}  // namespace

// ---- customer input --------------------------------------------------------

bool CustomerInput::HasFlags() const {
  return !id.empty() || !name.empty() || !region.empty() || !industry.empty() ||
         !customer_type.empty() || !sales_stage.empty() ||
         !value_tier.empty() || !annual_revenue.empty() ||
         !employee_count.empty() || !tags.empty() || !attributes.empty();
}

std::optional<v1::Customer> BuildCustomer(const CustomerInput& input,
                                          std::ostream& err) {
  if (!input.file.empty()) {
    if (input.HasFlags()) {
      err << "custodianctl: --file: give the customer either as a file or "
             "as attribute flags, not both\n";
      return std::nullopt;
    }
    return CustomerFromFile(input.file, err);
  }
  return CustomerFromFlags(input, err);
}

// ---- assign, evaluate ------------------------------------------------------

int RunAssign(const Connection& connection, const AssignArgs& args,
              const CommandOutput& output) {
  std::optional<v1::Customer> customer =
      BuildCustomer(args.customer, output.err);
  if (!customer) return kExitUsage;
  v1::AssignRequest request;
  *request.mutable_customer() = *std::move(customer);
  bool generated = false;
  request.set_request_id(RequestIdOr(args.request_id, &generated));

  auto stub = v1::AssignmentService::NewStub(connection.channel());
  v1::AssignResponse response;
  int code = Call(connection, stub.get(), &v1::AssignmentService::Stub::Assign,
                  request, &response, request.request_id(), output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(response,
                         GeneratedId(generated, request.request_id()));
  } else {
    RenderAssignResponse(response, /*evaluation=*/false, output.out);
  }
  return kExitOk;
}

int RunEvaluate(const Connection& connection, const CustomerInput& customer,
                const CommandOutput& output) {
  std::optional<v1::Customer> built = BuildCustomer(customer, output.err);
  if (!built) return kExitUsage;
  v1::EvaluateRequest request;
  *request.mutable_customer() = *std::move(built);
  auto stub = v1::AssignmentService::NewStub(connection.channel());
  v1::AssignResponse response;
  int code =
      Call(connection, stub.get(), &v1::AssignmentService::Stub::Evaluate,
           request, &response, "", output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(response);
  } else {
    RenderAssignResponse(response, /*evaluation=*/true, output.out);
  }
  return kExitOk;
}

int RunBulkAssign(const Connection& connection, const BulkAssignArgs& args,
                  const CommandOutput& output) {
  if (args.batch_size < 1 || args.batch_size > 1000) {
    output.err << "custodianctl: --batch-size: " << args.batch_size
               << " is not between 1 and 1000\n";
    return kExitUsage;
  }
  if (args.parallel < 1 || args.parallel > 64) {
    output.err << "custodianctl: --parallel: " << args.parallel
               << " is not between 1 and 64\n";
    return kExitUsage;
  }
  if (args.retries < 0 || args.retries > 10) {
    output.err << "custodianctl: --retries: " << args.retries
               << " is not between 0 and 10\n";
    return kExitUsage;
  }
  if (args.request_id_prefix.size() > kMaxPrefixBytes ||
      !std::all_of(args.request_id_prefix.begin(), args.request_id_prefix.end(),
                   IsPrefixChar)) {
    output.err << "custodianctl: --request-id-prefix: \""
               << args.request_id_prefix << "\" is not at most "
               << kMaxPrefixBytes << " characters of [A-Za-z0-9._-]\n";
    return kExitUsage;
  }
  BulkAssignArgs resolved = args;
  if (resolved.request_id_prefix.empty()) {
    resolved.request_id_prefix = NewRequestId();
  }
  if (resolved.progress_interval <= absl::ZeroDuration()) {
    resolved.progress_interval = absl::Seconds(1);
  }

  std::ifstream file;
  std::istream* in = nullptr;
  int64_t total = 0;
  if (args.path == "-") {
    in = args.stdin_stream != nullptr ? args.stdin_stream : &std::cin;
    resolved.path = "<stdin>";
  } else {
    file.open(args.path, std::ios::binary);
    if (!file) {
      output.err << "custodianctl: --jsonl: cannot open " << args.path << "\n";
      return kExitUsage;
    }
    total = CountLines(file);
    in = &file;
  }
  BulkImport import(connection, resolved, total, output);
  return import.Run(*in);
}

// ---- owner, owners, history ------------------------------------------------

int RunOwner(const Connection& connection, const OwnerArgs& args,
             const CommandOutput& output) {
  auto stub = v1::OwnershipService::NewStub(connection.channel());
  if (!args.department.empty()) {
    v1::GetOwnershipRequest request;
    request.set_customer_id(args.customer_id);
    request.set_department(args.department);
    v1::Ownership ownership;
    int code =
        Call(connection, stub.get(), &v1::OwnershipService::Stub::GetOwnership,
             request, &ownership, "", output.err);
    if (code != kExitOk) return code;
    if (output.format == OutputFormat::kJson) {
      output.out << ToJson(ownership);
    } else {
      RenderOwnership(ownership, output.out);
    }
    return kExitOk;
  }

  auto roster_stub = v1::RosterService::NewStub(connection.channel());
  v1::GetRosterResponse roster;
  int code =
      Call(connection, roster_stub.get(), &v1::RosterService::Stub::GetRoster,
           v1::GetRosterRequest(), &roster, "", output.err);
  if (code != kExitOk) return code;
  v1::ListOwnershipsResponse all;
  std::vector<std::string> departments;
  for (const v1::Department& department : roster.roster().departments()) {
    departments.push_back(department.id());
    v1::GetOwnershipRequest request;
    request.set_customer_id(args.customer_id);
    request.set_department(department.id());
    v1::Ownership ownership;
    grpc::ClientContext context;
    connection.PrepareContext(&context);
    grpc::Status status = stub->GetOwnership(&context, request, &ownership);
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) continue;
    if (!status.ok()) {
      return ReportRpcError(status, FailureOf(connection, ""), output.err);
    }
    *all.add_ownerships() = std::move(ownership);
  }
  if (all.ownerships().empty()) {
    output.err << "custodianctl: NOT_FOUND: customer " << args.customer_id
               << " has no ownership in any department ("
               << absl::StrJoin(departments, ", ") << ")\n";
    return kExitServerRefused;
  }
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(all);
    return kExitOk;
  }
  bool first = true;
  for (const v1::Ownership& ownership : all.ownerships()) {
    if (!first) output.out << "\n";
    first = false;
    RenderOwnership(ownership, output.out);
  }
  return kExitOk;
}

int RunOwners(const Connection& connection, const OwnersArgs& args,
              const CommandOutput& output) {
  if (args.page_size < 0 || args.page_size > 1000) {
    output.err << "custodianctl: --page-size: " << args.page_size
               << " is not between 0 and 1000\n";
    return kExitUsage;
  }
  v1::ListOwnershipsRequest request;
  request.set_department(args.department);
  request.set_team(args.team);
  request.set_rep(args.rep);
  request.set_segment(args.segment);
  if (!args.state.empty()) {
    std::optional<v1::Ownership::State> state = ParseOwnershipState(args.state);
    if (!state) {
      output.err << "custodianctl: --state: \"" << args.state
                 << "\" is not one of active, pending_approval, pooled, "
                    "frozen, orphaned, unowned\n";
      return kExitUsage;
    }
    request.set_state(*state);
  }
  request.set_page_size(args.page_size);
  request.set_page_token(args.page_token);

  auto stub = v1::OwnershipService::NewStub(connection.channel());
  v1::ListOwnershipsResponse all;
  while (true) {
    v1::ListOwnershipsResponse page;
    int code = Call(connection, stub.get(),
                    &v1::OwnershipService::Stub::ListOwnerships, request, &page,
                    "", output.err);
    if (code != kExitOk) return code;
    if (!args.all) {
      all = std::move(page);
      break;
    }
    for (v1::Ownership& o : *page.mutable_ownerships()) {
      *all.add_ownerships() = std::move(o);
    }
    // A server that repeats a token would loop for ever: stop on repeats.
    if (page.next_page_token().empty() ||
        page.next_page_token() == request.page_token()) {
      break;
    }
    request.set_page_token(page.next_page_token());
  }
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(all);
    return kExitOk;
  }
  RenderOwnerships(all, output.out);
  if (!all.next_page_token().empty()) {
    output.out << "next page: --page-token " << all.next_page_token() << "\n";
  }
  return kExitOk;
}

int RunHistory(const Connection& connection, const HistoryArgs& args,
               const CommandOutput& output) {
  v1::ListOwnershipEventsRequest request;
  request.set_customer_id(args.customer_id);
  request.set_department(args.department);
  request.set_page_size(1000);
  std::optional<absl::Time> as_of;
  if (!args.as_of.empty()) {
    as_of = ParseAtFlag(args.as_of);
    if (!as_of) {
      output.err << "custodianctl: --as-of: \"" << args.as_of
                 << "\" is not an RFC 3339 time such as "
                    "2026-06-01T00:00:00Z\n";
      return kExitUsage;
    }
    const int64_t seconds = absl::ToUnixSeconds(*as_of);  // floor
    request.mutable_as_of()->set_seconds(seconds);
    request.mutable_as_of()->set_nanos(static_cast<int32_t>(
        absl::ToInt64Nanoseconds(*as_of - absl::FromUnixSeconds(seconds))));
  }

  auto stub = v1::OwnershipService::NewStub(connection.channel());
  v1::ListOwnershipEventsResponse all;
  while (true) {
    v1::ListOwnershipEventsResponse page;
    int code = Call(connection, stub.get(),
                    &v1::OwnershipService::Stub::ListOwnershipEvents, request,
                    &page, "", output.err);
    if (code != kExitOk) return code;
    for (v1::OwnershipEvent& e : *page.mutable_events()) {
      *all.add_events() = std::move(e);
    }
    if (page.next_page_token().empty() ||
        page.next_page_token() == request.page_token()) {
      break;
    }
    request.set_page_token(page.next_page_token());
  }
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(all);
  } else if (as_of) {
    RenderHistoryAsOf(all, *as_of, output.out);
  } else {
    RenderHistory(all, output.out);
  }
  return kExitOk;
}

// ---- watch -----------------------------------------------------------------

void StopSignal::Stop() {
  absl::MutexLock lock(&mu_);
  stopped_ = true;
  if (callback_) callback_();
}

bool StopSignal::stopped() const {
  absl::MutexLock lock(&mu_);
  return stopped_;
}

void StopSignal::OnStop(std::function<void()> callback) {
  absl::MutexLock lock(&mu_);
  callback_ = std::move(callback);
  if (stopped_ && callback_) callback_();
}

void StopOnInterrupt(StopSignal* stop) {
  if (pipe(interrupt_pipe) != 0) return;
  struct sigaction action = {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  std::thread([stop] {
    char byte;
    while (read(interrupt_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    // A second interrupt ends the process the usual way.
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    stop->Stop();
  }).detach();
}

int RunWatch(const Connection& connection, const WatchArgs& args,
             const CommandOutput& output, StopSignal* stop) {
  if (args.from_sequence < 0 || args.max_events < 0) {
    output.err << "custodianctl: --from and --max-events must be >= 0\n";
    return kExitUsage;
  }
  StopSignal never;
  if (stop == nullptr) stop = &never;
  auto stub = v1::OwnershipService::NewStub(connection.channel());
  grpc::ClientContext context;  // no deadline: it runs until stopped
  connection.AddCredentials(&context);
  v1::WatchOwnershipEventsRequest request;
  request.set_after_sequence(args.from_sequence);
  stop->OnStop([&context] { context.TryCancel(); });
  std::unique_ptr<grpc::ClientReader<v1::OwnershipEvent>> reader =
      stub->WatchOwnershipEvents(&context, request);
  int64_t last = args.from_sequence;
  int64_t count = 0;
  bool limit_reached = false;
  v1::OwnershipEvent event;
  while (reader->Read(&event)) {
    if (output.format == OutputFormat::kJson) {
      output.out << ToJsonLine(event) << "\n";
    } else {
      output.out << FormatEventLine(event) << "\n";
    }
    output.out.flush();
    last = event.sequence();
    if (args.max_events > 0 && ++count >= args.max_events) {
      limit_reached = true;
      context.TryCancel();
      break;
    }
  }
  grpc::Status status = reader->Finish();
  stop->OnStop(nullptr);
  output.err << "last sequence " << last << ": resume with --from " << last
             << "\n";
  if (limit_reached || stop->stopped() || status.ok()) return kExitOk;
  return ReportRpcError(status, FailureOf(connection, ""), output.err);
}

// ---- transfer, approve, reject ---------------------------------------------

namespace {

// "VERB C in D: [now ]OWNER (team T), STATE (event N)".
void PrintChange(absl::string_view verb, bool now,
                 const v1::Ownership& ownership, std::ostream& out) {
  out << verb << " " << ownership.customer_id() << " in "
      << ownership.department() << ": " << (now ? "now " : "")
      << FormatOwner(ownership);
  if (!ownership.team().empty()) out << " (team " << ownership.team() << ")";
  out << ", " << StateText(ownership) << " (event "
      << ownership.last_event_sequence() << ")\n";
}

// The shared tail of transfer/approve/reject.
template <typename Request>
int Decide(const Connection& connection,
           grpc::Status (v1::OwnershipService::Stub::*method)(
               grpc::ClientContext*, const Request&, v1::Ownership*),
           const Request& request, bool generated, absl::string_view verb,
           bool now, const CommandOutput& output) {
  auto stub = v1::OwnershipService::NewStub(connection.channel());
  v1::Ownership ownership;
  int code = Call(connection, stub.get(), method, request, &ownership,
                  request.request_id(), output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(ownership,
                         GeneratedId(generated, request.request_id()));
  } else {
    PrintChange(verb, now, ownership, output.out);
  }
  return kExitOk;
}

}  // namespace

int RunTransfer(const Connection& connection, const TransferArgs& args,
                const CommandOutput& output) {
  if (args.to_rep.empty() == args.to_pool.empty()) {
    output.err << "custodianctl: give exactly one of --to-rep and --to-pool\n";
    return kExitUsage;
  }
  v1::TransferRequest request;
  request.set_customer_id(args.customer_id);
  request.set_department(args.department);
  if (!args.to_rep.empty()) {
    request.set_rep(args.to_rep);
  } else {
    request.set_pool(args.to_pool);
  }
  request.set_reason(args.reason);
  bool generated = false;
  request.set_request_id(RequestIdOr(args.request_id, &generated));
  return Decide(connection, &v1::OwnershipService::Stub::Transfer, request,
                generated, "transferred", /*now=*/true, output);
}

int RunApprove(const Connection& connection, const DecideArgs& args,
               const CommandOutput& output) {
  v1::ApproveRequest request;
  request.set_customer_id(args.customer_id);
  request.set_department(args.department);
  request.set_reason(args.reason);
  bool generated = false;
  request.set_request_id(RequestIdOr(args.request_id, &generated));
  return Decide(connection, &v1::OwnershipService::Stub::Approve, request,
                generated, "approved", /*now=*/false, output);
}

int RunReject(const Connection& connection, const DecideArgs& args,
              const CommandOutput& output) {
  v1::RejectRequest request;
  request.set_customer_id(args.customer_id);
  request.set_department(args.department);
  request.set_reason(args.reason);
  bool generated = false;
  request.set_request_id(RequestIdOr(args.request_id, &generated));
  return Decide(connection, &v1::OwnershipService::Stub::Reject, request,
                generated, "rejected", /*now=*/true, output);
}

// ---- rendering -------------------------------------------------------------

std::string OwnershipStateName(v1::Ownership::State state) {
  switch (state) {
    case v1::Ownership::ACTIVE:
      return "active";
    case v1::Ownership::PENDING_APPROVAL:
      return "pending_approval";
    case v1::Ownership::POOLED:
      return "pooled";
    case v1::Ownership::FROZEN:
      return "frozen";
    case v1::Ownership::ORPHANED:
      return "orphaned";
    case v1::Ownership::UNOWNED:
      return "unowned";
    default:
      return "unspecified";
  }
}

std::optional<v1::Ownership::State> ParseOwnershipState(
    absl::string_view text) {
  const std::string upper = absl::AsciiStrToUpper(text);
  v1::Ownership::State state;
  if (!v1::Ownership::State_Parse(upper, &state) ||
      state == v1::Ownership::STATE_UNSPECIFIED) {
    return std::nullopt;
  }
  return state;
}

std::string EventCauseName(v1::OwnershipEvent::Cause cause) {
  if (cause == v1::OwnershipEvent::CAUSE_UNSPECIFIED ||
      !v1::OwnershipEvent::Cause_IsValid(cause)) {
    return "unspecified";
  }
  return absl::AsciiStrToLower(v1::OwnershipEvent::Cause_Name(cause));
}

std::string FormatOwner(const v1::Ownership& ownership) {
  if (!ownership.rep().empty()) return ownership.rep();
  if (!ownership.pool().empty()) return absl::StrCat("pool ", ownership.pool());
  if (ownership.state() == v1::Ownership::UNOWNED) {
    switch (ownership.unowned_reason()) {
      case v1::Ownership::NO_MATCH:
        return "unowned (no match)";
      case v1::Ownership::NO_CAPACITY:
        return "unowned (no capacity)";
      default:
        return "unowned";
    }
  }
  return "-";
}

void RenderAssignResponse(const v1::AssignResponse& response, bool evaluation,
                          std::ostream& out) {
  if (evaluation) {
    out << "evaluated " << response.customer_id() << " (nothing written)";
  } else {
    out << "customer " << response.customer_id();
  }
  out << ": ruleset version " << response.ruleset_version() << ", segments: "
      << (response.segments().empty()
              ? std::string("(none)")
              : absl::StrJoin(response.segments(), ", "))
      << "\n";
  Table table({"DEPARTMENT", "STATE", "OWNER", "TEAM", "RULE",
               evaluation ? "WOULD CHANGE" : "CHANGED"});
  for (const v1::DepartmentAssignment& d : response.departments()) {
    const v1::Ownership& o = d.ownership();
    table.AddRow({o.department(), StateText(o), FormatOwner(o),
                  OrDash(o.team()), OrDash(o.rule_id()),
                  d.changed() ? "yes" : "no"});
  }
  table.Render(out);
}

void RenderOwnership(const v1::Ownership& ownership, std::ostream& out) {
  auto line = [&out](absl::string_view key, absl::string_view value) {
    out << key << std::string(13 - key.size(), ' ') << value << "\n";
  };
  line("customer", ownership.customer_id());
  line("department", ownership.department());
  line("state", StateText(ownership));
  line("owner", FormatOwner(ownership));
  if (!ownership.team().empty()) line("team", ownership.team());
  line("since", FormatTimestamp(ownership.since()));
  if (ownership.rule_id().empty() && ownership.ruleset_version() == 0) {
    line("rule", "(none: set by a person, see `custodianctl history`)");
  } else {
    line("rule", absl::StrCat(OrDash(ownership.rule_id()), " (ruleset version ",
                              ownership.ruleset_version(), ")"));
  }
  if (ownership.has_explanation()) {
    const v1::OwnershipExplanation& why = ownership.explanation();
    if (why.has_decision()) line("decision", DecisionText(why.decision()));
    if (!why.target_used().empty()) line("target used", why.target_used());
    if (!why.strategy().empty()) line("strategy", why.strategy());
    std::vector<std::string> skipped;
    for (const v1::SkippedCandidate& s : why.skipped()) {
      skipped.push_back(
          absl::StrCat(s.rep(), " (", SkipReasonName(s.reason()), ")"));
    }
    line("skipped", skipped.empty() ? std::string("(none)")
                                    : absl::StrJoin(skipped, ", "));
    line("segments", why.segments().empty()
                         ? std::string("(none)")
                         : absl::StrJoin(why.segments(), ", "));
  }
  line("drifted", ownership.drifted()
                      ? "yes: the active rules now point elsewhere"
                      : "no");
  line("last event", absl::StrCat(ownership.last_event_sequence()));
}

void RenderOwnerships(const v1::ListOwnershipsResponse& response,
                      std::ostream& out) {
  if (response.ownerships().empty()) {
    out << "no ownerships\n";
    return;
  }
  Table table(
      {"CUSTOMER", "STATE", "OWNER", "TEAM", "RULE", "VERSION", "SINCE"});
  for (const v1::Ownership& o : response.ownerships()) {
    table.AddRow({o.customer_id(), StateText(o), FormatOwner(o),
                  OrDash(o.team()), OrDash(o.rule_id()),
                  VersionText(o.ruleset_version()),
                  FormatTimestamp(o.since())});
  }
  table.Render(out);
}

void RenderHistory(const v1::ListOwnershipEventsResponse& response,
                   std::ostream& out) {
  if (response.events().empty()) {
    out << "no events\n";
    return;
  }
  Table table({"SEQ", "TIME", "DEPARTMENT", "CAUSE", "FROM", "TO", "STATE",
               "RULE", "VERSION", "ACTOR", "REASON"});
  for (const v1::OwnershipEvent& e : response.events()) {
    const v1::Ownership& after = e.after();
    table.AddRow({absl::StrCat(e.sequence()), FormatTimestamp(e.event_time()),
                  e.department(), EventCauseName(e.cause()),
                  e.has_before() ? FormatOwner(e.before()) : std::string("-"),
                  FormatOwner(after), StateText(after), OrDash(after.rule_id()),
                  VersionText(after.ruleset_version()), OrDash(e.actor()),
                  e.reason()});
  }
  table.Render(out);
}

void RenderHistoryAsOf(const v1::ListOwnershipEventsResponse& response,
                       absl::Time as_of, std::ostream& out) {
  const std::string when =
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", as_of, absl::UTCTimeZone());
  if (response.events().empty()) {
    out << "no owner at " << when << "\n";
    return;
  }
  out << "as of " << when << ":\n";
  Table table({"DEPARTMENT", "OWNER", "TEAM", "STATE", "RULE", "VERSION",
               "SINCE", "CAUSE", "SEQ"});
  for (const v1::OwnershipEvent& e : response.events()) {
    const v1::Ownership& after = e.after();
    table.AddRow({e.department(), FormatOwner(after), OrDash(after.team()),
                  StateText(after), OrDash(after.rule_id()),
                  VersionText(after.ruleset_version()),
                  FormatTimestamp(after.since()), EventCauseName(e.cause()),
                  absl::StrCat(e.sequence())});
  }
  table.Render(out);
}

std::string FormatEventLine(const v1::OwnershipEvent& event) {
  const v1::Ownership& after = event.after();
  std::string line = absl::StrCat(
      event.sequence(), " ", FormatTimestamp(event.event_time()), " ",
      event.customer_id(), " ", event.department(), " ",
      EventCauseName(event.cause()), ": ",
      event.has_before() ? FormatOwner(event.before()) : std::string("-"),
      " → ", FormatOwner(after), " (", StateText(after), ")");
  if (!after.rule_id().empty()) {
    absl::StrAppend(&line, " rule ", after.rule_id(), " v",
                    after.ruleset_version());
  }
  if (!event.actor().empty()) absl::StrAppend(&line, " by ", event.actor());
  if (!event.reason().empty()) absl::StrAppend(&line, ": ", event.reason());
  return line;
}

}  // namespace custodian::clients
