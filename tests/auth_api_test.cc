// Authentication and authorization over real channels against a real server
// (tests/server_testing.h) configured with TLS, mutual TLS, a static token
// file and HS256 JWTs. Keys and certificates are made by the test with the
// openssl command line (server/auth_testing.h).
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "custodian/v1/assignment_service.grpc.pb.h"
#include "custodian/v1/audit_service.grpc.pb.h"
#include "custodian/v1/identity_service.grpc.pb.h"
#include "custodian/v1/ownership_service.grpc.pb.h"
#include "custodian/v1/roster_service.grpc.pb.h"
#include "custodian/v1/ruleset_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "server/auth_testing.h"
#include "server/authorizer.h"
#include "tests/server_testing.h"

namespace custodian::server {
namespace {

using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::MessageFactory;
using google::protobuf::MethodDescriptor;
using testing::AuthTempDir;
using ::testing::HasSubstr;
using testing::JwtSpec;
using testing::MakeJwt;

constexpr char kSecret[] = "an-hs256-secret-of-at-least-32-bytes!";

struct TokenPrincipal {
  const char* token;
  const char* id;
  const char* roles;
  const char* departments;
};

// The static tokens of the test server. The rep is liu.yang, a member of
// sales team mfg-east in the sample roster.
constexpr TokenPrincipal kTokens[] = {
    {"tok-system", "svc-crm", "[system]", "['*']"},
    {"tok-rep", "liu.yang", "[rep]", "[sales]"},
    {"tok-rep-service", "wu.xia", "[rep]", "[service]"},
    {"tok-manager", "mgr.sales", "[manager]", "[sales]"},
    {"tok-manager-service", "mgr.service", "[manager]", "[service]"},
    {"tok-arbiter", "arb", "[arbiter]", "[]"},
    {"tok-admin", "root", "[admin]", "['*']"},
    {"tok-auditor", "aud", "[auditor]", "['*']"},
};

class AuthApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_.MakeCa("ca");
    keys_.MakeCert("server", "ca", "custodian.test", /*server=*/true);
    keys_.MakeCert("billing", "ca", "billing.internal", false);
    keys_.MakeCert("stranger", "ca", "stranger.internal", false);
    keys_.MakeCa("other-ca");
    keys_.MakeCert("impostor", "other-ca", "billing.internal", false);
    keys_.Write("hs256.secret", kSecret);
    std::string tokens = "tokens:\n";
    for (const TokenPrincipal& t : kTokens) {
      absl::StrAppend(&tokens, "  - sha256: ", TokenSha256Hex(t.token),
                      "\n    principal: ", t.id, "\n    roles: ", t.roles,
                      "\n    departments: ", t.departments, "\n");
    }
    keys_.Write("tokens.yaml", tokens);
    keys_.Write("principals.yaml",
                "principals:\n"
                "  - subject: billing.internal\n"
                "    principal: billing\n"
                "    roles: [system]\n"
                "    departments: ['*']\n");

    Options options = testing::TestOptions(dir_, &clock_);
    AuthOptions& auth = options.auth;
    auth.tls_cert_file = keys_.Path("server.crt");
    auth.tls_key_file = keys_.Path("server.key");
    auth.tls_client_ca_file = keys_.Path("ca.crt");
    auth.principals_file = keys_.Path("principals.yaml");
    auth.token_file = keys_.Path("tokens.yaml");
    auth.jwt_hs256_secret_file = keys_.Path("hs256.secret");
    auth.jwt_issuer = "https://idp.test";
    auth.jwt_audience = "custodian";
    absl::StatusOr<std::unique_ptr<CustodianServer>> server =
        CustodianServer::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  void TearDown() override {
    if (server_ != nullptr) {
      EXPECT_TRUE(server_->Shutdown(absl::Now() + absl::Seconds(5)).ok());
    }
  }

  // A TLS channel trusting the test CA, with the client certificate NAME
  // (none if empty).
  std::shared_ptr<grpc::Channel> TlsChannel(const std::string& cert = "",
                                            const std::string& ca = "ca") {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = keys_.Read(ca + ".crt");
    if (!cert.empty()) {
      ssl.pem_private_key = keys_.Read(cert + ".key");
      ssl.pem_cert_chain = keys_.Read(cert + ".crt");
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("custodian.test");
    return grpc::CreateCustomChannel(server_->address(),
                                     grpc::SslCredentials(ssl), args);
  }

  grpc::Status WhoAmI(const std::shared_ptr<grpc::Channel>& channel,
                      const std::string& token, v1::WhoAmIResponse* response) {
    auto stub = v1::IdentityService::NewStub(channel);
    grpc::ClientContext context;
    testing::SetDeadline(&context);
    if (!token.empty()) {
      context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    }
    return stub->WhoAmI(&context, v1::WhoAmIRequest(), response);
  }

  // Calls `method` (full name) with `request` over `channel` as `token`.
  grpc::Status CallGeneric(const std::shared_ptr<grpc::Channel>& channel,
                           const MethodDescriptor* method,
                           const Message& request, const std::string& token,
                           absl::Duration deadline = absl::Seconds(30)) {
    grpc::TemplatedGenericStub<grpc::ByteBuffer, grpc::ByteBuffer> stub(
        channel);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    if (!token.empty()) {
      context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    }
    std::string bytes = request.SerializeAsString();
    grpc::Slice slice(bytes);
    grpc::ByteBuffer in(&slice, 1);
    grpc::ByteBuffer out;
    grpc::Status status;
    absl::Notification done;
    stub.UnaryCall(
        &context,
        absl::StrCat("/", method->service()->full_name(), "/", method->name()),
        grpc::StubOptions(), &in, &out, [&](grpc::Status s) {
          status = std::move(s);
          done.Notify();
        });
    done.WaitForNotification();
    return status;
  }

  testing::TempDir dir_;
  AuthTempDir keys_;
  ManualClock clock_{testing::T0()};
  std::unique_ptr<CustodianServer> server_;
};

// Every RPC of the table that the server serves.
std::vector<const MethodDescriptor*> AllMethods() {
  // Taking the descriptor tables' addresses links their files in.
  const void* volatile files[] = {
      &descriptor_table_custodian_2fv1_2fruleset_5fservice_2eproto,
      &descriptor_table_custodian_2fv1_2froster_5fservice_2eproto,
      &descriptor_table_custodian_2fv1_2fassignment_5fservice_2eproto,
      &descriptor_table_custodian_2fv1_2fownership_5fservice_2eproto,
      &descriptor_table_custodian_2fv1_2fidentity_5fservice_2eproto,
      &descriptor_table_custodian_2fv1_2faudit_5fservice_2eproto};
  (void)files;
  std::vector<const MethodDescriptor*> methods;
  for (const RpcRule& rule : RpcRules()) {
    // Not served until the audit log is.
    if (absl::StartsWith(rule.method, "custodian.v1.AuditService.")) continue;
    const MethodDescriptor* m =
        DescriptorPool::generated_pool()->FindMethodByName(
            std::string(rule.method));
    EXPECT_NE(m, nullptr) << rule.method;
    if (m != nullptr) methods.push_back(m);
  }
  return methods;
}

// A request about department sales and rep liu.yang, where it has such
// fields; otherwise empty.
std::unique_ptr<Message> RequestFor(const MethodDescriptor* method) {
  std::unique_ptr<Message> request(MessageFactory::generated_factory()
                                       ->GetPrototype(method->input_type())
                                       ->New());
  for (const auto& [name, value] :
       {std::pair<std::string, std::string>{"department", "sales"},
        {"rep", "liu.yang"}}) {
    const FieldDescriptor* field =
        request->GetDescriptor()->FindFieldByName(name);
    if (field != nullptr && field->type() == FieldDescriptor::TYPE_STRING &&
        !field->is_repeated() && field->containing_oneof() == nullptr) {
      request->GetReflection()->SetString(request.get(), field, value);
    }
  }
  return request;
}

TEST_F(AuthApiTest, WhoAmIWithAStaticToken) {
  v1::WhoAmIResponse me;
  grpc::Status status = WhoAmI(TlsChannel(), "tok-manager", &me);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(me.principal(), "mgr.sales");
  EXPECT_THAT(me.roles(), ::testing::ElementsAre("manager"));
  EXPECT_THAT(me.departments(), ::testing::ElementsAre("sales"));
  EXPECT_EQ(me.authenticated_by(), "token");
}

TEST_F(AuthApiTest, WhoAmIWithAJwt) {
  JwtSpec spec;
  spec.key = kSecret;
  spec.issuer = "https://idp.test";
  spec.now = clock_.Now();
  spec.roles_json = "[\"rep\", \"arbiter\", \"superuser\"]";
  v1::WhoAmIResponse me;
  grpc::Status status = WhoAmI(TlsChannel(), MakeJwt(spec), &me);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(me.principal(), "ann");
  EXPECT_THAT(me.roles(), ::testing::ElementsAre("rep", "arbiter"));
  EXPECT_EQ(me.authenticated_by(), "jwt");
}

TEST_F(AuthApiTest, BadJwtsAreUnauthenticated) {
  JwtSpec good;
  good.key = kSecret;
  good.issuer = "https://idp.test";
  good.now = clock_.Now();
  std::vector<std::pair<std::string, JwtSpec>> cases;
  JwtSpec s = good;
  s.expires_in = -absl::Minutes(5);
  cases.emplace_back("expired", s);
  s = good;
  s.with_nbf = true;
  s.not_before = absl::Minutes(5);
  cases.emplace_back("not yet valid", s);
  s = good;
  s.issuer = "https://other.test";
  cases.emplace_back("wrong issuer", s);
  s = good;
  s.audience = "not-custodian";
  cases.emplace_back("wrong audience", s);
  s = good;
  s.key = "forged-forged-forged-forged-forged-forged";
  cases.emplace_back("forged", s);
  for (const auto& [name, spec] : cases) {
    v1::WhoAmIResponse me;
    grpc::Status status = WhoAmI(TlsChannel(), MakeJwt(spec), &me);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << name;
  }
  // The leeway is 30s by default: a token expired 10s ago still works.
  s = good;
  s.expires_in = -absl::Seconds(10);
  v1::WhoAmIResponse me;
  EXPECT_TRUE(WhoAmI(TlsChannel(), MakeJwt(s), &me).ok());
}

TEST_F(AuthApiTest, NoCredentialsIsUnauthenticatedOnEveryRpc) {
  for (const MethodDescriptor* m : AllMethods()) {
    grpc::Status status =
        CallGeneric(TlsChannel(), m, *RequestFor(m), "", absl::Seconds(10));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << m->full_name() << ": " << status.error_message();
  }
  grpc::Status bad = CallGeneric(TlsChannel(), AllMethods().front(),
                                 *RequestFor(AllMethods().front()),
                                 "no-such-token", absl::Seconds(10));
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(bad.error_message(), ::testing::Not(HasSubstr("no-such-token")));
}

// Every principal against every RPC over the real server: PERMISSION_DENIED
// exactly where the table denies (authorizer_test.cc checks the table itself
// cell by cell against docs/security.md's matrix; this checks that every
// handler enforces its row).
TEST_F(AuthApiTest, EveryRoleAgainstEveryRpc) {
  Authorizer reference(nullptr, [](absl::string_view rep) {
    return absl::StatusOr<std::set<std::string>>(
        rep == "liu.yang" ? std::set<std::string>{"sales"}
                          : std::set<std::string>());
  });
  std::shared_ptr<grpc::Channel> channel = TlsChannel();
  for (const TokenPrincipal& t : kTokens) {
    v1::WhoAmIResponse me;
    ASSERT_TRUE(WhoAmI(channel, t.token, &me).ok());
    Principal principal;
    principal.id = me.principal();
    for (const std::string& r : me.roles()) {
      principal.roles |= static_cast<RoleSet>(*ParseRole(r));
    }
    principal.departments = {me.departments().begin(), me.departments().end()};
    for (const MethodDescriptor* m : AllMethods()) {
      std::unique_ptr<Message> request = RequestFor(m);
      const bool allowed =
          reference.Check(principal, m->full_name(), *request).ok();
      const bool watch = m->server_streaming();
      grpc::Status status =
          CallGeneric(channel, m, *request, t.token,
                      watch ? absl::Seconds(1) : absl::Seconds(30));
      if (allowed) {
        EXPECT_NE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
            << t.id << " " << m->full_name() << ": " << status.error_message();
        EXPECT_NE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
            << t.id << " " << m->full_name();
      } else {
        EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
            << t.id << " " << m->full_name() << ": " << status.error_message();
      }
    }
  }
}

TEST_F(AuthApiTest, DeniedCallerCannotTellExistingFromMissingCustomers) {
  std::shared_ptr<grpc::Channel> channel = TlsChannel();
  // An admin assigns c-ka, which gets an owner in sales.
  {
    auto stub = v1::AssignmentService::NewStub(channel);
    grpc::ClientContext context;
    testing::SetDeadline(&context);
    context.AddMetadata("authorization", "Bearer tok-system");
    v1::AssignRequest request;
    request.mutable_customer()->set_id("c-ka");
    request.mutable_customer()->set_region("CN/East/Shanghai");
    request.mutable_customer()->set_annual_revenue(80000000);
    request.set_request_id("assign-c-ka");
    v1::AssignResponse response;
    grpc::Status status = stub->Assign(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  auto get = [&](const std::string& token, const std::string& customer) {
    auto stub = v1::OwnershipService::NewStub(channel);
    grpc::ClientContext context;
    testing::SetDeadline(&context);
    context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    v1::GetOwnershipRequest request;
    request.set_customer_id(customer);
    request.set_department("sales");
    v1::Ownership response;
    return stub->GetOwnership(&context, request, &response);
  };
  // The sales rep sees it exists; the service rep cannot tell.
  EXPECT_TRUE(get("tok-rep", "c-ka").ok());
  EXPECT_EQ(get("tok-rep", "c-missing").error_code(),
            grpc::StatusCode::NOT_FOUND);
  grpc::Status existing = get("tok-rep-service", "c-ka");
  grpc::Status missing = get("tok-rep-service", "c-missing");
  EXPECT_EQ(existing.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(existing.error_message(), missing.error_message());
  EXPECT_EQ(existing.error_details(), missing.error_details());
}

TEST_F(AuthApiTest, DenialsAreCounted) {
  const std::string method = "custodian.v1.RosterService.ApplyRoster";
  const int64_t before = server_->authorizer().denied(method);
  const MethodDescriptor* m =
      DescriptorPool::generated_pool()->FindMethodByName(method);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(
      CallGeneric(TlsChannel(), m, *RequestFor(m), "tok-auditor").error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(CallGeneric(TlsChannel(), m, *RequestFor(m), "").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(server_->authorizer().denied(method), before + 2);
}

TEST_F(AuthApiTest, MutationsAreRecordedWithThePrincipal) {
  auto stub = v1::RosterService::NewStub(TlsChannel());
  grpc::ClientContext context;
  testing::SetDeadline(&context);
  context.AddMetadata("authorization", "Bearer tok-manager");
  v1::SetRepStatusRequest request;
  request.set_rep("liu.yang");
  request.set_status(v1::AWAY);
  request.set_reason("holiday");
  request.set_request_id("liu-yang-away");
  v1::SetRepStatusResponse response;
  grpc::Status status = stub->SetRepStatus(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  grpc::ClientContext get_context;
  testing::SetDeadline(&get_context);
  get_context.AddMetadata("authorization", "Bearer tok-auditor");
  v1::GetRosterResponse roster;
  ASSERT_TRUE(
      stub->GetRoster(&get_context, v1::GetRosterRequest(), &roster).ok());
  EXPECT_EQ(roster.updated_by(), "mgr.sales");
}

TEST_F(AuthApiTest, ClientCertificateIdentifiesItsPrincipal) {
  v1::WhoAmIResponse me;
  grpc::Status status = WhoAmI(TlsChannel("billing"), "", &me);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(me.principal(), "billing");
  EXPECT_EQ(me.authenticated_by(), "mtls");
}

TEST_F(AuthApiTest, CertificateWithUnmappedSubjectIsUnauthenticated) {
  v1::WhoAmIResponse me;
  grpc::Status status = WhoAmI(TlsChannel("stranger"), "", &me);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(AuthApiTest, CertificateFromAnotherCaIsRefused) {
  // Same subject as a mapped certificate, signed by a CA the server does
  // not trust: the TLS handshake fails, no call is made.
  v1::WhoAmIResponse me;
  grpc::Status status = WhoAmI(TlsChannel("impostor"), "", &me);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
  EXPECT_NE(me.principal(), "billing");
}

TEST_F(AuthApiTest, PlaintextToTheTlsPortFails) {
  std::shared_ptr<grpc::Channel> plaintext = grpc::CreateChannel(
      server_->address(), grpc::InsecureChannelCredentials());
  v1::WhoAmIResponse me;
  grpc::Status status = WhoAmI(plaintext, "tok-admin", &me);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
}

TEST_F(AuthApiTest, HealthIsOpenWithoutCredentials) {
  auto stub = grpc::health::v1::Health::NewStub(TlsChannel());
  grpc::ClientContext context;
  testing::SetDeadline(&context);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status =
      stub->Check(&context, grpc::health::v1::HealthCheckRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(AuthApiTest, ReloadAcceptsANewTokenFile) {
  keys_.Write("tokens.yaml",
              absl::StrCat("tokens:\n  - sha256: ", TokenSha256Hex("tok-new"),
                           "\n    principal: newbie\n    roles: [auditor]\n"));
  v1::WhoAmIResponse me;
  EXPECT_EQ(WhoAmI(TlsChannel(), "tok-new", &me).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(server_->ReloadCredentials().ok());
  ASSERT_TRUE(WhoAmI(TlsChannel(), "tok-new", &me).ok());
  EXPECT_EQ(me.principal(), "newbie");
  EXPECT_EQ(WhoAmI(TlsChannel(), "tok-admin", &me).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace custodian::server
