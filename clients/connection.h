// Where custodianctl's server commands connect, and how each call is made.
//
// The address is, in order: the `--server` flag, the CUSTODIAN_SERVER
// environment variable, then 127.0.0.1:50051 (custodiand's default). Every
// call gets a deadline of `--timeout` (default 30s) from when it starts.
//
// Credentials (client_config.h resolves them from flags, environment and
// the config file): ConnectionOptions::credentials are the channel's (TLS,
// a client certificate; null = plaintext, for custodiand's local development
// mode) and ConnectionOptions::token is a bearer token that PrepareContext
// adds to every call as `authorization: Bearer TOKEN`.
//
// Thread-safe: a Connection is immutable after construction and may be used
// by several threads.
#ifndef CUSTODIAN_CLIENTS_CONNECTION_H_
#define CUSTODIAN_CLIENTS_CONNECTION_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace custodian::clients {

inline constexpr absl::string_view kDefaultServer = "127.0.0.1:50051";
inline constexpr const char kServerEnvVar[] = "CUSTODIAN_SERVER";
inline constexpr absl::Duration kDefaultTimeout = absl::Seconds(30);

// `flag` if not empty, else `env` if not null and not empty, else
// kDefaultServer.
std::string ResolveServerAddress(absl::string_view flag, const char* env);

// Parses a --timeout value: an absl duration ("30s", "500ms", "2m", "1h30m")
// or a bare number of seconds ("10", "2.5"). nullopt unless > 0 and finite.
std::optional<absl::Duration> ParseTimeout(absl::string_view text);

struct ConnectionOptions {
  // host:port (or any gRPC target). Required.
  std::string address;
  // Per-call deadline. Default: 30s.
  absl::Duration timeout = kDefaultTimeout;
  // Channel credentials. Default: null, meaning insecure (local development
  // mode).
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // Bearer token sent with every call. Default: empty, none.
  std::string token;
};

class Connection {
 public:
  // Creates the channel for `options`. The channel connects lazily, on the
  // first call, so this never fails; an unreachable server shows as
  // UNAVAILABLE on that call.
  static std::unique_ptr<Connection> Open(ConnectionOptions options);

  // Wraps an existing channel (tests: an in-process server's channel).
  // REQUIRES: channel != nullptr.
  Connection(std::shared_ptr<grpc::Channel> channel, std::string address,
             absl::Duration timeout, std::string token = "");

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  const std::string& address() const { return address_; }
  absl::Duration timeout() const { return timeout_; }

  // Prepares `context` for one call: sets its deadline to now + timeout and
  // adds the bearer token, if any.
  // REQUIRES: `context` has not been used for a call.
  void PrepareContext(grpc::ClientContext* context) const;
  // Adds the bearer token, if any, and nothing else (for a call without a
  // deadline, such as a watch).
  void AddCredentials(grpc::ClientContext* context) const;

  // true if the channel is connected right now. After a failed call, false
  // means the call never reached a server.
  bool IsConnected() const;

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::string address_;
  absl::Duration timeout_;
  std::string token_;
};

}  // namespace custodian::clients

#endif  // CUSTODIAN_CLIENTS_CONNECTION_H_
