#include "server/server_options.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custodian::server {
namespace {

using ::testing::StartsWith;

absl::Status WithListen(const std::string& address) {
  Options options;
  options.listen_address = address;
  return ValidateOptions(options);
}

TEST(ServerOptionsTest, DefaultsAreValid) {
  EXPECT_TRUE(ValidateOptions(Options()).ok());
}

TEST(ServerOptionsTest, AcceptsLoopbackAddresses) {
  for (const char* address :
       {"127.0.0.1:50051", "127.0.0.1:0", "127.1.2.3:65535", "localhost:80",
        "[::1]:50051"}) {
    EXPECT_TRUE(WithListen(address).ok()) << address;
  }
}

TEST(ServerOptionsTest, RefusesNonLoopbackAddresses) {
  for (const char* address :
       {"0.0.0.0:50051", "10.0.0.1:50051", "[::]:50051", "example.com:50051",
        "128.0.0.1:1", "127.0.0.256:1", "127.0.0:1", "[::2]:1"}) {
    absl::Status status = WithListen(address);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << address;
    EXPECT_THAT(std::string(status.message()), StartsWith("listen_address \""))
        << address;
  }
}

TEST(ServerOptionsTest, RefusesMalformedAddresses) {
  for (const char* address :
       {"", "127.0.0.1", ":50051", "127.0.0.1:", "127.0.0.1:65536",
        "127.0.0.1:-1", "127.0.0.1:5x", "[::1]50051", "localhost:123456"}) {
    absl::Status status = WithListen(address);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << address;
    EXPECT_THAT(std::string(status.message()), StartsWith("listen_address"))
        << address;
  }
}

TEST(ServerOptionsTest, RefusesEmptyPathsNamingTheOption) {
  Options options;
  options.data_dir = "";
  EXPECT_EQ(ValidateOptions(options).message(), "data_dir is empty");
  options = Options();
  options.ruleset_file = "";
  EXPECT_EQ(ValidateOptions(options).message(), "ruleset_file is empty");
  options = Options();
  options.roster_file = std::string("a\0b", 3);
  EXPECT_EQ(ValidateOptions(options).message(),
            "roster_file contains a NUL character");
}

TEST(ServerOptionsTest, RefusesARequestLimitBelowTheLargestRuleset) {
  Options options;
  options.max_request_bytes = 4 << 20;
  absl::Status status = ValidateOptions(options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), StartsWith("max_request_bytes "));
}

}  // namespace
}  // namespace custodian::server
