#include "server/audit_log.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/domain_testing.h"

namespace custodian::server {
namespace {

using testing::DomainTest;
using ::testing::ElementsAre;
using testing::kRosterYaml;

class AuditLogTest : public DomainTest {
 protected:
  std::vector<v1::AuditRecord> List(v1::ListAuditRecordsRequest request) {
    std::vector<v1::AuditRecord> out;
    while (true) {
      absl::StatusOr<v1::ListAuditRecordsResponse> page =
          ListAuditRecords(*store_, request);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      out.insert(out.end(), page->records().begin(), page->records().end());
      if (page->next_page_token().empty()) break;
      request.set_page_token(page->next_page_token());
    }
    return out;
  }

  // Stages a record of `principal` at the clock's time in its own
  // transaction, with a marker write beside it; commits unless `rollback`.
  void StageOne(const std::string& principal, bool rollback = false) {
    absl::StatusOr<std::unique_ptr<storage::Transaction>> txn = store_->Begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(StageAuditRecord(**txn, Actor(principal), "custodian.v1.X/Do",
                                 principal, {"things/" + principal}, "OK",
                                 clock_.Now())
                    .ok());
    ASSERT_TRUE(
        (*txn)
            ->Put(storage::Table::kCustomers, "marker-" + principal, "x")
            .ok());
    if (rollback) {
      (*txn)->Rollback();
    } else {
      ASSERT_TRUE((*txn)->Commit().ok());
    }
  }
};

TEST_F(AuditLogTest, RecordCommitsWithItsTransactionOrNotAtAll) {
  StageOne("kept");
  StageOne("dropped", /*rollback=*/true);
  std::vector<v1::AuditRecord> records = List({});
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].principal(), "kept");
  EXPECT_EQ(records[0].rpc(), "custodian.v1.X.Do");
  EXPECT_THAT(records[0].resources(), ElementsAre("things/kept"));
  EXPECT_EQ(testing::CountKeys(*store_, storage::Table::kCustomers), 1u);
}

TEST_F(AuditLogTest, ListsInTimeOrderWithFiltersAndPages) {
  for (int i = 0; i < 5; ++i) {
    StageOne(i % 2 == 0 ? "even" : "odd");
    StageOne(i % 2 == 0 ? "even" : "odd");  // the same microsecond
    clock_.Advance(absl::Minutes(1));
  }
  std::vector<v1::AuditRecord> all = List({});
  ASSERT_EQ(all.size(), 10u);
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_LE(all[i - 1].time().seconds(), all[i].time().seconds());
  }
  v1::ListAuditRecordsRequest odd;
  odd.set_principal("odd");
  EXPECT_EQ(List(odd).size(), 4u);
  v1::ListAuditRecordsRequest things;
  things.set_resource("things/even");
  things.set_page_size(1);
  EXPECT_EQ(List(things).size(), 6u);
  v1::ListAuditRecordsRequest window;
  window.mutable_start_time()->set_seconds(
      absl::ToUnixSeconds(testing::T0() + absl::Minutes(1)));
  window.mutable_end_time()->set_seconds(
      absl::ToUnixSeconds(testing::T0() + absl::Minutes(3)));
  window.set_page_size(3);
  EXPECT_EQ(List(window).size(), 4u);  // minutes 1 and 2
}

TEST_F(AuditLogTest, BadListRequestsAreInvalidArguments) {
  v1::ListAuditRecordsRequest negative;
  negative.set_page_size(-1);
  EXPECT_EQ(ListAuditRecords(*store_, negative).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::ListAuditRecordsRequest backwards;
  backwards.mutable_start_time()->set_seconds(100);
  backwards.mutable_end_time()->set_seconds(100);
  EXPECT_EQ(ListAuditRecords(*store_, backwards).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::ListAuditRecordsRequest token;
  token.set_page_token("not-a-token");
  EXPECT_EQ(ListAuditRecords(*store_, token).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(AuditLogTest, RegistryMutationRecordsItsActorAndFailureRecordsNothing) {
  MustApply(kRosterYaml, "r1");
  ASSERT_EQ(List({}).size(), 1u);    // the apply, by "admin"
  clock_.Advance(absl::Minutes(1));  // records of one instant are unordered
  v1::SetRepStatusRequest request;
  request.set_rep("nobody");
  request.set_status(v1::AWAY);
  request.set_reason("holiday");
  request.set_request_id("s1");
  const Actor ann("ann", {"manager"},
                  "custodian.v1.RosterService.SetRepStatus");
  EXPECT_EQ(roster_->SetRepStatus(request, ann).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(List({}).size(), 1u);
  request.set_rep("zhang.wei");
  ASSERT_TRUE(roster_->SetRepStatus(request, ann).ok());
  std::vector<v1::AuditRecord> records = List({});
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].principal(), "admin");
  EXPECT_EQ(records[0].rpc(), "custodian.v1.RosterService.ApplyRoster");
  EXPECT_TRUE(records[0].roles().empty());
  const v1::AuditRecord& set = records[1];
  EXPECT_EQ(set.principal(), "ann");
  EXPECT_THAT(set.roles(), ElementsAre("manager"));
  EXPECT_EQ(set.rpc(), "custodian.v1.RosterService.SetRepStatus");
  EXPECT_EQ(set.request_id(), "s1");
  EXPECT_THAT(set.resources(), ElementsAre("roster", "reps/zhang.wei"));
  EXPECT_EQ(set.outcome(), "OK: ACTIVE -> AWAY; roster version 2");
  // The change itself names the same actor.
  absl::StatusOr<v1::GetRosterResponse> roster = roster_->Get();
  ASSERT_TRUE(roster.ok());
  EXPECT_EQ(roster->updated_by(), "ann");
}

}  // namespace
}  // namespace custodian::server
