// End-to-end tests of custodiand's server: a real CustodianServer in-process
// on a free loopback port, called over a real channel.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "custodian/v1/ruleset_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "rules/loader.h"
#include "server/custodian_server.h"
#include "server/server_options.h"

namespace custodian::server {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kSourceDir[] = CUSTODIAN_SOURCE_DIR;

// A ruleset that names a team the sample roster lacks, in block style so that
// the location is unambiguous: line 7, column 11 (the key `team`).
constexpr char kBrokenRuleset[] =
    "ruleset: broken\n"
    "departments:\n"
    "  sales:\n"
    "    rules:\n"
    "      - id: r1\n"
    "        assign:\n"
    "          team: no-such-team\n";

std::string ReadFile(const std::string& path) {
  absl::StatusOr<std::string> text = rules::ReadTextFile(path);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

// A fresh directory under the test temp dir, removed with its contents.
class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "custodian_server_test.XXXXXX";
    char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr) << "mkdtemp " << pattern;
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  // Writes `text` to `name` inside the directory; returns its path.
  std::string Write(const std::string& name, const std::string& text) const {
    std::string file = path_ + "/" + name;
    std::ofstream(file, std::ios::binary) << text;
    return file;
  }

 private:
  std::string path_;
};

Options TestOptions(const TempDir& dir) {
  Options options;
  options.listen_address = "127.0.0.1:0";
  options.data_dir = dir.path() + "/data";
  options.ruleset_file = absl::StrCat(kSourceDir, "/examples/ruleset.yaml");
  options.roster_file = absl::StrCat(kSourceDir, "/examples/roster.yaml");
  return options;
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<CustodianServer>> server =
        CustodianServer::Create(TestOptions(dir_));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
    channel_ = grpc::CreateChannel(server_->address(),
                                   grpc::InsecureChannelCredentials());
    rulesets_ = v1::RulesetService::NewStub(channel_);
  }

  grpc::Status Validate(const v1::ValidateRulesetRequest& request,
                        v1::ValidateRulesetResponse* response) {
    grpc::ClientContext context;
    SetDeadline(&context);
    return rulesets_->ValidateRuleset(&context, request, response);
  }

  grpc::Status HealthCheck(const std::string& service,
                           grpc::health::v1::HealthCheckResponse* response) {
    auto stub = grpc::health::v1::Health::NewStub(channel_);
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::ClientContext context;
    SetDeadline(&context);
    return stub->Check(&context, request, response);
  }

  // Sends one ServerReflectionRequest with `field` set to `value` over the
  // bidirectional reflection stream and returns the response. The reflection
  // messages come from the generated pool (libgrpc++_reflection registers
  // them; Debian installs no .proto or header for them), and the call goes
  // through the generic stub.
  std::unique_ptr<google::protobuf::Message> Reflect(const std::string& field,
                                                     const std::string& value) {
    const google::protobuf::DescriptorPool* pool =
        google::protobuf::DescriptorPool::generated_pool();
    const google::protobuf::Descriptor* request_type =
        pool->FindMessageTypeByName(
            "grpc.reflection.v1alpha.ServerReflectionRequest");
    const google::protobuf::Descriptor* response_type =
        pool->FindMessageTypeByName(
            "grpc.reflection.v1alpha.ServerReflectionResponse");
    if (request_type == nullptr || response_type == nullptr) {
      ADD_FAILURE() << "reflection messages are not in the generated pool";
      return nullptr;
    }
    auto* factory = google::protobuf::MessageFactory::generated_factory();
    std::unique_ptr<google::protobuf::Message> request(
        factory->GetPrototype(request_type)->New());
    request->GetReflection()->SetString(
        request.get(), request_type->FindFieldByName(field), value);
    std::string bytes = request->SerializeAsString();
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request_buffer(&slice, 1);

    grpc::GenericStub stub(channel_);
    grpc::CompletionQueue cq;
    grpc::ClientContext context;
    SetDeadline(&context);
    auto await = [&cq](intptr_t want) {
      void* tag = nullptr;
      bool ok = false;
      EXPECT_TRUE(cq.Next(&tag, &ok));
      EXPECT_EQ(reinterpret_cast<intptr_t>(tag), want);
      return ok;
    };
    std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
        stub.PrepareCall(&context,
                         "/grpc.reflection.v1alpha.ServerReflection/"
                         "ServerReflectionInfo",
                         &cq);
    call->StartCall(reinterpret_cast<void*>(1));
    EXPECT_TRUE(await(1));
    call->Write(request_buffer, reinterpret_cast<void*>(2));
    EXPECT_TRUE(await(2));
    call->WritesDone(reinterpret_cast<void*>(3));
    EXPECT_TRUE(await(3));
    grpc::ByteBuffer response_buffer;
    call->Read(&response_buffer, reinterpret_cast<void*>(4));
    bool read_ok = await(4);
    grpc::Status status;
    call->Finish(&status, reinterpret_cast<void*>(5));
    EXPECT_TRUE(await(5));
    cq.Shutdown();
    void* tag;
    bool ok;
    while (cq.Next(&tag, &ok)) {
    }
    EXPECT_TRUE(status.ok())
        << status.error_code() << " " << status.error_message();
    if (!read_ok) {
      ADD_FAILURE() << "no reflection response";
      return nullptr;
    }
    std::vector<grpc::Slice> slices;
    EXPECT_TRUE(response_buffer.Dump(&slices).ok());
    std::string response_bytes;
    for (const grpc::Slice& s : slices) {
      response_bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    std::unique_ptr<google::protobuf::Message> response(
        factory->GetPrototype(response_type)->New());
    EXPECT_TRUE(response->ParseFromString(response_bytes));
    return response;
  }

  TempDir dir_;
  std::unique_ptr<CustodianServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::RulesetService::Stub> rulesets_;
};

// Reads a (possibly nested) sub-message field of a dynamic message.
const google::protobuf::Message& SubMessage(
    const google::protobuf::Message& message, const std::string& field) {
  const google::protobuf::FieldDescriptor* f =
      message.GetDescriptor()->FindFieldByName(field);
  EXPECT_NE(f, nullptr) << field;
  return message.GetReflection()->GetMessage(message, f);
}

TEST_F(ServerTest, HealthIsServingOverallAndForRulesetService) {
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = HealthCheck("", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  status = HealthCheck("custodian.v1.RulesetService", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(ServerTest, HealthOfUnknownServiceIsNotFound) {
  grpc::health::v1::HealthCheckResponse response;
  EXPECT_EQ(HealthCheck("no.such.Service", &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServerTest, ReflectionListsServices) {
  std::unique_ptr<google::protobuf::Message> response =
      Reflect("list_services", "");
  ASSERT_NE(response, nullptr);
  const google::protobuf::Message& list =
      SubMessage(*response, "list_services_response");
  const google::protobuf::FieldDescriptor* service_field =
      list.GetDescriptor()->FindFieldByName("service");
  ASSERT_NE(service_field, nullptr);
  std::vector<std::string> names;
  for (int i = 0; i < list.GetReflection()->FieldSize(list, service_field);
       ++i) {
    const google::protobuf::Message& service =
        list.GetReflection()->GetRepeatedMessage(list, service_field, i);
    names.push_back(service.GetReflection()->GetString(
        service, service.GetDescriptor()->FindFieldByName("name")));
  }
  EXPECT_THAT(names, Contains("custodian.v1.RulesetService"));
  EXPECT_THAT(names, Contains("grpc.health.v1.Health"));
  EXPECT_THAT(names, Contains("grpc.reflection.v1alpha.ServerReflection"));
}

// Tools such as grpcurl need the file that declares a service.
TEST_F(ServerTest, ReflectionDescribesRulesetAndHealthServices) {
  for (const auto& [symbol, file] :
       std::vector<std::pair<std::string, std::string>>{
           {"custodian.v1.RulesetService",
            "custodian/v1/ruleset_service.proto"},
           {"grpc.health.v1.Health", "grpc/health/v1/health.proto"}}) {
    std::unique_ptr<google::protobuf::Message> response =
        Reflect("file_containing_symbol", symbol);
    ASSERT_NE(response, nullptr);
    const google::protobuf::Message& files =
        SubMessage(*response, "file_descriptor_response");
    const google::protobuf::FieldDescriptor* bytes_field =
        files.GetDescriptor()->FindFieldByName("file_descriptor_proto");
    ASSERT_NE(bytes_field, nullptr);
    ASSERT_GE(files.GetReflection()->FieldSize(files, bytes_field), 1)
        << symbol;
    google::protobuf::FileDescriptorProto first;
    ASSERT_TRUE(first.ParseFromString(
        files.GetReflection()->GetRepeatedString(files, bytes_field, 0)));
    EXPECT_EQ(first.name(), file) << symbol;
  }
}

TEST_F(ServerTest, SampleRulesetIsValid) {
  v1::ValidateRulesetRequest request;
  request.set_source_text(
      ReadFile(absl::StrCat(kSourceDir, "/examples/ruleset.yaml")));
  v1::ValidateRulesetResponse response;
  grpc::Status status = Validate(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.valid());
  for (const v1::Diagnostic& d : response.diagnostics()) {
    EXPECT_EQ(d.severity(), v1::WARNING) << d.DebugString();
    EXPECT_EQ(d.file(), "ruleset.yaml");
  }
  EXPECT_EQ(response.ruleset().name(), "acme-fy2026");
  EXPECT_EQ(response.ruleset().departments_size(), 2);
}

TEST_F(ServerTest, BrokenRulesetIsInvalidWithLocatedDiagnostics) {
  v1::ValidateRulesetRequest request;
  request.set_source_text(kBrokenRuleset);
  request.set_file_name("rules/broken.yaml");
  v1::ValidateRulesetResponse response;
  grpc::Status status = Validate(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(response.valid());
  ASSERT_EQ(response.diagnostics_size(), 1) << response.DebugString();
  const v1::Diagnostic& d = response.diagnostics(0);
  EXPECT_EQ(d.severity(), v1::ERROR);
  EXPECT_EQ(d.file(), "rules/broken.yaml");
  EXPECT_EQ(d.line(), 7);
  EXPECT_EQ(d.column(), 11);
  EXPECT_EQ(d.field_path(), "departments.sales.rules[0].assign.team");
  EXPECT_THAT(d.message(), HasSubstr("no-such-team"));
  EXPECT_FALSE(response.has_ruleset());
}

TEST_F(ServerTest, RulesetInProtoFormIsValidated) {
  v1::ValidateRulesetRequest request;
  request.set_source_text(
      ReadFile(absl::StrCat(kSourceDir, "/examples/ruleset.yaml")));
  v1::ValidateRulesetResponse from_text;
  ASSERT_TRUE(Validate(request, &from_text).ok());
  ASSERT_TRUE(from_text.valid());

  v1::ValidateRulesetRequest proto_request;
  *proto_request.mutable_ruleset() = from_text.ruleset();
  v1::ValidateRulesetResponse response;
  grpc::Status status = Validate(proto_request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.valid()) << response.DebugString();
  EXPECT_EQ(response.ruleset().name(), "acme-fy2026");

  // Point the first sales rule at a team the roster lacks.
  v1::Ruleset broken = from_text.ruleset();
  ASSERT_GT(broken.departments_size(), 0);
  ASSERT_EQ(broken.departments(0).department(), "sales");
  ASSERT_GT(broken.departments(0).rules_size(), 0);
  broken.mutable_departments(0)->mutable_rules(0)->mutable_assign()->set_team(
      "no-such-team");
  *proto_request.mutable_ruleset() = broken;
  status = Validate(proto_request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(response.valid());
  ASSERT_GE(response.diagnostics_size(), 1);
  const v1::Diagnostic& d = response.diagnostics(0);
  EXPECT_EQ(d.severity(), v1::ERROR);
  EXPECT_EQ(d.file(), "<request>");
  EXPECT_EQ(d.line(), 0);
  EXPECT_EQ(d.column(), 0);
  EXPECT_EQ(d.field_path(), "departments.sales.rules[0].assign.team");
}

TEST_F(ServerTest, RequestWithoutSourceIsInvalidArgumentNamingSource) {
  v1::ValidateRulesetRequest request;
  request.set_file_name("x.yaml");
  v1::ValidateRulesetResponse response;
  grpc::Status status = Validate(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("source: "));
}

TEST_F(ServerTest, OversizedSourceTextIsInvalidArgumentNamingSourceText) {
  v1::ValidateRulesetRequest request;
  request.set_source_text(std::string(rules::kMaxFileBytes + 1, '#'));
  v1::ValidateRulesetResponse response;
  grpc::Status status = Validate(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("source_text: "));
}

TEST_F(ServerTest, SourceTextOfExactlyTheLimitIsAccepted) {
  v1::ValidateRulesetRequest request;
  request.set_source_text(std::string(rules::kMaxFileBytes, '#'));
  v1::ValidateRulesetResponse response;
  grpc::Status status = Validate(request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(ServerTest, RequestOverTheTransportLimitIsResourceExhausted) {
  v1::ValidateRulesetRequest request;
  request.set_source_text(std::string(Options().max_request_bytes + 1, '#'));
  v1::ValidateRulesetResponse response;
  EXPECT_EQ(Validate(request, &response).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(ServerTest, BadFileNameIsInvalidArgumentNamingFileName) {
  for (const std::string& name :
       {std::string("bad\nname.yaml"), std::string(256, 'a')}) {
    v1::ValidateRulesetRequest request;
    request.set_source_text("ruleset: x\n");
    request.set_file_name(name);
    v1::ValidateRulesetResponse response;
    grpc::Status status = Validate(request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << name;
    EXPECT_THAT(status.error_message(), StartsWith("file_name: ")) << name;
  }
}

TEST_F(ServerTest, ShutdownStopsServingAndIsIdempotent) {
  server_->Shutdown(absl::Now() + absl::Seconds(5));
  server_->Shutdown(absl::Now() + absl::Seconds(5));
  grpc::health::v1::HealthCheckResponse response;
  EXPECT_EQ(HealthCheck("", &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST(ServerStartTest, RefusesAnInvalidRulesetFileWithEveryDiagnostic) {
  TempDir dir;
  Options options = TestOptions(dir);
  options.ruleset_file = dir.Write("ruleset.yaml", kBrokenRuleset);
  absl::StatusOr<std::unique_ptr<CustodianServer>> server =
      CustodianServer::Create(options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(server.status().message()),
              StartsWith("ruleset_file: "));
  EXPECT_THAT(
      std::string(server.status().message()),
      HasSubstr(absl::StrCat(options.ruleset_file,
                             ":7:11: departments.sales.rules[0].assign.team: "
                             "")));
}

TEST(ServerStartTest, RefusesAnInvalidRosterFile) {
  TempDir dir;
  Options options = TestOptions(dir);
  options.roster_file =
      dir.Write("roster.yaml", "departments:\n  - {id: sales}\nwho: knows\n");
  absl::StatusOr<std::unique_ptr<CustodianServer>> server =
      CustodianServer::Create(options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(server.status().message()),
              StartsWith("roster_file: "));
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr(absl::StrCat(options.roster_file, ":3:1: who")));
}

TEST(ServerStartTest, MissingRulesetFileIsNotFound) {
  TempDir dir;
  Options options = TestOptions(dir);
  options.ruleset_file = dir.path() + "/absent.yaml";
  absl::StatusOr<std::unique_ptr<CustodianServer>> server =
      CustodianServer::Create(options);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(server.status().message()),
              StartsWith("ruleset_file: "));
}

TEST(ServerStartTest, RefusesANonLoopbackAddress) {
  TempDir dir;
  Options options = TestOptions(dir);
  options.listen_address = "0.0.0.0:0";
  absl::StatusOr<std::unique_ptr<CustodianServer>> server =
      CustodianServer::Create(options);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(server.status().message()),
              StartsWith("listen_address "));
  EXPECT_FALSE(std::filesystem::exists(options.data_dir));
}

TEST(ServerStartTest, CreatesTheDataDirectory) {
  TempDir dir;
  Options options = TestOptions(dir);
  options.data_dir = dir.path() + "/a/b/data";
  absl::StatusOr<std::unique_ptr<CustodianServer>> server =
      CustodianServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE(std::filesystem::is_directory(options.data_dir));
}

TEST(ServerStartTest, PortInUseIsUnavailable) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<CustodianServer>> first =
      CustodianServer::Create(TestOptions(dir));
  ASSERT_TRUE(first.ok()) << first.status();
  Options options = TestOptions(dir);
  options.listen_address = absl::StrCat("127.0.0.1:", (*first)->port());
  absl::StatusOr<std::unique_ptr<CustodianServer>> second =
      CustodianServer::Create(options);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()),
              StartsWith("listen_address: "));
}

}  // namespace
}  // namespace custodian::server
