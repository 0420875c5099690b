// ReviewRunner over a real RocksDB store and a manual clock: crash and
// resume apply every fix exactly once, cancel stops between batches, an
// overlapping review is refused, frozen ownership is never touched, and
// over-capacity trims the least-recent activity.
#include "server/review_runner.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/pool_testing.h"

namespace custodian::server {
namespace {

using ::testing::HasSubstr;
using testing::MakeCustomer;

class ReviewRunnerTest : public testing::PoolTest {
 protected:
  void TearDown() override {
    runner_.reset();
    PoolTest::TearDown();
  }

  void MakeRunner(
      std::function<bool(absl::string_view, int64_t)> after_checkpoint =
          nullptr,
      std::function<void(absl::string_view, int64_t)> after_batch = nullptr) {
    runner_.reset();
    ReviewRunner::Options options;
    options.store = store_.get();
    options.rulesets = rulesets_.get();
    options.book = book_.get();
    options.allocator = allocator_.get();
    options.clock = &clock_;
    options.cooldowns = desk_->CooldownLookup();
    options.batch_size = 2;
    options.after_checkpoint = std::move(after_checkpoint);
    options.after_batch = std::move(after_batch);
    auto runner = ReviewRunner::Create(std::move(options));
    ASSERT_TRUE(runner.ok()) << runner.status();
    runner_ = std::move(*runner);
  }

  // Assigns n1..n<count> in CN/North: team t, round robin.
  void North(int count) {
    for (int i = 1; i <= count; ++i) {
      AssignCustomer(MakeCustomer(absl::StrCat("n", i), "CN/North/Beijing"));
    }
  }

  void SetStatus(const std::string& rep, v1::RepStatus status) {
    v1::SetRepStatusRequest r;
    r.set_rep(rep);
    r.set_status(status);
    r.set_reason("test");
    r.set_request_id(absl::StrCat("status-", rep, "-", ++request_counter_));
    auto s = roster_->SetRepStatus(r, "ops");
    ASSERT_TRUE(s.ok()) << s.status();
  }

  v1::Review Start(v1::ReviewMode mode, const v1::ReviewScope& scope = {},
                   absl::string_view request_id = "start-1") {
    v1::StartReviewRequest r;
    r.set_mode(mode);
    *r.mutable_scope() = scope;
    r.set_request_id(std::string(request_id));
    auto review = runner_->Start(r, "admin");
    EXPECT_TRUE(review.ok()) << review.status();
    return review.ok() ? *review : v1::Review();
  }

  v1::Review GetReview(const std::string& name) {
    v1::GetReviewRequest r;
    r.set_name(name);
    auto review = runner_->Get(r);
    EXPECT_TRUE(review.ok()) << review.status();
    return review.ok() ? *review : v1::Review();
  }

  // Polls until done (the review runs on its own thread).
  v1::Review WaitDone(const std::string& name) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    v1::Review review;
    do {
      review = GetReview(name);
      if (review.done()) return review;
      absl::SleepFor(absl::Milliseconds(2));
    } while (absl::Now() < deadline);
    ADD_FAILURE() << name << " did not finish";
    return review;
  }

  std::vector<v1::Finding> Findings(const std::string& name) {
    v1::ListFindingsRequest r;
    r.set_review(name);
    r.set_page_size(1000);
    auto list = runner_->ListFindings(r);
    EXPECT_TRUE(list.ok()) << list.status();
    if (!list.ok()) return {};
    return {list->findings().begin(), list->findings().end()};
  }

  int ReviewEvents(absl::string_view customer) {
    int n = 0;
    for (const v1::OwnershipEvent& e : Events(customer)) {
      n += e.cause() == v1::OwnershipEvent::REVIEW;
    }
    return n;
  }

  int64_t Count(const v1::Review& review, v1::FindingKind kind) {
    for (const v1::FindingCount& c : review.metadata().findings()) {
      if (c.kind() == kind) return c.count();
    }
    return -1;
  }

  std::unique_ptr<ReviewRunner> runner_;
};

TEST_F(ReviewRunnerTest, CrashAfterCheckpointResumesAndAppliesEachFixOnce) {
  North(6);  // n1 r1, n2 r2, ..., n6 r6
  ASSERT_EQ(Get("n3").rep(), "r3");
  ASSERT_EQ(Get("n4").rep(), "r4");
  SetStatus("r3", v1::LEFT);
  SetStatus("r4", v1::LEFT);
  // The checkpoint of the batch (n3, n4) holds both orphans as pending
  // fixes; the "process dies" right after it.
  std::atomic<bool> crashed{false};
  MakeRunner([&](absl::string_view, int64_t scanned) {
    if (scanned == 4 && !crashed) {
      crashed = true;
      return false;
    }
    return true;
  });
  const v1::Review started = Start(v1::APPLY);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!crashed && absl::Now() < deadline)
    absl::SleepFor(absl::Milliseconds(2));
  ASSERT_TRUE(crashed);
  runner_->Shutdown();
  v1::Review mid = GetReview(started.name());
  EXPECT_FALSE(mid.done());
  EXPECT_EQ(mid.metadata().scanned(), 4);
  EXPECT_EQ(Count(mid, v1::ORPHANED), 2);
  EXPECT_EQ(Get("n3").rep(), "r3");  // not applied yet
  EXPECT_EQ(ReviewEvents("n3"), 0);

  MakeRunner();  // the restart
  ASSERT_TRUE(runner_->ResumeRunning().ok());
  const v1::Review done = WaitDone(started.name());
  EXPECT_EQ(done.metadata().state(), v1::ReviewMetadata::SUCCEEDED);
  EXPECT_EQ(done.metadata().scanned(), 6);
  EXPECT_EQ(done.metadata().total(), 6);
  EXPECT_EQ(Count(done, v1::ORPHANED), 2);
  EXPECT_EQ(done.metadata().applied(), 2);
  for (const char* c : {"n3", "n4"}) {
    const v1::Ownership o = Get(c);
    EXPECT_NE(o.rep(), "r3") << c;
    EXPECT_NE(o.rep(), "r4") << c;
    EXPECT_EQ(o.state(), v1::Ownership::ACTIVE) << c;
    EXPECT_EQ(ReviewEvents(c), 1) << c;
  }
  for (const char* c : {"n1", "n2", "n5", "n6"}) EXPECT_EQ(ReviewEvents(c), 0);
  const std::vector<v1::Finding> findings = Findings(started.name());
  ASSERT_EQ(findings.size(), 2u);
  for (const v1::Finding& f : findings) {
    EXPECT_EQ(f.kind(), v1::ORPHANED);
    EXPECT_EQ(f.status(), v1::Finding::APPLIED);
    EXPECT_GT(f.applied_event_sequence(), 0);
  }
  // Resuming again finds nothing to run and applies nothing.
  MakeRunner();
  ASSERT_TRUE(runner_->ResumeRunning().ok());
  runner_->Shutdown();
  EXPECT_EQ(ReviewEvents("n3"), 1);
  EXPECT_EQ(ReviewEvents("n4"), 1);
}

TEST_F(ReviewRunnerTest, CancelStopsBeforeTheNextBatch) {
  North(6);
  absl::Notification in_batch, cancelled;
  MakeRunner(nullptr, [&](absl::string_view, int64_t scanned) {
    if (scanned == 2) {
      in_batch.Notify();
      cancelled.WaitForNotification();
    }
  });
  const v1::Review started = Start(v1::REPORT);
  in_batch.WaitForNotification();
  v1::CancelReviewRequest cancel;
  cancel.set_name(started.name());
  auto answer = runner_->Cancel(cancel, "admin");
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_TRUE(answer->done());
  EXPECT_EQ(answer->metadata().state(), v1::ReviewMetadata::CANCELLED);
  EXPECT_EQ(answer->error_message(), "cancelled by admin");
  cancelled.Notify();
  runner_->Shutdown();
  const v1::Review after = GetReview(started.name());
  EXPECT_EQ(after.metadata().state(), v1::ReviewMetadata::CANCELLED);
  EXPECT_EQ(after.metadata().scanned(), 2);
  auto again = runner_->Cancel(cancel, "admin");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ReviewRunnerTest, OverlappingRunningReviewIsAborted) {
  North(4);
  absl::Notification in_batch, release;
  MakeRunner(nullptr, [&](absl::string_view, int64_t scanned) {
    if (scanned == 2 && !in_batch.HasBeenNotified()) {
      in_batch.Notify();
      release.WaitForNotification();
    }
  });
  v1::ReviewScope sales;
  sales.add_departments("sales");
  const v1::Review first = Start(v1::REPORT, sales, "start-sales");
  in_batch.WaitForNotification();
  v1::StartReviewRequest all;
  all.set_mode(v1::REPORT);
  all.set_request_id("start-all");
  auto refused = runner_->Start(all, "admin");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(refused.status().message(),
            absl::StrCat("review ", first.name(),
                         " is running over an overlapping scope; cancel it "
                         "or wait for it to finish"));
  v1::StartReviewRequest service = all;
  service.set_request_id("start-service");
  service.mutable_scope()->add_departments("service");
  auto accepted = runner_->Start(service, "admin");
  EXPECT_TRUE(accepted.ok()) << accepted.status();
  release.Notify();
  EXPECT_EQ(WaitDone(first.name()).metadata().state(),
            v1::ReviewMetadata::SUCCEEDED);
  if (accepted.ok()) WaitDone(accepted->name());
  // A retry of the first start gets its first answer, done or not.
  v1::StartReviewRequest retry;
  retry.set_mode(v1::REPORT);
  *retry.mutable_scope() = sales;
  retry.set_request_id("start-sales");
  auto again = runner_->Start(retry, "admin");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->name(), first.name());
  // Once both are done, the whole store may be reviewed.
  all.set_request_id("start-all-2");
  auto later = runner_->Start(all, "admin");
  EXPECT_TRUE(later.ok()) << later.status();
  if (later.ok()) WaitDone(later->name());
}

TEST_F(ReviewRunnerTest, FrozenOwnershipIsNeverReportedOrChanged) {
  North(2);  // n1 r1, n2 r2
  Freeze("n1", "r1");
  SetStatus("r1", v1::LEFT);
  SetStatus("r2", v1::LEFT);
  MakeRunner();
  const v1::Review done = WaitDone(Start(v1::APPLY).name());
  EXPECT_EQ(done.metadata().state(), v1::ReviewMetadata::SUCCEEDED);
  const std::vector<v1::Finding> findings = Findings(done.name());
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].customer_id(), "n2");
  EXPECT_EQ(findings[0].status(), v1::Finding::APPLIED);
  EXPECT_FALSE(desk_->InCooldown("n2", "sales", "r2"));  // r2 left
  EXPECT_EQ(Get("n1").state(), v1::Ownership::FROZEN);
  EXPECT_EQ(Get("n1").rep(), "r1");
  EXPECT_EQ(ReviewEvents("n1"), 0);
}

TEST_F(ReviewRunnerTest, OverCapacityTrimsTheLeastRecentActivity) {
  North(12);  // round robin over r1..r6: each owns two
  std::vector<std::string> of_r2;
  for (int i = 1; i <= 12; ++i) {
    const std::string c = absl::StrCat("n", i);
    if (Get(c).rep() == "r2") of_r2.push_back(c);
  }
  ASSERT_EQ(of_r2.size(), 2u);
  // The first of r2's customers was followed up; the other one was not.
  clock_.Advance(absl::Hours(1));
  v1::RecordActivityRequest activity;
  activity.set_customer_id(of_r2[0]);
  activity.set_department("sales");
  activity.set_kind(v1::RecordActivityRequest::CALL);
  *activity.mutable_at() = testing::Ts(clock_.Now());
  activity.set_request_id("activity-1");
  ASSERT_TRUE(desk_->RecordActivity(activity, "crm").ok());
  // r2 now holds at most 1.
  MustApply(absl::StrReplaceAll(testing::kRoster, {{"{rep: r2, capacity: 10}",
                                                    "{rep: r2, capacity: 1}"}}),
            "roster-2");
  MakeRunner();
  v1::StartReviewRequest r;
  r.set_mode(v1::APPLY);
  r.add_checks(v1::OVER_CAPACITY);
  r.set_request_id("start-cap");
  auto started = runner_->Start(r, "admin");
  ASSERT_TRUE(started.ok()) << started.status();
  const v1::Review done = WaitDone(started->name());
  const std::vector<v1::Finding> findings = Findings(done.name());
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].kind(), v1::OVER_CAPACITY);
  EXPECT_EQ(findings[0].customer_id(), of_r2[1]);
  EXPECT_EQ(findings[0].rep(), "r2");
  EXPECT_EQ(findings[0].status(), v1::Finding::APPLIED);
  EXPECT_EQ(Get(of_r2[0]).rep(), "r2");
  EXPECT_NE(Get(of_r2[1]).rep(), "r2");
  EXPECT_EQ(Owned("r2"), 1);
  // The trimmed customer cools for r2 (server/cooldowns.h); the kept one not.
  EXPECT_TRUE(desk_->InCooldown(of_r2[1], "sales", "r2"));
  EXPECT_FALSE(desk_->InCooldown(of_r2[0], "sales", "r2"));
  EXPECT_EQ(ReviewEvents(of_r2[1]), 1);
}

TEST_F(ReviewRunnerTest, DriftOfAProtectedNewOwnerWaitsForTheProtection) {
  North(1);  // n1 r1, since T0
  // The rules now send the North to pool p2, and protect new owners 14d.
  MustCreate(R"(ruleset: acme
departments:
  sales:
    rules:
      - id: north
        when: {region: {under: CN/North}}
        assign: {pool: p2}
    fallback: {pool: p1}
policies:
  protection: {new_owner: 14d}
)",
             "ruleset-2");
  MustActivate(2, "activate-2");
  MakeRunner();
  clock_.Advance(absl::Hours(24 * 14) - absl::Seconds(1));
  v1::Review first = WaitDone(Start(v1::APPLY, {}, "start-protected").name());
  std::vector<v1::Finding> findings = Findings(first.name());
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].kind(), v1::DRIFT);
  EXPECT_EQ(findings[0].status(), v1::Finding::OPEN);
  EXPECT_EQ(first.metadata().applied(), 0);
  EXPECT_EQ(Get("n1").rep(), "r1");
  clock_.Advance(absl::Seconds(1));
  v1::Review second = WaitDone(Start(v1::APPLY, {}, "start-after").name());
  findings = Findings(second.name());
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].status(), v1::Finding::APPLIED);
  EXPECT_EQ(Get("n1").state(), v1::Ownership::POOLED);
  EXPECT_EQ(Get("n1").pool(), "p2");
  EXPECT_EQ(ReviewEvents("n1"), 1);
}

TEST_F(ReviewRunnerTest, AStoredRecordThatDoesNotParseFailsTheReview) {
  North(3);
  ASSERT_TRUE(
      storage::RunInTransaction(*store_, [&](storage::Transaction& txn) {
        return txn.Put(storage::Table::kCustomers, CustomerKey("n2"),
                       "\xff\xff");
      }).ok());
  MakeRunner();
  const v1::Review done = WaitDone(Start(v1::REPORT).name());
  EXPECT_TRUE(done.done());
  EXPECT_EQ(done.metadata().state(), v1::ReviewMetadata::FAILED);
  EXPECT_EQ(done.error_code(), static_cast<int>(absl::StatusCode::kDataLoss));
  EXPECT_EQ(done.error_message(), "a stored customer record does not parse");
  // The batch before the bad record was checkpointed; nothing after it.
  EXPECT_EQ(done.metadata().scanned(), 0);
  // No longer running: another review may start.
  v1::StartReviewRequest again;
  again.set_mode(v1::REPORT);
  again.set_request_id("start-again");
  auto next = runner_->Start(again, "admin");
  EXPECT_TRUE(next.ok()) << next.status();
  if (next.ok()) WaitDone(next->name());
}

TEST_F(ReviewRunnerTest, ProgressReportsRateAndEta) {
  North(6);
  v1::Review seen;
  MakeRunner(nullptr, [&](absl::string_view name, int64_t scanned) {
    if (scanned == 4) {
      v1::GetReviewRequest get;
      get.set_name(std::string(name));
      auto review = runner_->Get(get);
      if (review.ok()) seen = *review;
    }
    clock_.Advance(absl::Seconds(1));  // each batch takes a second
  });
  const v1::Review done = WaitDone(Start(v1::REPORT).name());
  EXPECT_EQ(done.metadata().state(), v1::ReviewMetadata::SUCCEEDED);
  // At the second checkpoint: 4 customers in 1 s, 2 to go.
  EXPECT_EQ(seen.metadata().scanned(), 4);
  EXPECT_EQ(seen.metadata().total(), 6);
  EXPECT_DOUBLE_EQ(seen.metadata().rate(), 4.0);
  EXPECT_EQ(seen.metadata().eta().seconds(), 0);
  EXPECT_EQ(seen.metadata().eta().nanos(), 500000000);
  EXPECT_FALSE(done.metadata().has_eta());
}

}  // namespace
}  // namespace custodian::server
