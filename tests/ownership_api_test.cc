// custodian.v1.OwnershipService's unary RPCs over a real channel, against a
// real server on a real store (tests/ownership_testing.h): GetOwnership,
// ListOwnerships (filters, pagination), ListOwnershipEvents (history, as_of),
// Transfer (to a rep, to a pool, idempotent retry), Approve, Reject; bad
// input on every request field.
#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "custodian/v1/ownership_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/ownership_testing.h"

namespace custodian::server {
namespace {

using google::protobuf::util::TimeUtil;
using testing::BadFields;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::MakeCustomer;
using testing::OwnerOf;
using ::testing::StartsWith;

v1::TransferRequest TransferTo(const std::string& customer,
                               const std::string& rep, const std::string& pool,
                               const std::string& request_id) {
  v1::TransferRequest t;
  t.set_customer_id(customer);
  t.set_department("sales");
  if (!rep.empty()) t.set_rep(rep);
  if (!pool.empty()) t.set_pool(pool);
  t.set_reason("territory change");
  t.set_request_id(request_id);
  return t;
}

google::protobuf::Timestamp At(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

class OwnershipApiTest : public testing::OwnershipFixture {
 protected:
  std::vector<std::string> Owners(const std::vector<v1::Ownership>& list) {
    std::vector<std::string> out;
    for (const v1::Ownership& o : list) {
      out.push_back(absl::StrCat(o.customer_id(), "=", OwnerOf(o)));
    }
    return out;
  }
  v1::ListOwnershipsRequest Filter() {
    v1::ListOwnershipsRequest r;
    r.set_department("sales");
    return r;
  }
};

TEST_F(OwnershipApiTest, GetOwnershipReturnsTheOwnerOrNotFound) {
  v1::AssignResponse assigned = MustAssign(MakeCustomer("c1", "rr"), "a1");
  v1::GetOwnershipRequest get;
  get.set_customer_id("c1");
  get.set_department("service");
  v1::Ownership o;
  ASSERT_TRUE(GetOwnership(get, &o).ok());
  EXPECT_EQ(o.SerializeAsString(),
            assigned.departments(1).ownership().SerializeAsString());
  get.set_department("marketing");  // never assigned there
  grpc::Status status = GetOwnership(get, &o);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("c1"));
  get.set_customer_id("nobody");
  get.set_department("sales");
  EXPECT_EQ(GetOwnership(get, &o).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(OwnershipApiTest, ListOwnershipsFiltersAndPaginatesInCustomerOrder) {
  for (int i = 0; i < 5; ++i) {
    MustAssign(MakeCustomer(absl::StrCat("rr-", i), "rr"), absl::StrCat(i));
  }
  v1::Customer strategic = MakeCustomer("wt-0", "wt");
  strategic.add_tags("strategic");
  MustAssign(strategic, "wt-0");
  MustAssign(MakeCustomer("lead-0", "lead"), "lead-0");

  EXPECT_THAT(Owners(ListAll(Filter())),
              ElementsAre("lead-0=pool:t-pool", "rr-0=r1", "rr-1=r2", "rr-2=r3",
                          "rr-3=r1", "rr-4=r2", "wt-0=w1"));
  v1::ListOwnershipsRequest f = Filter();
  f.set_team("rr-team");
  EXPECT_EQ(ListAll(f).size(), 5u);
  f = Filter();
  f.set_rep("r1");
  EXPECT_THAT(Owners(ListAll(f)), ElementsAre("rr-0=r1", "rr-3=r1"));
  f.set_team("rr-team");  // filters combine
  EXPECT_EQ(ListAll(f).size(), 2u);
  f.set_team("w-team");
  EXPECT_THAT(ListAll(f), IsEmpty());
  f = Filter();
  f.set_state(v1::Ownership::POOLED);
  EXPECT_THAT(Owners(ListAll(f)), ElementsAre("lead-0=pool:t-pool"));
  f = Filter();
  f.set_segment("key_account");
  EXPECT_THAT(Owners(ListAll(f)), ElementsAre("wt-0=w1"));
  f = Filter();
  f.set_team("no-such-team");
  EXPECT_THAT(ListAll(f), IsEmpty());

  // Pages of 3: 3, 3, 1, the last without a token.
  f = Filter();
  f.set_page_size(3);
  std::vector<int> sizes;
  std::vector<std::string> seen;
  for (int page = 0; page < 10; ++page) {
    v1::ListOwnershipsResponse response;
    ASSERT_TRUE(ListOwnerships(f, &response).ok());
    sizes.push_back(response.ownerships_size());
    for (const auto& o : response.ownerships()) seen.push_back(o.customer_id());
    if (response.next_page_token().empty()) break;
    f.set_page_token(response.next_page_token());
  }
  EXPECT_THAT(sizes, ElementsAre(3, 3, 1));
  EXPECT_THAT(seen, ElementsAre("lead-0", "rr-0", "rr-1", "rr-2", "rr-3",
                                "rr-4", "wt-0"));
}

TEST_F(OwnershipApiTest, ListOwnershipEventsGivesTheHistoryAndWhoOwnedWhen) {
  const absl::Time t1 = testing::T0() + absl::Minutes(1);
  const absl::Time t2 = testing::T0() + absl::Minutes(2);
  const absl::Time t3 = testing::T0() + absl::Minutes(3);
  clock_.Advance(absl::Minutes(1));
  MustAssign(MakeCustomer("c1", "rr"), "assign");  // r1; service s1
  clock_.Advance(absl::Minutes(1));
  v1::Ownership o;
  ASSERT_TRUE(Transfer(TransferTo("c1", "r3", "", "to-r3"), &o).ok());
  clock_.Advance(absl::Minutes(1));
  ASSERT_TRUE(Transfer(TransferTo("c1", "", "t-pool", "to-pool"), &o).ok());

  std::vector<v1::OwnershipEvent> history = History("c1");
  std::vector<std::string> summary;
  int64_t last = 0;
  for (const v1::OwnershipEvent& e : history) {
    EXPECT_GT(e.sequence(), last);
    last = e.sequence();
    summary.push_back(absl::StrCat(
        e.department(), ":", v1::OwnershipEvent::Cause_Name(e.cause()), ":",
        OwnerOf(e.after()), "@", e.event_time().seconds()));
  }
  const int64_t s1 = absl::ToUnixSeconds(t1);
  EXPECT_THAT(summary, ElementsAre(absl::StrCat("sales:RULE:r1@", s1),
                                   absl::StrCat("service:RULE:s1@", s1),
                                   absl::StrCat("sales:TRANSFER:r3@", s1 + 60),
                                   absl::StrCat("sales:TRANSFER:pool:t-pool@",
                                                s1 + 120)));
  EXPECT_EQ(history[2].reason(), "territory change");
  EXPECT_EQ(history[2].actor(), "local-dev");
  EXPECT_EQ(history[2].request_id(), "to-r3");
  EXPECT_EQ(history[2].before().rep(), "r1");

  // Only sales, paged by 2.
  v1::ListOwnershipEventsRequest request;
  request.set_customer_id("c1");
  request.set_department("sales");
  request.set_page_size(2);
  v1::ListOwnershipEventsResponse page;
  ASSERT_TRUE(ListEvents(request, &page).ok());
  EXPECT_EQ(page.events_size(), 2);
  ASSERT_FALSE(page.next_page_token().empty());
  request.set_page_token(page.next_page_token());
  ASSERT_TRUE(ListEvents(request, &page).ok());
  ASSERT_EQ(page.events_size(), 1);
  EXPECT_EQ(page.events(0).after().pool(), "t-pool");
  EXPECT_TRUE(page.next_page_token().empty());

  // as_of: who owned it then, per department.
  auto owners_at = [&](absl::Time t) {
    v1::ListOwnershipEventsRequest r;
    r.set_customer_id("c1");
    *r.mutable_as_of() = At(t);
    v1::ListOwnershipEventsResponse response;
    grpc::Status status = ListEvents(r, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<std::string> out;
    for (const auto& e : response.events()) {
      out.push_back(absl::StrCat(e.department(), "=", OwnerOf(e.after())));
    }
    return out;
  };
  EXPECT_THAT(owners_at(t1 - absl::Seconds(1)), IsEmpty());
  EXPECT_THAT(owners_at(t1), ElementsAre("sales=r1", "service=s1"));
  EXPECT_THAT(owners_at(t1 + absl::Seconds(30)),
              ElementsAre("sales=r1", "service=s1"));
  EXPECT_THAT(owners_at(t2), ElementsAre("service=s1", "sales=r3"));
  EXPECT_THAT(owners_at(t3 + absl::Hours(1)),
              ElementsAre("service=s1", "sales=pool:t-pool"));
}

TEST_F(OwnershipApiTest, TransferMovesTheOwnerAndARetryGetsTheFirstAnswer) {
  MustAssign(MakeCustomer("c1", "rr"), "assign");  // r1
  v1::Ownership to_rep;
  ASSERT_TRUE(Transfer(TransferTo("c1", "w2", "", "t1"), &to_rep).ok());
  EXPECT_EQ(to_rep.state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(to_rep.rep(), "w2");
  EXPECT_EQ(to_rep.team(), "w-team");
  EXPECT_EQ(to_rep.rule_id(), "");
  EXPECT_EQ(to_rep.ruleset_version(), 0);

  const std::string before = OwnershipState();
  v1::Ownership retry;
  ASSERT_TRUE(Transfer(TransferTo("c1", "w2", "", "t1"), &retry).ok());
  EXPECT_EQ(retry.SerializeAsString(), to_rep.SerializeAsString());
  EXPECT_EQ(OwnershipState(), before);

  v1::Ownership to_pool;
  ASSERT_TRUE(Transfer(TransferTo("c1", "", "t-pool", "t2"), &to_pool).ok());
  EXPECT_EQ(to_pool.state(), v1::Ownership::POOLED);
  EXPECT_EQ(to_pool.pool(), "t-pool");
  EXPECT_EQ(to_pool.rep(), "");
  std::vector<v1::OwnershipEvent> history = History("c1");
  ASSERT_EQ(history.size(), 4u);  // sales and service assigned, 2 transfers
  EXPECT_EQ(history.back().cause(), v1::OwnershipEvent::TRANSFER);

  // Refusals, writing nothing: an away rep, an unknown rep, a customer
  // never assigned.
  const std::string before_refusals = OwnershipState();
  v1::Ownership refused;
  EXPECT_EQ(
      Transfer(TransferTo("c1", "away1", "", "t3"), &refused).error_code(),
      grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(
      Transfer(TransferTo("c1", "nobody", "", "t4"), &refused).error_code(),
      grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(
      Transfer(TransferTo("nobody", "r2", "", "t5"), &refused).error_code(),
      grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(OwnershipState(), before_refusals);
}

TEST_F(OwnershipApiTest, ApproveMakesAPendingOwnershipActive) {
  MustAssign(MakeCustomer("vip", "vip"), "assign");  // a1, pending
  v1::ApproveRequest approve;
  approve.set_customer_id("vip");
  approve.set_department("sales");
  approve.set_reason("good fit");
  approve.set_request_id("approve-1");
  v1::Ownership approved;
  ASSERT_TRUE(Approve(approve, &approved).ok());
  EXPECT_EQ(approved.state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(approved.rep(), "a1");
  std::vector<v1::OwnershipEvent> history = History("vip");
  ASSERT_FALSE(history.empty());
  EXPECT_EQ(history.back().cause(), v1::OwnershipEvent::APPROVAL);
  EXPECT_EQ(history.back().reason(), "good fit");

  // Not pending any more.
  approve.set_request_id("approve-2");
  grpc::Status status = Approve(approve, &approved);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // Never assigned in that department.
  approve.set_customer_id("nobody");
  approve.set_request_id("approve-3");
  EXPECT_EQ(Approve(approve, &approved).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(OwnershipApiTest, RejectGivesTheNextCandidate) {
  MustAssign(MakeCustomer("vip", "vip"), "assign");  // a1, pending
  v1::RejectRequest reject;
  reject.set_customer_id("vip");
  reject.set_department("sales");
  reject.set_reason("conflict of interest");
  reject.set_request_id("reject-1");
  v1::Ownership next;
  ASSERT_TRUE(Reject(reject, &next).ok());
  EXPECT_EQ(next.rep(), "a2");
  EXPECT_EQ(next.state(), v1::Ownership::PENDING_APPROVAL);
  std::vector<v1::OwnershipEvent> history = History("vip");
  ASSERT_FALSE(history.empty());
  EXPECT_EQ(history.back().cause(), v1::OwnershipEvent::REJECTION);
  EXPECT_EQ(history.back().before().rep(), "a1");

  // A retry gets the first answer.
  v1::Ownership retry;
  ASSERT_TRUE(Reject(reject, &retry).ok());
  EXPECT_EQ(retry.SerializeAsString(), next.SerializeAsString());
  EXPECT_EQ(History("vip").size(), history.size());
}

// Bad input on every field of every OwnershipService request:
// INVALID_ARGUMENT naming the field in the message and in the BadRequest,
// and nothing written.
TEST_F(OwnershipApiTest, BadInputOnEveryFieldIsInvalidArgumentNamingIt) {
  MustAssign(MakeCustomer("vip", "vip"), "setup");  // pending: approvable
  const std::string before = OwnershipState();

  struct Case {
    std::string field;
    std::function<grpc::Status()> call;
  };
  auto get = [&](std::function<void(v1::GetOwnershipRequest*)> edit) {
    return [this, edit] {
      v1::GetOwnershipRequest r;
      r.set_customer_id("vip");
      r.set_department("sales");
      edit(&r);
      v1::Ownership out;
      return GetOwnership(r, &out);
    };
  };
  auto list = [&](std::function<void(v1::ListOwnershipsRequest*)> edit) {
    return [this, edit] {
      v1::ListOwnershipsRequest r = Filter();
      edit(&r);
      v1::ListOwnershipsResponse out;
      return ListOwnerships(r, &out);
    };
  };
  auto events = [&](std::function<void(v1::ListOwnershipEventsRequest*)> edit) {
    return [this, edit] {
      v1::ListOwnershipEventsRequest r;
      r.set_customer_id("vip");
      edit(&r);
      v1::ListOwnershipEventsResponse out;
      return ListEvents(r, &out);
    };
  };
  auto transfer = [&](std::function<void(v1::TransferRequest*)> edit) {
    return [this, edit] {
      v1::TransferRequest r = TransferTo("vip", "a2", "", "bad-transfer");
      edit(&r);
      v1::Ownership out;
      return Transfer(r, &out);
    };
  };
  auto approve = [&](std::function<void(v1::ApproveRequest*)> edit) {
    return [this, edit] {
      v1::ApproveRequest r;
      r.set_customer_id("vip");
      r.set_department("sales");
      r.set_request_id("bad-approve");
      edit(&r);
      v1::Ownership out;
      return Approve(r, &out);
    };
  };
  auto reject = [&](std::function<void(v1::RejectRequest*)> edit) {
    return [this, edit] {
      v1::RejectRequest r;
      r.set_customer_id("vip");
      r.set_department("sales");
      r.set_reason("no");
      r.set_request_id("bad-reject");
      edit(&r);
      v1::Ownership out;
      return Reject(r, &out);
    };
  };
  const std::string too_long(1025, 'x');
  std::vector<Case> cases = {
      {"customer_id", get([](auto* r) { r->clear_customer_id(); })},
      {"customer_id", get([](auto* r) { r->set_customer_id("bad id!"); })},
      {"department", get([](auto* r) { r->clear_department(); })},
      {"department", get([](auto* r) { r->set_department("Sales!"); })},
      {"department", list([](auto* r) { r->clear_department(); })},
      {"department", list([](auto* r) { r->set_department("Sales!"); })},
      {"team", list([](auto* r) { r->set_team("Team!"); })},
      {"rep", list([](auto* r) { r->set_rep("Rep!"); })},
      {"state", list([](auto* r) {
         r->set_state(static_cast<v1::Ownership::State>(99));
       })},
      {"segment", list([](auto* r) { r->set_segment("Seg ment"); })},
      {"page_size", list([](auto* r) { r->set_page_size(-1); })},
      {"page_token", list([](auto* r) { r->set_page_token("garbage"); })},
      {"customer_id", events([](auto* r) { r->clear_customer_id(); })},
      {"customer_id", events([](auto* r) { r->set_customer_id("bad id!"); })},
      {"department", events([](auto* r) { r->set_department("Sales!"); })},
      {"as_of", events([](auto* r) { r->mutable_as_of()->set_nanos(-1); })},
      {"page_size", events([](auto* r) { r->set_page_size(-5); })},
      {"page_token", events([](auto* r) { r->set_page_token("garbage"); })},
      {"customer_id", transfer([](auto* r) { r->clear_customer_id(); })},
      {"department", transfer([](auto* r) { r->set_department("Sales!"); })},
      {"rep", transfer([](auto* r) { r->clear_to(); })},
      {"rep", transfer([](auto* r) { r->set_rep("Rep!"); })},
      {"pool", transfer([](auto* r) { r->set_pool("Pool!"); })},
      {"reason", transfer([](auto* r) { r->clear_reason(); })},
      {"reason", transfer([&](auto* r) { r->set_reason(too_long); })},
      {"request_id", transfer([](auto* r) { r->clear_request_id(); })},
      {"customer_id", approve([](auto* r) { r->set_customer_id("bad id!"); })},
      {"department", approve([](auto* r) { r->clear_department(); })},
      {"reason", approve([&](auto* r) { r->set_reason(too_long); })},
      {"request_id", approve([](auto* r) { r->clear_request_id(); })},
      {"customer_id", reject([](auto* r) { r->clear_customer_id(); })},
      {"department", reject([](auto* r) { r->set_department("Sales!"); })},
      {"reason", reject([](auto* r) { r->clear_reason(); })},
      {"request_id", reject([](auto* r) { r->set_request_id("bad id"); })},
  };
  for (const Case& c : cases) {
    grpc::Status status = c.call();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.field << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), StartsWith(c.field + ":")) << c.field;
    std::vector<std::string> fields = BadFields(status);
    ASSERT_FALSE(fields.empty()) << c.field;
    EXPECT_EQ(fields[0], c.field);
  }
  EXPECT_EQ(OwnershipState(), before);
}

}  // namespace
}  // namespace custodian::server
