#include "server/authenticator.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/auth_testing.h"

namespace custodian::server {
namespace {

using testing::AuthTempDir;
using ::testing::HasSubstr;
using testing::JwtSpec;
using testing::MakeJwt;

constexpr char kSecret[] = "0123456789abcdef0123456789abcdef-hs256";

absl::Time Now() { return absl::FromUnixSeconds(1767225600); }

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.MakeRsaKey("idp");
    dir_.MakeRsaKey("forger");
    dir_.Write("hs256.secret", absl::StrCat(kSecret, "\n"));
    dir_.Write("tokens.yaml", absl::StrCat("tokens:\n"
                                           "  - sha256: ",
                                           TokenSha256Hex("crm-token"),
                                           "\n"
                                           "    principal: crm\n"
                                           "    roles: [system]\n"
                                           "    departments: ['*']\n"));
    dir_.Write("principals.yaml",
               "principals:\n"
               "  - subject: billing.internal\n"
               "    principal: billing\n"
               "    roles: [system, auditor]\n");
  }

  AuthOptions JwtOptions() {
    AuthOptions o;
    o.jwt_hs256_secret_file = dir_.Path("hs256.secret");
    o.jwt_rs256_public_key_file = dir_.Path("idp.pub");
    o.jwt_issuer = "https://idp.example";
    o.jwt_audience = "custodian";
    o.token_file = dir_.Path("tokens.yaml");
    return o;
  }

  std::unique_ptr<Authenticator> Make(const AuthOptions& o) {
    absl::StatusOr<std::unique_ptr<Authenticator>> a =
        Authenticator::Create(o, &clock_);
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? *std::move(a) : nullptr;
  }

  absl::StatusOr<Principal> WithBearer(const Authenticator& a,
                                       const std::string& token) {
    const std::string header = absl::StrCat("Bearer ", token);
    return a.AuthenticateParts(&header, {});
  }

  JwtSpec Hs256() {
    JwtSpec spec;
    spec.key = kSecret;
    spec.now = clock_.Now();
    return spec;
  }
  JwtSpec Rs256() {
    JwtSpec spec;
    spec.alg = JWT_ALG_RS256;
    spec.key = dir_.Read("idp.key");
    spec.now = clock_.Now();
    return spec;
  }

  AuthTempDir dir_;
  ManualClock clock_{Now()};
};

TEST_F(AuthenticatorTest, NothingConfiguredIsLocalDevelopmentMode) {
  std::unique_ptr<Authenticator> a = Make(AuthOptions());
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(a->local_dev());
  absl::StatusOr<Principal> p = a->AuthenticateParts(nullptr, {});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->id, "local-dev");
  EXPECT_EQ(p->roles, kEveryRole);
}

TEST_F(AuthenticatorTest, StaticTokenMapsToItsPrincipal) {
  std::unique_ptr<Authenticator> a = Make(JwtOptions());
  absl::StatusOr<Principal> p = WithBearer(*a, "crm-token");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->id, "crm");
  EXPECT_EQ(p->roles, Roles({Role::kSystem}));
  EXPECT_TRUE(p->InDepartment("anything"));
  EXPECT_EQ(p->authenticated_by, "token");
}

TEST_F(AuthenticatorTest, UnknownTokenIsUnauthenticatedAndNotEchoed) {
  std::unique_ptr<Authenticator> a = Make(JwtOptions());
  absl::StatusOr<Principal> p = WithBearer(*a, "crm-tokeN");
  EXPECT_EQ(p.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(p.status().message()),
              ::testing::Not(HasSubstr("crm-tokeN")));
}

TEST_F(AuthenticatorTest, MissingOrMalformedCredentialsAreUnauthenticated) {
  std::unique_ptr<Authenticator> a = Make(JwtOptions());
  EXPECT_EQ(a->AuthenticateParts(nullptr, {}).status().code(),
            absl::StatusCode::kUnauthenticated);
  for (const char* header : {"crm-token", "Basic crm-token", "Bearer ", ""}) {
    const std::string h = header;
    EXPECT_EQ(a->AuthenticateParts(&h, {}).status().code(),
              absl::StatusCode::kUnauthenticated)
        << header;
  }
}

TEST_F(AuthenticatorTest, TokenFileMustHoldHashesNotTokens) {
  AuthOptions o;
  o.token_file = dir_.Write("plain.yaml",
                            "tokens:\n  - sha256: crm-token\n"
                            "    principal: crm\n    roles: [system]\n");
  absl::StatusOr<std::unique_ptr<Authenticator>> a =
      Authenticator::Create(o, &clock_);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("tokens[0].sha256"));
}

TEST_F(AuthenticatorTest, UnknownRoleInTokenFileIsRefused) {
  AuthOptions o;
  o.token_file =
      dir_.Write("bad-role.yaml",
                 absl::StrCat("tokens:\n  - sha256: ", TokenSha256Hex("x"),
                              "\n    principal: crm\n    roles: [root]\n"));
  absl::StatusOr<std::unique_ptr<Authenticator>> a =
      Authenticator::Create(o, &clock_);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("roles[0]"));
}

TEST_F(AuthenticatorTest, ValidHs256AndRs256JwtsGiveTheirClaims) {
  std::unique_ptr<Authenticator> a = Make(JwtOptions());
  for (const JwtSpec& spec : {Hs256(), Rs256()}) {
    absl::StatusOr<Principal> p = WithBearer(*a, MakeJwt(spec));
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->id, "ann");
    EXPECT_EQ(p->roles, Roles({Role::kManager}));
    EXPECT_EQ(p->departments, std::set<std::string>{"sales"});
    EXPECT_EQ(p->authenticated_by, "jwt");
  }
}

TEST_F(AuthenticatorTest, AudienceMayBeAListHoldingOurs) {
  std::unique_ptr<Authenticator> a = Make(JwtOptions());
  JwtSpec spec = Hs256();
  spec.audience = "";
  std::string token = MakeJwt(spec);
  // Re-make with an array aud through the JSON grants.
  jwt_t* jwt = nullptr;
  ASSERT_EQ(jwt_new(&jwt), 0);
  jwt_add_grants_json(
      jwt, absl::StrCat("{\"iss\":\"https://idp.example\",\"sub\":\"ann\","
                        "\"aud\":[\"other\",\"custodian\"],\"exp\":",
                        absl::ToUnixSeconds(Now() + absl::Minutes(5)), "}")
               .c_str());
  jwt_set_alg(jwt, JWT_ALG_HS256,
              reinterpret_cast<const unsigned char*>(kSecret),
              sizeof(kSecret) - 1);
  char* encoded = jwt_encode_str(jwt);
  token = encoded;
  free(encoded);
  jwt_free(jwt);
  absl::StatusOr<Principal> p = WithBearer(*a, token);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->roles, 0u);
}

TEST_F(AuthenticatorTest, BadJwtsAreUnauthenticated) {
  std::unique_ptr<Authenticator> a = Make(JwtOptions());
  struct Case {
    const char* name;
    JwtSpec spec;
    const char* why;
  };
  std::vector<Case> cases;
  {
    JwtSpec s = Hs256();
    s.expires_in = -absl::Seconds(31);  // beyond the 30s leeway
    cases.push_back({"expired", s, "expired"});
  }
  {
    JwtSpec s = Hs256();
    s.with_nbf = true;
    s.not_before = absl::Seconds(31);
    cases.push_back({"not yet valid", s, "not valid yet"});
  }
  {
    JwtSpec s = Hs256();
    s.issuer = "https://evil.example";
    cases.push_back({"wrong issuer", s, "issuer"});
  }
  {
    JwtSpec s = Hs256();
    s.audience = "someone-else";
    cases.push_back({"wrong audience", s, "audience"});
  }
  {
    JwtSpec s = Hs256();
    s.key = "another-secret-another-secret-another";
    cases.push_back({"forged HS256", s, "signature"});
  }
  {
    JwtSpec s = Rs256();
    s.key = dir_.Read("forger.key");
    cases.push_back({"forged RS256", s, "signature"});
  }
  {
    JwtSpec s = Hs256();
    s.with_exp = false;
    cases.push_back({"no exp", s, "expiry"});
  }
  {
    JwtSpec s = Hs256();
    s.subject = "";
    cases.push_back({"no sub", s, "sub"});
  }
  {
    JwtSpec s = Hs256();
    s.alg = JWT_ALG_NONE;
    s.key = "";
    cases.push_back({"alg none", s, "alg"});
  }
  {
    JwtSpec s = Hs256();
    s.alg = JWT_ALG_HS512;
    cases.push_back({"alg HS512", s, "alg"});
  }
  for (const Case& c : cases) {
    absl::StatusOr<Principal> p = WithBearer(*a, MakeJwt(c.spec));
    EXPECT_EQ(p.status().code(), absl::StatusCode::kUnauthenticated) << c.name;
    EXPECT_THAT(std::string(p.status().message()), HasSubstr(c.why)) << c.name;
  }
}

TEST_F(AuthenticatorTest, LeewayAcceptsSmallClockSkew) {
  std::unique_ptr<Authenticator> a = Make(JwtOptions());
  JwtSpec expired = Hs256();
  expired.expires_in = -absl::Seconds(20);
  EXPECT_TRUE(WithBearer(*a, MakeJwt(expired)).ok());
  JwtSpec early = Hs256();
  early.with_nbf = true;
  early.not_before = absl::Seconds(20);
  EXPECT_TRUE(WithBearer(*a, MakeJwt(early)).ok());
}

// An attacker who knows the RS256 public key signs HS256 with it as the
// secret: with only RS256 configured this must not verify.
TEST_F(AuthenticatorTest, PublicKeyAsHmacSecretIsRefused) {
  AuthOptions o = JwtOptions();
  o.jwt_hs256_secret_file.clear();
  std::unique_ptr<Authenticator> a = Make(o);
  JwtSpec s = Hs256();
  s.key = dir_.Read("idp.pub");
  absl::StatusOr<Principal> p = WithBearer(*a, MakeJwt(s));
  EXPECT_EQ(p.status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, ReloadPicksUpNewKeysAndKeepsOldOnError) {
  AuthOptions o = JwtOptions();
  std::unique_ptr<Authenticator> a = Make(o);
  JwtSpec s = Rs256();
  s.key = dir_.Read("forger.key");
  const std::string token = MakeJwt(s);
  EXPECT_FALSE(WithBearer(*a, token).ok());
  // The IdP rotates to the "forger" key pair.
  dir_.Write("idp.pub", dir_.Read("forger.pub"));
  ASSERT_TRUE(a->Reload().ok());
  EXPECT_TRUE(WithBearer(*a, token).ok());
  // A broken key file is refused and the previous key stays.
  dir_.Write("idp.pub", "not a key");
  absl::Status reload = a->Reload();
  EXPECT_EQ(reload.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(reload.message()),
              HasSubstr("jwt_rs256_public_key_file"));
  EXPECT_TRUE(WithBearer(*a, token).ok());
}

TEST_F(AuthenticatorTest, ClientCertificateSubjectMapsThroughPrincipalsFile) {
  dir_.MakeCa("ca");
  dir_.MakeCert("server", "ca", "custodian.test", /*server=*/true);
  AuthOptions o;
  o.tls_cert_file = dir_.Path("server.crt");
  o.tls_key_file = dir_.Path("server.key");
  o.tls_client_ca_file = dir_.Path("ca.crt");
  o.principals_file = dir_.Path("principals.yaml");
  std::unique_ptr<Authenticator> a = Make(o);
  absl::StatusOr<Principal> p =
      a->AuthenticateParts(nullptr, {"billing.internal"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->id, "billing");
  EXPECT_EQ(p->roles, Roles({Role::kSystem, Role::kAuditor}));
  EXPECT_EQ(p->authenticated_by, "mtls");
  EXPECT_EQ(a->AuthenticateParts(nullptr, {"stranger"}).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, OptionsAreCheckedTogether) {
  AuthOptions o;
  o.jwt_hs256_secret_file = "x";
  EXPECT_THAT(std::string(ValidateAuthOptions(o).message()),
              HasSubstr("jwt_issuer"));
  o.jwt_issuer = "i";
  EXPECT_THAT(std::string(ValidateAuthOptions(o).message()),
              HasSubstr("jwt_audience"));
  AuthOptions tls;
  tls.tls_cert_file = "c";
  EXPECT_THAT(std::string(ValidateAuthOptions(tls).message()),
              HasSubstr("tls_key_file"));
  AuthOptions mtls;
  mtls.tls_cert_file = "c";
  mtls.tls_key_file = "k";
  mtls.tls_client_ca_file = "ca";
  EXPECT_THAT(std::string(ValidateAuthOptions(mtls).message()),
              HasSubstr("principals_file"));
  AuthOptions leeway;
  leeway.jwt_leeway = absl::Minutes(6);
  EXPECT_THAT(std::string(ValidateAuthOptions(leeway).message()),
              HasSubstr("jwt_leeway"));
}

TEST_F(AuthenticatorTest, MissingOrBadTlsFilesStopTheStart) {
  AuthOptions o;
  o.token_file = dir_.Path("tokens.yaml");
  o.tls_cert_file = dir_.Path("missing.crt");
  o.tls_key_file = dir_.Path("idp.key");
  absl::StatusOr<std::unique_ptr<Authenticator>> a =
      Authenticator::Create(o, &clock_);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("tls_cert_file"));
  o.tls_cert_file = dir_.Path("idp.pub");  // a key, not a certificate
  a = Authenticator::Create(o, &clock_);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(a.status().message()),
              HasSubstr("is not a PEM certificate"));
}

TEST_F(AuthenticatorTest, ShortHs256SecretIsRefused) {
  AuthOptions o = JwtOptions();
  o.jwt_hs256_secret_file = dir_.Write("short.secret", "short\n");
  absl::StatusOr<std::unique_ptr<Authenticator>> a =
      Authenticator::Create(o, &clock_);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("at least 32"));
}

}  // namespace
}  // namespace custodian::server
