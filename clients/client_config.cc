#include "clients/client_config.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace custodian::clients {
namespace {

std::string ExpandHome(const std::string& path, const EnvLookup& env) {
  if (!absl::StartsWith(path, "~/")) return path;
  const char* home = env("HOME");
  return absl::StrCat(home == nullptr ? "" : home, path.substr(1));
}

absl::StatusOr<std::string> ReadFile(absl::string_view what,
                                     const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(what, ": cannot read ", path));
  }
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Context {
  std::string server, token, token_file, ca, cert, key;
  bool tls = false;
};

// Reads context `name` (or the current one when empty) of the config file
// at `path`. A missing default file (`required` false) is no context.
absl::StatusOr<std::optional<Context>> ReadContext(const std::string& path,
                                                   bool required,
                                                   const std::string& name) {
  if (!required && !std::filesystem::exists(path)) {
    if (!name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--context ", name, ": there is no config file (", path, ")"));
    }
    return std::optional<Context>();
  }
  absl::StatusOr<std::string> text = ReadFile("config file", path);
  if (!text.ok()) return text.status();
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  }
  if (root.IsNull()) return std::optional<Context>();
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": must be a mapping with `contexts`"));
  }
  std::string wanted = name;
  if (wanted.empty() && root["current_context"]) {
    wanted = root["current_context"].as<std::string>("");
  }
  if (wanted.empty()) return std::optional<Context>();
  const YAML::Node contexts = root["contexts"];
  if (contexts && contexts.IsSequence()) {
    for (const YAML::Node& c : contexts) {
      if (!c.IsMap() || c["name"].as<std::string>("") != wanted) continue;
      Context out;
      for (const auto& [key, field] :
           {std::pair<const char*, std::string*>{"server", &out.server},
            {"token", &out.token},
            {"token_file", &out.token_file},
            {"ca", &out.ca},
            {"cert", &out.cert},
            {"key", &out.key}}) {
        if (c[key]) *field = c[key].as<std::string>("");
      }
      if (c["tls"]) out.tls = c["tls"].as<bool>(false);
      for (const auto& entry : c) {
        const std::string k = entry.first.as<std::string>("");
        if (k != "name" && k != "server" && k != "token" && k != "token_file" &&
            k != "ca" && k != "cert" && k != "key" && k != "tls") {
          return absl::InvalidArgumentError(absl::StrCat(
              path, ": context ", wanted, ": unknown key ", k,
              " (keys: name, server, token, token_file, ca, cert, key, tls)"));
        }
      }
      return std::optional<Context>(out);
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(name.empty() ? "current_context " : "--context ", wanted,
                   ": no such context in ", path));
}

}  // namespace

absl::StatusOr<ResolvedConnection> ResolveConnection(
    const ConnectionFlags& flags, const EnvLookup& env) {
  std::string config = flags.config;
  bool required = !config.empty();
  if (config.empty()) {
    const char* from_env = env(kConfigEnvVar);
    if (from_env != nullptr && from_env[0] != '\0') {
      config = from_env;
      required = true;
    }
  }
  if (config.empty()) config = "~/.config/custodian/config.yaml";
  absl::StatusOr<std::optional<Context>> context =
      ReadContext(ExpandHome(config, env), required, flags.context);
  if (!context.ok()) return context.status();
  const Context c = context->value_or(Context());

  ResolvedConnection out;
  out.context =
      context->has_value()
          ? (flags.context.empty() ? std::string("(current)") : flags.context)
          : "";
  const char* env_server = env(kServerEnvVar);
  out.address = ResolveServerAddress(
      flags.server, env_server != nullptr && env_server[0] != '\0'
                        ? env_server
                        : (c.server.empty() ? nullptr : c.server.c_str()));

  if (!flags.token.empty() && !flags.token_file.empty()) {
    return absl::InvalidArgumentError(
        "--token and --token-file: give one of them");
  }
  const char* env_token = env(kTokenEnvVar);
  std::string token_file;
  if (!flags.token.empty()) {
    out.token = flags.token;
  } else if (!flags.token_file.empty()) {
    token_file = flags.token_file;
  } else if (env_token != nullptr && env_token[0] != '\0') {
    out.token = env_token;
  } else if (!c.token.empty()) {
    out.token = c.token;
  } else if (!c.token_file.empty()) {
    token_file = c.token_file;
  }
  if (!token_file.empty()) {
    absl::StatusOr<std::string> text =
        ReadFile("token file", ExpandHome(token_file, env));
    if (!text.ok()) return text.status();
    out.token = std::string(absl::StripAsciiWhitespace(*text));
    if (out.token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("token file ", token_file, " is empty"));
    }
  }

  const std::string ca = flags.ca.empty() ? c.ca : flags.ca;
  const std::string cert = flags.cert.empty() ? c.cert : flags.cert;
  const std::string key = flags.key.empty() ? c.key : flags.key;
  if (cert.empty() != key.empty()) {
    return absl::InvalidArgumentError(
        "--cert and --key: a client certificate needs both");
  }
  for (const auto& [what, path, pem] :
       {std::tuple<const char*, const std::string&, std::string*>{"--ca", ca,
                                                                  &out.ca_pem},
        {"--cert", cert, &out.cert_pem},
        {"--key", key, &out.key_pem}}) {
    if (path.empty()) continue;
    absl::StatusOr<std::string> text = ReadFile(what, ExpandHome(path, env));
    if (!text.ok()) return text.status();
    *pem = *std::move(text);
  }
  out.tls = flags.tls || c.tls || !ca.empty() || !cert.empty();
  return out;
}

ConnectionOptions ToConnectionOptions(const ResolvedConnection& resolved,
                                      absl::Duration timeout) {
  ConnectionOptions options;
  options.address = resolved.address;
  options.timeout = timeout;
  options.token = resolved.token;
  if (resolved.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = resolved.ca_pem;
    ssl.pem_private_key = resolved.key_pem;
    ssl.pem_cert_chain = resolved.cert_pem;
    options.credentials = grpc::SslCredentials(ssl);
  }
  return options;
}

}  // namespace custodian::clients
