#include "server/pool_desk.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "custodian/storage/v1/records.pb.h"
#include "rules/names.h"
#include "server/cooldowns.h"
#include "server/duplicate_index.h"
#include "server/duplicate_keys.h"
#include "server/mutation.h"
#include "server/request_checks.h"
#include "server/roster_registry.h"
#include "storage/keys.h"

namespace custodian::server {
namespace {

using storage::KeyBuilder;
using storage::Table;

void CheckName(absl::string_view field, absl::string_view value, bool required,
               std::string (*checker)(absl::string_view), FieldErrors* errors) {
  if (value.empty()) {
    if (required) errors->Add(field, "is required");
    return;
  }
  if (std::string e = checker(value); !e.empty()) errors->Add(field, e);
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

absl::Time FromProto(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t seconds = absl::ToUnixSeconds(t);  // rounds down
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>((t - absl::FromUnixSeconds(seconds)) /
                                    absl::Nanoseconds(1)));
  return ts;
}

// The ranges of google/protobuf/timestamp.proto and duration.proto.
bool ValidTimestamp(const google::protobuf::Timestamp& ts) {
  return ts.seconds() >= -62135596800 && ts.seconds() <= 253402300799 &&
         ts.nanos() >= 0 && ts.nanos() <= 999999999;
}
bool ValidDuration(const google::protobuf::Duration& d) {
  return d.seconds() >= -315576000000 && d.seconds() <= 315576000000 &&
         d.nanos() >= -999999999 && d.nanos() <= 999999999 &&
         !(d.seconds() > 0 && d.nanos() < 0) &&
         !(d.seconds() < 0 && d.nanos() > 0);
}

// Whether `path` is under `prefix` (RULES.md: equal, or starts with
// prefix + "/").
bool PathUnder(absl::string_view path, absl::string_view prefix) {
  return path == prefix ||
         (path.size() > prefix.size() && absl::StartsWith(path, prefix) &&
          path[prefix.size()] == '/');
}

std::string RfcTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

absl::Status DepartmentNotFound(absl::string_view department) {
  return absl::NotFoundError(absl::StrCat("department: department ",
                                          rules::Quote(department),
                                          " is not in the roster"));
}

std::string OwnershipName(absl::string_view customer_id,
                          absl::string_view department) {
  return absl::StrCat("customer ", rules::Quote(customer_id), " in department ",
                      department);
}

// The POOLED index range of a department (OwnershipBook's "by_state").
std::string PooledPrefix(absl::string_view department) {
  return KeyBuilder()
      .AddString("by_state")
      .AddString(department)
      .AddInt64(v1::Ownership::POOLED)
      .Build();
}

// A pool team of `department`, or the error naming `field`.
absl::StatusOr<const v1::Team*> FindPool(const RosterIndex& roster,
                                         absl::string_view department,
                                         absl::string_view pool_id) {
  if (pool_id.empty()) {
    const v1::Team* only = nullptr;
    int pools = 0;
    for (const v1::Team& t : roster.roster().teams()) {
      if (t.has_pool() && t.department() == department) {
        only = &t;
        ++pools;
      }
    }
    if (pools != 1) {
      return absl::FailedPreconditionError(
          absl::StrCat("pool: department ", department, " has ", pools,
                       " pools: name the pool to release to"));
    }
    return only;
  }
  const v1::Team* pool = roster.FindTeam(pool_id);
  if (pool == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "pool: pool ", rules::Quote(pool_id), " is not in the roster"));
  }
  if (!pool->has_pool() || pool->department() != department) {
    return absl::FailedPreconditionError(
        absl::StrCat("pool: team ", rules::Quote(pool_id),
                     " is not a pool of department ", department));
  }
  return pool;
}

// Why `current` (not POOLED) cannot be claimed by `rep`.
absl::Status NotClaimable(const v1::Ownership& current, absl::string_view rep) {
  const std::string what =
      OwnershipName(current.customer_id(), current.department());
  switch (current.state()) {
    case v1::Ownership::FROZEN:
      return absl::FailedPreconditionError(absl::StrCat(
          what, " is FROZEN (an appeal is open): it cannot be claimed"));
    case v1::Ownership::UNOWNED:
      return absl::FailedPreconditionError(
          absl::StrCat(what, " is in no pool (UNOWNED): nothing to claim"));
    default:
      break;
  }
  if (current.rep() == rep) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " is already owned by rep ", rules::Quote(rep), " (",
                     v1::Ownership::State_Name(current.state()), ")"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      what, " is owned by rep ", rules::Quote(current.rep()), " (",
      v1::Ownership::State_Name(current.state()), " since ",
      RfcTime(FromProto(current.since())),
      "): it is not in a pool; to contest the owner, file an appeal "
      "(custodianctl appeal file)"));
}

}  // namespace

absl::StatusOr<RosterIndex> ReadStoredRoster(storage::Transaction& txn) {
  std::string bytes;
  absl::Status s = txn.Get(Table::kRoster, RosterRecordKey(), &bytes);
  if (absl::IsNotFound(s)) return RosterIndex(v1::Roster());
  RETURN_IF_ERROR(s);
  storage::v1::RosterRecord record;
  if (!record.ParseFromString(bytes)) {
    return absl::DataLossError("the stored roster record does not parse");
  }
  return RosterIndex(record.roster());
}

absl::StatusOr<std::optional<storage::v1::CustomerRecord>>
ReadCustomerForUpdate(storage::Transaction& txn,
                      absl::string_view customer_id) {
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

std::string ClaimDayPrefix(absl::string_view department, absl::string_view pool,
                           absl::string_view rep) {
  return KeyBuilder()
      .AddString("claims_day")
      .AddString(department)
      .AddString(pool)
      .AddString(rep)
      .Build();
}

std::string ClaimDayKey(absl::string_view department, absl::string_view pool,
                        absl::string_view rep, int64_t day) {
  return KeyBuilder(ClaimDayPrefix(department, pool, rep))
      .AddInt64(day)
      .Build();
}

int64_t UtcDay(absl::Time t) {
  const int64_t seconds = absl::ToUnixSeconds(t);  // rounds down
  return seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
}

absl::StatusOr<std::unique_ptr<PoolDesk>> PoolDesk::Create(Options options) {
  FieldErrors errors;
  if (options.store == nullptr) errors.Add("store", "is required");
  if (options.rulesets == nullptr) errors.Add("rulesets", "is required");
  if (options.book == nullptr) errors.Add("book", "is required");
  if (options.allocator == nullptr) errors.Add("allocator", "is required");
  if (options.clock == nullptr) errors.Add("clock", "is required");
  if (options.max_attempts < 1) errors.Add("max_attempts", "must be >= 1");
  if (options.max_clock_skew < absl::ZeroDuration()) {
    errors.Add("max_clock_skew", "must be >= 0");
  }
  if (options.max_examined_per_page < 1) {
    errors.Add("max_examined_per_page", "must be >= 1");
  }
  if (absl::Status s = ValidateIdempotencyOptions(options.idempotency);
      !s.ok()) {
    errors.Add("idempotency", s.message());
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("PoolDesk options: ", errors.ToStatus().message()));
  }
  return std::unique_ptr<PoolDesk>(new PoolDesk(std::move(options)));
}

PoolDesk::PoolDesk(Options options)
    : options_(std::move(options)),
      idempotency_(options_.idempotency),
      planner_(options_.allocator) {}

bool PoolDesk::InCooldown(absl::string_view customer_id,
                          absl::string_view department,
                          absl::string_view rep) const {
  absl::StatusOr<std::unique_ptr<storage::Snapshot>> snapshot =
      options_.store->NewSnapshot();
  if (!snapshot.ok()) return false;
  absl::StatusOr<std::optional<absl::Time>> until =
      ReadCooldown(**snapshot, department, customer_id, rep);
  return until.ok() && until->has_value() && options_.clock->Now() < **until;
}

std::function<CooldownFn(absl::string_view customer_id)>
PoolDesk::CooldownLookup() const {
  return [this](absl::string_view customer_id) -> CooldownFn {
    // department -> reps in cooldown now; filled on first use.
    auto cache = std::make_shared<
        absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>>>();
    return [this, cache, customer = std::string(customer_id)](
               absl::string_view department, absl::string_view rep) {
      auto it = cache->find(department);
      if (it == cache->end()) {
        it = cache
                 ->emplace(std::string(department),
                           absl::flat_hash_set<std::string>())
                 .first;
        const absl::Time now = options_.clock->Now();
        absl::StatusOr<std::unique_ptr<storage::Snapshot>> snapshot =
            options_.store->NewSnapshot();
        if (snapshot.ok()) {
          const std::string prefix = CooldownPrefix(department, customer);
          std::unique_ptr<storage::ScanIterator> scan =
              (*snapshot)->Scan(Table::kIndexes, prefix);
          for (; scan->Valid(); scan->Next()) {
            storage::KeyReader reader(scan->key().substr(prefix.size()));
            std::string cooled;
            absl::StatusOr<int64_t> until =
                storage::DecodeCounter(scan->value());
            if (reader.ReadString(&cooled).ok() && until.ok() &&
                now < absl::FromUnixMicros(*until)) {
              it->second.insert(std::move(cooled));
            }
          }
        }
      }
      return it->second.contains(rep);
    };
  };
}

// ---------------------------------------------------------------------------
// Claim

absl::StatusOr<v1::Ownership> PoolDesk::Claim(const v1::ClaimRequest& request,
                                              const Actor& actor) {
  FieldErrors errors;
  CheckName("customer_id", request.customer_id(), true, rules::CheckCustomerId,
            &errors);
  CheckName("department", request.department(), true, rules::CheckDepartmentId,
            &errors);
  CheckName("rep", request.rep(), true, rules::CheckRepId, &errors);
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
  const std::string& rep_id = request.rep();

  v1::Ownership response;
  RETURN_IF_ERROR(RunMutation(
      *options_.store, *options_.allocator, options_.max_attempts,
      [&](storage::Transaction& txn, MutationEffects& effects) -> absl::Status {
        response.Clear();
        const absl::Time now = options_.clock->Now();
        ASSIGN_OR_RETURN(
            std::optional<std::string> first,
            idempotency_.Lookup(txn, kClaimMethod, request.request_id(),
                                fingerprint, now));
        if (first.has_value()) {
          effects.replay = true;
          return ParseAnswer(*first, &response);
        }
        // Unlocked, as the Assigner reads it (the top of assigner.h).
        ASSIGN_OR_RETURN(RosterIndex roster, ReadStoredRoster(txn));
        if (!roster.HasDepartment(department)) {
          return DepartmentNotFound(department);
        }
        const v1::Rep* rep = roster.FindRep(rep_id);
        if (rep == nullptr) {
          return absl::NotFoundError(absl::StrCat(
              "rep: rep ", rules::Quote(rep_id), " is not in the roster"));
        }
        if (rep->status() != v1::ACTIVE &&
            rep->status() != v1::REP_STATUS_UNSPECIFIED) {
          return absl::FailedPreconditionError(absl::StrCat(
              "rep: rep ", rules::Quote(rep_id), " is ",
              v1::RepStatus_Name(rep->status()),
              ", not ACTIVE: only an active rep claims customers"));
        }
        std::optional<RosterIndex::Seat> seat =
            roster.FindSeat(department, rep_id);
        if (!seat.has_value()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "rep: rep ", rules::Quote(rep_id),
              " is not a member of any team of department ", department));
        }

        ASSIGN_OR_RETURN(
            std::optional<v1::Ownership> current,
            OwnershipBook::ReadForUpdate(txn, customer_id, department));
        if (!current.has_value()) {
          return absl::NotFoundError(
              absl::StrCat(OwnershipName(customer_id, department),
                           " has no ownership: nothing to claim"));
        }
        if (current->state() != v1::Ownership::POOLED) {
          return NotClaimable(*current, rep_id);
        }
        const std::string& pool_id = current->pool();
        const v1::Team* pool = roster.FindTeam(pool_id);
        const v1::PoolSettings settings =
            pool != nullptr ? pool->pool() : v1::PoolSettings();

        // Cooldown (written by Release and by recycling).
        std::string value;
        absl::Status s =
            txn.Get(Table::kIndexes,
                    CooldownKey(department, customer_id, rep_id), &value);
        if (s.ok()) {
          ASSIGN_OR_RETURN(const int64_t until_us,
                           storage::DecodeCounter(value));
          const absl::Time until = absl::FromUnixMicros(until_us);
          if (now < until) {
            return absl::FailedPreconditionError(absl::StrCat(
                "rep: rep ", rules::Quote(rep_id), " released or lost ",
                OwnershipName(customer_id, department),
                " and is in its cooldown until ", RfcTime(until)));
          }
        } else if (!absl::IsNotFound(s)) {
          return s;
        }

        // Daily claim limit of the pool, per rep, per UTC day.
        const std::string day_key =
            ClaimDayKey(department, pool_id, rep_id, UtcDay(now));
        int64_t claimed_today = 0;
        s = txn.GetForUpdate(Table::kIndexes, day_key, &value);
        if (s.ok()) {
          ASSIGN_OR_RETURN(claimed_today, storage::DecodeCounter(value));
        } else if (!absl::IsNotFound(s)) {
          return s;
        }
        if (settings.claim_limit_per_day() > 0 &&
            claimed_today >= settings.claim_limit_per_day()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "rep: rep ", rules::Quote(rep_id), " has claimed ", claimed_today,
              " customers from pool ", rules::Quote(pool_id),
              " today (UTC), its claim_limit_per_day of ",
              settings.claim_limit_per_day()));
        }

        // Holding limit: the rep's capacity in the department.
        ASSIGN_OR_RETURN(
            PickResult pick,
            planner_.ReserveRep(department, rep_id, roster, policies));
        if (!pick.picked()) {
          const SkipReason reason = pick.skipped.empty()
                                        ? SkipReason::kAtCapacity
                                        : pick.skipped.front().reason;
          return absl::FailedPreconditionError(absl::StrCat(
              "rep: rep ", rules::Quote(rep_id),
              reason == SkipReason::kAtCapacity
                  ? absl::StrCat(" is at capacity (",
                                 MemberCapacity(*seat->member, policies),
                                 " customers) in department ", department,
                                 ": its holding limit")
                  : absl::StrCat(" is not eligible (", SkipReasonName(reason),
                                 ")")));
        }

        DepartmentPlan plan;
        plan.department = department;
        plan.before = current;
        plan.cause = v1::OwnershipEvent::CLAIM;
        plan.reservation = std::move(pick.reservation);
        v1::Ownership& after = plan.after;
        after.set_customer_id(customer_id);
        after.set_department(department);
        after.set_state(v1::Ownership::ACTIVE);
        after.set_rep(rep_id);
        after.set_team(seat->team->id());
        plan.changed = true;
        plan.owned_deltas = OwnedDeltas(&*current, after);
        for (const OwnedDelta& a : plan.Adjustments()) {
          RETURN_IF_ERROR(options_.allocator->Preload(a.department, a.rep_id));
        }
        ChangeSpec spec;
        spec.after = after;
        spec.cause = v1::OwnershipEvent::CLAIM;
        spec.actor = actor.id;
        spec.reason = absl::StrCat("claimed from pool ", pool_id);
        spec.request_id = request.request_id();
        spec.before = &plan.before;
        ASSIGN_OR_RETURN(PendingEvents pending,
                         options_.book->Stage(txn, spec));
        RETURN_IF_ERROR(txn.Put(Table::kIndexes, day_key,
                                storage::EncodeCounter(claimed_today + 1)));
        // The rep's counters of earlier days in this pool are spent: the
        // first claim of a day deletes them, so at most one stays per
        // (pool, rep).
        if (claimed_today == 0) {
          const std::string prefix =
              ClaimDayPrefix(department, pool_id, rep_id);
          std::vector<std::string> spent;
          {
            std::unique_ptr<storage::ScanIterator> it =
                txn.Scan(Table::kIndexes, prefix);
            for (; it->Valid(); it->Next()) {
              if (it->key() != day_key) spent.emplace_back(it->key());
            }
            RETURN_IF_ERROR(it->status());
          }
          for (const std::string& key : spent) {
            RETURN_IF_ERROR(txn.Delete(Table::kIndexes, key));
          }
        }
        response = pending.events().back().after();
        effects.events.Append(std::move(pending));
        effects.plans.push_back(std::move(plan));
        RETURN_IF_ERROR(
            StageAuditRecord(txn, actor, kClaimMethod, request.request_id(),
                             OwnershipResources(response), "OK: claimed", now));
        return idempotency_.Record(txn, kClaimMethod, request.request_id(),
                                   fingerprint,
                                   SerializeDeterministic(response), now);
      }));
  return response;
}

// ---------------------------------------------------------------------------
// Release

absl::StatusOr<v1::Ownership> PoolDesk::Release(
    const v1::ReleaseRequest& request, const Actor& actor) {
  FieldErrors errors;
  CheckName("customer_id", request.customer_id(), true, rules::CheckCustomerId,
            &errors);
  CheckName("department", request.department(), true, rules::CheckDepartmentId,
            &errors);
  CheckName("pool", request.pool(), false, rules::CheckTeamId, &errors);
  if (request.reason() == v1::ReleaseRequest::REASON_UNSPECIFIED) {
    errors.Add("reason", "is required");
  } else if (!v1::ReleaseRequest::Reason_IsValid(request.reason())) {
    errors.Add("reason",
               absl::StrCat(request.reason(), " is not a release reason code"));
  }
  CheckReason("reason_text", request.reason_text(),
              request.reason() == v1::ReleaseRequest::OTHER, &errors);
  CheckRequestId("request_id", request.request_id(), true, &errors);
  CheckActor(actor, &errors);
  RETURN_IF_ERROR(errors.ToStatus());

  const std::string fingerprint = RequestFingerprint(request);
  const std::string& customer_id = request.customer_id();
  const std::string& department = request.department();
  const std::string reason =
      request.reason_text().empty()
          ? v1::ReleaseRequest::Reason_Name(request.reason())
          : absl::StrCat(v1::ReleaseRequest::Reason_Name(request.reason()),
                         ": ", request.reason_text());

  v1::Ownership response;
  RETURN_IF_ERROR(RunMutation(
      *options_.store, *options_.allocator, options_.max_attempts,
      [&](storage::Transaction& txn, MutationEffects& effects) -> absl::Status {
        response.Clear();
        const absl::Time now = options_.clock->Now();
        ASSIGN_OR_RETURN(
            std::optional<std::string> first,
            idempotency_.Lookup(txn, kReleaseMethod, request.request_id(),
                                fingerprint, now));
        if (first.has_value()) {
          effects.replay = true;
          return ParseAnswer(*first, &response);
        }
        ASSIGN_OR_RETURN(RosterIndex roster, ReadStoredRoster(txn));
        if (!roster.HasDepartment(department)) {
          return DepartmentNotFound(department);
        }
        ASSIGN_OR_RETURN(const v1::Team* pool,
                         FindPool(roster, department, request.pool()));
        ASSIGN_OR_RETURN(
            std::optional<v1::Ownership> current,
            OwnershipBook::ReadForUpdate(txn, customer_id, department));
        if (ActsOnlyAsRep(actor) &&
            (!current.has_value() || current->rep() != actor.id)) {
          return absl::PermissionDeniedError(
              absl::StrCat("rep ", rules::Quote(actor.id),
                           " may release only customers they own"));
        }
        if (!current.has_value()) {
          return absl::NotFoundError(
              absl::StrCat(OwnershipName(customer_id, department),
                           " has no ownership: nothing to release"));
        }
        if (current->state() != v1::Ownership::ACTIVE) {
          return absl::FailedPreconditionError(absl::StrCat(
              OwnershipName(customer_id, department), " is ",
              v1::Ownership::State_Name(current->state()),
              current->state() == v1::Ownership::FROZEN
                  ? " (an appeal is open): it cannot be released"
                  : ", not ACTIVE: only an owned customer is released"));
        }
        DepartmentPlan plan;
        plan.department = department;
        plan.before = current;
        plan.cause = v1::OwnershipEvent::RELEASE;
        v1::Ownership& after = plan.after;
        after.set_customer_id(customer_id);
        after.set_department(department);
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
        spec.cause = v1::OwnershipEvent::RELEASE;
        spec.actor = actor.id;
        spec.reason = reason;
        spec.request_id = request.request_id();
        spec.before = &plan.before;
        ASSIGN_OR_RETURN(PendingEvents pending,
                         options_.book->Stage(txn, spec));
        response = pending.events().back().after();
        effects.events.Append(std::move(pending));
        effects.plans.push_back(std::move(plan));
        RETURN_IF_ERROR(StageAuditRecord(
            txn, actor, kReleaseMethod, request.request_id(),
            OwnershipResources(response), "OK: released", now));
        return idempotency_.Record(txn, kReleaseMethod, request.request_id(),
                                   fingerprint,
                                   SerializeDeterministic(response), now);
      }));
  return response;
}

// ---------------------------------------------------------------------------
// RecordActivity

absl::StatusOr<v1::RecordActivityResponse> PoolDesk::RecordActivity(
    const v1::RecordActivityRequest& request, const Actor& actor) {
  FieldErrors errors;
  CheckName("customer_id", request.customer_id(), true, rules::CheckCustomerId,
            &errors);
  CheckName("department", request.department(), true, rules::CheckDepartmentId,
            &errors);
  if (request.kind() == v1::RecordActivityRequest::KIND_UNSPECIFIED) {
    errors.Add("kind", "is required");
  } else if (!v1::RecordActivityRequest::Kind_IsValid(request.kind())) {
    errors.Add("kind",
               absl::StrCat(request.kind(), " is not an activity kind"));
  }
  const absl::Time now_at_check = options_.clock->Now();
  if (!request.has_at()) {
    errors.Add("at", "is required");
  } else if (!ValidTimestamp(request.at())) {
    errors.Add("at", "is not a valid timestamp");
  } else if (FromProto(request.at()) > now_at_check + options_.max_clock_skew) {
    errors.Add("at", absl::StrCat("is in the future (",
                                  RfcTime(FromProto(request.at())),
                                  " is after now plus ",
                                  absl::FormatDuration(options_.max_clock_skew),
                                  " of clock skew)"));
  }
  CheckRequestId("request_id", request.request_id(), true, &errors);
  CheckActor(actor, &errors);
  RETURN_IF_ERROR(errors.ToStatus());

  const std::string fingerprint = RequestFingerprint(request);
  const absl::Time at = FromProto(request.at());
  v1::RecordActivityResponse response;
  RETURN_IF_ERROR(RunMutation(
      *options_.store, *options_.allocator, options_.max_attempts,
      [&](storage::Transaction& txn, MutationEffects& effects) -> absl::Status {
        response.Clear();
        const absl::Time now = options_.clock->Now();
        ASSIGN_OR_RETURN(
            std::optional<std::string> first,
            idempotency_.Lookup(txn, kRecordActivityMethod,
                                request.request_id(), fingerprint, now));
        if (first.has_value()) {
          effects.replay = true;
          return ParseAnswer(*first, &response);
        }
        ASSIGN_OR_RETURN(RosterIndex roster, ReadStoredRoster(txn));
        if (!roster.HasDepartment(request.department())) {
          return DepartmentNotFound(request.department());
        }
        ASSIGN_OR_RETURN(std::optional<storage::v1::CustomerRecord> stored,
                         ReadCustomerForUpdate(txn, request.customer_id()));
        if (!stored.has_value()) {
          return absl::NotFoundError(absl::StrCat(
              "customer_id: customer ", rules::Quote(request.customer_id()),
              " does not exist"));
        }
        const v1::Customer& customer = stored->customer();
        const bool later = !customer.has_last_activity_time() ||
                           at > FromProto(customer.last_activity_time());
        if (later) {
          storage::v1::CustomerRecord record = *stored;
          *record.mutable_customer()->mutable_last_activity_time() =
              ToProto(at);
          RETURN_IF_ERROR(options_.book->StageCustomer(txn, record).status());
          *response.mutable_last_activity_time() = ToProto(at);
        } else {
          *response.mutable_last_activity_time() =
              customer.last_activity_time();
        }
        response.set_changed(later);
        RETURN_IF_ERROR(StageAuditRecord(
            txn, actor, kRecordActivityMethod, request.request_id(),
            {absl::StrCat("customers/", request.customer_id())},
            later ? "OK: activity recorded" : "OK: no change (not later)",
            now));
        return idempotency_.Record(txn, kRecordActivityMethod,
                                   request.request_id(), fingerprint,
                                   SerializeDeterministic(response), now);
      }));
  return response;
}

// ---------------------------------------------------------------------------
// ListPool

absl::StatusOr<v1::ListPoolResponse> PoolDesk::ListPool(
    const v1::ListPoolRequest& request) const {
  FieldErrors errors;
  CheckName("department", request.department(), true, rules::CheckDepartmentId,
            &errors);
  CheckName("pool", request.pool(), false, rules::CheckTeamId, &errors);
  CheckName("segment", request.segment(), false, rules::CheckSegmentName,
            &errors);
  CheckName("region_under", request.region_under(), false, rules::CheckPath,
            &errors);
  CheckName("industry_under", request.industry_under(), false, rules::CheckPath,
            &errors);
  absl::Duration min_time = absl::ZeroDuration();
  if (request.has_min_time_in_pool()) {
    const auto& d = request.min_time_in_pool();
    if (!ValidDuration(d) || d.seconds() < 0 || d.nanos() < 0) {
      errors.Add("min_time_in_pool", "must be a valid duration >= 0");
    } else {
      min_time = absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
    }
  }
  const int32_t page_size =
      CheckPageSize("page_size", request.page_size(), kDefaultOwnershipPageSize,
                    kMaxOwnershipPageSize, &errors);
  // The scope: every filter, so a token is only good for the same listing.
  v1::ListPoolRequest scope_request = request;
  scope_request.clear_page_size();
  scope_request.clear_page_token();
  const std::string scope = absl::StrCat(
      "ListPool:", Sha256Hex(SerializeDeterministic(scope_request), 16));
  const std::string prefix = PooledPrefix(request.department());
  std::string start_after;
  if (!request.page_token().empty()) {
    std::optional<std::string> position =
        DecodePageToken("page_token", scope, request.page_token(), &errors);
    if (position.has_value()) start_after = prefix + *position;
  }
  RETURN_IF_ERROR(errors.ToStatus());

  const absl::Time now = options_.clock->Now();
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  v1::ListPoolResponse response;
  {
    storage::ScanOptions scan_options;
    scan_options.start_after = start_after;
    std::unique_ptr<storage::ScanIterator> it =
        snapshot->Scan(Table::kIndexes, prefix, scan_options);
    int64_t examined = 0;
    std::string last_key;
    bool more = false;
    for (; it->Valid(); it->Next()) {
      if (response.entries_size() >= page_size ||
          examined >= options_.max_examined_per_page) {
        more = true;
        break;
      }
      ++examined;
      last_key = std::string(it->key());
      storage::KeyReader reader(
          absl::string_view(last_key).substr(prefix.size()));
      std::string customer_id;
      RETURN_IF_ERROR(reader.ReadString(&customer_id));
      std::string bytes;
      RETURN_IF_ERROR(snapshot->Get(
          Table::kOwnerships, OwnershipKey(customer_id, request.department()),
          &bytes));
      v1::PoolEntry entry;
      if (!entry.mutable_ownership()->ParseFromString(bytes)) {
        return absl::DataLossError(
            absl::StrCat("the ownership of ",
                         OwnershipName(customer_id, request.department()),
                         " does not parse"));
      }
      const v1::Ownership& o = entry.ownership();
      if (!request.pool().empty() && o.pool() != request.pool()) continue;
      if (now - FromProto(o.since()) < min_time) continue;
      storage::v1::CustomerRecord record;
      absl::Status s =
          snapshot->Get(Table::kCustomers, CustomerKey(customer_id), &bytes);
      if (s.ok() && !record.ParseFromString(bytes)) {
        return absl::DataLossError(absl::StrCat("the record of customer ",
                                                rules::Quote(customer_id),
                                                " does not parse"));
      }
      if (!s.ok() && !absl::IsNotFound(s)) return s;
      const v1::Customer& c = record.customer();
      if (!request.region_under().empty() &&
          !PathUnder(c.region(), request.region_under())) {
        continue;
      }
      if (!request.industry_under().empty() &&
          !PathUnder(c.industry(), request.industry_under())) {
        continue;
      }
      if (!request.segment().empty() &&
          std::find(record.segments().begin(), record.segments().end(),
                    request.segment()) == record.segments().end()) {
        continue;
      }
      *entry.mutable_customer() = c;
      *response.add_entries() = std::move(entry);
    }
    RETURN_IF_ERROR(it->status());
    if (more) {
      response.set_next_page_token(
          EncodePageToken(scope, last_key.substr(prefix.size())));
    }
  }
  return response;
}

}  // namespace custodian::server

namespace custodian::server {

// ---------------------------------------------------------------------------
// CheckDuplicates

absl::StatusOr<v1::CheckDuplicatesResponse> PoolDesk::CheckDuplicates(
    const v1::CheckDuplicatesRequest& request) const {
  constexpr size_t kMaxKeyBytes = 256;
  FieldErrors errors;
  const v1::Customer& c = request.customer();
  if (!request.has_customer()) {
    errors.Add("customer", "is required");
  } else {
    CheckName("customer.id", c.id(), false, rules::CheckCustomerId, &errors);
    if (c.name().empty() && c.tax_id().empty() && c.email_domain().empty()) {
      errors.Add("customer",
                 "needs at least one of name, tax_id, email_domain");
    }
    const std::pair<const char*, const std::string*> keys[] = {
        {"customer.name", &c.name()},
        {"customer.tax_id", &c.tax_id()},
        {"customer.email_domain", &c.email_domain()}};
    for (const auto& [field, value] : keys) {
      if (value->size() > kMaxKeyBytes) {
        errors.Add(field, absl::StrCat("is longer than ", kMaxKeyBytes,
                                       " bytes (", value->size(), ")"));
      }
    }
  }
  RETURN_IF_ERROR(errors.ToStatus());

  const RulesetRegistry::Active active = options_.rulesets->ActiveRuleset();
  const v1::Policies& policies = active.ruleset != nullptr
                                     ? active.ruleset->ruleset().policies()
                                     : DefaultPolicies();
  google::protobuf::RepeatedField<int> match_on =
      policies.duplicates().match_on();
  if (match_on.empty()) {
    match_on.Add(v1::TAX_ID);
    match_on.Add(v1::EMAIL_DOMAIN);
    match_on.Add(v1::NAME);
  }
  const absl::Duration protection =
      policies.protection().has_new_owner()
          ? absl::Seconds(policies.protection().new_owner().seconds()) +
                absl::Nanoseconds(policies.protection().new_owner().nanos())
          : absl::ZeroDuration();
  const absl::Time now = options_.clock->Now();

  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  absl::StatusOr<std::vector<v1::DuplicateMatch>> matches =
      FindDuplicates(*snapshot, c, match_on);
  if (!matches.ok()) {
    if (absl::IsInvalidArgument(matches.status())) {
      FieldErrors bad;
      const absl::string_view message = matches.status().message();
      const size_t colon = message.find(": ");
      bad.Add(message.substr(0, colon), message.substr(colon + 2));
      return bad.ToStatus();
    }
    return matches.status();
  }
  v1::CheckDuplicatesResponse response;
  for (int kind : match_on) {
    response.add_match_on(
        std::string(MatchKeyName(static_cast<v1::MatchKey>(kind))));
  }
  for (v1::DuplicateMatch& m : *matches) {
    v1::DuplicateCandidate* candidate = response.add_candidates();
    std::unique_ptr<storage::ScanIterator> it =
        snapshot->Scan(Table::kOwnerships, OwnershipKeyPrefix(m.customer_id()));
    for (; it->Valid(); it->Next()) {
      v1::Ownership o;
      if (!o.ParseFromString(std::string(it->value()))) {
        return absl::DataLossError(absl::StrCat("an ownership of customer ",
                                                rules::Quote(m.customer_id()),
                                                " does not parse"));
      }
      v1::DuplicateOwner* owner = candidate->add_owners();
      owner->set_department(o.department());
      owner->set_state(o.state());
      owner->set_rep(o.rep());
      owner->set_pool(o.pool());
      const absl::Time until = FromProto(o.since()) + protection;
      if (!o.rep().empty() && protection > absl::ZeroDuration() &&
          now < until) {
        *owner->mutable_protected_until() = ToProto(until);
      }
    }
    RETURN_IF_ERROR(it->status());
    *candidate->mutable_match() = std::move(m);
  }
  return response;
}

}  // namespace custodian::server
