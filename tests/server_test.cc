// End-to-end tests of custodiand's server: a real CustodianServer in-process
// on a free loopback port over a real RocksDB store in a temp dir, called
// over a real channel. This file: health, reflection, ValidateRuleset,
// start-up (first-start bootstrap, refusals), restart and shutdown. The other
// RPCs: ruleset_api_test.cc and roster_api_test.cc.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "custodian/v1/roster_service.grpc.pb.h"
#include "custodian/v1/ruleset_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "rules/loader.h"
#include "server/bootstrap.h"
#include "server/custodian_server.h"
#include "server/server_options.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"
#include "tests/server_testing.h"

namespace custodian::server {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::ReadFile;
using testing::SamplePath;
using testing::ServerFixture;
using testing::SetDeadline;
using ::testing::StartsWith;
using testing::TempDir;
using testing::TestOptions;

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

class ServerTest : public ServerFixture {
 protected:
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
};

// Reads a (possibly nested) sub-message field of a dynamic message.
const google::protobuf::Message& SubMessage(
    const google::protobuf::Message& message, const std::string& field) {
  const google::protobuf::FieldDescriptor* f =
      message.GetDescriptor()->FindFieldByName(field);
  EXPECT_NE(f, nullptr) << field;
  return message.GetReflection()->GetMessage(message, f);
}

TEST_F(ServerTest, HealthIsServingOverallAndForEachService) {
  for (const char* service :
       {"", "custodian.v1.RulesetService", "custodian.v1.RosterService"}) {
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = HealthCheck(service, &response);
    ASSERT_TRUE(status.ok()) << service << ": " << status.error_message();
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING)
        << service;
  }
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
  EXPECT_THAT(names, Contains("custodian.v1.RosterService"));
  EXPECT_THAT(names, Contains("grpc.health.v1.Health"));
  EXPECT_THAT(names, Contains("grpc.reflection.v1alpha.ServerReflection"));
}

// Tools such as grpcurl need the file that declares a service.
TEST_F(ServerTest, ReflectionDescribesEveryService) {
  for (const auto& [symbol, file] :
       std::vector<std::pair<std::string, std::string>>{
           {"custodian.v1.RulesetService",
            "custodian/v1/ruleset_service.proto"},
           {"custodian.v1.RosterService", "custodian/v1/roster_service.proto"},
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
      ReadFile(absl::StrCat(testing::kSourceDir, "/examples/ruleset.yaml")));
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
      ReadFile(absl::StrCat(testing::kSourceDir, "/examples/ruleset.yaml")));
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

// ValidateRuleset checks against the STORED roster: a team the roster gains
// through ApplyRoster is known to the next validation.
TEST_F(ServerTest, ValidatesAgainstTheStoredRoster) {
  const std::string ruleset =
      "ruleset: growth\n"
      "departments:\n"
      "  sales:\n"
      "    rules:\n"
      "      - id: r1\n"
      "        assign:\n"
      "          team: growth-east\n";
  v1::ValidateRulesetRequest request;
  request.set_source_text(ruleset);
  v1::ValidateRulesetResponse response;
  ASSERT_TRUE(Validate(request, &response).ok());
  EXPECT_FALSE(response.valid());

  std::string roster = ReadFile(SamplePath("roster.yaml")) +
                       "  - id: growth-east\n"
                       "    department: sales\n"
                       "    members: [{rep: ma.chao}]\n";
  v1::ApplyRosterRequest apply;
  apply.set_source_text(roster);
  apply.set_request_id("add-growth-east");
  v1::ApplyRosterResponse applied;
  grpc::Status status = Apply(apply, &applied);
  ASSERT_TRUE(status.ok()) << status.error_message();

  ASSERT_TRUE(Validate(request, &response).ok());
  EXPECT_TRUE(response.valid()) << response.DebugString();
}

TEST_F(ServerTest, ValidateRulesetWritesNothing) {
  std::string before = State();
  v1::ValidateRulesetRequest request;
  request.set_source_text(ReadFile(SamplePath("ruleset.yaml")));
  v1::ValidateRulesetResponse response;
  ASSERT_TRUE(Validate(request, &response).ok());
  ASSERT_TRUE(response.valid());
  EXPECT_EQ(State(), before);
}

TEST_F(ServerTest, BadInputOnEveryValidateFieldNamesItInBadRequest) {
  std::string before = State();
  struct Case {
    std::string field;
    v1::ValidateRulesetRequest request;
  };
  std::vector<Case> cases(3);
  cases[0].field = "source";
  cases[0].request.set_file_name("x.yaml");
  cases[1].field = "source_text";
  cases[1].request.set_source_text(std::string(rules::kMaxFileBytes + 1, '#'));
  cases[2].field = "file_name";
  cases[2].request.set_source_text("ruleset: x\n");
  cases[2].request.set_file_name("a\x01b.yaml");
  for (const Case& c : cases) {
    v1::ValidateRulesetResponse response;
    grpc::Status status = Validate(c.request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.field;
    EXPECT_THAT(status.error_message(), StartsWith(c.field + ": "));
    EXPECT_THAT(testing::BadFields(status), ElementsAre(c.field));
  }
  EXPECT_EQ(State(), before);
}

TEST_F(ServerTest, ShutdownStopsServingClosesTheStoreAndIsIdempotent) {
  EXPECT_TRUE(server_->Shutdown(absl::Now() + absl::Seconds(5)).ok());
  EXPECT_TRUE(server_->Shutdown(absl::Now() + absl::Seconds(5)).ok());
  grpc::health::v1::HealthCheckResponse response;
  EXPECT_EQ(HealthCheck("", &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(server_->SweepIdempotencyNow().status().code(),
            absl::StatusCode::kFailedPrecondition);
  // The store is closed: the data dir can be opened again at once.
  storage::RocksDbStoreOptions options;
  options.data_dir = dir_.path() + "/data";
  options.create_if_missing = false;
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::RocksDbStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->Close().ok());
}

// First start on an empty data dir: the sample roster is applied and the
// sample ruleset published as version 1 and activated, by the bootstrap.
TEST_F(ServerTest, FirstStartLoadsTheSampleRosterAndRuleset) {
  EXPECT_TRUE(server_->startup().bootstrapped);
  EXPECT_EQ(server_->startup().roster_version, 1);
  EXPECT_EQ(server_->startup().active_ruleset_version, 1);
  EXPECT_EQ(server_->startup().active_ruleset_name, "acme-fy2026");

  v1::GetRosterResponse roster;
  ASSERT_TRUE(GetRoster(&roster).ok());
  EXPECT_EQ(roster.version(), 1);
  EXPECT_EQ(roster.updated_by(), kBootstrapActor);
  EXPECT_EQ(roster.roster().reps_size(), 12);

  v1::RulesetVersion active;
  ASSERT_TRUE(Get(v1::GetRulesetRequest(), &active).ok());
  EXPECT_EQ(active.version(), 1);
  EXPECT_TRUE(active.active());
  EXPECT_EQ(active.name(), "acme-fy2026");
  EXPECT_EQ(active.created_by(), kBootstrapActor);
  EXPECT_EQ(active.file_name(), SamplePath("ruleset.yaml"));
  EXPECT_EQ(active.source_text(), ReadFile(SamplePath("ruleset.yaml")));
  ASSERT_EQ(active.activations_size(), 1);
  EXPECT_EQ(active.activations(0).previous_version(), 0);
  EXPECT_EQ(active.activations(0).activated_by(), kBootstrapActor);
  EXPECT_EQ(active.activations(0).activate_time().seconds(),
            absl::ToUnixSeconds(testing::T0()));
}

// A restart on the same data dir serves exactly what was stored: the roster,
// every version, every activation, the active version and the etags. The
// bootstrap does not run again, and the files are not read: they may be gone
// or invalid.
TEST_F(ServerTest, RestartKeepsEverythingAndIgnoresTheFiles) {
  v1::ApplyRosterRequest apply;
  apply.set_source_text(absl::StrReplaceAll(ReadFile(SamplePath("roster.yaml")),
                                            {{"name: 马超", "name: Ma Chao"}}));
  apply.set_request_id("rename-ma-chao");
  v1::ApplyRosterResponse applied;
  ASSERT_TRUE(Apply(apply, &applied).ok());
  v1::SetRepStatusRequest set;
  set.set_rep("li.na");
  set.set_status(v1::ACTIVE);
  set.set_reason("back from leave");
  set.set_request_id("li-na-back");
  v1::SetRepStatusResponse set_response;
  ASSERT_TRUE(SetRepStatus(set, &set_response).ok());
  clock_.Advance(absl::Hours(1));
  MustCreate(
      absl::StrReplaceAll(ReadFile(SamplePath("ruleset.yaml")),
                          {{"ruleset: acme-fy2026", "ruleset: acme-v2"}}),
      "create-v2");
  MustActivate(2, "activate-v2");
  MustActivate(1, "rollback-to-v1");
  MustActivate(2, "forward-to-v2");
  const std::string before = State();
  const std::string etag = ActivationEtag();
  v1::GetRosterResponse roster_before;
  ASSERT_TRUE(GetRoster(&roster_before).ok());

  // Files gone and broken: not read, as the store has state.
  TempDir files;
  Options options = TestOptions(dir_, &clock_);
  options.roster_file = files.path() + "/absent.yaml";
  options.ruleset_file = files.Write("broken.yaml", "ruleset: [\n");
  StopServer();
  absl::StatusOr<std::unique_ptr<CustodianServer>> restarted =
      CustodianServer::Create(options);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  server_ = *std::move(restarted);
  channel_ = grpc::CreateChannel(server_->address(),
                                 grpc::InsecureChannelCredentials());
  rulesets_ = v1::RulesetService::NewStub(channel_);
  roster_ = v1::RosterService::NewStub(channel_);

  EXPECT_FALSE(server_->startup().bootstrapped);
  EXPECT_EQ(server_->startup().roster_version, 3);
  EXPECT_EQ(server_->startup().active_ruleset_version, 2);
  EXPECT_EQ(server_->startup().active_ruleset_name, "acme-v2");
  EXPECT_EQ(State(), before);
  EXPECT_EQ(ActivationEtag(), etag);
  v1::GetRosterResponse roster_after;
  ASSERT_TRUE(GetRoster(&roster_after).ok());
  EXPECT_EQ(roster_after.etag(), roster_before.etag());

  // The request ids survive too: a retry gets the first answer.
  v1::SetRepStatusResponse retried;
  ASSERT_TRUE(SetRepStatus(set, &retried).ok());
  EXPECT_EQ(retried.SerializeAsString(), set_response.SerializeAsString());
  EXPECT_EQ(State(), before);
}

TEST_F(ServerTest, SweepDeletesOnlyExpiredRequestIdRecords) {
  // The bootstrap's three records were written at T0.
  absl::StatusOr<size_t> swept = server_->SweepIdempotencyNow();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(*swept, 0);

  v1::RulesetVersion first = MustCreate(
      absl::StrReplaceAll(ReadFile(SamplePath("ruleset.yaml")),
                          {{"ruleset: acme-fy2026", "ruleset: acme-v2"}}),
      "create-once");
  clock_.Advance(absl::Hours(24) + absl::Seconds(1));
  swept = server_->SweepIdempotencyNow();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(*swept, 4);  // the bootstrap's three and create-once

  // The id has expired: it is a new request now.
  v1::RulesetVersion second = MustCreate(
      absl::StrReplaceAll(ReadFile(SamplePath("ruleset.yaml")),
                          {{"ruleset: acme-fy2026", "ruleset: acme-v2"}}),
      "create-once");
  EXPECT_EQ(first.version(), 2);
  EXPECT_EQ(second.version(), 3);
}

// The ruleset's only error, at line 7, column 11, and a second one at line
// 9, column 11.
constexpr char kTwoErrorsRuleset[] =
    "ruleset: broken\n"
    "departments:\n"
    "  sales:\n"
    "    rules:\n"
    "      - id: r1\n"
    "        assign:\n"
    "          team: no-such-team\n"
    "    fallback:\n"
    "          pool: no-such-pool\n";

// Proves that a failed start wrote nothing: every table but the store's own
// metadata is empty.
void ExpectEmptyStore(const std::string& data_dir) {
  storage::RocksDbStoreOptions options;
  options.data_dir = data_dir;
  options.create_if_missing = false;
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::RocksDbStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  {
    absl::StatusOr<std::unique_ptr<storage::Snapshot>> snapshot =
        (*store)->NewSnapshot();
    ASSERT_TRUE(snapshot.ok()) << snapshot.status();
    for (int t = 0; t < storage::kNumTables; ++t) {
      auto table = static_cast<storage::Table>(t);
      if (table == storage::Table::kMeta) continue;
      std::unique_ptr<storage::ScanIterator> it = (*snapshot)->Scan(table, "");
      EXPECT_FALSE(it->Valid()) << storage::TableName(table) << " has "
                                << (it->Valid() ? it->key() : "");
    }
  }
  EXPECT_TRUE((*store)->Close().ok());
}

TEST(ServerStartTest, FirstStartRefusesAnInvalidRulesetWithEveryDiagnostic) {
  TempDir dir;
  ManualClock clock(testing::T0());
  Options options = TestOptions(dir, &clock);
  options.ruleset_file = dir.Write("ruleset.yaml", kTwoErrorsRuleset);
  absl::StatusOr<std::unique_ptr<CustodianServer>> server =
      CustodianServer::Create(options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(server.status().message());
  EXPECT_THAT(message, StartsWith("ruleset_file: "));
  EXPECT_THAT(message, HasSubstr("(2 error(s)"));
  EXPECT_THAT(message, HasSubstr(absl::StrCat(
                           options.ruleset_file,
                           ":7:11: departments.sales.rules[0].assign.team: ")));
  EXPECT_THAT(message,
              HasSubstr(absl::StrCat(options.ruleset_file,
                                     ":9:11: departments.sales.fallback")));
  ExpectEmptyStore(options.data_dir);
}

TEST(ServerStartTest, FirstStartRefusesAnInvalidRosterFile) {
  TempDir dir;
  ManualClock clock(testing::T0());
  Options options = TestOptions(dir, &clock);
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
  ExpectEmptyStore(options.data_dir);
}

TEST(ServerStartTest, FirstStartWithoutTheRulesetFileIsNotFound) {
  TempDir dir;
  ManualClock clock(testing::T0());
  Options options = TestOptions(dir, &clock);
  options.ruleset_file = dir.path() + "/absent.yaml";
  absl::StatusOr<std::unique_ptr<CustodianServer>> server =
      CustodianServer::Create(options);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(server.status().message()),
              StartsWith("ruleset_file: "));
}

TEST(ServerStartTest, RefusesANonLoopbackAddressBeforeTouchingTheDisk) {
  TempDir dir;
  ManualClock clock(testing::T0());
  Options options = TestOptions(dir, &clock);
  options.listen_address = "0.0.0.0:0";
  absl::StatusOr<std::unique_ptr<CustodianServer>> server =
      CustodianServer::Create(options);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(server.status().message()),
              StartsWith("listen_address "));
  EXPECT_FALSE(std::filesystem::exists(options.data_dir));
}

TEST(ServerStartTest, CreatesTheDataDirectoryWithItsParents) {
  TempDir dir;
  ManualClock clock(testing::T0());
  Options options = TestOptions(dir, &clock);
  options.data_dir = dir.path() + "/a/b/data";
  absl::StatusOr<std::unique_ptr<CustodianServer>> server =
      CustodianServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE(std::filesystem::is_directory(options.data_dir));
}

TEST(ServerStartTest, PortInUseIsUnavailableAndReleasesTheStore) {
  TempDir dir;
  TempDir other;
  ManualClock clock(testing::T0());
  absl::StatusOr<std::unique_ptr<CustodianServer>> first =
      CustodianServer::Create(TestOptions(dir, &clock));
  ASSERT_TRUE(first.ok()) << first.status();
  Options options = TestOptions(other, &clock);
  options.listen_address = absl::StrCat("127.0.0.1:", (*first)->port());
  absl::StatusOr<std::unique_ptr<CustodianServer>> second =
      CustodianServer::Create(options);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()),
              StartsWith("listen_address: "));
  // The failed start closed its store: a server on a free port starts on it.
  options.listen_address = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<CustodianServer>> third =
      CustodianServer::Create(options);
  EXPECT_TRUE(third.ok()) << third.status();
}

// The plaintext health port serves grpc.health.v1.Health and nothing else,
// with the main port's serving status, and stops with the server.
TEST(ServerStartTest, HealthPortServesOnlyHealthAndStopsWithTheServer) {
  TempDir dir;
  ManualClock clock(testing::T0());
  Options options = TestOptions(dir, &clock);
  options.health_listen_address = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<CustodianServer>> server =
      CustodianServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->health_port(), 0);
  EXPECT_NE((*server)->health_port(), (*server)->port());
  EXPECT_EQ((*server)->health_address(),
            absl::StrCat("127.0.0.1:", (*server)->health_port()));
  std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(
      (*server)->health_address(), grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  auto check = [&](const std::string& service,
                   grpc::health::v1::HealthCheckResponse* response) {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::ClientContext context;
    SetDeadline(&context);
    return health->Check(&context, request, response);
  };
  for (const std::string& service :
       {std::string(), std::string("custodian.v1.AssignmentService"),
        std::string("custodian.v1.PoolService")}) {
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = check(service, &response);
    ASSERT_TRUE(status.ok()) << service << ": " << status.error_message();
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING)
        << service;
  }
  // No custodian.v1 service is served on the health port.
  auto rulesets = v1::RulesetService::NewStub(channel);
  v1::ValidateRulesetRequest request;
  request.set_source_text("ruleset: x\n");
  v1::ValidateRulesetResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  EXPECT_EQ(
      rulesets->ValidateRuleset(&context, request, &response).error_code(),
      grpc::StatusCode::UNIMPLEMENTED);

  ASSERT_TRUE((*server)->Shutdown(absl::Now() + absl::Seconds(5)).ok());
  grpc::health::v1::HealthCheckResponse after;
  grpc::Status stopped = check("", &after);
  EXPECT_EQ(stopped.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(ServerStartTest, HealthPortInUseIsUnavailableAndReleasesTheStore) {
  TempDir dir;
  TempDir other;
  ManualClock clock(testing::T0());
  absl::StatusOr<std::unique_ptr<CustodianServer>> first =
      CustodianServer::Create(TestOptions(dir, &clock));
  ASSERT_TRUE(first.ok()) << first.status();
  Options options = TestOptions(other, &clock);
  options.health_listen_address = absl::StrCat("127.0.0.1:", (*first)->port());
  absl::StatusOr<std::unique_ptr<CustodianServer>> second =
      CustodianServer::Create(options);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()),
              StartsWith("health_listen_address: "));
  options.health_listen_address = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<CustodianServer>> third =
      CustodianServer::Create(options);
  EXPECT_TRUE(third.ok()) << third.status();
}

TEST(ServerStartTest, DataDirInUseIsUnavailableNamingDataDir) {
  TempDir dir;
  ManualClock clock(testing::T0());
  absl::StatusOr<std::unique_ptr<CustodianServer>> first =
      CustodianServer::Create(TestOptions(dir, &clock));
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::unique_ptr<CustodianServer>> second =
      CustodianServer::Create(TestOptions(dir, &clock));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()), StartsWith("data_dir: "));
}

}  // namespace
}  // namespace custodian::server
