#include "server/server_options.h"

#include <climits>
#include <cstdint>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
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

absl::Status ValidateListenAddress(absl::string_view address) {
  absl::string_view host;
  absl::string_view port;
  if (absl::ConsumePrefix(&address, "[")) {
    size_t close = address.find("]:");
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "listen_address \"[", address, "\" is not of the form [IPV6]:PORT"));
    }
    host = address.substr(0, close);
    port = address.substr(close + 2);
    if (host != "::1") {
      return absl::InvalidArgumentError(absl::StrCat(
          "listen_address \"[", address,
          "\" is not a loopback address; only 127.0.0.0/8, localhost and "
          "[::1] are allowed until authentication is built"));
    }
  } else {
    size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "listen_address \"", address, "\" is not of the form HOST:PORT"));
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host != "localhost" && !IsLoopbackIpv4(host)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "listen_address \"", address,
          "\" is not a loopback address; only 127.0.0.0/8, localhost and "
          "[::1] are allowed until authentication is built"));
    }
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
        "listen_address port \"", port, "\" is not a number from 0 to 65535"));
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

}  // namespace

absl::Status ValidateOptions(const Options& options) {
  if (absl::Status s = ValidateListenAddress(options.listen_address); !s.ok()) {
    return s;
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
  return absl::OkStatus();
}

}  // namespace custodian::server
