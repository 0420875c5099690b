// The configuration of custodiand: one struct, each field with its default.
// main.cc fills it from flags; tests fill it directly.
#ifndef CUSTODIAN_SERVER_SERVER_OPTIONS_H_
#define CUSTODIAN_SERVER_SERVER_OPTIONS_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"

namespace custodian::server {

struct Options {
  // host:port to serve gRPC on. Port 0 picks a free port (see
  // CustodianServer::port()). Only loopback hosts (127.0.0.0/8, "localhost",
  // "[::1]") are accepted: authentication has not been built yet, and
  // listening on loopback without credentials is the local development mode
  // (DESIGN.md "Security").
  std::string listen_address = "127.0.0.1:50051";

  // Directory for the server's durable state; created (with parents) if
  // missing. Storage arrives with the durable core issue: nothing is written
  // there yet.
  std::string data_dir = "./data";

  // The ruleset file (YAML or JSON, RULES.md) checked against the roster at
  // start-up. The server refuses to start if it does not validate.
  std::string ruleset_file = "examples/ruleset.yaml";

  // The roster file (RULES.md "Roster file") loaded at start-up; rulesets sent
  // to ValidateRuleset are checked against it. The server refuses to start if
  // it does not validate.
  std::string roster_file = "examples/roster.yaml";

  // Largest request message accepted, in bytes. Must leave room for a
  // ValidateRuleset request carrying the largest accepted ruleset text
  // (4 MiB) so that an oversized text gets INVALID_ARGUMENT naming
  // `source_text` rather than a transport error. Larger messages are
  // rejected by gRPC with RESOURCE_EXHAUSTED.
  size_t max_request_bytes = 8 << 20;
};

// Returns OK if `options` can be used to build a server; otherwise
// INVALID_ARGUMENT naming the first bad option (e.g. "listen_address ...").
// Checks syntax only: files are read and the port is bound by
// CustodianServer::Create.
absl::Status ValidateOptions(const Options& options);

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_SERVER_OPTIONS_H_
