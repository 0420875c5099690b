#include "clients/connection.h"

#include <cmath>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace custodian::clients {

std::string ResolveServerAddress(absl::string_view flag, const char* env) {
  if (!flag.empty()) return std::string(flag);
  if (env != nullptr && env[0] != '\0') return std::string(env);
  return std::string(kDefaultServer);
}

std::optional<absl::Duration> ParseTimeout(absl::string_view text) {
  absl::Duration duration;
  double seconds = 0;
  if (absl::SimpleAtod(text, &seconds)) {
    if (!std::isfinite(seconds)) return std::nullopt;
    duration = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(text, &duration)) {
    return std::nullopt;
  }
  if (duration <= absl::ZeroDuration() ||
      duration == absl::InfiniteDuration()) {
    return std::nullopt;
  }
  return duration;
}

std::unique_ptr<Connection> Connection::Open(ConnectionOptions options) {
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      options.credentials != nullptr ? options.credentials
                                     : grpc::InsecureChannelCredentials();
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(options.address, credentials);
  return std::make_unique<Connection>(
      std::move(channel), std::move(options.address), options.timeout,
      std::move(options.token));
}

Connection::Connection(std::shared_ptr<grpc::Channel> channel,
                       std::string address, absl::Duration timeout,
                       std::string token)
    : channel_(std::move(channel)),
      address_(std::move(address)),
      timeout_(timeout),
      token_(std::move(token)) {}

void Connection::PrepareContext(grpc::ClientContext* context) const {
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  AddCredentials(context);
}

void Connection::AddCredentials(grpc::ClientContext* context) const {
  if (!token_.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", token_));
  }
}

bool Connection::IsConnected() const {
  return channel_->GetState(/*try_to_connect=*/false) == GRPC_CHANNEL_READY;
}

}  // namespace custodian::clients
