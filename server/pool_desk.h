// PoolDesk: the public pool (公海) over the Store, independent of gRPC:
// ListPool, Claim, Release and RecordActivity, and the cooldown lookup the
// planner consults (the records: server/cooldowns.h). Uses the same store,
// ownership book, team allocator and ruleset registry as the Assigner, and the
// same write discipline (server/mutation.h, assigner.h): every mutation is ONE
// locking transaction with the idempotency lookup, GetForUpdate of every record
// the decision depends on, OwnershipBook::Stage of the change (record, event,
// indexes, counters), the pool's own records (cooldowns, daily claim
// counts) and the idempotency answer, committed together; capacity
// reservations are finished in the allocator after the commit. (An audit
// record is one more write staged in the same attempt.)
//
// Claim (cause CLAIM): the ownership must be POOLED. The claiming rep must
// be in the roster (NOT_FOUND), ACTIVE and a member of a non-pool team of
// the department (FAILED_PRECONDITION); the new ownership is ACTIVE with the
// rep and that team. Refused with FAILED_PRECONDITION, each message saying
// which limit and its value:
//   - another rep owns it (the message names the owner, its state and
//     suggests filing an appeal), or the claimant owns it already;
//   - FROZEN (an appeal is open), UNOWNED (in no pool);
//   - cooldown: the rep released or lost this customer in this department
//     and its cooldown (server/cooldowns.h) has not ended (a claim at
//     exactly its end is allowed);
//   - daily limit: the rep already claimed `claim_limit_per_day` customers
//     from this pool on this UTC calendar day (0 = no limit);
//   - holding limit: the rep owns as many customers in the department as
//     their capacity (TeamAllocator, exact under concurrency).
// Concurrent claims of one customer serialize on its ownership row lock:
// the first commit wins and the others then see it owned (the message names
// the winner). Claims by one rep from one pool on one day serialize on that
// day's claim-count record, so the daily limit is exact under concurrency.
//
// Release (cause RELEASE, reason "<CODE>" or "<CODE>: <text>"): an ACTIVE
// ownership goes back to a pool of the department (the request's, else the
// department's only pool). The releasing rep gets a cooldown for the
// customer of the target pool's `cooldown`. Which principal may release
// whose customer is the authorization layer's decision.
//
// RecordActivity: moves the stored customer's last_activity_time to `at`
// when `at` is later (the recycling clock of RULES.md conditions on
// last_activity_time); an older activity changes nothing. `at` may not be
// later than now + Options::max_clock_skew.
//
// ListPool: the department's POOLED ownerships with their customers, in
// customer id order, filtered and AIP-158 paginated; examines at most
// Options::max_examined_per_page index entries per page (a page may then
// be short, with a next_page_token).
//
// Stored layout (storage/README.md "Domain keys"):
//   kIndexes ("claims_day", department, pool, rep, day: int64)
//                -> EncodeCounter(claims that UTC day, day = days since
//                   1970-01-01); a rep's first claim of a day from a pool
//                   deletes its records of earlier days there, so at most
//                   one stays per (pool, rep)
//
// Errors, with nothing written: INVALID_ARGUMENT naming every bad field
// (with a BadRequest); NOT_FOUND for an unknown customer, department, rep
// or pool, or no ownership to claim or release; FAILED_PRECONDITION as
// above; ABORTED when the store kept conflicting (retry with the same
// request_id); UNAVAILABLE / DATA_LOSS from the store.
//
// Thread-safe: all methods may be called concurrently.
#ifndef CUSTODIAN_SERVER_POOL_DESK_H_
#define CUSTODIAN_SERVER_POOL_DESK_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "custodian/storage/v1/records.pb.h"
#include "custodian/v1/ownership.pb.h"
#include "custodian/v1/pool.pb.h"
#include "server/assignment_planner.h"
#include "server/cooldowns.h"
#include "server/idempotency.h"
#include "server/ownership_book.h"
#include "server/ruleset_registry.h"
#include "server/team_allocator.h"
#include "storage/store.h"

namespace custodian::server {

inline constexpr absl::string_view kClaimMethod =
    "custodian.v1.PoolService/Claim";
inline constexpr absl::string_view kReleaseMethod =
    "custodian.v1.PoolService/Release";
inline constexpr absl::string_view kRecordActivityMethod =
    "custodian.v1.PoolService/RecordActivity";

// Keys (see the top of this file).
std::string ClaimDayKey(absl::string_view department, absl::string_view pool,
                        absl::string_view rep, int64_t day);
// The prefix of every ClaimDayKey of (department, pool, rep).
std::string ClaimDayPrefix(absl::string_view department, absl::string_view pool,
                           absl::string_view rep);
// The UTC calendar day of `t`: days since 1970-01-01 (floor).
int64_t UtcDay(absl::Time t);

// Helpers shared with the recycling sweeper.
// The stored roster, indexed (read without a lock, as the Assigner reads
// it); an empty one when none was applied. DATA_LOSS when it does not parse.
absl::StatusOr<RosterIndex> ReadStoredRoster(storage::Transaction& txn);
// The customer record, read with GetForUpdate; nullopt when absent.
absl::StatusOr<std::optional<storage::v1::CustomerRecord>>
ReadCustomerForUpdate(storage::Transaction& txn, absl::string_view customer_id);

class PoolDesk {
 public:
  struct Options {
    // Where everything lives. Required; must outlive the desk.
    storage::Store* store = nullptr;
    // The active ruleset (its capacity policy). Required; must outlive it.
    const RulesetRegistry* rulesets = nullptr;
    // Ownership records and events. Required; must outlive the desk.
    const OwnershipBook* book = nullptr;
    // Loads: the Assigner's allocator (every writer of ownerships of
    // `store` must share one). Required; must outlive the desk.
    TeamAllocator* allocator = nullptr;
    // Claim days, cooldowns, idempotency times, ListPool's time in pool.
    // Default: the real clock. Event times come from the book's clock.
    Clock* clock = Clock::Real();
    // Request-id window.
    IdempotencyOptions idempotency;
    // Attempts per transaction on ABORTED, >= 1. Default: 10.
    int max_attempts = 10;
    // How far in the future RecordActivity accepts `at`, >= 0.
    // Default: 5 minutes.
    absl::Duration max_clock_skew = absl::Minutes(5);
    // Index entries ListPool examines per page, >= 1. Default: 10000.
    int64_t max_examined_per_page = 10000;
  };

  // Returns INVALID_ARGUMENT naming a bad option.
  static absl::StatusOr<std::unique_ptr<PoolDesk>> Create(Options options);

  // See the top of this file. Return the ownership as stored.
  // Each successful mutation also stages its audit record (audit_log.h) in
  // its commit. Release by a caller acting only as a rep (ActsOnlyAsRep) is
  // PERMISSION_DENIED unless the rep owns the customer, whether or not it
  // exists (so a rep learns nothing of others' customers).
  absl::StatusOr<v1::Ownership> Claim(const v1::ClaimRequest& request,
                                      const Actor& actor);
  absl::StatusOr<v1::Ownership> Release(const v1::ReleaseRequest& request,
                                        const Actor& actor);
  absl::StatusOr<v1::RecordActivityResponse> RecordActivity(
      const v1::RecordActivityRequest& request, const Actor& actor);
  absl::StatusOr<v1::ListPoolResponse> ListPool(
      const v1::ListPoolRequest& request) const;
  // Duplicate matching of a prospect (duplicate_index.h FindDuplicates at
  // one snapshot, under the active policy's match_on, or every key when it
  // has none or no ruleset is active), with each match's owners and their
  // protection (policies.protection.new_owner). Writes nothing.
  // INVALID_ARGUMENT naming each bad field (customer missing, no key given,
  // a key longer than 256 bytes or not UTF-8, a malformed id).
  absl::StatusOr<v1::CheckDuplicatesResponse> CheckDuplicates(
      const v1::CheckDuplicatesRequest& request) const;

  // Whether `rep` is in a cooldown for (customer, department) now. Store
  // errors count as "not in cooldown" (the planner's hook cannot fail; a
  // claim re-checks in its own transaction).
  bool InCooldown(absl::string_view customer_id, absl::string_view department,
                  absl::string_view rep) const;

  // For Assigner::Options::cooldowns: the planner's cooldown hook for one
  // customer. The returned function reads the customer's cooldown records
  // of a department once (one snapshot, one prefix scan) on its first call
  // for that department and answers later calls from memory, as of the
  // clock's now at that first call. Store errors count as "no cooldown".
  // REQUIRES: the desk outlives the functions.
  std::function<CooldownFn(absl::string_view customer_id)> CooldownLookup()
      const;

 private:
  explicit PoolDesk(Options options);

  Options options_;
  Idempotency idempotency_;
  AssignmentPlanner planner_;
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_POOL_DESK_H_
