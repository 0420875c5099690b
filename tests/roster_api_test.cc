// custodian.v1.RosterService over a real channel, against a real server on
// a real store (tests/server_testing.h): every RPC's happy path, bad input on
// every request field, idempotent retries. The server starts with the sample
// roster (version 1) and the sample ruleset active.
#include <grpcpp/grpcpp.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "custodian/v1/roster_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rules/loader.h"
#include "tests/server_testing.h"

namespace custodian::server {
namespace {

using testing::BadFields;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::ReadFile;
using testing::SamplePath;
using ::testing::StartsWith;

std::string SampleRoster() { return ReadFile(SamplePath("roster.yaml")); }

// The sample roster with a new rep and ma.chao renamed.
std::string GrownRoster() {
  return absl::StrReplaceAll(
      SampleRoster(), {{"{id: ma.chao, name: 马超}",
                        "{id: ma.chao, name: Ma Chao}\n  - {id: new.rep}"}});
}

// The sample roster without team mfg-east, which the active sample ruleset
// names in rule manufacturing-north-east.
std::string RosterWithoutMfgEast() {
  return absl::StrReplaceAll(
      SampleRoster(),
      {{"  - id: mfg-east\n"
        "    department: sales\n"
        "    members: [{rep: liu.yang}, {rep: huang.min}, {rep: zhou.tao}]\n",
        ""}});
}

class RosterApiTest : public testing::ServerFixture {
 protected:
  v1::ApplyRosterRequest ApplyRequest(const std::string& text,
                                      const std::string& request_id) {
    v1::ApplyRosterRequest request;
    request.set_source_text(text);
    request.set_file_name("roster.yaml");
    request.set_request_id(request_id);
    return request;
  }
};

TEST_F(RosterApiTest, GetRosterReturnsTheBootstrappedRoster) {
  v1::GetRosterResponse roster;
  grpc::Status status = GetRoster(&roster);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(roster.version(), 1);
  EXPECT_FALSE(roster.etag().empty());
  EXPECT_EQ(roster.updated_by(), "custodiand-bootstrap");
  EXPECT_EQ(roster.update_time().seconds(), absl::ToUnixSeconds(testing::T0()));
  EXPECT_EQ(roster.roster().departments_size(), 3);
  EXPECT_EQ(roster.roster().reps_size(), 12);
  EXPECT_EQ(roster.roster().teams_size(), 7);
}

TEST_F(RosterApiTest, ApplyListsEveryChangeAndBumpsTheVersion) {
  v1::GetRosterResponse before;
  ASSERT_TRUE(GetRoster(&before).ok());
  clock_.Advance(absl::Minutes(1));
  v1::ApplyRosterResponse applied;
  grpc::Status status = Apply(ApplyRequest(GrownRoster(), "grow"), &applied);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(applied.dry_run());
  EXPECT_EQ(applied.version(), 2);
  std::vector<std::string> changes;
  for (const v1::RosterChange& change : applied.changes()) {
    changes.push_back(absl::StrCat(v1::ChangeKind_Name(change.kind()), " ",
                                   change.resource()));
  }
  EXPECT_THAT(changes,
              ElementsAre("MODIFIED reps/ma.chao", "ADDED reps/new.rep"));

  v1::GetRosterResponse after;
  ASSERT_TRUE(GetRoster(&after).ok());
  EXPECT_EQ(after.version(), 2);
  EXPECT_EQ(after.etag(), applied.etag());
  EXPECT_NE(after.etag(), before.etag());
  EXPECT_EQ(after.updated_by(), "local-dev");
  EXPECT_EQ(after.update_time().seconds(),
            absl::ToUnixSeconds(testing::T0() + absl::Minutes(1)));
  EXPECT_EQ(after.roster().reps_size(), 13);

  // Applying the same file again changes nothing.
  ASSERT_TRUE(Apply(ApplyRequest(GrownRoster(), "grow-again"), &applied).ok());
  EXPECT_TRUE(applied.changes().empty());
  EXPECT_EQ(applied.version(), 2);
}

TEST_F(RosterApiTest, DryRunListsTheChangesAndWritesNothing) {
  const std::string before = State();
  v1::ApplyRosterRequest request = ApplyRequest(GrownRoster(), "");
  request.set_dry_run(true);  // request_id is optional for a dry run
  v1::ApplyRosterResponse response;
  grpc::Status status = Apply(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.dry_run());
  EXPECT_EQ(response.changes_size(), 2);
  EXPECT_EQ(response.version(), 1);
  EXPECT_EQ(State(), before);
}

TEST_F(RosterApiTest, RemovingATeamTheActiveRulesetNamesIsFailedPrecondition) {
  const std::string before = State();
  for (bool dry_run : {false, true}) {
    SCOPED_TRACE(dry_run ? "dry run" : "apply");
    v1::ApplyRosterRequest request =
        ApplyRequest(RosterWithoutMfgEast(), "drop-mfg-east");
    request.set_dry_run(dry_run);
    v1::ApplyRosterResponse response;
    grpc::Status status = Apply(request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(status.error_message(), HasSubstr("manufacturing-north-east"));
    EXPECT_THAT(status.error_message(), HasSubstr("mfg-east"));
    std::optional<google::rpc::PreconditionFailure> failure =
        testing::PreconditionFailureOf(status);
    ASSERT_TRUE(failure.has_value());
    ASSERT_GE(failure->violations_size(), 1);
    EXPECT_EQ(failure->violations(0).type(), "RULESET");
    EXPECT_THAT(failure->violations(0).subject(),
                StartsWith("departments.sales.rules[1]"));
    EXPECT_THAT(failure->violations(0).description(),
                HasSubstr("manufacturing-north-east"));
  }
  EXPECT_EQ(State(), before);
}

TEST_F(RosterApiTest, ApplyWithAStaleEtagIsAborted) {
  v1::GetRosterResponse roster;
  ASSERT_TRUE(GetRoster(&roster).ok());
  v1::ApplyRosterResponse response;
  ASSERT_TRUE(Apply(ApplyRequest(GrownRoster(), "grow"), &response).ok());
  const std::string before = State();
  v1::ApplyRosterRequest request = ApplyRequest(SampleRoster(), "revert");
  request.set_etag(roster.etag());
  grpc::Status status = Apply(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(State(), before);

  request.set_etag(response.etag());  // the current one
  status = Apply(request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.version(), 3);
}

TEST_F(RosterApiTest, InvalidRosterIsInvalidArgumentListingEveryError) {
  const std::string before = State();
  v1::ApplyRosterResponse response;
  grpc::Status status =
      Apply(ApplyRequest("departments:\n  - {id: sales}\nwho: knows\n", "bad"),
            &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(BadFields(status),
              ElementsAre(StartsWith("source_text:3:1 who")));
  EXPECT_EQ(State(), before);
}

TEST_F(RosterApiTest, SetRepStatusChangesOneRepAndBumpsTheVersion) {
  v1::SetRepStatusRequest request;
  request.set_rep("li.na");
  request.set_status(v1::ACTIVE);
  request.set_reason("back from leave");
  request.set_request_id("li-na-back");
  v1::SetRepStatusResponse response;
  grpc::Status status = SetRepStatus(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.rep().id(), "li.na");
  EXPECT_EQ(response.rep().status(), v1::ACTIVE);
  EXPECT_EQ(response.previous_status(), v1::AWAY);
  EXPECT_EQ(response.version(), 2);

  v1::GetRosterResponse roster;
  ASSERT_TRUE(GetRoster(&roster).ok());
  EXPECT_EQ(roster.version(), 2);
  EXPECT_EQ(roster.updated_by(), "local-dev");
  for (const v1::Rep& rep : roster.roster().reps()) {
    if (rep.id() == "li.na") {
      EXPECT_EQ(rep.status(), v1::ACTIVE);
    }
  }
}

TEST_F(RosterApiTest, SetRepStatusOfAnUnknownRepIsNotFound) {
  const std::string before = State();
  v1::SetRepStatusRequest request;
  request.set_rep("nobody");
  request.set_status(v1::AWAY);
  request.set_reason("x");
  request.set_request_id("nobody-away");
  v1::SetRepStatusResponse response;
  grpc::Status status = SetRepStatus(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("nobody"));
  EXPECT_EQ(State(), before);
}

struct BadInput {
  std::string field;
  std::function<grpc::Status()> call;
};

TEST_F(RosterApiTest, BadInputOnEveryFieldIsInvalidArgumentNamingIt) {
  auto apply = [this](std::function<void(v1::ApplyRosterRequest*)> edit)
      -> std::function<grpc::Status()> {
    return [this, edit] {
      v1::ApplyRosterRequest request = ApplyRequest(GrownRoster(), "apply-bad");
      edit(&request);
      v1::ApplyRosterResponse response;
      return Apply(request, &response);
    };
  };
  auto set = [this](std::function<void(v1::SetRepStatusRequest*)> edit)
      -> std::function<grpc::Status()> {
    return [this, edit] {
      v1::SetRepStatusRequest request;
      request.set_rep("li.na");
      request.set_status(v1::ACTIVE);
      request.set_reason("back");
      request.set_request_id("set-bad");
      edit(&request);
      v1::SetRepStatusResponse response;
      return SetRepStatus(request, &response);
    };
  };
  const std::string too_big(rules::kMaxFileBytes + 1, '#');
  const std::vector<BadInput> cases = {
      // ApplyRoster
      {"source", apply([](auto* r) { r->clear_source(); })},
      {"source_text", apply([&](auto* r) { r->set_source_text(too_big); })},
      {"file_name", apply([](auto* r) { r->set_file_name("a\tb"); })},
      {"file_name",
       apply([](auto* r) { r->set_file_name(std::string(256, 'f')); })},
      {"request_id", apply([](auto* r) { r->clear_request_id(); })},
      {"request_id", apply([](auto* r) { r->set_request_id("a b"); })},
      {"request_id", apply([](auto* r) {
         r->set_dry_run(true);  // optional, but checked when given
         r->set_request_id("é");
       })},
      {"etag", apply([](auto* r) { r->set_etag("tab\tetag"); })},
      {"etag", apply([](auto* r) { r->set_etag(std::string(129, 'e')); })},
      // SetRepStatus
      {"rep", set([](auto* r) { r->clear_rep(); })},
      {"rep", set([](auto* r) { r->set_rep("bad rep!"); })},
      {"status",
       set([](auto* r) { r->set_status(v1::REP_STATUS_UNSPECIFIED); })},
      {"status",
       set([](auto* r) { r->set_status(static_cast<v1::RepStatus>(99)); })},
      {"reason", set([](auto* r) { r->clear_reason(); })},
      {"reason", set([](auto* r) { r->set_reason(std::string(1025, 'r')); })},
      {"reason",
       set([](auto* r) { r->set_reason(std::string("nul\0byte", 8)); })},
      {"request_id", set([](auto* r) { r->clear_request_id(); })},
      {"request_id",
       set([](auto* r) { r->set_request_id(std::string(129, 'i')); })},
  };
  const std::string before = State();
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("case ", i, ": ", cases[i].field));
    grpc::Status status = cases[i].call();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << status.error_message();
    EXPECT_THAT(status.error_message(), StartsWith(cases[i].field + ": "));
    EXPECT_THAT(BadFields(status), ElementsAre(cases[i].field));
  }
  EXPECT_EQ(State(), before);
}

TEST_F(RosterApiTest, ApplyRetryWithTheSameRequestIdGetsTheFirstAnswer) {
  v1::ApplyRosterResponse first;
  ASSERT_TRUE(Apply(ApplyRequest(GrownRoster(), "grow-once"), &first).ok());
  ASSERT_EQ(first.version(), 2);
  const std::string after_first = State();
  v1::ApplyRosterResponse retry;
  grpc::Status status = Apply(ApplyRequest(GrownRoster(), "grow-once"), &retry);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(retry.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(State(), after_first);  // one effect: still version 2

  status = Apply(ApplyRequest(SampleRoster(), "grow-once"), &retry);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("request_id: "));
  EXPECT_THAT(BadFields(status), ElementsAre("request_id"));
  EXPECT_EQ(State(), after_first);
}

TEST_F(RosterApiTest, SetRepStatusRetryWithTheSameRequestIdGetsTheFirstAnswer) {
  v1::SetRepStatusRequest request;
  request.set_rep("zhou.tao");
  request.set_status(v1::LEFT);
  request.set_reason("resigned");
  request.set_request_id("zhou-tao-left");
  v1::SetRepStatusResponse first;
  ASSERT_TRUE(SetRepStatus(request, &first).ok());
  const std::string after_first = State();
  v1::SetRepStatusResponse retry;
  ASSERT_TRUE(SetRepStatus(request, &retry).ok());
  EXPECT_EQ(retry.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(State(), after_first);

  request.set_status(v1::AWAY);
  grpc::Status status = SetRepStatus(request, &retry);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(BadFields(status), ElementsAre("request_id"));
  EXPECT_EQ(State(), after_first);
}

}  // namespace
}  // namespace custodian::server
