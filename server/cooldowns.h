// Cooldowns: the records that keep a rep from taking back, for a while, a
// customer they released or lost (RULES.md `pool.cooldown`). One record per
// (department, customer, rep) holds until when the rep is in a cooldown for
// that customer; a later cooldown replaces an earlier one, never the other
// way round. Claim refuses a rep in a cooldown and the planner skips it
// (SkipReason::kCooldown); this file only writes and reads the records.
//
// How long a loss cools down (LossCooldown):
//   - to a pool (Release, recycling, Transfer to a pool): that pool's
//     `cooldown`;
//   - to another rep or to no one (Transfer to a rep, an appeal overturned,
//     a review re-assigning or trimming): the longest `cooldown` of the
//     department's pools, since any of them could otherwise hand the
//     customer straight back; zero when the department has no pool.
// A rep loses a customer when an ownership with that rep (in any state, as
// CountsTowardCapacity counts) is replaced by one without them;
// StageLossCooldown stages the record then and does nothing otherwise (a new
// owner, the same rep, an approval, a zero cooldown).
//
// Stored layout (storage/README.md "Domain keys"):
//   kIndexes ("cooldown", department, customer, rep)
//                -> until: EncodeCounter(Unix microseconds)
//
// Every function is a pure read or a write staged in the caller's
// transaction; errors are the store's, or DATA_LOSS for a record that does
// not decode.
#ifndef CUSTODIAN_SERVER_COOLDOWNS_H_
#define CUSTODIAN_SERVER_COOLDOWNS_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "custodian/v1/ownership.pb.h"
#include "custodian/v1/roster.pb.h"
#include "server/assignment_planner.h"
#include "storage/store.h"

namespace custodian::server {

// ("cooldown", department, customer, rep).
std::string CooldownKey(absl::string_view department,
                        absl::string_view customer_id, absl::string_view rep);
// The prefix of every CooldownKey of (department, customer).
std::string CooldownPrefix(absl::string_view department,
                           absl::string_view customer_id);

// The longest cooldown of the pools of `department` in `roster`; zero when
// it has none.
absl::Duration LongestPoolCooldown(const RosterIndex& roster,
                                   absl::string_view department);

// How long the rep of `before` cools down when `after` replaces it (see the
// top of this file): the pool's when `after` is POOLED in a pool of the
// roster, else the department's longest.
absl::Duration LossCooldown(const RosterIndex& roster,
                            const v1::Ownership& after);

// When `after` takes the customer from the rep of `before` (null: no
// ownership; see the top of this file), stages that rep's cooldown until
// now + LossCooldown(roster, after), keeping a later one already stored
// (takes the record's lock). No-op otherwise, or when the cooldown is zero.
absl::Status StageLossCooldown(storage::Transaction& txn,
                               const RosterIndex& roster,
                               const v1::Ownership* before,
                               const v1::Ownership& after, absl::Time now);

// The end of `rep`'s cooldown for (customer, department); nullopt when
// there is none.
absl::StatusOr<std::optional<absl::Time>> ReadCooldown(
    storage::Snapshot& snapshot, absl::string_view department,
    absl::string_view customer_id, absl::string_view rep);

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_COOLDOWNS_H_
