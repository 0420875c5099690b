#include "server/ruleset_simulator.h"

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "custodian/storage/v1/records.pb.h"
#include "custodian/v1/evaluation.pb.h"
#include "google/protobuf/util/time_util.h"
#include "rules/compiled_ruleset.h"
#include "rules/validator.h"
#include "server/request_checks.h"
#include "storage/keys.h"

namespace custodian::server {
namespace {

using ::google::protobuf::util::TimeUtil;

// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z (google.protobuf.Timestamp).
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

bool ValidTimestamp(const google::protobuf::Timestamp& t) {
  return t.seconds() >= kMinTimestampSeconds &&
         t.seconds() <= kMaxTimestampSeconds && t.nanos() >= 0 &&
         t.nanos() <= 999999999;
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// The target of a decision: kind and id; kind KIND_NOT_SET for none.
struct TargetRef {
  v1::Target::KindCase kind = v1::Target::KIND_NOT_SET;
  absl::string_view id;

  bool operator==(const TargetRef& o) const {
    return kind == o.kind && id == o.id;
  }
  bool operator!=(const TargetRef& o) const { return !(*this == o); }
};

TargetRef TargetOf(const v1::DepartmentDecision* decision) {
  if (decision == nullptr || !decision->has_target()) return {};
  const v1::Target& t = decision->target();
  switch (t.kind_case()) {
    case v1::Target::kTeam:
      return {t.kind_case(), t.team()};
    case v1::Target::kRep:
      return {t.kind_case(), t.rep()};
    case v1::Target::kPool:
      return {t.kind_case(), t.pool()};
    default:
      return {};
  }
}

// "team ka-east", "pool east-pool", "rep zhang.wei", "none": the text the
// transitions are ordered by (and custodianctl prints).
std::string TargetText(const TargetRef& t) {
  switch (t.kind) {
    case v1::Target::kTeam:
      return absl::StrCat("team ", t.id);
    case v1::Target::kRep:
      return absl::StrCat("rep ", t.id);
    case v1::Target::kPool:
      return absl::StrCat("pool ", t.id);
    default:
      return "none";
  }
}

// Appends the transition key of (from, to) to *key: each as one kind byte,
// the id, and a 0 byte (ids hold no 0 bytes).
void AppendTransitionKey(const TargetRef& from, const TargetRef& to,
                         std::string* key) {
  for (const TargetRef* t : {&from, &to}) {
    key->push_back(static_cast<char>('0' + static_cast<int>(t->kind)));
    key->append(t->id.data(), t->id.size());
    key->push_back('\0');
  }
}

// A bucket of customers: their count and the first samples in id order.
struct Bucket {
  int64_t count = 0;
  std::vector<std::string> samples;

  void Add(const std::string& customer_id, size_t max_samples) {
    ++count;
    if (samples.size() < max_samples) samples.push_back(customer_id);
  }
  // Adds `other` (from another thread) into this one. Samples are merged
  // and cut by Finish().
  void Merge(Bucket&& other) {
    count += other.count;
    for (std::string& s : other.samples) samples.push_back(std::move(s));
  }
  // The first `max_samples` samples in id order.
  void Finish(size_t max_samples) {
    std::sort(samples.begin(), samples.end());
    if (samples.size() > max_samples) samples.resize(max_samples);
  }
};

struct TransitionBucket {
  TargetRef from;  // ids point into from_id / to_id
  TargetRef to;
  std::string from_id;
  std::string to_id;
  Bucket bucket;
};

// One thread's tallies of one department.
struct DepartmentTally {
  int64_t changed = 0;
  // By AppendTransitionKey.
  absl::flat_hash_map<std::string, std::unique_ptr<TransitionBucket>>
      transitions;
  // By candidate rule id.
  absl::flat_hash_map<std::string, Bucket> rules;
};

// One thread's tallies.
struct Tally {
  explicit Tally(size_t departments) : departments(departments) {}

  int64_t scanned = 0;
  int64_t changed = 0;
  Bucket skipped;
  std::vector<DepartmentTally> departments;
};

// One version compiled, with where each of its departments sits in the
// simulation's department list.
struct Side {
  int64_t version = 0;
  std::shared_ptr<const rules::CompiledRuleset> compiled;
  // positions[i]: the index, in the simulation's departments, of the
  // ruleset's i-th department.
  std::vector<size_t> positions;
};

template <typename Message>
absl::Status Parse(absl::string_view bytes, absl::string_view what,
                   Message* out) {
  if (!out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(absl::StrCat(what, " does not parse"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ReadActiveVersion(storage::Snapshot& snapshot) {
  std::string value;
  absl::Status s =
      snapshot.Get(storage::Table::kRulesets, ActiveRulesetKey(), &value);
  if (absl::IsNotFound(s)) return 0;
  RETURN_IF_ERROR(s);
  storage::v1::ActiveRulesetRecord record;
  RETURN_IF_ERROR(Parse(value, "the active ruleset record", &record));
  return record.version();
}

absl::StatusOr<v1::RulesetVersion> ReadVersion(storage::Snapshot& snapshot,
                                               absl::string_view field,
                                               int64_t version) {
  std::string value;
  absl::Status s = snapshot.Get(storage::Table::kRulesets,
                                RulesetVersionKey(version), &value);
  if (absl::IsNotFound(s)) {
    return absl::NotFoundError(
        absl::StrCat(field, ": ruleset version ", version, " does not exist"));
  }
  RETURN_IF_ERROR(s);
  v1::RulesetVersion out;
  RETURN_IF_ERROR(
      Parse(value, absl::StrCat("ruleset version ", version), &out));
  return out;
}

// The compiled form of `version`: the registry's when it is the active one,
// else compiled here.
absl::StatusOr<std::shared_ptr<const rules::CompiledRuleset>> CompileVersion(
    const RulesetRegistry& registry, const v1::RulesetVersion& version) {
  RulesetRegistry::Active active = registry.ActiveRuleset();
  if (active.version == version.version() && active.ruleset != nullptr) {
    return active.ruleset;
  }
  absl::StatusOr<std::unique_ptr<const rules::CompiledRuleset>> compiled =
      rules::CompiledRuleset::Compile(version.ruleset());
  if (!compiled.ok()) {
    return absl::DataLossError(
        absl::StrCat("ruleset version ", version.version(),
                     " does not compile: ", compiled.status().message()));
  }
  return std::shared_ptr<const rules::CompiledRuleset>(*std::move(compiled));
}

// The shared scan: threads take batches of raw records from it in key order.
class BatchSource {
 public:
  BatchSource(std::unique_ptr<storage::ScanIterator> it,
              const RulesetSimulator::CancelledFn& cancelled)
      : it_(std::move(it)), cancelled_(cancelled) {}

  // Copies up to batch->size() next values into *batch; returns how many (0
  // at the end, on an error or once stopped).
  size_t Next(std::vector<std::string>* batch) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (!status_.ok() || done_) return 0;
    if (cancelled_ && cancelled_()) {
      status_ = absl::CancelledError("the simulation was cancelled");
      return 0;
    }
    size_t n = 0;
    for (; n < batch->size() && it_->Valid(); it_->Next()) {
      absl::string_view value = it_->value();
      (*batch)[n++].assign(value.data(), value.size());
    }
    if (!it_->Valid()) {
      done_ = true;
      status_ = it_->status();
    }
    return n;
  }

  // Stops every thread at its next batch with `status` (the first one
  // wins).
  void Fail(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (status_.ok()) status_ = std::move(status);
  }

  absl::Status status() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  absl::Mutex mu_;
  std::unique_ptr<storage::ScanIterator> it_ ABSL_GUARDED_BY(mu_);
  const RulesetSimulator::CancelledFn& cancelled_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

// What one thread runs: batches until the source is empty.
class Worker {
 public:
  Worker(const Side& baseline, const Side& candidate, size_t departments,
         absl::Time at, size_t max_samples, size_t batch_size)
      : baseline_(baseline),
        candidate_(candidate),
        at_(at),
        max_samples_(max_samples),
        batch_(batch_size),
        tally_(departments),
        base_decisions_(departments),
        cand_decisions_(departments) {}

  void Run(BatchSource& source) {
    for (;;) {
      const size_t n = source.Next(&batch_);
      if (n == 0) return;
      for (size_t i = 0; i < n; ++i) {
        absl::Status s = Process(batch_[i]);
        if (!s.ok()) {
          source.Fail(std::move(s));
          return;
        }
      }
    }
  }

  Tally& tally() { return tally_; }

 private:
  absl::Status Process(absl::string_view bytes) {
    if (!record_.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return absl::DataLossError(
          absl::StrCat("a customer record does not parse (after customer \"",
                       last_id_, "\")"));
    }
    const v1::Customer& customer = record_.customer();
    last_id_.assign(customer.id());
    ++tally_.scanned;
    if (!rules::ValidateCustomer(customer).ok()) {
      tally_.skipped.Add(customer.id(), max_samples_);
      return absl::OkStatus();
    }
    const rules::EvaluateOptions options;
    baseline_.compiled->Evaluate(customer, at_, options, &base_eval_);
    candidate_.compiled->Evaluate(customer, at_, options, &cand_eval_);
    Place(base_eval_, baseline_, &base_decisions_);
    Place(cand_eval_, candidate_, &cand_decisions_);

    bool changed = false;
    for (size_t d = 0; d < tally_.departments.size(); ++d) {
      const TargetRef from = TargetOf(base_decisions_[d]);
      const TargetRef to = TargetOf(cand_decisions_[d]);
      if (from == to) continue;
      changed = true;
      DepartmentTally& dept = tally_.departments[d];
      ++dept.changed;
      key_.clear();
      AppendTransitionKey(from, to, &key_);
      auto it = dept.transitions.find(key_);
      if (it == dept.transitions.end()) {
        auto bucket = std::make_unique<TransitionBucket>();
        bucket->from_id.assign(from.id.data(), from.id.size());
        bucket->to_id.assign(to.id.data(), to.id.size());
        bucket->from = {from.kind, bucket->from_id};
        bucket->to = {to.kind, bucket->to_id};
        it = dept.transitions.emplace(key_, std::move(bucket)).first;
      }
      it->second->bucket.Add(customer.id(), max_samples_);
      const v1::DepartmentDecision* decision = cand_decisions_[d];
      absl::string_view rule =
          decision == nullptr ? absl::string_view() : decision->rule_id();
      auto r = dept.rules.find(rule);
      if (r == dept.rules.end()) {
        r = dept.rules.emplace(std::string(rule), Bucket()).first;
      }
      r->second.Add(customer.id(), max_samples_);
    }
    if (changed) ++tally_.changed;
    return absl::OkStatus();
  }

  // Puts each decision of `eval` at its department's position.
  static void Place(const v1::Evaluation& eval, const Side& side,
                    std::vector<const v1::DepartmentDecision*>* out) {
    std::fill(out->begin(), out->end(), nullptr);
    const size_t n = std::min(static_cast<size_t>(eval.departments_size()),
                              side.positions.size());
    for (size_t i = 0; i < n; ++i) {
      (*out)[side.positions[i]] = &eval.departments(static_cast<int>(i));
    }
  }

  const Side& baseline_;
  const Side& candidate_;
  const absl::Time at_;
  const size_t max_samples_;
  std::vector<std::string> batch_;
  Tally tally_;
  // Reused for every customer.
  storage::v1::CustomerRecord record_;
  v1::Evaluation base_eval_;
  v1::Evaluation cand_eval_;
  std::vector<const v1::DepartmentDecision*> base_decisions_;
  std::vector<const v1::DepartmentDecision*> cand_decisions_;
  std::string key_;
  std::string last_id_;
};

void SetTarget(const TargetRef& ref, v1::TargetTransition* transition,
               bool to) {
  if (ref.kind == v1::Target::KIND_NOT_SET) return;
  v1::Target* t = to ? transition->mutable_to() : transition->mutable_from();
  const std::string id(ref.id);
  switch (ref.kind) {
    case v1::Target::kTeam:
      t->set_team(id);
      break;
    case v1::Target::kRep:
      t->set_rep(id);
      break;
    case v1::Target::kPool:
      t->set_pool(id);
      break;
    default:
      break;
  }
}

// Writes the merged tallies of one department into *out.
void FinishDepartment(DepartmentTally& merged, int64_t evaluated,
                      const v1::DepartmentRules* candidate_rules,
                      size_t max_samples, v1::SimulatedDepartment* out) {
  out->set_changed(merged.changed);
  out->set_unchanged(evaluated - merged.changed);

  struct Row {
    std::string from_text;
    std::string to_text;
    TransitionBucket* bucket;
  };
  std::vector<Row> rows;
  rows.reserve(merged.transitions.size());
  for (auto& [key, bucket] : merged.transitions) {
    rows.push_back(
        {TargetText(bucket->from), TargetText(bucket->to), bucket.get()});
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (a.bucket->bucket.count != b.bucket->bucket.count) {
      return a.bucket->bucket.count > b.bucket->bucket.count;
    }
    if (a.from_text != b.from_text) return a.from_text < b.from_text;
    return a.to_text < b.to_text;
  });
  for (Row& row : rows) {
    v1::TargetTransition* t = out->add_transitions();
    SetTarget(row.bucket->from, t, /*to=*/false);
    SetTarget(row.bucket->to, t, /*to=*/true);
    row.bucket->bucket.Finish(max_samples);
    t->set_count(row.bucket->bucket.count);
    for (std::string& s : row.bucket->bucket.samples) {
      t->add_sample_customer_ids(std::move(s));
    }
  }

  // Rule order: the candidate's rules, then "fallback", then "" (no match),
  // then anything else by id (none expected).
  absl::flat_hash_map<std::string, size_t> order;
  size_t n = 0;
  if (candidate_rules != nullptr) {
    for (const v1::Rule& rule : candidate_rules->rules()) {
      order.emplace(rule.id(), n++);
    }
  }
  order.emplace("fallback", n++);
  order.emplace("", n++);
  std::vector<std::pair<std::string, Bucket*>> rules;
  for (auto& [id, bucket] : merged.rules) rules.emplace_back(id, &bucket);
  std::sort(rules.begin(), rules.end(), [&](const auto& a, const auto& b) {
    auto ia = order.find(a.first);
    auto ib = order.find(b.first);
    const size_t oa = ia == order.end() ? n : ia->second;
    const size_t ob = ib == order.end() ? n : ib->second;
    if (oa != ob) return oa < ob;
    return a.first < b.first;
  });
  for (auto& [id, bucket] : rules) {
    v1::RuleImpact* r = out->add_rules();
    r->set_rule_id(id);
    bucket->Finish(max_samples);
    r->set_count(bucket->count);
    for (std::string& s : bucket->samples) {
      r->add_sample_customer_ids(std::move(s));
    }
  }
}

}  // namespace

std::string CustomerKeyPrefix() {
  return storage::KeyBuilder().AddString("customer").Build();
}

absl::StatusOr<std::unique_ptr<RulesetSimulator>> RulesetSimulator::Create(
    Options options) {
  FieldErrors errors;
  if (options.store == nullptr) errors.Add("options.store", "is required");
  if (options.registry == nullptr) {
    errors.Add("options.registry", "is required");
  }
  if (options.clock == nullptr) errors.Add("options.clock", "is required");
  if (options.worker_threads < 1) {
    errors.Add("options.worker_threads", "must be >= 1");
  }
  if (options.batch_size < 1) errors.Add("options.batch_size", "must be >= 1");
  RETURN_IF_ERROR(errors.ToStatus());
  return std::unique_ptr<RulesetSimulator>(new RulesetSimulator(options));
}

absl::StatusOr<v1::SimulateRulesetResponse> RulesetSimulator::Simulate(
    const v1::SimulateRulesetRequest& request,
    const CancelledFn& cancelled) const {
  FieldErrors errors;
  if (request.version() < 1) errors.Add("version", "must be >= 1");
  if (request.baseline_version() < 0) {
    errors.Add("baseline_version", "must be >= 0 (0 = the active version)");
  }
  if (request.has_at() && !ValidTimestamp(request.at())) {
    errors.Add("at",
               "must be a valid timestamp between 0001-01-01T00:00:00Z and "
               "9999-12-31T23:59:59Z (nanos 0-999999999)");
  }
  if (request.has_max_samples() &&
      (request.max_samples() < 0 ||
       request.max_samples() > kMaxSimulationSamples)) {
    errors.Add("max_samples", absl::StrCat("must be 0-", kMaxSimulationSamples,
                                           ", got ", request.max_samples()));
  }
  RETURN_IF_ERROR(errors.ToStatus());
  const size_t max_samples = static_cast<size_t>(
      request.has_max_samples() ? request.max_samples()
                                : kDefaultSimulationSamples);

  const absl::Time now = options_.clock->Now();
  const absl::Time at = request.has_at() ? FromProto(request.at()) : now;
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());

  int64_t baseline_version = request.baseline_version();
  if (baseline_version == 0) {
    ASSIGN_OR_RETURN(baseline_version, ReadActiveVersion(*snapshot));
    if (baseline_version == 0) {
      google::rpc::PreconditionFailure failure;
      google::rpc::PreconditionFailure::Violation* v = failure.add_violations();
      v->set_type("RULESET");
      v->set_subject("baseline_version");
      v->set_description("no ruleset version is active");
      return FailedPreconditionWithDetails(
          "baseline_version: no ruleset version is active to compare with; "
          "activate one or name the baseline version",
          failure);
    }
  }
  ASSIGN_OR_RETURN(v1::RulesetVersion candidate_version,
                   ReadVersion(*snapshot, "version", request.version()));
  Side candidate;
  candidate.version = request.version();
  ASSIGN_OR_RETURN(candidate.compiled,
                   CompileVersion(*options_.registry, candidate_version));
  Side baseline;
  baseline.version = baseline_version;
  v1::RulesetVersion baseline_version_proto;
  if (baseline_version == request.version()) {
    baseline.compiled = candidate.compiled;
  } else {
    ASSIGN_OR_RETURN(
        baseline_version_proto,
        ReadVersion(*snapshot, "baseline_version", baseline_version));
    ASSIGN_OR_RETURN(baseline.compiled, CompileVersion(*options_.registry,
                                                       baseline_version_proto));
  }

  // The departments: the candidate's, then the baseline's others.
  std::vector<std::string> departments;
  std::vector<const v1::DepartmentRules*> candidate_rules;
  absl::flat_hash_map<std::string, size_t> index;
  for (Side* side : {&candidate, &baseline}) {
    for (const v1::DepartmentRules& d :
         side->compiled->ruleset().departments()) {
      auto [it, added] = index.emplace(d.department(), departments.size());
      if (added) {
        departments.push_back(d.department());
        candidate_rules.push_back(side == &candidate ? &d : nullptr);
      }
      side->positions.push_back(it->second);
    }
  }

  // Scan and evaluate.
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < options_.worker_threads; ++i) {
    workers.push_back(
        std::make_unique<Worker>(baseline, candidate, departments.size(), at,
                                 max_samples, options_.batch_size));
  }
  absl::Status scan_status;
  {
    BatchSource source(
        snapshot->Scan(storage::Table::kCustomers, CustomerKeyPrefix()),
        cancelled);
    std::vector<std::thread> threads;
    for (size_t i = 1; i < workers.size(); ++i) {
      threads.emplace_back([&source, w = workers[i].get()] { w->Run(source); });
    }
    workers[0]->Run(source);
    for (std::thread& t : threads) t.join();
    scan_status = source.status();
  }  // the iterator goes before the snapshot
  RETURN_IF_ERROR(scan_status);

  // Merge.
  Tally merged(departments.size());
  for (std::unique_ptr<Worker>& w : workers) {
    Tally& t = w->tally();
    merged.scanned += t.scanned;
    merged.changed += t.changed;
    merged.skipped.Merge(std::move(t.skipped));
    for (size_t d = 0; d < departments.size(); ++d) {
      DepartmentTally& from = t.departments[d];
      DepartmentTally& to = merged.departments[d];
      to.changed += from.changed;
      for (auto& [key, bucket] : from.transitions) {
        auto [it, added] = to.transitions.try_emplace(key);
        if (added) {
          it->second = std::move(bucket);
        } else {
          it->second->bucket.Merge(std::move(bucket->bucket));
        }
      }
      for (auto& [id, bucket] : from.rules) {
        to.rules[id].Merge(std::move(bucket));
      }
    }
  }

  v1::SimulateRulesetResponse response;
  response.set_version(request.version());
  response.set_baseline_version(baseline_version);
  *response.mutable_evaluated_at() = ToProto(at);
  *response.mutable_snapshot_time() = ToProto(now);
  response.set_scanned_customers(merged.scanned);
  response.set_changed_customers(merged.changed);
  response.set_skipped_customers(merged.skipped.count);
  merged.skipped.Finish(max_samples);
  for (std::string& s : merged.skipped.samples) {
    response.add_skipped_sample_customer_ids(std::move(s));
  }
  const int64_t evaluated = merged.scanned - merged.skipped.count;
  for (size_t d = 0; d < departments.size(); ++d) {
    v1::SimulatedDepartment* out = response.add_departments();
    out->set_department(departments[d]);
    FinishDepartment(merged.departments[d], evaluated, candidate_rules[d],
                     max_samples, out);
  }
  return response;
}

}  // namespace custodian::server
