// review_bench: a periodic review over a large store, in process (no gRPC):
//   1. set-up, not timed: a child process (fork) fills a temp RocksDB store
//      through Assigner::BatchAssign (unsynced) with N customers of the load
//      generator's spread mix (bench/workload.h; default N = 1,000,000, set
//      CUSTODIAN_REVIEW_CUSTOMERS), so every customer has its customer
//      record, ownerships, indexes and counters as Assign writes them; the
//      child exits, so the parent's peak RSS is not the bulk load's;
//   2. the parent reopens the store with synced writes (custodiand's
//      default) and measures Assign of new customers from 8 threads for
//      CUSTODIAN_REVIEW_ASSIGN_SECONDS (default 10) seconds: the baseline;
//   3. a REPORT review of every check over the whole store, alone: wall time,
//      customers per second, peak RSS (getrusage ru_maxrss);
//   4. a second REPORT review while 8 threads Assign new customers for as
//      long as the review runs: Assign throughput during a review;
//   5. Assign alone once more (caches now as warm as in step 4); the ratio
//      of step 4 to the better of steps 2 and 5 (the target:
//      >= 70%).
// Build Release (see docs/performance.md) and run on an otherwise idle
// machine; figures from a machine busy compiling are not comparable.
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/workload.h"
#include "server/assigner.h"
#include "server/bootstrap.h"
#include "server/event_sequencer.h"
#include "server/ownership_book.h"
#include "server/review_runner.h"
#include "server/roster_registry.h"
#include "server/ruleset_registry.h"
#include "server/team_allocator.h"
#include "storage/rocksdb_store.h"

namespace custodian::bench {
namespace {

constexpr int kTeams = 64;
constexpr int kRepsPerTeam = 8;
constexpr int kAssignThreads = 8;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "review_bench: %s\n", what.c_str());
  std::_Exit(1);
}

void Check(const absl::Status& s, const std::string& what) {
  if (!s.ok()) Die(absl::StrCat(what, ": ", s.ToString()));
}

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* env = std::getenv(name);
  int64_t n = fallback;
  if (env != nullptr && (!absl::SimpleAtoi(env, &n) || n < 1)) {
    Die(absl::StrCat(name, "=", env, " is not >= 1"));
  }
  return n;
}

// The stack over one store.
struct Stack {
  Stack(const std::string& dir, bool sync) {
    storage::RocksDbStoreOptions so;
    so.data_dir = dir;
    so.sync_writes = sync;
    auto opened = storage::RocksDbStore::Open(so);
    Check(opened.status(), "open store");
    store = *std::move(opened);
    auto r = server::RosterRegistry::Create({store.get(), Clock::Real(), {}});
    Check(r.status(), "roster registry");
    roster = *std::move(r);
    auto rs = server::RulesetRegistry::Create({store.get(), Clock::Real(), {}});
    Check(rs.status(), "ruleset registry");
    rulesets = *std::move(rs);
    server::BootstrapFiles files;
    files.roster_text = GeneratedRoster(kTeams, kRepsPerTeam);
    files.ruleset_text = GeneratedRuleset(kTeams);
    Check(server::BootstrapIfEmpty(*roster, *rulesets, files).status(),
          "bootstrap");
    auto seq = server::EventSequencer::Create(store.get());
    Check(seq.status(), "sequencer");
    sequencer = *std::move(seq);
    server::OwnershipBook::Options bo;
    bo.store = store.get();
    bo.sequencer = sequencer.get();
    auto b = server::OwnershipBook::Create(bo);
    Check(b.status(), "book");
    book = *std::move(b);
    allocator = std::make_unique<server::TeamAllocator>(
        server::StoreCounterLoader(store.get()));
    server::Assigner::Options ao;
    ao.store = store.get();
    ao.rulesets = rulesets.get();
    ao.book = book.get();
    ao.allocator = allocator.get();
    auto a = server::Assigner::Create(std::move(ao));
    Check(a.status(), "assigner");
    assigner = *std::move(a);
    server::ReviewRunner::Options ro;
    ro.store = store.get();
    ro.rulesets = rulesets.get();
    ro.book = book.get();
    ro.allocator = allocator.get();
    auto rr = server::ReviewRunner::Create(std::move(ro));
    Check(rr.status(), "review runner");
    runner = *std::move(rr);
  }
  ~Stack() {
    runner.reset();
    assigner.reset();
    allocator.reset();
    book.reset();
    sequencer.reset();
    rulesets.reset();
    roster.reset();
    Check(store->Close(), "close store");
  }

  std::unique_ptr<storage::Store> store;
  std::unique_ptr<server::RosterRegistry> roster;
  std::unique_ptr<server::RulesetRegistry> rulesets;
  std::unique_ptr<server::EventSequencer> sequencer;
  std::unique_ptr<server::OwnershipBook> book;
  std::unique_ptr<server::TeamAllocator> allocator;
  std::unique_ptr<server::Assigner> assigner;
  std::unique_ptr<server::ReviewRunner> runner;
};

void Populate(const std::string& dir, int64_t customers) {
  Stack stack(dir, /*sync=*/false);
  const CustomerFactory factory(Mix::kSpread, kTeams, /*seed=*/7, "rv");
  v1::BatchAssignRequest batch;
  for (int64_t start = 0; start < customers; start += server::kMaxBatchAssign) {
    batch.clear_requests();
    for (int64_t n = start;
         n < std::min<int64_t>(customers, start + server::kMaxBatchAssign);
         ++n) {
      v1::AssignRequest* r = batch.add_requests();
      factory.Fill(static_cast<uint64_t>(n), r->mutable_customer());
      r->set_request_id(absl::StrCat("p-", n));
    }
    auto answer = stack.assigner->BatchAssign(batch, "bench");
    Check(answer.status(), "batch assign");
    for (const auto& item : answer->results()) {
      if (item.has_error()) Die(item.error().message());
    }
  }
}

// Assigns new customers from kAssignThreads threads until `stop` returns
// true; returns Assign calls per second.
double AssignWhile(server::Assigner& assigner, std::atomic<uint64_t>& next,
                   const std::function<bool()>& stop) {
  const CustomerFactory factory(Mix::kSpread, kTeams, /*seed=*/9, "new");
  std::atomic<int64_t> done{0};
  std::atomic<bool> halt{false};
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kAssignThreads; ++t) {
    threads.emplace_back([&] {
      v1::AssignRequest r;
      while (!halt.load()) {
        const uint64_t n = next.fetch_add(1);
        factory.Fill(n, r.mutable_customer());
        r.set_request_id(absl::StrCat("n-", n));
        Check(assigner.Assign(r, "bench").status(), "assign");
        done.fetch_add(1);
      }
    });
  }
  while (!stop()) absl::SleepFor(absl::Milliseconds(20));
  halt = true;
  for (std::thread& t : threads) t.join();
  return static_cast<double>(done.load()) /
         absl::ToDoubleSeconds(absl::Now() - start);
}

v1::Review StartReport(server::ReviewRunner& runner, const std::string& id) {
  v1::StartReviewRequest r;
  r.set_mode(v1::REPORT);
  r.set_request_id(id);
  auto review = runner.Start(r, "bench");
  Check(review.status(), "start review");
  return *review;
}

bool Done(server::ReviewRunner& runner, const std::string& name,
          v1::Review* out) {
  v1::GetReviewRequest get;
  get.set_name(name);
  auto review = runner.Get(get);
  Check(review.status(), "get review");
  *out = *review;
  return review->done();
}

int Main() {
  const int64_t customers = EnvInt("CUSTODIAN_REVIEW_CUSTOMERS", 1000000);
  const int64_t assign_seconds = EnvInt("CUSTODIAN_REVIEW_ASSIGN_SECONDS", 10);
  std::string tmpl =
      (std::filesystem::temp_directory_path() / "review-bench-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) Die("mkdtemp");
  const std::string dir = tmpl + "/store";

  const absl::Time load_start = absl::Now();
  const pid_t child = fork();
  if (child < 0) Die("fork");
  if (child == 0) {
    Populate(dir, customers);
    std::_Exit(0);
  }
  int wstatus = 0;
  if (waitpid(child, &wstatus, 0) != child || !WIFEXITED(wstatus) ||
      WEXITSTATUS(wstatus) != 0) {
    Die("populating the store failed");
  }
  std::printf("load: %lld customers in %.1f s (BatchAssign, unsynced)\n",
              static_cast<long long>(customers),
              absl::ToDoubleSeconds(absl::Now() - load_start));

  Stack stack(dir, /*sync=*/true);
  std::atomic<uint64_t> next{0};
  const absl::Time until = absl::Now() + absl::Seconds(assign_seconds);
  const double baseline =
      AssignWhile(*stack.assigner, next, [&] { return absl::Now() >= until; });
  std::printf("assign alone: %.0f calls/s (%d threads, synced)\n", baseline,
              kAssignThreads);

  const absl::Time review_start = absl::Now();
  v1::Review review = StartReport(*stack.runner, "bench-review-1");
  const std::string name = review.name();
  while (!Done(*stack.runner, name, &review)) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - review_start);
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  int64_t findings = 0;
  for (const auto& c : review.metadata().findings()) findings += c.count();
  std::printf(
      "review alone: %s %lld customers in %.1f s (%.0f customers/s), %lld "
      "findings, peak RSS %.0f MiB\n",
      v1::ReviewMetadata::State_Name(review.metadata().state()).c_str(),
      static_cast<long long>(review.metadata().scanned()), seconds,
      static_cast<double>(review.metadata().scanned()) / seconds,
      static_cast<long long>(findings),
      static_cast<double>(usage.ru_maxrss) / 1024.0);

  v1::Review second = StartReport(*stack.runner, "bench-review-2");
  const std::string second_name = second.name();
  const absl::Time second_start = absl::Now();
  const double during = AssignWhile(*stack.assigner, next, [&] {
    return Done(*stack.runner, second_name, &second);
  });
  const double review_seconds =
      absl::ToDoubleSeconds(absl::Now() - second_start);
  // Alone once more, now that the caches are as warm as during the review:
  // the ratio is taken against the better of the two runs alone.
  const absl::Time again_until = absl::Now() + absl::Seconds(assign_seconds);
  const double again = AssignWhile(*stack.assigner, next,
                                   [&] { return absl::Now() >= again_until; });
  const double best = std::max(baseline, again);
  std::printf(
      "assign alone again: %.0f calls/s\n"
      "assign during a review: %.0f calls/s = %.0f%% of the better run alone; "
      "the review took %.1f s with Assign running\n",
      again, during, 100.0 * during / best, review_seconds);
  std::error_code ec;
  std::filesystem::remove_all(tmpl, ec);
  return 0;
}

}  // namespace
}  // namespace custodian::bench

int main() {
  // As custodiand does (server/main.cc): no mutex deadlock graph.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return custodian::bench::Main();
}
