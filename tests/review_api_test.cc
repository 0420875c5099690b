// custodian.v1.ReviewService over a real channel against the real server:
// on one constructed data set each check finds exactly its case and nothing
// else; REPORT changes nothing, QUEUE waits for a manager, APPLY fixes what
// can be fixed with one REVIEW event per fix; scoped reviews touch nothing
// outside their scope; bad input on every field writes nothing; a RUNNING
// review resumes after a restart.
#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "custodian/v1/review_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/ownership_testing.h"

namespace custodian::server {
namespace {

using ::google::protobuf::util::TimeUtil;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::MakeCustomer;
using ::testing::UnorderedElementsAre;

google::protobuf::Timestamp At(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

// (kind, customer, department) of a finding.
using Key = std::tuple<v1::FindingKind, std::string, std::string>;

class ReviewApiTest : public testing::OwnershipFixture {
 protected:
  void SetUp() override {
    OwnershipFixture::SetUp();
    if (HasFatalFailure()) return;
    review_ = v1::ReviewService::NewStub(channel_);
  }

  void RenewStubs() {
    RestartServer();
    review_ = v1::ReviewService::NewStub(channel_);
  }

  grpc::Status Start(const v1::StartReviewRequest& r, v1::Review* out) {
    return Call(review_.get(), &v1::ReviewService::Stub::StartReview, r, out);
  }
  grpc::Status GetReview(const std::string& name, v1::Review* out) {
    v1::GetReviewRequest r;
    r.set_name(name);
    return Call(review_.get(), &v1::ReviewService::Stub::GetReview, r, out);
  }
  grpc::Status ListFindings(const v1::ListFindingsRequest& r,
                            v1::ListFindingsResponse* out) {
    return Call(review_.get(), &v1::ReviewService::Stub::ListFindings, r, out);
  }
  grpc::Status ApplyFindings(const v1::ApplyFindingsRequest& r,
                             v1::ResolveFindingsResponse* out) {
    return Call(review_.get(), &v1::ReviewService::Stub::ApplyFindings, r, out);
  }
  grpc::Status DismissFindings(const v1::DismissFindingsRequest& r,
                               v1::ResolveFindingsResponse* out) {
    return Call(review_.get(), &v1::ReviewService::Stub::DismissFindings, r,
                out);
  }
  grpc::Status ListReviews(const v1::ListReviewsRequest& r,
                           v1::ListReviewsResponse* out) {
    return Call(review_.get(), &v1::ReviewService::Stub::ListReviews, r, out);
  }
  grpc::Status CancelReview(const std::string& name, v1::Review* out) {
    v1::CancelReviewRequest r;
    r.set_name(name);
    return Call(review_.get(), &v1::ReviewService::Stub::CancelReview, r, out);
  }

  // Polls GetReview until done (the review runs on its own thread).
  v1::Review WaitDone(const std::string& name) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    v1::Review review;
    do {
      grpc::Status s = GetReview(name, &review);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok() || review.done()) return review;
      absl::SleepFor(absl::Milliseconds(5));
    } while (absl::Now() < deadline);
    ADD_FAILURE() << name << " did not finish";
    return review;
  }

  // Starts a review and waits for it.
  v1::Review Run(v1::ReviewMode mode, const v1::ReviewScope& scope = {},
                 const std::string& request_id = "review-1") {
    v1::StartReviewRequest r;
    r.set_mode(mode);
    *r.mutable_scope() = scope;
    r.set_request_id(request_id);
    v1::Review started;
    grpc::Status s = Start(r, &started);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(started.metadata().state(), v1::ReviewMetadata::RUNNING);
    v1::Review done = WaitDone(started.name());
    EXPECT_EQ(done.metadata().state(), v1::ReviewMetadata::SUCCEEDED)
        << done.error_message();
    return done;
  }

  std::vector<v1::Finding> Findings(const std::string& review) {
    v1::ListFindingsRequest r;
    r.set_review(review);
    r.set_page_size(1000);
    v1::ListFindingsResponse out;
    grpc::Status s = ListFindings(r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {out.findings().begin(), out.findings().end()};
  }

  static std::set<Key> Keys(const std::vector<v1::Finding>& findings) {
    std::set<Key> keys;
    for (const v1::Finding& f : findings) {
      keys.emplace(f.kind(), f.customer_id(), f.department());
    }
    return keys;
  }

  v1::Ownership Owner(const std::string& customer,
                      const std::string& department = "sales") {
    v1::GetOwnershipRequest r;
    r.set_customer_id(customer);
    r.set_department(department);
    v1::Ownership o;
    grpc::Status s = GetOwnership(r, &o);
    EXPECT_TRUE(s.ok()) << customer << ": " << s.error_message();
    return o;
  }

  std::vector<v1::OwnershipEvent> Events(const std::string& customer) {
    v1::ListOwnershipEventsRequest r;
    r.set_customer_id(customer);
    r.set_page_size(1000);
    v1::ListOwnershipEventsResponse out;
    grpc::Status s = ListEvents(r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {out.events().begin(), out.events().end()};
  }

  int ReviewEvents(const std::string& customer) {
    int n = 0;
    for (const v1::OwnershipEvent& e : Events(customer)) {
      n += e.cause() == v1::OwnershipEvent::REVIEW;
    }
    return n;
  }

  // Every event of every customer of the data set.
  std::string History() {
    std::string out;
    for (const std::string& c : customers_) {
      for (const v1::OwnershipEvent& e : Events(c)) {
        absl::StrAppend(&out, e.ShortDebugString(), "\n");
      }
    }
    return out;
  }

  v1::AssignResponse AssignAt(v1::Customer c, std::optional<absl::Time> act) {
    if (act.has_value()) *c.mutable_last_activity_time() = At(*act);
    customers_.push_back(c.id());
    return MustAssign(c, absl::StrCat("assign-", c.id()));
  }

  // The data set: one case per check, and controls that must not be found.
  //   ok1, ok2      contained, recent: nothing
  //   drift1        rr rule, transferred to b1 (bm-team): DRIFT
  //   orphan1       w-team rep, who then leaves: ORPHANED
  //   pending1      vip, awaiting approval for 8 days: PENDING_TOO_LONG
  //   pending2      vip, awaiting approval for 0 days: nothing
  //   stale1        last activity 108 days ago: STALE
  //   unowned1      region US: no service rule until version 3 adds a
  //                 service fallback: UNOWNED (service)
  //   cap1, cap2    k1 (cap-team) owns both, then its capacity drops to 1:
  //                 OVER_CAPACITY for the one with the older activity
  void BuildDataSet() {
    clock_.Advance(absl::Hours(24 * 100));
    const absl::Time start = clock_.Now();
    AssignAt(MakeCustomer("pending1", "vip"), std::nullopt);
    ASSERT_EQ(Owner("pending1").state(), v1::Ownership::PENDING_APPROVAL);
    clock_.Advance(absl::Hours(24 * 8));
    const absl::Time now = clock_.Now();
    AssignAt(MakeCustomer("pending2", "vip"), std::nullopt);
    AssignAt(MakeCustomer("ok1", "rr"), now);
    AssignAt(MakeCustomer("ok2", "bm"), now);
    AssignAt(MakeCustomer("drift1", "rr"), now);
    AssignAt(MakeCustomer("stale1", "rr"), start - absl::Hours(24 * 100));
    AssignAt(MakeCustomer("orphan1", "wt"), now);
    AssignAt(MakeCustomer("unowned1", "rr", "US"), now);
    AssignAt(MakeCustomer("cap1", "cap"), now - absl::Hours(48));
    AssignAt(MakeCustomer("cap2", "cap"), now - absl::Hours(24));
    ASSERT_EQ(Owner("unowned1", "service").state(), v1::Ownership::UNOWNED);
    // cap-team is least_loaded: k1 (capacity 2) then k2 (capacity 1) then
    // k1 again would be chosen; make both cap customers k1's.
    cap_rep_ = Owner("cap1").rep();
    ASSERT_EQ(cap_rep_, "k1");
    if (Owner("cap2").rep() != "k1") {
      v1::TransferRequest t;
      t.set_customer_id("cap2");
      t.set_department("sales");
      t.set_rep("k1");
      t.set_reason("test");
      t.set_request_id("transfer-cap2");
      v1::Ownership o;
      grpc::Status s = Transfer(t, &o);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
    ASSERT_EQ(Owner("cap2").rep(), "k1");
    // drift1 moves to a rep of another team.
    v1::TransferRequest t;
    t.set_customer_id("drift1");
    t.set_department("sales");
    t.set_rep("b1");
    t.set_reason("test");
    t.set_request_id("transfer-drift1");
    v1::Ownership moved;
    grpc::Status s = Transfer(t, &moved);
    ASSERT_TRUE(s.ok()) << s.error_message();
    // k1's capacity drops to 1.
    std::string roster = testing::ReadFile(testing::SamplePath("roster.yaml"));
    roster = absl::StrReplaceAll(
        roster,
        {{"\nteams:\n", absl::StrCat("\n", testing::kTestReps, "teams:\n")}});
    if (roster.back() != '\n') roster.push_back('\n');
    roster += absl::StrReplaceAll(
        testing::kTestTeams,
        {{"{rep: k1, capacity: 2}", "{rep: k1, capacity: 1}"}});
    v1::ApplyRosterRequest apply;
    apply.set_source_text(roster);
    apply.set_file_name("roster.yaml");
    apply.set_request_id("roster-cap");
    v1::ApplyRosterResponse applied;
    s = Apply(apply, &applied);
    ASSERT_TRUE(s.ok()) << s.error_message();
    // orphan1's rep leaves.
    orphan_rep_ = Owner("orphan1").rep();
    ASSERT_FALSE(orphan_rep_.empty());
    v1::SetRepStatusRequest leave;
    leave.set_rep(orphan_rep_);
    leave.set_status(v1::LEFT);
    leave.set_reason("left the company");
    leave.set_request_id("leave-1");
    v1::SetRepStatusResponse left;
    s = SetRepStatus(leave, &left);
    ASSERT_TRUE(s.ok()) << s.error_message();
    // Version 3: the same rules, and a service fallback.
    std::string text = testing::TestRuleset("keep");
    text = absl::StrReplaceAll(text, {{"        assign: {team: svc-team}\n",
                                       "        assign: {team: svc-team}\n"
                                       "    fallback: {team: svc-team}\n"}});
    ASSERT_EQ(MustCreate(text, "create-v3").version(), 3);
    MustActivate(3, "activate-v3");
  }

  std::set<Key> ExpectedKeys() const {
    return {{v1::DRIFT, "drift1", "sales"},
            {v1::ORPHANED, "orphan1", "sales"},
            {v1::PENDING_TOO_LONG, "pending1", "sales"},
            {v1::STALE, "stale1", "sales"},
            {v1::STALE, "stale1", "service"},
            {v1::UNOWNED, "unowned1", "service"},
            {v1::OVER_CAPACITY, "cap1", "sales"}};
  }

  std::unique_ptr<v1::ReviewService::Stub> review_;
  std::vector<std::string> customers_;
  std::string cap_rep_;
  std::string orphan_rep_;
};

int64_t CountOf(const v1::Review& review, v1::FindingKind kind) {
  for (const v1::FindingCount& c : review.metadata().findings()) {
    if (c.kind() == kind) return c.count();
  }
  return -1;
}

TEST_F(ReviewApiTest, ReportFindsExactlyEachCaseAndChangesNothing) {
  BuildDataSet();
  if (HasFatalFailure()) return;
  const std::string before = History();
  const v1::Review done = Run(v1::REPORT);
  EXPECT_TRUE(done.done());
  EXPECT_EQ(done.metadata().scanned(), 10);
  EXPECT_EQ(done.metadata().total(), 10);
  EXPECT_EQ(done.metadata().ruleset_version(), 3);
  for (v1::FindingKind k : {v1::DRIFT, v1::STALE, v1::OVER_CAPACITY,
                            v1::ORPHANED, v1::PENDING_TOO_LONG, v1::UNOWNED}) {
    // The customer's last activity is stale in both its departments.
    EXPECT_EQ(CountOf(done, k), k == v1::STALE ? 2 : 1)
        << v1::FindingKind_Name(k);
  }
  const std::vector<v1::Finding> findings = Findings(done.name());
  EXPECT_EQ(Keys(findings), ExpectedKeys());
  for (const v1::Finding& f : findings) {
    EXPECT_EQ(f.status(), v1::Finding::OPEN) << f.ShortDebugString();
    EXPECT_EQ(f.review(), done.name());
    EXPECT_EQ(f.id().size(), 16u);
    if (f.kind() == v1::DRIFT) {
      EXPECT_EQ(f.rep(), "b1");
      EXPECT_EQ(f.team(), "bm-team");
      EXPECT_TRUE(f.fixable());
    }
    if (f.kind() == v1::ORPHANED) {
      EXPECT_EQ(f.rep(), orphan_rep_);
    }
    if (f.kind() == v1::OVER_CAPACITY) {
      EXPECT_EQ(f.rep(), "k1");
    }
    if (f.kind() == v1::STALE || f.kind() == v1::PENDING_TOO_LONG) {
      EXPECT_FALSE(f.fixable());
    }
  }
  EXPECT_EQ(History(), before);
  EXPECT_EQ(done.metadata().applied(), 0);

  // Filters.
  v1::ListFindingsRequest by_rep;
  by_rep.set_review(done.name());
  by_rep.set_rep("b1");
  v1::ListFindingsResponse page;
  ASSERT_TRUE(ListFindings(by_rep, &page).ok());
  ASSERT_EQ(page.findings_size(), 1);
  EXPECT_EQ(page.findings(0).kind(), v1::DRIFT);
  v1::ListFindingsRequest by_dept;
  by_dept.set_review(done.name());
  by_dept.set_department("service");
  ASSERT_TRUE(ListFindings(by_dept, &page).ok());
  ASSERT_EQ(page.findings_size(), 2);
  EXPECT_EQ(Keys({page.findings().begin(), page.findings().end()}),
            (std::set<Key>{{v1::STALE, "stale1", "service"},
                           {v1::UNOWNED, "unowned1", "service"}}));
  // Pagination: one at a time, every finding once.
  v1::ListFindingsRequest paged;
  paged.set_review(done.name());
  paged.set_page_size(1);
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(ListFindings(paged, &page).ok());
    for (const v1::Finding& f : page.findings()) seen.insert(f.id());
    if (page.next_page_token().empty()) break;
    paged.set_page_token(page.next_page_token());
  }
  EXPECT_EQ(seen.size(), 7u);
}

TEST_F(ReviewApiTest, ApplyFixesTheFixableOnesOnceEachWithAReviewEvent) {
  BuildDataSet();
  if (HasFatalFailure()) return;
  const v1::Review done = Run(v1::APPLY);
  EXPECT_EQ(done.metadata().applied(), 4);
  const std::vector<v1::Finding> findings = Findings(done.name());
  EXPECT_EQ(Keys(findings), ExpectedKeys());
  for (const v1::Finding& f : findings) {
    const bool fixable = f.kind() == v1::DRIFT || f.kind() == v1::ORPHANED ||
                         f.kind() == v1::UNOWNED ||
                         f.kind() == v1::OVER_CAPACITY;
    EXPECT_EQ(f.status(), fixable ? v1::Finding::APPLIED : v1::Finding::OPEN)
        << f.ShortDebugString();
    EXPECT_EQ(ReviewEvents(f.customer_id()), fixable ? 1 : 0)
        << f.customer_id();
    if (!fixable) continue;
    const v1::Ownership o = Owner(f.customer_id(), f.department());
    EXPECT_EQ(o.last_event_sequence(), f.applied_event_sequence());
    EXPECT_EQ(o.rep(), f.applied_owner());
    const v1::OwnershipEvent last = Events(f.customer_id()).back();
    EXPECT_EQ(last.cause(), v1::OwnershipEvent::REVIEW);
    EXPECT_EQ(last.actor(), "local-dev");
  }
  EXPECT_EQ(Owner("drift1").team(), "rr-team");  // re-routed
  EXPECT_NE(Owner("orphan1").rep(), orphan_rep_);
  EXPECT_EQ(Owner("orphan1").team(), "w-team");
  EXPECT_EQ(Owner("unowned1", "service").rep(), "s1");
  EXPECT_NE(Owner("cap1").rep(), "k1");  // the older activity moved
  EXPECT_EQ(Owner("cap2").rep(), "k1");
  EXPECT_EQ(Owner("pending1").state(), v1::Ownership::PENDING_APPROVAL);
  for (const char* c : {"ok1", "ok2", "pending2"}) {
    EXPECT_EQ(ReviewEvents(c), 0) << c;
  }
  // A second APPLY review finds only what cannot be fixed.
  const v1::Review again = Run(v1::APPLY, {}, "review-2");
  EXPECT_EQ(Keys(Findings(again.name())),
            (std::set<Key>{{v1::PENDING_TOO_LONG, "pending1", "sales"},
                           {v1::STALE, "stale1", "sales"},
                           {v1::STALE, "stale1", "service"}}));
  EXPECT_EQ(again.metadata().applied(), 0);
}

TEST_F(ReviewApiTest, QueueWaitsForAManagerWhoAppliesOrDismisses) {
  BuildDataSet();
  if (HasFatalFailure()) return;
  const std::string before = History();
  const v1::Review done = Run(v1::QUEUE);
  EXPECT_EQ(History(), before);
  std::map<v1::FindingKind, v1::Finding> by_kind;
  for (const v1::Finding& f : Findings(done.name())) {
    if (f.kind() == v1::STALE && f.department() != "sales") continue;
    by_kind[f.kind()] = f;
  }
  ASSERT_EQ(by_kind.size(), 6u);
  EXPECT_EQ(by_kind[v1::DRIFT].status(), v1::Finding::QUEUED);
  EXPECT_EQ(by_kind[v1::ORPHANED].status(), v1::Finding::QUEUED);
  EXPECT_EQ(by_kind[v1::STALE].status(), v1::Finding::OPEN);

  v1::ApplyFindingsRequest apply;
  apply.set_review(done.name());
  apply.set_department("sales");
  apply.add_finding_ids(by_kind[v1::DRIFT].id());
  apply.set_reason("approved re-route");
  apply.set_request_id("apply-1");
  v1::ResolveFindingsResponse applied;
  grpc::Status s = ApplyFindings(apply, &applied);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(applied.results_size(), 1);
  EXPECT_TRUE(applied.results(0).changed());
  EXPECT_EQ(applied.results(0).status(), v1::Finding::APPLIED);
  EXPECT_EQ(Owner("drift1").team(), "rr-team");
  EXPECT_EQ(Events("drift1").back().reason(), "approved re-route");
  // The same request again: the first answer, nothing applied twice.
  v1::ResolveFindingsResponse retry;
  ASSERT_TRUE(ApplyFindings(apply, &retry).ok());
  EXPECT_EQ(retry.ShortDebugString(), applied.ShortDebugString());
  // Another request for it: already applied.
  apply.set_request_id("apply-2");
  ASSERT_TRUE(ApplyFindings(apply, &retry).ok());
  ASSERT_EQ(retry.results_size(), 1);
  EXPECT_FALSE(retry.results(0).changed());
  EXPECT_EQ(retry.results(0).skipped_reason(), "already applied");
  EXPECT_EQ(ReviewEvents("drift1"), 1);

  // Dismiss by kind; applying a dismissed finding changes nothing.
  v1::DismissFindingsRequest dismiss;
  dismiss.set_review(done.name());
  dismiss.set_department("sales");
  dismiss.set_kind(v1::ORPHANED);
  dismiss.set_reason("handled by hand");
  dismiss.set_request_id("dismiss-1");
  v1::ResolveFindingsResponse dismissed;
  ASSERT_TRUE(DismissFindings(dismiss, &dismissed).ok());
  ASSERT_EQ(dismissed.results_size(), 1);
  EXPECT_EQ(dismissed.results(0).status(), v1::Finding::DISMISSED);
  apply.clear_finding_ids();
  apply.add_finding_ids(by_kind[v1::ORPHANED].id());
  apply.set_request_id("apply-3");
  ASSERT_TRUE(ApplyFindings(apply, &retry).ok());
  EXPECT_EQ(retry.results(0).skipped_reason(), "already dismissed");
  EXPECT_EQ(Owner("orphan1").rep(), orphan_rep_);
  // STALE cannot be fixed automatically.
  apply.clear_finding_ids();
  apply.add_finding_ids(by_kind[v1::STALE].id());
  apply.set_request_id("apply-4");
  ASSERT_TRUE(ApplyFindings(apply, &retry).ok());
  EXPECT_FALSE(retry.results(0).changed());
  EXPECT_THAT(retry.results(0).skipped_reason(),
              HasSubstr("not fixable automatically"));
  // A finding of another department is refused, naming it; nothing written.
  apply.clear_finding_ids();
  apply.add_finding_ids(by_kind[v1::OVER_CAPACITY].id());
  apply.add_finding_ids(by_kind[v1::UNOWNED].id());
  apply.set_request_id("apply-5");
  s = ApplyFindings(apply, &retry);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(testing::BadFields(s), ElementsAre("finding_ids[1]"));
  EXPECT_EQ(Owner("cap1").rep(), "k1");
  // An unknown id.
  apply.clear_finding_ids();
  apply.add_finding_ids("0123456789abcdef");
  apply.set_request_id("apply-6");
  s = ApplyFindings(apply, &retry);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("finding_ids[0]"));
  // The applied count.
  v1::Review now;
  ASSERT_TRUE(GetReview(done.name(), &now).ok());
  EXPECT_EQ(now.metadata().applied(), 1);
}

TEST_F(ReviewApiTest, ScopedReviewsTouchNothingOutsideTheirScope) {
  BuildDataSet();
  if (HasFatalFailure()) return;
  v1::ReviewScope service;
  service.add_departments("service");
  const v1::Review s1 = Run(v1::APPLY, service, "review-service");
  EXPECT_EQ(Keys(Findings(s1.name())),
            (std::set<Key>{{v1::STALE, "stale1", "service"},
                           {v1::UNOWNED, "unowned1", "service"}}));
  EXPECT_EQ(Owner("unowned1", "service").rep(), "s1");
  EXPECT_EQ(Owner("drift1").rep(), "b1");
  EXPECT_EQ(Owner("orphan1").rep(), orphan_rep_);
  EXPECT_EQ(Owner("cap1").rep(), "k1");
  EXPECT_EQ(ReviewEvents("drift1"), 0);

  v1::ReviewScope b1;
  b1.add_reps("b1");
  const v1::Review s2 = Run(v1::APPLY, b1, "review-b1");
  EXPECT_EQ(Keys(Findings(s2.name())),
            (std::set<Key>{{v1::DRIFT, "drift1", "sales"}}));
  EXPECT_EQ(Owner("orphan1").rep(), orphan_rep_);
  EXPECT_EQ(Owner("cap1").rep(), "k1");

  v1::ReviewScope cap;
  cap.add_teams("cap-team");
  const v1::Review s3 = Run(v1::REPORT, cap, "review-cap");
  EXPECT_EQ(Keys(Findings(s3.name())),
            (std::set<Key>{{v1::OVER_CAPACITY, "cap1", "sales"}}));

  v1::StartReviewRequest only;
  only.set_mode(v1::REPORT);
  only.add_checks(v1::STALE);
  only.add_checks(v1::ORPHANED);
  only.set_request_id("review-checks");
  v1::Review started;
  ASSERT_TRUE(Start(only, &started).ok());
  const v1::Review s4 = WaitDone(started.name());
  EXPECT_THAT(s4.metadata().checks(), ElementsAre(v1::STALE, v1::ORPHANED));
  EXPECT_EQ(Keys(Findings(s4.name())),
            (std::set<Key>{{v1::STALE, "stale1", "sales"},
                           {v1::STALE, "stale1", "service"},
                           {v1::ORPHANED, "orphan1", "sales"}}));
}

TEST_F(ReviewApiTest, StartIsIdempotentAndListedNewestFirst) {
  v1::StartReviewRequest r;
  r.set_mode(v1::REPORT);
  r.set_request_id("same");
  v1::Review first, retry;
  ASSERT_TRUE(Start(r, &first).ok());
  ASSERT_TRUE(Start(r, &retry).ok());
  EXPECT_EQ(first.name(), retry.name());
  WaitDone(first.name());
  r.set_mode(v1::QUEUE);
  v1::Review other;
  grpc::Status s = Start(r, &other);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(testing::BadFields(s), ElementsAre("request_id"));
  clock_.Advance(absl::Seconds(1));
  r.set_request_id("second");
  ASSERT_TRUE(Start(r, &other).ok());
  WaitDone(other.name());
  v1::ListReviewsRequest list;
  list.set_page_size(1);
  v1::ListReviewsResponse page;
  ASSERT_TRUE(ListReviews(list, &page).ok());
  ASSERT_EQ(page.reviews_size(), 1);
  EXPECT_EQ(page.reviews(0).name(), other.name());
  ASSERT_FALSE(page.next_page_token().empty());
  list.set_page_token(page.next_page_token());
  ASSERT_TRUE(ListReviews(list, &page).ok());
  ASSERT_EQ(page.reviews_size(), 1);
  EXPECT_EQ(page.reviews(0).name(), first.name());
  EXPECT_TRUE(page.next_page_token().empty());
  // Cancelling a finished review.
  v1::Review cancelled;
  s = CancelReview(first.name(), &cancelled);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(ReviewApiTest, BadInputOnEveryFieldIsRefusedAndWritesNothing) {
  struct Case {
    std::string field;
    std::function<void(v1::StartReviewRequest*)> spoil;
  };
  const std::vector<Case> cases = {
      {"mode", [](v1::StartReviewRequest* r) { r->clear_mode(); }},
      {"mode",
       [](v1::StartReviewRequest* r) {
         r->set_mode(static_cast<v1::ReviewMode>(9));
       }},
      {"request_id", [](v1::StartReviewRequest* r) { r->clear_request_id(); }},
      {"request_id",
       [](v1::StartReviewRequest* r) { r->set_request_id("bad id!"); }},
      {"scope.departments[0]",
       [](v1::StartReviewRequest* r) {
         r->mutable_scope()->add_departments("Bad Dept");
       }},
      {"scope.departments[1]",
       [](v1::StartReviewRequest* r) {
         r->mutable_scope()->add_departments("sales");
         r->mutable_scope()->add_departments("sales");
       }},
      {"scope.teams[0]",
       [](v1::StartReviewRequest* r) { r->mutable_scope()->add_teams(""); }},
      {"scope.reps[0]",
       [](v1::StartReviewRequest* r) {
         r->mutable_scope()->add_reps(std::string(300, 'a'));
       }},
      {"scope.reps",
       [](v1::StartReviewRequest* r) {
         for (int i = 0; i < 101; ++i) {
           r->mutable_scope()->add_reps(absl::StrCat("r", i));
         }
       }},
      {"checks[0]",
       [](v1::StartReviewRequest* r) {
         r->add_checks(v1::FINDING_KIND_UNSPECIFIED);
       }},
      {"checks[0]",
       [](v1::StartReviewRequest* r) {
         r->add_checks(static_cast<v1::FindingKind>(42));
       }},
      {"checks[1]",
       [](v1::StartReviewRequest* r) {
         r->add_checks(v1::DRIFT);
         r->add_checks(v1::DRIFT);
       }},
      {"pending_after",
       [](v1::StartReviewRequest* r) {
         r->mutable_pending_after()->set_seconds(59);
       }},
      {"pending_after",
       [](v1::StartReviewRequest* r) {
         r->mutable_pending_after()->set_seconds(366LL * 24 * 3600);
       }},
  };
  for (const Case& c : cases) {
    v1::StartReviewRequest r;
    r.set_mode(v1::REPORT);
    r.set_request_id("bad-input");
    c.spoil(&r);
    v1::Review out;
    grpc::Status s = Start(r, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_THAT(testing::BadFields(s), ElementsAre(c.field)) << c.field;
    EXPECT_THAT(s.error_message(), HasSubstr(c.field));
  }
  v1::ListReviewsResponse reviews;
  ASSERT_TRUE(ListReviews(v1::ListReviewsRequest(), &reviews).ok());
  EXPECT_EQ(reviews.reviews_size(), 0);

  v1::Review out;
  for (const std::string& name :
       {std::string(""), std::string("reviews/xyz"),
        std::string("review/0123456789abcdef01234567"),
        std::string("reviews/0123456789ABCDEF01234567")}) {
    grpc::Status s = GetReview(name, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << name;
    EXPECT_THAT(testing::BadFields(s), ElementsAre("name")) << name;
    s = CancelReview(name, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << name;
  }
  const std::string unknown = "reviews/0123456789abcdef01234567";
  EXPECT_EQ(GetReview(unknown, &out).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(CancelReview(unknown, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::ListReviewsRequest negative;
  negative.set_page_size(-1);
  grpc::Status s = ListReviews(negative, &reviews);
  EXPECT_THAT(testing::BadFields(s), ElementsAre("page_size"));
  negative.set_page_size(0);
  negative.set_page_token("garbage");
  s = ListReviews(negative, &reviews);
  EXPECT_THAT(testing::BadFields(s), ElementsAre("page_token"));

  v1::ListFindingsResponse findings;
  for (const auto& [field, spoil] :
       std::vector<std::pair<std::string,
                             std::function<void(v1::ListFindingsRequest*)>>>{
           {"review", [](v1::ListFindingsRequest* r) { r->clear_review(); }},
           {"kind",
            [](v1::ListFindingsRequest* r) {
              r->set_kind(static_cast<v1::FindingKind>(77));
            }},
           {"department",
            [](v1::ListFindingsRequest* r) { r->set_department("No"); }},
           {"team",
            [](v1::ListFindingsRequest* r) { r->set_team("bad team!"); }},
           {"rep", [](v1::ListFindingsRequest* r) { r->set_rep("bad rep!"); }},
           {"status",
            [](v1::ListFindingsRequest* r) {
              r->set_status(static_cast<v1::Finding::Status>(9));
            }},
           {"page_size",
            [](v1::ListFindingsRequest* r) { r->set_page_size(-5); }},
           {"page_token",
            [](v1::ListFindingsRequest* r) { r->set_page_token("x"); }},
       }) {
    v1::ListFindingsRequest r;
    r.set_review(unknown);
    spoil(&r);
    s = ListFindings(r, &findings);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_THAT(testing::BadFields(s), ElementsAre(field)) << field;
  }
  v1::ListFindingsRequest missing;
  missing.set_review(unknown);
  EXPECT_EQ(ListFindings(missing, &findings).error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::ResolveFindingsResponse resolved;
  for (const auto& [field, spoil] :
       std::vector<std::pair<std::string,
                             std::function<void(v1::ApplyFindingsRequest*)>>>{
           {"review", [](v1::ApplyFindingsRequest* r) { r->clear_review(); }},
           {"department",
            [](v1::ApplyFindingsRequest* r) { r->clear_department(); }},
           {"finding_ids",
            [](v1::ApplyFindingsRequest* r) { r->clear_finding_ids(); }},
           {"finding_ids",
            [](v1::ApplyFindingsRequest* r) { r->set_kind(v1::DRIFT); }},
           {"finding_ids[0]",
            [](v1::ApplyFindingsRequest* r) {
              r->set_finding_ids(0, "NOT-HEX");
            }},
           {"finding_ids[1]",
            [](v1::ApplyFindingsRequest* r) {
              r->add_finding_ids(r->finding_ids(0));
            }},
           {"reason",
            [](v1::ApplyFindingsRequest* r) {
              r->set_reason(std::string(2000, 'x'));
            }},
           {"request_id",
            [](v1::ApplyFindingsRequest* r) { r->clear_request_id(); }},
       }) {
    v1::ApplyFindingsRequest r;
    r.set_review(unknown);
    r.set_department("sales");
    r.add_finding_ids("0123456789abcdef");
    r.set_request_id("apply-bad");
    spoil(&r);
    s = ApplyFindings(r, &resolved);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_THAT(testing::BadFields(s), ElementsAre(field)) << field;
    v1::DismissFindingsRequest d;
    d.set_review(r.review());
    d.set_department(r.department());
    *d.mutable_finding_ids() = r.finding_ids();
    d.set_kind(r.kind());
    d.set_reason(r.reason());
    d.set_request_id(r.request_id());
    s = DismissFindings(d, &resolved);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_THAT(testing::BadFields(s), ElementsAre(field)) << field;
  }
}

TEST_F(ReviewApiTest, HealthServesTheReviewService) {
  std::unique_ptr<grpc::health::v1::Health::Stub> health =
      grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest r;
  r.set_service("custodian.v1.ReviewService");
  grpc::health::v1::HealthCheckResponse out;
  grpc::ClientContext context;
  testing::SetDeadline(&context);
  ASSERT_TRUE(health->Check(&context, r, &out).ok());
  EXPECT_EQ(out.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

}  // namespace
}  // namespace custodian::server
