#include "server/ownership_book.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "server/ownership_book_testing.h"
#include "server/request_checks.h"
#include "storage/keys.h"

namespace custodian::server {
namespace {

using book_testing::BookTest;
using book_testing::T0;
using ::google::protobuf::util::TimeUtil;
using storage::KeyBuilder;
using storage::Table;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using book_testing::Dump;
using book_testing::DumpStore;

// The layout of storage/README.md "Domain keys", spelled out independently.
std::string Entry(absl::string_view tag, absl::string_view department,
                  absl::string_view value, absl::string_view customer) {
  return KeyBuilder()
      .AddString(tag)
      .AddString(department)
      .AddString(value)
      .AddString(customer)
      .Build();
}
std::string StateEntry(absl::string_view department, v1::Ownership::State state,
                       absl::string_view customer) {
  return KeyBuilder()
      .AddString("by_state")
      .AddString(department)
      .AddInt64(state)
      .AddString(customer)
      .Build();
}
// The keys of the department index stores kept before 2026-12-03
// (DropDepartmentIndex).
std::string LegacyDeptEntry(absl::string_view department,
                            absl::string_view customer) {
  return KeyBuilder()
      .AddString("by_dept")
      .AddString(department)
      .AddString(customer)
      .Build();
}
std::string HistEntry(absl::string_view customer, absl::string_view department,
                      int64_t sequence) {
  return KeyBuilder()
      .AddString("hist")
      .AddString(customer)
      .AddString(department)
      .AddUint64(static_cast<uint64_t>(sequence))
      .Build();
}
std::string Count(absl::string_view tag, absl::string_view department,
                  absl::string_view value) {
  return KeyBuilder()
      .AddString(tag)
      .AddString(department)
      .AddString(value)
      .Build();
}
std::string StateCount(absl::string_view department,
                       v1::Ownership::State state) {
  return KeyBuilder()
      .AddString("n_state")
      .AddString(department)
      .AddInt64(state)
      .Build();
}
std::string LegacyDeptCount(absl::string_view department) {
  return KeyBuilder().AddString("n_dept").AddString(department).Build();
}

std::pair<int, std::string> K(Table table, std::string key) {
  return {static_cast<int>(table), std::move(key)};
}

// Keys in `after` not in `before`, and keys in `before` not in `after`.
std::set<std::pair<int, std::string>> Added(const Dump& before,
                                            const Dump& after) {
  std::set<std::pair<int, std::string>> out;
  for (const auto& [key, value] : after) {
    if (before.count(key) == 0) out.insert(key);
  }
  return out;
}

google::protobuf::Timestamp Ts(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

std::vector<std::string> Customers(const v1::ListOwnershipsResponse& r) {
  std::vector<std::string> out;
  for (const v1::Ownership& o : r.ownerships()) out.push_back(o.customer_id());
  return out;
}

std::vector<int64_t> Sequences(const v1::ListOwnershipEventsResponse& r) {
  std::vector<int64_t> out;
  for (const v1::OwnershipEvent& e : r.events()) out.push_back(e.sequence());
  return out;
}

std::vector<std::string> BadFields(const absl::Status& status) {
  std::vector<std::string> out;
  auto details = GetBadRequest(status);
  if (details.has_value()) {
    for (const auto& v : details->field_violations()) out.push_back(v.field());
  }
  return out;
}

TEST_F(BookTest, StageWritesRecordIndexesCountersAndEventInOneCommit) {
  const Dump before = DumpStore(*store_);
  storage::v1::CustomerRecord customer;
  customer.mutable_customer()->set_id("c1");
  customer.add_segments("key_account");
  customer.add_segments("new_customer");
  customer.set_ruleset_version(3);
  PendingEvents pending;
  ASSERT_TRUE(
      storage::RunInTransaction(
          *store_,
          [&](storage::Transaction& txn) -> absl::Status {
            RETURN_IF_ERROR(book_->StageCustomer(txn, customer).status());
            ASSIGN_OR_RETURN(
                pending, book_->Stage(txn, Active("c1", "sales", "zhang.wei",
                                                  "ka-east", "east", 3)));
            return absl::OkStatus();
          })
          .ok());
  pending.Committed();
  ASSERT_EQ(pending.events().size(), 1u);
  const v1::OwnershipEvent& event = pending.events()[0];
  EXPECT_EQ(event.sequence(), 1);

  const Dump after = DumpStore(*store_);
  const std::set<std::pair<int, std::string>> expected = {
      K(Table::kCustomers, CustomerKey("c1")),
      K(Table::kOwnerships, OwnershipKey("c1", "sales")),
      K(Table::kEvents, EventKey(1)),
      K(Table::kIndexes, HistEntry("c1", "sales", 1)),
      K(Table::kIndexes, StateEntry("sales", v1::Ownership::ACTIVE, "c1")),
      K(Table::kIndexes, Entry("by_rep", "sales", "zhang.wei", "c1")),
      K(Table::kIndexes, Entry("by_team", "sales", "ka-east", "c1")),
      K(Table::kIndexes, Entry("by_segment", "sales", "key_account", "c1")),
      K(Table::kIndexes, Entry("by_segment", "sales", "new_customer", "c1")),
      K(Table::kIndexes, DepartmentMarkerKey("sales")),
      K(Table::kCounters, OwnedCounterKeyOf("sales", "zhang.wei")),
  };
  EXPECT_EQ(Added(before, after), expected);
  EXPECT_EQ(after.size(), before.size() + expected.size());
  for (const auto& key : expected) {
    if (key.first == static_cast<int>(Table::kCounters)) {
      EXPECT_EQ(after.at(key), storage::EncodeCounter(1)) << key.second;
    }
  }

  v1::Ownership stored;
  ASSERT_TRUE(stored.ParseFromString(
      after.at(K(Table::kOwnerships, OwnershipKey("c1", "sales")))));
  EXPECT_EQ(stored.rep(), "zhang.wei");
  EXPECT_EQ(stored.last_event_sequence(), 1);
  EXPECT_EQ(TimeUtil::TimestampToMicroseconds(stored.since()),
            absl::ToUnixMicros(T0()));
  v1::OwnershipEvent stored_event;
  ASSERT_TRUE(
      stored_event.ParseFromString(after.at(K(Table::kEvents, EventKey(1)))));
  EXPECT_EQ(stored_event.SerializeAsString(), event.SerializeAsString());
  EXPECT_EQ(event.customer_id(), "c1");
  EXPECT_EQ(event.department(), "sales");
  EXPECT_EQ(event.cause(), v1::OwnershipEvent::RULE);
  EXPECT_EQ(event.actor(), "custodiand");
  EXPECT_EQ(event.reason(), "rule east");
  EXPECT_FALSE(event.has_before());
  EXPECT_EQ(event.after().SerializeAsString(), stored.SerializeAsString());
  EXPECT_EQ(TimeUtil::TimestampToMicroseconds(event.event_time()),
            absl::ToUnixMicros(T0()));
  EXPECT_EQ(sequencer_->watermark(), 1);
}

TEST_F(BookTest, RolledBackTransactionLeavesNothing) {
  PutCustomer("c1", {"key_account"});
  MustCommit(Active("c1", "sales", "zhang.wei", "ka-east"));
  const Dump before = DumpStore(*store_);

  {
    // An explicit rollback after staging a move, a new ownership and a
    // customer change.
    auto txn = store_->Begin();
    ASSERT_TRUE(txn.ok());
    storage::v1::CustomerRecord changed;
    changed.mutable_customer()->set_id("c1");
    changed.add_segments("dormant");
    ASSERT_TRUE(book_->StageCustomer(**txn, changed).ok());
    auto moved = book_->Stage(**txn, Pooled("c1", "sales", "east-pool"));
    ASSERT_TRUE(moved.ok()) << moved.status();
    auto added = book_->Stage(**txn, Active("c1", "service", "wu.xia", "svc"));
    ASSERT_TRUE(added.ok()) << added.status();
    EXPECT_EQ(sequencer_->in_flight(), 2);
    (*txn)->Rollback();
  }  // the pending events are abandoned here
  EXPECT_EQ(DumpStore(*store_), before);
  EXPECT_EQ(sequencer_->in_flight(), 0);
  EXPECT_EQ(sequencer_->watermark(), 3);

  // A transaction whose body fails after staging commits nothing either.
  PendingEvents pending;
  absl::Status s = storage::RunInTransaction(
      *store_, [&](storage::Transaction& txn) -> absl::Status {
        ASSIGN_OR_RETURN(pending,
                         book_->Stage(txn, Pooled("c1", "sales", "east-pool")));
        return absl::FailedPreconditionError("caller gave up");
      });
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  pending.Abandoned();
  EXPECT_EQ(DumpStore(*store_), before);
  EXPECT_EQ(sequencer_->watermark(), 4);

  // The feed shows only the committed event; the gaps are skipped.
  auto batch = feed_->ReadEvents(0, 10);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->events.size(), 1u);
  EXPECT_EQ(batch->events[0].sequence(), 1);
  EXPECT_EQ(batch->resume_after, 4);
}

TEST_F(BookTest, MovingAnOwnershipFixesEveryIndexAndCounter) {
  PutCustomer("c1", {"key_account"});
  MustCommit(Active("c1", "sales", "zhang.wei", "ka-east"));
  const Dump before = DumpStore(*store_);
  clock_.Advance(absl::Hours(1));

  ChangeSpec transfer = Active("c1", "sales", "li.na", "ka-west", "");
  transfer.cause = v1::OwnershipEvent::TRANSFER;
  transfer.actor = "manager.wang";
  transfer.reason = "territory change";
  transfer.request_id = "req-1";
  v1::OwnershipEvent event = MustCommit(transfer);
  EXPECT_EQ(event.sequence(), 2);
  EXPECT_EQ(event.before().rep(), "zhang.wei");
  EXPECT_EQ(event.after().rep(), "li.na");
  EXPECT_EQ(event.request_id(), "req-1");
  EXPECT_EQ(TimeUtil::TimestampToMicroseconds(event.after().since()),
            absl::ToUnixMicros(T0() + absl::Hours(1)));

  const Dump after = DumpStore(*store_);
  EXPECT_EQ(Added(after, before),
            (std::set<std::pair<int, std::string>>{
                K(Table::kIndexes, Entry("by_rep", "sales", "zhang.wei", "c1")),
                K(Table::kIndexes, Entry("by_team", "sales", "ka-east", "c1")),
            }));
  EXPECT_EQ(Added(before, after),
            (std::set<std::pair<int, std::string>>{
                K(Table::kEvents, EventKey(2)),
                K(Table::kIndexes, HistEntry("c1", "sales", 2)),
                K(Table::kIndexes, Entry("by_rep", "sales", "li.na", "c1")),
                K(Table::kIndexes, Entry("by_team", "sales", "ka-west", "c1")),
                K(Table::kCounters, OwnedCounterKeyOf("sales", "li.na")),
            }));
  EXPECT_EQ(Counter(OwnedCounterKeyOf("sales", "zhang.wei")), 0);
  EXPECT_EQ(Counter(OwnedCounterKeyOf("sales", "li.na")), 1);

  // Then to the pool: the rep, team and state entries move again.
  MustCommit(Pooled("c1", "sales", "east-pool"));
  EXPECT_EQ(Counter(OwnedCounterKeyOf("sales", "li.na")), 0);
  EXPECT_EQ(Counter(PoolSizeCounterKey("sales", "east-pool")), 1);
  const Dump pooled = DumpStore(*store_);
  EXPECT_EQ(
      pooled.count(K(Table::kIndexes, Entry("by_rep", "sales", "li.na", "c1"))),
      0u);
  EXPECT_EQ(pooled.count(
                K(Table::kIndexes, Entry("by_team", "sales", "ka-west", "c1"))),
            0u);
  EXPECT_EQ(pooled.count(K(Table::kIndexes,
                           StateEntry("sales", v1::Ownership::ACTIVE, "c1"))),
            0u);
  EXPECT_EQ(pooled.count(K(Table::kIndexes,
                           StateEntry("sales", v1::Ownership::POOLED, "c1"))),
            1u);
}

TEST_F(BookTest, SinceMovesOnlyWithTheOwner) {
  PutCustomer("c1", {});
  MustCommit(WithState(Active("c1", "sales", "zhang.wei", "ka-east"),
                       v1::Ownership::PENDING_APPROVAL));
  clock_.Advance(absl::Minutes(5));
  ChangeSpec approve = Active("c1", "sales", "zhang.wei", "ka-east");
  approve.cause = v1::OwnershipEvent::APPROVAL;
  v1::OwnershipEvent approved = MustCommit(approve);
  EXPECT_EQ(TimeUtil::TimestampToMicroseconds(approved.after().since()),
            absl::ToUnixMicros(T0()));
  EXPECT_EQ(TimeUtil::TimestampToMicroseconds(approved.event_time()),
            absl::ToUnixMicros(T0() + absl::Minutes(5)));
  // PENDING_APPROVAL -> ACTIVE moved the state entries, not the rep's count.
  EXPECT_EQ(Counter(OwnedCounterKeyOf("sales", "zhang.wei")), 1);
  const Dump dump = DumpStore(*store_);
  EXPECT_EQ(
      dump.count(K(Table::kIndexes,
                   StateEntry("sales", v1::Ownership::PENDING_APPROVAL, "c1"))),
      0u);
  EXPECT_EQ(dump.count(K(Table::kIndexes,
                         StateEntry("sales", v1::Ownership::ACTIVE, "c1"))),
            1u);
}

TEST_F(BookTest, PoolSizeCountersAreExact) {
  for (const char* c : {"c1", "c2", "c3"}) {
    PutCustomer(c, {});
    MustCommit(Pooled(c, "sales", "east-pool"));
  }
  PutCustomer("c4", {});
  MustCommit(Pooled("c4", "sales", "west-pool"));
  EXPECT_EQ(Counter(PoolSizeCounterKey("sales", "east-pool")), 3);
  EXPECT_EQ(Counter(PoolSizeCounterKey("sales", "west-pool")), 1);

  ChangeSpec claim = Active("c2", "sales", "zhang.wei", "");
  claim.cause = v1::OwnershipEvent::CLAIM;
  MustCommit(claim);
  ChangeSpec recycle = Pooled("c4", "sales", "east-pool");
  recycle.cause = v1::OwnershipEvent::RECYCLE;
  MustCommit(recycle);
  EXPECT_EQ(Counter(PoolSizeCounterKey("sales", "east-pool")), 3);
  EXPECT_EQ(Counter(PoolSizeCounterKey("sales", "west-pool")), 0);
  EXPECT_EQ(Counter(OwnedCounterKeyOf("sales", "zhang.wei")), 1);
}

TEST_F(BookTest, DropDepartmentIndexDeletesTheLegacyKeysOnce) {
  PutCustomer("c1", {"key_account"});
  MustCommit(Active("c1", "sales", "zhang.wei", "ka-east"));
  const Dump current = DumpStore(*store_);
  // What an older server wrote besides: five entries and two counters.
  {
    auto txn = store_->Begin();
    ASSERT_TRUE(txn.ok()) << txn.status();
    for (const char* c : {"c1", "c2", "c3", "c4"}) {
      ASSERT_TRUE(
          (*txn)->Put(Table::kIndexes, LegacyDeptEntry("sales", c), "").ok());
    }
    ASSERT_TRUE((*txn)
                    ->Put(Table::kIndexes, LegacyDeptEntry("service", "c1"), "")
                    .ok());
    ASSERT_TRUE((*txn)->AddToCounter(LegacyDeptCount("sales"), 4).ok());
    ASSERT_TRUE((*txn)->AddToCounter(LegacyDeptCount("service"), 1).ok());
    ASSERT_TRUE((*txn)->Commit().ok());
  }
  ASSERT_EQ(DumpStore(*store_).size(), current.size() + 7);

  // Pages of two: three of entries, one of counters.
  absl::StatusOr<int64_t> dropped = DropDepartmentIndex(*store_, 2);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 7);
  Dump after = DumpStore(*store_);
  const auto done =
      K(Table::kOperations, KeyBuilder().AddString("by_dept_dropped").Build());
  EXPECT_EQ(after.count(done), 1u);
  after.erase(done);
  EXPECT_EQ(after, current);

  // Once per store: a second run reads its record and deletes nothing, not
  // even a by_dept key written since.
  {
    auto txn = store_->Begin();
    ASSERT_TRUE(txn.ok()) << txn.status();
    ASSERT_TRUE(
        (*txn)->Put(Table::kIndexes, LegacyDeptEntry("sales", "c9"), "").ok());
    ASSERT_TRUE((*txn)->Commit().ok());
  }
  Reopen();
  dropped = DropDepartmentIndex(*store_);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 0);
  EXPECT_EQ(DumpStore(*store_).count(
                K(Table::kIndexes, LegacyDeptEntry("sales", "c9"))),
            1u);
  EXPECT_EQ(DropDepartmentIndex(*store_, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(BookTest, DropIndexSizeCountersKeepsTheDepartmentsAndRunsOnce) {
  PutCustomer("c1", {"key_account"});
  MustCommit(Active("c1", "sales", "zhang.wei", "ka-east"));
  const Dump current = DumpStore(*store_);
  // What an older server had instead of the marker: size counters. Its
  // marketing ownerships exist (n_state 2); service's counters sum to zero
  // (an older store never had one there: no marker for it).
  {
    auto txn = store_->Begin();
    ASSERT_TRUE(txn.ok()) << txn.status();
    ASSERT_TRUE(
        (*txn)
            ->DeleteWriteOnly(Table::kIndexes, DepartmentMarkerKey("sales"))
            .ok());
    ASSERT_TRUE(
        (*txn)
            ->AddToCounter(StateCount("sales", v1::Ownership::ACTIVE), 1)
            .ok());
    ASSERT_TRUE(
        (*txn)
            ->AddToCounter(StateCount("marketing", v1::Ownership::ACTIVE), 2)
            .ok());
    ASSERT_TRUE(
        (*txn)
            ->AddToCounter(StateCount("service", v1::Ownership::POOLED), 0)
            .ok());
    ASSERT_TRUE(
        (*txn)->AddToCounter(Count("n_team", "sales", "ka-east"), 1).ok());
    ASSERT_TRUE(
        (*txn)
            ->AddToCounter(Count("n_segment", "sales", "key_account"), 1)
            .ok());
    ASSERT_TRUE((*txn)->Commit().ok());
  }
  // Without its marker the department reads as empty.
  v1::ListOwnershipsRequest sales;
  sales.set_department("sales");
  auto listed = book_->ListOwnerships(sales);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_THAT(Customers(*listed), ElementsAre());

  // Pages of two.
  absl::StatusOr<int64_t> dropped = DropIndexSizeCounters(*store_, 2);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 5);
  Dump after = DumpStore(*store_);
  const auto done = K(Table::kOperations,
                      KeyBuilder().AddString("size_counters_dropped").Build());
  const auto marketing = K(Table::kIndexes, DepartmentMarkerKey("marketing"));
  EXPECT_EQ(after.count(done), 1u);
  EXPECT_EQ(after.count(marketing), 1u);
  EXPECT_EQ(after.count(K(Table::kIndexes, DepartmentMarkerKey("service"))),
            0u);
  after.erase(done);
  after.erase(marketing);
  EXPECT_EQ(after, current);
  listed = book_->ListOwnerships(sales);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_THAT(Customers(*listed), ElementsAre("c1"));

  // Once per store: a second run deletes nothing, not even a counter
  // written since.
  {
    auto txn = store_->Begin();
    ASSERT_TRUE(txn.ok()) << txn.status();
    ASSERT_TRUE(
        (*txn)->AddToCounter(Count("n_team", "sales", "ka-west"), 1).ok());
    ASSERT_TRUE((*txn)->Commit().ok());
  }
  Reopen();
  dropped = DropIndexSizeCounters(*store_);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 0);
  EXPECT_EQ(Counter(Count("n_team", "sales", "ka-west")), 1);
  EXPECT_EQ(DropIndexSizeCounters(*store_, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(BookTest, AnAbandonedFirstOwnershipLeavesTheMarkerToTheNextCommit) {
  PutCustomer("c1", {});
  PutCustomer("c2", {});
  const auto legal = K(Table::kIndexes, DepartmentMarkerKey("legal"));
  {
    auto txn = store_->Begin();
    ASSERT_TRUE(txn.ok()) << txn.status();
    auto pending = book_->Stage(**txn, Active("c1", "legal", "zhang.wei", ""));
    ASSERT_TRUE(pending.ok()) << pending.status();
    // Destroyed uncommitted.
  }
  EXPECT_EQ(DumpStore(*store_).count(legal), 0u);
  MustCommit(Active("c2", "legal", "zhang.wei", ""));
  EXPECT_EQ(DumpStore(*store_).count(legal), 1u);
  MustCommit(Active("c1", "legal", "zhang.wei", ""));
  v1::ListOwnershipsRequest r;
  r.set_department("legal");
  auto listed = book_->ListOwnerships(r);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_THAT(Customers(*listed), ElementsAre("c1", "c2"));
}

TEST_F(BookTest, StageRejectsAnInconsistentChangeNamingTheField) {
  PutCustomer("c1", {});
  const Dump before = DumpStore(*store_);
  ChangeSpec no_rep = Active("c1", "sales", "", "ka-east");
  auto s = Commit(no_rep);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("after.rep: is required"));

  ChangeSpec pooled_with_rep = Pooled("c1", "sales", "east-pool");
  pooled_with_rep.after.set_rep("zhang.wei");
  pooled_with_rep.cause = v1::OwnershipEvent::CAUSE_UNSPECIFIED;
  pooled_with_rep.actor = "";
  s = Commit(pooled_with_rep);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(BadFields(s.status()),
              ElementsAre("after.rep", "cause", "actor"));

  ChangeSpec unowned = Pooled("c1", "sales", "");
  unowned.after.set_state(v1::Ownership::UNOWNED);
  s = Commit(unowned);
  EXPECT_THAT(BadFields(s.status()), ElementsAre("after.unowned_reason"));

  ChangeSpec bad_ids = Active("c 1", "Sales", "zhang.wei", "ka-east");
  bad_ids.after.set_state(static_cast<v1::Ownership::State>(99));
  s = Commit(bad_ids);
  EXPECT_THAT(
      BadFields(s.status()),
      ElementsAre("after.customer_id", "after.department", "after.state"));
  EXPECT_EQ(DumpStore(*store_), before);
  EXPECT_EQ(sequencer_->last_allocated(), 0);
}

TEST_F(BookTest, FirstOwnershipNeedsACustomerRecord) {
  auto s = Commit(Active("c1", "sales", "zhang.wei", "ka-east"));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.status().message(), HasSubstr("customer \"c1\""));
}

TEST_F(BookTest, StageCustomerMovesSegmentEntriesOfEveryDepartment) {
  PutCustomer("c1", {"key_account", "dormant"});
  MustCommit(Active("c1", "sales", "zhang.wei", "ka-east"));
  MustCommit(Active("c1", "service", "wu.xia", "service-cn"));
  clock_.Advance(absl::Hours(1));

  // A new department and a segment change in one transaction, the customer
  // staged after the ownership.
  storage::v1::CustomerRecord changed;
  changed.mutable_customer()->set_id("c1");
  changed.add_segments("key_account");
  changed.add_segments("churned");
  PendingEvents pending;
  ASSERT_TRUE(storage::RunInTransaction(
                  *store_,
                  [&](storage::Transaction& txn) -> absl::Status {
                    ASSIGN_OR_RETURN(
                        pending, book_->Stage(txn, Active("c1", "marketing",
                                                          "zhang.wei", "")));
                    return book_->StageCustomer(txn, changed).status();
                  })
                  .ok());
  pending.Committed();

  const Dump dump = DumpStore(*store_);
  for (const char* d : {"sales", "service", "marketing"}) {
    EXPECT_EQ(dump.count(K(Table::kIndexes,
                           Entry("by_segment", d, "key_account", "c1"))),
              1u)
        << d;
    EXPECT_EQ(
        dump.count(K(Table::kIndexes, Entry("by_segment", d, "churned", "c1"))),
        1u)
        << d;
    EXPECT_EQ(
        dump.count(K(Table::kIndexes, Entry("by_segment", d, "dormant", "c1"))),
        0u)
        << d;
  }

  v1::GetCustomerRequest get;
  get.set_customer_id("c1");
  auto record = book_->GetCustomer(get);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_THAT(record->segments(), ElementsAre("key_account", "churned"));
  EXPECT_EQ(TimeUtil::TimestampToMicroseconds(record->create_time()),
            absl::ToUnixMicros(T0()));
  EXPECT_EQ(TimeUtil::TimestampToMicroseconds(record->update_time()),
            absl::ToUnixMicros(T0() + absl::Hours(1)));
}

TEST_F(BookTest, StageCustomerRejectsBadIdsAndSegments) {
  storage::v1::CustomerRecord record;
  record.mutable_customer()->set_id("");
  record.add_segments("key_account");
  record.add_segments("Bad");
  record.add_segments("key_account");
  absl::Status s = storage::RunInTransaction(
      *store_, [&](storage::Transaction& txn) -> absl::Status {
        return book_->StageCustomer(txn, record).status();
      });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(BadFields(s),
              ElementsAre("customer.id", "segments[1]", "segments[2]"));

  v1::GetCustomerRequest get;
  EXPECT_THAT(BadFields(book_->GetCustomer(get).status()),
              ElementsAre("customer_id"));
  get.set_customer_id("nobody");
  auto missing = book_->GetCustomer(get);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("\"nobody\""));
}

TEST_F(BookTest, GetOwnership) {
  PutCustomer("c1", {});
  MustCommit(Active("c1", "sales", "zhang.wei", "ka-east"));
  v1::GetOwnershipRequest request;
  request.set_customer_id("c1");
  request.set_department("sales");
  auto got = book_->GetOwnership(request);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->rep(), "zhang.wei");
  EXPECT_EQ(got->last_event_sequence(), 1);

  request.set_department("service");
  auto missing = book_->GetOwnership(request);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("customer \"c1\" in department \"service\""));

  request.set_customer_id("");
  request.set_department("Bad Dept");
  EXPECT_THAT(BadFields(book_->GetOwnership(request).status()),
              ElementsAre("customer_id", "department"));
}

class ListOwnershipsTest : public BookTest {
 protected:
  void SetUp() override {
    BookTest::SetUp();
    // c1..c6 in sales, c7 in service.
    PutCustomer("c1", {"key_account"});
    PutCustomer("c2", {"key_account", "dormant"});
    PutCustomer("c3", {});
    PutCustomer("c4", {"dormant"});
    PutCustomer("c5", {"key_account"});
    PutCustomer("c6", {});
    PutCustomer("c7", {"key_account"});
    MustCommit(Active("c1", "sales", "zhang.wei", "ka-east"));
    MustCommit(Active("c2", "sales", "li.na", "ka-east"));
    MustCommit(Active("c3", "sales", "zhang.wei", "ka-west"));
    MustCommit(WithState(Active("c4", "sales", "zhang.wei", "ka-east"),
                         v1::Ownership::FROZEN));
    MustCommit(Pooled("c5", "sales", "east-pool"));
    MustCommit(Active("c6", "sales", "li.na", "ka-west"));
    MustCommit(Active("c7", "service", "zhang.wei", "service-cn"));
  }

  std::vector<std::string> List(v1::ListOwnershipsRequest request,
                                const OwnershipBook* book = nullptr) {
    auto response =
        (book != nullptr ? book : book_.get())->ListOwnerships(request);
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return {};
    EXPECT_TRUE(response->next_page_token().empty());
    return Customers(*response);
  }
  static v1::ListOwnershipsRequest Sales() {
    v1::ListOwnershipsRequest request;
    request.set_department("sales");
    return request;
  }
};

TEST_F(ListOwnershipsTest, EachFilter) {
  EXPECT_THAT(List(Sales()), ElementsAre("c1", "c2", "c3", "c4", "c5", "c6"));
  auto r = Sales();
  r.set_rep("zhang.wei");
  EXPECT_THAT(List(r), ElementsAre("c1", "c3", "c4"));
  r = Sales();
  r.set_team("ka-west");
  EXPECT_THAT(List(r), ElementsAre("c3", "c6"));
  r = Sales();
  r.set_state(v1::Ownership::ACTIVE);
  EXPECT_THAT(List(r), ElementsAre("c1", "c2", "c3", "c6"));
  r.set_state(v1::Ownership::POOLED);
  EXPECT_THAT(List(r), ElementsAre("c5"));
  r = Sales();
  r.set_segment("key_account");
  EXPECT_THAT(List(r), ElementsAre("c1", "c2", "c5"));
  r = Sales();
  r.set_rep("nobody");
  EXPECT_THAT(List(r), ElementsAre());
  r = Sales();
  r.set_department("service");
  EXPECT_THAT(List(r), ElementsAre("c7"));
  r.set_department("marketing");
  EXPECT_THAT(List(r), ElementsAre());
}

TEST_F(ListOwnershipsTest, CombinedFilters) {
  auto r = Sales();
  r.set_rep("zhang.wei");
  r.set_state(v1::Ownership::ACTIVE);
  EXPECT_THAT(List(r), ElementsAre("c1", "c3"));
  r.set_team("ka-east");
  EXPECT_THAT(List(r), ElementsAre("c1"));
  r = Sales();
  r.set_segment("dormant");
  r.set_rep("zhang.wei");
  EXPECT_THAT(List(r), ElementsAre("c4"));
  r.set_state(v1::Ownership::ACTIVE);
  EXPECT_THAT(List(r), ElementsAre());
  r = Sales();
  r.set_segment("key_account");
  r.set_team("ka-east");
  EXPECT_THAT(List(r), ElementsAre("c1", "c2"));
}

TEST_F(ListOwnershipsTest, JoinsTheRangesWithoutScanningTheLargerOne) {
  // 40 more key accounts: the key_account range has 43 entries, POOLED one
  // (c5). The join skips from c1 to c5 in one seek, matches, and ends with
  // the POOLED range: two rounds, where a scan of the key_account range
  // with a check of each record would take 43.
  for (int i = 0; i < 40; ++i) {
    const std::string c = absl::StrFormat("p%02d", i);
    PutCustomer(c, {"key_account"});
    MustCommit(Active(c, "sales", "li.na", "ka-west"));
  }
  std::unique_ptr<OwnershipBook> narrow = MakeBook(2);
  auto r = Sales();
  r.set_state(v1::Ownership::POOLED);
  r.set_segment("key_account");
  auto response = narrow->ListOwnerships(r);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(Customers(*response), ElementsAre("c5"));
  EXPECT_TRUE(response->next_page_token().empty());
  // With one round per call, the first call stops after its seek and the
  // second finds c5.
  std::unique_ptr<OwnershipBook> one = MakeBook(1);
  response = one->ListOwnerships(r);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(Customers(*response), ElementsAre());
  ASSERT_FALSE(response->next_page_token().empty());
  r.set_page_token(response->next_page_token());
  response = one->ListOwnerships(r);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(Customers(*response), ElementsAre("c5"));
}

TEST_F(ListOwnershipsTest, EveryFilterSetPaginatesToTheMatchingCustomers) {
  // 30 more customers whose rep, team, state and segments cycle with
  // different periods, so the filter ranges overlap in irregular ways.
  struct Attributes {
    std::string rep;
    std::string team;
    v1::Ownership::State state;
    std::vector<std::string> segments;
  };
  std::map<std::string, Attributes> book = {
      {"c1", {"zhang.wei", "ka-east", v1::Ownership::ACTIVE, {"key_account"}}},
      {"c2",
       {"li.na", "ka-east", v1::Ownership::ACTIVE, {"key_account", "dormant"}}},
      {"c3", {"zhang.wei", "ka-west", v1::Ownership::ACTIVE, {}}},
      {"c4", {"zhang.wei", "ka-east", v1::Ownership::FROZEN, {"dormant"}}},
      {"c5", {"", "", v1::Ownership::POOLED, {"key_account"}}},
      {"c6", {"li.na", "ka-west", v1::Ownership::ACTIVE, {}}},
  };
  const std::vector<std::string> reps = {"zhang.wei", "li.na", "wang.fang"};
  const std::vector<std::string> teams = {"ka-east", "ka-west"};
  for (int i = 0; i < 30; ++i) {
    const std::string c = absl::StrFormat("m%02d", i);
    Attributes a{reps[i % 3],
                 teams[(i / 2) % 2],
                 i % 5 == 0 ? v1::Ownership::FROZEN : v1::Ownership::ACTIVE,
                 {}};
    if (i % 4 != 1) a.segments.push_back("key_account");
    if (i % 7 < 3) a.segments.push_back("dormant");
    PutCustomer(c, a.segments);
    MustCommit(WithState(Active(c, "sales", a.rep, a.team), a.state));
    book.emplace(c, a);
  }
  int checked = 0;
  for (int mask = 1; mask < 16; ++mask) {
    for (const std::string& rep :
         {std::string("zhang.wei"), std::string("li.na")}) {
      for (const std::string& segment :
           {std::string("key_account"), std::string("dormant")}) {
        auto r = Sales();
        if (mask & 1) r.set_rep(rep);
        if (mask & 2) r.set_team("ka-east");
        if (mask & 4) r.set_state(v1::Ownership::ACTIVE);
        if (mask & 8) r.set_segment(segment);
        std::vector<std::string> want;
        for (const auto& [c, a] : book) {
          if ((mask & 1) && a.rep != rep) continue;
          if ((mask & 2) && a.team != "ka-east") continue;
          if ((mask & 4) && a.state != v1::Ownership::ACTIVE) continue;
          if ((mask & 8) && std::find(a.segments.begin(), a.segments.end(),
                                      segment) == a.segments.end()) {
            continue;
          }
          want.push_back(c);
        }
        for (int64_t max_examined : {1, 2, 3, 10000}) {
          std::unique_ptr<OwnershipBook> b = MakeBook(max_examined);
          for (int32_t page_size : {1, 2, 5, 1000}) {
            auto page_request = r;
            page_request.set_page_size(page_size);
            std::vector<std::string> all;
            for (int pages = 0;; ++pages) {
              ASSERT_LT(pages, 200);
              auto page = b->ListOwnerships(page_request);
              ASSERT_TRUE(page.ok()) << page.status();
              ASSERT_LE(page->ownerships_size(), page_size);
              for (const auto& o : page->ownerships()) {
                all.push_back(o.customer_id());
              }
              if (page->next_page_token().empty()) break;
              page_request.set_page_token(page->next_page_token());
            }
            EXPECT_EQ(all, want) << "mask " << mask << " rep " << rep
                                 << " segment " << segment << " max_examined "
                                 << max_examined << " page_size " << page_size;
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, 15 * 2 * 2 * 4 * 4);
}

TEST_F(ListOwnershipsTest, PaginatesAcrossPages) {
  for (int64_t max_examined : {10000, 1, 2}) {
    std::unique_ptr<OwnershipBook> book = MakeBook(max_examined);
    for (bool filtered : {false, true}) {
      auto r = Sales();
      if (filtered) r.set_segment("key_account");
      r.set_page_size(2);
      std::vector<std::string> all;
      int pages = 0;
      while (true) {
        auto page = book->ListOwnerships(r);
        ASSERT_TRUE(page.ok()) << page.status();
        ASSERT_LE(page->ownerships_size(), 2);
        for (const auto& o : page->ownerships()) all.push_back(o.customer_id());
        ++pages;
        ASSERT_LT(pages, 20);
        if (page->next_page_token().empty()) break;
        r.set_page_token(page->next_page_token());
      }
      if (filtered) {
        EXPECT_THAT(all, ElementsAre("c1", "c2", "c5")) << max_examined;
      } else {
        EXPECT_THAT(all, ElementsAre("c1", "c2", "c3", "c4", "c5", "c6"))
            << max_examined;
      }
      if (max_examined == 10000) {
        // Full pages, and no empty last page.
        EXPECT_EQ(pages, filtered ? 2 : 3);
      }
    }
  }
}

TEST_F(ListOwnershipsTest, DepartmentListingSkipsTheOtherDepartments) {
  // c2 also owned in marketing (before sales) and service (after), c4 and c6
  // in service: the department-only listing reads every record and must
  // neither skip nor repeat one at a page boundary.
  MustCommit(Active("c2", "marketing", "zhang.wei", "mkt-cn"));
  MustCommit(Active("c2", "service", "li.na", "service-cn"));
  MustCommit(Active("c4", "service", "li.na", "service-cn"));
  MustCommit(Active("c6", "service", "zhang.wei", "service-cn"));
  const std::vector<std::pair<std::string, std::vector<std::string>>> want = {
      {"sales", {"c1", "c2", "c3", "c4", "c5", "c6"}},
      {"service", {"c2", "c4", "c6", "c7"}},
      {"marketing", {"c2"}},
      {"legal", {}},
  };
  for (int64_t max_examined : {10000, 1, 3}) {
    std::unique_ptr<OwnershipBook> book = MakeBook(max_examined);
    for (int32_t page_size : {1, 2, 3, 1000}) {
      for (const auto& [department, customers] : want) {
        v1::ListOwnershipsRequest r;
        r.set_department(department);
        r.set_page_size(page_size);
        std::vector<std::string> all;
        int pages = 0;
        while (true) {
          auto page = book->ListOwnerships(r);
          ASSERT_TRUE(page.ok()) << page.status();
          const int64_t limit = std::min<int64_t>(page_size, max_examined);
          ASSERT_LE(page->ownerships_size(), limit);
          for (const auto& o : page->ownerships()) {
            EXPECT_EQ(o.department(), department);
            all.push_back(o.customer_id());
          }
          ++pages;
          ASSERT_LT(pages, 20);
          if (page->next_page_token().empty()) break;
          // Every page but the last is full.
          EXPECT_EQ(page->ownerships_size(), limit);
          r.set_page_token(page->next_page_token());
        }
        EXPECT_EQ(all, customers) << department << " page_size " << page_size
                                  << " max_examined " << max_examined;
      }
    }
  }
}

TEST_F(ListOwnershipsTest, RejectsBadRequestsNamingTheField) {
  auto r = Sales();
  r.set_page_size(2);
  auto first = book_->ListOwnerships(r);
  ASSERT_TRUE(first.ok());
  ASSERT_FALSE(first->next_page_token().empty());

  std::string tampered = first->next_page_token();
  tampered[tampered.size() / 2] =
      tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  r.set_page_token(tampered);
  auto s = book_->ListOwnerships(r).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(BadFields(s), ElementsAre("page_token"));

  // A token of another filter.
  r.set_page_token(first->next_page_token());
  r.set_rep("zhang.wei");
  EXPECT_THAT(BadFields(book_->ListOwnerships(r).status()),
              ElementsAre("page_token"));

  r = Sales();
  r.set_page_size(-1);
  s = book_->ListOwnerships(r).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("page_size: must not be negative"));

  v1::ListOwnershipsRequest none;
  s = book_->ListOwnerships(none).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("department: is required"));

  r = Sales();
  r.set_team("Bad Team");
  r.set_rep("bad rep");
  r.set_state(static_cast<v1::Ownership::State>(42));
  r.set_segment("Bad");
  EXPECT_THAT(BadFields(book_->ListOwnerships(r).status()),
              ElementsAre("team", "rep", "state", "segment"));
}

class OwnershipEventsTest : public BookTest {
 protected:
  void SetUp() override {
    BookTest::SetUp();
    PutCustomer("c1", {});
    PutCustomer("c2", {});
    // seq 1 @T0: sales zhang.wei by rule east v1.
    MustCommit(Active("c1", "sales", "zhang.wei", "ka-east", "east", 1));
    clock_.Advance(absl::Minutes(30));
    // seq 2 @T0+30m: service wu.xia; seq 3: another customer.
    MustCommit(Active("c1", "service", "wu.xia", "service-cn", "svc", 1));
    MustCommit(Active("c2", "sales", "li.na", "ka-east"));
    clock_.Advance(absl::Minutes(30));
    // seq 4 @T0+1h: sales li.na by rule north v2.
    ChangeSpec drift = Active("c1", "sales", "li.na", "ka-north", "north", 2);
    drift.reason = "drift: moved";
    MustCommit(drift);
    clock_.Advance(absl::Hours(1));
    // seq 5 @T0+2h: sales to the pool.
    MustCommit(Pooled("c1", "sales", "east-pool"));
  }

  v1::ListOwnershipEventsResponse Events(v1::ListOwnershipEventsRequest r) {
    auto response = book_->ListOwnershipEvents(r);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : v1::ListOwnershipEventsResponse();
  }
  static v1::ListOwnershipEventsRequest C1() {
    v1::ListOwnershipEventsRequest r;
    r.set_customer_id("c1");
    return r;
  }
  static v1::ListOwnershipEventsRequest AsOf(absl::Time t,
                                             const std::string& dept = "") {
    v1::ListOwnershipEventsRequest r = C1();
    *r.mutable_as_of() = Ts(t);
    r.set_department(dept);
    return r;
  }
};

TEST_F(OwnershipEventsTest, HistoryIsOldestFirstAcrossDepartments) {
  v1::ListOwnershipEventsResponse all = Events(C1());
  EXPECT_THAT(Sequences(all), ElementsAre(1, 2, 4, 5));
  EXPECT_TRUE(all.next_page_token().empty());
  EXPECT_EQ(all.events(2).before().rep(), "zhang.wei");
  EXPECT_EQ(all.events(2).after().rep(), "li.na");

  auto sales = C1();
  sales.set_department("sales");
  EXPECT_THAT(Sequences(Events(sales)), ElementsAre(1, 4, 5));
  sales.set_department("marketing");
  EXPECT_THAT(Sequences(Events(sales)), ElementsAre());
}

TEST_F(OwnershipEventsTest, Paginates) {
  auto r = C1();
  r.set_page_size(3);
  v1::ListOwnershipEventsResponse first = Events(r);
  EXPECT_THAT(Sequences(first), ElementsAre(1, 2, 4));
  ASSERT_FALSE(first.next_page_token().empty());
  r.set_page_token(first.next_page_token());
  v1::ListOwnershipEventsResponse second = Events(r);
  EXPECT_THAT(Sequences(second), ElementsAre(5));
  EXPECT_TRUE(second.next_page_token().empty());

  r = C1();
  r.set_page_size(2);
  r.set_department("sales");
  first = Events(r);
  EXPECT_THAT(Sequences(first), ElementsAre(1, 4));
  r.set_page_token(first.next_page_token());
  second = Events(r);
  EXPECT_THAT(Sequences(second), ElementsAre(5));
  EXPECT_TRUE(second.next_page_token().empty());
}

TEST_F(OwnershipEventsTest, AsOfAnswersWhoOwnedItThenAndWhy) {
  // Before the first event: nothing.
  EXPECT_THAT(Sequences(Events(AsOf(T0() - absl::Microseconds(1)))),
              ElementsAre());
  // Exactly at the first event.
  EXPECT_THAT(Sequences(Events(AsOf(T0()))), ElementsAre(1));
  // Between events.
  EXPECT_THAT(Sequences(Events(AsOf(T0() + absl::Minutes(45)))),
              ElementsAre(1, 2));
  // Exactly at the drift.
  v1::ListOwnershipEventsResponse at = Events(AsOf(T0() + absl::Hours(1)));
  ASSERT_THAT(Sequences(at), ElementsAre(2, 4));
  const v1::Ownership& then = at.events(1).after();
  EXPECT_EQ(then.rep(), "li.na");
  EXPECT_EQ(then.rule_id(), "north");
  EXPECT_EQ(then.ruleset_version(), 2);
  EXPECT_EQ(at.events(1).reason(), "drift: moved");
  // Just before the drift: still zhang.wei under east v1.
  at = Events(AsOf(T0() + absl::Hours(1) - absl::Microseconds(1)));
  ASSERT_THAT(Sequences(at), ElementsAre(1, 2));
  EXPECT_EQ(at.events(0).after().rep(), "zhang.wei");
  EXPECT_EQ(at.events(0).after().rule_id(), "east");
  // After the last event.
  EXPECT_THAT(Sequences(Events(AsOf(T0() + absl::Hours(100)))),
              ElementsAre(2, 5));
  // Per department.
  EXPECT_THAT(Sequences(Events(AsOf(T0() + absl::Minutes(10), "service"))),
              ElementsAre());
  EXPECT_THAT(Sequences(Events(AsOf(T0() + absl::Minutes(30), "service"))),
              ElementsAre(2));
  EXPECT_THAT(Sequences(Events(AsOf(T0() + absl::Hours(3), "sales"))),
              ElementsAre(5));
  // Paginated.
  auto r = AsOf(T0() + absl::Hours(3));
  r.set_page_size(1);
  v1::ListOwnershipEventsResponse first = Events(r);
  EXPECT_THAT(Sequences(first), ElementsAre(2));
  r.set_page_token(first.next_page_token());
  v1::ListOwnershipEventsResponse second = Events(r);
  EXPECT_THAT(Sequences(second), ElementsAre(5));
  EXPECT_TRUE(second.next_page_token().empty());
}

TEST_F(OwnershipEventsTest, RejectsBadRequestsAndUnknownCustomers) {
  v1::ListOwnershipEventsRequest r;
  r.set_customer_id("nobody");
  auto s = book_->ListOwnershipEvents(r).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("customer \"nobody\""));

  r.set_customer_id("");
  r.set_department("Bad");
  r.mutable_as_of()->set_nanos(-1);
  r.set_page_size(-5);
  EXPECT_THAT(BadFields(book_->ListOwnershipEvents(r).status()),
              ElementsAre("customer_id", "department", "as_of", "page_size"));

  r = C1();
  r.set_page_size(1);
  v1::ListOwnershipEventsResponse first = Events(r);
  // The token is bound to its listing: another department or an as_of is
  // another listing.
  r.set_page_token(first.next_page_token());
  r.set_department("sales");
  EXPECT_THAT(BadFields(book_->ListOwnershipEvents(r).status()),
              ElementsAre("page_token"));
  r.set_department("");
  r.set_page_token("garbage");
  EXPECT_THAT(BadFields(book_->ListOwnershipEvents(r).status()),
              ElementsAre("page_token"));
}

}  // namespace
}  // namespace custodian::server
