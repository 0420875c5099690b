#include "server/server_options.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custodian::server {
namespace {

using ::testing::HasSubstr;
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

TEST(ServerOptionsTest, RefusesOtherAddressesWithoutAuthenticationClearly) {
  absl::Status status = WithListen("0.0.0.0:50051");
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("no authentication is configured"));
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("local development mode"));
}

TEST(ServerOptionsTest, AcceptsOtherAddressesWithAuthenticationAndTls) {
  Options options;
  options.listen_address = "0.0.0.0:50051";
  options.auth.token_file = "tokens.yaml";
  options.auth.tls_cert_file = "server.crt";
  options.auth.tls_key_file = "server.key";
  EXPECT_TRUE(ValidateOptions(options).ok()) << ValidateOptions(options);
  // Without TLS a bearer token would cross the network in plaintext.
  options.auth.tls_cert_file.clear();
  options.auth.tls_key_file.clear();
  absl::Status status = ValidateOptions(options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("tls_cert_file"));
  // Loopback with authentication and without TLS is fine.
  options.listen_address = "127.0.0.1:50051";
  EXPECT_TRUE(ValidateOptions(options).ok());
}

TEST(ServerOptionsTest, ConfigFileSetsAuthenticationOptions) {
  const std::string path = ::testing::TempDir() + "auth_options.yaml";
  std::ofstream(path) << "token_file: /etc/custodian/tokens.yaml\n"
                         "jwt_issuer: https://idp\n"
                         "jwt_leeway: 10s\n"
                         "tls_reload_interval: 5m\n";
  Options options;
  ASSERT_TRUE(LoadOptionsFile(path, &options).ok());
  EXPECT_EQ(options.auth.token_file, "/etc/custodian/tokens.yaml");
  EXPECT_EQ(options.auth.jwt_issuer, "https://idp");
  EXPECT_EQ(options.auth.jwt_leeway, absl::Seconds(10));
  EXPECT_EQ(options.auth.tls_reload_interval, absl::Minutes(5));
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

TEST(ServerOptionsTest, HealthPortIsOffByDefaultAndValidatedWhenSet) {
  EXPECT_EQ(Options().health_listen_address, "");
  Options options;
  // Any host: only the serving status is served there.
  options.health_listen_address = "0.0.0.0:8081";
  EXPECT_TRUE(ValidateOptions(options).ok());
  for (const char* address : {"0.0.0.0", ":8081", "0.0.0.0:65536"}) {
    options.health_listen_address = address;
    absl::Status status = ValidateOptions(options);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << address;
    EXPECT_THAT(std::string(status.message()),
                StartsWith("health_listen_address"))
        << address;
  }
  options.health_listen_address = options.listen_address;
  absl::Status same = ValidateOptions(options);
  EXPECT_EQ(same.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(same.message()),
              HasSubstr("the health port must be a port of its own"));
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

TEST(ServerOptionsTest, WorkersMustBeFrom1To1024) {
  Options options;
  EXPECT_EQ(options.workers, 64);
  for (int workers : {1, 1024}) {
    options.workers = workers;
    EXPECT_TRUE(ValidateOptions(options).ok()) << workers;
  }
  for (int workers : {0, -1, 1025}) {
    options.workers = workers;
    absl::Status status = ValidateOptions(options);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << workers;
    EXPECT_EQ(status.message(),
              absl::StrCat("workers ", workers, " is not in [1, 1024]"));
  }
}

TEST(ServerOptionsTest, ReviewBatchSizeMustBeFrom1To100000) {
  Options options;
  EXPECT_EQ(options.review_batch_size, 500);
  for (int size : {1, 100000}) {
    options.review_batch_size = size;
    EXPECT_TRUE(ValidateOptions(options).ok()) << size;
  }
  for (int size : {0, -1, 100001}) {
    options.review_batch_size = size;
    absl::Status status = ValidateOptions(options);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << size;
    EXPECT_EQ(status.message(), absl::StrCat("review_batch_size ", size,
                                             " is not in [1, 100000]"));
  }
}

TEST(ServerOptionsTest, SyncedWritesAndAOneDayWindowAreTheDefaults) {
  Options options;
  EXPECT_TRUE(options.sync_writes);
  EXPECT_EQ(options.idempotency_window, absl::Hours(24));
  EXPECT_GT(options.idempotency_sweep_interval, absl::ZeroDuration());
  EXPECT_GE(options.shutdown_grace, absl::ZeroDuration());
  EXPECT_NE(options.clock, nullptr);
}

TEST(ServerOptionsTest, RefusesNonPositiveOrInfiniteDurationsNamingThem) {
  Options options;
  options.idempotency_window = absl::ZeroDuration();
  EXPECT_THAT(std::string(ValidateOptions(options).message()),
              StartsWith("idempotency_window "));
  options = Options();
  options.idempotency_window = absl::InfiniteDuration();
  EXPECT_THAT(std::string(ValidateOptions(options).message()),
              StartsWith("idempotency_window "));
  options = Options();
  options.idempotency_sweep_interval = -absl::Seconds(1);
  EXPECT_THAT(std::string(ValidateOptions(options).message()),
              StartsWith("idempotency_sweep_interval "));
  options = Options();
  options.appeal_sweep_interval = absl::ZeroDuration();
  EXPECT_THAT(std::string(ValidateOptions(options).message()),
              StartsWith("appeal_sweep_interval "));
  options = Options();
  options.shutdown_grace = -absl::Seconds(1);
  EXPECT_THAT(std::string(ValidateOptions(options).message()),
              StartsWith("shutdown_grace "));
  options = Options();
  options.shutdown_grace = absl::ZeroDuration();  // cancel at once: allowed
  EXPECT_TRUE(ValidateOptions(options).ok());
}

TEST(ServerOptionsTest, RefusesANullClock) {
  Options options;
  options.clock = nullptr;
  EXPECT_EQ(ValidateOptions(options).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseDurationOptionTest, AcceptsUnitsAndRejectsGarbageNamingTheOption) {
  EXPECT_EQ(*ParseDurationOption("x", "24h"), absl::Hours(24));
  EXPECT_EQ(*ParseDurationOption("x", "1h30m"), absl::Minutes(90));
  EXPECT_EQ(*ParseDurationOption("x", "250ms"), absl::Milliseconds(250));
  for (const char* bad : {"", "24", "1 day", "inf", "-inf", "h"}) {
    absl::StatusOr<absl::Duration> d =
        ParseDurationOption("shutdown_grace", bad);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(d.status().message()),
                StartsWith("shutdown_grace \""))
        << bad;
  }
}

// A config file in a fresh temp dir.
class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        ::testing::TempDir() + "custodian_options_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string Write(const std::string& text) {
    std::string path = dir_ + "/custodiand.yaml";
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(ConfigFileTest, SetsEveryOptionItNamesAndKeepsTheOthers) {
  std::string path = Write(
      "# custodiand\n"
      "listen_address: 127.0.0.1:6000\n"
      "health_listen_address: 0.0.0.0:6001\n"
      "data_dir: /var/lib/custodian\n"
      "sync_writes: false\n"
      "roster_file: r.yaml\n"
      "ruleset_file: s.yaml\n"
      "max_request_bytes: 16777216\n"
      "idempotency_window: 36h\n"
      "idempotency_sweep_interval: 5m\n"
      "appeal_sweep_interval: 30s\n"
      "shutdown_grace: 30s\n"
      "workers: 8\n"
      "review_batch_size: 50\n");
  Options options;
  ASSERT_TRUE(LoadOptionsFile(path, &options).ok());
  EXPECT_EQ(options.listen_address, "127.0.0.1:6000");
  EXPECT_EQ(options.health_listen_address, "0.0.0.0:6001");
  EXPECT_EQ(options.data_dir, "/var/lib/custodian");
  EXPECT_FALSE(options.sync_writes);
  EXPECT_EQ(options.roster_file, "r.yaml");
  EXPECT_EQ(options.ruleset_file, "s.yaml");
  EXPECT_EQ(options.max_request_bytes, size_t{16} << 20);
  EXPECT_EQ(options.idempotency_window, absl::Hours(36));
  EXPECT_EQ(options.idempotency_sweep_interval, absl::Minutes(5));
  EXPECT_EQ(options.appeal_sweep_interval, absl::Seconds(30));
  EXPECT_EQ(options.shutdown_grace, absl::Seconds(30));
  EXPECT_EQ(options.workers, 8);
  EXPECT_EQ(options.review_batch_size, 50);
  EXPECT_TRUE(ValidateOptions(options).ok());

  Options partial;
  ASSERT_TRUE(LoadOptionsFile(Write("data_dir: d\n"), &partial).ok());
  EXPECT_EQ(partial.data_dir, "d");
  EXPECT_EQ(partial.listen_address, Options().listen_address);
  EXPECT_TRUE(partial.sync_writes);

  Options empty;
  ASSERT_TRUE(LoadOptionsFile(Write("# nothing\n"), &empty).ok());
  EXPECT_EQ(empty.data_dir, Options().data_dir);
}

TEST_F(ConfigFileTest, UnknownKeyIsAnErrorNamingFileLineAndColumn) {
  std::string path = Write("data_dir: d\nsync: false\n");
  Options options;
  absl::Status status = LoadOptionsFile(path, &options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              StartsWith(path + ":2:1: sync: is not an option"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("sync_writes"));
}

TEST_F(ConfigFileTest, BadValuesAreErrorsAtTheValue) {
  struct Case {
    std::string text;
    std::string want;
  };
  for (const Case& c : std::vector<Case>{
           {"sync_writes: maybe\n", ":1:14: sync_writes: \"maybe\" is not"},
           {"max_request_bytes: -1\n", ":1:20: max_request_bytes: \"-1\""},
           {"idempotency_window: 1 day\n", ":1:21: idempotency_window: \""},
           {"workers: many\n", ":1:10: workers: \"many\" is not a number"},
           {"workers: -4\n", ":1:10: workers: \"-4\" is not a number"},
           {"data_dir: [a, b]\n", ":1:11: data_dir: must be a single value"},
           {"data_dir:\n", ":1:1: data_dir: must be a single value"},
           {"data_dir: a\ndata_dir: b\n", ":2:1: data_dir: is set more"},
           {"- data_dir\n", ":1:1: the config file must be a mapping"},
           {"data_dir: [\n", ": syntax error"},
       }) {
    std::string path = Write(c.text);
    Options options;
    absl::Status status = LoadOptionsFile(path, &options);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(status.message()), StartsWith(path)) << c.text;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.want)) << c.text;
  }
}

TEST_F(ConfigFileTest, MissingFileIsNotFound) {
  Options options;
  absl::Status status = LoadOptionsFile(dir_ + "/absent.yaml", &options);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()), HasSubstr("absent.yaml"));
}

}  // namespace
}  // namespace custodian::server
