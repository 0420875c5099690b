// Authentication and authorization over real channels against a real server
// (tests/server_testing.h) configured with TLS, mutual TLS, a static token
// file and HS256 JWTs. Keys and certificates are made by the test with the
// openssl command line (server/auth_testing.h).
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "custodian/v1/assignment_service.grpc.pb.h"
#include "custodian/v1/audit_service.grpc.pb.h"
#include "custodian/v1/dispute_service.grpc.pb.h"
#include "custodian/v1/identity_service.grpc.pb.h"
#include "custodian/v1/ownership_service.grpc.pb.h"
#include "custodian/v1/pool_service.grpc.pb.h"
#include "custodian/v1/review_service.grpc.pb.h"
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
    ConfigureAuth(&auth);
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

  // Lets a test change the authentication options before the server starts.
  virtual void ConfigureAuth(AuthOptions* /*auth*/) {}

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
      &descriptor_table_custodian_2fv1_2fpool_5fservice_2eproto,
      &descriptor_table_custodian_2fv1_2fdispute_5fservice_2eproto,
      &descriptor_table_custodian_2fv1_2fidentity_5fservice_2eproto,
      &descriptor_table_custodian_2fv1_2faudit_5fservice_2eproto,
      &descriptor_table_custodian_2fv1_2freview_5fservice_2eproto};
  (void)files;
  std::vector<const MethodDescriptor*> methods;
  for (const RpcRule& rule : RpcRules()) {
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
        {"rep", "liu.yang"},
        {"claimant", "liu.yang"}}) {
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

class CertificateReloadTest : public AuthApiTest {
 protected:
  void ConfigureAuth(AuthOptions* auth) override {
    auth->tls_reload_interval = absl::Seconds(1);
  }
};

// The server certificate is replaced on disk by one from another CA: the
// running server starts presenting it, without a restart.
TEST_F(CertificateReloadTest, NewServerCertificateIsServedWithoutRestart) {
  keys_.MakeCert("server2", "other-ca", "custodian.test", /*server=*/true);
  v1::WhoAmIResponse me;
  ASSERT_EQ(WhoAmI(TlsChannel("", "other-ca"), "tok-admin", &me).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(WhoAmI(TlsChannel(), "tok-admin", &me).ok());
  // Key first, then certificate, each replaced by a rename.
  keys_.Write("server.key.new", keys_.Read("server2.key"));
  keys_.Write("server.crt.new", keys_.Read("server2.crt"));
  std::filesystem::rename(keys_.Path("server.key.new"),
                          keys_.Path("server.key"));
  std::filesystem::rename(keys_.Path("server.crt.new"),
                          keys_.Path("server.crt"));
  // The watcher looks every second; give it a generous deadline.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  grpc::Status status;
  do {
    status = WhoAmI(TlsChannel("", "other-ca"), "tok-admin", &me);
    if (status.ok()) break;
    absl::SleepFor(absl::Milliseconds(200));
  } while (absl::Now() < deadline);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(me.principal(), "root");
  // The old CA no longer verifies the server.
  EXPECT_EQ(WhoAmI(TlsChannel(), "tok-admin", &me).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

// Calls `method` on `stub` as `token` ("" for no credentials).
template <typename Stub, typename Request, typename Response>
grpc::Status As(const std::string& token, Stub* stub,
                grpc::Status (Stub::*method)(grpc::ClientContext*,
                                             const Request&, Response*),
                const Request& request, Response* response) {
  grpc::ClientContext context;
  testing::SetDeadline(&context);
  if (!token.empty()) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
  }
  return (stub->*method)(&context, request, response);
}

class AuditApiTest : public AuthApiTest {
 protected:
  void SetUp() override {
    AuthApiTest::SetUp();
    channel_ = TlsChannel();
    rulesets_ = v1::RulesetService::NewStub(channel_);
    roster_ = v1::RosterService::NewStub(channel_);
    assignment_ = v1::AssignmentService::NewStub(channel_);
    ownership_ = v1::OwnershipService::NewStub(channel_);
    audit_ = v1::AuditService::NewStub(channel_);
    // Everything after the first-start bootstrap happens an hour later.
    clock_.Advance(absl::Hours(1));
  }

  std::vector<v1::AuditRecord> List(v1::ListAuditRecordsRequest request) {
    std::vector<v1::AuditRecord> records;
    while (true) {
      v1::ListAuditRecordsResponse page;
      grpc::Status status =
          As("tok-auditor", audit_.get(),
             &v1::AuditService::Stub::ListAuditRecords, request, &page);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      if (request.page_size() > 0) {
        EXPECT_LE(page.records_size(), request.page_size());
      }
      records.insert(records.end(), page.records().begin(),
                     page.records().end());
      if (page.next_page_token().empty()) break;
      request.set_page_token(page.next_page_token());
    }
    return records;
  }
  std::vector<v1::AuditRecord> All() {
    return List(v1::ListAuditRecordsRequest());
  }

  v1::AssignRequest AssignOf(const std::string& id, int64_t revenue,
                             const std::string& request_id) {
    v1::AssignRequest request;
    request.mutable_customer()->set_id(id);
    request.mutable_customer()->set_region("CN/East/Shanghai");
    request.mutable_customer()->set_industry("C/C39");
    request.mutable_customer()->set_customer_type("smb");
    request.mutable_customer()->set_sales_stage("proposal");
    request.mutable_customer()->set_annual_revenue(revenue);
    request.set_request_id(request_id);
    return request;
  }

  // Makes one successful call of every mutating RPC (BatchAssign with two
  // customers).
  void MakeEveryMutation() {
    v1::CreateRulesetVersionRequest publish;
    publish.set_source_text(
        testing::ReadFile(testing::SamplePath("ruleset.yaml")));
    publish.set_file_name("ruleset.yaml");
    publish.set_request_id("publish-2");
    v1::RulesetVersion published;
    grpc::Status status = As("tok-admin", rulesets_.get(),
                             &v1::RulesetService::Stub::CreateRulesetVersion,
                             publish, &published);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(published.version(), 2);

    v1::ListRulesetVersionsResponse versions;
    ASSERT_TRUE(As("tok-admin", rulesets_.get(),
                   &v1::RulesetService::Stub::ListRulesetVersions,
                   v1::ListRulesetVersionsRequest(), &versions)
                    .ok());
    v1::ActivateRulesetRequest activate;
    activate.set_version(2);
    activate.set_etag(versions.activation_etag());
    activate.set_reason("same rules, new version");
    activate.set_request_id("activate-2");
    v1::ActivateRulesetResponse activated;
    status =
        As("tok-admin", rulesets_.get(),
           &v1::RulesetService::Stub::ActivateRuleset, activate, &activated);
    ASSERT_TRUE(status.ok()) << status.error_message();

    v1::SetRepStatusRequest away;
    away.set_rep("liu.yang");
    away.set_status(v1::AWAY);
    away.set_reason("holiday");
    away.set_request_id("liu-yang-away");
    v1::SetRepStatusResponse set;
    status = As("tok-manager", roster_.get(),
                &v1::RosterService::Stub::SetRepStatus, away, &set);
    ASSERT_TRUE(status.ok()) << status.error_message();

    v1::ApplyRosterRequest apply;
    apply.set_source_text(
        testing::ReadFile(testing::SamplePath("roster.yaml")));
    apply.set_request_id("roster-again");
    v1::ApplyRosterResponse applied;
    status = As("tok-admin", roster_.get(),
                &v1::RosterService::Stub::ApplyRoster, apply, &applied);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(applied.changes_size(), 1);  // liu.yang active again

    v1::AssignResponse assigned;
    status = As("tok-system", assignment_.get(),
                &v1::AssignmentService::Stub::Assign,
                AssignOf("c-ka", 80000000, "assign-c-ka"), &assigned);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(assigned.departments(0).ownership().state(),
              v1::Ownership::PENDING_APPROVAL);

    v1::ApproveRequest approve;
    approve.set_customer_id("c-ka");
    approve.set_department("sales");
    approve.set_request_id("approve-c-ka");
    v1::Ownership approved;
    status = As("tok-manager", ownership_.get(),
                &v1::OwnershipService::Stub::Approve, approve, &approved);
    ASSERT_TRUE(status.ok()) << status.error_message();

    v1::BatchAssignRequest batch;
    *batch.add_requests() = AssignOf("c-ka2", 90000000, "assign-c-ka2");
    *batch.add_requests() = AssignOf("c-mfg", 2000000, "assign-c-mfg");
    v1::BatchAssignResponse batched;
    status = As("tok-system", assignment_.get(),
                &v1::AssignmentService::Stub::BatchAssign, batch, &batched);
    ASSERT_TRUE(status.ok()) << status.error_message();
    for (const v1::BatchAssignResult& r : batched.results()) {
      ASSERT_TRUE(r.has_response()) << r.error().message();
    }

    v1::RejectRequest reject;
    reject.set_customer_id("c-ka2");
    reject.set_department("sales");
    reject.set_reason("not a fit");
    reject.set_request_id("reject-c-ka2");
    v1::Ownership rejected;
    status = As("tok-manager", ownership_.get(),
                &v1::OwnershipService::Stub::Reject, reject, &rejected);
    ASSERT_TRUE(status.ok()) << status.error_message();

    v1::UpdateCustomerRequest update;
    *update.mutable_customer() = AssignOf("c-mfg", 2500000, "").customer();
    update.set_request_id("update-c-mfg");
    v1::AssignResponse updated;
    status = As("tok-system", assignment_.get(),
                &v1::AssignmentService::Stub::UpdateCustomer, update, &updated);
    ASSERT_TRUE(status.ok()) << status.error_message();

    v1::TransferRequest transfer;
    transfer.set_customer_id("c-mfg");
    transfer.set_department("sales");
    transfer.set_pool("east-pool");
    transfer.set_reason("rebalancing");
    transfer.set_request_id("transfer-c-mfg");
    v1::Ownership transferred;
    status = As("tok-manager", ownership_.get(),
                &v1::OwnershipService::Stub::Transfer, transfer, &transferred);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::RulesetService::Stub> rulesets_;
  std::unique_ptr<v1::RosterService::Stub> roster_;
  std::unique_ptr<v1::AssignmentService::Stub> assignment_;
  std::unique_ptr<v1::OwnershipService::Stub> ownership_;
  std::unique_ptr<v1::AuditService::Stub> audit_;
};

const v1::AuditRecord* Find(const std::vector<v1::AuditRecord>& records,
                            const std::string& rpc,
                            const std::string& request_id) {
  const v1::AuditRecord* found = nullptr;
  for (const v1::AuditRecord& r : records) {
    if (r.rpc() == rpc && r.request_id() == request_id) {
      EXPECT_EQ(found, nullptr)
          << "two records of " << rpc << " " << request_id;
      found = &r;
    }
  }
  return found;
}

TEST_F(AuditApiTest, BootstrapIsAudited) {
  std::vector<v1::AuditRecord> records = All();
  ASSERT_EQ(records.size(), 3u);
  std::set<std::string> rpcs;
  for (const v1::AuditRecord& r : records) {
    EXPECT_EQ(r.principal(), "custodiand-bootstrap");
    EXPECT_EQ(r.outcome().substr(0, 2), "OK");
    rpcs.insert(r.rpc());
  }
  EXPECT_EQ(rpcs, (std::set<std::string>{
                      "custodian.v1.RosterService.ApplyRoster",
                      "custodian.v1.RulesetService.CreateRulesetVersion",
                      "custodian.v1.RulesetService.ActivateRuleset"}));
}

TEST_F(AuditApiTest, EveryMutationLeavesOneRecordWithWhoWhatAndWhen) {
  const size_t before = All().size();
  ASSERT_NO_FATAL_FAILURE(MakeEveryMutation());
  std::vector<v1::AuditRecord> records = All();
  EXPECT_EQ(records.size(), before + 11);

  struct Expected {
    const char* rpc;
    const char* request_id;
    const char* principal;
    const char* role;
    const char* resource;
  };
  const Expected expected[] = {
      {"RulesetService.CreateRulesetVersion", "publish-2", "root", "admin",
       "rulesets/2"},
      {"RulesetService.ActivateRuleset", "activate-2", "root", "admin",
       "rulesets/2"},
      {"RosterService.SetRepStatus", "liu-yang-away", "mgr.sales", "manager",
       "reps/liu.yang"},
      {"RosterService.ApplyRoster", "roster-again", "root", "admin", "roster"},
      {"AssignmentService.Assign", "assign-c-ka", "svc-crm", "system",
       "customers/c-ka/departments/sales"},
      {"OwnershipService.Approve", "approve-c-ka", "mgr.sales", "manager",
       "customers/c-ka/departments/sales"},
      {"AssignmentService.BatchAssign", "assign-c-ka2", "svc-crm", "system",
       "customers/c-ka2"},
      {"AssignmentService.BatchAssign", "assign-c-mfg", "svc-crm", "system",
       "customers/c-mfg"},
      {"OwnershipService.Reject", "reject-c-ka2", "mgr.sales", "manager",
       "customers/c-ka2/departments/sales"},
      {"AssignmentService.UpdateCustomer", "update-c-mfg", "svc-crm", "system",
       "customers/c-mfg"},
      {"OwnershipService.Transfer", "transfer-c-mfg", "mgr.sales", "manager",
       "customers/c-mfg/departments/sales"},
  };
  for (const Expected& e : expected) {
    const v1::AuditRecord* r =
        Find(records, absl::StrCat("custodian.v1.", e.rpc), e.request_id);
    ASSERT_NE(r, nullptr) << e.rpc << " " << e.request_id;
    EXPECT_EQ(r->principal(), e.principal) << e.rpc;
    EXPECT_THAT(r->roles(), ::testing::ElementsAre(e.role)) << e.rpc;
    EXPECT_THAT(r->resources(), ::testing::Contains(e.resource)) << e.rpc;
    EXPECT_EQ(r->outcome().substr(0, 2), "OK") << e.rpc;
    EXPECT_EQ(r->time().seconds(),
              absl::ToUnixSeconds(testing::T0() + absl::Hours(1)))
        << e.rpc;
  }
}

TEST_F(AuditApiTest, FailedRefusedRetriedAndDryRunCallsLeaveNoRecord) {
  ASSERT_NO_FATAL_FAILURE(MakeEveryMutation());
  const size_t before = All().size();

  v1::AssignRequest empty;
  empty.set_request_id("bad");
  v1::AssignResponse assigned;
  EXPECT_EQ(As("tok-system", assignment_.get(),
               &v1::AssignmentService::Stub::Assign, empty, &assigned)
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  v1::TransferRequest missing;
  missing.set_customer_id("c-missing");
  missing.set_department("sales");
  missing.set_pool("east-pool");
  missing.set_reason("x");
  missing.set_request_id("transfer-missing");
  v1::Ownership o;
  EXPECT_EQ(As("tok-admin", ownership_.get(),
               &v1::OwnershipService::Stub::Transfer, missing, &o)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::ActivateRulesetRequest stale;
  stale.set_version(1);
  stale.set_etag("stale");
  stale.set_reason("roll back");
  stale.set_request_id("activate-stale");
  v1::ActivateRulesetResponse activated;
  EXPECT_EQ(As("tok-admin", rulesets_.get(),
               &v1::RulesetService::Stub::ActivateRuleset, stale, &activated)
                .error_code(),
            grpc::StatusCode::ABORTED);

  v1::ApproveRequest again;
  again.set_customer_id("c-ka");
  again.set_department("sales");
  again.set_request_id("approve-again");
  EXPECT_EQ(As("tok-manager", ownership_.get(),
               &v1::OwnershipService::Stub::Approve, again, &o)
                .error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  v1::ApplyRosterRequest apply;
  apply.set_source_text(testing::ReadFile(testing::SamplePath("roster.yaml")));
  apply.set_request_id("roster-by-auditor");
  v1::ApplyRosterResponse applied;
  EXPECT_EQ(As("tok-auditor", roster_.get(),
               &v1::RosterService::Stub::ApplyRoster, apply, &applied)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(As("", roster_.get(), &v1::RosterService::Stub::ApplyRoster, apply,
               &applied)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  apply.set_dry_run(true);
  EXPECT_TRUE(As("tok-admin", roster_.get(),
                 &v1::RosterService::Stub::ApplyRoster, apply, &applied)
                  .ok());

  // A retry gets the first answer and changes nothing.
  EXPECT_TRUE(As("tok-system", assignment_.get(),
                 &v1::AssignmentService::Stub::Assign,
                 AssignOf("c-ka", 80000000, "assign-c-ka"), &assigned)
                  .ok());

  EXPECT_EQ(All().size(), before);
}

TEST_F(AuditApiTest, ListFiltersByPrincipalResourceAndTimeAndPages) {
  ASSERT_NO_FATAL_FAILURE(MakeEveryMutation());
  const std::vector<v1::AuditRecord> all = All();
  ASSERT_EQ(all.size(), 14u);

  v1::ListAuditRecordsRequest by_principal;
  by_principal.set_principal("mgr.sales");
  std::vector<std::string> rpcs;
  for (const v1::AuditRecord& r : List(by_principal)) rpcs.push_back(r.rpc());
  EXPECT_THAT(rpcs, ::testing::UnorderedElementsAre(
                        "custodian.v1.RosterService.SetRepStatus",
                        "custodian.v1.OwnershipService.Approve",
                        "custodian.v1.OwnershipService.Reject",
                        "custodian.v1.OwnershipService.Transfer"));

  v1::ListAuditRecordsRequest by_resource;
  by_resource.set_resource("customers/c-mfg");
  EXPECT_EQ(List(by_resource).size(), 3u);  // batch item, update, transfer

  v1::ListAuditRecordsRequest since;
  since.mutable_start_time()->set_seconds(
      absl::ToUnixSeconds(testing::T0() + absl::Minutes(30)));
  EXPECT_EQ(List(since).size(), 11u);  // not the bootstrap's
  v1::ListAuditRecordsRequest until;
  until.mutable_end_time()->set_seconds(
      absl::ToUnixSeconds(testing::T0() + absl::Minutes(30)));
  EXPECT_EQ(List(until).size(), 3u);  // only the bootstrap's

  v1::ListAuditRecordsRequest paged;
  paged.set_page_size(2);
  std::vector<v1::AuditRecord> pages = List(paged);
  ASSERT_EQ(pages.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(pages[i].SerializeAsString(), all[i].SerializeAsString()) << i;
  }
  // Oldest first.
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_LE(all[i - 1].time().seconds(), all[i].time().seconds());
  }

  // A token does not work with other filters; a negative size is refused.
  v1::ListAuditRecordsResponse page;
  paged.set_page_size(1);
  ASSERT_TRUE(As("tok-auditor", audit_.get(),
                 &v1::AuditService::Stub::ListAuditRecords, paged, &page)
                  .ok());
  ASSERT_FALSE(page.next_page_token().empty());
  v1::ListAuditRecordsRequest other = by_principal;
  other.set_page_token(page.next_page_token());
  EXPECT_EQ(As("tok-auditor", audit_.get(),
               &v1::AuditService::Stub::ListAuditRecords, other, &page)
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::ListAuditRecordsRequest negative;
  negative.set_page_size(-1);
  EXPECT_EQ(As("tok-auditor", audit_.get(),
               &v1::AuditService::Stub::ListAuditRecords, negative, &page)
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace custodian::server
