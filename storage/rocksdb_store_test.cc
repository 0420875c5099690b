#include "storage/rocksdb_store.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "rocksdb/merge_operator.h"
#include "storage/crash_writer.h"
#include "storage/keys.h"
#include "storage/store.h"

namespace custodian::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

#define ASSERT_OK(expr) ASSERT_TRUE((expr).ok()) << (expr)
#define EXPECT_OK(expr) EXPECT_TRUE((expr).ok()) << (expr)

class RocksDbStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/custodian_storage_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/data";
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(root_);
  }

  RocksDbStoreOptions Options(bool sync = false) {
    RocksDbStoreOptions o;
    o.data_dir = dir_;
    o.sync_writes = sync;
    o.block_cache_bytes = 8 << 20;
    o.write_buffer_bytes = 16 << 20;
    return o;
  }

  void OpenStore(bool sync = false) {
    store_.reset();
    absl::StatusOr<std::unique_ptr<Store>> s =
        RocksDbStore::Open(Options(sync));
    ASSERT_OK(s.status());
    store_ = std::move(*s);
  }

  std::unique_ptr<Transaction> Begin(TxnOptions o = {}) {
    absl::StatusOr<std::unique_ptr<Transaction>> t = store_->Begin(o);
    EXPECT_OK(t.status());
    return t.ok() ? std::move(*t) : nullptr;
  }

  std::unique_ptr<Snapshot> Snap() {
    absl::StatusOr<std::unique_ptr<Snapshot>> s = store_->NewSnapshot();
    EXPECT_OK(s.status());
    return s.ok() ? std::move(*s) : nullptr;
  }

  // The committed value of `key`, or "<absent>".
  std::string Read(Table t, absl::string_view key) {
    std::string v;
    absl::Status s = Snap()->Get(t, key, &v);
    if (absl::IsNotFound(s)) return "<absent>";
    EXPECT_OK(s);
    return v;
  }

  int64_t Counter(absl::string_view key) {
    absl::StatusOr<int64_t> v = Snap()->GetCounter(key);
    EXPECT_OK(v.status());
    return v.value_or(-999);
  }

  absl::Status PutOne(Table t, absl::string_view key, absl::string_view value) {
    return RunInTransaction(
        *store_, [&](Transaction& txn) { return txn.Put(t, key, value); });
  }

  std::vector<std::string> Keys(Table t, absl::string_view prefix,
                                const ScanOptions& o = {}) {
    std::vector<std::string> keys;
    std::unique_ptr<Snapshot> snap = Snap();
    std::unique_ptr<ScanIterator> it = snap->Scan(t, prefix, o);
    for (; it->Valid(); it->Next()) keys.emplace_back(it->key());
    EXPECT_OK(it->status());
    return keys;
  }

  std::string root_;
  std::string dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(RocksDbStoreTest, CommitWritesEveryTableTogether) {
  OpenStore(/*sync=*/true);
  std::unique_ptr<Transaction> txn = Begin();
  ASSERT_OK(txn->Put(Table::kCustomers, "c1", "attrs"));
  ASSERT_OK(txn->Put(Table::kOwnerships, "c1/sales", "rep-a"));
  ASSERT_OK(txn->Put(Table::kEvents, "e1", "assigned"));
  ASSERT_OK(txn->AddToCounter("owned/rep-a/sales", 1));
  // Nothing is visible before the commit.
  EXPECT_EQ(Read(Table::kCustomers, "c1"), "<absent>");
  EXPECT_EQ(Counter("owned/rep-a/sales"), 0);
  ASSERT_OK(txn->Commit());
  EXPECT_EQ(Read(Table::kCustomers, "c1"), "attrs");
  EXPECT_EQ(Read(Table::kOwnerships, "c1/sales"), "rep-a");
  EXPECT_EQ(Read(Table::kEvents, "e1"), "assigned");
  EXPECT_EQ(Counter("owned/rep-a/sales"), 1);
  // Tables are separate key spaces.
  EXPECT_EQ(Read(Table::kOwnerships, "c1"), "<absent>");
}

TEST_F(RocksDbStoreTest, RollbackLeavesNothing) {
  OpenStore();
  std::unique_ptr<Transaction> txn = Begin();
  ASSERT_OK(txn->Put(Table::kCustomers, "c1", "attrs"));
  ASSERT_OK(txn->AddToCounter("n", 5));
  txn->Rollback();
  EXPECT_EQ(txn->Commit().code(), absl::StatusCode::kFailedPrecondition);
  txn.reset();
  {
    std::unique_ptr<Transaction> dropped = Begin();
    ASSERT_OK(dropped->Put(Table::kCustomers, "c2", "attrs"));
  }  // destroyed without commit
  EXPECT_EQ(Read(Table::kCustomers, "c1"), "<absent>");
  EXPECT_EQ(Read(Table::kCustomers, "c2"), "<absent>");
  EXPECT_EQ(Counter("n"), 0);
}

// A miss is NOT_FOUND naming the table, from every reader, each time.
TEST_F(RocksDbStoreTest, AMissNamesItsTable) {
  OpenStore();
  std::unique_ptr<Transaction> txn = Begin();
  std::string v;
  for (int i = 0; i < 2; ++i) {
    absl::Status get = txn->Get(Table::kCustomers, "nobody", &v);
    EXPECT_EQ(get.code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(get.message(), "customers: no such key");
    absl::Status locked = txn->GetForUpdate(Table::kIndexes, "nothing", &v);
    EXPECT_EQ(locked.code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(locked.message(), "indexes: no such key");
  }
  txn->Rollback();
  absl::StatusOr<std::unique_ptr<Snapshot>> snapshot = store_->NewSnapshot();
  ASSERT_OK(snapshot.status());
  absl::Status read = (*snapshot)->Get(Table::kAudit, "none", &v);
  EXPECT_EQ(read.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(read.message(), "audit: no such key");
}

TEST_F(RocksDbStoreTest, AbortedTransactionLeavesNothing) {
  OpenStore();
  std::unique_ptr<Transaction> loser = Begin();
  ASSERT_OK(loser->Put(Table::kCustomers, "c1", "loser"));
  ASSERT_OK(loser->Put(Table::kEvents, "e-loser", "event"));
  ASSERT_OK(loser->AddToCounter("n", 1));
  // Another transaction commits "k" after loser's snapshot.
  ASSERT_OK(PutOne(Table::kOwnerships, "k", "winner"));
  std::string v;
  absl::Status s = loser->GetForUpdate(Table::kOwnerships, "k", &v);
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  // The transaction cannot be saved: further writes and the commit fail.
  EXPECT_EQ(loser->Put(Table::kCustomers, "c3", "x").code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(loser->Commit().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(Read(Table::kCustomers, "c1"), "<absent>");
  EXPECT_EQ(Read(Table::kEvents, "e-loser"), "<absent>");
  EXPECT_EQ(Counter("n"), 0);
  EXPECT_EQ(Read(Table::kOwnerships, "k"), "winner");
}

TEST_F(RocksDbStoreTest, SecondLockerOfAKeyIsAbortedAfterLockTimeout) {
  OpenStore();
  ASSERT_OK(PutOne(Table::kOwnerships, "k", "v0"));
  TxnOptions short_wait;
  short_wait.lock_timeout = absl::Milliseconds(20);
  std::unique_ptr<Transaction> a = Begin(short_wait);
  std::unique_ptr<Transaction> b = Begin(short_wait);
  std::string v;
  ASSERT_OK(a->GetForUpdate(Table::kOwnerships, "k", &v));
  EXPECT_EQ(v, "v0");
  absl::Status s = b->GetForUpdate(Table::kOwnerships, "k", &v);
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_THAT(s.message(), HasSubstr("lock wait timed out"));
  ASSERT_OK(a->Put(Table::kOwnerships, "k", "a"));
  EXPECT_EQ(b->Put(Table::kOwnerships, "k", "b").code(),
            absl::StatusCode::kAborted);
  EXPECT_OK(a->Commit());
  EXPECT_EQ(b->Commit().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(Read(Table::kOwnerships, "k"), "a");
}

TEST_F(RocksDbStoreTest, KeyWrittenAfterSnapshotConflicts) {
  OpenStore();
  std::unique_ptr<Transaction> a = Begin();
  std::unique_ptr<Transaction> b = Begin();
  std::string v;
  // Both read the key (it does not exist yet) and decide to write it.
  EXPECT_TRUE(absl::IsNotFound(a->Get(Table::kOwnerships, "k", &v)));
  EXPECT_TRUE(absl::IsNotFound(b->Get(Table::kOwnerships, "k", &v)));
  ASSERT_OK(a->Put(Table::kOwnerships, "k", "a"));
  ASSERT_OK(a->Commit());
  absl::Status s = b->GetForUpdate(Table::kOwnerships, "k", &v);
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_THAT(s.message(), HasSubstr("after this one started"));
  EXPECT_EQ(b->Commit().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(Read(Table::kOwnerships, "k"), "a");
}

TEST_F(RocksDbStoreTest, WithoutSnapshotGetForUpdateReadsTheLatestCommit) {
  OpenStore();
  TxnOptions locking;
  locking.snapshot = false;
  std::unique_ptr<Transaction> a = Begin();
  std::unique_ptr<Transaction> b = Begin(locking);
  std::string v;
  // The same race as KeyWrittenAfterSnapshotConflicts: without a snapshot,
  // b's lock-then-read sees a's commit instead of aborting.
  EXPECT_TRUE(absl::IsNotFound(b->Get(Table::kOwnerships, "k", &v)));
  ASSERT_OK(a->Put(Table::kOwnerships, "k", "a"));
  ASSERT_OK(a->Commit());
  ASSERT_OK(b->GetForUpdate(Table::kOwnerships, "k", &v));
  EXPECT_EQ(v, "a");
  ASSERT_OK(b->Put(Table::kOwnerships, "k", v + "b"));
  // Plain reads see the latest commit too.
  ASSERT_OK(PutOne(Table::kRoster, "r", "later"));
  ASSERT_OK(b->Get(Table::kRoster, "r", &v));
  EXPECT_EQ(v, "later");
  ASSERT_OK(b->Commit());
  EXPECT_EQ(Read(Table::kOwnerships, "k"), "ab");
}

TEST_F(RocksDbStoreTest, WithoutSnapshotLockedReadModifyWriteLosesNoUpdate) {
  OpenStore();
  constexpr int kThreads = 4, kPerThread = 50;
  TxnOptions locking;
  locking.snapshot = false;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < kPerThread; ++j) {
        absl::Status s = RunInTransaction(
            *store_, locking,
            [](Transaction& txn) -> absl::Status {
              std::string v = "0";
              absl::Status g = txn.GetForUpdate(Table::kRoster, "cursor", &v);
              if (!g.ok() && !absl::IsNotFound(g)) return g;
              int n = 0;
              if (!absl::SimpleAtoi(v, &n)) return absl::InternalError(v);
              return txn.Put(Table::kRoster, "cursor", absl::StrCat(n + 1));
            },
            /*max_attempts=*/100);
        if (!s.ok()) failures++;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Read(Table::kRoster, "cursor"),
            absl::StrCat(kThreads * kPerThread));
}

TEST_F(RocksDbStoreTest, UnlockedWritesCommitAtomicallyWithoutLocking) {
  OpenStore();
  ASSERT_OK(PutOne(Table::kIndexes, "old", "x"));
  TxnOptions no_wait;
  no_wait.lock_timeout = absl::ZeroDuration();
  std::unique_ptr<Transaction> a = Begin(no_wait);
  std::unique_ptr<Transaction> b = Begin(no_wait);
  ASSERT_OK(a->PutUnlocked(Table::kEvents, "e1", "event"));
  ASSERT_OK(a->DeleteUnlocked(Table::kIndexes, "old"));
  ASSERT_OK(a->Put(Table::kOwnerships, "o", "owner"));
  // a's own reads see them.
  std::string v;
  ASSERT_OK(a->Get(Table::kEvents, "e1", &v));
  EXPECT_EQ(v, "event");
  EXPECT_TRUE(absl::IsNotFound(a->Get(Table::kIndexes, "old", &v)));
  // They took no lock: b can lock the same keys at once.
  EXPECT_TRUE(absl::IsNotFound(b->GetForUpdate(Table::kEvents, "e1", &v)));
  ASSERT_OK(b->GetForUpdate(Table::kIndexes, "old", &v));
  b->Rollback();
  // Nothing is visible before the commit; everything after it.
  EXPECT_EQ(Read(Table::kEvents, "e1"), "<absent>");
  EXPECT_EQ(Read(Table::kIndexes, "old"), "x");
  ASSERT_OK(a->Commit());
  EXPECT_EQ(Read(Table::kEvents, "e1"), "event");
  EXPECT_EQ(Read(Table::kIndexes, "old"), "<absent>");
  EXPECT_EQ(Read(Table::kOwnerships, "o"), "owner");
  // A rolled-back transaction's unlocked writes are gone.
  std::unique_ptr<Transaction> c = Begin();
  ASSERT_OK(c->PutUnlocked(Table::kEvents, "e2", "lost"));
  c->Rollback();
  EXPECT_EQ(Read(Table::kEvents, "e2"), "<absent>");
  // The same argument checks as Put and Delete.
  std::unique_ptr<Transaction> d = Begin();
  EXPECT_EQ(d->PutUnlocked(Table::kCounters, "n", "1").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d->PutUnlocked(Table::kEvents, "", "1").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d->DeleteUnlocked(Table::kEvents, "").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d->PutUnlocked(static_cast<Table>(99), "k", "1").code(),
            absl::StatusCode::kInvalidArgument);
  d->Rollback();
  EXPECT_EQ(d->PutUnlocked(Table::kEvents, "k", "1").code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(RocksDbStoreTest, WriteOnlyWritesCommitInOrderWithoutLocking) {
  OpenStore();
  ASSERT_OK(PutOne(Table::kIndexes, "old", "x"));
  TxnOptions no_wait;
  no_wait.lock_timeout = absl::ZeroDuration();
  std::unique_ptr<Transaction> a = Begin(no_wait);
  std::unique_ptr<Transaction> b = Begin(no_wait);
  ASSERT_OK(a->PutWriteOnly(Table::kEvents, "e1", "event"));
  ASSERT_OK(a->DeleteWriteOnly(Table::kIndexes, "old"));
  ASSERT_OK(a->Put(Table::kOwnerships, "o", "owner"));
  // The batch keeps its order across kinds of write: the last one wins.
  ASSERT_OK(a->PutUnlocked(Table::kAudit, "k", "first"));
  ASSERT_OK(a->PutWriteOnly(Table::kAudit, "k", "second"));
  ASSERT_OK(a->PutWriteOnly(Table::kAudit, "gone", "1"));
  ASSERT_OK(a->DeleteWriteOnly(Table::kAudit, "gone"));
  // They took no lock: b can lock the same keys at once.
  std::string v;
  EXPECT_TRUE(absl::IsNotFound(b->GetForUpdate(Table::kEvents, "e1", &v)));
  ASSERT_OK(b->GetForUpdate(Table::kIndexes, "old", &v));
  b->Rollback();
  EXPECT_EQ(Read(Table::kEvents, "e1"), "<absent>");
  EXPECT_EQ(Read(Table::kIndexes, "old"), "x");
  ASSERT_OK(a->Commit());
  EXPECT_EQ(Read(Table::kEvents, "e1"), "event");
  EXPECT_EQ(Read(Table::kIndexes, "old"), "<absent>");
  EXPECT_EQ(Read(Table::kOwnerships, "o"), "owner");
  EXPECT_EQ(Read(Table::kAudit, "k"), "second");
  EXPECT_EQ(Read(Table::kAudit, "gone"), "<absent>");

  // A rollback, and a rollback to a savepoint, discard them.
  std::unique_ptr<Transaction> c = Begin();
  ASSERT_OK(c->PutWriteOnly(Table::kEvents, "e2", "lost"));
  c->Rollback();
  EXPECT_EQ(Read(Table::kEvents, "e2"), "<absent>");
  std::unique_ptr<Transaction> d = Begin();
  ASSERT_OK(d->PutWriteOnly(Table::kEvents, "kept", "1"));
  ASSERT_OK(d->SetSavePoint());
  ASSERT_OK(d->PutWriteOnly(Table::kEvents, "undone", "2"));
  ASSERT_OK(d->DeleteWriteOnly(Table::kEvents, "e1"));
  ASSERT_OK(d->RollbackToSavePoint());
  ASSERT_OK(d->PutWriteOnly(Table::kEvents, "after", "3"));
  ASSERT_OK(d->Commit());
  EXPECT_EQ(Read(Table::kEvents, "kept"), "1");
  EXPECT_EQ(Read(Table::kEvents, "undone"), "<absent>");
  EXPECT_EQ(Read(Table::kEvents, "e1"), "event");
  EXPECT_EQ(Read(Table::kEvents, "after"), "3");

  // The same argument checks as PutUnlocked and DeleteUnlocked.
  std::unique_ptr<Transaction> e = Begin();
  EXPECT_EQ(e->PutWriteOnly(Table::kCounters, "n", "1").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e->PutWriteOnly(Table::kEvents, "", "1").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e->DeleteWriteOnly(Table::kEvents, "").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e->PutWriteOnly(static_cast<Table>(99), "k", "1").code(),
            absl::StatusCode::kInvalidArgument);
  e->Rollback();
  EXPECT_EQ(e->PutWriteOnly(Table::kEvents, "k", "1").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(e->DeleteWriteOnly(Table::kEvents, "k").code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(RocksDbStoreTest, WriteOnlyCounterAddsCommitWithTheRest) {
  OpenStore();
  {
    std::unique_ptr<Transaction> t = Begin();
    ASSERT_OK(t->AddToCounter("n", 10));
    ASSERT_OK(t->Commit());
  }
  // Mixed with indexed adds of the same counter, all apply; concurrent
  // transactions adding to it do not conflict.
  std::unique_ptr<Transaction> a = Begin();
  std::unique_ptr<Transaction> b = Begin();
  ASSERT_OK(a->AddToCounterWriteOnly("n", 5));
  ASSERT_OK(a->AddToCounter("n", 1));
  ASSERT_OK(a->AddToCounterWriteOnly("m", -2));
  ASSERT_OK(b->AddToCounterWriteOnly("n", 100));
  EXPECT_EQ(Counter("n"), 10);
  ASSERT_OK(b->Commit());
  ASSERT_OK(a->Commit());
  EXPECT_EQ(Counter("n"), 116);
  EXPECT_EQ(Counter("m"), -2);

  // A rollback, and a rollback to a savepoint, discard them.
  std::unique_ptr<Transaction> c = Begin();
  ASSERT_OK(c->AddToCounterWriteOnly("n", 1000));
  c->Rollback();
  EXPECT_EQ(Counter("n"), 116);
  std::unique_ptr<Transaction> d = Begin();
  ASSERT_OK(d->AddToCounterWriteOnly("n", 1));
  ASSERT_OK(d->SetSavePoint());
  ASSERT_OK(d->AddToCounterWriteOnly("n", 20));
  ASSERT_OK(d->AddToCounterWriteOnly("m", 20));
  ASSERT_OK(d->RollbackToSavePoint());
  ASSERT_OK(d->AddToCounterWriteOnly("m", 3));
  ASSERT_OK(d->Commit());
  EXPECT_EQ(Counter("n"), 117);
  EXPECT_EQ(Counter("m"), 1);

  // The same argument checks as AddToCounter.
  std::unique_ptr<Transaction> e = Begin();
  EXPECT_EQ(e->AddToCounterWriteOnly("", 1).code(),
            absl::StatusCode::kInvalidArgument);
  e->Rollback();
  EXPECT_EQ(e->AddToCounterWriteOnly("n", 1).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Counter("n"), 117);
}

TEST_F(RocksDbStoreTest, WriteOnlyAddsOfOneCounterCommitAsOneMerge) {
  OpenStore();
  // As a BatchAssign chunk adds: a savepoint per item, some items undone.
  {
    std::unique_ptr<Transaction> t = Begin();
    for (int i = 0; i < 100; ++i) {
      ASSERT_OK(t->SetSavePoint());
      ASSERT_OK(t->AddToCounterWriteOnly("hot", 2));
      ASSERT_OK(t->AddToCounterWriteOnly(absl::StrCat("cold", i % 3), 1));
      if (i % 10 == 9) {
        ASSERT_OK(t->RollbackToSavePoint());
      }
    }
    ASSERT_OK(t->AddToCounterWriteOnly("zero", 5));
    ASSERT_OK(t->AddToCounterWriteOnly("zero", -5));
    ASSERT_OK(t->Commit());
  }
  EXPECT_EQ(Counter("hot"), 180);
  EXPECT_EQ(Counter("cold0") + Counter("cold1") + Counter("cold2"), 90);
  EXPECT_EQ(Counter("cold0"), 30);  // i = 9, 39, 69, 99 undone: i % 3 == 0
  EXPECT_EQ(Counter("zero"), 0);

  // What reached the write-ahead log: one operand per counter, none for a
  // sum of 0.
  store_.reset();
  struct Concat : rocksdb::AssociativeMergeOperator {
    bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing,
               const rocksdb::Slice& value, std::string* out,
               rocksdb::Logger*) const override {
      *out = existing == nullptr ? value.ToString()
                                 : existing->ToString() + value.ToString();
      return true;
    }
    const char* Name() const override { return "Concat"; }
  };
  std::vector<std::string> names;
  ASSERT_TRUE(
      rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir_, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const std::string& n : names) {
    rocksdb::ColumnFamilyOptions o;
    o.merge_operator = std::make_shared<Concat>();
    cfs.emplace_back(n, o);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), dir_, cfs,
                                           &handles, &raw)
                  .ok());
  rocksdb::ColumnFamilyHandle* counters = nullptr;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == TableName(Table::kCounters)) counters = handles[i];
  }
  ASSERT_NE(counters, nullptr);
  auto operands = [&](const std::string& key) {
    std::vector<rocksdb::PinnableSlice> slices(200);
    rocksdb::GetMergeOperandsOptions options;
    options.expected_max_number_of_operands = 200;
    int n = -1;
    rocksdb::Status s = raw->GetMergeOperands(rocksdb::ReadOptions(), counters,
                                              key, slices.data(), &options, &n);
    std::vector<std::string> out;
    if (!s.ok()) {
      out.push_back(s.ToString());
      return out;
    }
    for (int i = 0; i < n; ++i) out.push_back(slices[i].ToString());
    return out;
  };
  EXPECT_THAT(operands("hot"), ElementsAre(EncodeCounter(180)));
  EXPECT_THAT(operands("cold1"), ElementsAre(EncodeCounter(30)));
  EXPECT_THAT(operands("zero"), ElementsAre("NotFound: "));
  for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
  delete raw;
}

TEST_F(RocksDbStoreTest, DeleteOfACounterVoidsItsEarlierWriteOnlyAdds) {
  OpenStore();
  {
    std::unique_ptr<Transaction> t = Begin();
    ASSERT_OK(t->AddToCounter("a", 7));
    ASSERT_OK(t->AddToCounter("b", 7));
    ASSERT_OK(t->AddToCounter("c", 7));
    ASSERT_OK(t->Commit());
  }
  std::unique_ptr<Transaction> t = Begin();
  // Add, delete, add: only the last add counts.
  ASSERT_OK(t->AddToCounterWriteOnly("a", 100));
  ASSERT_OK(t->DeleteWriteOnly(Table::kCounters, "a"));
  ASSERT_OK(t->AddToCounterWriteOnly("a", 3));
  // A delete after a savepoint, rolled back: the add before it counts.
  ASSERT_OK(t->AddToCounterWriteOnly("b", 10));
  ASSERT_OK(t->SetSavePoint());
  ASSERT_OK(t->Delete(Table::kCounters, "b"));
  ASSERT_OK(t->AddToCounterWriteOnly("b", 1000));
  ASSERT_OK(t->RollbackToSavePoint());
  // The same, kept: the delete wins over the add before it.
  ASSERT_OK(t->AddToCounterWriteOnly("c", 10));
  ASSERT_OK(t->SetSavePoint());
  ASSERT_OK(t->DeleteUnlocked(Table::kCounters, "c"));
  ASSERT_OK(t->Commit());
  EXPECT_EQ(Counter("a"), 3);
  EXPECT_EQ(Counter("b"), 17);
  EXPECT_EQ(Counter("c"), 0);
  EXPECT_EQ(Read(Table::kCounters, "c"), "<absent>");
}

TEST_F(RocksDbStoreTest, WriteOnlyAddsWrapAroundAsTheMergeDoes) {
  OpenStore();
  std::unique_ptr<Transaction> t = Begin();
  ASSERT_OK(t->AddToCounterWriteOnly("w", INT64_MAX));
  ASSERT_OK(t->SetSavePoint());
  ASSERT_OK(t->AddToCounterWriteOnly("w", INT64_MIN));
  ASSERT_OK(t->AddToCounterWriteOnly("w", 2));
  ASSERT_OK(t->RollbackToSavePoint());
  ASSERT_OK(t->AddToCounterWriteOnly("w", 1));
  ASSERT_OK(t->Commit());
  EXPECT_EQ(Counter("w"), INT64_MIN);
}

TEST_F(RocksDbStoreTest, RollbackToSavePointUndoesOnlyWhatFollowedIt) {
  OpenStore();
  ASSERT_OK(PutOne(Table::kIndexes, "gone-later", "x"));
  std::unique_ptr<Transaction> t = Begin();
  EXPECT_EQ(t->RollbackToSavePoint().code(), absl::StatusCode::kNotFound);
  ASSERT_OK(t->Put(Table::kOwnerships, "kept", "1"));
  ASSERT_OK(t->AddToCounter("n", 1));
  ASSERT_OK(t->SetSavePoint());
  ASSERT_OK(t->Put(Table::kOwnerships, "undone", "2"));
  ASSERT_OK(t->PutUnlocked(Table::kEvents, "e", "3"));
  ASSERT_OK(t->DeleteUnlocked(Table::kIndexes, "gone-later"));
  ASSERT_OK(t->AddToCounter("n", 10));
  ASSERT_OK(t->SetSavePoint());  // nested
  ASSERT_OK(t->Put(Table::kOwnerships, "inner", "4"));
  ASSERT_OK(t->RollbackToSavePoint());
  std::string v;
  EXPECT_TRUE(absl::IsNotFound(t->Get(Table::kOwnerships, "inner", &v)));
  ASSERT_OK(t->Get(Table::kOwnerships, "undone", &v));  // outer mark kept
  ASSERT_OK(t->RollbackToSavePoint());
  EXPECT_TRUE(absl::IsNotFound(t->Get(Table::kOwnerships, "undone", &v)));
  EXPECT_EQ(*t->GetCounter("n"), 1);
  ASSERT_OK(t->Put(Table::kOwnerships, "after", "5"));
  ASSERT_OK(t->Commit());
  EXPECT_EQ(Read(Table::kOwnerships, "kept"), "1");
  EXPECT_EQ(Read(Table::kOwnerships, "after"), "5");
  EXPECT_EQ(Read(Table::kOwnerships, "undone"), "<absent>");
  EXPECT_EQ(Read(Table::kOwnerships, "inner"), "<absent>");
  EXPECT_EQ(Read(Table::kEvents, "e"), "<absent>");
  EXPECT_EQ(Read(Table::kIndexes, "gone-later"), "x");
  std::unique_ptr<Snapshot> snap = Snap();
  EXPECT_EQ(*snap->GetCounter("n"), 1);
  snap.reset();
  EXPECT_EQ(t->SetSavePoint().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(t->RollbackToSavePoint().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(RocksDbStoreTest, DeadlockIsDetectedAndAborted) {
  OpenStore();
  TxnOptions long_wait;
  long_wait.lock_timeout = absl::Seconds(30);
  std::unique_ptr<Transaction> a = Begin(long_wait);
  std::unique_ptr<Transaction> b = Begin(long_wait);
  std::string v;
  ASSERT_TRUE(absl::IsNotFound(a->GetForUpdate(Table::kRoster, "x", &v)));
  ASSERT_TRUE(absl::IsNotFound(b->GetForUpdate(Table::kRoster, "y", &v)));
  absl::Status sa;
  std::thread t([&] {
    std::string w;
    sa = a->GetForUpdate(Table::kRoster, "y", &w);
    if (absl::IsAborted(sa)) a->Rollback();
  });
  absl::Status sb = b->GetForUpdate(Table::kRoster, "x", &v);
  if (absl::IsAborted(sb)) b->Rollback();
  t.join();
  // Exactly one of them was chosen as the victim; the other got its lock.
  EXPECT_NE(absl::IsAborted(sa), absl::IsAborted(sb)) << sa << " / " << sb;
  absl::Status victim = absl::IsAborted(sa) ? sa : sb;
  EXPECT_THAT(victim.message(), HasSubstr("deadlock"));
}

TEST_F(RocksDbStoreTest, ConcurrentReadModifyWriteLosesNoUpdate) {
  OpenStore();
  constexpr int kThreads = 4, kPerThread = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < kPerThread; ++j) {
        absl::Status s = RunInTransaction(
            *store_,
            [](Transaction& txn) -> absl::Status {
              std::string v = "0";
              absl::Status g = txn.GetForUpdate(Table::kRoster, "cursor", &v);
              if (!g.ok() && !absl::IsNotFound(g)) return g;
              int n = 0;
              if (!absl::SimpleAtoi(v, &n)) return absl::InternalError(v);
              return txn.Put(Table::kRoster, "cursor", absl::StrCat(n + 1));
            },
            /*max_attempts=*/100);
        if (!s.ok()) failures++;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Read(Table::kRoster, "cursor"),
            absl::StrCat(kThreads * kPerThread));
}

TEST_F(RocksDbStoreTest, SnapshotDoesNotSeeLaterCommits) {
  OpenStore();
  ASSERT_OK(PutOne(Table::kCustomers, "c1", "v1"));
  ASSERT_OK(PutOne(Table::kCustomers, "c2", "v1"));
  std::unique_ptr<Snapshot> snap = Snap();
  std::unique_ptr<Transaction> txn = Begin();
  ASSERT_OK(RunInTransaction(*store_, [](Transaction& t) -> absl::Status {
    RETURN_IF_ERROR(t.Put(Table::kCustomers, "c1", "v2"));
    RETURN_IF_ERROR(t.Delete(Table::kCustomers, "c2"));
    RETURN_IF_ERROR(t.Put(Table::kCustomers, "c3", "v2"));
    return t.AddToCounter("n", 3);
  }));
  std::string v;
  ASSERT_OK(snap->Get(Table::kCustomers, "c1", &v));
  EXPECT_EQ(v, "v1");
  ASSERT_OK(snap->Get(Table::kCustomers, "c2", &v));
  EXPECT_TRUE(absl::IsNotFound(snap->Get(Table::kCustomers, "c3", &v)));
  EXPECT_EQ(*snap->GetCounter("n"), 0);
  std::vector<std::string> keys;
  std::unique_ptr<ScanIterator> it = snap->Scan(Table::kCustomers, "");
  for (; it->Valid(); it->Next()) keys.emplace_back(it->key());
  EXPECT_THAT(keys, ::testing::ElementsAre("c1", "c2"));
  it.reset();
  // A transaction reads at its own begin snapshot too.
  ASSERT_OK(txn->Get(Table::kCustomers, "c1", &v));
  EXPECT_EQ(v, "v1");
  EXPECT_EQ(*txn->GetCounter("n"), 0);
  txn->Rollback();
  // A new snapshot sees the commit.
  EXPECT_EQ(Read(Table::kCustomers, "c1"), "v2");
  EXPECT_EQ(Keys(Table::kCustomers, ""),
            (std::vector<std::string>{"c1", "c3"}));
}

TEST_F(RocksDbStoreTest, TransactionReadsItsOwnWrites) {
  OpenStore();
  ASSERT_OK(PutOne(Table::kIndexes, "a1", "x"));
  ASSERT_OK(PutOne(Table::kIndexes, "a3", "x"));
  std::unique_ptr<Transaction> txn = Begin();
  ASSERT_OK(txn->Put(Table::kIndexes, "a2", "new"));
  ASSERT_OK(txn->Delete(Table::kIndexes, "a3"));
  std::string v;
  ASSERT_OK(txn->Get(Table::kIndexes, "a2", &v));
  EXPECT_EQ(v, "new");
  EXPECT_TRUE(absl::IsNotFound(txn->Get(Table::kIndexes, "a3", &v)));
  std::vector<std::string> keys;
  {
    std::unique_ptr<ScanIterator> it = txn->Scan(Table::kIndexes, "a");
    for (; it->Valid(); it->Next()) keys.emplace_back(it->key());
    EXPECT_OK(it->status());
  }
  EXPECT_THAT(keys, ::testing::ElementsAre("a1", "a2"));
  ASSERT_OK(txn->Commit());
  EXPECT_EQ(Keys(Table::kIndexes, "a"), (std::vector<std::string>{"a1", "a2"}));
}

TEST_F(RocksDbStoreTest, CountersAreExactUnderConcurrency) {
  OpenStore();
  constexpr int kThreads = 8, kPerThread = 1000;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int j = 0; j < kPerThread; ++j) {
        absl::Status s = RunInTransaction(
            *store_,
            [&](Transaction& txn) -> absl::Status {
              RETURN_IF_ERROR(txn.AddToCounter("owned/rep-a/sales", 1));
              RETURN_IF_ERROR(txn.AddToCounter("pool/sales", -1));
              return txn.Put(Table::kEvents,
                             KeyBuilder().AddUint64(i).AddUint64(j).Build(),
                             "e");
            },
            /*max_attempts=*/1);  // adds never conflict: no retry needed
        if (!s.ok()) failures++;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Counter("owned/rep-a/sales"), kThreads * kPerThread);
  EXPECT_EQ(Counter("pool/sales"), -kThreads * kPerThread);
}

TEST_F(RocksDbStoreTest, AddToCounterTakesNoLock) {
  OpenStore();
  ASSERT_OK(RunInTransaction(
      *store_, [](Transaction& t) { return t.AddToCounter("c", 10); }));
  TxnOptions no_wait;
  no_wait.lock_timeout = absl::ZeroDuration();
  std::unique_ptr<Transaction> a = Begin(no_wait);
  ASSERT_OK(a->AddToCounter("c", 5));
  ASSERT_OK(a->AddToCounter("c", 2));
  EXPECT_EQ(*a->GetCounter("c"), 17);  // snapshot + own adds
  // While `a` is open, another transaction adds to the same counter and
  // commits without waiting.
  std::unique_ptr<Transaction> b = Begin(no_wait);
  ASSERT_OK(b->AddToCounter("c", 100));
  ASSERT_OK(b->Commit());
  EXPECT_EQ(*a->GetCounter("c"), 17);  // still its snapshot
  ASSERT_OK(a->Commit());
  EXPECT_EQ(Counter("c"), 117);
}

TEST_F(RocksDbStoreTest, CounterReadsScansAndResets) {
  OpenStore();
  ASSERT_OK(RunInTransaction(*store_, [](Transaction& t) -> absl::Status {
    RETURN_IF_ERROR(t.AddToCounter("owned/a", 3));
    return t.AddToCounter("owned/b", -4);
  }));
  std::unique_ptr<Transaction> txn = Begin();
  ASSERT_OK(txn->AddToCounter("owned/a", 1));
  std::vector<std::pair<std::string, int64_t>> seen;
  {
    std::unique_ptr<ScanIterator> it = txn->Scan(Table::kCounters, "owned/");
    for (; it->Valid(); it->Next()) {
      absl::StatusOr<int64_t> v = DecodeCounter(it->value());
      ASSERT_OK(v.status());
      seen.emplace_back(std::string(it->key()), *v);
    }
    EXPECT_OK(it->status());
  }
  EXPECT_THAT(seen, ::testing::ElementsAre(std::make_pair("owned/a", 4),
                                           std::make_pair("owned/b", -4)));
  ASSERT_OK(txn->Delete(Table::kCounters, "owned/b"));
  EXPECT_EQ(*txn->GetCounter("owned/b"), 0);
  ASSERT_OK(txn->AddToCounter("owned/b", 2));
  EXPECT_EQ(*txn->GetCounter("owned/b"), 2);
  ASSERT_OK(txn->Commit());
  EXPECT_EQ(Counter("owned/a"), 4);
  EXPECT_EQ(Counter("owned/b"), 2);
  EXPECT_EQ(Counter("never"), 0);
  std::string raw;
  ASSERT_OK(Snap()->Get(Table::kCounters, "owned/a", &raw));
  EXPECT_EQ(raw, EncodeCounter(4));
}

TEST_F(RocksDbStoreTest, RejectsBadWrites) {
  OpenStore();
  std::unique_ptr<Transaction> txn = Begin();
  EXPECT_EQ(txn->Put(Table::kCounters, "c", "x").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(txn->Put(Table::kCustomers, "", "x").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(txn->Delete(Table::kCustomers, "").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(txn->AddToCounter("", 1).code(),
            absl::StatusCode::kInvalidArgument);
  const Table bogus = static_cast<Table>(99);
  EXPECT_EQ(txn->Put(bogus, "c", "x").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(txn->Scan(bogus, "")->status().code(),
            absl::StatusCode::kInvalidArgument);
  std::string unused;
  EXPECT_EQ(Snap()->Get(bogus, "c", &unused).code(),
            absl::StatusCode::kInvalidArgument);
  // Rejected calls do not poison the transaction.
  ASSERT_OK(txn->Put(Table::kCustomers, "c", "x"));
  ASSERT_OK(txn->Commit());
  EXPECT_EQ(txn->Put(Table::kCustomers, "d", "x").code(),
            absl::StatusCode::kFailedPrecondition);
  std::string v;
  EXPECT_EQ(txn->Get(Table::kCustomers, "c", &v).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(txn->Scan(Table::kCustomers, "")->status().code(),
            absl::StatusCode::kFailedPrecondition);
  TxnOptions negative;
  negative.lock_timeout = absl::Milliseconds(-1);
  EXPECT_EQ(store_->Begin(negative).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RocksDbStoreTest, PrefixScanKeepsOrderAndBounds) {
  OpenStore();
  auto key = [](absl::string_view customer, absl::string_view dept) {
    return KeyBuilder().AddString(customer).AddString(dept).Build();
  };
  ASSERT_OK(RunInTransaction(*store_, [&](Transaction& t) -> absl::Status {
    for (const char* c : {"c1", "c10", "c2", "c1\xff"}) {
      for (const char* d : {"service", "sales", "marketing"}) {
        RETURN_IF_ERROR(t.Put(Table::kOwnerships, key(c, d), "x"));
      }
    }
    RETURN_IF_ERROR(t.Put(Table::kOwnerships, "\xff\xff", "x"));
    return t.Put(Table::kOwnerships, "\xff\xff\x01", "x");
  }));
  std::string c1 = KeyBuilder().AddString("c1").Build();
  EXPECT_EQ(
      Keys(Table::kOwnerships, c1),
      (std::vector<std::string>{key("c1", "marketing"), key("c1", "sales"),
                                key("c1", "service")}));
  // A prefix with no upper bound (all 0xff) still stops at its prefix.
  EXPECT_EQ(Keys(Table::kOwnerships, "\xff\xff"),
            (std::vector<std::string>{"\xff\xff", "\xff\xff\x01"}));
  EXPECT_EQ(Keys(Table::kOwnerships, "").size(), 14u);
  EXPECT_TRUE(Keys(Table::kOwnerships, "zzz").empty());
  EXPECT_TRUE(Keys(Table::kCustomers, "").empty());
}

TEST_F(RocksDbStoreTest, ScanPaginatesWithStartAfter) {
  OpenStore();
  std::vector<std::string> all;
  ASSERT_OK(RunInTransaction(*store_, [&](Transaction& t) -> absl::Status {
    all.clear();
    for (uint64_t i = 0; i < 25; ++i) {
      std::string k = KeyBuilder().AddString("pool").AddUint64(i * 7).Build();
      all.push_back(k);
      RETURN_IF_ERROR(t.Put(Table::kIndexes, k, "x"));
    }
    return t.Put(Table::kIndexes, KeyBuilder().AddString("poo").Build(), "x");
  }));
  std::string prefix = KeyBuilder().AddString("pool").Build();
  std::vector<std::string> paged;
  ScanOptions o;
  for (int page = 0; page < 100; ++page) {
    std::unique_ptr<Snapshot> snap = Snap();
    std::unique_ptr<ScanIterator> it = snap->Scan(Table::kIndexes, prefix, o);
    int n = 0;
    for (; it->Valid() && n < 4; it->Next(), ++n) paged.emplace_back(it->key());
    ASSERT_OK(it->status());
    if (n < 4) break;
    o.start_after = paged.back();
  }
  EXPECT_EQ(paged, all);
  // start_after between keys starts at the next existing key.
  o.start_after = KeyBuilder().AddString("pool").AddUint64(8).Build();
  EXPECT_EQ(Keys(Table::kIndexes, prefix, o).front(), all[2]);
  // start_after outside the prefix is refused.
  o.start_after = "nope";
  std::unique_ptr<Snapshot> snap = Snap();
  std::unique_ptr<ScanIterator> bad = snap->Scan(Table::kIndexes, prefix, o);
  EXPECT_FALSE(bad->Valid());
  EXPECT_EQ(bad->status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(RocksDbStoreTest, SeekMovesWithinThePrefixBothWays) {
  OpenStore();
  auto key = [](uint64_t i) {
    return KeyBuilder().AddString("pool").AddUint64(i).Build();
  };
  ASSERT_OK(RunInTransaction(*store_, [&](Transaction& t) -> absl::Status {
    for (uint64_t i : {10, 20, 30}) {
      RETURN_IF_ERROR(t.Put(Table::kIndexes, key(i), absl::StrCat("v", i)));
    }
    // Past the prefix's range: a seek beyond 30 must not reach it.
    return t.Put(Table::kIndexes, KeyBuilder().AddString("pools").Build(), "x");
  }));
  const std::string prefix = KeyBuilder().AddString("pool").Build();
  std::unique_ptr<Snapshot> snap = Snap();
  std::unique_ptr<ScanIterator> it = snap->Scan(Table::kIndexes, prefix);
  it->Seek(key(15));  // between keys: the next one
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), key(20));
  EXPECT_EQ(it->value(), "v20");
  it->Seek(key(30));  // exactly a key: that key
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), key(30));
  it->Seek(key(10));  // backwards
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), key(10));
  it->Next();
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), key(20));
  it->Seek(key(31));  // past the last key of the prefix
  EXPECT_FALSE(it->Valid());
  ASSERT_OK(it->status());
  // A key outside the prefix is refused and sticks.
  it->Seek(key(10));
  ASSERT_TRUE(it->Valid());
  it->Seek("nope");
  EXPECT_FALSE(it->Valid());
  EXPECT_EQ(it->status().code(), absl::StatusCode::kInvalidArgument);
  it->Seek(key(10));
  EXPECT_FALSE(it->Valid());
  EXPECT_EQ(it->status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(RocksDbStoreTest, ReopenAfterCloseKeepsEverything) {
  OpenStore(/*sync=*/false);
  ASSERT_OK(RunInTransaction(*store_, [](Transaction& t) -> absl::Status {
    RETURN_IF_ERROR(t.Put(Table::kCustomers, "c1", "attrs"));
    RETURN_IF_ERROR(t.Put(Table::kIdempotency, "req-1", "answer"));
    return t.AddToCounter("owned", 42);
  }));
  ASSERT_OK(store_->Close());
  ASSERT_OK(store_->Close());  // closing twice is fine
  EXPECT_EQ(store_->Begin().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->NewSnapshot().status().code(),
            absl::StatusCode::kFailedPrecondition);
  for (int i = 0; i < 2; ++i) {  // opening an existing store is idempotent
    OpenStore(/*sync=*/true);
    EXPECT_EQ(Read(Table::kCustomers, "c1"), "attrs");
    EXPECT_EQ(Read(Table::kIdempotency, "req-1"), "answer");
    EXPECT_EQ(Counter("owned"), 42);
    EXPECT_EQ(Read(Table::kMeta, RocksDbStore::kSchemaVersionKey), "1.0");
    EXPECT_EQ(Keys(Table::kMeta, "").size(), 1u);
  }
}

TEST_F(RocksDbStoreTest, CloseRefusedWhileObjectsAlive) {
  OpenStore();
  std::unique_ptr<Transaction> txn = Begin();
  EXPECT_EQ(store_->Close().code(), absl::StatusCode::kFailedPrecondition);
  txn.reset();
  std::unique_ptr<Snapshot> snap = Snap();
  std::unique_ptr<ScanIterator> it = snap->Scan(Table::kCustomers, "");
  EXPECT_EQ(store_->Close().code(), absl::StatusCode::kFailedPrecondition);
  it.reset();
  EXPECT_EQ(store_->Close().code(), absl::StatusCode::kFailedPrecondition);
  snap.reset();
  EXPECT_OK(store_->Close());
}

TEST_F(RocksDbStoreTest, SecondOpenOfSameDirIsUnavailable) {
  OpenStore();
  absl::StatusOr<std::unique_ptr<Store>> second = RocksDbStore::Open(Options());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable)
      << second.status();
}

TEST_F(RocksDbStoreTest, RefusesIncompatibleSchemaVersion) {
  OpenStore();
  ASSERT_OK(PutOne(Table::kMeta, RocksDbStore::kSchemaVersionKey, "2.3"));
  ASSERT_OK(PutOne(Table::kCustomers, "c1", "attrs"));
  store_.reset();
  absl::StatusOr<std::unique_ptr<Store>> s = RocksDbStore::Open(Options());
  ASSERT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.status().message(),
              HasSubstr(absl::StrCat("data dir ", dir_,
                                     " was written by schema version 2")));
  EXPECT_THAT(s.status().message(), HasSubstr("this build reads version 1"));
  // Refusing changed nothing: the version is still 2.3.
  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  std::vector<std::string> names;
  ASSERT_TRUE(
      rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir_, &names).ok());
  for (const std::string& n : names) {
    cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  ASSERT_TRUE(rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), dir_, cfs,
                                           &handles, &raw)
                  .ok());
  std::string v;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == "meta") {
      ASSERT_TRUE(raw->Get(rocksdb::ReadOptions(), handles[i],
                           std::string(RocksDbStore::kSchemaVersionKey), &v)
                      .ok());
    }
  }
  EXPECT_EQ(v, "2.3");
  for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
  delete raw;
}

TEST_F(RocksDbStoreTest, OpensANewerMinorVersion) {
  OpenStore();
  ASSERT_OK(PutOne(Table::kMeta, RocksDbStore::kSchemaVersionKey, "1.9"));
  OpenStore();
  EXPECT_EQ(Read(Table::kMeta, RocksDbStore::kSchemaVersionKey), "1.9");
}

TEST_F(RocksDbStoreTest, RefusesUnreadableSchemaVersion) {
  OpenStore();
  ASSERT_OK(PutOne(Table::kMeta, RocksDbStore::kSchemaVersionKey, "one"));
  store_.reset();
  absl::StatusOr<std::unique_ptr<Store>> s = RocksDbStore::Open(Options());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.status().message(), HasSubstr("unreadable schema version"));
}

TEST_F(RocksDbStoreTest, RefusesForeignRocksDbDir) {
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir_, &raw).ok());
    ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), "someone", "else").ok());
    delete raw;
  }
  absl::StatusOr<std::unique_ptr<Store>> s = RocksDbStore::Open(Options());
  ASSERT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.status().message(), HasSubstr("not a Custodian store"));
  std::vector<std::string> names;
  ASSERT_TRUE(
      rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir_, &names).ok());
  EXPECT_THAT(names, ::testing::ElementsAre("default"));  // untouched

  // A foreign database with other column families is refused too.
  std::string other = root_ + "/other";
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    o.create_missing_column_families = true;
    rocksdb::DB* raw = nullptr;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
        {"default", rocksdb::ColumnFamilyOptions()},
        {"theirs", rocksdb::ColumnFamilyOptions()}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    ASSERT_TRUE(rocksdb::DB::Open(o, other, cfs, &handles, &raw).ok());
    for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
    delete raw;
  }
  RocksDbStoreOptions oo = Options();
  oo.data_dir = other;
  EXPECT_EQ(RocksDbStore::Open(oo).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(RocksDbStoreTest, FinishesAnInterruptedCreation) {
  // What a crash between creating the database and writing the schema
  // version leaves: some of our tables, all empty, no version.
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    o.create_missing_column_families = true;
    rocksdb::DB* raw = nullptr;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
        {"default", rocksdb::ColumnFamilyOptions()},
        {"meta", rocksdb::ColumnFamilyOptions()},
        {"customers", rocksdb::ColumnFamilyOptions()}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir_, cfs, &handles, &raw).ok());
    for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
    delete raw;
  }
  OpenStore();
  EXPECT_EQ(Read(Table::kMeta, RocksDbStore::kSchemaVersionKey), "1.0");
  ASSERT_OK(RunInTransaction(*store_, [](Transaction& t) -> absl::Status {
    RETURN_IF_ERROR(t.Put(Table::kReviews, "r", "x"));
    return t.AddToCounter("n", 2);
  }));
  OpenStore();
  EXPECT_EQ(Read(Table::kReviews, "r"), "x");
  EXPECT_EQ(Counter("n"), 2);
}

TEST_F(RocksDbStoreTest, ValidatesOptions) {
  RocksDbStoreOptions o = Options();
  o.data_dir = "";
  EXPECT_EQ(RocksDbStore::Open(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options();
  o.lock_timeout = absl::Seconds(-1);
  EXPECT_EQ(RocksDbStore::Open(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options();
  o.block_cache_bytes = 0;
  EXPECT_EQ(RocksDbStore::Open(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options();
  o.create_if_missing = false;
  EXPECT_EQ(RocksDbStore::Open(o).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir_));
}

TEST(RunInTransactionTest, RetriesOnlyAborted) {
  char tmpl[] = "/tmp/custodian_storage_test.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  RocksDbStoreOptions o;
  o.data_dir = tmpl;
  o.sync_writes = false;
  absl::StatusOr<std::unique_ptr<Store>> store = RocksDbStore::Open(o);
  ASSERT_OK(store.status());
  int calls = 0;
  absl::Status s =
      RunInTransaction(**store, [&](Transaction& t) -> absl::Status {
        ++calls;
        RETURN_IF_ERROR(t.Put(Table::kAudit, absl::StrCat("a", calls), "x"));
        if (calls < 3) return absl::AbortedError("try again");
        return absl::OkStatus();
      });
  EXPECT_OK(s);
  EXPECT_EQ(calls, 3);
  {
    std::unique_ptr<Snapshot> snap = *(*store)->NewSnapshot();
    std::unique_ptr<ScanIterator> it = snap->Scan(Table::kAudit, "");
    ASSERT_TRUE(it->Valid());
    EXPECT_EQ(it->key(), "a3");  // the aborted attempts left nothing
    it->Next();
    EXPECT_FALSE(it->Valid());
  }
  calls = 0;
  s = RunInTransaction(
      **store,
      [&](Transaction&) {
        ++calls;
        return absl::AbortedError("always");
      },
      4);
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(calls, 4);
  calls = 0;
  s = RunInTransaction(**store, [&](Transaction&) {
    ++calls;
    return absl::NotFoundError("no such customer");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(calls, 1);
  store->reset();
  std::filesystem::remove_all(tmpl);
}

// Starts the crash writer on dir_ and SIGKILLs it after `kill_after` acks.
// Returns every commit number it acknowledged (including ones acknowledged
// between the kill decision and its death).
std::vector<uint64_t> RunAndKillWriter(const std::string& dir, bool sync,
                                       int kill_after) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl(CUSTODIAN_CRASH_WRITER, CUSTODIAN_CRASH_WRITER, dir.c_str(),
          sync ? "sync" : "nosync", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::vector<uint64_t> acked;
  std::string buf;
  bool killed = false;
  char chunk[256];
  for (;;) {
    ssize_t n = read(fds[0], chunk, sizeof(chunk));
    if (n <= 0) break;
    buf.append(chunk, n);
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      uint64_t i;
      EXPECT_TRUE(absl::SimpleAtoi(buf.substr(0, nl), &i));
      acked.push_back(i);
      buf.erase(0, nl + 1);
    }
    if (!killed && static_cast<int>(acked.size()) >= kill_after) {
      kill(pid, SIGKILL);
      killed = true;
    }
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "writer exited on its own with status " << status;
  return acked;
}

TEST_F(RocksDbStoreTest, UncleanShutdownKeepsEveryAcknowledgedCommit) {
  std::mt19937 rng(std::random_device{}());
  uint64_t expected_next = 0;
  // A synced round, then an unsynced one on the recovered store: a killed
  // process (unlike a machine crash) loses nothing acknowledged even without
  // sync.
  for (bool sync : {true, false}) {
    int kill_after = 3 + static_cast<int>(rng() % 30);
    std::vector<uint64_t> acked = RunAndKillWriter(dir_, sync, kill_after);
    ASSERT_GE(acked.size(), static_cast<size_t>(kill_after));
    for (size_t k = 0; k < acked.size(); ++k) {
      ASSERT_EQ(acked[k], expected_next + k);
    }
    OpenStore();
    // Every commit is whole or absent, and the present ones are 0..n-1.
    std::set<std::string> present[std::size(crash::kCrashTables)];
    for (size_t t = 0; t < std::size(crash::kCrashTables); ++t) {
      std::unique_ptr<Snapshot> snap = Snap();
      std::unique_ptr<ScanIterator> it = snap->Scan(crash::kCrashTables[t], "");
      for (; it->Valid(); it->Next()) present[t].emplace(it->key());
      ASSERT_OK(it->status());
    }
    uint64_t n = present[0].size();
    for (size_t t = 1; t < std::size(crash::kCrashTables); ++t) {
      EXPECT_EQ(present[t], present[0]) << "a commit is half-present";
    }
    for (uint64_t i = 0; i < n; ++i) {
      ASSERT_TRUE(present[0].count(crash::CrashKey(i))) << "gap at " << i;
      ASSERT_EQ(Read(Table::kAudit, crash::CrashKey(i)), crash::CrashValue(i));
    }
    EXPECT_EQ(Counter(crash::kCrashCounterKey), static_cast<int64_t>(n));
    // Every acknowledged commit is there; at most the one in flight beyond.
    EXPECT_GE(n, expected_next + acked.size());
    EXPECT_LE(n, expected_next + acked.size() + 1);
    expected_next = n;
    store_.reset();
  }
}

}  // namespace
}  // namespace custodian::storage
