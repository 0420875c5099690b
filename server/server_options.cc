#include "server/server_options.h"

#include <yaml-cpp/yaml.h>

#include <climits>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "rules/loader.h"

namespace custodian::server {
namespace {

// Room for the rest of a ValidateRuleset request around its source text.
constexpr size_t kRequestOverheadBytes = 64 << 10;

bool IsLoopbackIpv4(absl::string_view host) {
  std::vector<absl::string_view> octets = absl::StrSplit(host, '.');
  if (octets.size() != 4) return false;
  for (absl::string_view octet : octets) {
    if (octet.empty() || octet.size() > 3) return false;
    for (char c : octet) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
    }
    uint32_t value = 0;
    if (!absl::SimpleAtoi(octet, &value) || value > 255) return false;
  }
  return octets[0] == "127";
}

// Sets *loopback to whether the host of `address` is a loopback host.
// `name` is the option's name, for the messages.
absl::Status ValidateListenAddress(absl::string_view name,
                                   absl::string_view address, bool* loopback) {
  *loopback = true;
  absl::string_view host;
  absl::string_view port;
  if (absl::ConsumePrefix(&address, "[")) {
    size_t close = address.find("]:");
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, " \"[", address, "\" is not of the form [IPV6]:PORT"));
    }
    host = address.substr(0, close);
    port = address.substr(close + 2);
    *loopback = host == "::1";
  } else {
    size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, " \"", address, "\" is not of the form HOST:PORT"));
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    *loopback = host == "localhost" || IsLoopbackIpv4(host);
  }
  uint32_t port_number = 0;
  bool digits_only = !port.empty() && port.size() <= 5;
  for (char c : port) {
    digits_only =
        digits_only && absl::ascii_isdigit(static_cast<unsigned char>(c));
  }
  if (!digits_only || !absl::SimpleAtoi(port, &port_number) ||
      port_number > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " port \"", port, "\" is not a number from 0 to 65535"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePath(absl::string_view name, absl::string_view path) {
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(name, " is empty"));
  }
  if (path.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " contains a NUL character"));
  }
  return absl::OkStatus();
}

absl::Status ValidateDuration(absl::string_view name, absl::Duration value,
                              absl::Duration min, bool min_allowed) {
  if (value == absl::InfiniteDuration() || value < min ||
      (!min_allowed && value == min)) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " ", absl::FormatDuration(value), " must be ",
        min_allowed ? ">= " : "> ", absl::FormatDuration(min), " and finite"));
  }
  return absl::OkStatus();
}

// The keys a config file may set: the names of the Options fields.
constexpr absl::string_view kOptionNames[] = {"listen_address",
                                              "health_listen_address",
                                              "data_dir",
                                              "sync_writes",
                                              "ruleset_file",
                                              "roster_file",
                                              "max_request_bytes",
                                              "idempotency_window",
                                              "idempotency_sweep_interval",
                                              "recycling_sweep_interval",
                                              "appeal_sweep_interval",
                                              "shutdown_grace",
                                              "workers",
                                              "review_batch_size",
                                              "tls_cert_file",
                                              "tls_key_file",
                                              "tls_client_ca_file",
                                              "tls_reload_interval",
                                              "principals_file",
                                              "token_file",
                                              "jwt_hs256_secret_file",
                                              "jwt_rs256_public_key_file",
                                              "jwt_issuer",
                                              "jwt_audience",
                                              "jwt_leeway",
                                              "jwt_principal_claim",
                                              "jwt_roles_claim",
                                              "jwt_departments_claim"};

bool IsOptionName(absl::string_view name) {
  for (absl::string_view option : kOptionNames) {
    if (option == name) return true;
  }
  return false;
}

// "PATH:LINE:COL: " of a YAML mark (yaml-cpp counts from 0).
std::string Where(const std::string& path, const YAML::Mark& mark) {
  if (mark.line < 0 || mark.column < 0) return absl::StrCat(path, ": ");
  return absl::StrCat(path, ":", mark.line + 1, ":", mark.column + 1, ": ");
}

// Sets the option named `key` from the scalar `value`. Returns the problem,
// or "" when it was set. REQUIRES: IsOptionName(key).
std::string SetOption(absl::string_view key, const std::string& value,
                      Options* options) {
  std::string* text_option = nullptr;
  if (key == "listen_address") text_option = &options->listen_address;
  if (key == "health_listen_address") {
    text_option = &options->health_listen_address;
  }
  if (key == "data_dir") text_option = &options->data_dir;
  if (key == "ruleset_file") text_option = &options->ruleset_file;
  if (key == "roster_file") text_option = &options->roster_file;
  AuthOptions& auth = options->auth;
  if (key == "tls_cert_file") text_option = &auth.tls_cert_file;
  if (key == "tls_key_file") text_option = &auth.tls_key_file;
  if (key == "tls_client_ca_file") text_option = &auth.tls_client_ca_file;
  if (key == "principals_file") text_option = &auth.principals_file;
  if (key == "token_file") text_option = &auth.token_file;
  if (key == "jwt_hs256_secret_file") {
    text_option = &auth.jwt_hs256_secret_file;
  }
  if (key == "jwt_rs256_public_key_file") {
    text_option = &auth.jwt_rs256_public_key_file;
  }
  if (key == "jwt_issuer") text_option = &auth.jwt_issuer;
  if (key == "jwt_audience") text_option = &auth.jwt_audience;
  if (key == "jwt_principal_claim") text_option = &auth.jwt_principal_claim;
  if (key == "jwt_roles_claim") text_option = &auth.jwt_roles_claim;
  if (key == "jwt_departments_claim") {
    text_option = &auth.jwt_departments_claim;
  }
  if (text_option != nullptr) {
    *text_option = value;
    return "";
  }
  if (key == "sync_writes") {
    if (value == "true") {
      options->sync_writes = true;
    } else if (value == "false") {
      options->sync_writes = false;
    } else {
      return absl::StrCat("\"", value, "\" is not true or false");
    }
    return "";
  }
  if (key == "max_request_bytes") {
    uint64_t bytes = 0;
    bool digits = !value.empty();
    for (char c : value) {
      digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
    }
    if (!digits || !absl::SimpleAtoi(value, &bytes)) {
      return absl::StrCat("\"", value, "\" is not a number of bytes");
    }
    options->max_request_bytes = static_cast<size_t>(bytes);
    return "";
  }
  if (key == "workers" || key == "review_batch_size") {
    int number = 0;
    bool digits = !value.empty();
    for (char c : value) {
      digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
    }
    if (!digits || !absl::SimpleAtoi(value, &number)) {
      return absl::StrCat("\"", value, "\" is not a number of ",
                          key == "workers" ? "threads" : "customers");
    }
    (key == "workers" ? options->workers : options->review_batch_size) = number;
    return "";
  }
  absl::Duration* duration_option = nullptr;
  if (key == "idempotency_window") {
    duration_option = &options->idempotency_window;
  }
  if (key == "idempotency_sweep_interval") {
    duration_option = &options->idempotency_sweep_interval;
  }
  if (key == "recycling_sweep_interval") {
    duration_option = &options->recycling_sweep_interval;
  }
  if (key == "appeal_sweep_interval") {
    duration_option = &options->appeal_sweep_interval;
  }
  if (key == "shutdown_grace") duration_option = &options->shutdown_grace;
  if (key == "tls_reload_interval") {
    duration_option = &options->auth.tls_reload_interval;
  }
  if (key == "jwt_leeway") duration_option = &options->auth.jwt_leeway;
  if (duration_option != nullptr) {
    absl::StatusOr<absl::Duration> d = ParseDurationOption(key, value);
    if (!d.ok()) {
      // The message starts with the key, which the caller adds itself.
      absl::string_view message = d.status().message();
      absl::ConsumePrefix(&message, absl::StrCat(key, " "));
      return std::string(message);
    }
    *duration_option = *d;
    return "";
  }
  return "is not an option";
}

}  // namespace

absl::StatusOr<absl::Duration> ParseDurationOption(absl::string_view name,
                                                   absl::string_view text) {
  absl::Duration d;
  if (!absl::ParseDuration(std::string(text), &d) ||
      d == absl::InfiniteDuration() || d == -absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " \"", text,
                     "\" is not a duration such as 24h, 10m, 90s or 1h30m"));
  }
  return d;
}

absl::Status LoadOptionsFile(const std::string& path, Options* options) {
  absl::StatusOr<std::string> text = rules::ReadTextFile(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("config file: ", text.status().message()));
  }
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(path, e.mark), "syntax error: ", e.msg));
  }
  if (root.IsNull()) return absl::OkStatus();
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(path, root.Mark()),
                     "the config file must be a mapping of option names to "
                     "values"));
  }
  std::set<std::string> seen;
  for (const auto& entry : root) {
    const YAML::Node& key = entry.first;
    const YAML::Node& value = entry.second;
    if (!key.IsScalar()) {
      return absl::InvalidArgumentError(absl::StrCat(
          Where(path, key.Mark()), "option names must be plain text"));
    }
    const std::string& name = key.Scalar();
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          Where(path, key.Mark()), name, ": is set more than once"));
    }
    if (!IsOptionName(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          Where(path, key.Mark()), name, ": is not an option; options are ",
          absl::StrJoin(kOptionNames, ", ")));
    }
    if (!value.IsScalar()) {
      // An empty value has no useful position of its own: point at the key.
      return absl::InvalidArgumentError(absl::StrCat(
          Where(path, value.IsNull() ? key.Mark() : value.Mark()), name,
          ": must be a single value, not a list, a mapping or "
          "empty"));
    }
    std::string problem = SetOption(name, value.Scalar(), options);
    if (!problem.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(path, value.Mark()), name, ": ", problem));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateOptions(const Options& options) {
  bool loopback = true;
  if (absl::Status s = ValidateListenAddress("listen_address",
                                             options.listen_address, &loopback);
      !s.ok()) {
    return s;
  }
  if (!options.health_listen_address.empty()) {
    bool health_loopback = true;
    if (absl::Status s = ValidateListenAddress("health_listen_address",
                                               options.health_listen_address,
                                               &health_loopback);
        !s.ok()) {
      return s;
    }
    if (options.health_listen_address == options.listen_address &&
        !absl::EndsWith(options.listen_address, ":0")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "health_listen_address \"", options.health_listen_address,
          "\" is listen_address: the health port must be a port of its own"));
    }
  }
  if (absl::Status s = ValidateAuthOptions(options.auth); !s.ok()) return s;
  if (!loopback && !options.auth.configured()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen_address \"", options.listen_address,
        "\" is not a loopback address, and no authentication is configured: "
        "custodiand serves without authentication only on 127.0.0.0/8, "
        "localhost and [::1] (local development mode). Configure "
        "token_file, jwt_* or tls_client_ca_file with principals_file, and "
        "tls_cert_file/tls_key_file (README.md \"Security\")"));
  }
  if (!loopback && !options.auth.tls()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen_address \"", options.listen_address,
        "\" is not a loopback address: custodiand needs tls_cert_file and "
        "tls_key_file there, so that credentials never cross the network in "
        "plaintext"));
  }
  for (const auto& [name, path] :
       {std::pair<absl::string_view, absl::string_view>{"data_dir",
                                                        options.data_dir},
        {"ruleset_file", options.ruleset_file},
        {"roster_file", options.roster_file}}) {
    if (absl::Status s = ValidatePath(name, path); !s.ok()) return s;
  }
  constexpr size_t kMinRequestBytes =
      rules::kMaxFileBytes + kRequestOverheadBytes;
  if (options.max_request_bytes < kMinRequestBytes ||
      options.max_request_bytes > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_request_bytes ", options.max_request_bytes,
                     " is not in [", kMinRequestBytes, ", ", INT_MAX,
                     "]: requests must fit the largest accepted ruleset text"));
  }
  if (absl::Status s =
          ValidateDuration("idempotency_window", options.idempotency_window,
                           absl::ZeroDuration(), false);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateDuration("idempotency_sweep_interval",
                                        options.idempotency_sweep_interval,
                                        absl::ZeroDuration(), false);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateDuration("recycling_sweep_interval",
                                        options.recycling_sweep_interval,
                                        absl::ZeroDuration(), false);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateDuration("appeal_sweep_interval",
                                        options.appeal_sweep_interval,
                                        absl::ZeroDuration(), false);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateDuration(
          "shutdown_grace", options.shutdown_grace, absl::ZeroDuration(), true);
      !s.ok()) {
    return s;
  }
  if (options.workers < kMinWorkers || options.workers > kMaxWorkers) {
    return absl::InvalidArgumentError(absl::StrCat("workers ", options.workers,
                                                   " is not in [", kMinWorkers,
                                                   ", ", kMaxWorkers, "]"));
  }
  if (options.review_batch_size < 1 || options.review_batch_size > 100000) {
    return absl::InvalidArgumentError(absl::StrCat("review_batch_size ",
                                                   options.review_batch_size,
                                                   " is not in [1, 100000]"));
  }
  if (options.clock == nullptr) {
    return absl::InvalidArgumentError("clock is null");
  }
  return absl::OkStatus();
}

}  // namespace custodian::server
