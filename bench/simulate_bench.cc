// SimulateRuleset over a large store: RulesetSimulator (server/
// ruleset_simulator.h) comparing a changed candidate with the active
// examples/ruleset.yaml over N stored customers (default 1,000,000; set
// CUSTODIAN_SIMULATE_CUSTOMERS to change it).
//
// Set-up, not timed: a child process (fork) fills a temp RocksDB store with
// the sample roster, the sample ruleset (version 1, active), a changed
// candidate (version 2) and N CustomerRecords with attributes spread over
// what the sample rules read, written unsynced in transactions of 20,000.
// The child then exits, so the parent's peak RSS is that of the simulation
// (and of opening the store), not of the bulk load.
//
// Timed: one Simulate call (Iterations(1), real time). Reported:
// customers_per_second, scanned and changed counts, and peak_rss_mib
// (getrusage ru_maxrss of this process after the call).
//
//   cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release
//       -DCUSTODIAN_BUILD_TESTS=OFF   (one line)
//   ninja -C build/bench simulate_bench
//   build/bench/bench/simulate_bench
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "common/clock.h"
#include "custodian/storage/v1/records.pb.h"
#include "google/protobuf/util/time_util.h"
#include "rules/loader.h"
#include "server/ownership_book.h"
#include "server/roster_registry.h"
#include "server/ruleset_registry.h"
#include "server/ruleset_simulator.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"

namespace custodian::server {
namespace {

using ::google::protobuf::util::TimeUtil;

constexpr int64_t kDefaultCustomers = 1000000;
constexpr int kCustomersPerTransaction = 20000;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "simulate_bench: %s\n", what.c_str());
  std::_Exit(1);
}

void Check(const absl::Status& status, const std::string& what) {
  if (!status.ok()) Die(absl::StrCat(what, ": ", status.ToString()));
}

int64_t CustomerCount() {
  const char* env = std::getenv("CUSTODIAN_SIMULATE_CUSTOMERS");
  int64_t n = kDefaultCustomers;
  if (env != nullptr && (!absl::SimpleAtoi(env, &n) || n < 1)) {
    Die(absl::StrCat("CUSTODIAN_SIMULATE_CUSTOMERS=", env, " is not >= 1"));
  }
  return n;
}

std::string Example(const std::string& name) {
  absl::StatusOr<std::string> text = rules::ReadTextFile(
      absl::StrCat(CUSTODIAN_SOURCE_DIR, "/examples/", name));
  if (!text.ok()) Die(text.status().ToString());
  return *text;
}

// The sample ruleset with three rules changed: key accounts need 30M, not
// 50M, of revenue; the manufacturing rule also takes the South; new leads go
// to unassigned-sales.
std::string Candidate(const std::string& sample) {
  std::string text = absl::StrReplaceAll(
      sample,
      {{"annual_revenue: {gte: 50000000}", "annual_revenue: {gte: 30000000}"},
       {"region: {under: [CN/East, CN/North]}",
        "region: {under: [CN/East, CN/North, CN/South]}"},
       {"when: {sales_stage: lead}\n        assign: {pool: east-pool}",
        "when: {sales_stage: lead}\n        assign: {pool: "
        "unassigned-sales}"}});
  if (text == sample) Die("the candidate is the sample ruleset");
  return text;
}

std::unique_ptr<storage::Store> OpenStore(const std::string& dir) {
  storage::RocksDbStoreOptions options;
  options.data_dir = dir;
  options.sync_writes = false;  // a benchmark's scratch store
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::RocksDbStore::Open(options);
  if (!store.ok()) Die(store.status().ToString());
  return *std::move(store);
}

// One customer with attributes spread over what the sample rules read.
void MakeCustomer(int64_t i, std::mt19937_64& rng, absl::Time now,
                  storage::v1::CustomerRecord* record) {
  static const char* const kRegions[] = {
      "CN/East/Shanghai",   "CN/East/Hangzhou", "CN/East/Nanjing",
      "CN/North/Beijing",   "CN/North/Tianjin", "CN/South/Shenzhen",
      "CN/South/Guangzhou", "CN/West/Chengdu",  "US/West/Seattle",
      "DE/Bavaria/Munich"};
  static const char* const kIndustries[] = {
      "C/C39/C391", "C/C26/C261", "C/C34", "F/F51", "I/I65/I651", "K/K70"};
  static const char* const kTypes[] = {"enterprise", "smb", "individual"};
  static const char* const kStages[] = {"lead", "qualified", "won", "lost"};
  static const char* const kTiers[] = {"high", "medium", "low"};
  record->Clear();
  v1::Customer* c = record->mutable_customer();
  char id[32];
  std::snprintf(id, sizeof(id), "cust-%08lld", static_cast<long long>(i));
  c->set_id(id);
  c->set_name(absl::StrCat("Customer ", i));
  c->set_region(kRegions[rng() % 10]);
  c->set_industry(kIndustries[rng() % 6]);
  c->set_customer_type(kTypes[rng() % 3]);
  c->set_sales_stage(kStages[rng() % 4]);
  c->set_value_tier(kTiers[rng() % 3]);
  c->set_annual_revenue(static_cast<int64_t>(rng() % 100000000));
  c->set_employee_count(static_cast<int64_t>(rng() % 5000));
  if (rng() % 20 == 0) c->add_tags("strategic");
  if (rng() % 4 == 0) c->add_tags("vip");
  (*c->mutable_attributes())["source"] = rng() % 2 ? "web" : "fair";
  const absl::Time activity =
      now - absl::Hours(static_cast<int64_t>(rng() % (24 * 365)));
  *c->mutable_last_activity_time() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(activity));
  *c->mutable_created_time() = TimeUtil::MicrosecondsToTimestamp(
      absl::ToUnixMicros(activity - absl::Hours(24 * 400)));
  record->set_ruleset_version(1);
}

// Fills `dir` (see the top of the file). Runs in the child process.
void Populate(const std::string& dir, int64_t customers) {
  std::unique_ptr<storage::Store> store = OpenStore(dir);
  auto roster = RosterRegistry::Create({store.get(), Clock::Real(), {}});
  Check(roster.status(), "roster registry");
  auto rulesets = RulesetRegistry::Create({store.get(), Clock::Real(), {}});
  Check(rulesets.status(), "ruleset registry");

  v1::ApplyRosterRequest apply;
  apply.set_source_text(Example("roster.yaml"));
  apply.set_request_id("bench-roster");
  Check((*roster)->Apply(apply, "bench").status(), "apply roster");
  const std::string sample = Example("ruleset.yaml");
  for (const auto& [text, id] :
       {std::pair<std::string, std::string>{sample, "bench-v1"},
        {Candidate(sample), "bench-v2"}}) {
    v1::CreateRulesetVersionRequest create;
    create.set_source_text(text);
    create.set_request_id(id);
    Check((*rulesets)->CreateVersion(create, "bench").status(), id);
  }
  auto list = (*rulesets)->List(v1::ListRulesetVersionsRequest());
  Check(list.status(), "list");
  v1::ActivateRulesetRequest activate;
  activate.set_version(1);
  activate.set_etag(list->activation_etag());
  activate.set_request_id("bench-activate");
  Check((*rulesets)->Activate(activate, "bench").status(), "activate");

  std::mt19937_64 rng(20260101);
  const absl::Time now = absl::Now();
  storage::v1::CustomerRecord record;
  std::string value;
  for (int64_t start = 0; start < customers;
       start += kCustomersPerTransaction) {
    const int64_t end =
        std::min<int64_t>(customers, start + kCustomersPerTransaction);
    auto txn = store->Begin();
    Check(txn.status(), "begin");
    for (int64_t i = start; i < end; ++i) {
      MakeCustomer(i, rng, now, &record);
      record.SerializeToString(&value);
      Check((*txn)->Put(storage::Table::kCustomers,
                        CustomerKey(record.customer().id()), value),
            "put");
    }
    Check((*txn)->Commit(), "commit");
  }
  rulesets->reset();
  roster->reset();
  Check(store->Close(), "close");
}

void BM_SimulateRuleset(benchmark::State& state) {
  const int64_t customers = CustomerCount();
  char tmpl[] = "/tmp/custodian_simulate_bench.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) Die("mkdtemp");
  const std::string root = tmpl;
  const std::string dir = root + "/store";

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
  state.counters["load_seconds"] =
      absl::ToDoubleSeconds(absl::Now() - load_start);

  std::unique_ptr<storage::Store> store = OpenStore(dir);
  auto rulesets = RulesetRegistry::Create({store.get(), Clock::Real(), {}});
  Check(rulesets.status(), "ruleset registry");
  RulesetSimulator::Options options;
  options.store = store.get();
  options.registry = rulesets->get();
  auto simulator = RulesetSimulator::Create(options);
  Check(simulator.status(), "simulator");
  v1::SimulateRulesetRequest request;
  request.set_version(2);

  v1::SimulateRulesetResponse response;
  absl::Duration elapsed;
  for (auto _ : state) {
    const absl::Time start = absl::Now();
    auto result = (*simulator)->Simulate(request);
    elapsed = absl::Now() - start;
    if (!result.ok()) {
      state.SkipWithError(result.status().ToString().c_str());
      break;
    }
    response = *std::move(result);
  }
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  // Over the wall time of the call (computed here, not left to the
  // library's choice of CPU or real time).
  state.counters["customers_per_second"] =
      static_cast<double>(response.scanned_customers()) /
      absl::ToDoubleSeconds(elapsed);
  state.counters["scanned"] = static_cast<double>(response.scanned_customers());
  state.counters["changed"] = static_cast<double>(response.changed_customers());
  state.counters["peak_rss_mib"] =
      static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is KiB

  rulesets->reset();
  Check(store->Close(), "close");
  store.reset();
  std::filesystem::remove_all(root);
}

BENCHMARK(BM_SimulateRuleset)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kSecond);

}  // namespace
}  // namespace custodian::server
