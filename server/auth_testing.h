// Test helpers for authentication: keys and certificates made at test time
// with the openssl command line into a temp directory (no committed
// secrets), and JWTs signed with libjwt.
#ifndef CUSTODIAN_SERVER_AUTH_TESTING_H_
#define CUSTODIAN_SERVER_AUTH_TESTING_H_

#include <jwt.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace custodian::server::testing {

// A fresh directory under the test temp dir, removed with its contents.
class AuthTempDir {
 public:
  AuthTempDir() {
    std::string pattern = ::testing::TempDir() + "custodian_auth.XXXXXX";
    char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~AuthTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Path(const std::string& name) const { return path_ + "/" + name; }
  std::string Write(const std::string& name, const std::string& text) const {
    std::ofstream(Path(name), std::ios::binary) << text;
    return Path(name);
  }
  std::string Read(const std::string& name) const {
    std::ifstream in(Path(name), std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // Runs `command` (a shell command line) in the directory; expects exit 0.
  void Run(const std::string& command) const {
    const std::string line =
        absl::StrCat("cd '", path_, "' && ", command, " >/dev/null 2>&1");
    ASSERT_EQ(system(line.c_str()), 0) << line;
  }

  // NAME.key (RSA private) and NAME.pub (public), PEM.
  void MakeRsaKey(const std::string& name) const {
    Run(absl::StrCat("openssl genrsa -out ", name, ".key 2048 && ",
                     "openssl rsa -in ", name, ".key -pubout -out ", name,
                     ".pub"));
  }
  // A self-signed CA: NAME.key, NAME.crt.
  void MakeCa(const std::string& name) const {
    Run(absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -days 2 ",
                     "-subj /CN=", name, " -keyout ", name, ".key -out ", name,
                     ".crt"));
  }
  // NAME.key and NAME.crt signed by CA `ca`, with CN `cn` and the SAN
  // DNS:`cn` (and IP:127.0.0.1, DNS:localhost for servers).
  void MakeCert(const std::string& name, const std::string& ca,
                const std::string& cn, bool server) const {
    const std::string san =
        server ? absl::StrCat("DNS:", cn, ",DNS:localhost,IP:127.0.0.1")
               : absl::StrCat("DNS:", cn);
    Write(name + ".ext", absl::StrCat("subjectAltName=", san, "\n"));
    Run(absl::StrCat("openssl req -newkey rsa:2048 -nodes -subj /CN=", cn,
                     " -keyout ", name, ".key -out ", name,
                     ".csr && openssl x509 -req -in ", name, ".csr -CA ", ca,
                     ".crt -CAkey ", ca, ".key -CAcreateserial -days 2 ",
                     "-extfile ", name, ".ext -out ", name, ".crt"));
  }

 private:
  std::string path_;
};

struct JwtSpec {
  jwt_alg_t alg = JWT_ALG_HS256;
  std::string key;  // HS256 secret or RS256 private key PEM
  std::string issuer = "https://idp.example";
  std::string audience = "custodian";
  std::string subject = "ann";
  std::string roles_json = "[\"manager\"]";
  std::string departments_json = "[\"sales\"]";
  absl::Time now;
  absl::Duration expires_in = absl::Minutes(10);
  bool with_exp = true;
  absl::Duration not_before = absl::ZeroDuration();  // nbf = now + this
  bool with_nbf = false;
};

inline std::string MakeJwt(const JwtSpec& spec) {
  jwt_t* jwt = nullptr;
  EXPECT_EQ(jwt_new(&jwt), 0);
  if (!spec.issuer.empty()) jwt_add_grant(jwt, "iss", spec.issuer.c_str());
  if (!spec.audience.empty()) jwt_add_grant(jwt, "aud", spec.audience.c_str());
  if (!spec.subject.empty()) jwt_add_grant(jwt, "sub", spec.subject.c_str());
  if (spec.with_exp) {
    jwt_add_grant_int(jwt, "exp",
                      absl::ToUnixSeconds(spec.now + spec.expires_in));
  }
  if (spec.with_nbf) {
    jwt_add_grant_int(jwt, "nbf",
                      absl::ToUnixSeconds(spec.now + spec.not_before));
  }
  jwt_add_grants_json(
      jwt, absl::StrCat("{\"roles\":", spec.roles_json,
                        ",\"departments\":", spec.departments_json, "}")
               .c_str());
  EXPECT_EQ(
      jwt_set_alg(jwt, spec.alg,
                  spec.key.empty()
                      ? nullptr
                      : reinterpret_cast<const unsigned char*>(spec.key.data()),
                  static_cast<int>(spec.key.size())),
      0);
  char* encoded = jwt_encode_str(jwt);
  EXPECT_NE(encoded, nullptr);
  std::string token = encoded == nullptr ? "" : encoded;
  free(encoded);
  jwt_free(jwt);
  return token;
}

}  // namespace custodian::server::testing

#endif  // CUSTODIAN_SERVER_AUTH_TESTING_H_
