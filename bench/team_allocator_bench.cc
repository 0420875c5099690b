// TeamAllocator Pick + Commit throughput (server/team_allocator.h): the
// in-memory part of assigning a customer to a team, without the store.
//
//   BM_PickCommit_HotTeam    every thread picks from the same team of 8 reps
//                            (one team mutex, 8 rep mutexes contended)
//   BM_PickCommit_ManyTeams  each thread picks from its own teams (64 teams of
//                            8 reps, disjoint per thread): no shared lock
// Each with 1 and 8 threads and each strategy (arg: 1 round_robin,
// 2 weighted, 3 least_loaded, 4 best_match). items_per_second is picks per
// second over wall time, all threads together. Counts are loaded once from a
// loader that returns 0; capacity is large enough never to be reached.
//
//   cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release
//       -DCUSTODIAN_BUILD_TESTS=OFF   (one line)
//   ninja -C build/bench team_allocator_bench
//   build/bench/bench/team_allocator_bench
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "server/team_allocator.h"

namespace custodian::server {
namespace {

constexpr int kMembers = 8;
constexpr int kTeams = 64;

std::unique_ptr<TeamAllocator> g_allocator;

void SetupAllocator(const benchmark::State&) {
  g_allocator = std::make_unique<TeamAllocator>(
      [](absl::string_view) -> absl::StatusOr<int64_t> { return 0; });
}

void TeardownAllocator(const benchmark::State&) { g_allocator.reset(); }

PickRequest MakeTeam(int team, int64_t strategy) {
  PickRequest r;
  r.department = "sales";
  r.team_id = absl::StrCat("team-", team);
  r.strategy = static_cast<v1::Strategy>(strategy);
  r.match_terms = {"C", "C39", "strategic", "key_account"};
  for (int m = 0; m < kMembers; ++m) {
    PickMember member;
    member.rep_id = absl::StrCat("rep-", team, "-", m);
    member.capacity = int64_t{1} << 40;
    member.weight = 1 + m % 3;
    member.skills = {m % 2 ? "C" : "G", m % 3 ? "strategic" : "x"};
    r.members.push_back(std::move(member));
  }
  return r;
}

void PickCommitLoop(benchmark::State& state,
                    const std::vector<PickRequest>& teams) {
  size_t next = 0;
  for (auto _ : state) {
    absl::StatusOr<PickResult> pick = g_allocator->Pick(teams[next]);
    if (!pick.ok() || !pick->picked()) {
      state.SkipWithError("pick failed");
      break;
    }
    pick->reservation->Commit();
    next = next + 1 == teams.size() ? 0 : next + 1;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_PickCommit_HotTeam(benchmark::State& state) {
  PickCommitLoop(state, {MakeTeam(0, state.range(0))});
}

void BM_PickCommit_ManyTeams(benchmark::State& state) {
  // Thread t uses teams t, t + threads, t + 2 * threads, ...: disjoint.
  std::vector<PickRequest> teams;
  for (int t = state.thread_index(); t < kTeams; t += state.threads()) {
    teams.push_back(MakeTeam(t, state.range(0)));
  }
  PickCommitLoop(state, teams);
}

void Configure(benchmark::internal::Benchmark* b) {
  b->ArgName("strategy")->DenseRange(1, 4);
  b->Threads(1)->Threads(8);
  b->UseRealTime();
  b->Setup(SetupAllocator)->Teardown(TeardownAllocator);
}

BENCHMARK(BM_PickCommit_HotTeam)->Apply(Configure);
BENCHMARK(BM_PickCommit_ManyTeams)->Apply(Configure);

}  // namespace
}  // namespace custodian::server
