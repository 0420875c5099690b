#include "server/recycling_sweeper.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "rules/names.h"
#include "server/assignment_planner.h"
#include "server/cooldowns.h"
#include "server/mutation.h"
#include "server/pool_desk.h"
#include "server/request_checks.h"
#include "storage/keys.h"

namespace custodian::server {
namespace {

using storage::KeyBuilder;
using storage::KeyReader;
using storage::Table;

std::string ActivePrefix(absl::string_view department) {
  // OwnershipBook's ("by_state", department, state, customer) index.
  return KeyBuilder()
      .AddString("by_state")
      .AddString(department)
      .AddInt64(v1::Ownership::ACTIVE)
      .Build();
}

absl::Time FromProto(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

// The departments with a recycling rule, in rule order, without repeats.
std::vector<std::string> RecyclingDepartments(const v1::Ruleset& ruleset) {
  std::vector<std::string> out;
  for (const v1::RecyclingRule& r : ruleset.policies().recycling()) {
    bool seen = false;
    for (const std::string& d : out) seen = seen || d == r.department();
    if (!seen) out.push_back(r.department());
  }
  return out;
}

struct Cursor {
  std::string department;
  std::string last_customer;  // "" = from the start of the department
};

absl::StatusOr<std::optional<Cursor>> ReadCursor(storage::Store& store) {
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   store.NewSnapshot());
  std::string value;
  absl::Status s =
      snapshot->Get(Table::kOperations, RecycleCursorKey(), &value);
  if (absl::IsNotFound(s)) return std::optional<Cursor>();
  RETURN_IF_ERROR(s);
  Cursor cursor;
  KeyReader reader(value);
  if (!reader.ReadString(&cursor.department).ok() ||
      !reader.ReadString(&cursor.last_customer).ok() || !reader.done()) {
    return absl::DataLossError("the stored recycling cursor does not parse");
  }
  return std::optional<Cursor>(std::move(cursor));
}

absl::Status WriteCursor(storage::Store& store,
                         const std::optional<Cursor>& cursor) {
  return storage::RunInTransaction(
      store, [&](storage::Transaction& txn) -> absl::Status {
        if (!cursor.has_value()) {
          return txn.Delete(Table::kOperations, RecycleCursorKey());
        }
        return txn.Put(Table::kOperations, RecycleCursorKey(),
                       KeyBuilder()
                           .AddString(cursor->department)
                           .AddString(cursor->last_customer)
                           .Build());
      });
}

}  // namespace

std::string RecycleCursorKey() {
  return KeyBuilder().AddString("recycle_cursor").Build();
}

absl::StatusOr<std::unique_ptr<RecyclingSweeper>> RecyclingSweeper::Create(
    Options options) {
  FieldErrors errors;
  if (options.store == nullptr) errors.Add("store", "is required");
  if (options.rulesets == nullptr) errors.Add("rulesets", "is required");
  if (options.book == nullptr) errors.Add("book", "is required");
  if (options.allocator == nullptr) errors.Add("allocator", "is required");
  if (options.clock == nullptr) errors.Add("clock", "is required");
  if (options.batch_size < 1) errors.Add("batch_size", "must be >= 1");
  if (options.max_attempts < 1) errors.Add("max_attempts", "must be >= 1");
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "RecyclingSweeper options: ", errors.ToStatus().message()));
  }
  return std::unique_ptr<RecyclingSweeper>(new RecyclingSweeper(options));
}

absl::StatusOr<std::shared_ptr<const rules::RecyclingMatcher>>
RecyclingSweeper::Matcher() {
  const RulesetRegistry::Active active = options_.rulesets->ActiveRuleset();
  if (active.ruleset == nullptr) return nullptr;
  if (matcher_ == nullptr || matcher_version_ != active.version) {
    ASSIGN_OR_RETURN(
        std::unique_ptr<const rules::RecyclingMatcher> compiled,
        rules::RecyclingMatcher::Compile(active.ruleset->ruleset()));
    matcher_ = std::move(compiled);
    matcher_version_ = active.version;
  }
  return matcher_;
}

absl::StatusOr<RecyclingSweeper::Stats> RecyclingSweeper::SweepNow() {
  Stats stats;
  for (;;) {
    ASSIGN_OR_RETURN(const bool done, SweepBatch(&stats));
    if (done) return stats;
  }
}

absl::StatusOr<bool> RecyclingSweeper::SweepBatch(Stats* stats) {
  absl::MutexLock lock(&mu_);
  ++stats->batches;
  ASSIGN_OR_RETURN(std::shared_ptr<const rules::RecyclingMatcher> matcher,
                   Matcher());
  if (matcher == nullptr) return true;
  const std::vector<std::string> departments =
      RecyclingDepartments(matcher->ruleset());
  if (departments.empty()) {
    RETURN_IF_ERROR(WriteCursor(*options_.store, std::nullopt));
    return true;
  }
  ASSIGN_OR_RETURN(std::optional<Cursor> stored, ReadCursor(*options_.store));
  Cursor cursor{departments.front(), ""};
  size_t d = 0;
  if (stored.has_value()) {
    for (size_t i = 0; i < departments.size(); ++i) {
      if (departments[i] == stored->department) {
        d = i;
        cursor = *stored;
      }
    }
  }

  // The next batch of the department's ACTIVE index, read at a snapshot
  // that is dropped before any customer is locked.
  const std::string prefix = ActivePrefix(cursor.department);
  std::vector<std::string> customers;
  {
    ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                     options_.store->NewSnapshot());
    storage::ScanOptions scan_options;
    if (!cursor.last_customer.empty()) {
      scan_options.start_after =
          KeyBuilder(prefix).AddString(cursor.last_customer).Build();
    }
    std::unique_ptr<storage::ScanIterator> it =
        snapshot->Scan(Table::kIndexes, prefix, scan_options);
    for (; it->Valid() &&
           customers.size() < static_cast<size_t>(options_.batch_size);
         it->Next()) {
      KeyReader reader(it->key().substr(prefix.size()));
      std::string customer;
      RETURN_IF_ERROR(reader.ReadString(&customer));
      customers.push_back(std::move(customer));
    }
    RETURN_IF_ERROR(it->status());
  }

  for (const std::string& customer : customers) {
    RETURN_IF_ERROR(SweepOne(*matcher, cursor.department, customer, stats));
  }

  std::optional<Cursor> next;
  if (customers.size() == static_cast<size_t>(options_.batch_size)) {
    next = Cursor{cursor.department, customers.back()};
  } else if (d + 1 < departments.size()) {
    next = Cursor{departments[d + 1], ""};
  }
  RETURN_IF_ERROR(WriteCursor(*options_.store, next));
  return !next.has_value();
}

absl::Status RecyclingSweeper::SweepOne(const rules::RecyclingMatcher& matcher,
                                        absl::string_view department,
                                        absl::string_view customer_id,
                                        Stats* stats) {
  const v1::Policies& policies = matcher.ruleset().policies();
  const absl::Duration protection =
      policies.has_protection() && policies.protection().has_new_owner()
          ? FromProto(policies.protection().new_owner())
          : absl::ZeroDuration();
  // Counted once per customer, whatever the attempts.
  enum class Outcome { kNone, kRecycled, kProtected, kNoPool };
  Outcome outcome = Outcome::kNone;
  RETURN_IF_ERROR(RunMutation(
      *options_.store, *options_.allocator, options_.max_attempts,
      [&](storage::Transaction& txn, MutationEffects& effects) -> absl::Status {
        outcome = Outcome::kNone;
        const absl::Time now = options_.clock->Now();
        ASSIGN_OR_RETURN(
            std::optional<v1::Ownership> current,
            OwnershipBook::ReadForUpdate(txn, customer_id, department));
        // FROZEN (an appeal is open) and every other state stay put.
        if (!current.has_value() || current->state() != v1::Ownership::ACTIVE) {
          return absl::OkStatus();
        }
        ASSIGN_OR_RETURN(std::optional<storage::v1::CustomerRecord> record,
                         ReadCustomerForUpdate(txn, customer_id));
        if (!record.has_value()) return absl::OkStatus();
        const int rule = matcher.Match(department, record->customer(), now);
        if (rule < 0) return absl::OkStatus();
        if (now < FromProto(current->since()) + protection) {
          outcome = Outcome::kProtected;
          return absl::OkStatus();
        }
        const v1::RecyclingRule& r = policies.recycling(rule);
        ASSIGN_OR_RETURN(RosterIndex roster, ReadStoredRoster(txn));
        const v1::Team* pool = roster.FindTeam(r.to_pool());
        if (pool == nullptr || !pool->has_pool() ||
            pool->department() != department) {
          outcome = Outcome::kNoPool;
          return absl::OkStatus();
        }
        DepartmentPlan plan;
        plan.department = std::string(department);
        plan.before = current;
        plan.cause = v1::OwnershipEvent::RECYCLE;
        v1::Ownership& after = plan.after;
        after.set_customer_id(std::string(customer_id));
        after.set_department(std::string(department));
        after.set_state(v1::Ownership::POOLED);
        after.set_pool(pool->id());
        plan.changed = true;
        plan.owned_deltas = OwnedDeltas(&*current, after);
        for (const OwnedDelta& a : plan.Adjustments()) {
          RETURN_IF_ERROR(options_.allocator->Preload(a.department, a.rep_id));
        }
        // The rep gets the pool's cooldown (server/cooldowns.h).
        RETURN_IF_ERROR(StageLossCooldown(txn, roster, &*current, after, now));
        ChangeSpec spec;
        spec.after = after;
        spec.cause = v1::OwnershipEvent::RECYCLE;
        spec.actor = std::string(kSweeperActor);
        spec.reason = absl::StrCat("policies.recycling[", rule,
                                   "] holds: back to pool ", pool->id());
        spec.before = &plan.before;
        ASSIGN_OR_RETURN(PendingEvents pending,
                         options_.book->Stage(txn, spec));
        RETURN_IF_ERROR(StageAuditRecord(
            txn, Actor(kSweeperActor), kRecycleRpc, /*request_id=*/"",
            OwnershipResources(plan.before.has_value() ? *plan.before
                                                       : spec.after),
            spec.reason, now));
        effects.events.Append(std::move(pending));
        effects.plans.push_back(std::move(plan));
        outcome = Outcome::kRecycled;
        return absl::OkStatus();
      }));
  ++stats->examined;
  switch (outcome) {
    case Outcome::kRecycled:
      ++stats->recycled;
      break;
    case Outcome::kProtected:
      ++stats->protected_owner;
      break;
    case Outcome::kNoPool:
      ++stats->skipped_no_pool;
      break;
    case Outcome::kNone:
      break;
  }
  return absl::OkStatus();
}

}  // namespace custodian::server
