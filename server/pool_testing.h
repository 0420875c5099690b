// Test helpers of pool_test: PoolTest, a DomainTest with the Assigner, the
// PoolDesk and the RecyclingSweeper over one real RocksDB store and a manual
// clock, a roster with two pools and helpers to claim, release and inspect.
#ifndef CUSTODIAN_SERVER_POOL_TESTING_H_
#define CUSTODIAN_SERVER_POOL_TESTING_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/assigner.h"
#include "server/domain_testing.h"
#include "server/event_sequencer.h"
#include "server/ownership_book.h"
#include "server/pool_desk.h"
#include "server/recycling_sweeper.h"

namespace custodian::server::testing {

// Sales: team t (r1 holds at most 2, r2 at most 10, r3, away1), pools p1
// (3 claims a day, 30 days of cooldown) and p2 (no limits); service: team
// svc and no pool.
constexpr absl::string_view kRoster = R"(departments:
  - {id: sales}
  - {id: service}
reps:
  - {id: r1}
  - {id: r2}
  - {id: r3}
  - {id: r4}
  - {id: r5}
  - {id: r6}
  - {id: away1, status: away}
  - {id: s1}
teams:
  - id: t
    department: sales
    members:
      - {rep: r1, capacity: 2}
      - {rep: r2, capacity: 10}
      - {rep: r3}
      - {rep: r4}
      - {rep: r5}
      - {rep: r6}
      - {rep: away1}
  - id: p1
    department: sales
    pool: {claim_limit_per_day: 3, cooldown: 30d}
  - id: p2
    department: sales
    pool: {}
  - id: svc
    department: service
    members: [{rep: s1}]
)";

// Everyone in CN/East lands in pool p1.
constexpr absl::string_view kRuleset = R"(ruleset: acme
departments:
  sales:
    rules:
      - id: north
        when: {region: {under: CN/North}}
        assign: {team: t}
    fallback: {pool: p1}
)";

inline v1::Customer MakeCustomer(
    absl::string_view id, absl::string_view region = "CN/East/Shanghai") {
  v1::Customer c;
  c.set_id(std::string(id));
  c.set_name(absl::StrCat("Customer ", id));
  c.set_region(std::string(region));
  c.set_industry("C/C39");
  return c;
}

inline v1::ClaimRequest ClaimReq(absl::string_view customer,
                                 absl::string_view rep,
                                 absl::string_view request_id) {
  v1::ClaimRequest r;
  r.set_customer_id(std::string(customer));
  r.set_department("sales");
  r.set_rep(std::string(rep));
  r.set_request_id(std::string(request_id));
  return r;
}

inline v1::ReleaseRequest ReleaseReq(absl::string_view customer,
                                     absl::string_view pool,
                                     absl::string_view request_id) {
  v1::ReleaseRequest r;
  r.set_customer_id(std::string(customer));
  r.set_department("sales");
  r.set_pool(std::string(pool));
  r.set_reason(v1::ReleaseRequest::UNREACHABLE);
  r.set_request_id(std::string(request_id));
  return r;
}

inline google::protobuf::Timestamp Ts(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  ts.set_nanos(static_cast<int32_t>((t - absl::FromUnixSeconds(ts.seconds())) /
                                    absl::Nanoseconds(1)));
  return ts;
}

class PoolTest : public DomainTest {
 protected:
  // The ruleset activated by SetUp.
  virtual absl::string_view RulesetYaml() const { return kRuleset; }

  void SetUp() override {
    OpenAll();
    MustApply(kRoster, "roster-1");
    MustCreate(RulesetYaml(), "ruleset-1");
    MustActivate(1, "activate-1");
  }
  void TearDown() override { CloseAll(); }

  void OpenAll() {
    Open();
    auto sequencer = EventSequencer::Create(store_.get());
    ASSERT_TRUE(sequencer.ok()) << sequencer.status();
    sequencer_ = std::move(*sequencer);
    auto book =
        OwnershipBook::Create({store_.get(), sequencer_.get(), &clock_});
    ASSERT_TRUE(book.ok()) << book.status();
    book_ = std::move(*book);
    allocator_ =
        std::make_unique<TeamAllocator>(StoreCounterLoader(store_.get()));
    PoolDesk::Options desk_options;
    desk_options.store = store_.get();
    desk_options.rulesets = rulesets_.get();
    desk_options.book = book_.get();
    desk_options.allocator = allocator_.get();
    desk_options.clock = &clock_;
    auto desk = PoolDesk::Create(desk_options);
    ASSERT_TRUE(desk.ok()) << desk.status();
    desk_ = std::move(*desk);
    Assigner::Options options;
    options.store = store_.get();
    options.rulesets = rulesets_.get();
    options.book = book_.get();
    options.allocator = allocator_.get();
    options.clock = &clock_;
    options.cooldowns = desk_->CooldownLookup();
    auto assigner = Assigner::Create(options);
    ASSERT_TRUE(assigner.ok()) << assigner.status();
    assigner_ = std::move(*assigner);
    RecyclingSweeper::Options sweeper_options;
    sweeper_options.store = store_.get();
    sweeper_options.rulesets = rulesets_.get();
    sweeper_options.book = book_.get();
    sweeper_options.allocator = allocator_.get();
    sweeper_options.clock = &clock_;
    sweeper_options.batch_size = sweeper_batch_size_;
    auto sweeper = RecyclingSweeper::Create(sweeper_options);
    ASSERT_TRUE(sweeper.ok()) << sweeper.status();
    sweeper_ = std::move(*sweeper);
  }
  void CloseAll() {
    sweeper_.reset();
    assigner_.reset();  // uses desk_'s cooldown lookup
    desk_.reset();
    allocator_.reset();
    book_.reset();
    sequencer_.reset();
    Close();
  }

  // Assigns `id` (it lands in pool p1).
  void Pool(absl::string_view id,
            absl::string_view region = "CN/East/Shanghai") {
    AssignCustomer(MakeCustomer(id, region));
  }

  // Assigns `customer` (Assign under request id "assign-<id>").
  void AssignCustomer(const v1::Customer& customer) {
    absl::string_view id = customer.id();
    v1::AssignRequest r;
    *r.mutable_customer() = customer;
    r.set_request_id(absl::StrCat("assign-", id));
    auto answer = assigner_->Assign(r, "crm");
    ASSERT_TRUE(answer.ok()) << answer.status();
  }

  v1::Ownership MustClaim(absl::string_view customer, absl::string_view rep) {
    auto o = desk_->Claim(ClaimReq(customer, rep,
                                   absl::StrCat("claim-", customer, "-", rep,
                                                "-", ++request_counter_)),
                          rep);
    EXPECT_TRUE(o.ok()) << o.status();
    return o.ok() ? *o : v1::Ownership();
  }

  absl::Status Claim(absl::string_view customer, absl::string_view rep) {
    return desk_
        ->Claim(ClaimReq(customer, rep,
                         absl::StrCat("claim-", customer, "-", rep, "-",
                                      ++request_counter_)),
                rep)
        .status();
  }

  v1::Ownership MustRelease(absl::string_view customer,
                            absl::string_view pool = "p1") {
    auto o = desk_->Release(
        ReleaseReq(customer, pool,
                   absl::StrCat("release-", customer, "-", ++request_counter_)),
        "someone");
    EXPECT_TRUE(o.ok()) << o.status();
    return o.ok() ? *o : v1::Ownership();
  }

  v1::Ownership Get(absl::string_view customer,
                    absl::string_view department = "sales") {
    v1::GetOwnershipRequest r;
    r.set_customer_id(std::string(customer));
    r.set_department(std::string(department));
    auto o = book_->GetOwnership(r);
    EXPECT_TRUE(o.ok()) << o.status();
    return o.ok() ? *o : v1::Ownership();
  }

  std::vector<v1::OwnershipEvent> Events(absl::string_view customer) {
    v1::ListOwnershipEventsRequest r;
    r.set_customer_id(std::string(customer));
    r.set_page_size(1000);
    auto list = book_->ListOwnershipEvents(r);
    EXPECT_TRUE(list.ok()) << list.status();
    if (!list.ok()) return {};
    return {list->events().begin(), list->events().end()};
  }

  int64_t Owned(absl::string_view rep) {
    auto n = book_->ReadCounter(OwnedCounterKeyOf("sales", rep));
    EXPECT_TRUE(n.ok()) << n.status();
    return n.ok() ? *n : -1;
  }

  // Stages (customer, sales) as FROZEN with `rep`, as an appeal would.
  void Freeze(absl::string_view customer, absl::string_view rep) {
    PendingEvents pending;
    absl::Status s = storage::RunInTransaction(
        *store_, [&](storage::Transaction& txn) -> absl::Status {
          ChangeSpec spec;
          spec.after.set_customer_id(std::string(customer));
          spec.after.set_department("sales");
          spec.after.set_state(v1::Ownership::FROZEN);
          spec.after.set_rep(std::string(rep));
          spec.cause = v1::OwnershipEvent::APPEAL_RULING;
          spec.actor = "test";
          absl::StatusOr<PendingEvents> p = book_->Stage(txn, spec);
          if (!p.ok()) return p.status();
          pending = std::move(*p);
          return absl::OkStatus();
        });
    ASSERT_TRUE(s.ok()) << s;
    pending.Committed();
  }

  std::unique_ptr<EventSequencer> sequencer_;
  std::unique_ptr<OwnershipBook> book_;
  std::unique_ptr<TeamAllocator> allocator_;
  std::unique_ptr<Assigner> assigner_;
  std::unique_ptr<PoolDesk> desk_;
  std::unique_ptr<RecyclingSweeper> sweeper_;
  int sweeper_batch_size_ = 500;
  int request_counter_ = 0;
};

}  // namespace custodian::server::testing

#endif  // CUSTODIAN_SERVER_POOL_TESTING_H_
