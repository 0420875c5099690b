#include "server/authenticator.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "rules/loader.h"

namespace custodian::server {

// What Reload reads; immutable once built.
struct Authenticator::Files {
  struct TokenEntry {
    std::string sha256;  // 32 raw bytes
    Principal principal;
  };
  std::vector<TokenEntry> tokens;
  std::map<std::string, Principal> subjects;
  std::string hs256_secret;
  std::string rs256_public_key_pem;
};

namespace {

constexpr size_t kMinHs256SecretBytes = 32;
// Larger bearer values are refused before hashing or parsing.
constexpr size_t kMaxBearerBytes = 16 << 10;

absl::Status Annotate(absl::string_view option, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat(option, ": ", status.message()));
}

// Reads `roles` and `departments` of a principal entry at `where`.
absl::Status ReadPrincipalFields(const YAML::Node& entry,
                                 const std::string& where,
                                 Principal* principal) {
  const YAML::Node id = entry["principal"];
  if (!id || !id.IsScalar() || id.Scalar().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".principal: is required (non-empty text)"));
  }
  principal->id = id.Scalar();
  const YAML::Node roles = entry["roles"];
  if (!roles || !roles.IsSequence() || roles.size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".roles: is required (a list of roles)"));
  }
  for (size_t i = 0; i < roles.size(); ++i) {
    std::optional<Role> role =
        roles[i].IsScalar() ? ParseRole(roles[i].Scalar()) : std::nullopt;
    if (!role.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ".roles[", i,
          "]: is not one of system, rep, manager, arbiter, admin, auditor"));
    }
    principal->roles |= static_cast<RoleSet>(*role);
  }
  const YAML::Node departments = entry["departments"];
  if (departments) {
    if (!departments.IsSequence()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".departments: must be a list"));
    }
    for (size_t i = 0; i < departments.size(); ++i) {
      if (!departments[i].IsScalar() || departments[i].Scalar().empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ".departments[", i, "]: must be a department id or \"*\""));
      }
      principal->departments.insert(departments[i].Scalar());
    }
  }
  return absl::OkStatus();
}

// Reads a YAML file whose top level is {`list_key`: [entries]} and calls
// `entry_fn(entry, "list_key[i]")` for each entry.
template <typename Fn>
absl::Status ReadEntries(const std::string& path, absl::string_view list_key,
                         Fn entry_fn) {
  ASSIGN_OR_RETURN(std::string text, rules::ReadTextFile(path));
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  }
  const YAML::Node list = root.IsMap() ? root[std::string(list_key)] : root;
  if (!root.IsMap() || !list || !list.IsSequence()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": must be a mapping with a list `", list_key, "`"));
  }
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = absl::StrCat(path, ": ", list_key, "[", i, "]");
    if (!list[i].IsMap()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": must be a mapping"));
    }
    RETURN_IF_ERROR(entry_fn(list[i], where));
  }
  return absl::OkStatus();
}

bool IsLowerHex(absl::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) &&
        (c < 'a' || c > 'f')) {
      return false;
    }
  }
  return true;
}

std::string Sha256(absl::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

absl::Status CheckPublicKeyPem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return absl::InternalError("BIO_new_mem_buf failed");
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) {
    return absl::InvalidArgumentError("is not a PEM public key");
  }
  const bool rsa = EVP_PKEY_base_id(key) == EVP_PKEY_RSA;
  EVP_PKEY_free(key);
  if (!rsa) return absl::InvalidArgumentError("is not an RSA public key");
  return absl::OkStatus();
}

// Checks that `path` (option `option`) is a readable PEM certificate
// (`certificate`) or private key, so that a typo stops the start instead of
// every handshake.
absl::Status CheckPemFile(absl::string_view option, const std::string& path,
                          bool certificate) {
  absl::StatusOr<std::string> pem = rules::ReadTextFile(path, 1 << 20);
  if (!pem.ok()) return Annotate(option, pem.status());
  BIO* bio = BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size()));
  if (bio == nullptr) return absl::InternalError("BIO_new_mem_buf failed");
  bool ok = false;
  if (certificate) {
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    ok = cert != nullptr;
    X509_free(cert);
  } else {
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    ok = key != nullptr;
    EVP_PKEY_free(key);
  }
  BIO_free(bio);
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(option, ": ", path, " is not a PEM ",
                     certificate ? "certificate" : "private key"));
  }
  return absl::OkStatus();
}

absl::Status Unauthenticated(absl::string_view why) {
  return absl::UnauthenticatedError(why);
}

// The JSON value of claim `name`, or null when absent.
nlohmann::json ClaimJson(jwt_t* jwt, const std::string& name) {
  char* text = jwt_get_grants_json(jwt, name.c_str());
  if (text == nullptr) return nullptr;
  nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
  free(text);
  return value.is_discarded() ? nlohmann::json() : value;
}

struct JwtFree {
  void operator()(jwt_t* jwt) const { jwt_free(jwt); }
};

}  // namespace

std::string TokenSha256Hex(absl::string_view token) {
  return absl::BytesToHexString(Sha256(token));
}

absl::Status ValidateAuthOptions(const AuthOptions& o) {
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "tls_cert_file and tls_key_file must be given together");
  }
  if (!o.tls_client_ca_file.empty() && !o.tls()) {
    return absl::InvalidArgumentError(
        "tls_client_ca_file needs tls_cert_file and tls_key_file (mutual TLS "
        "is TLS)");
  }
  if (o.tls_client_ca_file.empty() != o.principals_file.empty()) {
    return absl::InvalidArgumentError(
        "tls_client_ca_file and principals_file must be given together (the "
        "principals file maps client certificate subjects to principals)");
  }
  if (o.tls_reload_interval < absl::Seconds(1) ||
      o.tls_reload_interval > absl::Hours(24)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tls_reload_interval ", absl::FormatDuration(o.tls_reload_interval),
        " is not in [1s, 24h]"));
  }
  if (o.jwt_enabled()) {
    if (o.jwt_issuer.empty()) {
      return absl::InvalidArgumentError(
          "jwt_issuer is required when a JWT key file is given");
    }
    if (o.jwt_audience.empty()) {
      return absl::InvalidArgumentError(
          "jwt_audience is required when a JWT key file is given");
    }
  }
  if (o.jwt_leeway < absl::ZeroDuration() || o.jwt_leeway > absl::Minutes(5)) {
    return absl::InvalidArgumentError(
        absl::StrCat("jwt_leeway ", absl::FormatDuration(o.jwt_leeway),
                     " is not in [0s, 5m]"));
  }
  for (const auto& [name, claim] :
       {std::pair<absl::string_view, const std::string&>{"jwt_principal_claim",
                                                         o.jwt_principal_claim},
        {"jwt_roles_claim", o.jwt_roles_claim},
        {"jwt_departments_claim", o.jwt_departments_claim}}) {
    if (claim.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(name, " is empty"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Create(
    const AuthOptions& options, Clock* clock) {
  RETURN_IF_ERROR(ValidateAuthOptions(options));
  if (clock == nullptr) return absl::InvalidArgumentError("clock is null");
  if (options.tls()) {
    RETURN_IF_ERROR(CheckPemFile("tls_cert_file", options.tls_cert_file, true));
    RETURN_IF_ERROR(CheckPemFile("tls_key_file", options.tls_key_file, false));
  }
  if (!options.tls_client_ca_file.empty()) {
    RETURN_IF_ERROR(
        CheckPemFile("tls_client_ca_file", options.tls_client_ca_file, true));
  }
  std::unique_ptr<Authenticator> authenticator(
      new Authenticator(options, clock));
  RETURN_IF_ERROR(authenticator->Reload());
  return authenticator;
}

absl::StatusOr<std::shared_ptr<const Authenticator::Files>>
Authenticator::ReadFiles() const {
  auto files = std::make_shared<Files>();
  if (!options_.token_file.empty()) {
    std::set<std::string> seen;
    RETURN_IF_ERROR(Annotate(
        "token_file",
        ReadEntries(options_.token_file, "tokens",
                    [&](const YAML::Node& entry,
                        const std::string& where) -> absl::Status {
                      const YAML::Node hash = entry["sha256"];
                      if (!hash || !hash.IsScalar() ||
                          hash.Scalar().size() != 64 ||
                          !IsLowerHex(hash.Scalar())) {
                        return absl::InvalidArgumentError(absl::StrCat(
                            where,
                            ".sha256: must be the token's SHA-256 as 64 "
                            "lower-case hex digits (never the token itself)"));
                      }
                      if (!seen.insert(hash.Scalar()).second) {
                        return absl::InvalidArgumentError(absl::StrCat(
                            where, ".sha256: is listed more than once"));
                      }
                      Files::TokenEntry token;
                      token.sha256 = absl::HexStringToBytes(hash.Scalar());
                      token.principal.authenticated_by = "token";
                      RETURN_IF_ERROR(
                          ReadPrincipalFields(entry, where, &token.principal));
                      files->tokens.push_back(std::move(token));
                      return absl::OkStatus();
                    })));
  }
  if (!options_.principals_file.empty()) {
    RETURN_IF_ERROR(Annotate(
        "principals_file",
        ReadEntries(
            options_.principals_file, "principals",
            [&](const YAML::Node& entry,
                const std::string& where) -> absl::Status {
              const YAML::Node subject = entry["subject"];
              if (!subject || !subject.IsScalar() || subject.Scalar().empty()) {
                return absl::InvalidArgumentError(absl::StrCat(
                    where,
                    ".subject: is required (a certificate's common name or "
                    "subject alternative name)"));
              }
              Principal principal;
              principal.authenticated_by = "mtls";
              RETURN_IF_ERROR(ReadPrincipalFields(entry, where, &principal));
              if (!files->subjects.emplace(subject.Scalar(), principal)
                       .second) {
                return absl::InvalidArgumentError(
                    absl::StrCat(where, ".subject: is listed more than once"));
              }
              return absl::OkStatus();
            })));
  }
  if (!options_.jwt_hs256_secret_file.empty()) {
    absl::StatusOr<std::string> secret =
        rules::ReadTextFile(options_.jwt_hs256_secret_file, 64 << 10);
    RETURN_IF_ERROR(Annotate("jwt_hs256_secret_file", secret.status()));
    std::string s = *std::move(secret);
    if (absl::EndsWith(s, "\n")) s.pop_back();
    if (absl::EndsWith(s, "\r")) s.pop_back();
    if (s.size() < kMinHs256SecretBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "jwt_hs256_secret_file: ", options_.jwt_hs256_secret_file, " holds ",
          s.size(), " bytes; an HS256 secret needs at least ",
          kMinHs256SecretBytes));
    }
    files->hs256_secret = std::move(s);
  }
  if (!options_.jwt_rs256_public_key_file.empty()) {
    absl::StatusOr<std::string> pem =
        rules::ReadTextFile(options_.jwt_rs256_public_key_file, 64 << 10);
    RETURN_IF_ERROR(Annotate("jwt_rs256_public_key_file", pem.status()));
    if (absl::Status s = CheckPublicKeyPem(*pem); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "jwt_rs256_public_key_file: ", options_.jwt_rs256_public_key_file,
          " ", s.message()));
    }
    files->rs256_public_key_pem = *std::move(pem);
  }
  return std::shared_ptr<const Files>(std::move(files));
}

absl::Status Authenticator::Reload() {
  ASSIGN_OR_RETURN(std::shared_ptr<const Files> files, ReadFiles());
  absl::MutexLock lock(&mu_);
  files_ = std::move(files);
  return absl::OkStatus();
}

absl::StatusOr<Principal> Authenticator::Authenticate(
    const grpc::ServerContextBase& context) const {
  if (local_dev()) return LocalDevPrincipal();
  std::string authorization;
  bool has_authorization = false;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it != metadata.end()) {
    if (metadata.count("authorization") > 1) {
      return Unauthenticated("more than one authorization header");
    }
    authorization.assign(it->second.data(), it->second.size());
    has_authorization = true;
  }
  std::vector<std::string> subjects;
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const char* property :
         {"x509_subject_alternative_name", "x509_common_name"}) {
      for (const grpc::string_ref& value : auth->FindPropertyValues(property)) {
        subjects.emplace_back(value.data(), value.size());
      }
    }
  }
  return AuthenticateParts(has_authorization ? &authorization : nullptr,
                           subjects);
}

absl::StatusOr<Principal> Authenticator::AuthenticateParts(
    const std::string* authorization,
    const std::vector<std::string>& peer_subjects) const {
  if (local_dev()) return LocalDevPrincipal();
  std::shared_ptr<const Files> files;
  {
    absl::MutexLock lock(&mu_);
    files = files_;
  }
  if (authorization != nullptr) {
    absl::string_view value = *authorization;
    if (value.size() < 7 ||
        !absl::EqualsIgnoreCase(value.substr(0, 7), "Bearer ")) {
      return Unauthenticated(
          "the authorization header is not \"Bearer TOKEN\"");
    }
    value.remove_prefix(7);
    if (value.empty() || value.size() > kMaxBearerBytes) {
      return Unauthenticated("the bearer token is empty or too long");
    }
    const std::string token(value);
    if (!files->tokens.empty()) {
      // Every entry is compared, in constant time, whatever matches.
      const std::string hash = Sha256(token);
      const Files::TokenEntry* match = nullptr;
      for (const Files::TokenEntry& entry : files->tokens) {
        if (CRYPTO_memcmp(entry.sha256.data(), hash.data(), hash.size()) == 0) {
          match = &entry;
        }
      }
      if (match != nullptr) return match->principal;
    }
    if (options_.jwt_enabled() &&
        std::count(token.begin(), token.end(), '.') == 2) {
      return VerifyJwt(*files, token);
    }
    return Unauthenticated("the bearer token is not a known token");
  }
  for (const std::string& subject : peer_subjects) {
    auto found = files->subjects.find(subject);
    if (found != files->subjects.end()) return found->second;
  }
  if (!peer_subjects.empty()) {
    return Unauthenticated(
        absl::StrCat("the client certificate (", peer_subjects.back(),
                     ") maps to no principal in the principals file"));
  }
  return Unauthenticated(
      "no credentials: send \"authorization: Bearer TOKEN\" or a client "
      "certificate");
}

absl::StatusOr<Principal> Authenticator::VerifyJwt(
    const Files& files, const std::string& token) const {
  // The header's alg decides the key; the key decides the algorithm libjwt
  // verifies with, and the decoded alg is checked again below, so a token
  // can never pick "none" or verify an HMAC with the RSA public key.
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  std::string header_json;
  if (parts.size() != 3 ||
      !absl::WebSafeBase64Unescape(parts[0], &header_json)) {
    return Unauthenticated("the JWT is malformed");
  }
  nlohmann::json header = nlohmann::json::parse(header_json, nullptr, false);
  if (header.is_discarded() || !header.is_object() || !header.contains("alg") ||
      !header["alg"].is_string()) {
    return Unauthenticated("the JWT header is malformed");
  }
  const std::string alg = header["alg"].get<std::string>();
  const std::string* key = nullptr;
  jwt_alg_t expected = JWT_ALG_INVAL;
  if (alg == "HS256" && !files.hs256_secret.empty()) {
    key = &files.hs256_secret;
    expected = JWT_ALG_HS256;
  } else if (alg == "RS256" && !files.rs256_public_key_pem.empty()) {
    key = &files.rs256_public_key_pem;
    expected = JWT_ALG_RS256;
  } else {
    return Unauthenticated(
        absl::StrCat("the JWT's alg ", alg.substr(0, 16), " is not accepted"));
  }
  jwt_t* raw = nullptr;
  if (jwt_decode(&raw, token.c_str(),
                 reinterpret_cast<const unsigned char*>(key->data()),
                 static_cast<int>(key->size())) != 0 ||
      raw == nullptr) {
    if (raw != nullptr) jwt_free(raw);
    return Unauthenticated("the JWT's signature does not verify");
  }
  std::unique_ptr<jwt_t, JwtFree> jwt(raw);
  if (jwt_get_alg(jwt.get()) != expected) {
    return Unauthenticated("the JWT's signature does not verify");
  }

  const char* iss = jwt_get_grant(jwt.get(), "iss");
  if (iss == nullptr || options_.jwt_issuer != iss) {
    return Unauthenticated("the JWT's issuer (iss) is not accepted");
  }
  nlohmann::json aud = ClaimJson(jwt.get(), "aud");
  bool audience_ok =
      aud.is_string() && aud.get<std::string>() == options_.jwt_audience;
  if (aud.is_array()) {
    for (const nlohmann::json& a : aud) {
      if (a.is_string() && a.get<std::string>() == options_.jwt_audience) {
        audience_ok = true;
      }
    }
  }
  if (!audience_ok) {
    return Unauthenticated("the JWT's audience (aud) is not this server");
  }
  const absl::Time now = clock_->Now();
  nlohmann::json exp = ClaimJson(jwt.get(), "exp");
  if (!exp.is_number()) {
    return Unauthenticated("the JWT has no expiry (exp)");
  }
  if (now > absl::FromUnixSeconds(exp.get<int64_t>()) + options_.jwt_leeway) {
    return Unauthenticated("the JWT has expired");
  }
  nlohmann::json nbf = ClaimJson(jwt.get(), "nbf");
  if (!nbf.is_null()) {
    if (!nbf.is_number()) return Unauthenticated("the JWT's nbf is malformed");
    if (now + options_.jwt_leeway < absl::FromUnixSeconds(nbf.get<int64_t>())) {
      return Unauthenticated("the JWT is not valid yet (nbf)");
    }
  }
  Principal principal;
  principal.authenticated_by = "jwt";
  nlohmann::json id = ClaimJson(jwt.get(), options_.jwt_principal_claim);
  if (!id.is_string() || id.get<std::string>().empty()) {
    return Unauthenticated(absl::StrCat("the JWT has no ",
                                        options_.jwt_principal_claim,
                                        " claim naming the principal"));
  }
  principal.id = id.get<std::string>();
  nlohmann::json roles = ClaimJson(jwt.get(), options_.jwt_roles_claim);
  if (roles.is_array()) {
    for (const nlohmann::json& r : roles) {
      if (!r.is_string()) continue;
      if (std::optional<Role> role = ParseRole(r.get<std::string>())) {
        principal.roles |= static_cast<RoleSet>(*role);
      }
    }
  }
  nlohmann::json departments =
      ClaimJson(jwt.get(), options_.jwt_departments_claim);
  if (departments.is_array()) {
    for (const nlohmann::json& d : departments) {
      if (d.is_string() && !d.get<std::string>().empty()) {
        principal.departments.insert(d.get<std::string>());
      }
    }
  }
  return principal;
}

std::shared_ptr<grpc::ServerCredentials> Authenticator::ServerCredentials()
    const {
  if (!options_.tls()) return grpc::InsecureServerCredentials();
  const unsigned int refresh = static_cast<unsigned int>(
      absl::ToInt64Seconds(options_.tls_reload_interval));
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider;
  if (options_.tls_client_ca_file.empty()) {
    provider =
        std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
            options_.tls_key_file, options_.tls_cert_file, refresh);
  } else {
    provider =
        std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
            options_.tls_key_file, options_.tls_cert_file,
            options_.tls_client_ca_file, refresh);
  }
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (options_.tls_client_ca_file.empty()) {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    tls.watch_root_certs();
    const bool bearer_too =
        !options_.token_file.empty() || options_.jwt_enabled();
    tls.set_cert_request_type(
        bearer_too
            ? GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY
            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(tls);
}

}  // namespace custodian::server
