#include "server/assigner.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/domain_testing.h"
#include "server/event_sequencer.h"
#include "server/ownership_book.h"
#include "server/request_checks.h"
#include "server/roster_registry.h"

namespace custodian::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::string_view kRoster = R"(departments:
  - {id: sales}
  - {id: service}
reps:
  - {id: r1}
  - {id: r2}
  - {id: r3}
  - {id: w1}
  - {id: w2}
  - {id: w3}
  - {id: k1}
  - {id: k2}
  - {id: a1}
  - {id: a2}
  - {id: away1, status: away}
  - {id: s1}
teams:
  - id: rr-team
    department: sales
    members: [{rep: r1}, {rep: r2}, {rep: r3}]
  - id: w-team
    department: sales
    members: [{rep: w1, weight: 3}, {rep: w2}, {rep: w3}]
  - id: cap-team
    department: sales
    members: [{rep: k1, capacity: 5}, {rep: k2, capacity: 3}, {rep: away1}]
  - id: ka
    department: sales
    members: [{rep: a1}, {rep: a2}]
  - id: sales-pool
    department: sales
    pool: {}
  - id: svc
    department: service
    members: [{rep: s1}]
)";

constexpr absl::string_view kRuleset = R"(ruleset: assigner-test
departments:
  sales:
    rules:
      - id: rr
        when: {customer_type: rr}
        assign: {team: rr-team}
      - id: wt
        when: {customer_type: wt}
        assign: {team: w-team, strategy: weighted}
      - id: cap
        when: {customer_type: cap}
        assign: {team: cap-team, strategy: least_loaded}
        overflow: {pool: sales-pool}
      - id: vip
        when: {customer_type: vip}
        assign: {team: ka, requires_approval: true}
      - id: lead
        when: {customer_type: lead}
        assign: {pool: sales-pool}
    fallback: {pool: sales-pool}
  service:
    rules:
      - id: svc
        when: {region: {under: CN}}
        assign: {team: svc}
policies:
  capacity: {default_max_customers: 1000}
)";

v1::Customer MakeCustomer(absl::string_view id, absl::string_view type,
                          absl::string_view region = "") {
  v1::Customer c;
  c.set_id(std::string(id));
  c.set_customer_type(std::string(type));
  if (!region.empty()) c.set_region(std::string(region));
  return c;
}

// The issue's name of a skip reason.
std::string ReasonName(v1::SkippedCandidate::Reason reason) {
  return v1::SkippedCandidate::Reason_Name(reason);
}

v1::AssignRequest AssignReq(const v1::Customer& customer,
                            absl::string_view request_id) {
  v1::AssignRequest r;
  *r.mutable_customer() = customer;
  r.set_request_id(std::string(request_id));
  return r;
}

// A Store that forwards to another and fails the next `fail_commits`
// commits with `failure` (the transaction is rolled back: nothing written),
// as LevelDB's fault-injection tests do with an EnvWrapper.
class FaultyStore : public storage::Store {
 public:
  // `savepoints`: whether its transactions forward savepoints (false: the
  // Store default, UNIMPLEMENTED).
  explicit FaultyStore(storage::Store* base, bool savepoints = true)
      : base_(base), savepoints_(savepoints) {}

  void FailCommits(int n, absl::Status failure) {
    absl::MutexLock lock(&mu_);
    fail_commits_ = n;
    failure_ = std::move(failure);
  }
  int failed() {
    absl::MutexLock lock(&mu_);
    return failed_;
  }

  absl::StatusOr<std::unique_ptr<storage::Transaction>> Begin(
      const storage::TxnOptions& options) override {
    auto txn = base_->Begin(options);
    if (!txn.ok()) return txn.status();
    return std::unique_ptr<storage::Transaction>(
        new Txn(this, std::move(*txn)));
  }
  absl::StatusOr<std::unique_ptr<storage::Snapshot>> NewSnapshot() override {
    return base_->NewSnapshot();
  }
  absl::Status Flush() override { return base_->Flush(); }
  absl::Status Close() override { return absl::OkStatus(); }

 private:
  class Txn : public storage::Transaction {
   public:
    Txn(FaultyStore* store, std::unique_ptr<storage::Transaction> base)
        : store_(store), base_(std::move(base)) {}
    absl::Status Get(storage::Table t, absl::string_view k,
                     std::string* v) override {
      return base_->Get(t, k, v);
    }
    absl::Status GetForUpdate(storage::Table t, absl::string_view k,
                              std::string* v) override {
      return base_->GetForUpdate(t, k, v);
    }
    absl::Status Put(storage::Table t, absl::string_view k,
                     absl::string_view v) override {
      return base_->Put(t, k, v);
    }
    absl::Status Delete(storage::Table t, absl::string_view k) override {
      return base_->Delete(t, k);
    }
    absl::Status AddToCounter(absl::string_view k, int64_t d) override {
      return base_->AddToCounter(k, d);
    }
    absl::StatusOr<int64_t> GetCounter(absl::string_view k) override {
      return base_->GetCounter(k);
    }
    std::unique_ptr<storage::ScanIterator> Scan(
        storage::Table t, absl::string_view p,
        const storage::ScanOptions& o) override {
      return base_->Scan(t, p, o);
    }
    absl::Status SetSavePoint() override {
      return store_->savepoints_ ? base_->SetSavePoint()
                                 : storage::Transaction::SetSavePoint();
    }
    absl::Status RollbackToSavePoint() override {
      return store_->savepoints_ ? base_->RollbackToSavePoint()
                                 : storage::Transaction::RollbackToSavePoint();
    }
    absl::Status Commit() override {
      absl::Status failure = store_->TakeFailure();
      if (!failure.ok()) {
        base_->Rollback();
        return failure;
      }
      return base_->Commit();
    }
    void Rollback() override { base_->Rollback(); }

   private:
    FaultyStore* store_;
    std::unique_ptr<storage::Transaction> base_;
  };

  absl::Status TakeFailure() {
    absl::MutexLock lock(&mu_);
    if (fail_commits_ == 0) return absl::OkStatus();
    --fail_commits_;
    ++failed_;
    return failure_;
  }

  storage::Store* base_;
  const bool savepoints_;
  absl::Mutex mu_;
  int fail_commits_ ABSL_GUARDED_BY(mu_) = 0;
  int failed_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
};

class AssignerTest : public testing::DomainTest {
 protected:
  void SetUp() override {
    OpenAll();
    MustApply(kRoster, "roster-1");
    MustCreate(kRuleset, "ruleset-1");
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
    Assigner::Options options;
    options.store = store_.get();
    options.rulesets = rulesets_.get();
    options.book = book_.get();
    options.allocator = allocator_.get();
    options.clock = &clock_;
    auto assigner = Assigner::Create(options);
    ASSERT_TRUE(assigner.ok()) << assigner.status();
    assigner_ = std::move(*assigner);
  }
  void CloseAll() {
    assigner_.reset();
    allocator_.reset();
    book_.reset();
    sequencer_.reset();
    Close();
  }
  void ReopenAll() {
    CloseAll();
    OpenAll();
  }

  // An assigner over `store` (e.g. a FaultyStore wrapping store_) sharing
  // this fixture's registries, book, allocator and clock.
  std::unique_ptr<Assigner> AssignerOver(storage::Store* store) {
    Assigner::Options options;
    options.store = store;
    options.rulesets = rulesets_.get();
    options.book = book_.get();
    options.allocator = allocator_.get();
    options.clock = &clock_;
    auto assigner = Assigner::Create(options);
    EXPECT_TRUE(assigner.ok()) << assigner.status();
    return assigner.ok() ? *std::move(assigner) : nullptr;
  }

  v1::AssignResponse MustAssign(const v1::Customer& customer,
                                absl::string_view request_id) {
    auto r = assigner_->Assign(AssignReq(customer, request_id), "crm");
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : v1::AssignResponse();
  }

  // The sales owner of an answer: the rep, "pool:<id>" or the state.
  static std::string SalesOwner(const v1::AssignResponse& r) {
    if (r.departments_size() == 0) return "(none)";
    const v1::Ownership& o = r.departments(0).ownership();
    if (!o.rep().empty()) return o.rep();
    if (!o.pool().empty()) return absl::StrCat("pool:", o.pool());
    return v1::Ownership::State_Name(o.state());
  }

  std::vector<v1::OwnershipEvent> Events() {
    std::vector<v1::OwnershipEvent> out;
    for (const auto& [key, value] : Dump()) {
      if (key.first != static_cast<int>(storage::Table::kEvents)) continue;
      v1::OwnershipEvent e;
      EXPECT_TRUE(e.ParseFromString(value));
      out.push_back(e);
    }
    return out;
  }

  // Ownerships per rep in `department`, by scanning every ownership record.
  std::map<std::string, int64_t> ScanOwnedByRep(absl::string_view department) {
    std::map<std::string, int64_t> out;
    for (const auto& [key, value] : Dump()) {
      if (key.first != static_cast<int>(storage::Table::kOwnerships)) continue;
      v1::Ownership o;
      EXPECT_TRUE(o.ParseFromString(value));
      if (o.department() == department && !o.rep().empty()) ++out[o.rep()];
    }
    return out;
  }

  int64_t StoredCounter(absl::string_view key) {
    auto v = book_->ReadCounter(key);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : -1;
  }

  // Every rep's stored counter and in-memory load equal the scan.
  // Won customers per rep in `department`: ownership records joined with
  // the customer records' sales stage.
  std::map<std::string, int64_t> ScanWonByRep(absl::string_view department) {
    std::set<std::string> won_customers;
    for (const auto& [key, value] : Dump()) {
      if (key.first != static_cast<int>(storage::Table::kCustomers)) continue;
      storage::v1::CustomerRecord c;
      EXPECT_TRUE(c.ParseFromString(value));
      if (c.customer().sales_stage() == "won") {
        won_customers.insert(c.customer().id());
      }
    }
    std::map<std::string, int64_t> out;
    for (const auto& [key, value] : Dump()) {
      if (key.first != static_cast<int>(storage::Table::kOwnerships)) continue;
      v1::Ownership o;
      EXPECT_TRUE(o.ParseFromString(value));
      if (o.department() == department && !o.rep().empty() &&
          won_customers.count(o.customer_id()) != 0) {
        ++out[o.rep()];
      }
    }
    return out;
  }

  // Every rep's stored owned and won counters and in-memory load equal the
  // scans.
  void ExpectCountersMatchScan(absl::string_view department,
                               const std::vector<std::string>& reps) {
    std::map<std::string, int64_t> scanned = ScanOwnedByRep(department);
    std::map<std::string, int64_t> won = ScanWonByRep(department);
    for (const std::string& rep : reps) {
      const int64_t n = scanned.count(rep) ? scanned[rep] : 0;
      const int64_t w = won.count(rep) ? won[rep] : 0;
      EXPECT_EQ(StoredCounter(TeamAllocator::OwnedCounterKey(department, rep)),
                n)
          << rep;
      EXPECT_EQ(StoredCounter(TeamAllocator::WonCounterKey(department, rep)), w)
          << rep;
      auto load = allocator_->GetLoad(department, rep);
      if (load.has_value()) {
        EXPECT_EQ(load->owned, n) << rep;
        EXPECT_EQ(load->won, w) << rep;
        EXPECT_EQ(load->reserved, 0) << rep;
      }
    }
  }

  // Assigns `n` customers of `type` from `threads` threads at once.
  std::vector<v1::AssignResponse> AssignConcurrently(absl::string_view type,
                                                     int n, int threads) {
    std::vector<v1::AssignResponse> answers(n);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (int i = t; i < n; i += threads) {
          auto r = assigner_->Assign(
              AssignReq(MakeCustomer(absl::StrCat(type, "-", i), type),
                        absl::StrCat("req-", type, "-", i)),
              "crm");
          EXPECT_TRUE(r.ok()) << r.status();
          if (r.ok()) answers[i] = *r;
        }
      });
    }
    for (std::thread& th : pool) th.join();
    return answers;
  }

  std::unique_ptr<EventSequencer> sequencer_;
  std::unique_ptr<OwnershipBook> book_;
  std::unique_ptr<TeamAllocator> allocator_;
  std::unique_ptr<Assigner> assigner_;
};

// ---------------------------------------------------------------------------
// Assign

TEST_F(AssignerTest, AssignStoresCustomerOwnersEventsAndCounters) {
  v1::AssignResponse r = MustAssign(MakeCustomer("c1", "rr", "CN/East"), "a1");
  EXPECT_EQ(r.customer_id(), "c1");
  EXPECT_EQ(r.ruleset_version(), 1);
  ASSERT_EQ(r.departments_size(), 2);
  const v1::Ownership& sales = r.departments(0).ownership();
  EXPECT_TRUE(r.departments(0).changed());
  EXPECT_EQ(sales.department(), "sales");
  EXPECT_EQ(sales.state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(sales.rep(), "r1");
  EXPECT_EQ(sales.team(), "rr-team");
  EXPECT_EQ(sales.rule_id(), "rr");
  EXPECT_EQ(sales.ruleset_version(), 1);
  EXPECT_EQ(sales.since().seconds(), absl::ToUnixSeconds(testing::T0()));
  EXPECT_GT(sales.last_event_sequence(), 0);
  EXPECT_EQ(sales.explanation().strategy(), "round_robin");
  const v1::Ownership& service = r.departments(1).ownership();
  EXPECT_EQ(service.rep(), "s1");
  EXPECT_EQ(service.rule_id(), "svc");

  std::vector<v1::OwnershipEvent> events = Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].cause(), v1::OwnershipEvent::RULE);
  EXPECT_EQ(events[0].actor(), "crm");
  EXPECT_EQ(events[0].request_id(), "a1");
  EXPECT_FALSE(events[0].has_before());
  EXPECT_EQ(events[0].after().SerializeAsString(), sales.SerializeAsString());

  v1::GetOwnershipRequest get;
  get.set_customer_id("c1");
  get.set_department("sales");
  auto stored = book_->GetOwnership(get);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->SerializeAsString(), sales.SerializeAsString());

  v1::GetCustomerRequest gc;
  gc.set_customer_id("c1");
  auto customer = assigner_->GetCustomer(gc);
  ASSERT_TRUE(customer.ok()) << customer.status();
  EXPECT_EQ(customer->region(), "CN/East");
  EXPECT_EQ(StoredCounter(TeamAllocator::OwnedCounterKey("sales", "r1")), 1);
  EXPECT_EQ(StoredCounter(TeamAllocator::CursorCounterKey("rr-team")), 1);
}

TEST_F(AssignerTest, ReassigningAKnownCustomerKeepsItsOwnerAndWritesNoEvent) {
  MustAssign(MakeCustomer("c1", "rr"), "a1");
  v1::AssignResponse again = MustAssign(MakeCustomer("c1", "rr"), "a2");
  EXPECT_FALSE(again.departments(0).changed());
  EXPECT_FALSE(again.departments(1).changed());
  EXPECT_EQ(SalesOwner(again), "r1");
  EXPECT_EQ(Events().size(), 2u);
  // The next customer goes on with the round robin.
  EXPECT_EQ(SalesOwner(MustAssign(MakeCustomer("c2", "rr"), "a3")), "r2");
}

TEST_F(AssignerTest, NoActiveRulesetIsFailedPrecondition) {
  CloseAll();
  std::filesystem::remove_all(dir_.path());
  std::filesystem::create_directories(dir_.path());
  OpenAll();
  auto r = assigner_->Assign(AssignReq(MakeCustomer("c1", "rr"), "a1"), "crm");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  v1::EvaluateRequest e;
  *e.mutable_customer() = MakeCustomer("c1", "rr");
  EXPECT_EQ(assigner_->Evaluate(e).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(AssignerTest, ConcurrentAssignsOfOneNewCustomerGiveOneOwner) {
  constexpr int kCalls = 64;
  std::vector<absl::StatusOr<v1::AssignResponse>> answers(
      kCalls, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      answers[i] =
          assigner_->Assign(AssignReq(MakeCustomer("hot", "rr", "CN/East"),
                                      absl::StrCat("hot-", i)),
                            "crm");
    });
  }
  for (std::thread& t : threads) t.join();
  int changed_sales = 0;
  int changed_service = 0;
  for (const auto& a : answers) {
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(SalesOwner(*a), "r1");
    EXPECT_EQ(a->departments(1).ownership().rep(), "s1");
    changed_sales += a->departments(0).changed();
    changed_service += a->departments(1).changed();
  }
  EXPECT_EQ(changed_sales, 1);
  EXPECT_EQ(changed_service, 1);
  std::vector<v1::OwnershipEvent> events = Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_FALSE(events[0].has_before());
  EXPECT_FALSE(events[1].has_before());
  ExpectCountersMatchScan("sales", {"r1", "r2", "r3"});
  EXPECT_EQ(StoredCounter(TeamAllocator::OwnedCounterKey("sales", "r1")), 1);
  // The cursor moved once.
  EXPECT_EQ(SalesOwner(MustAssign(MakeCustomer("next", "rr"), "n1")), "r2");
}

TEST_F(AssignerTest, RoundRobinStaysEvenUnderConcurrentLoad) {
  std::vector<v1::AssignResponse> answers = AssignConcurrently("rr", 91, 8);
  std::map<std::string, int> picks;
  for (const auto& a : answers) ++picks[SalesOwner(a)];
  ASSERT_EQ(picks.size(), 3u);
  for (const auto& [rep, n] : picks) {
    EXPECT_GE(n, 30) << rep;
    EXPECT_LE(n, 31) << rep;
  }
  ExpectCountersMatchScan("sales", {"r1", "r2", "r3"});
}

TEST_F(AssignerTest, WeightedStaysWithinOneOfItsWeightsUnderConcurrentLoad) {
  std::vector<v1::AssignResponse> answers = AssignConcurrently("wt", 100, 8);
  std::map<std::string, int> picks;
  for (const auto& a : answers) ++picks[SalesOwner(a)];
  EXPECT_NEAR(picks["w1"], 60, 1);
  EXPECT_NEAR(picks["w2"], 20, 1);
  EXPECT_NEAR(picks["w3"], 20, 1);
  EXPECT_EQ(picks["w1"] + picks["w2"] + picks["w3"], 100);
  ExpectCountersMatchScan("sales", {"w1", "w2", "w3"});
}

TEST_F(AssignerTest, CapacityIsNeverExceededUnderConcurrentLoad) {
  std::vector<v1::AssignResponse> answers = AssignConcurrently("cap", 20, 8);
  std::map<std::string, int> picks;
  for (const auto& a : answers) ++picks[SalesOwner(a)];
  EXPECT_EQ(picks["k1"], 5);
  EXPECT_EQ(picks["k2"], 3);
  EXPECT_EQ(picks["pool:sales-pool"], 12);
  for (const auto& a : answers) {
    const v1::Ownership& o = a.departments(0).ownership();
    if (o.state() != v1::Ownership::POOLED) continue;
    EXPECT_EQ(o.explanation().target_used(), "overflow");
    std::vector<std::string> skipped;
    for (const auto& s : o.explanation().skipped()) {
      skipped.push_back(absl::StrCat(s.rep(), ":", ReasonName(s.reason())));
    }
    EXPECT_THAT(skipped,
                ElementsAre("k1:AT_CAPACITY", "k2:AT_CAPACITY", "away1:AWAY"));
  }
  ExpectCountersMatchScan("sales", {"k1", "k2", "away1"});
}

TEST_F(AssignerTest, WonCustomersDoNotCountTowardCapacityByDefault) {
  // cap-team: k1 capacity 5, k2 capacity 3, away1 away; overflow to the pool.
  auto assign = [&](absl::string_view id, absl::string_view stage) {
    v1::Customer c = MakeCustomer(id, "cap");
    c.set_sales_stage(std::string(stage));
    return SalesOwner(MustAssign(c, absl::StrCat("a-", id)));
  };
  // Ten won customers fit although the team's capacity is 8.
  std::map<std::string, int> picks;
  for (int i = 0; i < 10; ++i) ++picks[assign(absl::StrCat("w", i), "won")];
  EXPECT_EQ(picks["k1"], 5);
  EXPECT_EQ(picks["k2"], 5);
  ExpectCountersMatchScan("sales", {"k1", "k2", "away1"});
  // Not won: least loaded compares everything owned (5 and 5: k1 first);
  // neither rep has used any capacity yet.
  EXPECT_EQ(assign("p0", "proposal"), "k1");
  ExpectCountersMatchScan("sales", {"k1", "k2", "away1"});

  // After a restart the won counts are read back from the store.
  ReopenAll();
  EXPECT_EQ(assign("p1", "proposal"), "k2");
  EXPECT_EQ(assign("p2", "proposal"), "k1");
  ExpectCountersMatchScan("sales", {"k1", "k2", "away1"});

  // The won customers stop being won: they count now, so k1 (7 of 5) and k2
  // (6 of 3) are over capacity (the customers changed; no assignment
  // exceeded it), and the won counters follow the stage.
  for (int i = 0; i < 10; ++i) {
    v1::Customer c = MakeCustomer(absl::StrCat("w", i), "cap");
    c.set_sales_stage("negotiation");
    v1::UpdateCustomerRequest update;
    *update.mutable_customer() = c;
    update.set_request_id(absl::StrCat("u-", i));
    ASSERT_TRUE(assigner_->UpdateCustomer(update, "crm").ok());
  }
  ExpectCountersMatchScan("sales", {"k1", "k2", "away1"});
  EXPECT_EQ(allocator_->GetLoad("sales", "k1")->won, 0);
  EXPECT_EQ(allocator_->GetLoad("sales", "k2")->won, 0);
  // Nobody fits: the overflow pool.
  EXPECT_EQ(assign("p3", "proposal"), "pool:sales-pool");
  // Becoming won again gives the units back.
  v1::Customer c = MakeCustomer("w0", "cap");
  c.set_sales_stage("won");
  v1::UpdateCustomerRequest update;
  *update.mutable_customer() = c;
  update.set_request_id("u-won");
  ASSERT_TRUE(assigner_->UpdateCustomer(update, "crm").ok());
  ExpectCountersMatchScan("sales", {"k1", "k2", "away1"});
}

TEST_F(AssignerTest, WonCustomersCountWhenCountWonIsTrue) {
  std::string ruleset(kRuleset);
  ruleset.replace(ruleset.find("default_max_customers: 1000"),
                  std::string("default_max_customers: 1000").size(),
                  "default_max_customers: 1000, count_won: true");
  MustCreate(ruleset, "ruleset-2");
  MustActivate(2, "activate-2");
  std::map<std::string, int> picks;
  for (int i = 0; i < 10; ++i) {
    v1::Customer c = MakeCustomer(absl::StrCat("w", i), "cap");
    c.set_sales_stage("won");
    ++picks[SalesOwner(MustAssign(c, absl::StrCat("a-", i)))];
  }
  EXPECT_EQ(picks["k1"], 5);
  EXPECT_EQ(picks["k2"], 3);
  EXPECT_EQ(picks["pool:sales-pool"], 2);
  ExpectCountersMatchScan("sales", {"k1", "k2", "away1"});
}

TEST_F(AssignerTest, IdempotentRetryReturnsTheFirstAnswerAndWritesNothing) {
  v1::AssignResponse first = MustAssign(MakeCustomer("c1", "rr"), "same");
  auto before = Dump();
  v1::AssignResponse retry = MustAssign(MakeCustomer("c1", "rr"), "same");
  EXPECT_EQ(SerializeDeterministic(retry), SerializeDeterministic(first));
  EXPECT_EQ(Dump(), before);
  // The same id for another request is refused, naming request_id.
  auto reused =
      assigner_->Assign(AssignReq(MakeCustomer("c2", "rr"), "same"), "crm");
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(reused.status().message()), StartsWith("request_id"));
  EXPECT_EQ(Dump(), before);
}

TEST_F(AssignerTest, EvaluateEqualsAssignWritesNothingAndKeepsTheCursor) {
  MustAssign(MakeCustomer("c1", "rr"), "a1");  // r1
  auto before = Dump();
  v1::EvaluateRequest e;
  *e.mutable_customer() = MakeCustomer("c2", "rr", "CN/North");
  auto eval1 = assigner_->Evaluate(e);
  ASSERT_TRUE(eval1.ok()) << eval1.status();
  auto eval2 = assigner_->Evaluate(e);
  ASSERT_TRUE(eval2.ok()) << eval2.status();
  EXPECT_EQ(Dump(), before);
  EXPECT_EQ(SalesOwner(*eval1), "r2");
  EXPECT_EQ(SerializeDeterministic(*eval1), SerializeDeterministic(*eval2));
  auto load = allocator_->GetLoad("sales", "r2");
  ASSERT_TRUE(load.has_value());
  EXPECT_EQ(load->reserved, 0);

  v1::AssignResponse assigned =
      MustAssign(MakeCustomer("c2", "rr", "CN/North"), "a2");
  for (v1::DepartmentAssignment& d : *assigned.mutable_departments()) {
    EXPECT_GT(d.ownership().last_event_sequence(), 0);
    d.mutable_ownership()->set_last_event_sequence(0);
  }
  EXPECT_EQ(SerializeDeterministic(assigned), SerializeDeterministic(*eval1));

  // Evaluating a known customer: kept, unchanged, as Assign would say.
  auto known = assigner_->Evaluate(e);
  ASSERT_TRUE(known.ok());
  EXPECT_FALSE(known->departments(0).changed());
  EXPECT_EQ(SalesOwner(*known), "r2");
}

TEST_F(AssignerTest, BadInputOnEveryFieldIsInvalidArgumentAndWritesNothing) {
  MustAssign(MakeCustomer("known", "vip"), "setup");
  auto before = Dump();
  auto expect_bad = [&](const absl::Status& s, absl::string_view field) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << field << s;
    EXPECT_THAT(std::string(s.message()), StartsWith(absl::StrCat(field, ":")))
        << s;
    auto details = GetBadRequest(s);
    ASSERT_TRUE(details.has_value()) << s;
    EXPECT_EQ(details->field_violations(0).field(), field);
  };

  v1::AssignRequest no_customer;
  no_customer.set_request_id("r");
  expect_bad(assigner_->Assign(no_customer, "crm").status(), "customer");
  v1::Customer c = MakeCustomer("bad id!", "rr");
  expect_bad(assigner_->Assign(AssignReq(c, "r"), "crm").status(),
             "customer.id");
  c = MakeCustomer("c1", "rr", "CN//East");
  expect_bad(assigner_->Assign(AssignReq(c, "r"), "crm").status(),
             "customer.region");
  c = MakeCustomer("c1", "Not A Token");
  expect_bad(assigner_->Assign(AssignReq(c, "r"), "crm").status(),
             "customer.customer_type");
  c = MakeCustomer("c1", "rr");
  c.set_annual_revenue(-1);
  expect_bad(assigner_->Assign(AssignReq(c, "r"), "crm").status(),
             "customer.annual_revenue");
  c = MakeCustomer("c1", "rr");
  c.add_tags("x");
  c.add_tags("x");
  expect_bad(assigner_->Assign(AssignReq(c, "r"), "crm").status(),
             "customer.tags[1]");
  expect_bad(assigner_->Assign(AssignReq(MakeCustomer("c1", "rr"), ""), "crm")
                 .status(),
             "request_id");
  expect_bad(
      assigner_->Assign(AssignReq(MakeCustomer("c1", "rr"), "has space"), "crm")
          .status(),
      "request_id");
  expect_bad(
      assigner_->Assign(AssignReq(MakeCustomer("c1", "rr"), "r"), "").status(),
      "actor");

  v1::UpdateCustomerRequest update;
  *update.mutable_customer() = MakeCustomer("known", "vip", "CN/");
  update.set_request_id("u");
  expect_bad(assigner_->UpdateCustomer(update, "crm").status(),
             "customer.region");
  v1::EvaluateRequest eval;
  *eval.mutable_customer() = MakeCustomer("c1", "rr", "/CN");
  expect_bad(assigner_->Evaluate(eval).status(), "customer.region");
  expect_bad(assigner_->GetCustomer(v1::GetCustomerRequest()).status(),
             "customer_id");

  v1::BatchAssignRequest empty_batch;
  expect_bad(assigner_->BatchAssign(empty_batch, "crm").status(), "requests");
  v1::BatchAssignRequest big_batch;
  for (int i = 0; i < kMaxBatchAssign + 1; ++i) {
    *big_batch.add_requests() =
        AssignReq(MakeCustomer(absl::StrCat("b", i), "rr"), absl::StrCat(i));
  }
  expect_bad(assigner_->BatchAssign(big_batch, "crm").status(), "requests");

  auto transfer = [] {
    v1::TransferRequest t;
    t.set_customer_id("known");
    t.set_department("sales");
    t.set_rep("r1");
    t.set_reason("moving");
    t.set_request_id("t");
    return t;
  };
  v1::TransferRequest t = transfer();
  t.set_customer_id("");
  expect_bad(assigner_->Transfer(t, "boss").status(), "customer_id");
  t = transfer();
  t.set_department("Sales!");
  expect_bad(assigner_->Transfer(t, "boss").status(), "department");
  t = transfer();
  t.set_rep("bad rep");
  expect_bad(assigner_->Transfer(t, "boss").status(), "rep");
  t = transfer();
  t.clear_rep();
  expect_bad(assigner_->Transfer(t, "boss").status(), "rep");
  t = transfer();
  t.set_pool("Bad_Pool");
  expect_bad(assigner_->Transfer(t, "boss").status(), "pool");
  t = transfer();
  t.set_reason("");
  expect_bad(assigner_->Transfer(t, "boss").status(), "reason");
  t = transfer();
  t.set_request_id("");
  expect_bad(assigner_->Transfer(t, "boss").status(), "request_id");

  v1::ApproveRequest approve;
  approve.set_customer_id("known");
  approve.set_department("sales");
  approve.set_request_id("ap");
  approve.set_reason(std::string(2000, 'x'));
  expect_bad(assigner_->Approve(approve, "boss").status(), "reason");
  approve.set_reason("");
  approve.set_department("");
  expect_bad(assigner_->Approve(approve, "boss").status(), "department");
  v1::RejectRequest reject;
  reject.set_customer_id("known");
  reject.set_department("sales");
  reject.set_request_id("rj");
  expect_bad(assigner_->Reject(reject, "boss").status(), "reason");
  reject.set_reason("no");
  reject.set_customer_id("bad id!");
  expect_bad(assigner_->Reject(reject, "boss").status(), "customer_id");

  EXPECT_EQ(Dump(), before);
}

// ---------------------------------------------------------------------------
// BatchAssign, UpdateCustomer, GetCustomer

TEST_F(AssignerTest, BatchAssignAnswersEachItemOnItsOwn) {
  v1::BatchAssignRequest batch;
  *batch.add_requests() = AssignReq(MakeCustomer("b0", "rr"), "b0");
  *batch.add_requests() = AssignReq(MakeCustomer("b1", "rr", "CN//X"), "b1");
  *batch.add_requests() = AssignReq(MakeCustomer("b2", "rr"), "");
  *batch.add_requests() = AssignReq(MakeCustomer("b3", "rr"), "b3");
  *batch.add_requests() = AssignReq(MakeCustomer("b4", "rr"), "b0");  // reused
  auto r = assigner_->BatchAssign(batch, "crm");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->results_size(), 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(r->results(i).index(), i);
  EXPECT_EQ(SalesOwner(r->results(0).response()), "r1");
  EXPECT_EQ(r->results(1).error().code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(r->results(1).error().message(),
              StartsWith("requests[1].customer.region: "));
  EXPECT_THAT(r->results(2).error().message(),
              StartsWith("requests[2].request_id: "));
  EXPECT_EQ(SalesOwner(r->results(3).response()), "r2");
  EXPECT_THAT(r->results(4).error().message(),
              StartsWith("requests[4].request_id"));
  v1::GetCustomerRequest get;
  get.set_customer_id("b1");
  EXPECT_EQ(assigner_->GetCustomer(get).status().code(),
            absl::StatusCode::kNotFound);

  // A retried batch returns the first answers.
  auto again = assigner_->BatchAssign(batch, "crm");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(SerializeDeterministic(again->results(0)),
            SerializeDeterministic(r->results(0)));
  EXPECT_EQ(SerializeDeterministic(again->results(3)),
            SerializeDeterministic(r->results(3)));
}

TEST_F(AssignerTest, BatchAssignKeepsOrderPerCustomerAndSpreadsTheLoad) {
  v1::BatchAssignRequest batch;
  for (int i = 0; i < 60; ++i) {
    *batch.add_requests() = AssignReq(MakeCustomer(absl::StrCat("m", i), "rr"),
                                      absl::StrCat("m", i));
  }
  // The same customer twice: the later attributes win, as in two calls.
  *batch.add_requests() = AssignReq(MakeCustomer("dup", "rr"), "dup-1");
  *batch.add_requests() = AssignReq(MakeCustomer("dup", "wt"), "dup-2");
  auto r = assigner_->BatchAssign(batch, "crm");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->results_size(), 62);
  std::map<std::string, int> picks;
  for (int i = 0; i < 60; ++i) {
    EXPECT_EQ(r->results(i).index(), i);
    EXPECT_EQ(r->results(i).response().customer_id(), absl::StrCat("m", i));
    ++picks[SalesOwner(r->results(i).response())];
  }
  // 61 round-robin picks in all (dup took one): 20 or 21 each.
  ++picks[SalesOwner(r->results(60).response())];
  for (const auto& [rep, n] : picks) {
    EXPECT_GE(n, 20) << rep;
    EXPECT_LE(n, 21) << rep;
  }
  EXPECT_TRUE(r->results(61).response().departments(0).ownership().drifted());
  v1::GetCustomerRequest get;
  get.set_customer_id("dup");
  auto customer = assigner_->GetCustomer(get);
  ASSERT_TRUE(customer.ok());
  EXPECT_EQ(customer->customer_type(), "wt");
  ExpectCountersMatchScan("sales", {"r1", "r2", "r3"});
}

TEST_F(AssignerTest, UpdateCustomerFlagsDriftUnderKeepAndRefusesUnknown) {
  v1::UpdateCustomerRequest update;
  *update.mutable_customer() = MakeCustomer("c1", "wt");
  update.set_request_id("u1");
  EXPECT_EQ(assigner_->UpdateCustomer(update, "crm").status().code(),
            absl::StatusCode::kNotFound);

  MustAssign(MakeCustomer("c1", "rr"), "a1");  // r1
  auto r = assigner_->UpdateCustomer(update, "crm");
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::Ownership& o = r->departments(0).ownership();
  EXPECT_TRUE(r->departments(0).changed());
  EXPECT_EQ(o.rep(), "r1");
  EXPECT_TRUE(o.drifted());
  EXPECT_EQ(o.rule_id(), "rr");
  v1::GetCustomerRequest get;
  get.set_customer_id("c1");
  auto customer = assigner_->GetCustomer(get);
  ASSERT_TRUE(customer.ok());
  EXPECT_EQ(customer->customer_type(), "wt");
  std::vector<v1::OwnershipEvent> events = Events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_FALSE(events[2].before().drifted());
  EXPECT_TRUE(events[2].after().drifted());
  ExpectCountersMatchScan("sales", {"r1", "w1"});
}

TEST_F(AssignerTest, DriftReassignMovesOwnerAndCounters) {
  MustAssign(MakeCustomer("c1", "rr"), "a1");  // r1
  std::string text(kRuleset);
  text += "  on_drift: reassign\n";
  MustCreate(text, "ruleset-2");
  MustActivate(2, "activate-2");
  v1::AssignResponse r = MustAssign(MakeCustomer("c1", "wt"), "a2");
  EXPECT_EQ(SalesOwner(r), "w1");
  EXPECT_EQ(r.departments(0).ownership().ruleset_version(), 2);
  ExpectCountersMatchScan("sales", {"r1", "w1"});
  EXPECT_EQ(StoredCounter(TeamAllocator::OwnedCounterKey("sales", "r1")), 0);
  EXPECT_EQ(StoredCounter(TeamAllocator::OwnedCounterKey("sales", "w1")), 1);
}

// ---------------------------------------------------------------------------
// Transfer, Approve, Reject

v1::TransferRequest TransferTo(absl::string_view customer,
                               absl::string_view rep, absl::string_view pool,
                               absl::string_view request_id) {
  v1::TransferRequest t;
  t.set_customer_id(std::string(customer));
  t.set_department("sales");
  if (!rep.empty()) t.set_rep(std::string(rep));
  if (!pool.empty()) t.set_pool(std::string(pool));
  t.set_reason("territory change");
  t.set_request_id(std::string(request_id));
  return t;
}

TEST_F(AssignerTest, TransferToRepAndPoolMovesOwnerAndCounters) {
  MustAssign(MakeCustomer("c1", "rr"), "a1");  // r1
  auto t = assigner_->Transfer(TransferTo("c1", "k1", "", "t1"), "boss");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(t->rep(), "k1");
  EXPECT_EQ(t->team(), "cap-team");
  EXPECT_EQ(t->rule_id(), "");
  EXPECT_EQ(t->ruleset_version(), 0);
  std::vector<v1::OwnershipEvent> events = Events();
  EXPECT_EQ(events.back().cause(), v1::OwnershipEvent::TRANSFER);
  EXPECT_EQ(events.back().reason(), "territory change");
  EXPECT_EQ(events.back().actor(), "boss");
  ExpectCountersMatchScan("sales", {"r1", "k1"});
  EXPECT_EQ(allocator_->GetLoad("sales", "k1")->owned, 1);

  auto p =
      assigner_->Transfer(TransferTo("c1", "", "sales-pool", "t2"), "boss");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->state(), v1::Ownership::POOLED);
  EXPECT_EQ(p->pool(), "sales-pool");
  EXPECT_EQ(p->rep(), "");
  ExpectCountersMatchScan("sales", {"r1", "k1"});
  EXPECT_EQ(allocator_->GetLoad("sales", "k1")->owned, 0);

  // Re-assigning keeps the pool (the fallback chain contains it? no: rule rr
  // names rr-team; on_drift keep leaves it, drifted).
  v1::AssignResponse r = MustAssign(MakeCustomer("c1", "rr"), "a2");
  EXPECT_EQ(SalesOwner(r), "pool:sales-pool");
}

TEST_F(AssignerTest, TransferRefusesIneligibleRepsPoolsAndFrozen) {
  MustAssign(MakeCustomer("c1", "rr"), "a1");
  auto code_of = [&](const v1::TransferRequest& t) {
    return assigner_->Transfer(t, "boss").status();
  };
  absl::Status s = code_of(TransferTo("c1", "away1", "", "t1"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("away1"));
  s = code_of(TransferTo("c1", "s1", "", "t2"));  // service only
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  s = code_of(TransferTo("c1", "nobody", "", "t3"));
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  s = code_of(TransferTo("c1", "", "rr-team", "t4"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  s = code_of(TransferTo("nobody", "r2", "", "t5"));
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  v1::TransferRequest other = TransferTo("c1", "r2", "", "t6");
  other.set_department("marketing");
  EXPECT_EQ(code_of(other).code(), absl::StatusCode::kNotFound);

  // k2 (capacity 3) full: refused, naming the rep and its capacity.
  for (int i = 0; i < 3; ++i) {
    MustAssign(MakeCustomer(absl::StrCat("k", i), "rr"), absl::StrCat("k", i));
    ASSERT_TRUE(assigner_
                    ->Transfer(TransferTo(absl::StrCat("k", i), "k2", "",
                                          absl::StrCat("tk", i)),
                               "boss")
                    .ok());
  }
  s = code_of(TransferTo("c1", "k2", "", "t7"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("k2"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("capacity (3"));

  // FROZEN (an appeal): refused.
  ASSERT_TRUE(
      storage::RunInTransaction(*store_, [&](storage::Transaction& txn) {
        auto cur = OwnershipBook::ReadForUpdate(txn, "c1", "sales");
        if (!cur.ok()) return cur.status();
        ChangeSpec spec;
        spec.after = **cur;
        spec.after.set_state(v1::Ownership::FROZEN);
        spec.cause = v1::OwnershipEvent::APPEAL_RULING;
        spec.actor = "arbiter";
        return book_->Stage(txn, spec).status();
      }).ok());
  s = code_of(TransferTo("c1", "r3", "", "t8"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("FROZEN"));
}

TEST_F(AssignerTest, ApprovePendingMakesItActive) {
  v1::AssignResponse r = MustAssign(MakeCustomer("c1", "vip"), "a1");
  ASSERT_EQ(r.departments(0).ownership().state(),
            v1::Ownership::PENDING_APPROVAL);
  ASSERT_EQ(SalesOwner(r), "a1");
  v1::ApproveRequest approve;
  approve.set_customer_id("c1");
  approve.set_department("sales");
  approve.set_request_id("ap1");
  auto a = assigner_->Approve(approve, "boss");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->state(), v1::Ownership::ACTIVE);
  EXPECT_EQ(a->rep(), "a1");
  EXPECT_EQ(a->since().seconds(),
            r.departments(0).ownership().since().seconds());
  EXPECT_EQ(Events().back().cause(), v1::OwnershipEvent::APPROVAL);
  ExpectCountersMatchScan("sales", {"a1", "a2"});
  // Retry: the first answer. Another id: not pending any more.
  auto retry = assigner_->Approve(approve, "boss");
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(SerializeDeterministic(*retry), SerializeDeterministic(*a));
  approve.set_request_id("ap2");
  EXPECT_EQ(assigner_->Approve(approve, "boss").status().code(),
            absl::StatusCode::kFailedPrecondition);
  approve.set_customer_id("nobody");
  EXPECT_EQ(assigner_->Approve(approve, "boss").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(AssignerTest, RejectGoesToTheNextMemberThenTheFallback) {
  MustAssign(MakeCustomer("c1", "vip"), "a1");  // a1, pending
  v1::RejectRequest reject;
  reject.set_customer_id("c1");
  reject.set_department("sales");
  reject.set_reason("wrong territory");
  reject.set_request_id("rj1");
  auto r = assigner_->Reject(reject, "boss");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->state(), v1::Ownership::PENDING_APPROVAL);
  EXPECT_EQ(r->rep(), "a2");
  EXPECT_EQ(Events().back().cause(), v1::OwnershipEvent::REJECTION);
  EXPECT_EQ(Events().back().reason(), "wrong territory");
  ExpectCountersMatchScan("sales", {"a1", "a2"});

  // a1 goes away: rejecting a2 leaves nobody in ka; the fallback pool.
  v1::SetRepStatusRequest away;
  away.set_rep("a1");
  away.set_status(v1::AWAY);
  away.set_reason("leave");
  away.set_request_id("away-a1");
  ASSERT_TRUE(roster_->SetRepStatus(away, "admin").ok());
  reject.set_request_id("rj2");
  r = assigner_->Reject(reject, "boss");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->state(), v1::Ownership::POOLED);
  EXPECT_EQ(r->pool(), "sales-pool");
  EXPECT_EQ(r->explanation().target_used(), "fallback");
  ExpectCountersMatchScan("sales", {"a1", "a2"});

  reject.set_request_id("rj3");
  EXPECT_EQ(assigner_->Reject(reject, "boss").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(AssignerTest, SeesEveryRosterChangeWithOrWithoutTheVersionKey) {
  auto evaluate = [&](absl::string_view id) {
    v1::EvaluateRequest request;
    *request.mutable_customer() = MakeCustomer(id, "vip");
    auto r = assigner_->Evaluate(request);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? SalesOwner(*r) : std::string("(error)");
  };
  auto set_status = [&](absl::string_view rep, v1::RepStatus status,
                        absl::string_view request_id) {
    v1::SetRepStatusRequest request;
    request.set_rep(std::string(rep));
    request.set_status(status);
    request.set_reason("test");
    request.set_request_id(std::string(request_id));
    ASSERT_TRUE(roster_->SetRepStatus(request, "admin").ok());
  };
  EXPECT_EQ(evaluate("c1"), "a1");
  set_status("a1", v1::AWAY, "s1");
  EXPECT_EQ(evaluate("c1"), "a2");  // the new version, not the cached one
  EXPECT_EQ(SalesOwner(MustAssign(MakeCustomer("c1", "vip"), "as1")), "a2");

  // A store written before the version key existed: the record is read.
  ASSERT_TRUE(storage::RunInTransaction(*store_, [](storage::Transaction& t) {
                return t.Delete(storage::Table::kRoster, RosterVersionKey());
              }).ok());
  EXPECT_EQ(evaluate("c2"), "a2");
  EXPECT_EQ(SalesOwner(MustAssign(MakeCustomer("c2", "vip"), "as2")), "a2");
  // The next roster change writes the key again, and it is followed.
  set_status("a1", v1::ACTIVE, "s2");
  set_status("a2", v1::AWAY, "s3");
  EXPECT_EQ(evaluate("c3"), "a1");
  EXPECT_EQ(SalesOwner(MustAssign(MakeCustomer("c3", "vip"), "as3")), "a1");
}

// ---------------------------------------------------------------------------
// Failed commits

TEST_F(AssignerTest, AbortedCommitsAreRetriedWithoutLeakingCapacity) {
  FaultyStore faulty(store_.get());
  std::unique_ptr<Assigner> assigner = AssignerOver(&faulty);
  ASSERT_NE(assigner, nullptr);

  faulty.FailCommits(2, absl::AbortedError("injected conflict"));
  auto r = assigner->Assign(AssignReq(MakeCustomer("c1", "rr"), "a1"), "crm");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(faulty.failed(), 2);
  // Each failed attempt advanced the round robin (team_allocator.h: a failed
  // commit does not undo the cursor) and gave its unit back.
  EXPECT_EQ(SalesOwner(*r), "r3");
  EXPECT_EQ(Events().size(), 2u);
  for (const char* rep : {"r1", "r2", "r3"}) {
    EXPECT_EQ(allocator_->GetLoad("sales", rep)->reserved, 0) << rep;
  }
  ExpectCountersMatchScan("sales", {"r1", "r2", "r3"});
  // The stored cursor equals the in-memory one: after r3 (index 2).
  EXPECT_EQ(StoredCounter(TeamAllocator::CursorCounterKey("rr-team")), 3);
  EXPECT_EQ(SalesOwner(MustAssign(MakeCustomer("c2", "rr"), "a2")), "r1");
  ReopenAll();
  EXPECT_EQ(SalesOwner(MustAssign(MakeCustomer("c3", "rr"), "a3")), "r2");
}

TEST_F(AssignerTest, BatchAssignRetriesAConflictingChunkWholeAndStaysExact) {
  for (bool savepoints : {true, false}) {
    SCOPED_TRACE(savepoints ? "chunks" : "no savepoints: item by item");
    FaultyStore faulty(store_.get(), savepoints);
    std::unique_ptr<Assigner> assigner = AssignerOver(&faulty);
    ASSERT_NE(assigner, nullptr);

    // 150 customers: three chunks; a bad item in the middle of the first;
    // cap-team's capacity (5 + 3) is met across chunks.
    const std::string p = savepoints ? "s" : "n";
    v1::BatchAssignRequest batch;
    for (int i = 0; i < 150; ++i) {
      *batch.add_requests() =
          AssignReq(MakeCustomer(absl::StrCat(p, i), i < 20 ? "cap" : "rr"),
                    absl::StrCat(p, "-", i));
    }
    batch.mutable_requests(7)->mutable_customer()->set_region("CN//bad");
    const size_t events_before = Events().size();
    faulty.FailCommits(2, absl::AbortedError("injected conflict"));
    auto r = assigner->BatchAssign(batch, "crm");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(faulty.failed(), 2);
    std::map<std::string, int> picks;
    for (int i = 0; i < 150; ++i) {
      if (i == 7) {
        EXPECT_EQ(r->results(i).error().code(),
                  static_cast<int>(absl::StatusCode::kInvalidArgument));
        continue;
      }
      ASSERT_TRUE(r->results(i).has_response()) << i;
      ++picks[SalesOwner(r->results(i).response())];
    }
    // The first round fills cap-team; the second finds it full.
    EXPECT_EQ(picks["k1"], savepoints ? 5 : 0);
    EXPECT_EQ(picks["k2"], savepoints ? 3 : 0);
    EXPECT_EQ(picks["pool:sales-pool"], savepoints ? 11 : 19);
    // 149 customers, a sales and a service ownership (UNOWNED: no region)
    // each.
    EXPECT_EQ(Events().size() - events_before, 2 * 149u);
    for (const char* rep : {"k1", "k2", "r1", "r2", "r3"}) {
      EXPECT_EQ(allocator_->GetLoad("sales", rep)->reserved, 0) << rep;
    }
    ExpectCountersMatchScan("sales", {"k1", "k2", "away1", "r1", "r2", "r3"});

    // Retried, every item gets its first answer and nothing is written.
    const size_t events_after = Events().size();
    auto again = assigner->BatchAssign(batch, "crm");
    ASSERT_TRUE(again.ok());
    for (int i = 0; i < 150; ++i) {
      EXPECT_EQ(SerializeDeterministic(again->results(i)),
                SerializeDeterministic(r->results(i)))
          << i;
    }
    EXPECT_EQ(Events().size(), events_after);
  }
}

TEST_F(AssignerTest, BatchAssignChunkWithUnknownOutcomeSaysSoPerItem) {
  FaultyStore faulty(store_.get());
  std::unique_ptr<Assigner> assigner = AssignerOver(&faulty);
  ASSERT_NE(assigner, nullptr);
  v1::BatchAssignRequest batch;
  for (int i = 0; i < 70; ++i) {
    *batch.add_requests() =
        AssignReq(MakeCustomer(absl::StrCat("u", i), "rr"), absl::StrCat(i));
  }
  faulty.FailCommits(1, absl::UnavailableError("injected I/O error"));
  auto r = assigner->BatchAssign(batch, "crm");
  ASSERT_TRUE(r.ok()) << r.status();
  // The first chunk (64 items) failed whole; the second committed.
  for (int i = 0; i < 70; ++i) {
    if (i < 64) {
      EXPECT_EQ(r->results(i).error().code(),
                static_cast<int>(absl::StatusCode::kUnavailable))
          << i;
    } else {
      EXPECT_TRUE(r->results(i).has_response()) << i;
    }
  }
  // Retrying with the same ids assigns the ones that were not written.
  auto again = assigner->BatchAssign(batch, "crm");
  ASSERT_TRUE(again.ok());
  for (int i = 0; i < 70; ++i) EXPECT_TRUE(again->results(i).has_response());
  EXPECT_EQ(ScanOwnedByRep("sales").size(), 3u);
}

TEST_F(AssignerTest, UnavailableCommitIsReportedAndWritesNothing) {
  FaultyStore faulty(store_.get());
  std::unique_ptr<Assigner> assigner = AssignerOver(&faulty);
  ASSERT_NE(assigner, nullptr);
  auto before = Dump();
  faulty.FailCommits(1, absl::UnavailableError("injected I/O error"));
  auto r = assigner->Assign(AssignReq(MakeCustomer("c1", "cap"), "a1"), "crm");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Dump(), before);
  // The outcome was unknown, so the unit was counted (team_allocator.h):
  // k1 holds one unit more than the store until a restart re-reads it.
  EXPECT_EQ(allocator_->GetLoad("sales", "k1")->owned, 1);
  EXPECT_EQ(allocator_->GetLoad("sales", "k1")->reserved, 0);
  // The retry with the same request_id assigns (nothing was written).
  auto retry =
      assigner->Assign(AssignReq(MakeCustomer("c1", "cap"), "a1"), "crm");
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(SalesOwner(*retry), "k2");  // k1 looks one fuller than it is
  EXPECT_EQ(Events().size(), 2u);       // sales and service, once
  ReopenAll();
  ExpectCountersMatchScan("sales", {"k1", "k2"});
}

// ---------------------------------------------------------------------------
// Restart

TEST_F(AssignerTest, RestartKeepsOwnersCountersAndCursors) {
  for (int i = 0; i < 4; ++i) {
    MustAssign(MakeCustomer(absl::StrCat("c", i), "rr"), absl::StrCat("a", i));
  }
  for (int i = 0; i < 4; ++i) {
    MustAssign(MakeCustomer(absl::StrCat("k", i), "cap"), absl::StrCat("k", i));
  }
  ReopenAll();
  // The round robin goes on after r1 (c3 got r1).
  EXPECT_EQ(SalesOwner(MustAssign(MakeCustomer("c4", "rr"), "a4")), "r2");
  EXPECT_EQ(SalesOwner(MustAssign(MakeCustomer("c5", "rr"), "a5")), "r3");
  // A known customer keeps its owner; an id used before restart replays.
  EXPECT_FALSE(
      MustAssign(MakeCustomer("c0", "rr"), "again").departments(0).changed());
  EXPECT_EQ(SalesOwner(MustAssign(MakeCustomer("c0", "rr"), "a0")), "r1");
  // Capacity continues from the stored counters: 4 used of 5 + 3.
  std::map<std::string, int> picks;
  for (int i = 4; i < 10; ++i) {
    ++picks[SalesOwner(MustAssign(MakeCustomer(absl::StrCat("k", i), "cap"),
                                  absl::StrCat("k", i)))];
  }
  EXPECT_EQ(picks["pool:sales-pool"], 2);
  ExpectCountersMatchScan("sales", {"r1", "r2", "r3", "k1", "k2"});
  std::map<std::string, int64_t> scanned = ScanOwnedByRep("sales");
  EXPECT_EQ(scanned["k1"], 5);
  EXPECT_EQ(scanned["k2"], 3);
}

}  // namespace
}  // namespace custodian::server
