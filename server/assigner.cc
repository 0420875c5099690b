#include "server/assigner.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/hash/hash.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "custodian/storage/v1/records.pb.h"
#include "rules/names.h"
#include "rules/validator.h"
#include "server/cooldowns.h"
#include "server/duplicate_index.h"
#include "server/mutation.h"
#include "server/request_checks.h"
#include "server/roster_registry.h"

namespace custodian::server {

namespace {

using Effects = MutationEffects;
using storage::Table;

// Customers one BatchAssign transaction holds at most (kBatchChunk items of
// distinct customers commit together, with one sync).
constexpr size_t kBatchChunk = 64;

// Adds `checker`'s complaint about `value` (or "is required" when empty and
// `required`) for `field`.
void CheckName(absl::string_view field, absl::string_view value, bool required,
               std::string (*checker)(absl::string_view), FieldErrors* errors) {
  if (value.empty()) {
    if (required) errors->Add(field, "is required");
    return;
  }
  if (std::string e = checker(value); !e.empty()) errors->Add(field, e);
}

// ValidateCustomer, as a violation of the field it names.
void CheckCustomer(absl::string_view field, bool present,
                   const v1::Customer& customer, FieldErrors* errors) {
  if (!present) {
    errors->Add(field, "is required");
    return;
  }
  absl::Status s = rules::ValidateCustomer(customer, field);
  if (s.ok()) return;
  absl::string_view message = s.message();
  const size_t colon = message.find(": ");
  if (colon == absl::string_view::npos) {
    errors->Add(field, message);
  } else {
    errors->Add(message.substr(0, colon), message.substr(colon + 2));
  }
}

template <typename Message>
absl::Status ParseAnswer(const std::string& bytes, Message* out) {
  if (!out->ParseFromString(bytes)) {
    return absl::DataLossError(
        absl::StrCat("stored idempotency answer does not parse as ",
                     out->GetDescriptor()->full_name()));
  }
  return absl::OkStatus();
}

// Reads the customer record with GetForUpdate. nullopt when absent.
absl::StatusOr<std::optional<storage::v1::CustomerRecord>> ReadCustomer(
    storage::Transaction& txn, absl::string_view customer_id) {
  std::string value;
  absl::Status s =
      txn.GetForUpdate(Table::kCustomers, CustomerKey(customer_id), &value);
  if (absl::IsNotFound(s)) return std::optional<storage::v1::CustomerRecord>();
  RETURN_IF_ERROR(s);
  storage::v1::CustomerRecord record;
  if (!record.ParseFromString(value)) {
    return absl::DataLossError(absl::StrCat("the record of customer ",
                                            rules::Quote(customer_id),
                                            " does not parse"));
  }
  return std::optional<storage::v1::CustomerRecord>(std::move(record));
}

absl::Status CustomerNotFound(absl::string_view customer_id) {
  return absl::NotFoundError(absl::StrCat(
      "customer_id: customer ", rules::Quote(customer_id), " does not exist"));
}

bool SameSegments(const storage::v1::CustomerRecord& record,
                  const v1::Evaluation& evaluation) {
  if (record.segments_size() != evaluation.segments_size()) return false;
  for (int i = 0; i < record.segments_size(); ++i) {
    if (record.segments(i) != evaluation.segments(i)) return false;
  }
  return true;
}

// The customer and each department whose ownership an Assign changed.
std::vector<std::string> AssignResources(const v1::AssignResponse& r) {
  std::vector<std::string> out = {absl::StrCat("customers/", r.customer_id())};
  for (const v1::DepartmentAssignment& d : r.departments()) {
    if (!d.changed()) continue;
    out.push_back(absl::StrCat("customers/", r.customer_id(), "/departments/",
                               d.ownership().department()));
  }
  return out;
}

std::string AssignOutcome(const v1::AssignResponse& r) {
  int changed = 0;
  for (const v1::DepartmentAssignment& d : r.departments()) {
    changed += d.changed() ? 1 : 0;
  }
  return absl::StrCat("OK: ", changed, " department(s) changed");
}

}  // namespace

TeamAllocator::CounterLoader StoreCounterLoader(storage::Store* store) {
  return [store](absl::string_view key) -> absl::StatusOr<int64_t> {
    ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                     store->NewSnapshot());
    return snapshot->GetCounter(key);
  };
}

absl::StatusOr<std::unique_ptr<Assigner>> Assigner::Create(Options options) {
  FieldErrors errors;
  if (options.store == nullptr) errors.Add("store", "is required");
  if (options.rulesets == nullptr) errors.Add("rulesets", "is required");
  if (options.book == nullptr) errors.Add("book", "is required");
  if (options.allocator == nullptr) errors.Add("allocator", "is required");
  if (options.clock == nullptr) errors.Add("clock", "is required");
  if (options.lock_stripes < 1) errors.Add("lock_stripes", "must be >= 1");
  if (options.max_attempts < 1) errors.Add("max_attempts", "must be >= 1");
  if (absl::Status s = ValidateIdempotencyOptions(options.idempotency);
      !s.ok()) {
    errors.Add("idempotency", s.message());
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Assigner options: ", errors.ToStatus().message()));
  }
  return std::unique_ptr<Assigner>(new Assigner(std::move(options)));
}

Assigner::Assigner(Options options)
    : options_(std::move(options)),
      idempotency_(options_.idempotency),
      planner_(options_.allocator),
      stripes_(new absl::Mutex[options_.lock_stripes]) {}

CooldownFn Assigner::CooldownFor(
    absl::string_view customer_id,
    const absl::flat_hash_map<std::string, v1::Ownership>& current) const {
  if (current.empty()) return nullptr;
  return CooldownFor(customer_id);
}

CooldownFn Assigner::CooldownFor(absl::string_view customer_id) const {
  return options_.cooldowns ? options_.cooldowns(customer_id)
                            : options_.in_cooldown;
}

absl::Mutex& Assigner::StripeFor(absl::string_view customer_id) const {
  const size_t h = absl::Hash<absl::string_view>{}(customer_id);
  return stripes_[h % static_cast<size_t>(options_.lock_stripes)];
}

absl::StatusOr<std::shared_ptr<const RosterIndex>> Assigner::StoredRoster(
    absl::FunctionRef<absl::Status(absl::string_view, std::string*)> get)
    const {
  static const std::string* const kVersionKey =
      new std::string(RosterVersionKey());
  std::string version_bytes;
  absl::Status s = get(*kVersionKey, &version_bytes);
  if (s.ok()) {
    ASSIGN_OR_RETURN(const int64_t version,
                     storage::DecodeCounter(version_bytes));
    absl::MutexLock lock(&roster_mu_);
    if (roster_index_ != nullptr && version == roster_version_) {
      return roster_index_;
    }
  } else if (!absl::IsNotFound(s)) {
    return s;
  }
  std::string bytes;
  s = get(RosterRecordKey(), &bytes);
  if (absl::IsNotFound(s))
    return std::make_shared<const RosterIndex>(v1::Roster());
  RETURN_IF_ERROR(s);
  storage::v1::RosterRecord record;
  if (!record.ParseFromString(bytes)) {
    return absl::DataLossError("the stored roster record does not parse");
  }
  auto index = std::make_shared<const RosterIndex>(record.roster());
  absl::MutexLock lock(&roster_mu_);
  // The record may be newer than the version key read above (a roster
  // change committed in between): it is keyed by its own version.
  if (record.version() >= roster_version_) {
    roster_version_ = record.version();
    roster_index_ = index;
  }
  return index;
}

// ---------------------------------------------------------------------------
// Assign, UpdateCustomer, BatchAssign

absl::StatusOr<v1::AssignResponse> Assigner::Assign(
    const v1::AssignRequest& request, const Actor& actor) {
  FieldErrors errors;
  CheckCustomer("customer", request.has_customer(), request.customer(),
                &errors);
  CheckRequestId("request_id", request.request_id(), true, &errors);
  CheckActor(actor, &errors);
  RETURN_IF_ERROR(errors.ToStatus());
  return AssignCustomer(kAssignMethod, request, request.customer(),
                        request.request_id(), actor, /*require_known=*/false);
}

absl::StatusOr<v1::AssignResponse> Assigner::UpdateCustomer(
    const v1::UpdateCustomerRequest& request, const Actor& actor) {
  FieldErrors errors;
  CheckCustomer("customer", request.has_customer(), request.customer(),
                &errors);
  CheckRequestId("request_id", request.request_id(), true, &errors);
  CheckActor(actor, &errors);
  RETURN_IF_ERROR(errors.ToStatus());
  return AssignCustomer(kUpdateCustomerMethod, request, request.customer(),
                        request.request_id(), actor, /*require_known=*/true);
}

absl::StatusOr<v1::BatchAssignResponse> Assigner::BatchAssign(
    const v1::BatchAssignRequest& request, const Actor& actor) {
  FieldErrors errors;
  if (request.requests_size() < 1 ||
      request.requests_size() > kMaxBatchAssign) {
    errors.Add("requests",
               absl::StrCat("must hold 1-", kMaxBatchAssign, " requests (has ",
                            request.requests_size(), ")"));
  }
  CheckActor(actor, &errors);
  RETURN_IF_ERROR(errors.ToStatus());

  const int n = request.requests_size();
  std::vector<absl::StatusOr<v1::AssignResponse>> answers(
      n, absl::UnknownError("not processed"));
  std::vector<std::optional<AssignJob>> jobs(n);
  for (int i = 0; i < n; ++i) {
    const v1::AssignRequest& item = request.requests(i);
    const std::string prefix = absl::StrCat("requests[", i, "]");
    FieldErrors item_errors;
    CheckCustomer(absl::StrCat(prefix, ".customer"), item.has_customer(),
                  item.customer(), &item_errors);
    CheckRequestId(absl::StrCat(prefix, ".request_id"), item.request_id(), true,
                   &item_errors);
    if (!item_errors.empty()) {
      answers[i] = item_errors.ToStatus();
      continue;
    }
    absl::StatusOr<AssignJob> job =
        MakeJob(kAssignMethod, item, item.customer(), item.request_id(), actor,
                /*require_known=*/false);
    if (job.ok()) {
      jobs[i] = *std::move(job);
    } else {
      answers[i] = job.status();
    }
  }

  // Chunks of consecutive items of distinct customers (a repeated customer
  // starts the next chunk, so its items stay in request order).
  for (int begin = 0; begin < n;) {
    std::vector<int> chunk;
    absl::flat_hash_set<absl::string_view> customers;
    int end = begin;
    for (; end < n && chunk.size() < kBatchChunk; ++end) {
      if (!jobs[end].has_value()) continue;
      if (!customers.insert(jobs[end]->customer->id()).second) break;
      chunk.push_back(end);
    }
    begin = end;
    if (chunk.empty()) continue;

    // The chunk's stripes, each once, in address order (so chunks never
    // deadlock with each other; Assign holds one stripe at a time).
    std::vector<absl::Mutex*> stripes;
    for (int i : chunk) stripes.push_back(&StripeFor(jobs[i]->customer->id()));
    std::sort(stripes.begin(), stripes.end());
    stripes.erase(std::unique(stripes.begin(), stripes.end()), stripes.end());
    std::vector<ChunkItem> items;
    for (int i : chunk) items.push_back({&*jobs[i], &answers[i]});
    absl::Status s;
    {
      for (absl::Mutex* m : stripes) m->Lock();
      s = RunChunk(items);
      for (auto it = stripes.rbegin(); it != stripes.rend(); ++it) {
        (*it)->Unlock();
      }
    }
    if (s.ok()) continue;
    // A conflicting chunk, or no savepoints: one transaction per item.
    for (int i : chunk) {
      const v1::AssignRequest& item = request.requests(i);
      answers[i] = AssignCustomer(kAssignMethod, item, item.customer(),
                                  item.request_id(), actor, false);
    }
  }

  v1::BatchAssignResponse response;
  for (int i = 0; i < n; ++i) {
    v1::BatchAssignResult* result = response.add_results();
    result->set_index(i);
    if (answers[i].ok()) {
      *result->mutable_response() = *std::move(answers[i]);
      continue;
    }
    const absl::Status& status = answers[i].status();
    v1::BatchError* error = result->mutable_error();
    error->set_code(static_cast<int32_t>(status.code()));
    // Field names are relative to the item: name the item.
    const std::string prefix = absl::StrCat("requests[", i, "]");
    std::string message(status.message());
    if (absl::IsInvalidArgument(status) && !absl::StartsWith(message, prefix)) {
      message = absl::StrCat(prefix, ".", message);
    }
    error->set_message(std::move(message));
  }
  return response;
}

absl::Status Assigner::RunChunk(const std::vector<ChunkItem>& items) {
  absl::Status last = absl::AbortedError("no attempt was made");
  for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
    ASSIGN_OR_RETURN(std::unique_ptr<storage::Transaction> txn,
                     options_.store->Begin(MutationTxnOptions()));
    std::vector<Effects> effects(items.size());
    std::vector<v1::AssignResponse> responses(items.size());
    std::vector<absl::Status> failed(items.size());
    absl::Status s;
    for (size_t i = 0; i < items.size() && s.ok(); ++i) {
      s = txn->SetSavePoint();
      if (!s.ok()) break;
      absl::Status item =
          StageAssign(*txn, effects[i], *items[i].job, &responses[i]);
      if (item.ok()) continue;
      if (absl::IsAborted(item)) {
        s = item;
        break;
      }
      // This item's writes go; its reservations and tickets are given back.
      s = txn->RollbackToSavePoint();
      effects[i] = Effects();
      failed[i] = item;
    }
    if (s.ok()) {
      for (const Effects& e : effects) {
        s = e.PreloadWon(*options_.allocator);
        if (!s.ok()) break;
      }
    }
    if (s.ok()) s = txn->Commit();
    if (s.ok() || absl::IsUnavailable(s)) {
      for (Effects& e : effects) e.Finish(*options_.allocator, s.ok());
      for (size_t i = 0; i < items.size(); ++i) {
        if (!failed[i].ok()) {
          *items[i].result = failed[i];
        } else if (s.ok()) {
          *items[i].result = std::move(responses[i]);
        } else {
          *items[i].result = s;  // outcome unknown: retry with the same ids
        }
      }
      return absl::OkStatus();
    }
    txn->Rollback();  // effects (reservations, tickets) are given back
    if (absl::IsAborted(s)) {
      last = s;
      continue;
    }
    if (absl::IsUnimplemented(s)) return s;
    // Any other failure of the whole transaction is every item's.
    for (const ChunkItem& item : items) *item.result = s;
    return absl::OkStatus();
  }
  return last;
}

absl::Status Assigner::StageAssign(storage::Transaction& txn,
                                   MutationEffects& effects,
                                   const AssignJob& job,
                                   v1::AssignResponse* response) const {
  response->Clear();
  const absl::Time now = options_.clock->Now();
  ASSIGN_OR_RETURN(std::optional<std::string> first,
                   idempotency_.Lookup(txn, job.method, job.request_id,
                                       job.fingerprint, now));
  if (first.has_value()) {
    effects.replay = true;
    return ParseAnswer(*first, response);
  }

  ASSIGN_OR_RETURN(std::optional<storage::v1::CustomerRecord> stored,
                   ReadCustomer(txn, job.customer->id()));
  if (job.require_known && !stored.has_value()) {
    return absl::NotFoundError(absl::StrCat("customer.id: customer ",
                                            rules::Quote(job.customer->id()),
                                            " does not exist (use Assign)"));
  }
  // A customer without a record has no ownership (OwnershipBook::Stage
  // refuses a first ownership before the record), and its record is locked
  // now, so a new customer's ownerships need no read: their keys are locked
  // when they are staged.
  absl::flat_hash_map<std::string, v1::Ownership> current;
  if (stored.has_value()) {
    for (const v1::DepartmentRules& d :
         job.active.ruleset->ruleset().departments()) {
      ASSIGN_OR_RETURN(std::optional<v1::Ownership> o,
                       OwnershipBook::ReadForUpdate(txn, job.customer->id(),
                                                    d.department()));
      if (o.has_value()) current.emplace(d.department(), std::move(*o));
    }
  }
  // Unlocked (see the top of assigner.h).
  ASSIGN_OR_RETURN(std::shared_ptr<const RosterIndex> roster,
                   StoredRoster([&](absl::string_view key, std::string* value) {
                     return txn.Get(Table::kRoster, key, value);
                   }));

  PlanInput input;
  input.customer = job.customer;
  input.ruleset = job.active.ruleset.get();
  input.ruleset_version = job.active.version;
  input.roster = roster.get();
  input.current = &current;
  input.now = now;
  input.in_cooldown = CooldownFor(job.customer->id(), current);
  ASSIGN_OR_RETURN(AssignmentPlan plan,
                   planner_.Plan(input, PickMode::kReserve));
  // A new customer's match keys, normalized and locked once for its intake.
  std::optional<IntakeKeys> intake;
  if (!stored.has_value()) {  // duplicate matching on intake
    ASSIGN_OR_RETURN(intake, LockDuplicateKeys(txn, *job.customer));
    RETURN_IF_ERROR(
        RouteDuplicates(txn, planner_, *job.customer, *intake, *roster,
                        job.active.ruleset->ruleset().policies(), &plan));
  }
  for (const DepartmentPlan& d : plan.departments) {
    for (const OwnedDelta& a : d.Adjustments()) {
      RETURN_IF_ERROR(options_.allocator->Preload(a.department, a.rep_id));
    }
  }

  // The customer record first: a first ownership takes its segments.
  if (!stored.has_value() ||
      SerializeDeterministic(stored->customer()) !=
          SerializeDeterministic(*job.customer) ||
      !SameSegments(*stored, plan.evaluation) ||
      stored->ruleset_version() != job.active.version) {
    storage::v1::CustomerRecord record;
    *record.mutable_customer() = *job.customer;
    *record.mutable_segments() = plan.evaluation.segments();
    record.set_ruleset_version(job.active.version);
    RETURN_IF_ERROR(
        options_.book->StageCustomer(txn, record, &effects.won_changes)
            .status());
    RETURN_IF_ERROR(
        intake.has_value()
            ? StageIntakeKeys(txn, job.customer->id(), *intake)
            : StageDuplicateKeys(txn, stored->customer(), *job.customer));
  }

  response->set_customer_id(job.customer->id());
  response->set_ruleset_version(job.active.version);
  *response->mutable_segments() = plan.evaluation.segments();
  for (DepartmentPlan& d : plan.departments) {
    v1::DepartmentAssignment* out = response->add_departments();
    if (d.changed) {
      // policies.on_drift: reassign takes it from its rep
      // (server/cooldowns.h); a new customer has no before.
      RETURN_IF_ERROR(StageLossCooldown(
          txn, *roster, d.before.has_value() ? &*d.before : nullptr, d.after,
          now));
      ChangeSpec spec;
      spec.after = d.after;
      spec.cause = d.cause;
      spec.actor = job.actor->id;
      spec.request_id = std::string(job.request_id);
      spec.before = &d.before;
      ASSIGN_OR_RETURN(PendingEvents pending, options_.book->Stage(txn, spec));
      *out->mutable_ownership() = pending.events().back().after();
      out->set_changed(true);
      effects.events.Append(std::move(pending));
    } else {
      *out->mutable_ownership() = d.after;
    }
    if (auto add = d.CursorAdd()) {
      RETURN_IF_ERROR(txn.AddToCounterWriteOnly(add->first, add->second));
    }
    effects.plans.push_back(std::move(d));
  }
  RETURN_IF_ERROR(StageAuditRecord(txn, *job.actor, job.method, job.request_id,
                                   AssignResources(*response),
                                   AssignOutcome(*response), now));
  return idempotency_.Record(txn, job.method, job.request_id, job.fingerprint,
                             SerializeDeterministic(*response), now);
}

absl::StatusOr<Assigner::AssignJob> Assigner::MakeJob(
    absl::string_view method, const google::protobuf::Message& request,
    const v1::Customer& customer, absl::string_view request_id,
    const Actor& actor, bool require_known) const {
  AssignJob job;
  job.active = options_.rulesets->ActiveRuleset();
  if (job.active.ruleset == nullptr) {
    return absl::FailedPreconditionError(
        "no ruleset is active: activate a ruleset version before assigning");
  }
  job.method = method;
  job.customer = &customer;
  job.request_id = request_id;
  job.actor = &actor;
  job.require_known = require_known;
  job.fingerprint = RequestFingerprint(request);
  return job;
}

absl::StatusOr<v1::AssignResponse> Assigner::AssignCustomer(
    absl::string_view method, const google::protobuf::Message& request,
    const v1::Customer& customer, absl::string_view request_id,
    const Actor& actor, bool require_known) {
  ASSIGN_OR_RETURN(
      const AssignJob job,
      MakeJob(method, request, customer, request_id, actor, require_known));
  v1::AssignResponse response;
  absl::MutexLock stripe(&StripeFor(customer.id()));
  RETURN_IF_ERROR(
      RunMutation(*options_.store, *options_.allocator, options_.max_attempts,
                  [&](storage::Transaction& txn, Effects& effects) {
                    return StageAssign(txn, effects, job, &response);
                  }));
  return response;
}

// ---------------------------------------------------------------------------
// Evaluate, GetCustomer

absl::StatusOr<v1::AssignResponse> Assigner::Evaluate(
    const v1::EvaluateRequest& request) const {
  FieldErrors errors;
  CheckCustomer("customer", request.has_customer(), request.customer(),
                &errors);
  RETURN_IF_ERROR(errors.ToStatus());
  const RulesetRegistry::Active active = options_.rulesets->ActiveRuleset();
  if (active.ruleset == nullptr) {
    return absl::FailedPreconditionError(
        "no ruleset is active: activate a ruleset version before evaluating");
  }
  const v1::Customer& customer = request.customer();

  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  std::string record;
  absl::Status known =
      snapshot->Get(Table::kCustomers, CustomerKey(customer.id()), &record);
  if (!known.ok() && !absl::IsNotFound(known)) return known;
  // A customer without a record has no ownership (OwnershipBook::Stage).
  absl::flat_hash_map<std::string, v1::Ownership> current;
  const auto& departments = active.ruleset->ruleset().departments();
  for (int i = 0; known.ok() && i < departments.size(); ++i) {
    const std::string& department = departments[i].department();
    std::string value;
    absl::Status s = snapshot->Get(
        Table::kOwnerships, OwnershipKey(customer.id(), department), &value);
    if (absl::IsNotFound(s)) continue;
    RETURN_IF_ERROR(s);
    v1::Ownership o;
    if (!o.ParseFromString(value)) {
      return absl::DataLossError(absl::StrCat(
          "the ownership of customer ", rules::Quote(customer.id()),
          " in department ", department, " does not parse"));
    }
    current.emplace(department, std::move(o));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const RosterIndex> roster,
                   StoredRoster([&](absl::string_view key, std::string* value) {
                     return snapshot->Get(Table::kRoster, key, value);
                   }));

  PlanInput input;
  input.customer = &customer;
  input.ruleset = active.ruleset.get();
  input.ruleset_version = active.version;
  input.roster = roster.get();
  input.current = &current;
  input.now = options_.clock->Now();
  input.in_cooldown = CooldownFor(customer.id(), current);
  ASSIGN_OR_RETURN(AssignmentPlan plan,
                   planner_.Plan(input, PickMode::kDryRun));
  // A new customer is matched against the stored ones as Assign would.
  if (absl::IsNotFound(known)) {
    ASSIGN_OR_RETURN(std::vector<DuplicateKey> keys,
                     AllDuplicateKeysOf(customer));
    RETURN_IF_ERROR(
        RouteDuplicates(*snapshot, planner_, customer, keys, *roster,
                        active.ruleset->ruleset().policies(), &plan));
  }
  snapshot.reset();

  v1::AssignResponse response;
  response.set_customer_id(customer.id());
  response.set_ruleset_version(active.version);
  *response.mutable_segments() = plan.evaluation.segments();
  for (DepartmentPlan& d : plan.departments) {
    v1::DepartmentAssignment* out = response.add_departments();
    *out->mutable_ownership() = std::move(d.after);
    out->set_changed(d.changed);
    // Not written: no event sequence yet.
    if (d.changed) out->mutable_ownership()->set_last_event_sequence(0);
  }
  return response;
}

absl::StatusOr<v1::Customer> Assigner::GetCustomer(
    const v1::GetCustomerRequest& request) const {
  ASSIGN_OR_RETURN(storage::v1::CustomerRecord record,
                   options_.book->GetCustomer(request));
  return std::move(*record.mutable_customer());
}

// ---------------------------------------------------------------------------
// Transfer, Approve, Reject

absl::StatusOr<v1::Ownership> Assigner::Transfer(
    const v1::TransferRequest& request, const Actor& actor) {
  FieldErrors errors;
  CheckName("customer_id", request.customer_id(), true, rules::CheckCustomerId,
            &errors);
  CheckName("department", request.department(), true, rules::CheckDepartmentId,
            &errors);
  switch (request.to_case()) {
    case v1::TransferRequest::kRep:
      CheckName("rep", request.rep(), true, rules::CheckRepId, &errors);
      break;
    case v1::TransferRequest::kPool:
      CheckName("pool", request.pool(), true, rules::CheckTeamId, &errors);
      break;
    default:
      errors.Add("rep", "one of rep or pool is required");
      break;
  }
  CheckReason("reason", request.reason(), true, &errors);
  CheckRequestId("request_id", request.request_id(), true, &errors);
  CheckActor(actor, &errors);
  RETURN_IF_ERROR(errors.ToStatus());

  const RulesetRegistry::Active active = options_.rulesets->ActiveRuleset();
  const v1::Policies& policies = active.ruleset != nullptr
                                     ? active.ruleset->ruleset().policies()
                                     : DefaultPolicies();
  const std::string fingerprint = RequestFingerprint(request);
  const std::string& customer_id = request.customer_id();
  const std::string& department = request.department();

  v1::Ownership response;
  absl::MutexLock stripe(&StripeFor(customer_id));
  RETURN_IF_ERROR(RunMutation(
      *options_.store, *options_.allocator, options_.max_attempts,
      [&](storage::Transaction& txn, Effects& effects) -> absl::Status {
        response.Clear();
        const absl::Time now = options_.clock->Now();
        ASSIGN_OR_RETURN(
            std::optional<std::string> first,
            idempotency_.Lookup(txn, kTransferMethod, request.request_id(),
                                fingerprint, now));
        if (first.has_value()) {
          effects.replay = true;
          return ParseAnswer(*first, &response);
        }
        // Unlocked (see the top of assigner.h).
        ASSIGN_OR_RETURN(
            std::shared_ptr<const RosterIndex> roster,
            StoredRoster([&](absl::string_view key, std::string* value) {
              return txn.Get(Table::kRoster, key, value);
            }));
        if (!roster->HasDepartment(department)) {
          return absl::NotFoundError(absl::StrCat("department: department ",
                                                  rules::Quote(department),
                                                  " is not in the roster"));
        }
        ASSIGN_OR_RETURN(std::optional<storage::v1::CustomerRecord> stored,
                         ReadCustomer(txn, customer_id));
        if (!stored.has_value()) return CustomerNotFound(customer_id);
        ASSIGN_OR_RETURN(
            std::optional<v1::Ownership> current,
            OwnershipBook::ReadForUpdate(txn, customer_id, department));
        if (current.has_value() && current->state() == v1::Ownership::FROZEN) {
          return absl::FailedPreconditionError(absl::StrCat(
              "the ownership of customer ", rules::Quote(customer_id),
              " in department ", department,
              " is FROZEN (an appeal is open): it cannot be transferred"));
        }

        DepartmentPlan plan;
        plan.department = department;
        plan.before = current;
        plan.cause = v1::OwnershipEvent::TRANSFER;
        v1::Ownership& after = plan.after;
        after.set_customer_id(customer_id);
        after.set_department(department);
        if (request.to_case() == v1::TransferRequest::kRep) {
          const std::string& rep_id = request.rep();
          const v1::Rep* rep = roster->FindRep(rep_id);
          if (rep == nullptr) {
            return absl::NotFoundError(absl::StrCat(
                "rep: rep ", rules::Quote(rep_id), " is not in the roster"));
          }
          if (rep->status() != v1::ACTIVE &&
              rep->status() != v1::REP_STATUS_UNSPECIFIED) {
            return absl::FailedPreconditionError(absl::StrCat(
                "rep: rep ", rules::Quote(rep_id), " is ",
                v1::RepStatus_Name(rep->status()),
                ", not ACTIVE: only an active rep takes customers"));
          }
          std::optional<RosterIndex::Seat> seat =
              roster->FindSeat(department, rep_id);
          if (!seat.has_value()) {
            return absl::FailedPreconditionError(absl::StrCat(
                "rep: rep ", rules::Quote(rep_id),
                " is not a member of any team of department ", department));
          }
          if (current.has_value() &&
              current->state() == v1::Ownership::ACTIVE &&
              current->rep() == rep_id) {
            response = *current;  // already theirs: nothing to change
            RETURN_IF_ERROR(StageAuditRecord(
                txn, actor, kTransferMethod, request.request_id(),
                OwnershipResources(response), "OK: no change", now));
            return idempotency_.Record(txn, kTransferMethod,
                                       request.request_id(), fingerprint,
                                       SerializeDeterministic(response), now);
          }
          const bool already_counted =
              current.has_value() && current->rep() == rep_id;
          if (!already_counted) {
            ASSIGN_OR_RETURN(
                PickResult pick,
                planner_.ReserveRep(department, rep_id, *roster, policies));
            if (!pick.picked()) {
              const SkipReason reason = pick.skipped.empty()
                                            ? SkipReason::kAtCapacity
                                            : pick.skipped.front().reason;
              return absl::FailedPreconditionError(absl::StrCat(
                  "rep: rep ", rules::Quote(rep_id),
                  reason == SkipReason::kAtCapacity
                      ? absl::StrCat(" is at capacity (",
                                     MemberCapacity(*seat->member, policies),
                                     " customers) in department ", department)
                      : absl::StrCat(" is not eligible (",
                                     SkipReasonName(reason), ")")));
            }
            plan.reservation = std::move(pick.reservation);
          }
          after.set_state(v1::Ownership::ACTIVE);
          after.set_rep(rep_id);
          after.set_team(seat->team->id());
        } else {
          const std::string& pool_id = request.pool();
          const v1::Team* pool = roster->FindTeam(pool_id);
          if (pool == nullptr) {
            return absl::NotFoundError(absl::StrCat(
                "pool: pool ", rules::Quote(pool_id), " is not in the roster"));
          }
          if (!pool->has_pool() || pool->department() != department) {
            return absl::FailedPreconditionError(
                absl::StrCat("pool: team ", rules::Quote(pool_id),
                             " is not a pool of department ", department));
          }
          if (current.has_value() &&
              current->state() == v1::Ownership::POOLED &&
              current->pool() == pool_id) {
            response = *current;
            RETURN_IF_ERROR(StageAuditRecord(
                txn, actor, kTransferMethod, request.request_id(),
                OwnershipResources(response), "OK: no change", now));
            return idempotency_.Record(txn, kTransferMethod,
                                       request.request_id(), fingerprint,
                                       SerializeDeterministic(response), now);
          }
          after.set_state(v1::Ownership::POOLED);
          after.set_pool(pool_id);
        }
        plan.changed = true;
        plan.owned_deltas =
            OwnedDeltas(current.has_value() ? &*current : nullptr, after);
        RETURN_IF_ERROR(StageLossCooldown(
            txn, *roster, current.has_value() ? &*current : nullptr, after,
            now));
        for (const OwnedDelta& a : plan.Adjustments()) {
          RETURN_IF_ERROR(options_.allocator->Preload(a.department, a.rep_id));
        }
        ChangeSpec spec;
        spec.after = after;
        spec.cause = v1::OwnershipEvent::TRANSFER;
        spec.actor = actor.id;
        spec.reason = request.reason();
        spec.request_id = request.request_id();
        spec.before = &plan.before;
        ASSIGN_OR_RETURN(PendingEvents pending,
                         options_.book->Stage(txn, spec));
        response = pending.events().back().after();
        effects.events.Append(std::move(pending));
        effects.plans.push_back(std::move(plan));
        RETURN_IF_ERROR(StageAuditRecord(
            txn, actor, kTransferMethod, request.request_id(),
            OwnershipResources(response), "OK: transferred", now));
        return idempotency_.Record(txn, kTransferMethod, request.request_id(),
                                   fingerprint,
                                   SerializeDeterministic(response), now);
      }));
  return response;
}

namespace {

// The checks shared by Approve and Reject.
absl::Status CheckDecisionRequest(absl::string_view customer_id,
                                  absl::string_view department,
                                  absl::string_view reason,
                                  bool reason_required,
                                  absl::string_view request_id,
                                  absl::string_view actor) {
  FieldErrors errors;
  CheckName("customer_id", customer_id, true, rules::CheckCustomerId, &errors);
  CheckName("department", department, true, rules::CheckDepartmentId, &errors);
  CheckReason("reason", reason, reason_required, &errors);
  CheckRequestId("request_id", request_id, true, &errors);
  CheckActor(actor, &errors);
  return errors.ToStatus();
}

// Reads the pending ownership of (customer, department) for Approve/Reject.
absl::StatusOr<v1::Ownership> ReadPending(storage::Transaction& txn,
                                          absl::string_view customer_id,
                                          absl::string_view department,
                                          absl::string_view verb) {
  ASSIGN_OR_RETURN(std::optional<v1::Ownership> current,
                   OwnershipBook::ReadForUpdate(txn, customer_id, department));
  if (!current.has_value()) {
    return absl::NotFoundError(absl::StrCat(
        "customer ", rules::Quote(customer_id),
        " has no ownership in department ", department, " to ", verb));
  }
  if (current->state() != v1::Ownership::PENDING_APPROVAL) {
    return absl::FailedPreconditionError(
        absl::StrCat("the ownership of customer ", rules::Quote(customer_id),
                     " in department ", department, " is ",
                     v1::Ownership::State_Name(current->state()),
                     ", not PENDING_APPROVAL: there is nothing to ", verb));
  }
  return *std::move(current);
}

}  // namespace

absl::StatusOr<v1::Ownership> Assigner::Approve(
    const v1::ApproveRequest& request, const Actor& actor) {
  RETURN_IF_ERROR(CheckDecisionRequest(request.customer_id(),
                                       request.department(), request.reason(),
                                       false, request.request_id(), actor));
  const std::string fingerprint = RequestFingerprint(request);
  v1::Ownership response;
  absl::MutexLock stripe(&StripeFor(request.customer_id()));
  RETURN_IF_ERROR(RunMutation(
      *options_.store, *options_.allocator, options_.max_attempts,
      [&](storage::Transaction& txn, Effects& effects) -> absl::Status {
        response.Clear();
        const absl::Time now = options_.clock->Now();
        ASSIGN_OR_RETURN(
            std::optional<std::string> first,
            idempotency_.Lookup(txn, kApproveMethod, request.request_id(),
                                fingerprint, now));
        if (first.has_value()) {
          effects.replay = true;
          return ParseAnswer(*first, &response);
        }
        ASSIGN_OR_RETURN(v1::Ownership pending,
                         ReadPending(txn, request.customer_id(),
                                     request.department(), "approve"));
        ChangeSpec spec;
        spec.after = pending;
        spec.after.set_state(v1::Ownership::ACTIVE);
        spec.cause = v1::OwnershipEvent::APPROVAL;
        spec.actor = actor.id;
        spec.reason = request.reason();
        spec.request_id = request.request_id();
        ASSIGN_OR_RETURN(PendingEvents events, options_.book->Stage(txn, spec));
        response = events.events().back().after();
        effects.events.Append(std::move(events));
        RETURN_IF_ERROR(StageAuditRecord(
            txn, actor, kApproveMethod, request.request_id(),
            OwnershipResources(response), "OK: approved", now));
        return idempotency_.Record(txn, kApproveMethod, request.request_id(),
                                   fingerprint,
                                   SerializeDeterministic(response), now);
      }));
  return response;
}

absl::StatusOr<v1::Ownership> Assigner::Reject(const v1::RejectRequest& request,
                                               const Actor& actor) {
  RETURN_IF_ERROR(CheckDecisionRequest(request.customer_id(),
                                       request.department(), request.reason(),
                                       true, request.request_id(), actor));
  const RulesetRegistry::Active active = options_.rulesets->ActiveRuleset();
  const std::string fingerprint = RequestFingerprint(request);
  v1::Ownership response;
  absl::MutexLock stripe(&StripeFor(request.customer_id()));
  RETURN_IF_ERROR(RunMutation(
      *options_.store, *options_.allocator, options_.max_attempts,
      [&](storage::Transaction& txn, Effects& effects) -> absl::Status {
        response.Clear();
        const absl::Time now = options_.clock->Now();
        ASSIGN_OR_RETURN(
            std::optional<std::string> first,
            idempotency_.Lookup(txn, kRejectMethod, request.request_id(),
                                fingerprint, now));
        if (first.has_value()) {
          effects.replay = true;
          return ParseAnswer(*first, &response);
        }
        ASSIGN_OR_RETURN(v1::Ownership pending,
                         ReadPending(txn, request.customer_id(),
                                     request.department(), "reject"));
        ASSIGN_OR_RETURN(std::optional<storage::v1::CustomerRecord> stored,
                         ReadCustomer(txn, request.customer_id()));
        v1::Customer customer;
        if (stored.has_value()) {
          customer = stored->customer();
        } else {
          customer.set_id(request.customer_id());
        }
        // Unlocked (see the top of assigner.h).
        ASSIGN_OR_RETURN(
            std::shared_ptr<const RosterIndex> roster,
            StoredRoster([&](absl::string_view key, std::string* value) {
              return txn.Get(Table::kRoster, key, value);
            }));
        RejectInput input;
        input.customer = &customer;
        input.pending = &pending;
        input.ruleset = active.ruleset.get();
        input.roster = roster.get();
        input.now = now;
        input.in_cooldown = CooldownFor(request.customer_id());
        ASSIGN_OR_RETURN(DepartmentPlan plan, planner_.PlanReject(input));
        for (const OwnedDelta& a : plan.Adjustments()) {
          RETURN_IF_ERROR(options_.allocator->Preload(a.department, a.rep_id));
        }
        ChangeSpec spec;
        spec.after = plan.after;
        spec.cause = v1::OwnershipEvent::REJECTION;
        spec.actor = actor.id;
        spec.reason = request.reason();
        spec.request_id = request.request_id();
        ASSIGN_OR_RETURN(PendingEvents events, options_.book->Stage(txn, spec));
        response = events.events().back().after();
        if (auto add = plan.CursorAdd()) {
          RETURN_IF_ERROR(txn.AddToCounterWriteOnly(add->first, add->second));
        }
        effects.events.Append(std::move(events));
        effects.plans.push_back(std::move(plan));
        RETURN_IF_ERROR(StageAuditRecord(
            txn, actor, kRejectMethod, request.request_id(),
            OwnershipResources(response), "OK: rejected", now));
        return idempotency_.Record(txn, kRejectMethod, request.request_id(),
                                   fingerprint,
                                   SerializeDeterministic(response), now);
      }));
  return response;
}

}  // namespace custodian::server
