#include "server/ruleset_registry.h"

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

namespace custodian::server {
namespace {

using ::google::protobuf::util::TimeUtil;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::kRosterWithoutServiceYaml;
using testing::kRosterYaml;
using testing::kRulesetV1Yaml;
using testing::kRulesetV2Yaml;
using testing::T0;

int64_t Micros(const google::protobuf::Timestamp& t) {
  return TimeUtil::TimestampToMicroseconds(t);
}

class RulesetRegistryTest : public testing::DomainTest {
 protected:
  void SetUp() override {
    DomainTest::SetUp();
    MustApply(kRosterYaml, "roster-1");
  }

  v1::ListRulesetVersionsResponse MustList(int32_t page_size,
                                           const std::string& token) {
    v1::ListRulesetVersionsRequest request;
    request.set_page_size(page_size);
    request.set_page_token(token);
    auto response = rulesets_->List(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : v1::ListRulesetVersionsResponse();
  }

  static std::vector<int64_t> Versions(
      const v1::ListRulesetVersionsResponse& response) {
    std::vector<int64_t> out;
    for (const auto& v : response.versions()) out.push_back(v.version());
    return out;
  }

  absl::StatusOr<v1::RulesetVersion> Get(int64_t version,
                                         bool omit_source = false) {
    v1::GetRulesetRequest request;
    request.set_version(version);
    request.set_omit_source(omit_source);
    return rulesets_->Get(request);
  }
};

TEST_F(RulesetRegistryTest, ValidateAgainstTheStoredRoster) {
  v1::ValidateRulesetRequest request;
  request.set_source_text(std::string(kRulesetV1Yaml));
  auto valid = rulesets_->Validate(request);
  ASSERT_TRUE(valid.ok()) << valid.status();
  EXPECT_TRUE(valid->valid());
  EXPECT_EQ(valid->ruleset().name(), "acme");

  // service-cn is gone from this roster: the same file no longer validates.
  MustApply(kRosterWithoutServiceYaml, "roster-2");
  auto invalid = rulesets_->Validate(request);
  ASSERT_TRUE(invalid.ok()) << invalid.status();
  EXPECT_FALSE(invalid->valid());
  ASSERT_GE(invalid->diagnostics_size(), 1);
  EXPECT_EQ(invalid->diagnostics(0).file(), "ruleset.yaml");
  EXPECT_EQ(invalid->diagnostics(0).field_path(),
            "departments.service.rules[0].assign.team");
  EXPECT_FALSE(invalid->has_ruleset());
}

TEST_F(RulesetRegistryTest, ValidateMalformedRequestIsInvalidArgument) {
  auto before = Dump();
  v1::ValidateRulesetRequest none;
  EXPECT_EQ(rulesets_->Validate(none).status().message(),
            "source: is required: set source_text or ruleset");
  v1::ValidateRulesetRequest huge;
  huge.set_source_text(std::string(rules::kMaxFileBytes + 1, ' '));
  huge.set_file_name("\x01");
  auto status = rulesets_->Validate(huge).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetBadRequest(status)->field_violations_size(), 2);
  EXPECT_EQ(GetBadRequest(status)->field_violations(0).field(), "source_text");
  EXPECT_EQ(GetBadRequest(status)->field_violations(1).field(), "file_name");
  EXPECT_EQ(Dump(), before);
}

TEST_F(RulesetRegistryTest, CreateStoresNumberedImmutableVersionsVerbatim) {
  v1::RulesetVersion v1 = MustCreate(kRulesetV1Yaml, "c1");
  EXPECT_EQ(v1.version(), 1);
  EXPECT_EQ(v1.name(), "acme");
  EXPECT_EQ(v1.source_text(), kRulesetV1Yaml);
  EXPECT_EQ(v1.file_name(), "acme.yaml");
  EXPECT_EQ(v1.created_by(), "ops");
  EXPECT_EQ(Micros(v1.create_time()), absl::ToUnixMicros(T0()));
  EXPECT_EQ(v1.ruleset().departments_size(), 2);
  EXPECT_FALSE(v1.active());

  clock_.Advance(absl::Minutes(5));
  v1::RulesetVersion v2 = MustCreate(kRulesetV2Yaml, "c2");
  EXPECT_EQ(v2.version(), 2);
  // Publishing the same text again is a new version.
  EXPECT_EQ(MustCreate(kRulesetV1Yaml, "c3").version(), 3);

  auto got = Get(1);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(SerializeDeterministic(*got), SerializeDeterministic(v1));
  auto no_source = Get(2, /*omit_source=*/true);
  ASSERT_TRUE(no_source.ok());
  EXPECT_EQ(no_source->source_text(), "");
  EXPECT_EQ(no_source->ruleset().name(), "acme");
}

TEST_F(RulesetRegistryTest, InvalidRulesetIsNeverStoredAndConsumesNoNumber) {
  auto before = Dump();
  std::string text(kRulesetV1Yaml);
  text.replace(text.find("team: ka-east"), 13, "team: nowhere");
  auto refused = rulesets_->CreateVersion(RulesetText(text, "c1"), "ops");
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(
      refused.status().message(),
      "source_text: the ruleset does not validate (1 error): acme.yaml:7:"))
      << refused.status().message();
  auto details = GetBadRequest(refused.status());
  ASSERT_TRUE(details.has_value());
  ASSERT_EQ(details->field_violations_size(), 1);
  EXPECT_THAT(details->field_violations(0).field(),
              HasSubstr("departments.sales.rules[0].assign.team"));
  EXPECT_TRUE(
      absl::StartsWith(details->field_violations(0).field(), "source_text:7:"));
  EXPECT_EQ(Dump(), before);
  // The failure was not recorded: the same id may carry a fixed file.
  EXPECT_EQ(MustCreate(kRulesetV1Yaml, "c1").version(), 1);
}

TEST_F(RulesetRegistryTest, CreateBadFieldsAreInvalidArgument) {
  auto before = Dump();
  struct Case {
    std::string field;
    v1::CreateRulesetVersionRequest request;
    std::string actor = "ops";
  };
  const v1::CreateRulesetVersionRequest good =
      RulesetText(kRulesetV1Yaml, "c1");
  std::vector<Case> cases;
  cases.push_back({"source_text", good});
  cases.back().request.clear_source_text();
  cases.push_back({"source_text", good});
  cases.back().request.set_source_text(
      std::string(rules::kMaxFileBytes + 1, ' '));
  cases.push_back({"file_name", good});
  cases.back().request.set_file_name(std::string(256, 'f'));
  cases.push_back({"request_id", good});
  cases.back().request.clear_request_id();
  cases.push_back({"request_id", good});
  cases.back().request.set_request_id(std::string(129, 'r'));
  cases.push_back({"actor", good, ""});
  for (const Case& c : cases) {
    auto response = rulesets_->CreateVersion(c.request, c.actor);
    EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument)
        << c.field;
    EXPECT_TRUE(absl::StartsWith(response.status().message(), c.field + ": "))
        << response.status().message();
    EXPECT_EQ(GetBadRequest(response.status())->field_violations(0).field(),
              c.field);
  }
  EXPECT_EQ(Dump(), before);
}

TEST_F(RulesetRegistryTest, CreateRetryReturnsFirstAnswerAndReuseIsRefused) {
  v1::RulesetVersion first = MustCreate(kRulesetV1Yaml, "c1");
  auto before = Dump();
  clock_.Advance(absl::Hours(1));
  v1::RulesetVersion retry = MustCreate(kRulesetV1Yaml, "c1");
  EXPECT_EQ(SerializeDeterministic(retry), SerializeDeterministic(first));
  EXPECT_EQ(Dump(), before);
  auto other =
      rulesets_->CreateVersion(RulesetText(kRulesetV2Yaml, "c1"), "ops");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(other.status().message(), "request_id: "));
  EXPECT_EQ(Dump(), before);
}

TEST_F(RulesetRegistryTest, ConcurrentCreatesWithOneRequestIdMakeOneVersion) {
  constexpr int kThreads = 4;
  std::vector<absl::StatusOr<v1::RulesetVersion>> results(
      kThreads, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      results[i] =
          rulesets_->CreateVersion(RulesetText(kRulesetV1Yaml, "c1"), "ops");
    });
  }
  for (std::thread& t : threads) t.join();
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->version(), 1);
  }
  EXPECT_THAT(Versions(MustList(0, "")), ElementsAre(1));
}

TEST_F(RulesetRegistryTest,
       ActivateRecordsWhoWhenWhyAndSwapsTheCompiledRuleset) {
  MustCreate(kRulesetV1Yaml, "c1");
  EXPECT_EQ(rulesets_->ActiveRuleset().version, 0);
  EXPECT_EQ(rulesets_->ActiveRuleset().ruleset, nullptr);
  auto none = Get(0);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);

  const std::string etag0 = CurrentActivationEtag();
  EXPECT_EQ(etag0, ActivationEtag(0, 0));
  clock_.Advance(absl::Hours(1));
  v1::ActivateRulesetResponse activated = MustActivate(1, "a1");
  EXPECT_EQ(activated.activation().version(), 1);
  EXPECT_EQ(activated.activation().previous_version(), 0);
  EXPECT_EQ(activated.activation().activated_by(), "lead");
  EXPECT_EQ(activated.activation().reason(), "go live");
  EXPECT_EQ(Micros(activated.activation().activate_time()),
            absl::ToUnixMicros(T0() + absl::Hours(1)));
  EXPECT_EQ(activated.etag(), ActivationEtag(1, 1));
  EXPECT_NE(activated.etag(), etag0);

  v1::ListRulesetVersionsResponse list = MustList(0, "");
  EXPECT_EQ(list.active_version(), 1);
  EXPECT_EQ(list.activation_etag(), activated.etag());
  ASSERT_EQ(list.versions_size(), 1);
  EXPECT_TRUE(list.versions(0).active());
  EXPECT_EQ(list.versions(0).source_text(), "");
  EXPECT_FALSE(list.versions(0).has_ruleset());
  ASSERT_EQ(list.versions(0).activations_size(), 1);

  auto active = Get(0);
  ASSERT_TRUE(active.ok()) << active.status();
  EXPECT_EQ(active->version(), 1);
  EXPECT_TRUE(active->active());
  ASSERT_EQ(active->activations_size(), 1);
  EXPECT_EQ(SerializeDeterministic(active->activations(0)),
            SerializeDeterministic(activated.activation()));

  RulesetRegistry::Active compiled = rulesets_->ActiveRuleset();
  EXPECT_EQ(compiled.version, 1);
  ASSERT_NE(compiled.ruleset, nullptr);
  EXPECT_EQ(compiled.ruleset->ruleset().departments_size(), 2);
}

TEST_F(RulesetRegistryTest, StaleEtagIsAbortedAndWritesNothing) {
  MustCreate(kRulesetV1Yaml, "c1");
  MustCreate(kRulesetV2Yaml, "c2");
  const std::string etag0 = CurrentActivationEtag();
  MustActivate(1, "a1");
  auto before = Dump();
  v1::ActivateRulesetRequest request;
  request.set_version(2);
  request.set_etag(etag0);
  request.set_request_id("a2");
  auto stale = rulesets_->Activate(request, "lead");
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(stale.status().message(),
            absl::StrCat("etag: \"", etag0,
                         "\" is not the current activation etag; re-read it "
                         "with ListRulesetVersions and retry"));
  EXPECT_EQ(Dump(), before);
  EXPECT_EQ(rulesets_->ActiveRuleset().version, 1);
}

TEST_F(RulesetRegistryTest, RollbackIsActivatingAnOlderVersion) {
  MustCreate(kRulesetV1Yaml, "c1");
  MustCreate(kRulesetV2Yaml, "c2");
  MustActivate(1, "a1");
  clock_.Advance(absl::Hours(1));
  MustActivate(2, "a2");
  EXPECT_EQ(rulesets_->ActiveRuleset().version, 2);
  clock_.Advance(absl::Hours(1));
  v1::ActivateRulesetResponse rollback = MustActivate(1, "a3");
  EXPECT_EQ(rollback.activation().previous_version(), 2);
  EXPECT_EQ(rulesets_->ActiveRuleset().version, 1);
  EXPECT_EQ(rulesets_->ActiveRuleset().ruleset->ruleset().departments_size(),
            2);

  auto v1 = Get(1);
  ASSERT_TRUE(v1.ok());
  EXPECT_TRUE(v1->active());
  ASSERT_EQ(v1->activations_size(), 2);
  EXPECT_EQ(Micros(v1->activations(0).activate_time()),
            absl::ToUnixMicros(T0()));
  EXPECT_EQ(Micros(v1->activations(1).activate_time()),
            absl::ToUnixMicros(T0() + absl::Hours(2)));
  EXPECT_EQ(v1->activations(1).activated_by(), "lead");
  auto v2 = Get(2);
  ASSERT_TRUE(v2.ok());
  EXPECT_FALSE(v2->active());
  ASSERT_EQ(v2->activations_size(), 1);
  EXPECT_EQ(v2->activations(0).previous_version(), 1);
}

TEST_F(RulesetRegistryTest, ActivateRetryReturnsFirstAnswer) {
  MustCreate(kRulesetV1Yaml, "c1");
  v1::ActivateRulesetRequest request;
  request.set_version(1);
  request.set_etag(CurrentActivationEtag());
  request.set_request_id("a1");
  auto first = rulesets_->Activate(request, "lead");
  ASSERT_TRUE(first.ok());
  auto before = Dump();
  clock_.Advance(absl::Hours(1));
  // The etag is stale now, but a retry gets the first answer.
  auto retry = rulesets_->Activate(request, "lead");
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(SerializeDeterministic(*retry), SerializeDeterministic(*first));
  EXPECT_EQ(Dump(), before);
}

TEST_F(RulesetRegistryTest, ActivateBadFieldsAndUnknownVersion) {
  MustCreate(kRulesetV1Yaml, "c1");
  auto before = Dump();
  v1::ActivateRulesetRequest good;
  good.set_version(1);
  good.set_etag(CurrentActivationEtag());
  good.set_request_id("a1");
  struct Case {
    std::string field;
    v1::ActivateRulesetRequest request;
    std::string actor = "lead";
  };
  std::vector<Case> cases;
  cases.push_back({"version", good});
  cases.back().request.set_version(0);
  cases.push_back({"etag", good});
  cases.back().request.clear_etag();
  cases.push_back({"reason", good});
  cases.back().request.set_reason("\xff");
  cases.push_back({"request_id", good});
  cases.back().request.set_request_id("a/1");
  cases.push_back({"actor", good, ""});
  for (const Case& c : cases) {
    auto response = rulesets_->Activate(c.request, c.actor);
    EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument)
        << c.field;
    EXPECT_TRUE(absl::StartsWith(response.status().message(), c.field + ": "))
        << response.status().message();
  }
  v1::ActivateRulesetRequest missing = good;
  missing.set_version(9);
  auto not_found = rulesets_->Activate(missing, "lead");
  EXPECT_EQ(not_found.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(not_found.status().message(),
            "version: ruleset version 9 does not exist");
  EXPECT_EQ(Dump(), before);
}

TEST_F(RulesetRegistryTest, ActivateRevalidatesAgainstTheCurrentRoster) {
  MustCreate(kRulesetV1Yaml, "c1");
  MustCreate(kRulesetV2Yaml, "c2");
  MustActivate(2, "a1");
  // v2 does not name service-cn, so the roster may drop it.
  MustApply(kRosterWithoutServiceYaml, "roster-2");
  auto before = Dump();
  v1::ActivateRulesetRequest request;
  request.set_version(1);
  request.set_etag(CurrentActivationEtag());
  request.set_request_id("a2");
  auto refused = rulesets_->Activate(request, "lead");
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition)
      << refused.status();
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("ruleset version 1 no longer validates against the "
                        "current roster (1 problem): "
                        "departments.service.rules[0].assign.team (rule "
                        "service-cn)"));
  auto failure = GetPreconditionFailure(refused.status());
  ASSERT_TRUE(failure.has_value());
  ASSERT_EQ(failure->violations_size(), 1);
  EXPECT_EQ(failure->violations(0).subject(),
            "departments.service.rules[0].assign.team");
  EXPECT_EQ(Dump(), before);
  EXPECT_EQ(rulesets_->ActiveRuleset().version, 2);
}

TEST_F(RulesetRegistryTest, ActivationAndARosterApplyThatConflictSerialize) {
  MustCreate(kRulesetV1Yaml, "c1");
  MustCreate(kRulesetV2Yaml, "c2");
  MustActivate(2, "a1");
  // Activating v1 needs team service-cn; the roster apply removes it. Either
  // may go first, but never both.
  v1::ActivateRulesetRequest activate;
  activate.set_version(1);
  activate.set_etag(CurrentActivationEtag());
  activate.set_request_id("a2");
  absl::Status activated = absl::UnknownError("not run");
  absl::Status applied = absl::UnknownError("not run");
  std::thread t1(
      [&] { activated = rulesets_->Activate(activate, "lead").status(); });
  std::thread t2([&] {
    applied =
        roster_
            ->Apply(RosterText(kRosterWithoutServiceYaml, "roster-2"), "admin")
            .status();
  });
  t1.join();
  t2.join();
  EXPECT_NE(activated.ok(), applied.ok()) << activated << " / " << applied;
  const absl::Status& loser = activated.ok() ? applied : activated;
  EXPECT_EQ(loser.code(), absl::StatusCode::kFailedPrecondition) << loser;
  EXPECT_EQ(rulesets_->ActiveRuleset().version, activated.ok() ? 1 : 2);
}

TEST_F(RulesetRegistryTest, GetBadVersionAndMissing) {
  EXPECT_EQ(Get(-1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Get(-1).status().message(),
            "version: must be >= 0 (0 = the active version)");
  EXPECT_EQ(Get(0).status().message(), "version: no ruleset version is active");
  EXPECT_EQ(Get(5).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Get(5).status().message(),
            "version: ruleset version 5 does not exist");
}

TEST_F(RulesetRegistryTest, ListPaginatesNewestFirst) {
  for (int i = 1; i <= 3; ++i) {
    MustCreate(kRulesetV1Yaml, absl::StrCat("c", i));
  }
  v1::ListRulesetVersionsResponse page1 = MustList(2, "");
  EXPECT_THAT(Versions(page1), ElementsAre(3, 2));
  ASSERT_FALSE(page1.next_page_token().empty());
  v1::ListRulesetVersionsResponse page2 = MustList(2, page1.next_page_token());
  EXPECT_THAT(Versions(page2), ElementsAre(1));
  EXPECT_EQ(page2.next_page_token(), "");
  // Exactly one page: no token.
  EXPECT_EQ(MustList(3, "").next_page_token(), "");
  EXPECT_THAT(Versions(MustList(5000, "")), ElementsAre(3, 2, 1));

  v1::ListRulesetVersionsRequest negative;
  negative.set_page_size(-1);
  EXPECT_EQ(rulesets_->List(negative).status().message(),
            "page_size: must not be negative");
  v1::ListRulesetVersionsRequest tampered;
  std::string token = page1.next_page_token();
  token[token.size() / 2] = token[token.size() / 2] == 'A' ? 'B' : 'A';
  tampered.set_page_token(token);
  auto refused = rulesets_->List(tampered);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(),
            "page_token: is not a page token of this listing");
}

TEST_F(RulesetRegistryTest, DiffListsRuleAndDepartmentChanges) {
  MustCreate(kRulesetV1Yaml, "c1");
  MustCreate(kRulesetV2Yaml, "c2");
  v1::DiffRulesetsRequest request;
  request.set_from_version(1);
  request.set_to_version(2);
  auto diff = rulesets_->Diff(request);
  ASSERT_TRUE(diff.ok()) << diff.status();
  EXPECT_EQ(diff->from_version(), 1);
  EXPECT_EQ(diff->to_version(), 2);
  const v1::RulesetDiff& d = diff->diff();
  ASSERT_EQ(d.departments_size(), 2);
  EXPECT_EQ(d.departments(0).department(), "sales");
  EXPECT_EQ(d.departments(0).kind(), v1::MODIFIED);
  ASSERT_EQ(d.departments(0).rules_size(), 2);
  EXPECT_EQ(d.departments(0).rules(0).rule_id(), "east");
  EXPECT_EQ(d.departments(0).rules(0).kind(), v1::MODIFIED);
  ASSERT_EQ(d.departments(0).rules(0).changes_size(), 1);
  EXPECT_EQ(d.departments(0).rules(0).changes(0).field(), "when.region");
  EXPECT_EQ(d.departments(0).rules(1).rule_id(), "leads");
  EXPECT_EQ(d.departments(0).rules(1).kind(), v1::ADDED);
  EXPECT_EQ(d.departments(1).department(), "service");
  EXPECT_EQ(d.departments(1).kind(), v1::REMOVED);
  EXPECT_EQ(d.segments_size(), 0);

  request.set_to_version(1);
  auto same = rulesets_->Diff(request);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->diff().departments_size(), 0);

  v1::DiffRulesetsRequest bad;
  auto status = rulesets_->Diff(bad).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "from_version: must be >= 1; to_version: must be >= 1");
  bad.set_from_version(1);
  bad.set_to_version(9);
  status = rulesets_->Diff(bad).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "to_version: ruleset version 9 does not exist");
}

TEST_F(RulesetRegistryTest, RestartKeepsVersionsActivationsAndCompiledActive) {
  MustCreate(kRulesetV1Yaml, "c1");
  MustCreate(kRulesetV2Yaml, "c2");
  MustActivate(2, "a1");
  clock_.Advance(absl::Minutes(1));
  MustActivate(1, "a2");
  auto before = Dump();
  auto list_before = MustList(0, "");
  auto v1_before = Get(1);
  ASSERT_TRUE(v1_before.ok());

  Reopen();
  EXPECT_EQ(Dump(), before);
  RulesetRegistry::Active active = rulesets_->ActiveRuleset();
  EXPECT_EQ(active.version, 1);
  ASSERT_NE(active.ruleset, nullptr);
  EXPECT_EQ(active.ruleset->ruleset().departments_size(), 2);
  EXPECT_EQ(SerializeDeterministic(MustList(0, "")),
            SerializeDeterministic(list_before));
  auto v1_after = Get(1);
  ASSERT_TRUE(v1_after.ok());
  EXPECT_EQ(SerializeDeterministic(*v1_after),
            SerializeDeterministic(*v1_before));
  // Numbering continues.
  EXPECT_EQ(MustCreate(kRulesetV2Yaml, "c3").version(), 3);
}

}  // namespace
}  // namespace custodian::server
