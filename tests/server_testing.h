// Helpers of server_test: a real CustodianServer in-process on a free
// loopback port over a real RocksDB store in a temp dir, with a ManualClock,
// called over a real channel; readers of the AIP-193 error details; and a
// dump of the whole API-visible state to prove that a call wrote nothing.
#ifndef CUSTODIAN_TESTS_SERVER_TESTING_H_
#define CUSTODIAN_TESTS_SERVER_TESTING_H_

#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "custodian/v1/roster_service.grpc.pb.h"
#include "custodian/v1/ruleset_service.grpc.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "rules/loader.h"
#include "server/custodian_server.h"
#include "server/request_checks.h"
#include "server/server_options.h"

namespace custodian::server::testing {

inline constexpr char kSourceDir[] = CUSTODIAN_SOURCE_DIR;

inline std::string SamplePath(const std::string& name) {
  return absl::StrCat(kSourceDir, "/examples/", name);
}

inline std::string ReadFile(const std::string& path) {
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
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

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

// 2026-01-01T00:00:00Z.
inline absl::Time T0() { return absl::FromUnixSeconds(1767225600); }

// Options for a server on a free port over `dir`/data with the sample files.
// Writes are not synced: tests shut the server down cleanly, and the fsync
// of every commit would only slow them down.
inline Options TestOptions(const TempDir& dir, Clock* clock) {
  Options options;
  options.listen_address = "127.0.0.1:0";
  options.data_dir = dir.path() + "/data";
  options.ruleset_file = SamplePath("ruleset.yaml");
  options.roster_file = SamplePath("roster.yaml");
  options.sync_writes = false;
  options.clock = clock;
  return options;
}

inline void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
}

// The google.rpc.Status sent as `grpc-status-details-bin`; empty when none.
inline google::rpc::Status RpcStatusOf(const grpc::Status& status) {
  google::rpc::Status rpc_status;
  if (!status.error_details().empty()) {
    EXPECT_TRUE(rpc_status.ParseFromString(status.error_details()));
    EXPECT_EQ(rpc_status.code(), static_cast<int>(status.error_code()));
    EXPECT_EQ(rpc_status.message(), status.error_message());
  }
  return rpc_status;
}

// The fields named by the BadRequest detail of `status` (none without one).
inline std::vector<std::string> BadFields(const grpc::Status& status) {
  std::vector<std::string> fields;
  const google::rpc::Status rpc_status = RpcStatusOf(status);
  for (const google::protobuf::Any& any : rpc_status.details()) {
    if (any.type_url() != kBadRequestTypeUrl) continue;
    google::rpc::BadRequest bad_request;
    EXPECT_TRUE(any.UnpackTo(&bad_request));
    for (const auto& violation : bad_request.field_violations()) {
      fields.push_back(violation.field());
    }
  }
  return fields;
}

// The PreconditionFailure detail of `status`, if any.
inline std::optional<google::rpc::PreconditionFailure> PreconditionFailureOf(
    const grpc::Status& status) {
  const google::rpc::Status rpc_status = RpcStatusOf(status);
  for (const google::protobuf::Any& any : rpc_status.details()) {
    if (any.type_url() != kPreconditionFailureTypeUrl) continue;
    google::rpc::PreconditionFailure failure;
    EXPECT_TRUE(any.UnpackTo(&failure));
    return failure;
  }
  return std::nullopt;
}

// A server over a temp dir and clients of both services. The server starts
// in SetUp (first start: the sample roster and ruleset are loaded) and is
// shut down cleanly in TearDown; Restart() does both on the same data dir.
class ServerFixture : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(); }
  void TearDown() override { StopServer(); }

  virtual Options MakeOptions() { return TestOptions(dir_, &clock_); }

  void StartServer() {
    absl::StatusOr<std::unique_ptr<CustodianServer>> server =
        CustodianServer::Create(MakeOptions());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
    channel_ = grpc::CreateChannel(server_->address(),
                                   grpc::InsecureChannelCredentials());
    rulesets_ = v1::RulesetService::NewStub(channel_);
    roster_ = v1::RosterService::NewStub(channel_);
  }

  void StopServer() {
    if (server_ == nullptr) return;
    absl::Status closed = server_->Shutdown(absl::Now() + absl::Seconds(5));
    EXPECT_TRUE(closed.ok()) << closed;
    server_.reset();
    rulesets_.reset();
    roster_.reset();
    channel_.reset();
  }

  void Restart() {
    StopServer();
    StartServer();
  }

  template <typename Stub, typename Request, typename Response>
  static grpc::Status Call(Stub* stub,
                           grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                        const Request&,
                                                        Response*),
                           const Request& request, Response* response) {
    grpc::ClientContext context;
    SetDeadline(&context);
    return (stub->*method)(&context, request, response);
  }

  grpc::Status Validate(const v1::ValidateRulesetRequest& request,
                        v1::ValidateRulesetResponse* response) {
    return Call(rulesets_.get(), &v1::RulesetService::Stub::ValidateRuleset,
                request, response);
  }
  grpc::Status Create(const v1::CreateRulesetVersionRequest& request,
                      v1::RulesetVersion* response) {
    return Call(rulesets_.get(),
                &v1::RulesetService::Stub::CreateRulesetVersion, request,
                response);
  }
  grpc::Status Get(const v1::GetRulesetRequest& request,
                   v1::RulesetVersion* response) {
    return Call(rulesets_.get(), &v1::RulesetService::Stub::GetRuleset, request,
                response);
  }
  grpc::Status List(const v1::ListRulesetVersionsRequest& request,
                    v1::ListRulesetVersionsResponse* response) {
    return Call(rulesets_.get(), &v1::RulesetService::Stub::ListRulesetVersions,
                request, response);
  }
  grpc::Status Activate(const v1::ActivateRulesetRequest& request,
                        v1::ActivateRulesetResponse* response) {
    return Call(rulesets_.get(), &v1::RulesetService::Stub::ActivateRuleset,
                request, response);
  }
  grpc::Status Diff(const v1::DiffRulesetsRequest& request,
                    v1::DiffRulesetsResponse* response) {
    return Call(rulesets_.get(), &v1::RulesetService::Stub::DiffRulesets,
                request, response);
  }
  grpc::Status Apply(const v1::ApplyRosterRequest& request,
                     v1::ApplyRosterResponse* response) {
    return Call(roster_.get(), &v1::RosterService::Stub::ApplyRoster, request,
                response);
  }
  grpc::Status GetRoster(v1::GetRosterResponse* response) {
    return Call(roster_.get(), &v1::RosterService::Stub::GetRoster,
                v1::GetRosterRequest(), response);
  }
  grpc::Status SetRepStatus(const v1::SetRepStatusRequest& request,
                            v1::SetRepStatusResponse* response) {
    return Call(roster_.get(), &v1::RosterService::Stub::SetRepStatus, request,
                response);
  }

  // Everything the API shows: the roster, every version listed and each
  // version in full. Equal before and after a call = the call wrote nothing
  // visible.
  std::string State() {
    std::string state;
    v1::GetRosterResponse roster;
    grpc::Status status = GetRoster(&roster);
    EXPECT_TRUE(status.ok()) << status.error_message();
    absl::StrAppend(&state, roster.DebugString());
    v1::ListRulesetVersionsRequest list_request;
    list_request.set_page_size(1000);
    v1::ListRulesetVersionsResponse list;
    status = List(list_request, &list);
    EXPECT_TRUE(status.ok()) << status.error_message();
    absl::StrAppend(&state, list.DebugString());
    for (const v1::RulesetVersion& summary : list.versions()) {
      v1::GetRulesetRequest get;
      get.set_version(summary.version());
      v1::RulesetVersion version;
      status = Get(get, &version);
      EXPECT_TRUE(status.ok()) << status.error_message();
      absl::StrAppend(&state, version.DebugString());
    }
    return state;
  }

  // The current activation etag.
  std::string ActivationEtag() {
    v1::ListRulesetVersionsResponse list;
    grpc::Status status = List(v1::ListRulesetVersionsRequest(), &list);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return list.activation_etag();
  }

  // Publishes `text` as a new version; returns it (empty on failure).
  v1::RulesetVersion MustCreate(const std::string& text,
                                const std::string& request_id) {
    v1::CreateRulesetVersionRequest request;
    request.set_source_text(text);
    request.set_file_name("rules/acme.yaml");
    request.set_request_id(request_id);
    v1::RulesetVersion version;
    grpc::Status status = Create(request, &version);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return version;
  }

  // Activates `version` with the current etag.
  v1::ActivateRulesetResponse MustActivate(int64_t version,
                                           const std::string& request_id) {
    v1::ActivateRulesetRequest request;
    request.set_version(version);
    request.set_etag(ActivationEtag());
    request.set_reason("test");
    request.set_request_id(request_id);
    v1::ActivateRulesetResponse response;
    grpc::Status status = Activate(request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  TempDir dir_;
  ManualClock clock_{T0()};
  std::unique_ptr<CustodianServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::RulesetService::Stub> rulesets_;
  std::unique_ptr<v1::RosterService::Stub> roster_;
};

}  // namespace custodian::server::testing

#endif  // CUSTODIAN_TESTS_SERVER_TESTING_H_
