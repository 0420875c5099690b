#include "clients/remote_commands.h"

#include <cstdio>
#include <filesystem>
#include <ostream>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "clients/errors.h"
#include "clients/rules_commands.h"
#include "clients/unary_call.h"
#include "custodian/v1/roster_service.grpc.pb.h"
#include "custodian/v1/ruleset_service.grpc.pb.h"
#include "rules/loader.h"

namespace custodian::clients {
namespace {

// Reads a file to send; on failure prints why and returns nullopt.
std::optional<std::string> ReadSource(const std::string& path,
                                      std::ostream& err) {
  absl::StatusOr<std::string> text = rules::ReadTextFile(path);
  if (!text.ok()) {
    err << "custodianctl: " << text.status().message() << "\n";
    return std::nullopt;
  }
  return *std::move(text);
}

std::string BaseName(const std::string& path) {
  std::string name = std::filesystem::path(path).filename().string();
  return name.empty() ? path : name;
}

}  // namespace

std::string RequestIdOr(const std::string& given, bool* generated) {
  *generated = given.empty();
  return *generated ? NewRequestId() : given;
}

std::vector<std::pair<std::string, std::string>> GeneratedId(
    bool generated, const std::string& request_id) {
  if (!generated) return {};
  return {{"request_id", request_id}};
}

std::string NewRequestId() {
  std::random_device device;
  std::uniform_int_distribution<int> byte(0, 255);
  unsigned char bytes[16];
  for (unsigned char& b : bytes) b = static_cast<unsigned char>(byte(device));
  bytes[6] = (bytes[6] & 0x0F) | 0x40;  // version 4
  bytes[8] = (bytes[8] & 0x3F) | 0x80;  // RFC 4122 variant
  std::string id;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) id += '-';
    char hex[3];
    std::snprintf(hex, sizeof(hex), "%02x", bytes[i]);
    id += hex;
  }
  return id;
}

int RunRosterApply(const Connection& connection, const RosterApplyArgs& args,
                   const CommandOutput& output) {
  std::optional<std::string> text = ReadSource(args.path, output.err);
  if (!text) return kExitUsage;
  v1::ApplyRosterRequest request;
  request.set_source_text(*std::move(text));
  request.set_file_name(BaseName(args.path));
  request.set_dry_run(args.dry_run);
  request.set_etag(args.etag);
  bool generated = args.request_id.empty() && !args.dry_run;
  request.set_request_id(generated ? NewRequestId() : args.request_id);

  auto stub = v1::RosterService::NewStub(connection.channel());
  v1::ApplyRosterResponse response;
  int code = Call(connection, stub.get(), &v1::RosterService::Stub::ApplyRoster,
                  request, &response, request.request_id(), output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(response,
                         GeneratedId(generated, request.request_id()));
    return kExitOk;
  }
  for (const v1::Diagnostic& d : response.diagnostics()) {
    output.err << FormatDiagnostic(d) << "\n";
  }
  RenderRosterChanges(response, output.out);
  return kExitOk;
}

int RunRosterGet(const Connection& connection, const CommandOutput& output) {
  auto stub = v1::RosterService::NewStub(connection.channel());
  v1::GetRosterRequest request;
  v1::GetRosterResponse response;
  int code = Call(connection, stub.get(), &v1::RosterService::Stub::GetRoster,
                  request, &response, "", output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(response);
  } else {
    RenderRoster(response, output.out);
  }
  return kExitOk;
}

int RunRepSetStatus(const Connection& connection, const RepSetStatusArgs& args,
                    const CommandOutput& output) {
  std::optional<v1::RepStatus> status = ParseRepStatus(args.status);
  if (!status) {
    output.err << "custodianctl: --status: \"" << args.status
               << "\" is not one of active, away, left\n";
    return kExitUsage;
  }
  v1::SetRepStatusRequest request;
  request.set_rep(args.rep);
  request.set_status(*status);
  request.set_reason(args.reason);
  bool generated = args.request_id.empty();
  request.set_request_id(generated ? NewRequestId() : args.request_id);

  auto stub = v1::RosterService::NewStub(connection.channel());
  v1::SetRepStatusResponse response;
  int code =
      Call(connection, stub.get(), &v1::RosterService::Stub::SetRepStatus,
           request, &response, request.request_id(), output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(response,
                         GeneratedId(generated, request.request_id()));
    return kExitOk;
  }
  output.out << "rep " << response.rep().id() << ": "
             << RepStatusName(response.previous_status()) << " → "
             << RepStatusName(response.rep().status()) << " (roster version "
             << response.version() << ")\n";
  return kExitOk;
}

int RunRulesPublish(const Connection& connection, const RulesPublishArgs& args,
                    const CommandOutput& output) {
  std::optional<std::string> text = ReadSource(args.path, output.err);
  if (!text) return kExitUsage;
  v1::CreateRulesetVersionRequest request;
  request.set_source_text(*std::move(text));
  request.set_file_name(BaseName(args.path));
  bool generated = args.request_id.empty();
  request.set_request_id(generated ? NewRequestId() : args.request_id);

  auto stub = v1::RulesetService::NewStub(connection.channel());
  v1::RulesetVersion response;
  int code = Call(connection, stub.get(),
                  &v1::RulesetService::Stub::CreateRulesetVersion, request,
                  &response, request.request_id(), output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(response,
                         GeneratedId(generated, request.request_id()));
    return kExitOk;
  }
  output.out << "published version " << response.version();
  if (!response.name().empty()) output.out << " (" << response.name() << ")";
  output.out << "\n";
  for (const v1::Diagnostic& w : response.warnings()) {
    output.out << FormatDiagnostic(w) << "\n";
  }
  if (!response.active()) {
    output.out << "not active: run `custodianctl rules activate "
               << response.version() << "`\n";
  }
  return kExitOk;
}

int RunRulesList(const Connection& connection, const RulesListArgs& args,
                 const CommandOutput& output) {
  if (args.page_size < 0 || args.page_size > 1000) {
    output.err << "custodianctl: --page-size: " << args.page_size
               << " is not between 0 and 1000\n";
    return kExitUsage;
  }
  auto stub = v1::RulesetService::NewStub(connection.channel());
  v1::ListRulesetVersionsRequest request;
  request.set_page_size(args.page_size);
  request.set_page_token(args.page_token);
  v1::ListRulesetVersionsResponse all;
  while (true) {
    v1::ListRulesetVersionsResponse page;
    int code = Call(connection, stub.get(),
                    &v1::RulesetService::Stub::ListRulesetVersions, request,
                    &page, "", output.err);
    if (code != kExitOk) return code;
    if (!args.all) {
      all = std::move(page);
      break;
    }
    for (v1::RulesetVersion& v : *page.mutable_versions()) {
      *all.add_versions() = std::move(v);
    }
    all.set_active_version(page.active_version());
    all.set_activation_etag(page.activation_etag());
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
  RenderRulesetVersions(all, output.out);
  if (!all.next_page_token().empty()) {
    output.out << "next page: --page-token " << all.next_page_token() << "\n";
  }
  return kExitOk;
}

int RunRulesGet(const Connection& connection, const RulesGetArgs& args,
                const CommandOutput& output) {
  if (args.version < 0) {
    output.err << "custodianctl: VERSION: " << args.version
               << " is negative (0 means the active version)\n";
    return kExitUsage;
  }
  auto stub = v1::RulesetService::NewStub(connection.channel());
  v1::GetRulesetRequest request;
  request.set_version(args.version);
  request.set_omit_source(!args.source);
  v1::RulesetVersion response;
  int code = Call(connection, stub.get(), &v1::RulesetService::Stub::GetRuleset,
                  request, &response, "", output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(response);
  } else if (args.source) {
    output.out << response.source_text();
  } else {
    RenderRulesetVersion(response, output.out);
  }
  return kExitOk;
}

int RunRulesActivate(const Connection& connection,
                     const RulesActivateArgs& args,
                     const CommandOutput& output) {
  if (args.version < 1) {
    output.err << "custodianctl: VERSION: " << args.version
               << " is not a version (versions start at 1)\n";
    return kExitUsage;
  }
  auto stub = v1::RulesetService::NewStub(connection.channel());
  std::string etag = args.etag;
  if (etag.empty()) {
    // Read-then-write: an activation by someone else between this read and
    // the write below is not detected. --etag makes it conditional.
    v1::ListRulesetVersionsRequest list;
    list.set_page_size(1);
    v1::ListRulesetVersionsResponse page;
    int code = Call(connection, stub.get(),
                    &v1::RulesetService::Stub::ListRulesetVersions, list, &page,
                    "", output.err);
    if (code != kExitOk) return code;
    etag = page.activation_etag();
  }
  v1::ActivateRulesetRequest request;
  request.set_version(args.version);
  request.set_etag(etag);
  request.set_reason(args.reason);
  bool generated = args.request_id.empty();
  request.set_request_id(generated ? NewRequestId() : args.request_id);
  v1::ActivateRulesetResponse response;
  int code =
      Call(connection, stub.get(), &v1::RulesetService::Stub::ActivateRuleset,
           request, &response, request.request_id(), output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(response,
                         GeneratedId(generated, request.request_id()));
    return kExitOk;
  }
  const v1::Activation& activation = response.activation();
  output.out << "activated version " << activation.version();
  if (activation.previous_version() != 0) {
    output.out << " (previously " << activation.previous_version() << ")";
  }
  output.out << "\netag " << response.etag() << "\n";
  return kExitOk;
}

int RunRulesDiff(const Connection& connection, const RulesDiffArgs& args,
                 const CommandOutput& output) {
  if (args.from_version < 1 || args.to_version < 1) {
    output.err << "custodianctl: FROM and TO must be versions (>= 1)\n";
    return kExitUsage;
  }
  auto stub = v1::RulesetService::NewStub(connection.channel());
  v1::DiffRulesetsRequest request;
  request.set_from_version(args.from_version);
  request.set_to_version(args.to_version);
  v1::DiffRulesetsResponse response;
  int code =
      Call(connection, stub.get(), &v1::RulesetService::Stub::DiffRulesets,
           request, &response, "", output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    response.mutable_diff();  // scripts always see diff.departments etc.
    output.out << ToJson(response);
  } else {
    RenderRulesetDiff(response, output.out);
  }
  return kExitOk;
}

int RunRulesSimulate(const Connection& connection,
                     const RulesSimulateArgs& args,
                     const CommandOutput& output) {
  if (args.version < 1) {
    output.err << "custodianctl: VERSION: " << args.version
               << " is not a version (versions start at 1)\n";
    return kExitUsage;
  }
  if (args.baseline_version < 0) {
    output.err << "custodianctl: --baseline: " << args.baseline_version
               << " is not a version (0 is the active one)\n";
    return kExitUsage;
  }
  if (args.samples.has_value() && (*args.samples < 0 || *args.samples > 100)) {
    output.err << "custodianctl: --samples: " << *args.samples
               << " is not 0-100\n";
    return kExitUsage;
  }
  auto stub = v1::RulesetService::NewStub(connection.channel());
  v1::SimulateRulesetRequest request;
  request.set_version(args.version);
  request.set_baseline_version(args.baseline_version);
  if (args.at.has_value()) {
    const absl::Duration since_epoch = *args.at - absl::UnixEpoch();
    const int64_t seconds =
        absl::ToInt64Seconds(absl::Floor(since_epoch, absl::Seconds(1)));
    request.mutable_at()->set_seconds(seconds);
    request.mutable_at()->set_nanos(static_cast<int32_t>(
        absl::ToInt64Nanoseconds(since_epoch - absl::Seconds(seconds))));
  }
  if (args.samples.has_value()) request.set_max_samples(*args.samples);
  v1::SimulateRulesetResponse response;
  int code =
      Call(connection, stub.get(), &v1::RulesetService::Stub::SimulateRuleset,
           request, &response, "", output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(response);
  } else {
    RenderSimulation(response, output.out);
  }
  return kExitOk;
}

}  // namespace custodian::clients
