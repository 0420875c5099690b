// Test fixture of book_test: a real RocksDB store in a temp dir with an
// EventSequencer, an OwnershipBook and an EventFeed over it, a manual clock,
// and helpers that commit customer records and ownership changes.
//
// It does not use server/domain_testing.h: that header includes the roster
// protos, which cannot share a translation unit with ownership.pb.h (see
// server/ownership_keys.h). TempDir, OpenStore, DumpStore and T0 are the
// same as there.
#ifndef CUSTODIAN_SERVER_OWNERSHIP_BOOK_TESTING_H_
#define CUSTODIAN_SERVER_OWNERSHIP_BOOK_TESTING_H_

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "gtest/gtest.h"
#include "server/event_feed.h"
#include "server/event_sequencer.h"
#include "server/ownership_book.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"

namespace custodian::server::book_testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "custodian-book-XXXXXX")
            .string();
    char* made = mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::unique_ptr<storage::Store> OpenStore(const std::string& dir) {
  storage::RocksDbStoreOptions options;
  options.data_dir = dir;
  options.sync_writes = false;  // tests close the store cleanly
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::RocksDbStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

using Dump = std::map<std::pair<int, std::string>, std::string>;

// Every (table, key) -> value of `store`.
inline Dump DumpStore(storage::Store& store) {
  Dump out;
  absl::StatusOr<std::unique_ptr<storage::Snapshot>> snapshot =
      store.NewSnapshot();
  EXPECT_TRUE(snapshot.ok()) << snapshot.status();
  if (!snapshot.ok()) return out;
  for (int t = 0; t < storage::kNumTables; ++t) {
    std::unique_ptr<storage::ScanIterator> it =
        (*snapshot)->Scan(static_cast<storage::Table>(t), "");
    for (; it->Valid(); it->Next()) {
      out[{t, std::string(it->key())}] = std::string(it->value());
    }
    EXPECT_TRUE(it->status().ok()) << it->status();
  }
  return out;
}

inline absl::Time T0() { return absl::FromUnixSeconds(1767225600); }

class BookTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void TearDown() override { Close(); }

  void Open() {
    store_ = OpenStore(dir_.path());
    ASSERT_NE(store_, nullptr);
    auto sequencer = EventSequencer::Create(store_.get());
    ASSERT_TRUE(sequencer.ok()) << sequencer.status();
    sequencer_ = std::move(*sequencer);
    book_ = MakeBook(10000);
    ASSERT_NE(book_, nullptr);
    feed_ = std::make_unique<EventFeed>(store_.get(), sequencer_.get());
  }
  void Close() {
    feed_.reset();
    book_.reset();
    sequencer_.reset();
    if (store_ != nullptr) {
      EXPECT_TRUE(store_->Close().ok());
      store_.reset();
    }
  }
  void Reopen() {
    Close();
    Open();
  }

  std::unique_ptr<OwnershipBook> MakeBook(int64_t max_examined_per_page) {
    OwnershipBook::Options options;
    options.store = store_.get();
    options.sequencer = sequencer_.get();
    options.clock = &clock_;
    options.max_examined_per_page = max_examined_per_page;
    auto book = OwnershipBook::Create(options);
    EXPECT_TRUE(book.ok()) << book.status();
    return book.ok() ? std::move(*book) : nullptr;
  }

  // Commits the customer record of `id` with `segments`.
  void PutCustomer(const std::string& id,
                   const std::vector<std::string>& segments) {
    storage::v1::CustomerRecord record;
    record.mutable_customer()->set_id(id);
    record.mutable_customer()->set_region("CN/East/Shanghai");
    for (const std::string& s : segments) record.add_segments(s);
    record.set_ruleset_version(1);
    absl::Status s = storage::RunInTransaction(
        *store_, [&](storage::Transaction& txn) -> absl::Status {
          return book_->StageCustomer(txn, record).status();
        });
    ASSERT_TRUE(s.ok()) << s;
  }

  // Commits `change` in its own transaction; returns its event.
  absl::StatusOr<v1::OwnershipEvent> Commit(const ChangeSpec& change) {
    PendingEvents pending;
    RETURN_IF_ERROR(storage::RunInTransaction(
        *store_, [&](storage::Transaction& txn) -> absl::Status {
          ASSIGN_OR_RETURN(pending, book_->Stage(txn, change));
          return absl::OkStatus();
        }));
    pending.Committed();
    return pending.events().at(0);
  }
  v1::OwnershipEvent MustCommit(const ChangeSpec& change) {
    absl::StatusOr<v1::OwnershipEvent> event = Commit(change);
    EXPECT_TRUE(event.ok()) << event.status();
    return event.ok() ? *event : v1::OwnershipEvent();
  }

  static ChangeSpec Active(const std::string& customer,
                           const std::string& department,
                           const std::string& rep, const std::string& team,
                           const std::string& rule = "east",
                           int64_t ruleset_version = 1) {
    ChangeSpec change;
    change.after.set_customer_id(customer);
    change.after.set_department(department);
    change.after.set_state(v1::Ownership::ACTIVE);
    change.after.set_rep(rep);
    change.after.set_team(team);
    change.after.set_rule_id(rule);
    change.after.set_ruleset_version(ruleset_version);
    change.cause = v1::OwnershipEvent::RULE;
    change.actor = "custodiand";
    change.reason = absl::StrCat("rule ", rule);
    return change;
  }
  static ChangeSpec WithState(ChangeSpec change, v1::Ownership::State state) {
    change.after.set_state(state);
    return change;
  }
  static ChangeSpec Pooled(const std::string& customer,
                           const std::string& department,
                           const std::string& pool) {
    ChangeSpec change;
    change.after.set_customer_id(customer);
    change.after.set_department(department);
    change.after.set_state(v1::Ownership::POOLED);
    change.after.set_pool(pool);
    change.after.set_rule_id("fallback");
    change.after.set_ruleset_version(1);
    change.cause = v1::OwnershipEvent::RELEASE;
    change.actor = "zhang.wei";
    change.reason = "released";
    return change;
  }

  int64_t Counter(const std::string& key) {
    absl::StatusOr<int64_t> value = book_->ReadCounter(key);
    EXPECT_TRUE(value.ok()) << value.status();
    return value.ok() ? *value : -1;
  }

  TempDir dir_;
  ManualClock clock_{T0()};
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<EventSequencer> sequencer_;
  std::unique_ptr<OwnershipBook> book_;
  std::unique_ptr<EventFeed> feed_;
};

}  // namespace custodian::server::book_testing

#endif  // CUSTODIAN_SERVER_OWNERSHIP_BOOK_TESTING_H_
