// Where custodianctl connects and with which credentials: flags, then
// environment variables, then the named context of a config file, the way
// kubectl's kubeconfig works.
//
// Config file: --config FILE, else $CUSTODIAN_CONFIG, else
// $HOME/.config/custodian/config.yaml when it exists (none is fine). YAML:
//
//   current_context: prod
//   contexts:
//     - name: prod
//       server: custodian.example.com:443
//       ca: /etc/custodian/ca.crt        # TLS: trust this CA
//       cert: ~/.custodian/me.crt        # mutual TLS client certificate
//       key: ~/.custodian/me.key
//       token_file: ~/.custodian/token   # or token: ... (bearer)
//     - name: local
//       server: 127.0.0.1:50051
//
// The context is --context, else the file's current_context. Each setting
// is, in order: its flag (--server, --token / --token-file, --ca, --cert,
// --key, --tls), its environment variable (CUSTODIAN_SERVER,
// CUSTODIAN_TOKEN), the context's, the default (127.0.0.1:50051, no
// credentials, plaintext). TLS is used when any of ca/cert/key is set or
// --tls / `tls: true` asks for it (then the system's roots when no CA is
// given). A leading "~/" in a path is the home directory.
//
// Thread-safe: pure functions over their arguments and the files they read.
#ifndef CUSTODIAN_CLIENTS_CLIENT_CONFIG_H_
#define CUSTODIAN_CLIENTS_CLIENT_CONFIG_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "clients/connection.h"

namespace custodian::clients {

inline constexpr const char kTokenEnvVar[] = "CUSTODIAN_TOKEN";
inline constexpr const char kConfigEnvVar[] = "CUSTODIAN_CONFIG";

// The connection flags as given (empty = not given).
struct ConnectionFlags {
  std::string server;
  std::string token;
  std::string token_file;
  std::string ca;
  std::string cert;
  std::string key;
  bool tls = false;
  std::string config;
  std::string context;
};

// Reads an environment variable; nullptr when unset.
using EnvLookup = std::function<const char*(const char*)>;

// Where to connect and how, resolved (file contents read).
struct ResolvedConnection {
  std::string address;
  // The bearer token; empty for none.
  std::string token;
  bool tls = false;
  // PEM contents; empty when not set.
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
  // The context used ("" for none).
  std::string context;
};

// Resolves `flags` as described at the top. Errors (INVALID_ARGUMENT /
// NOT_FOUND naming the flag, variable or config key): an unreadable or
// malformed config file, an unknown --context, both --token and
// --token-file, --cert without --key (or the reverse), an unreadable file,
// an empty token file.
absl::StatusOr<ResolvedConnection> ResolveConnection(
    const ConnectionFlags& flags, const EnvLookup& env);

// ConnectionOptions for `resolved` (channel credentials and token).
ConnectionOptions ToConnectionOptions(const ResolvedConnection& resolved,
                                      absl::Duration timeout);

}  // namespace custodian::clients

#endif  // CUSTODIAN_CLIENTS_CLIENT_CONFIG_H_
