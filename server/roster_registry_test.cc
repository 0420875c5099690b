#include "server/roster_registry.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "rules/loader.h"
#include "server/domain_testing.h"
#include "server/idempotency.h"
#include "server/request_checks.h"
#include "storage/keys.h"

namespace custodian::server {
namespace {

using ::google::protobuf::util::TimeUtil;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::kRosterWithoutServiceYaml;
using testing::kRosterYaml;
using testing::kRulesetV1Yaml;
using testing::T0;

class RosterRegistryTest : public testing::DomainTest {
 protected:
  // Every status change recorded for `rep`, as "before->after by actor:
  // reason".
  std::vector<std::string> History(absl::string_view rep) {
    std::vector<std::string> out;
    auto snapshot = store_->NewSnapshot();
    EXPECT_TRUE(snapshot.ok());
    auto it =
        (*snapshot)->Scan(storage::Table::kRoster, RepStatusHistoryPrefix(rep));
    for (; it->Valid(); it->Next()) {
      v1::RosterChange change;
      EXPECT_TRUE(change.ParseFromString(std::string(it->value())));
      EXPECT_EQ(change.resource(), absl::StrCat("reps/", rep));
      EXPECT_EQ(change.changes_size(), 4);
      if (change.changes_size() != 4) continue;
      out.push_back(absl::StrCat(
          change.changes(0).before(), "->", change.changes(0).after(), " by ",
          change.changes(2).after(), " at ", change.changes(3).after(), ": ",
          change.changes(1).after()));
    }
    return out;
  }

  v1::RepStatus StatusOf(absl::string_view rep) {
    auto got = roster_->Get();
    EXPECT_TRUE(got.ok());
    for (const v1::Rep& r : got->roster().reps()) {
      if (r.id() == rep) return r.status();
    }
    return v1::REP_STATUS_UNSPECIFIED;
  }

  static std::vector<std::string> Resources(
      const v1::ApplyRosterResponse& response) {
    std::vector<std::string> out;
    for (const v1::RosterChange& c : response.changes()) {
      out.push_back(
          absl::StrCat(v1::ChangeKind_Name(c.kind()), " ", c.resource()));
    }
    return out;
  }
};

TEST_F(RosterRegistryTest, GetBeforeFirstApplyIsEmpty) {
  auto got = roster_->Get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->version(), 0);
  EXPECT_EQ(got->etag(), "");
  EXPECT_EQ(got->roster().reps_size(), 0);
}

TEST_F(RosterRegistryTest, FirstApplyAddsEverythingAsVersion1) {
  v1::ApplyRosterResponse response = MustApply(kRosterYaml, "r1");
  EXPECT_THAT(
      Resources(response),
      ElementsAre("ADDED departments/sales", "ADDED departments/service",
                  "ADDED reps/li.na", "ADDED reps/wu.xia",
                  "ADDED reps/zhang.wei", "ADDED teams/east-pool",
                  "ADDED teams/ka-east", "ADDED teams/service-cn"));
  EXPECT_EQ(response.version(), 1);
  EXPECT_EQ(response.etag(), RosterEtag(1));
  EXPECT_FALSE(response.dry_run());

  auto got = roster_->Get();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->version(), 1);
  EXPECT_EQ(got->etag(), RosterEtag(1));
  EXPECT_EQ(got->updated_by(), "admin");
  EXPECT_EQ(TimeUtil::TimestampToMicroseconds(got->update_time()),
            absl::ToUnixMicros(T0()));
  ASSERT_EQ(got->roster().reps_size(), 3);
  EXPECT_EQ(got->roster().reps(0).id(), "zhang.wei");
  EXPECT_EQ(got->roster().reps(0).status(), v1::ACTIVE);  // default applied
  EXPECT_EQ(got->roster().reps(1).status(), v1::AWAY);
  EXPECT_EQ(got->roster().teams_size(), 3);
}

TEST_F(RosterRegistryTest, RemovedRepBecomesLeftAndReaddedTakesFileStatus) {
  MustApply(kRosterYaml, "r1");
  clock_.Advance(absl::Minutes(1));
  v1::ApplyRosterResponse removed = MustApply(kRosterWithoutServiceYaml, "r2");
  EXPECT_THAT(
      Resources(removed),
      ElementsAre("MODIFIED reps/li.na", "MODIFIED reps/wu.xia",
                  "MODIFIED teams/ka-east", "REMOVED teams/service-cn"));
  ASSERT_EQ(removed.changes(1).changes_size(), 1);
  EXPECT_EQ(removed.changes(1).changes(0).field(), "status");
  EXPECT_EQ(removed.changes(1).changes(0).before(), "active");
  EXPECT_EQ(removed.changes(1).changes(0).after(), "left");
  EXPECT_EQ(removed.version(), 2);
  // Never dropped: still in the roster, LEFT.
  EXPECT_EQ(StatusOf("wu.xia"), v1::LEFT);
  EXPECT_EQ(StatusOf("li.na"), v1::LEFT);

  clock_.Advance(absl::Minutes(1));
  v1::ApplyRosterResponse readded = MustApply(kRosterYaml, "r3");
  EXPECT_EQ(readded.version(), 3);
  EXPECT_EQ(StatusOf("wu.xia"), v1::ACTIVE);
  EXPECT_EQ(StatusOf("li.na"), v1::AWAY);
  EXPECT_THAT(History("wu.xia"),
              ElementsAre("active->left by admin at 2026-01-01T00:01:00Z: "
                          "roster applied (version 2)",
                          "left->active by admin at 2026-01-01T00:02:00Z: "
                          "roster applied (version 3)"));
}

TEST_F(RosterRegistryTest, DryRunReturnsTheChangesAndWritesNothing) {
  MustApply(kRosterYaml, "r1");
  auto before = Dump();
  v1::ApplyRosterRequest request = RosterText(kRosterWithoutServiceYaml, "");
  request.set_dry_run(true);
  auto response = roster_->Apply(request, "admin");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_TRUE(response->dry_run());
  EXPECT_EQ(response->changes_size(), 4);
  EXPECT_EQ(response->version(), 1);
  EXPECT_EQ(response->etag(), RosterEtag(1));
  EXPECT_EQ(Dump(), before);
}

TEST_F(RosterRegistryTest, NoOpApplyWritesNoNewVersion) {
  MustApply(kRosterYaml, "r1");
  auto before = Dump();
  clock_.Advance(absl::Hours(1));
  v1::ApplyRosterResponse again = MustApply(kRosterYaml, "r2");
  EXPECT_EQ(again.changes_size(), 0);
  EXPECT_EQ(again.version(), 1);
  EXPECT_EQ(again.etag(), RosterEtag(1));
  auto after = Dump();
  // Only the idempotency record (and its index entry) and the call's audit
  // record were added.
  for (const auto& [key, value] : before) EXPECT_EQ(after[key], value);
  EXPECT_EQ(after.size(), before.size() + 3);
  int audit_records = 0;
  for (const auto& [key, value] : after) {
    if (before.count(key)) continue;
    if (key.first == static_cast<int>(storage::Table::kAudit)) {
      ++audit_records;
    } else {
      EXPECT_EQ(key.first, static_cast<int>(storage::Table::kIdempotency));
    }
  }
  EXPECT_EQ(audit_records, 1);
}

TEST_F(RosterRegistryTest, RetryReturnsFirstAnswerByteForByteAndWritesNothing) {
  v1::ApplyRosterResponse first = MustApply(kRosterYaml, "r1");
  auto before = Dump();
  clock_.Advance(absl::Hours(23));
  v1::ApplyRosterResponse retry = MustApply(kRosterYaml, "r1");
  EXPECT_EQ(SerializeDeterministic(retry), SerializeDeterministic(first));
  EXPECT_EQ(retry.changes_size(), 8);  // the first answer, not a no-op
  EXPECT_EQ(Dump(), before);
}

TEST_F(RosterRegistryTest, SameRequestIdOtherRequestIsInvalidArgument) {
  MustApply(kRosterYaml, "r1");
  auto before = Dump();
  auto other =
      roster_->Apply(RosterText(kRosterWithoutServiceYaml, "r1"), "admin");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(other.status().message(),
            "request_id: \"r1\" was already used for a different request");
  EXPECT_EQ(Dump(), before);
}

TEST_F(RosterRegistryTest, FirstAnswerExpiresAtTheWindow) {
  MustApply(kRosterYaml, "r1");
  clock_.Advance(absl::Hours(24) - absl::Microseconds(1));
  EXPECT_EQ(MustApply(kRosterYaml, "r1").changes_size(), 8);  // first answer
  clock_.Advance(absl::Microseconds(1));
  // Expired: evaluated afresh, and now it changes nothing.
  EXPECT_EQ(MustApply(kRosterYaml, "r1").changes_size(), 0);
}

TEST_F(RosterRegistryTest,
       BadFieldsAreInvalidArgumentNamingEachAndWriteNothing) {
  MustApply(kRosterYaml, "r1");
  auto before = Dump();
  struct Case {
    std::string name;
    v1::ApplyRosterRequest request;
    std::string actor;
    std::string field;
  };
  std::vector<Case> cases;
  {
    Case c{"no source", v1::ApplyRosterRequest(), "admin", "source"};
    c.request.set_request_id("x");
    cases.push_back(c);
  }
  {
    Case c{"empty text", RosterText("", "x"), "admin", "source_text"};
    cases.push_back(c);
  }
  {
    Case c{"huge text",
           RosterText(std::string(rules::kMaxFileBytes + 1, ' '), "x"), "admin",
           "source_text"};
    cases.push_back(c);
  }
  {
    Case c{"file name", RosterText(kRosterYaml, "x"), "admin", "file_name"};
    c.request.set_file_name("a\tb");
    cases.push_back(c);
  }
  cases.push_back(
      {"no request id", RosterText(kRosterYaml, ""), "admin", "request_id"});
  cases.push_back({"bad request id", RosterText(kRosterYaml, "a b"), "admin",
                   "request_id"});
  {
    Case c{"etag", RosterText(kRosterYaml, "x"), "admin", "etag"};
    c.request.set_etag("bad etag");
    cases.push_back(c);
  }
  cases.push_back({"actor", RosterText(kRosterYaml, "x"), "", "actor"});
  for (const Case& c : cases) {
    auto response = roster_->Apply(c.request, c.actor);
    EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument)
        << c.name;
    EXPECT_TRUE(absl::StartsWith(response.status().message(), c.field + ": "))
        << c.name << ": " << response.status().message();
    auto details = GetBadRequest(response.status());
    ASSERT_TRUE(details.has_value()) << c.name;
    EXPECT_EQ(details->field_violations(0).field(), c.field) << c.name;
  }
  EXPECT_EQ(Dump(), before);
}

TEST_F(RosterRegistryTest, EveryBadFieldIsListedInOneBadRequest) {
  v1::ApplyRosterRequest request;
  request.set_file_name(std::string(300, 'a'));
  request.set_request_id("no spaces allowed");
  request.set_etag("no spaces");
  auto response = roster_->Apply(request, "admin");
  ASSERT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  auto details = GetBadRequest(response.status());
  ASSERT_TRUE(details.has_value());
  std::vector<std::string> fields;
  for (const auto& v : details->field_violations()) fields.push_back(v.field());
  EXPECT_THAT(fields, ElementsAre("source", "file_name", "request_id", "etag"));
}

TEST_F(RosterRegistryTest, InvalidRosterListsEveryDiagnosticWithLocation) {
  auto before = Dump();
  v1::ApplyRosterRequest request = RosterText(R"(departments:
  - {id: sales}
reps:
  - {id: zhang.wei}
teams:
  - {id: t1, department: nowhere, members: [{rep: ghost}]}
)",
                                              "r1");
  request.set_file_name("bad.yaml");
  auto response = roster_->Apply(request, "admin");
  ASSERT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(response.status().message(),
                               "source_text: the roster does not validate (2 "
                               "errors): bad.yaml:6:"))
      << response.status().message();
  auto details = GetBadRequest(response.status());
  ASSERT_TRUE(details.has_value());
  ASSERT_EQ(details->field_violations_size(), 2);
  EXPECT_TRUE(
      absl::StartsWith(details->field_violations(0).field(), "source_text:6:"))
      << details->field_violations(0).field();
  EXPECT_THAT(details->field_violations(0).field(), HasSubstr("teams[0]"));
  EXPECT_EQ(Dump(), before);
}

TEST_F(RosterRegistryTest, ProtoRosterGetsDefaults) {
  v1::ApplyRosterRequest request;
  request.set_request_id("p1");
  v1::Roster* roster = request.mutable_roster();
  roster->add_departments()->set_id("sales");
  roster->add_reps()->set_id("zhang.wei");
  auto response = roster_->Apply(request, "admin");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(StatusOf("zhang.wei"), v1::ACTIVE);

  v1::ApplyRosterRequest bad;
  bad.set_request_id("p2");
  bad.mutable_roster()->add_reps()->set_id("Bad Id");
  auto refused = roster_->Apply(bad, "admin");
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetBadRequest(refused.status())->field_violations(0).field(),
            "roster.reps[0].id");
}

TEST_F(RosterRegistryTest, EtagMismatchIsAbortedAndCurrentEtagApplies) {
  MustApply(kRosterYaml, "r1");
  auto before = Dump();
  v1::ApplyRosterRequest request = RosterText(kRosterWithoutServiceYaml, "r2");
  request.set_etag("stale");
  auto stale = roster_->Apply(request, "admin");
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(absl::StartsWith(stale.status().message(), "etag: "));
  EXPECT_EQ(Dump(), before);
  request.set_etag(RosterEtag(1));
  auto fresh = roster_->Apply(request, "admin");
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(fresh->version(), 2);
}

TEST_F(RosterRegistryTest, RefusedWhenItRemovesATeamTheActiveRulesetNames) {
  MustApply(kRosterYaml, "r1");
  MustCreate(kRulesetV1Yaml, "c1");
  MustActivate(1, "a1");
  auto before = Dump();
  for (bool dry_run : {false, true}) {
    v1::ApplyRosterRequest request =
        RosterText(kRosterWithoutServiceYaml, "r2");
    request.set_dry_run(dry_run);
    auto refused = roster_->Apply(request, "admin");
    ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition)
        << refused.status();
    EXPECT_EQ(refused.status().message(),
              "the roster would break active ruleset version 1 (1 problem): "
              "departments.service.rules[0].assign.team (rule service-cn): "
              "unknown team \"service-cn\" (not in the roster)");
    auto failure = GetPreconditionFailure(refused.status());
    ASSERT_TRUE(failure.has_value());
    ASSERT_EQ(failure->violations_size(), 1);
    EXPECT_EQ(failure->violations(0).type(), "RULESET");
    EXPECT_EQ(failure->violations(0).subject(),
              "departments.service.rules[0].assign.team");
  }
  EXPECT_EQ(Dump(), before);
}

TEST_F(RosterRegistryTest, SetRepStatusChangesStatusAndKeepsHistory) {
  MustApply(kRosterYaml, "r1");
  clock_.Advance(absl::Hours(2));
  v1::SetRepStatusRequest request;
  request.set_rep("li.na");
  request.set_status(v1::ACTIVE);
  request.set_reason("back from leave");
  request.set_request_id("s1");
  auto response = roster_->SetRepStatus(request, "manager");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->previous_status(), v1::AWAY);
  EXPECT_EQ(response->rep().status(), v1::ACTIVE);
  EXPECT_EQ(response->rep().id(), "li.na");
  EXPECT_EQ(response->version(), 2);
  auto got = roster_->Get();
  EXPECT_EQ(got->version(), 2);
  EXPECT_EQ(got->updated_by(), "manager");
  EXPECT_EQ(StatusOf("li.na"), v1::ACTIVE);
  EXPECT_THAT(History("li.na"),
              ElementsAre("away->active by manager at 2026-01-01T02:00:00Z: "
                          "back from leave"));

  // Retry: first answer, nothing written.
  auto before = Dump();
  auto retry = roster_->SetRepStatus(request, "manager");
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(SerializeDeterministic(*retry), SerializeDeterministic(*response));
  EXPECT_EQ(Dump(), before);

  // The same status again: no new version, no history.
  request.set_request_id("s2");
  auto same = roster_->SetRepStatus(request, "manager");
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->version(), 2);
  EXPECT_EQ(same->previous_status(), v1::ACTIVE);
  EXPECT_EQ(History("li.na").size(), 1u);
}

TEST_F(RosterRegistryTest, SetRepStatusLeftKeepsMembershipAndActiveRuleset) {
  MustApply(kRosterYaml, "r1");
  MustCreate(kRulesetV1Yaml, "c1");
  MustActivate(1, "a1");
  v1::SetRepStatusRequest request;
  request.set_rep("wu.xia");  // the only member of service-cn
  request.set_status(v1::LEFT);
  request.set_reason("resigned");
  request.set_request_id("s1");
  auto response = roster_->SetRepStatus(request, "manager");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->rep().status(), v1::LEFT);
  auto got = roster_->Get();
  EXPECT_EQ(got->roster().teams(2).id(), "service-cn");
  ASSERT_EQ(got->roster().teams(2).members_size(), 1);
  EXPECT_EQ(got->roster().teams(2).members(0).rep(), "wu.xia");
}

TEST_F(RosterRegistryTest, SetRepStatusUnknownRepIsNotFound) {
  MustApply(kRosterYaml, "r1");
  auto before = Dump();
  v1::SetRepStatusRequest request;
  request.set_rep("ghost");
  request.set_status(v1::LEFT);
  request.set_reason("?");
  request.set_request_id("s1");
  auto response = roster_->SetRepStatus(request, "manager");
  EXPECT_EQ(response.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(response.status().message(), "rep: \"ghost\" is not in the roster");
  EXPECT_EQ(Dump(), before);
}

TEST_F(RosterRegistryTest, SetRepStatusBadFieldsAreInvalidArgument) {
  MustApply(kRosterYaml, "r1");
  auto before = Dump();
  v1::SetRepStatusRequest good;
  good.set_rep("li.na");
  good.set_status(v1::LEFT);
  good.set_reason("quit");
  good.set_request_id("s1");
  struct Case {
    std::string field;
    v1::SetRepStatusRequest request;
    std::string actor = "manager";
  };
  std::vector<Case> cases;
  cases.push_back({"rep", good});
  cases.back().request.clear_rep();
  cases.push_back({"rep", good});
  cases.back().request.set_rep("bad rep");
  cases.push_back({"status", good});
  cases.back().request.set_status(v1::REP_STATUS_UNSPECIFIED);
  cases.push_back({"status", good});
  cases.back().request.set_status(static_cast<v1::RepStatus>(17));
  cases.push_back({"reason", good});
  cases.back().request.clear_reason();
  cases.push_back({"reason", good});
  cases.back().request.set_reason(std::string(1025, 'a'));
  cases.push_back({"request_id", good});
  cases.back().request.clear_request_id();
  cases.push_back({"actor", good, ""});
  for (const Case& c : cases) {
    auto response = roster_->SetRepStatus(c.request, c.actor);
    EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument)
        << c.field;
    EXPECT_TRUE(absl::StartsWith(response.status().message(), c.field + ": "))
        << response.status().message();
  }
  EXPECT_EQ(Dump(), before);
}

TEST_F(RosterRegistryTest, ConcurrentRetriesOfOneRequestHaveOneEffect) {
  MustApply(kRosterYaml, "r1");
  v1::SetRepStatusRequest request;
  request.set_rep("li.na");
  request.set_status(v1::ACTIVE);
  request.set_reason("back");
  request.set_request_id("s1");
  constexpr int kThreads = 4;
  std::vector<absl::StatusOr<v1::SetRepStatusResponse>> results(
      kThreads, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back(
        [&, i] { results[i] = roster_->SetRepStatus(request, "manager"); });
  }
  for (std::thread& t : threads) t.join();
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->version(), 2);
    EXPECT_EQ(r->previous_status(), v1::AWAY);
  }
  EXPECT_EQ(roster_->Get()->version(), 2);
  EXPECT_EQ(History("li.na").size(), 1u);
}

TEST_F(RosterRegistryTest, RestartKeepsTheRoster) {
  MustApply(kRosterYaml, "r1");
  auto before = roster_->Get();
  Reopen();
  auto after = roster_->Get();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(SerializeDeterministic(*after), SerializeDeterministic(*before));
  // The idempotency record survives too.
  auto retry = roster_->Apply(RosterText(kRosterYaml, "r1"), "admin");
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(retry->changes_size(), 8);
}

}  // namespace
}  // namespace custodian::server
