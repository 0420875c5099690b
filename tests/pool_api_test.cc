// custodian.v1.PoolService over a real channel: claim, release, list,
// activity, concurrent claims, bad input, and recycling driven by the
// server's SweepRecyclingNow() and the manual clock.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "custodian/v1/pool_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/ownership_testing.h"

namespace custodian::server {
namespace {

using ::google::protobuf::util::TimeUtil;
using testing::AssignReq;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

google::protobuf::Timestamp At(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

class PoolApiTest : public testing::OwnershipFixture {
 protected:
  void SetUp() override {
    OwnershipFixture::SetUp();
    if (HasFatalFailure()) return;
    pool_ = v1::PoolService::NewStub(channel_);
  }

  grpc::Status Claim(const std::string& customer, const std::string& rep,
                     const std::string& request_id, v1::Ownership* out) {
    v1::ClaimRequest r;
    r.set_customer_id(customer);
    r.set_department("sales");
    r.set_rep(rep);
    r.set_request_id(request_id);
    return Call(pool_.get(), &v1::PoolService::Stub::Claim, r, out);
  }
  grpc::Status Release(const v1::ReleaseRequest& r, v1::Ownership* out) {
    return Call(pool_.get(), &v1::PoolService::Stub::Release, r, out);
  }
  grpc::Status List(const v1::ListPoolRequest& r, v1::ListPoolResponse* out) {
    return Call(pool_.get(), &v1::PoolService::Stub::ListPool, r, out);
  }
  grpc::Status Activity(const v1::RecordActivityRequest& r,
                        v1::RecordActivityResponse* out) {
    return Call(pool_.get(), &v1::PoolService::Stub::RecordActivity, r, out);
  }

  // Assigns a lead (it goes to t-pool).
  void Lead(const std::string& id) {
    v1::AssignResponse response;
    grpc::Status s =
        Assign(AssignReq(testing::MakeCustomer(id, "lead"), "assign-" + id),
               &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(testing::OwnerIn(response, 0), "pool:t-pool");
  }

  std::vector<std::string> Listed() {
    v1::ListPoolRequest r;
    r.set_department("sales");
    v1::ListPoolResponse response;
    grpc::Status s = List(r, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<std::string> ids;
    for (const v1::PoolEntry& e : response.entries()) {
      ids.push_back(e.ownership().customer_id());
    }
    return ids;
  }

  std::unique_ptr<v1::PoolService::Stub> pool_;
};

TEST_F(PoolApiTest, ClaimReleaseAndListOverTheWire) {
  Lead("l1");
  Lead("l2");
  EXPECT_THAT(Listed(), ElementsAre("l1", "l2"));
  v1::Ownership claimed;
  grpc::Status s = Claim("l1", "r1", "claim-1", &claimed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(claimed.state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(claimed.rep(), "r1");
  EXPECT_EQ(claimed.team(), "rr-team");
  EXPECT_THAT(Listed(), ElementsAre("l2"));

  v1::ReleaseRequest release;
  release.set_customer_id("l1");
  release.set_department("sales");
  release.set_pool("t-pool");
  release.set_reason(v1::ReleaseRequest::NO_DEMAND);
  release.set_request_id("release-1");
  v1::Ownership released;
  s = Release(release, &released);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(released.state(), v1::Ownership::POOLED);
  EXPECT_EQ(released.pool(), "t-pool");
  EXPECT_THAT(Listed(), ElementsAre("l1", "l2"));

  v1::ListOwnershipEventsRequest events;
  events.set_customer_id("l1");
  events.set_department("sales");
  v1::ListOwnershipEventsResponse history;
  ASSERT_TRUE(ListEvents(events, &history).ok());
  ASSERT_EQ(history.events_size(), 3);
  EXPECT_EQ(history.events(1).cause(), v1::OwnershipEvent::CLAIM);
  EXPECT_EQ(history.events(2).cause(), v1::OwnershipEvent::RELEASE);
  EXPECT_EQ(history.events(2).reason(), "NO_DEMAND");
}

TEST_F(PoolApiTest, ConcurrentClaimsOverTheWireHaveOneWinner) {
  Lead("l1");
  const std::vector<std::string> reps = {"r1", "r2", "r3", "w1",
                                         "w2", "w3", "b1", "b2"};
  std::vector<grpc::Status> results(reps.size());
  std::vector<v1::Ownership> answers(reps.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < reps.size(); ++i) {
    threads.emplace_back([&, i] {
      results[i] = Claim("l1", reps[i], absl::StrCat("race-", i), &answers[i]);
    });
  }
  for (std::thread& t : threads) t.join();
  std::string winner;
  int winners = 0;
  for (size_t i = 0; i < reps.size(); ++i) {
    if (results[i].ok()) {
      ++winners;
      winner = answers[i].rep();
    }
  }
  ASSERT_EQ(winners, 1);
  for (const grpc::Status& s : results) {
    if (s.ok()) continue;
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
        << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat("\"", winner, "\"")));
    EXPECT_THAT(s.error_message(), HasSubstr("appeal"));
  }
}

TEST_F(PoolApiTest, BadInputIsInvalidArgumentAndNamesTheField) {
  v1::Ownership out;
  grpc::Status s = Claim("", "r1", "bad-1", &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("customer_id"));
  v1::ReleaseRequest release;
  release.set_customer_id("l1");
  release.set_department("sales");
  release.set_request_id("bad-2");
  s = Release(release, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("reason"));
  v1::ListPoolRequest list;
  list.set_department("sales");
  list.set_page_size(-1);
  v1::ListPoolResponse listed;
  s = List(list, &listed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("page_size"));
  v1::RecordActivityRequest activity;
  activity.set_customer_id("l1");
  activity.set_department("sales");
  activity.set_request_id("bad-3");
  *activity.mutable_at() = At(clock_.Now());
  v1::RecordActivityResponse recorded;
  s = Activity(activity, &recorded);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("kind"));
}

TEST_F(PoolApiTest, ServerSweepRecyclesNeglectedCustomersOnTheClock) {
  // The test ruleset plus recycling of sales after 30 days without
  // follow-up, and 14 days of protection.
  std::string text = testing::TestRuleset("keep");
  text +=
      "  recycling:\n"
      "    - department: sales\n"
      "      when: {last_activity_time: {older_than: 30d}}\n"
      "      to_pool: t-pool\n"
      "  protection: {new_owner: 14d}\n";
  ASSERT_EQ(MustCreate(text, "create-recycling").version(), 3);
  MustActivate(3, "activate-recycling");

  v1::Customer c = testing::MakeCustomer("c1", "rr");
  *c.mutable_last_activity_time() = At(clock_.Now());
  v1::AssignResponse assigned;
  ASSERT_TRUE(Assign(AssignReq(c, "assign-c1"), &assigned).ok());
  ASSERT_EQ(testing::OwnerIn(assigned, 0), "r1");
  const absl::Time start = clock_.Now();

  // A visit on day 20 resets the clock.
  clock_.Set(start + absl::Hours(24 * 20));
  v1::RecordActivityRequest visit;
  visit.set_customer_id("c1");
  visit.set_department("sales");
  visit.set_kind(v1::RecordActivityRequest::VISIT);
  *visit.mutable_at() = At(clock_.Now());
  visit.set_request_id("visit-1");
  v1::RecordActivityResponse recorded;
  ASSERT_TRUE(Activity(visit, &recorded).ok());
  EXPECT_TRUE(recorded.changed());

  clock_.Set(start + absl::Hours(24 * 31));
  absl::StatusOr<RecyclingSweeper::Stats> stats = server_->SweepRecyclingNow();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->recycled, 0);
  EXPECT_THAT(Listed(), ElementsAre());

  clock_.Set(start + absl::Hours(24 * 50) + absl::Seconds(1));
  stats = server_->SweepRecyclingNow();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->recycled, 1);
  EXPECT_THAT(Listed(), ElementsAre("c1"));
}

}  // namespace
}  // namespace custodian::server
