#include "server/custodian_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "grpc/health/v1/health.pb.h"
#include "rules/check.h"
#include "rules/diagnostics.h"
#include "rules/loader.h"

namespace custodian::server {
namespace {

// Prefixes the message of a non-OK `status` with the option it concerns.
absl::Status Annotate(absl::string_view option, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat(option, ": ", status.message()));
}

absl::Status CreateDataDir(const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("data_dir: cannot create ", data_dir, ": ", ec.message()));
  }
  if (!std::filesystem::is_directory(data_dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("data_dir: ", data_dir, " is not a directory"));
  }
  return absl::OkStatus();
}

// Logs every warning of `diagnostics`. When it has errors, returns
// INVALID_ARGUMENT naming `option` and holding every diagnostic, one per line.
absl::Status ReportDiagnostics(absl::string_view option,
                               const std::string& path,
                               const rules::Diagnostics& diagnostics) {
  std::vector<std::string> lines;
  for (const rules::Diagnostic& diagnostic : diagnostics.Sorted()) {
    if (diagnostics.has_errors()) {
      lines.push_back(diagnostic.ToString());
    } else {
      LogWarning(diagnostic.ToString());
    }
  }
  if (!diagnostics.has_errors()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      option, ": ", path, " does not validate (", diagnostics.error_count(),
      " error(s), ", diagnostics.warning_count(), " warning(s)):\n",
      absl::StrJoin(lines, "\n")));
}

// "127.0.0.1:0" and 41234 -> "127.0.0.1:41234".
std::string WithPort(const std::string& listen_address, int port) {
  size_t colon = listen_address.rfind(':');
  return absl::StrCat(listen_address.substr(0, colon), ":", port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<CustodianServer>> CustodianServer::Create(
    Options options) {
  RETURN_IF_ERROR(ValidateOptions(options));

  RETURN_IF_ERROR(CreateDataDir(options.data_dir));
  LogInfo(absl::StrCat("data dir: ", options.data_dir,
                       " (storage arrives in a later issue: nothing is "
                       "stored yet, and nothing survives a restart)"));

  std::string roster_text;
  {
    absl::StatusOr<std::string> text = rules::ReadTextFile(options.roster_file);
    if (!text.ok()) return Annotate("roster_file", text.status());
    roster_text = *std::move(text);
  }
  std::unique_ptr<rules::RosterCheck> roster =
      rules::CheckRosterText(roster_text, options.roster_file);
  RETURN_IF_ERROR(ReportDiagnostics("roster_file", options.roster_file,
                                    roster->diagnostics));
  LogInfo(absl::StrCat("roster ", options.roster_file, ": valid (",
                       roster->roster.departments_size(), " departments, ",
                       roster->roster.reps_size(), " reps, ",
                       roster->roster.teams_size(), " teams, ",
                       roster->diagnostics.warning_count(), " warnings)"));

  std::string ruleset_text;
  {
    absl::StatusOr<std::string> text =
        rules::ReadTextFile(options.ruleset_file);
    if (!text.ok()) return Annotate("ruleset_file", text.status());
    ruleset_text = *std::move(text);
  }
  std::unique_ptr<rules::RulesetCheck> ruleset = rules::CheckRulesetText(
      ruleset_text, options.ruleset_file, &roster->roster);
  RETURN_IF_ERROR(ReportDiagnostics("ruleset_file", options.ruleset_file,
                                    ruleset->diagnostics));
  LogInfo(absl::StrCat("ruleset ", options.ruleset_file, ": \"",
                       ruleset->ruleset.name(), "\" valid against the roster (",
                       ruleset->diagnostics.warning_count(), " warnings)"));

  auto validator =
      std::make_unique<RulesetValidator>(std::move(roster->roster));
  std::unique_ptr<CustodianServer> server(new CustodianServer(
      std::move(options), std::move(validator), ruleset->ruleset.name()));
  RETURN_IF_ERROR(server->Start());
  return server;
}

CustodianServer::CustodianServer(Options options,
                                 std::unique_ptr<RulesetValidator> validator,
                                 std::string ruleset_name)
    : options_(std::move(options)),
      validator_(std::move(validator)),
      ruleset_service_(validator_.get()),
      ruleset_name_(std::move(ruleset_name)) {}

CustodianServer::~CustodianServer() { Shutdown(absl::Now()); }

absl::Status CustodianServer::Start() {
  // gRPC's built-in health service is implemented without protobuf, so its
  // messages are not in the generated descriptor pool. Linking our copy of
  // grpc/health/v1/health.proto puts them there, so that reflection can
  // describe grpc.health.v1.Health to tools such as grpcurl.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default; without this a second custodiand on
  // the same port would start and silently share the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options_.listen_address,
                           grpc::InsecureServerCredentials(), &port_);
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(options_.max_request_bytes));
  builder.RegisterService(&ruleset_service_);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    if (server_ != nullptr) {
      server_->Shutdown();
      server_->Wait();
      server_.reset();
    }
    return absl::UnavailableError(
        absl::StrCat("listen_address: cannot listen on ",
                     options_.listen_address, " (is the port in use?)"));
  }
  address_ = WithPort(options_.listen_address, port_);
  server_->GetHealthCheckService()->SetServingStatus(
      v1::RulesetService::service_full_name(), true);
  return absl::OkStatus();
}

void CustodianServer::Shutdown(absl::Time deadline) {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  // Health first, so that load balancers and probes stop sending new calls
  // while the in-flight ones drain.
  server_->GetHealthCheckService()->Shutdown();
  server_->Shutdown(absl::ToChronoTime(deadline));
  server_->Wait();
}

}  // namespace custodian::server
