// custodiand: the Custodian gRPC server.
//
//   custodiand [--config FILE] [--listen 127.0.0.1:50051]
//              [--health-listen HOST:PORT] [--data-dir ./data]
//              [--roster examples/roster.yaml]
//              [--ruleset examples/ruleset.yaml] [--unsafe-disable-sync]
//              [--idempotency-window 24h] [--idempotency-sweep-interval 10m]
//              [--shutdown-grace 10s] [--max-request-bytes N]
//              [--workers 64] [--version]
//
// Options come from the config file (YAML, keys = Options field names, see
// server_options.h), then from flags, which override the file. Logs to
// stderr. Stops gracefully on SIGTERM or SIGINT; SIGHUP reloads the
// credentials files (token file, principals file, JWT keys). Exit status: see
// kExitCodes.
#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "server/custodian_server.h"
#include "server/server_options.h"

namespace {

constexpr int kExitStopped = 0;       // stopped gracefully on SIGTERM/SIGINT
constexpr int kExitCannotStart = 1;   // could not start (files, store, port)
constexpr int kExitUsage = 2;         // bad flags, config file or option value
constexpr int kExitUncleanClose = 3;  // stopped, but the store did not close
                                      // cleanly (see the log)

constexpr char kExitCodes[] =
    "Exit status:\n"
    "  0  stopped gracefully on SIGTERM or SIGINT (in-flight calls drained,\n"
    "     store closed cleanly); also --help and --version\n"
    "  1  could not start: a roster or ruleset file is missing or invalid on\n"
    "     first start, the data dir cannot be opened (e.g. another custodiand\n"
    "     uses it), or the address cannot be bound\n"
    "  2  bad command line, config file or option value\n"
    "  3  stopped, but closing the store failed (see the log)\n";

// Sets *out from a duration flag's text when the flag was given. Returns
// false (after printing why) when the text is not a duration.
bool SetDurationFlag(const CLI::Option* flag, const std::string& text,
                     absl::Duration* out) {
  if (flag->count() == 0) return true;
  absl::StatusOr<absl::Duration> d =
      custodian::server::ParseDurationOption(flag->get_name(), text);
  if (!d.ok()) {
    std::cerr << "custodiand: " << d.status().message() << "\n";
    return false;
  }
  *out = *d;
  return true;
}

int Run(int argc, char** argv) {
  const custodian::server::Options defaults;
  CLI::App app{"custodiand: the Custodian server (who owns each customer)",
               "custodiand"};
  app.set_version_flag("--version",
                       std::string("custodiand ") + CUSTODIAN_VERSION);
  app.footer(
      absl::StrCat("A config file sets the same options with their Options "
                   "names as keys (listen_address, health_listen_address, "
                   "data_dir, sync_writes, "
                   "roster_file, ruleset_file, max_request_bytes, "
                   "idempotency_window, idempotency_sweep_interval, "
                   "recycling_sweep_interval, appeal_sweep_interval, "
                   "shutdown_grace, workers, and the authentication "
                   "options tls_cert_file, tls_key_file, tls_client_ca_file, "
                   "tls_reload_interval, principals_file, token_file, "
                   "jwt_hs256_secret_file, jwt_rs256_public_key_file, "
                   "jwt_issuer, jwt_audience, jwt_leeway, "
                   "jwt_principal_claim, jwt_roles_claim, "
                   "jwt_departments_claim); flags override it. SIGHUP "
                   "reloads the token file, principals file and JWT keys; "
                   "TLS files are reloaded when they change.\n\n",
                   kExitCodes));

  std::string config_file;
  std::string listen = defaults.listen_address;
  std::string health_listen = defaults.health_listen_address;
  std::string data_dir = defaults.data_dir;
  std::string roster_file = defaults.roster_file;
  std::string ruleset_file = defaults.ruleset_file;
  size_t max_request_bytes = defaults.max_request_bytes;
  std::string idempotency_window =
      absl::FormatDuration(defaults.idempotency_window);
  std::string sweep_interval =
      absl::FormatDuration(defaults.idempotency_sweep_interval);
  std::string recycling_interval =
      absl::FormatDuration(defaults.recycling_sweep_interval);
  std::string appeal_interval =
      absl::FormatDuration(defaults.appeal_sweep_interval);
  std::string shutdown_grace = absl::FormatDuration(defaults.shutdown_grace);
  int workers = defaults.workers;

  // Authentication text options: flag, help, where it goes.
  struct AuthFlag {
    const char* flag;
    const char* help;
    std::string custodian::server::AuthOptions::*field;
    std::string value = "";
    CLI::Option* option = nullptr;
  };
  using custodian::server::AuthOptions;
  std::vector<AuthFlag> auth_flags = {
      {"--tls-cert", "server certificate chain (PEM)",
       &AuthOptions::tls_cert_file},
      {"--tls-key", "server private key (PEM)", &AuthOptions::tls_key_file},
      {"--tls-client-ca", "CA of client certificates (PEM): mutual TLS",
       &AuthOptions::tls_client_ca_file},
      {"--principals-file",
       "YAML mapping client certificate subjects to principals",
       &AuthOptions::principals_file},
      {"--token-file", "YAML of static tokens, as SHA-256 hashes",
       &AuthOptions::token_file},
      {"--jwt-hs256-secret-file", "HS256 shared secret for JWTs",
       &AuthOptions::jwt_hs256_secret_file},
      {"--jwt-rs256-public-key-file", "RS256 public key (PEM) for JWTs",
       &AuthOptions::jwt_rs256_public_key_file},
      {"--jwt-issuer", "required JWT iss", &AuthOptions::jwt_issuer},
      {"--jwt-audience", "required JWT aud", &AuthOptions::jwt_audience},
  };
  for (AuthFlag& f : auth_flags) {
    f.option = app.add_option(f.flag, f.value, f.help)->type_name("VALUE");
  }
  std::string jwt_leeway;
  CLI::Option* leeway_flag =
      app.add_option("--jwt-leeway", jwt_leeway,
                     "clock skew allowed for JWT exp/nbf (0s-5m; default 30s)");

  app.add_option("--config", config_file,
                 "YAML config file; keys are option names (see below); flags "
                 "given on the command line override it")
      ->type_name("FILE");
  CLI::Option* listen_flag =
      app.add_option("--listen", listen,
                     "host:port to serve gRPC on; port 0 picks a free port. "
                     "Without authentication: loopback only. Elsewhere: "
                     "authentication and TLS are required")
          ->capture_default_str();
  CLI::Option* health_listen_flag = app.add_option(
      "--health-listen", health_listen,
      "host:port of a second, plaintext port serving only "
      "grpc.health.v1.Health, for probes that cannot do TLS (Kubernetes gRPC "
      "probes); default: none");
  CLI::Option* data_dir_flag =
      app.add_option("--data-dir", data_dir,
                     "the RocksDB store directory holding all durable state; "
                     "created if missing; one custodiand at a time")
          ->capture_default_str();
  CLI::Option* roster_flag =
      app.add_option("--roster", roster_file,
                     "roster file (YAML/JSON) applied on first start (empty "
                     "data dir); not read once the store has state")
          ->capture_default_str();
  CLI::Option* ruleset_flag =
      app.add_option("--ruleset", ruleset_file,
                     "ruleset file (YAML/JSON) published as version 1 and "
                     "activated on first start; not read once the store has "
                     "state")
          ->capture_default_str();
  bool unsafe_disable_sync = false;
  CLI::Option* unsafe_flag = app.add_flag(
      "--unsafe-disable-sync", unsafe_disable_sync,
      "UNSAFE: acknowledge changes before they reach the disk (no fsync per "
      "commit). A crash of custodiand loses nothing acknowledged, but an "
      "operating-system crash or a power loss may lose the changes "
      "acknowledged in roughly the last 30 seconds; each is lost whole, "
      "never half-written, and the store stays consistent. Default: every "
      "change is synced before it is acknowledged (concurrent changes share "
      "one fsync)");
  CLI::Option* max_request_flag =
      app.add_option("--max-request-bytes", max_request_bytes,
                     "largest request message accepted, in bytes (at least "
                     "4 MiB + 64 KiB)")
          ->capture_default_str();
  CLI::Option* window_flag =
      app.add_option("--idempotency-window", idempotency_window,
                     "how long a retry with the same request_id gets the "
                     "first answer (e.g. 24h, 90m)")
          ->capture_default_str()
          ->type_name("DURATION");
  CLI::Option* sweep_flag =
      app.add_option("--idempotency-sweep-interval", sweep_interval,
                     "how often expired request-id records are deleted")
          ->capture_default_str()
          ->type_name("DURATION");
  CLI::Option* recycling_flag =
      app.add_option("--recycling-sweep-interval", recycling_interval,
                     "how often neglected customers are moved back to their "
                     "pool (policies.recycling)")
          ->capture_default_str()
          ->type_name("DURATION");
  CLI::Option* appeal_flag =
      app.add_option("--appeal-sweep-interval", appeal_interval,
                     "how often appeals past their deadline end "
                     "(policies.disputes.on_expiry)")
          ->capture_default_str()
          ->type_name("DURATION");
  CLI::Option* grace_flag =
      app.add_option("--shutdown-grace", shutdown_grace,
                     "on SIGTERM/SIGINT, how long in-flight calls may run "
                     "before they are cancelled")
          ->capture_default_str()
          ->type_name("DURATION");
  CLI::Option* workers_flag =
      app.add_option(
             "--workers", workers,
             absl::StrCat(
                 "threads running the calls that wait for a store commit "
                 "(Assign, BatchAssign, UpdateCustomer, Transfer, Approve, "
                 "Reject) and long listings; concurrent commits share one "
                 "fsync. When all are busy and ",
                 custodian::server::kQueuedCallsPerWorker,
                 " calls per thread wait, further calls get "
                 "RESOURCE_EXHAUSTED (",
                 custodian::server::kMinWorkers, "-",
                 custodian::server::kMaxWorkers, ")"))
          ->capture_default_str();
  bool check_config = false;
  app.add_flag("--check-config", check_config,
               "check the options (config file and flags) as a start would, "
               "print what was checked and exit: 0 when they are valid, 2 "
               "when not. Reads no ruleset, roster, TLS or credential file, "
               "opens no store and listens on nothing (systemd "
               "ExecStartPre=, CI)");
  int review_batch_size = defaults.review_batch_size;
  CLI::Option* review_batch_flag =
      app.add_option("--review-batch-size", review_batch_size,
                     "customers a periodic review checks per batch; each "
                     "batch ends with one durable checkpoint (1-100000)")
          ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version end here too, with exit code 0.
    return app.exit(e) == 0 ? kExitStopped : kExitUsage;
  }

  custodian::server::Options options;
  if (!config_file.empty()) {
    if (absl::Status s =
            custodian::server::LoadOptionsFile(config_file, &options);
        !s.ok()) {
      std::cerr << "custodiand: " << s.message() << "\n";
      return kExitUsage;
    }
  }
  if (listen_flag->count() > 0) options.listen_address = listen;
  if (health_listen_flag->count() > 0) {
    options.health_listen_address = health_listen;
  }
  if (data_dir_flag->count() > 0) options.data_dir = data_dir;
  if (roster_flag->count() > 0) options.roster_file = roster_file;
  if (ruleset_flag->count() > 0) options.ruleset_file = ruleset_file;
  if (unsafe_flag->count() > 0 && unsafe_disable_sync) {
    options.sync_writes = false;
  }
  if (max_request_flag->count() > 0) {
    options.max_request_bytes = max_request_bytes;
  }
  if (workers_flag->count() > 0) options.workers = workers;
  if (review_batch_flag->count() > 0) {
    options.review_batch_size = review_batch_size;
  }
  for (const AuthFlag& f : auth_flags) {
    if (f.option->count() > 0) options.auth.*(f.field) = f.value;
  }
  if (!SetDurationFlag(window_flag, idempotency_window,
                       &options.idempotency_window) ||
      !SetDurationFlag(sweep_flag, sweep_interval,
                       &options.idempotency_sweep_interval) ||
      !SetDurationFlag(recycling_flag, recycling_interval,
                       &options.recycling_sweep_interval) ||
      !SetDurationFlag(appeal_flag, appeal_interval,
                       &options.appeal_sweep_interval) ||
      !SetDurationFlag(grace_flag, shutdown_grace, &options.shutdown_grace) ||
      !SetDurationFlag(leeway_flag, jwt_leeway, &options.auth.jwt_leeway)) {
    return kExitUsage;
  }
  if (absl::Status s = custodian::server::ValidateOptions(options); !s.ok()) {
    std::cerr << "custodiand: " << s.message() << "\n";
    return kExitUsage;
  }
  if (check_config) {
    std::cout << "custodiand: options are valid"
              << (config_file.empty()
                      ? std::string()
                      : absl::StrCat(" (config ", config_file, ")"))
              << ": listen_address " << options.listen_address
              << ", health_listen_address "
              << (options.health_listen_address.empty()
                      ? std::string("none")
                      : options.health_listen_address)
              << ", data_dir " << options.data_dir << "\n";
    return kExitStopped;
  }

  // Block the stop signals before any thread starts, so that every gRPC
  // thread inherits the mask and only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  if (int err = pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr); err != 0) {
    custodian::LogError(absl::StrCat("cannot block SIGINT/SIGTERM/SIGHUP: ",
                                     std::strerror(err)));
    return kExitCannotStart;
  }

  custodian::LogInfo(absl::StrCat(
      "custodiand ", CUSTODIAN_VERSION, " starting",
      config_file.empty() ? std::string()
                          : absl::StrCat(" (config ", config_file, ")")));
  absl::StatusOr<std::unique_ptr<custodian::server::CustodianServer>> server =
      custodian::server::CustodianServer::Create(options);
  if (!server.ok()) {
    custodian::LogError(
        absl::StrCat("cannot start: ", server.status().message()));
    return kExitCannotStart;
  }

  int signal_number = 0;
  while (true) {
    if (int err = sigwait(&stop_signals, &signal_number); err != 0) {
      custodian::LogError(absl::StrCat("sigwait: ", std::strerror(err)));
      signal_number = 0;
      break;
    }
    if (signal_number != SIGHUP) break;
    // SIGHUP: reload the credentials files; errors are logged and the
    // previous credentials stay in use.
    (void)(*server)->ReloadCredentials();
  }
  custodian::LogInfo(absl::StrCat(
      "received ", signal_number == 0 ? "error" : strsignal(signal_number),
      "; shutting down (in-flight calls get ",
      absl::FormatDuration(options.shutdown_grace), ")"));
  absl::Status closed =
      (*server)->Shutdown(absl::Now() + options.shutdown_grace);
  if (!closed.ok()) return kExitUncleanClose;
  custodian::LogInfo("stopped");
  return kExitStopped;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil is built with mutex deadlock detection on: every
  // absl::Mutex acquisition (gRPC's included) would update one global lock
  // graph under one global lock. The tests keep it on and find lock-order
  // problems; the server does not pay for it on every call.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return Run(argc, argv);
}
