// custodian_loadgen: drives a running custodiand with one RPC at a time and
// reports throughput, latency percentiles and errors. See
// docs/performance.md for the scenarios and bench/run_load.sh, which runs
// them.
//
//   custodian_loadgen --server 127.0.0.1:50051 --rpc assign --mix spread
//       --concurrency 64 --duration 30s --warmup 5s --baseline
//   custodian_loadgen --rpc assign --rate 7000 ...        (open loop)
//   custodian_loadgen --rpc batch-assign --count 1000000 --batch-size 1000
//   custodian_loadgen --write-config DIR --teams 64 --reps-per-team 8
//
// Closed loop (no --rate): --concurrency callers, each with one call
// outstanding; the next call is issued from the completion callback (gRPC
// callback API), so the offered load is whatever the server sustains.
// Latency is from issue to completion.
//
// Open loop (--rate R): calls are issued on a fixed schedule of R per second
// whatever the server does; --concurrency caps the calls outstanding. Latency
// is from the scheduled time, so time spent waiting for a free slot (the
// server falling behind) counts ("coordinated omission" corrected).
//
// Calls are spread over --channels channels (separate TCP connections). A
// call counts when it was issued after the warm-up and completed before the
// end of the measured window; throughput is those calls (or batch items)
// that succeeded, divided by the window. With --count the run has no warm-up
// and ends when N calls (batch-assign: N customers) completed; the window is
// the whole run.
//
// Every Assign/BatchAssign customer has a new id (--id-prefix + a counter)
// and every request a new request_id, so each call creates a customer. The
// attributes come from --mix and --seed and are a function of the counter, so
// a run is reproducible.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/loadgen_histogram.h"
#include "bench/workload.h"
#include "custodian/v1/assignment_service.grpc.pb.h"
#include "custodian/v1/ruleset_service.grpc.pb.h"
#include "google/protobuf/arena.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"

namespace custodian::loadgen {
namespace {

using Clock = std::chrono::steady_clock;
using ::custodian::v1::AssignmentService;
using ::custodian::v1::Customer;

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;
constexpr int kExitNotServed = 3;  // the RPC is unimplemented / unreachable
constexpr int kExitCannotWrite = 4;

enum class Rpc { kEmpty, kAssign, kEvaluate, kBatchAssign, kValidate };
using ::custodian::bench::CustomerFactory;
using ::custodian::bench::GeneratedRoster;
using ::custodian::bench::GeneratedRuleset;
using ::custodian::bench::Mix;

const std::map<std::string, Rpc>& RpcNames() {
  static const auto* names =
      new std::map<std::string, Rpc>{{"empty", Rpc::kEmpty},
                                     {"assign", Rpc::kAssign},
                                     {"evaluate", Rpc::kEvaluate},
                                     {"batch-assign", Rpc::kBatchAssign},
                                     {"validate", Rpc::kValidate}};
  return *names;
}

std::string RpcName(Rpc rpc) {
  for (const auto& [name, value] : RpcNames()) {
    if (value == rpc) return name;
  }
  return "?";
}

const std::map<std::string, Mix>& MixNames() {
  static const auto* names =
      new std::map<std::string, Mix>{{"spread", Mix::kSpread},
                                     {"one-team", Mix::kOneTeam},
                                     {"example", Mix::kExample}};
  return *names;
}

struct Options {
  std::string server = "127.0.0.1:50051";
  Rpc rpc = Rpc::kEmpty;
  Mix mix = Mix::kSpread;
  int concurrency = 64;
  int channels = 0;  // 0: one per core
  absl::Duration duration = absl::Seconds(30);
  uint64_t count = 0;                                    // > 0: --count mode
  absl::Duration time_limit = absl::InfiniteDuration();  // --count mode
  double rate = 0;                                       // > 0: open loop
  int batch_size = 1000;
  absl::Duration warmup = absl::Seconds(5);
  absl::Duration deadline = absl::Seconds(30);
  uint64_t seed = 1;
  int teams = 64;
  bool baseline = false;
  bool json = false;
  int server_pid = 0;
  std::string id_prefix;
  std::string ruleset_file;  // --rpc validate
};

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) {
    std::cerr << "custodian_loadgen: cannot write " << path << "\n";
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Process measurements

// Peak resident set size of this process, in KiB.
int64_t SelfPeakRssKib() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

double SelfCpuSeconds() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) +
           static_cast<double>(tv.tv_usec) / 1e6;
  };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

// A "Vm...:" line of /proc/PID/status in KiB; -1 if unreadable.
int64_t ProcStatusKib(int pid, absl::string_view key) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(f, line)) {
    if (absl::StartsWith(line, key) && line.size() > key.size() &&
        line[key.size()] == ':') {
      std::vector<absl::string_view> parts =
          absl::StrSplit(absl::string_view(line).substr(key.size() + 1), ' ',
                         absl::SkipWhitespace());
      int64_t kib = 0;
      if (!parts.empty() && absl::SimpleAtoi(parts[0], &kib)) return kib;
    }
  }
  return -1;
}

// utime + stime of a process from /proc/PID/stat; -1 if unreadable.
double ProcCpuSeconds(int pid) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(f)),
                   std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return -1;
  // After "pid (comm)": field 3 (state) is index 0; utime is field 14.
  std::vector<absl::string_view> fields = absl::StrSplit(
      absl::string_view(text).substr(paren + 1), ' ', absl::SkipWhitespace());
  uint64_t utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return -1;
  }
  return static_cast<double>(utime + stime) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

// ---------------------------------------------------------------------------
// The driver

constexpr int kCodes = 17;  // grpc::StatusCode 0..16

const char* CodeName(int code) {
  static constexpr const char* kNames[kCodes] = {"OK",
                                                 "CANCELLED",
                                                 "UNKNOWN",
                                                 "INVALID_ARGUMENT",
                                                 "DEADLINE_EXCEEDED",
                                                 "NOT_FOUND",
                                                 "ALREADY_EXISTS",
                                                 "PERMISSION_DENIED",
                                                 "RESOURCE_EXHAUSTED",
                                                 "FAILED_PRECONDITION",
                                                 "ABORTED",
                                                 "OUT_OF_RANGE",
                                                 "UNIMPLEMENTED",
                                                 "INTERNAL",
                                                 "UNAVAILABLE",
                                                 "DATA_LOSS",
                                                 "UNAUTHENTICATED"};
  return code >= 0 && code < kCodes ? kNames[code] : "UNKNOWN";
}

// What one caller (slot) saw in the measured window. Written only by the
// callback of the slot's current call, read after the phase.
struct SlotStats {
  LatencyHistogram latency_ns;
  std::array<uint64_t, kCodes> calls{};  // by status code
  uint64_t items_ok = 0;                 // batch-assign: customers assigned
  std::array<uint64_t, kCodes> item_errors{};
};

struct Phase {
  Rpc rpc;
  int concurrency;
  double rate;                // 0: closed loop
  uint64_t count;             // 0: timed
  absl::Duration time_limit;  // --count: stop issuing after this
  absl::Duration warmup;
  absl::Duration duration;
};

struct PhaseResult {
  Phase phase;
  SlotStats stats;
  double window_s = 0;
  double elapsed_s = 0;      // the whole phase, warm-up and drain included
  double loadgen_cpu_s = 0;  // over elapsed_s
  double server_cpu_s = -1;  // over elapsed_s; -1 without --server-pid
  uint64_t late_issues = 0;  // open loop: calls issued > 1 ms after schedule
  bool drained = true;
};

class Driver;

// One outstanding call: its context and messages are reused call after call.
struct Slot {
  Driver* driver = nullptr;
  int index = 0;
  std::unique_ptr<grpc::ClientContext> context;
  Clock::time_point start;  // issue time (closed) or schedule time (open)
  int items = 0;            // customers in the current batch
  SlotStats stats;
  v1::AssignRequest assign_request;
  v1::EvaluateRequest evaluate_request;
  v1::BatchAssignRequest batch_request;
  // The responses of Assign, Evaluate and BatchAssign live on an arena that
  // NewResponses() resets before each such call (not before the empty RPC,
  // whose cost is the baseline). Parsed into reused heap
  // messages they cost more: protobuf's Clear deletes every singular
  // sub-message (each ownership, its explanation), so each response freed
  // and reallocated them all, a tenth of the load generator's CPU per
  // Evaluate.
  alignas(16) std::array<char, 16 << 10> arena_block;
  std::optional<google::protobuf::Arena> arena;
  v1::AssignResponse* assign_response = nullptr;
  v1::BatchAssignResponse* batch_response = nullptr;
  grpc::health::v1::HealthCheckRequest health_request;
  grpc::health::v1::HealthCheckResponse health_response;
  v1::ValidateRulesetRequest validate_request;
  v1::ValidateRulesetResponse validate_response;

  // Frees the previous call's responses and makes empty ones.
  void NewResponses() {
    if (!arena.has_value()) {
      google::protobuf::ArenaOptions options;
      options.initial_block = arena_block.data();
      options.initial_block_size = arena_block.size();
      arena.emplace(options);
    } else {
      arena->Reset();
    }
    assign_response =
        google::protobuf::Arena::CreateMessage<v1::AssignResponse>(&*arena);
    batch_response =
        google::protobuf::Arena::CreateMessage<v1::BatchAssignResponse>(
            &*arena);
  }
};

class Driver {
 public:
  Driver(const Options& options, CustomerFactory* customers,
         std::string ruleset_text)
      : options_(options),
        customers_(customers),
        ruleset_text_(std::move(ruleset_text)) {
    const int channels =
        options.channels > 0
            ? options.channels
            : std::max(1,
                       static_cast<int>(std::thread::hardware_concurrency()));
    for (int i = 0; i < channels; ++i) {
      grpc::ChannelArguments args;
      // Distinct args and a local subchannel pool: one TCP connection each.
      args.SetInt("custodian.loadgen.channel", i);
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetMaxReceiveMessageSize(64 << 20);
      channels_.push_back(grpc::CreateCustomChannel(
          options.server, grpc::InsecureChannelCredentials(), args));
      assignment_.push_back(AssignmentService::NewStub(channels_.back()));
      health_.push_back(grpc::health::v1::Health::NewStub(channels_.back()));
      rulesets_.push_back(v1::RulesetService::NewStub(channels_.back()));
    }
  }

  int channel_count() const { return static_cast<int>(channels_.size()); }

  // Waits for every channel to connect. False (after printing why) if one
  // does not within `timeout`.
  bool Connect(absl::Duration timeout) {
    const auto deadline =
        std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout);
    for (const auto& channel : channels_) {
      if (!channel->WaitForConnected(deadline)) {
        std::cerr << "custodian_loadgen: cannot connect to " << options_.server
                  << "\n";
        return false;
      }
    }
    return true;
  }

  // One blocking call of `rpc`, to find out whether it is served.
  grpc::Status Probe(Rpc rpc) {
    Slot slot;
    slot.driver = this;
    absl::Notification done;
    grpc::Status result;
    Issue(rpc, &slot, Clock::time_point(), [&](grpc::Status s) {
      result = std::move(s);
      done.Notify();
    });
    done.WaitForNotification();
    return result;
  }

  PhaseResult Run(const Phase& phase) {
    phase_ = phase;
    slots_.clear();
    for (int i = 0; i < phase.concurrency; ++i) {
      auto slot = std::make_unique<Slot>();
      slot->driver = this;
      slot->index = i;
      slots_.push_back(std::move(slot));
    }
    items_issued_.store(0);
    outstanding_.store(0);
    late_issues_.store(0);
    stop_.store(false);

    const double cpu0 = SelfCpuSeconds();
    const double server_cpu0 =
        options_.server_pid > 0 ? ProcCpuSeconds(options_.server_pid) : -1;
    origin_ = Clock::now();
    if (phase.count > 0) {
      measure_start_ = origin_;
      measure_end_ =
          phase.time_limit == absl::InfiniteDuration()
              ? Clock::time_point::max()
              : origin_ + absl::ToChronoNanoseconds(phase.time_limit);
    } else {
      measure_start_ = origin_ + absl::ToChronoNanoseconds(phase.warmup);
      measure_end_ = measure_start_ + absl::ToChronoNanoseconds(phase.duration);
    }
    last_completion_ns_.store(0);

    if (phase.rate > 0) {
      RunOpenLoop();
    } else {
      for (auto& slot : slots_) StartNext(slot.get(), Clock::now());
    }
    const bool drained = WaitDrained();
    PhaseResult result;
    result.phase = phase;
    result.drained = drained;
    for (const auto& slot : slots_) {
      result.stats.latency_ns.Merge(slot->stats.latency_ns);
      for (int c = 0; c < kCodes; ++c) {
        result.stats.calls[c] += slot->stats.calls[c];
        result.stats.item_errors[c] += slot->stats.item_errors[c];
      }
      result.stats.items_ok += slot->stats.items_ok;
    }
    if (phase.count > 0) {
      result.window_s = static_cast<double>(last_completion_ns_.load()) / 1e9;
    } else {
      result.window_s = absl::ToDoubleSeconds(phase.duration);
    }
    result.elapsed_s =
        std::chrono::duration<double>(Clock::now() - origin_).count();
    result.loadgen_cpu_s = SelfCpuSeconds() - cpu0;
    if (server_cpu0 >= 0) {
      result.server_cpu_s = ProcCpuSeconds(options_.server_pid) - server_cpu0;
    }
    result.late_issues = late_issues_.load();
    return result;
  }

 private:
  int64_t SinceOrigin(Clock::time_point t) const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t - origin_)
        .count();
  }

  // Closed loop: issues the slot's next call, or retires the slot when the
  // phase is over.
  void StartNext(Slot* slot, Clock::time_point now) {
    int items = 1;
    if (!Claim(now, &items)) return;
    slot->items = items;
    outstanding_.fetch_add(1);
    Issue(phase_.rpc, slot, Clock::time_point(),
          [slot](grpc::Status s) { slot->driver->OnDone(slot, s); });
  }

  // Whether another call may start at `now`; with --count, claims its items.
  bool Claim(Clock::time_point now, int* items) {
    if (stop_.load(std::memory_order_relaxed)) return false;
    if (now >= measure_end_) return false;
    if (phase_.count == 0) return true;
    const uint64_t per_call =
        phase_.rpc == Rpc::kBatchAssign ? options_.batch_size : 1;
    const uint64_t first = items_issued_.fetch_add(per_call);
    if (first >= phase_.count) return false;
    *items = static_cast<int>(std::min(per_call, phase_.count - first));
    return true;
  }

  void OnDone(Slot* slot, const grpc::Status& status) {
    const Clock::time_point now = Clock::now();
    Record(slot, status, now);
    if (phase_.rate > 0) {
      absl::MutexLock lock(&free_mu_);
      free_.push_back(slot);
    } else {
      StartNext(slot, now);
    }
    outstanding_.fetch_sub(1);
  }

  void Record(Slot* slot, const grpc::Status& status, Clock::time_point now) {
    if (phase_.count > 0) {
      int64_t ns = SinceOrigin(now);
      int64_t seen = last_completion_ns_.load();
      while (ns > seen &&
             !last_completion_ns_.compare_exchange_weak(seen, ns)) {
      }
    } else if (slot->start < measure_start_ || now > measure_end_) {
      return;
    }
    SlotStats& stats = slot->stats;
    const int code =
        std::clamp(static_cast<int>(status.error_code()), 0, kCodes - 1);
    ++stats.calls[code];
    if (!status.ok()) return;
    stats.latency_ns.Record(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - slot->start)
            .count()));
    if (phase_.rpc == Rpc::kBatchAssign) {
      for (const v1::BatchAssignResult& r : slot->batch_response->results()) {
        if (r.has_error()) {
          ++stats.item_errors[std::clamp(r.error().code(), 0, kCodes - 1)];
        } else {
          ++stats.items_ok;
        }
      }
    } else {
      ++stats.items_ok;
    }
  }

  // Open loop: a pacer issues call i at origin + i / rate.
  void RunOpenLoop() {
    {
      absl::MutexLock lock(&free_mu_);
      free_.clear();
      for (auto& slot : slots_) free_.push_back(slot.get());
    }
    const double interval_ns = 1e9 / phase_.rate;
    for (uint64_t i = 0;; ++i) {
      const Clock::time_point at =
          origin_ + std::chrono::nanoseconds(static_cast<int64_t>(
                        interval_ns * static_cast<double>(i)));
      int items = 1;
      if (!Claim(at, &items)) break;
      std::this_thread::sleep_until(at);
      Slot* slot = nullptr;
      {
        absl::MutexLock lock(&free_mu_);
        free_mu_.Await(absl::Condition(
            +[](std::vector<Slot*>* free) { return !free->empty(); }, &free_));
        slot = free_.back();
        free_.pop_back();
      }
      if (Clock::now() - at > std::chrono::milliseconds(1)) {
        late_issues_.fetch_add(1);
      }
      slot->items = items;
      outstanding_.fetch_add(1);
      Issue(phase_.rpc, slot, at,
            [slot](grpc::Status s) { slot->driver->OnDone(slot, s); });
    }
  }

  // Waits until no call is outstanding; after the deadline of the last
  // calls, cancels what is left. False if calls had to be cancelled.
  bool WaitDrained() {
    const absl::Time give_up =
        absl::Now() + options_.deadline + absl::Seconds(5) +
        (phase_.count > 0 ? absl::InfiniteDuration()
                          : absl::FromChrono(measure_end_ - Clock::now()));
    while (outstanding_.load() > 0) {
      if (absl::Now() > give_up) {
        stop_.store(true);
        for (auto& slot : slots_) {
          if (slot->context) slot->context->TryCancel();
        }
        while (outstanding_.load() > 0) absl::SleepFor(absl::Milliseconds(5));
        return false;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    return true;
  }

  // Builds the slot's request for `rpc` and starts the call. Latency counts
  // from `start` (open loop: the scheduled time) or, when `start` is the
  // epoch, from now, so it includes building the request (closed loop).
  void Issue(Rpc rpc, Slot* slot, Clock::time_point start,
             std::function<void(grpc::Status)> done) {
    slot->context = std::make_unique<grpc::ClientContext>();
    slot->context->set_deadline(std::chrono::system_clock::now() +
                                absl::ToChronoMilliseconds(options_.deadline));
    slot->start = start == Clock::time_point() ? Clock::now() : start;
    const int channel = slot->index % static_cast<int>(channels_.size());
    grpc::ClientContext* ctx = slot->context.get();
    switch (rpc) {
      case Rpc::kEmpty:
        health_[channel]->async()->Check(ctx, &slot->health_request,
                                         &slot->health_response,
                                         std::move(done));
        return;
      case Rpc::kAssign: {
        const uint64_t n = next_customer_.fetch_add(1);
        customers_->Fill(n, slot->assign_request.mutable_customer());
        slot->assign_request.set_request_id(RequestId(n));
        slot->NewResponses();
        assignment_[channel]->async()->Assign(
            ctx, &slot->assign_request, slot->assign_response, std::move(done));
        return;
      }
      case Rpc::kEvaluate: {
        const uint64_t n = next_customer_.fetch_add(1);
        customers_->Fill(n, slot->evaluate_request.mutable_customer());
        slot->NewResponses();
        assignment_[channel]->async()->Evaluate(ctx, &slot->evaluate_request,
                                                slot->assign_response,
                                                std::move(done));
        return;
      }
      case Rpc::kBatchAssign: {
        const int items = std::max(slot->items, 1);
        const uint64_t first = next_customer_.fetch_add(items);
        auto* requests = slot->batch_request.mutable_requests();
        while (requests->size() > items) requests->RemoveLast();
        while (requests->size() < items) requests->Add();
        for (int i = 0; i < items; ++i) {
          v1::AssignRequest* r = requests->Mutable(i);
          customers_->Fill(first + i, r->mutable_customer());
          r->set_request_id(RequestId(first + i));
        }
        slot->NewResponses();
        assignment_[channel]->async()->BatchAssign(
            ctx, &slot->batch_request, slot->batch_response, std::move(done));
        return;
      }
      case Rpc::kValidate:
        if (slot->validate_request.source_text().empty()) {
          slot->validate_request.set_source_text(ruleset_text_);
          slot->validate_request.set_file_name("ruleset.yaml");
        }
        rulesets_[channel]->async()->ValidateRuleset(
            ctx, &slot->validate_request, &slot->validate_response,
            std::move(done));
        return;
    }
  }

  std::string RequestId(uint64_t n) const {
    return absl::StrCat(options_.id_prefix, "-r", n);
  }

  const Options& options_;
  CustomerFactory* const customers_;
  const std::string ruleset_text_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<AssignmentService::Stub>> assignment_;
  std::vector<std::unique_ptr<grpc::health::v1::Health::Stub>> health_;
  std::vector<std::unique_ptr<v1::RulesetService::Stub>> rulesets_;

  Phase phase_{};
  std::vector<std::unique_ptr<Slot>> slots_;
  Clock::time_point origin_, measure_start_, measure_end_;
  std::atomic<uint64_t> next_customer_{0};  // across phases: ids stay unique
  std::atomic<uint64_t> items_issued_{0};
  std::atomic<int64_t> outstanding_{0};
  std::atomic<int64_t> last_completion_ns_{0};
  std::atomic<uint64_t> late_issues_{0};
  std::atomic<bool> stop_{false};
  absl::Mutex free_mu_;
  std::vector<Slot*> free_ ABSL_GUARDED_BY(free_mu_);
};

// ---------------------------------------------------------------------------
// Reporting

double Ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

nlohmann::json PhaseJson(const PhaseResult& r) {
  const SlotStats& s = r.stats;
  uint64_t ok = s.calls[0], failed = 0;
  nlohmann::json errors = nlohmann::json::object();
  for (int c = 1; c < kCodes; ++c) {
    failed += s.calls[c];
    if (s.calls[c] > 0) errors[CodeName(c)] = s.calls[c];
  }
  nlohmann::json item_errors = nlohmann::json::object();
  uint64_t items_failed = 0;
  for (int c = 0; c < kCodes; ++c) {
    items_failed += s.item_errors[c];
    if (s.item_errors[c] > 0) item_errors[CodeName(c)] = s.item_errors[c];
  }
  const double window = std::max(r.window_s, 1e-9);
  nlohmann::json j = {
      {"rpc", RpcName(r.phase.rpc)},
      {"mode", r.phase.rate > 0 ? "open" : "closed"},
      {"concurrency", r.phase.concurrency},
      {"target_rate", r.phase.rate},
      {"window_s", r.window_s},
      {"calls_ok", ok},
      {"calls_failed", failed},
      {"ok_per_s", static_cast<double>(ok) / window},
      {"items_ok", s.items_ok},
      {"items_failed", items_failed},
      {"items_per_s", static_cast<double>(s.items_ok) / window},
      {"p50_ms", Ms(s.latency_ns.Percentile(0.50))},
      {"p90_ms", Ms(s.latency_ns.Percentile(0.90))},
      {"p99_ms", Ms(s.latency_ns.Percentile(0.99))},
      {"p999_ms", Ms(s.latency_ns.Percentile(0.999))},
      {"max_ms", Ms(s.latency_ns.max())},
      {"mean_ms", s.latency_ns.mean() / 1e6},
      {"errors", errors},
      {"item_errors", item_errors},
      {"elapsed_s", r.elapsed_s},
      {"loadgen_cpu_cores", r.loadgen_cpu_s / std::max(r.elapsed_s, 1e-9)},
      {"late_issues", r.late_issues},
      {"drained", r.drained}};
  if (r.server_cpu_s >= 0) {
    j["server_cpu_cores"] = r.server_cpu_s / std::max(r.elapsed_s, 1e-9);
  }
  return j;
}

void PrintPhase(const PhaseResult& r, std::ostream& out) {
  const nlohmann::json j = PhaseJson(r);
  out << absl::StrFormat(
      "%-12s %-6s conc=%-4d ok/s=%-10.1f p50=%.3fms p99=%.3fms "
      "p999=%.3fms max=%.3fms ok=%d failed=%d",
      RpcName(r.phase.rpc), j["mode"].get<std::string>(), r.phase.concurrency,
      j["ok_per_s"].get<double>(), j["p50_ms"].get<double>(),
      j["p99_ms"].get<double>(), j["p999_ms"].get<double>(),
      j["max_ms"].get<double>(), j["calls_ok"].get<uint64_t>(),
      j["calls_failed"].get<uint64_t>());
  if (r.phase.rpc == Rpc::kBatchAssign) {
    out << absl::StrFormat(
        " items/s=%.1f items=%d item_failed=%d", j["items_per_s"].get<double>(),
        j["items_ok"].get<uint64_t>(), j["items_failed"].get<uint64_t>());
  }
  if (r.phase.rate > 0) {
    out << absl::StrFormat(" target=%.0f/s late=%d", r.phase.rate,
                           r.late_issues);
  }
  out << absl::StrFormat(" window=%.1fs cpu(loadgen)=%.2f",
                         j["window_s"].get<double>(),
                         j["loadgen_cpu_cores"].get<double>());
  if (j.contains("server_cpu_cores")) {
    out << absl::StrFormat(" cpu(server)=%.2f",
                           j["server_cpu_cores"].get<double>());
  }
  out << "\n";
  for (const char* key : {"errors", "item_errors"}) {
    for (const auto& [code, n] : j[key].items()) {
      out << "    " << key << " " << code << ": " << n.get<uint64_t>() << "\n";
    }
  }
  if (!r.drained) out << "    (calls still outstanding were cancelled)\n";
}

bool ParseDurationFlag(const std::string& name, const std::string& text,
                       absl::Duration* out) {
  if (!absl::ParseDuration(text, out) || *out < absl::ZeroDuration()) {
    std::cerr << "custodian_loadgen: " << name << ": not a duration: \"" << text
              << "\" (e.g. 30s, 2m, 500ms)\n";
    return false;
  }
  return true;
}

std::string DefaultIdPrefix() {
  // Unique per run: Assign must create new customers every time.
  return absl::StrCat(
      "lg", absl::Hex(static_cast<uint64_t>(absl::ToUnixMicros(absl::Now())) ^
                      (static_cast<uint64_t>(getpid()) << 40)));
}

int Main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "custodian_loadgen: load generator for custodiand (see "
      "docs/performance.md)",
      "custodian_loadgen"};
  std::string rpc = "empty", mix = "spread", duration = "30s", warmup = "5s",
              deadline = "30s", write_config;
  int reps_per_team = 8;
  app.add_option("--server", o.server, "custodiand address (host:port)")
      ->capture_default_str();
  app.add_option("--rpc", rpc,
                 "assign | evaluate | batch-assign | empty "
                 "(grpc.health.v1.Health/Check: the baseline) | validate "
                 "(ValidateRuleset of --ruleset-file or the generated ruleset)")
      ->check(CLI::IsMember(
          {"assign", "evaluate", "batch-assign", "empty", "validate"}))
      ->capture_default_str();
  app.add_option("--concurrency", o.concurrency,
                 "callers, each with one call outstanding (closed loop); with "
                 "--rate, the most calls outstanding")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--channels", o.channels,
                 "gRPC channels (TCP connections) the callers share; 0 = one "
                 "per core")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  CLI::Option* duration_flag =
      app.add_option("--duration", duration,
                     "measured time, after --warmup (e.g. 30s, 2m)")
          ->capture_default_str();
  CLI::Option* count_flag =
      app.add_option("--count", o.count,
                     "instead of --duration: stop after N calls (batch-assign: "
                     "N customers); no warm-up; the window is the whole run")
          ->check(
              CLI::Range(uint64_t{1}, std::numeric_limits<uint64_t>::max()));
  count_flag->excludes(duration_flag);
  std::string time_limit;
  CLI::Option* time_limit_flag =
      app.add_option("--time-limit", time_limit,
                     "with --count: issue no call after this long (e.g. 5m); "
                     "the report then has complete=false")
          ->needs(count_flag);
  app.add_option("--rate", o.rate,
                 "open loop: issue this many calls per second on a fixed "
                 "schedule; latency counts from the scheduled time. Unset: "
                 "closed loop")
      ->check(CLI::PositiveNumber);
  app.add_option("--mix", mix,
                 "customers: spread (uniform over --teams teams of the "
                 "generated ruleset, ~2% key accounts) | one-team (all to "
                 "team 0 of each department) | example (the shapes of "
                 "examples/customers.jsonl, for examples/ruleset.yaml)")
      ->check(CLI::IsMember({"spread", "one-team", "example"}))
      ->capture_default_str();
  app.add_option("--teams", o.teams,
                 "teams per department in the generated ruleset (must match "
                 "the --write-config the server was bootstrapped with)")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_option("--batch-size", o.batch_size, "customers per BatchAssign call")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--warmup", warmup,
                 "calls before the measured window (not counted)")
      ->capture_default_str();
  app.add_option("--deadline", deadline, "per-call deadline")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "seed of the customer attributes")
      ->capture_default_str();
  app.add_option("--id-prefix", o.id_prefix,
                 "customer id and request id prefix (default: unique per run, "
                 "so every Assign creates a customer)");
  app.add_flag("--baseline", o.baseline,
               "first run the empty RPC with the same concurrency, rate and "
               "duration, and report the ratio");
  app.add_flag("--json", o.json, "print the report as JSON on stdout");
  app.add_option("--server-pid", o.server_pid,
                 "custodiand's pid: report its peak RSS (VmHWM) and CPU use")
      ->check(CLI::PositiveNumber);
  app.add_option("--ruleset-file", o.ruleset_file,
                 "--rpc validate: the ruleset text to send");
  app.add_option("--write-config", write_config,
                 "write DIR/roster.yaml and DIR/ruleset.yaml for --teams and "
                 "--reps-per-team (what spread and one-team route through) "
                 "and exit")
      ->type_name("DIR");
  app.add_option("--reps-per-team", reps_per_team,
                 "--write-config: reps in each team")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }

  if (!write_config.empty()) {
    if (!WriteFile(write_config + "/roster.yaml",
                   GeneratedRoster(o.teams, reps_per_team)) ||
        !WriteFile(write_config + "/ruleset.yaml", GeneratedRuleset(o.teams))) {
      return kExitCannotWrite;
    }
    return kExitOk;
  }

  o.rpc = RpcNames().at(rpc);
  o.mix = MixNames().at(mix);
  if (!ParseDurationFlag("--duration", duration, &o.duration) ||
      !ParseDurationFlag("--warmup", warmup, &o.warmup) ||
      !ParseDurationFlag("--deadline", deadline, &o.deadline)) {
    return kExitUsage;
  }
  if (time_limit_flag->count() > 0 &&
      !ParseDurationFlag("--time-limit", time_limit, &o.time_limit)) {
    return kExitUsage;
  }
  if (count_flag->count() == 0 && o.duration <= absl::ZeroDuration()) {
    std::cerr << "custodian_loadgen: --duration must be positive\n";
    return kExitUsage;
  }
  if (o.id_prefix.empty()) o.id_prefix = DefaultIdPrefix();
  std::string ruleset_text = GeneratedRuleset(o.teams);
  if (!o.ruleset_file.empty()) {
    std::ifstream f(o.ruleset_file, std::ios::binary);
    if (!f) {
      std::cerr << "custodian_loadgen: cannot read " << o.ruleset_file << "\n";
      return kExitUsage;
    }
    std::ostringstream text;
    text << f.rdbuf();
    ruleset_text = text.str();
  }

  CustomerFactory customers(o.mix, o.teams, o.seed, o.id_prefix);
  Driver driver(o, &customers, ruleset_text);
  if (!driver.Connect(absl::Seconds(10))) return kExitNotServed;

  // One call first: a run of UNIMPLEMENTED answers measures nothing.
  for (Rpc probe : {o.rpc, Rpc::kEmpty}) {
    if (probe == Rpc::kEmpty && !o.baseline) continue;
    grpc::Status s = driver.Probe(probe);
    if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED ||
        s.error_code() == grpc::StatusCode::UNAVAILABLE) {
      std::cerr << "custodian_loadgen: " << RpcName(probe)
                << " is not served by " << o.server << ": "
                << CodeName(s.error_code()) << ": " << s.error_message()
                << "\n";
      return kExitNotServed;
    }
    if (!s.ok()) {
      std::cerr << "custodian_loadgen: warning: first " << RpcName(probe)
                << " call failed: " << CodeName(s.error_code()) << ": "
                << s.error_message() << "\n";
    }
  }

  Phase main_phase{};
  main_phase.rpc = o.rpc;
  main_phase.concurrency = o.concurrency;
  main_phase.rate = o.rate;
  main_phase.count = o.count;
  main_phase.time_limit = o.time_limit;
  main_phase.warmup = o.warmup;
  main_phase.duration = o.duration;
  std::optional<PhaseResult> baseline;
  if (o.baseline) {
    Phase b = main_phase;
    b.rpc = Rpc::kEmpty;
    if (b.count > 0) {
      // Same number of calls as the main phase.
      b.count = o.rpc == Rpc::kBatchAssign
                    ? (o.count + o.batch_size - 1) / o.batch_size
                    : o.count;
    }
    baseline = driver.Run(b);
    if (!o.json) PrintPhase(*baseline, std::cout);
  }
  const PhaseResult result = driver.Run(main_phase);

  nlohmann::json report = PhaseJson(result);
  report["server"] = o.server;
  report["channels"] = driver.channel_count();
  report["mix"] = mix;
  report["teams"] = o.teams;
  report["seed"] = o.seed;
  report["id_prefix"] = o.id_prefix;
  if (o.rpc == Rpc::kBatchAssign) report["batch_size"] = o.batch_size;
  if (o.count > 0) {
    report["count"] = o.count;
    report["complete"] = report["items_ok"].get<uint64_t>() +
                             report["items_failed"].get<uint64_t>() >=
                         o.count;
  }
  report["loadgen_peak_rss_kib"] = SelfPeakRssKib();
  if (baseline) {
    nlohmann::json b = PhaseJson(*baseline);
    report["baseline"] = b;
    const double base = b["ok_per_s"].get<double>();
    // Items (customers) per second, which is calls per second except for
    // batch-assign.
    report["ratio_to_baseline"] =
        base > 0 ? report["items_per_s"].get<double>() / base : 0.0;
  }
  if (o.server_pid > 0) {
    report["server_peak_rss_kib"] = ProcStatusKib(o.server_pid, "VmHWM");
    report["server_rss_kib"] = ProcStatusKib(o.server_pid, "VmRSS");
  }
  if (o.json) {
    std::cout << report.dump(2) << "\n";
  } else {
    PrintPhase(result, std::cout);
    if (o.count > 0 && !report["complete"].get<bool>()) {
      std::cout << "incomplete: --time-limit reached before --count\n";
    }
    if (baseline) {
      std::cout << absl::StrFormat("ratio %s/empty = %.3f\n", RpcName(o.rpc),
                                   report["ratio_to_baseline"].get<double>());
    }
    std::cout << "loadgen peak RSS " << SelfPeakRssKib() / 1024 << " MiB";
    if (o.server_pid > 0) {
      std::cout << ", server peak RSS (VmHWM) "
                << report["server_peak_rss_kib"].get<int64_t>() / 1024
                << " MiB";
    }
    std::cout << "\n";
  }
  return kExitOk;
}

}  // namespace
}  // namespace custodian::loadgen

int main(int argc, char** argv) {
  // Debian's Abseil is built with mutex deadlock detection on, and gRPC's
  // client locks absl::Mutex on every call: the load generator would spend
  // its CPU (which the server shares) updating the global lock graph. As
  // custodiand does (server/main.cc), it turns detection off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return custodian::loadgen::Main(argc, argv);
}
