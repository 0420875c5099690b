#include "clients/client_config.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custodian::clients {
namespace {

using ::testing::HasSubstr;

class ClientConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "client_config.XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    env_["HOME"] = dir_;
    Write("ca.crt", "CA PEM");
    Write("me.crt", "CERT PEM");
    Write("me.key", "KEY PEM");
    Write("token", "  file-token\n");
    Write("config.yaml",
          "current_context: prod\n"
          "contexts:\n"
          "  - name: prod\n"
          "    server: prod.example:443\n"
          "    ca: ~/ca.crt\n"
          "    cert: ~/me.crt\n"
          "    key: ~/me.key\n"
          "    token_file: ~/token\n"
          "  - name: local\n"
          "    server: 127.0.0.1:6000\n"
          "    token: local-token\n");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  EnvLookup Env() {
    return [this](const char* name) -> const char* {
      auto it = env_.find(name);
      return it == env_.end() ? nullptr : it->second.c_str();
    };
  }
  absl::StatusOr<ResolvedConnection> Resolve(ConnectionFlags flags) {
    return ResolveConnection(flags, Env());
  }

  std::string dir_;
  std::map<std::string, std::string> env_;
};

TEST_F(ClientConfigTest, NoConfigMeansLocalPlaintextWithoutCredentials) {
  env_.erase("HOME");
  env_["HOME"] = dir_ + "/nowhere";
  absl::StatusOr<ResolvedConnection> r = Resolve({});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->address, "127.0.0.1:50051");
  EXPECT_EQ(r->token, "");
  EXPECT_FALSE(r->tls);
}

TEST_F(ClientConfigTest, CurrentContextGivesServerTlsAndTokenFile) {
  ConnectionFlags flags;
  flags.config = dir_ + "/config.yaml";
  absl::StatusOr<ResolvedConnection> r = Resolve(flags);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->address, "prod.example:443");
  EXPECT_EQ(r->token, "file-token");
  EXPECT_TRUE(r->tls);
  EXPECT_EQ(r->ca_pem, "CA PEM");
  EXPECT_EQ(r->cert_pem, "CERT PEM");
  EXPECT_EQ(r->key_pem, "KEY PEM");
}

TEST_F(ClientConfigTest, NamedContextFromTheEnvironmentConfig) {
  env_[kConfigEnvVar] = dir_ + "/config.yaml";
  ConnectionFlags flags;
  flags.context = "local";
  absl::StatusOr<ResolvedConnection> r = Resolve(flags);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->address, "127.0.0.1:6000");
  EXPECT_EQ(r->token, "local-token");
  EXPECT_FALSE(r->tls);
  EXPECT_EQ(r->context, "local");
}

TEST_F(ClientConfigTest, FlagsBeatEnvironmentBeatsContext) {
  env_[kConfigEnvVar] = dir_ + "/config.yaml";
  env_[kTokenEnvVar] = "env-token";
  env_[kServerEnvVar] = "env.example:1";
  absl::StatusOr<ResolvedConnection> r = Resolve({});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->address, "env.example:1");
  EXPECT_EQ(r->token, "env-token");
  ConnectionFlags flags;
  flags.server = "flag.example:2";
  flags.token = "flag-token";
  r = Resolve(flags);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->address, "flag.example:2");
  EXPECT_EQ(r->token, "flag-token");
  flags.token.clear();
  flags.token_file = dir_ + "/token";
  r = Resolve(flags);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->token, "file-token");
}

TEST_F(ClientConfigTest, ProblemsAreNamed) {
  ConnectionFlags flags;
  flags.config = dir_ + "/config.yaml";
  flags.context = "staging";
  EXPECT_THAT(std::string(Resolve(flags).status().message()),
              HasSubstr("--context staging"));
  ConnectionFlags both;
  both.token = "a";
  both.token_file = "b";
  EXPECT_THAT(std::string(Resolve(both).status().message()),
              HasSubstr("--token and --token-file"));
  ConnectionFlags half;
  half.cert = dir_ + "/me.crt";
  EXPECT_THAT(std::string(Resolve(half).status().message()),
              HasSubstr("--key"));
  ConnectionFlags missing;
  missing.config = dir_ + "/absent.yaml";
  EXPECT_EQ(Resolve(missing).status().code(), absl::StatusCode::kNotFound);
  Write("empty-token", "\n");
  ConnectionFlags empty;
  empty.token_file = dir_ + "/empty-token";
  EXPECT_THAT(std::string(Resolve(empty).status().message()),
              HasSubstr("is empty"));
}

}  // namespace
}  // namespace custodian::clients
