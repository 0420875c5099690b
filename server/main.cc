// custodiand: the Custodian gRPC server.
//
//   custodiand [--listen 127.0.0.1:50051] [--data-dir ./data]
//              [--ruleset examples/ruleset.yaml] [--roster
//              examples/roster.yaml]
//
// Logs to stderr. Stops gracefully on SIGTERM or SIGINT: in-flight calls get
// kShutdownGrace to finish. Exit status 0 after a graceful stop, 1 when the
// server cannot start, 2 on bad flags.
#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "server/custodian_server.h"
#include "server/server_options.h"

namespace {

// How long in-flight calls may run after SIGTERM/SIGINT before they are
// cancelled.
constexpr absl::Duration kShutdownGrace = absl::Seconds(10);

int Run(int argc, char** argv) {
  custodian::server::Options options;
  CLI::App app{"custodiand: the Custodian server (who owns each customer)",
               "custodiand"};
  app.set_version_flag("--version",
                       std::string("custodiand ") + CUSTODIAN_VERSION);
  app.add_option("--listen", options.listen_address,
                 "host:port to serve gRPC on; loopback only until "
                 "authentication is built; port 0 picks a free port")
      ->capture_default_str();
  app.add_option("--data-dir", options.data_dir,
                 "directory for durable state; created if missing")
      ->capture_default_str();
  app.add_option("--ruleset", options.ruleset_file,
                 "ruleset file (YAML/JSON) checked against the roster at "
                 "start-up")
      ->capture_default_str();
  app.add_option("--roster", options.roster_file,
                 "roster file (YAML/JSON) loaded at start-up")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version end here too, with exit code 0.
    return app.exit(e) == 0 ? 0 : 2;
  }

  // Block the stop signals before any thread starts, so that every gRPC
  // thread inherits the mask and only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (int err = pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr); err != 0) {
    custodian::LogError(
        absl::StrCat("cannot block SIGINT/SIGTERM: ", std::strerror(err)));
    return 1;
  }

  custodian::LogInfo(
      absl::StrCat("custodiand ", CUSTODIAN_VERSION, " starting"));
  absl::StatusOr<std::unique_ptr<custodian::server::CustodianServer>> server =
      custodian::server::CustodianServer::Create(options);
  if (!server.ok()) {
    custodian::LogError(
        absl::StrCat("cannot start: ", server.status().message()));
    return 1;
  }
  custodian::LogWarning(
      "local development mode: no authentication; listening on loopback "
      "only (authentication arrives in a later issue)");
  custodian::LogInfo(absl::StrCat(
      "serving custodian.v1.RulesetService, grpc.health.v1.Health and "
      "server reflection on ",
      (*server)->address(), " (ruleset \"", (*server)->ruleset_name(), "\")"));

  int signal_number = 0;
  if (int err = sigwait(&stop_signals, &signal_number); err != 0) {
    custodian::LogError(absl::StrCat("sigwait: ", std::strerror(err)));
    signal_number = 0;
  }
  custodian::LogInfo(absl::StrCat(
      "received ", signal_number == 0 ? "error" : strsignal(signal_number),
      "; shutting down (in-flight calls get ",
      absl::FormatDuration(kShutdownGrace), ")"));
  (*server)->Shutdown(absl::Now() + kShutdownGrace);
  custodian::LogInfo("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
