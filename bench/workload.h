// The load generators' workload: customers of a named mix, and the roster
// and ruleset they route through. Shared by custodian_loadgen (over gRPC)
// and assigner_bench (in process), so both measure the same work.
//
// Customers: CustomerFactory::Fill(n) gives customer number n of the mix;
// its attributes depend only on (seed, n) and its id only on (prefix, n), so
// runs are reproducible. GeneratedRoster/GeneratedRuleset: the shape of
// examples/ruleset.yaml widened to `teams` sales and `teams` service teams,
// with every rep at capacity 1,000,000 so capacity is never the limit
// (docs/performance.md, "The generated ruleset").
#ifndef CUSTODIAN_BENCH_WORKLOAD_H_
#define CUSTODIAN_BENCH_WORKLOAD_H_

#include <cstdint>
#include <string>

#include "custodian/v1/customer.pb.h"

namespace custodian::bench {

// spread: region LG/R<k>/..., k uniform over the teams, ~2% key accounts;
// one-team: every customer to team 0 of each department (the hot team);
// example: the shapes of examples/customers.jsonl, for examples/ruleset.yaml.
enum class Mix { kSpread, kOneTeam, kExample };

// SplitMix64's finalizer: a well-mixed 64-bit hash of x.
uint64_t SplitMix64(uint64_t x);

// Fills customer number `n` of the mix. Thread-safe (const).
class CustomerFactory {
 public:
  // `teams` >= 1 (clamped); `prefix` starts every customer id.
  CustomerFactory(Mix mix, int teams, uint64_t seed, std::string prefix);

  void Fill(uint64_t n, v1::Customer* c) const;

 private:
  const Mix mix_;
  const uint64_t teams_;
  const uint64_t seed_;
  const std::string prefix_;
  const int64_t now_;
};

// The roster YAML: departments sales and service, `teams` teams of `reps`
// reps in each, a key-account team, the pools lg-pool and unassigned-sales.
std::string GeneratedRoster(int teams, int reps);
// The ruleset YAML for that roster (see the top of this file).
std::string GeneratedRuleset(int teams);

}  // namespace custodian::bench

#endif  // CUSTODIAN_BENCH_WORKLOAD_H_
