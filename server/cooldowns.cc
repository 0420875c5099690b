#include "server/cooldowns.h"

#include <algorithm>

#include "common/status_macros.h"
#include "storage/keys.h"

namespace custodian::server {

using storage::KeyBuilder;
using storage::Table;

namespace {

// A pool's cooldown; zero when unset.
absl::Duration PoolCooldown(const v1::PoolSettings& settings) {
  if (!settings.has_cooldown()) return absl::ZeroDuration();
  return absl::Seconds(settings.cooldown().seconds()) +
         absl::Nanoseconds(settings.cooldown().nanos());
}

// Stages a cooldown of `rep` for (customer, department) until `until`,
// keeping a later one already stored.
absl::Status StageCooldown(storage::Transaction& txn,
                           absl::string_view department,
                           absl::string_view customer_id, absl::string_view rep,
                           absl::Time until) {
  const std::string key = CooldownKey(department, customer_id, rep);
  std::string value;
  absl::Status s = txn.GetForUpdate(Table::kIndexes, key, &value);
  if (s.ok()) {
    ASSIGN_OR_RETURN(const int64_t stored, storage::DecodeCounter(value));
    if (absl::FromUnixMicros(stored) >= until) return absl::OkStatus();
  } else if (!absl::IsNotFound(s)) {
    return s;
  }
  return txn.Put(Table::kIndexes, key,
                 storage::EncodeCounter(absl::ToUnixMicros(until)));
}

}  // namespace

std::string CooldownPrefix(absl::string_view department,
                           absl::string_view customer_id) {
  return KeyBuilder()
      .AddString("cooldown")
      .AddString(department)
      .AddString(customer_id)
      .Build();
}

std::string CooldownKey(absl::string_view department,
                        absl::string_view customer_id, absl::string_view rep) {
  return KeyBuilder(CooldownPrefix(department, customer_id))
      .AddString(rep)
      .Build();
}

absl::Duration LongestPoolCooldown(const RosterIndex& roster,
                                   absl::string_view department) {
  absl::Duration longest = absl::ZeroDuration();
  for (const v1::Team& team : roster.roster().teams()) {
    if (team.department() != department || !team.has_pool()) continue;
    longest = std::max(longest, PoolCooldown(team.pool()));
  }
  return longest;
}

absl::Duration LossCooldown(const RosterIndex& roster,
                            const v1::Ownership& after) {
  if (after.state() == v1::Ownership::POOLED) {
    const v1::Team* pool = roster.FindTeam(after.pool());
    if (pool != nullptr && pool->has_pool() &&
        pool->department() == after.department()) {
      return PoolCooldown(pool->pool());
    }
  }
  return LongestPoolCooldown(roster, after.department());
}

absl::Status StageLossCooldown(storage::Transaction& txn,
                               const RosterIndex& roster,
                               const v1::Ownership* before,
                               const v1::Ownership& after, absl::Time now) {
  if (before == nullptr || !CountsTowardCapacity(*before)) {
    return absl::OkStatus();
  }
  if (CountsTowardCapacity(after) && after.rep() == before->rep()) {
    return absl::OkStatus();
  }
  const absl::Duration cooldown = LossCooldown(roster, after);
  if (cooldown <= absl::ZeroDuration()) return absl::OkStatus();
  return StageCooldown(txn, before->department(), before->customer_id(),
                       before->rep(), now + cooldown);
}

absl::StatusOr<std::optional<absl::Time>> ReadCooldown(
    storage::Snapshot& snapshot, absl::string_view department,
    absl::string_view customer_id, absl::string_view rep) {
  std::string value;
  absl::Status s = snapshot.Get(
      Table::kIndexes, CooldownKey(department, customer_id, rep), &value);
  if (absl::IsNotFound(s)) return std::optional<absl::Time>();
  RETURN_IF_ERROR(s);
  ASSIGN_OR_RETURN(const int64_t us, storage::DecodeCounter(value));
  return std::optional<absl::Time>(absl::FromUnixMicros(us));
}

}  // namespace custodian::server
