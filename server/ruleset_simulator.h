// RulesetSimulator: SimulateRuleset, independent of gRPC. What a candidate
// ruleset version would change if it were active, over every stored
// customer, without writing anything.
//
// One call:
//   1. checks the request (INVALID_ARGUMENT naming every bad field);
//   2. takes ONE Snapshot of the store; everything below reads from it: the
//      active pointer (when baseline_version is 0), both versions, and every
//      CustomerRecord in Table::kCustomers (keys CustomerKey(id),
//      server/ownership_book.h);
//   3. compiles both versions once (the baseline reuses the registry's
//      compiled active ruleset when it is that version);
//   4. streams the customers in key order in batches to `worker_threads`
//      threads (the calling thread is one of them); each parses into a
//      reused CustomerRecord, evaluates both versions into reused
//      Evaluations at the one evaluation time, and aggregates into its own
//      tallies; memory is bounded by the batches in flight and the tallies
//      (one entry per distinct transition and rule, samples capped), never
//      by the number of customers;
//   5. merges the tallies deterministically: counts are sums; samples are
//      the first max_samples customer ids in id order (each thread's batches
//      are in key order, key order is id order, so the merge of the threads'
//      first-N lists is the global first N).
//
// A customer's target in a department is the decision's target kind (team,
// pool, rep) and id, or none (NO_MATCH, or the department is absent from
// that version). Strategy and requires_approval are not part of it.
//
// Thread-safe: Simulate may be called concurrently.
#ifndef CUSTODIAN_SERVER_RULESET_SIMULATOR_H_
#define CUSTODIAN_SERVER_RULESET_SIMULATOR_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "custodian/v1/ruleset_service.pb.h"
#include "server/ruleset_registry.h"
#include "storage/store.h"

namespace custodian::server {

// Samples per bucket when the request does not say.
inline constexpr int32_t kDefaultSimulationSamples = 5;
// The most samples per bucket a request may ask for.
inline constexpr int32_t kMaxSimulationSamples = 100;

// The prefix of every key in Table::kCustomers: ("customer"), the first
// component of CustomerKey(id).
std::string CustomerKeyPrefix();

class RulesetSimulator {
 public:
  struct Options {
    // Where customers and rulesets live. Required; must outlive the
    // simulator.
    storage::Store* store = nullptr;
    // The ruleset registry of `store`, for its compiled active ruleset.
    // Required; must outlive the simulator.
    const RulesetRegistry* registry = nullptr;
    // "now": the default evaluation time and the snapshot time. Default:
    // the real clock.
    Clock* clock = Clock::Real();
    // Threads evaluating customers, the calling thread included. >= 1.
    // Default: 2.
    int worker_threads = 2;
    // Customers handed to a thread at a time. >= 1. Default: 256.
    size_t batch_size = 256;
  };

  // Returns INVALID_ARGUMENT naming a bad option.
  static absl::StatusOr<std::unique_ptr<RulesetSimulator>> Create(
      Options options);

  // Tells a running simulation to stop: polled between batches; returns
  // true to stop.
  using CancelledFn = std::function<bool()>;

  // SimulateRuleset (see the file comment and the proto). Errors, nothing
  // written in any case:
  //   INVALID_ARGUMENT    version < 1, baseline_version < 0, at not a valid
  //                       timestamp, max_samples outside 0-100 (BadRequest
  //                       naming each);
  //   FAILED_PRECONDITION baseline_version 0 and no version is active;
  //   NOT_FOUND           "version: ..." or "baseline_version: ..." for a
  //                       version that does not exist;
  //   CANCELLED           `cancelled` returned true;
  //   DATA_LOSS           a stored version or customer record does not parse,
  //                       or a stored version does not compile (naming it);
  //   the store's errors (UNAVAILABLE, ...).
  absl::StatusOr<v1::SimulateRulesetResponse> Simulate(
      const v1::SimulateRulesetRequest& request,
      const CancelledFn& cancelled = nullptr) const;

 private:
  explicit RulesetSimulator(Options options) : options_(options) {}

  const Options options_;
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_RULESET_SIMULATOR_H_
