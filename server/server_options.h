// The configuration of custodiand: one struct, each field with its default.
// main.cc fills it from a config file (LoadOptionsFile) and then from flags;
// tests fill it directly. ValidateOptions checks it before anything is built.
#ifndef CUSTODIAN_SERVER_SERVER_OPTIONS_H_
#define CUSTODIAN_SERVER_SERVER_OPTIONS_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "server/authenticator.h"

namespace custodian::server {

// Bounds of Options::workers.
inline constexpr int kMinWorkers = 1;
inline constexpr int kMaxWorkers = 1024;
// Calls per worker thread that may wait for a free thread (Options::workers).
inline constexpr int kQueuedCallsPerWorker = 16;

struct Options {
  // host:port to serve gRPC on. Port 0 picks a free port (see
  // CustodianServer::port()). Without authentication (auth.configured() is
  // false) only loopback hosts (127.0.0.0/8, "localhost", "[::1]") are
  // accepted: that is the local development mode (DESIGN.md "Security").
  // Any other host needs authentication and TLS (auth.tls()), so that
  // bearer tokens never cross the network in plaintext.
  std::string listen_address = "127.0.0.1:50051";

  // host:port of a second, plaintext port serving only grpc.health.v1.Health
  // (the same serving status as listen_address), for probes that cannot do
  // TLS or authenticate, such as Kubernetes' gRPC probes. Nothing but the
  // serving status is served there, so any host is accepted. Port 0 picks a
  // free port (CustodianServer::health_port()). Default: "" (none). Must
  // differ from listen_address (both may pick a free port with port 0).
  std::string health_listen_address;

  // The RocksDB store directory: all durable state (roster, ruleset versions,
  // activations, request-id records). Created, with its parents, if missing.
  // Only one custodiand may use a data directory at a time.
  std::string data_dir = "./data";

  // true (default): a call that changes state returns only once its commit
  // is on disk (fsync of the write-ahead log); concurrent commits share one
  // fsync (group commit). Nothing acknowledged is ever lost.
  //
  // false (UNSAFE; flag --unsafe-disable-sync): a commit is acknowledged once
  // it is written to the operating system. A crash or kill of custodiand
  // loses nothing acknowledged, but an operating-system crash or a power loss
  // may lose the changes acknowledged in roughly the last 30 seconds (the
  // OS's dirty-page write-back delay); each lost change is lost whole (never
  // half-written) and the store stays consistent, but callers were told
  // "done" for changes that are gone. Same contract as
  // storage::RocksDbStoreOptions::sync_writes.
  bool sync_writes = true;

  // The ruleset file (YAML or JSON, RULES.md) published as version 1 and
  // activated on first start, i.e. when the data directory holds no state.
  // Afterwards it is not read: the stored state is the truth. On first start
  // the server refuses to start if it does not validate against the roster
  // file.
  std::string ruleset_file = "examples/ruleset.yaml";

  // The roster file (RULES.md "Roster file") applied on first start, as
  // ruleset_file is; ignored afterwards. On first start the server refuses to
  // start if it does not validate.
  std::string roster_file = "examples/roster.yaml";

  // Largest request message accepted, in bytes. Must leave room for a
  // request carrying the largest accepted ruleset or roster text (4 MiB) so
  // that an oversized text gets INVALID_ARGUMENT naming `source_text` rather
  // than a transport error. Larger messages are rejected by gRPC with
  // RESOURCE_EXHAUSTED.
  size_t max_request_bytes = 8 << 20;

  // How long the first answer of a mutating call is kept and returned to a
  // retry with the same request_id (AIP-155). Must be > 0. After it, the id
  // may be reused for a new request.
  absl::Duration idempotency_window = absl::Hours(24);

  // How often expired request-id records are deleted from the store. Must be
  // > 0. Expired records are ignored as soon as they expire; the sweep only
  // reclaims their space.
  absl::Duration idempotency_sweep_interval = absl::Minutes(10);

  // How often the recycling sweeper (recycling_sweeper.h) moves neglected
  // ownership back to its pool per policies.recycling. Must be > 0. A
  // customer becomes due when its rule starts to hold and is recycled by the
  // next pass.
  absl::Duration recycling_sweep_interval = absl::Minutes(5);
  // How often the appeal expiry sweeper (appeal_expiry_sweeper.h) ends the
  // appeals past their deadline per policies.disputes.on_expiry: an appeal
  // ends within one interval of its deadline. Must be > 0.
  absl::Duration appeal_sweep_interval = absl::Minutes(1);
  // Customers a periodic review checks per batch (one checkpoint each),
  // >= 1. Default: 500.
  int review_batch_size = 500;

  // On SIGTERM/SIGINT: how long in-flight calls may run before they are
  // cancelled (main.cc passes now + this to CustodianServer::Shutdown).
  // Must be >= 0.
  absl::Duration shutdown_grace = absl::Seconds(10);

  // Threads that run the calls which wait for a store commit (Assign,
  // BatchAssign, UpdateCustomer, Transfer, Approve, Reject) and the long
  // listings, off gRPC's callback threads (server/worker_pool.h). Commits
  // waiting at the same time share one fsync, so this is also how many
  // mutations can share one. At most 16 calls per thread wait for a free
  // thread; beyond that calls are refused at once with RESOURCE_EXHAUSTED.
  // 1-1024. Default: 64.
  int workers = 64;

  // The source of time for every record the server writes and for the
  // idempotency window. Not settable from a file or flag: tests inject a
  // ManualClock. Must not be null; must outlive the server.
  Clock* clock = Clock::Real();

  // Authentication (authenticator.h): TLS, mutual TLS, JWTs, static tokens.
  // Nothing configured: local development mode. Config keys are the field
  // names (tls_cert_file, jwt_issuer, ...).
  AuthOptions auth;
};

// Returns OK if `options` can be used to build a server; otherwise
// INVALID_ARGUMENT naming the first bad option (e.g. "listen_address ...").
// Checks syntax only: files are read, the store opened and the port bound by
// CustodianServer::Create.
absl::Status ValidateOptions(const Options& options);

// Parses a duration option given as text: a sequence of decimal numbers with
// units "h", "m", "s", "ms", "us" or "ns" (absl::ParseDuration), such as
// "24h", "90s" or "1h30m". Returns INVALID_ARGUMENT naming `name` when the
// text is not such a duration or is infinite. Range checks are
// ValidateOptions's.
absl::StatusOr<absl::Duration> ParseDurationOption(absl::string_view name,
                                                   absl::string_view text);

// Reads the YAML config file at `path` and sets, in *options, each option it
// names; options it does not name keep their value. The file is a mapping
// whose keys are the option names above (listen_address, data_dir,
// sync_writes, ruleset_file, roster_file, max_request_bytes,
// idempotency_window, idempotency_sweep_interval, recycling_sweep_interval,
// appeal_sweep_interval,
// shutdown_grace, workers, and the AuthOptions fields: tls_cert_file,
// tls_key_file, tls_client_ca_file, tls_reload_interval, principals_file,
// token_file, jwt_hs256_secret_file, jwt_rs256_public_key_file, jwt_issuer,
// jwt_audience, jwt_leeway, jwt_principal_claim, jwt_roles_claim,
// jwt_departments_claim),
// each with a scalar value: text, true/false for sync_writes, a number for
// max_request_bytes and workers, a duration (ParseDurationOption) for the
// durations. An empty file sets nothing.
//
// Returns NOT_FOUND / PERMISSION_DENIED naming `path` when it cannot be read,
// or INVALID_ARGUMENT "PATH:LINE:COL: KEY: problem" for a syntax error, a
// document that is not a mapping, an unknown or repeated key, or a value of
// the wrong type; *options is then unspecified. Does not call
// ValidateOptions.
absl::Status LoadOptionsFile(const std::string& path, Options* options);

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_SERVER_OPTIONS_H_
