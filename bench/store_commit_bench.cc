// Store commit throughput, next to RocksDB's raw write rate in the same run.
//
// Every commit writes what a typical Custodian state change writes: three
// records in three tables (~100-byte values) and one counter add. The Store
// cases go through RocksDbStore (pessimistic TransactionDB, merge-operator
// counters); the raw cases write the same keys as one rocksdb::WriteBatch to
// a plain rocksdb::DB with the same column families (the counter as a plain
// 8-byte Put). Each case runs with one writer and with 16 concurrent writers,
// synced (sync:1, fsync per commit, shared by group commit) and unsynced
// (sync:0). items_per_second is commits per second over wall time.
//
//   cmake -S . -B build/storage-rel -G Ninja -DCMAKE_BUILD_TYPE=Release
//       -DCUSTODIAN_BUILD_TESTS=OFF   (one line)
//   ninja -C build/storage-rel store_commit_bench
//   build/storage-rel/bench/store_commit_bench
#include <stdlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"
#include "storage/keys.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"

namespace custodian::storage {
namespace {

const std::string kValue(100, 'v');

// State shared by the threads of one benchmark run, made by Setup().
std::string g_dir;
std::unique_ptr<Store> g_store;
rocksdb::DB* g_raw = nullptr;
std::vector<rocksdb::ColumnFamilyHandle*> g_raw_cfs;
std::atomic<uint64_t> g_next_customer{0};

std::string MakeTempDir() {
  char tmpl[] = "/tmp/custodian_store_bench.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) std::abort();
  return tmpl;
}

std::string CustomerKey(uint64_t n) {
  return KeyBuilder().AddString(absl::StrCat("customer-", n)).Build();
}

std::string EventKey(uint64_t n) { return KeyBuilder().AddUint64(n).Build(); }

void SetupStore(const benchmark::State& state) {
  g_dir = MakeTempDir();
  RocksDbStoreOptions options;
  options.data_dir = g_dir + "/store";
  options.sync_writes = state.range(0) != 0;
  absl::StatusOr<std::unique_ptr<Store>> store = RocksDbStore::Open(options);
  if (!store.ok()) std::abort();
  g_store = std::move(*store);
}

void TeardownStore(const benchmark::State&) {
  if (!g_store->Close().ok()) std::abort();
  g_store.reset();
  std::filesystem::remove_all(g_dir);
}

void BM_StoreCommit(benchmark::State& state) {
  const std::string counter =
      absl::StrCat("owned/rep-", state.thread_index() % 4, "/sales");
  for (auto _ : state) {
    const uint64_t n = g_next_customer.fetch_add(1, std::memory_order_relaxed);
    absl::Status s = RunInTransaction(*g_store, [&](Transaction& txn) {
      const std::string key = CustomerKey(n);
      absl::Status st = txn.Put(Table::kCustomers, key, kValue);
      if (st.ok()) st = txn.Put(Table::kOwnerships, key, kValue);
      if (st.ok()) st = txn.Put(Table::kEvents, EventKey(n), kValue);
      if (st.ok()) st = txn.AddToCounter(counter, 1);
      return st;
    });
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void SetupRaw(const benchmark::State& state) {
  g_dir = MakeTempDir();
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const char* name :
       {"default", "customers", "ownerships", "events", "counters"}) {
    cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  if (!rocksdb::DB::Open(options, g_dir + "/raw", cfs, &g_raw_cfs, &g_raw)
           .ok()) {
    std::abort();
  }
  (void)state;
}

void TeardownRaw(const benchmark::State&) {
  for (rocksdb::ColumnFamilyHandle* h : g_raw_cfs) {
    g_raw->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  g_raw_cfs.clear();
  delete g_raw;
  g_raw = nullptr;
  std::filesystem::remove_all(g_dir);
}

void BM_RawWriteBatch(benchmark::State& state) {
  rocksdb::WriteOptions wo;
  wo.sync = state.range(0) != 0;
  const std::string counter =
      absl::StrCat("owned/rep-", state.thread_index() % 4, "/sales");
  const std::string counter_value(8, '\1');
  for (auto _ : state) {
    const uint64_t n = g_next_customer.fetch_add(1, std::memory_order_relaxed);
    const std::string key = CustomerKey(n);
    rocksdb::WriteBatch batch;
    batch.Put(g_raw_cfs[1], key, kValue).PermitUncheckedError();
    batch.Put(g_raw_cfs[2], key, kValue).PermitUncheckedError();
    batch.Put(g_raw_cfs[3], EventKey(n), kValue).PermitUncheckedError();
    batch.Put(g_raw_cfs[4], counter, counter_value).PermitUncheckedError();
    rocksdb::Status s = g_raw->Write(wo, &batch);
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void Cases(benchmark::internal::Benchmark* b) {
  b->ArgName("sync")->Arg(1)->Arg(0);
  b->Threads(1)->Threads(16);
  b->UseRealTime();
  b->MinTime(1.0);
  b->Repetitions(5)->ReportAggregatesOnly(true);
}

BENCHMARK(BM_StoreCommit)
    ->Apply(Cases)
    ->Setup(SetupStore)
    ->Teardown(TeardownStore);
BENCHMARK(BM_RawWriteBatch)
    ->Apply(Cases)
    ->Setup(SetupRaw)
    ->Teardown(TeardownRaw);

}  // namespace
}  // namespace custodian::storage
