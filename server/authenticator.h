// Authentication: who is calling. The Authenticator turns a call's
// credentials into a Principal (principal.h), from one of
//   - a bearer token in the `authorization` metadata ("Bearer TOKEN"):
//       * a static token listed, as its SHA-256 hash, in the token file
//         (compared in constant time; the token itself is never stored);
//       * a JWT signed HS256 (shared secret file) or RS256 (PEM public key
//         file), checked for alg, signature, issuer, audience, exp and nbf
//         (with a leeway); its principal, roles and departments come from
//         configurable claims;
//   - a client certificate verified by the TLS layer against the client CA
//     (mutual TLS), whose subject (a subject alternative name, else the
//     common name) is mapped to a principal by the principals file.
// When none of these is configured the server is in local development mode:
// every call is LocalDevPrincipal() (loopback only; server_options.h).
//
// The TLS server certificate, key and client CA are watched by gRPC's
// FileWatcherCertificateProvider and reloaded without a restart. The token
// file, the principals file and the JWT keys are read at Create and again on
// Reload() (custodiand calls it on SIGHUP).
//
// Thread-safe: Authenticate and Reload may be called concurrently.
#ifndef CUSTODIAN_SERVER_AUTHENTICATOR_H_
#define CUSTODIAN_SERVER_AUTHENTICATOR_H_

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "server/principal.h"

namespace custodian::server {

// The authentication part of server Options (server_options.h), each field
// with its config key and flag in README.md "Security".
struct AuthOptions {
  // TLS: the server's certificate chain and private key (PEM). Both or
  // neither. Without them the server speaks plaintext.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Mutual TLS: the CA (PEM) client certificates must chain to. Requires the
  // server certificate and key and principals_file. When bearer tokens are
  // configured too, a client certificate is optional (verified if sent);
  // otherwise it is required.
  std::string tls_client_ca_file;
  // How often the TLS files are checked for changes. 1s-24h. Default 60s.
  absl::Duration tls_reload_interval = absl::Seconds(60);
  // YAML: `principals: [{subject, principal, roles, departments}]`; maps a
  // client certificate's subject to a principal. Required with
  // tls_client_ca_file.
  std::string principals_file;

  // YAML: `tokens: [{sha256, principal, roles, departments}]`, sha256 being
  // the lower-case hex SHA-256 of the token.
  std::string token_file;

  // JWT: the HS256 shared secret (the file's bytes, a trailing newline
  // removed; at least 32 bytes) and/or the RS256 public key (PEM). Either
  // enables JWTs, and then jwt_issuer and jwt_audience are required.
  std::string jwt_hs256_secret_file;
  std::string jwt_rs256_public_key_file;
  // The required `iss`, and the `aud` (a string or a list holding it).
  std::string jwt_issuer;
  std::string jwt_audience;
  // Clock skew allowed for exp and nbf. 0-5m. Default 30s.
  absl::Duration jwt_leeway = absl::Seconds(30);
  // The claims holding the principal id (a string), its roles and its
  // departments (lists of strings). Role names other than the six are
  // ignored.
  std::string jwt_principal_claim = "sub";
  std::string jwt_roles_claim = "roles";
  std::string jwt_departments_claim = "departments";

  // Whether the server uses TLS.
  bool tls() const { return !tls_cert_file.empty(); }
  // Whether any authentication is configured (else local development mode).
  bool configured() const {
    return !token_file.empty() || !tls_client_ca_file.empty() || jwt_enabled();
  }
  bool jwt_enabled() const {
    return !jwt_hs256_secret_file.empty() || !jwt_rs256_public_key_file.empty();
  }
};

// Returns OK or INVALID_ARGUMENT naming the first bad option (syntax and
// combinations only; files are read by Authenticator::Create).
absl::Status ValidateAuthOptions(const AuthOptions& options);

// Lower-case hex SHA-256 of `token`, as the token file stores it.
std::string TokenSha256Hex(absl::string_view token);

class Authenticator {
 public:
  // Checks that the TLS files are readable PEM (they are then watched by
  // gRPC), and reads the token file, the principals file and the JWT keys.
  // Returns
  // INVALID_ARGUMENT from ValidateAuthOptions or naming the option and
  // problem of a file that does not parse ("token_file: PATH: tokens[1].
  // sha256: ..."); NOT_FOUND / PERMISSION_DENIED naming the option for a
  // file that cannot be read. `clock` (not null, outlives this) is the time
  // JWTs are checked against.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(
      const AuthOptions& options, Clock* clock);

  // Re-reads the token file, the principals file and the JWT keys. On an
  // error (as Create's) keeps everything as it was and returns the error.
  absl::Status Reload() ABSL_LOCKS_EXCLUDED(mu_);

  // The principal of the call: LocalDevPrincipal() in local development
  // mode; else from its bearer token or client certificate (see the top).
  // UNAUTHENTICATED when it carries no usable credential, a malformed
  // authorization header, an unknown static token, a JWT that fails any
  // check (alg, signature, issuer, audience, exp, nbf, principal claim), or
  // a client certificate whose subject is not in the principals file. The
  // message says which, and never contains the token.
  absl::StatusOr<Principal> Authenticate(
      const grpc::ServerContextBase& context) const ABSL_LOCKS_EXCLUDED(mu_);

  // The same from raw parts: the `authorization` metadata value (nullptr if
  // absent) and the peer's verified certificate subjects (SANs then CN;
  // empty without a verified client certificate).
  absl::StatusOr<Principal> AuthenticateParts(
      const std::string* authorization,
      const std::vector<std::string>& peer_subjects) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Credentials for the listening port: TLS over the watched files (client
  // certificates requested or required as AuthOptions says), else plaintext.
  std::shared_ptr<grpc::ServerCredentials> ServerCredentials() const;

  bool local_dev() const { return !options_.configured(); }
  const AuthOptions& options() const { return options_; }

 private:
  struct Files;  // what Reload reads

  Authenticator(const AuthOptions& options, Clock* clock)
      : options_(options), clock_(clock) {}
  absl::StatusOr<std::shared_ptr<const Files>> ReadFiles() const;
  absl::StatusOr<Principal> VerifyJwt(const Files& files,
                                      const std::string& token) const;

  const AuthOptions options_;
  Clock* const clock_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const Files> files_ ABSL_GUARDED_BY(mu_);
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_AUTHENTICATOR_H_
