// assigner_bench: what one Assign (and one Evaluate) costs inside custodiand,
// without gRPC: the Assigner over a real RocksDB store in a temp dir,
// bootstrapped with the load generator's roster and ruleset, assigning the
// load generator's customers (bench/workload.h), each new.
//
//   BM_Assign/spread|one-team  Assign of a new customer; 1 and 16 threads.
//                              Unsynced store: the CPU cost of the call
//                              (read, plan, stage, commit).
//   BM_AssignSynced            the same with synced writes and 64 threads
//                              (real time): what group commit sustains.
//   BM_BatchAssignSynced       BatchAssign of 1,000 new customers, synced
//                              store, 1 and 4 calls at once (items/s).
//   BM_Evaluate                the dry run of a new customer.
//
// cpu_time is per call in the calling thread; with threads > 1 read
// items_per_second (real time). Build Release; see docs/performance.md.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bench/workload.h"
#include "benchmark/benchmark.h"
#include "server/assigner.h"
#include "server/bootstrap.h"
#include "server/event_sequencer.h"
#include "server/ownership_book.h"
#include "server/roster_registry.h"
#include "server/ruleset_registry.h"
#include "server/team_allocator.h"
#include "storage/rocksdb_store.h"

namespace custodian::bench {
namespace {

constexpr int kTeams = 64;
constexpr int kRepsPerTeam = 8;

void Check(const absl::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "assigner_bench: %s: %s\n", what, s.ToString().c_str());
  std::abort();
}

// Everything an Assigner needs, over a fresh store in a temp dir.
class Fixture {
 public:
  explicit Fixture(bool sync) {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "assigner-bench-XXXXXX")
            .string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir_ = tmpl;
    storage::RocksDbStoreOptions so;
    so.data_dir = dir_;
    so.sync_writes = sync;
    auto store = storage::RocksDbStore::Open(so);
    Check(store.status(), "open store");
    store_ = *std::move(store);

    server::RosterRegistry::Options ro;
    ro.store = store_.get();
    auto roster = server::RosterRegistry::Create(ro);
    Check(roster.status(), "roster registry");
    roster_ = *std::move(roster);
    server::RulesetRegistry::Options rso;
    rso.store = store_.get();
    auto rulesets = server::RulesetRegistry::Create(rso);
    Check(rulesets.status(), "ruleset registry");
    rulesets_ = *std::move(rulesets);
    server::BootstrapFiles files;
    files.roster_text = GeneratedRoster(kTeams, kRepsPerTeam);
    files.ruleset_text = GeneratedRuleset(kTeams);
    Check(server::BootstrapIfEmpty(*roster_, *rulesets_, files).status(),
          "bootstrap");

    auto sequencer = server::EventSequencer::Create(store_.get());
    Check(sequencer.status(), "sequencer");
    sequencer_ = *std::move(sequencer);
    server::OwnershipBook::Options bo;
    bo.store = store_.get();
    bo.sequencer = sequencer_.get();
    auto book = server::OwnershipBook::Create(bo);
    Check(book.status(), "book");
    book_ = *std::move(book);
    allocator_ = std::make_unique<server::TeamAllocator>(
        server::StoreCounterLoader(store_.get()));
    server::Assigner::Options ao;
    ao.store = store_.get();
    ao.rulesets = rulesets_.get();
    ao.book = book_.get();
    ao.allocator = allocator_.get();
    auto assigner = server::Assigner::Create(std::move(ao));
    Check(assigner.status(), "assigner");
    assigner_ = *std::move(assigner);
  }

  ~Fixture() {
    assigner_.reset();
    allocator_.reset();
    book_.reset();
    sequencer_.reset();
    rulesets_.reset();
    roster_.reset();
    Check(store_->Close(), "close store");
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  server::Assigner& assigner() { return *assigner_; }

 private:
  std::string dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<server::RosterRegistry> roster_;
  std::unique_ptr<server::RulesetRegistry> rulesets_;
  std::unique_ptr<server::EventSequencer> sequencer_;
  std::unique_ptr<server::OwnershipBook> book_;
  std::unique_ptr<server::TeamAllocator> allocator_;
  std::unique_ptr<server::Assigner> assigner_;
};

// One fixture per (sync) setting for the whole process, made on first use.
Fixture& SharedFixture(bool sync) {
  static absl::Mutex mu;
  static Fixture* fixtures[2] = {nullptr, nullptr};
  absl::MutexLock lock(&mu);
  Fixture*& f = fixtures[sync ? 1 : 0];
  if (f == nullptr) f = new Fixture(sync);  // lives until exit
  return *f;
}

std::atomic<uint64_t> next_customer{0};

void RunAssign(benchmark::State& state, Mix mix, bool sync) {
  Fixture& f = SharedFixture(sync);
  const CustomerFactory customers(mix, kTeams, /*seed=*/1, "bench");
  v1::AssignRequest request;
  for (auto _ : state) {
    const uint64_t n = next_customer.fetch_add(1);
    customers.Fill(n, request.mutable_customer());
    request.set_request_id(absl::StrCat("r-", n));
    absl::StatusOr<v1::AssignResponse> answer =
        f.assigner().Assign(request, "bench");
    if (!answer.ok()) {
      state.SkipWithError(answer.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(answer);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Assign(benchmark::State& state) {
  RunAssign(state, state.range(0) == 0 ? Mix::kSpread : Mix::kOneTeam,
            /*sync=*/false);
}
BENCHMARK(BM_Assign)
    ->ArgName("one_team")
    ->Arg(0)
    ->Arg(1)
    ->Threads(1)
    ->Threads(16)
    ->UseRealTime();

void BM_AssignSynced(benchmark::State& state) {
  RunAssign(state, state.range(0) == 0 ? Mix::kSpread : Mix::kOneTeam,
            /*sync=*/true);
}
BENCHMARK(BM_AssignSynced)
    ->ArgName("one_team")
    ->Arg(0)
    ->Arg(1)
    ->Threads(64)
    ->UseRealTime();

// BatchAssign of 1,000 new customers per call on the synced store: what an
// import sustains (items_per_second), 1 and 4 calls at once.
void BM_BatchAssignSynced(benchmark::State& state) {
  Fixture& f = SharedFixture(/*sync=*/true);
  const CustomerFactory customers(Mix::kSpread, kTeams, /*seed=*/3, "batch");
  v1::BatchAssignRequest request;
  for (int i = 0; i < server::kMaxBatchAssign; ++i) request.add_requests();
  for (auto _ : state) {
    for (v1::AssignRequest& item : *request.mutable_requests()) {
      const uint64_t n = next_customer.fetch_add(1);
      customers.Fill(n, item.mutable_customer());
      item.set_request_id(absl::StrCat("b-", n));
    }
    absl::StatusOr<v1::BatchAssignResponse> answer =
        f.assigner().BatchAssign(request, "bench");
    if (!answer.ok() || answer->results(0).has_error()) {
      state.SkipWithError("BatchAssign failed");
      break;
    }
    benchmark::DoNotOptimize(answer);
  }
  state.SetItemsProcessed(state.iterations() * server::kMaxBatchAssign);
}
BENCHMARK(BM_BatchAssignSynced)->Threads(1)->Threads(4)->UseRealTime();

void BM_Evaluate(benchmark::State& state) {
  Fixture& f = SharedFixture(false);
  const CustomerFactory customers(Mix::kSpread, kTeams, /*seed=*/2, "eval");
  v1::EvaluateRequest request;
  uint64_t n = 0;
  for (auto _ : state) {
    customers.Fill(n++, request.mutable_customer());
    absl::StatusOr<v1::AssignResponse> answer = f.assigner().Evaluate(request);
    if (!answer.ok()) {
      state.SkipWithError(answer.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(answer);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Evaluate);

}  // namespace
}  // namespace custodian::bench

int main(int argc, char** argv) {
  // As custodiand does (server/main.cc): no mutex deadlock graph.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
