// TeamAllocator: picks the rep of a team target (RULES.md "Targets") and keeps
// the live load of every rep and the cursors of every team, in memory,
// exactly, under concurrency. Pure logic: no store, no gRPC; the only link to
// durable state is a loader callback that reads a counter.
//
// Why in memory: custodiand is the only writer of its store, so load and
// cursors kept in step with the commits that change them are exact, and the
// hot keys (a busy team's cursor, a busy rep's load) are never locked in the
// store, so a team is not capped at one fsync per assignment.
//
// The protocol of an assignment to a team:
//   ASSIGN_OR_RETURN(PickResult pick, allocator.Pick(request));   // no fsync
//   if (!pick.picked()) { ... overflow / fallback / NO_CAPACITY ... }
//   absl::Status s = RunInTransaction(store, [&](Transaction& txn) {
//     ... stage the ownership, event, indexes ...
//     RETURN_IF_ERROR(txn.AddToCounter(
//         TeamAllocator::OwnedCounterKey(dept, pick.rep_id), +1));
//     if (pick.reservation->cursor_delta() != 0) {
//       RETURN_IF_ERROR(txn.AddToCounter(
//           TeamAllocator::CursorCounterKey(team), pick.reservation->
//           cursor_delta()));
//     }
//     return absl::OkStatus();
//   });                                   // the fsync: no allocator lock held
//   if (s.ok()) pick.reservation->Commit();   // reserved -> owned
//   // else: the reservation's destructor gives the unit back.
//
// Capacity is exact: Pick reserves one unit of the picked rep's capacity in
// the department before returning, so concurrent picks (from this team or
// from any other team sharing the rep in the department) never see more than
// `capacity` owned + reserved; Commit() turns the reservation into an owned
// customer and destruction or Release() without Commit() gives it back. The
// locks are held only inside Pick and inside the few-instruction updates of
// Commit/Release/AdjustOwned, never across the caller's commit.
//
// When the ownership commit's outcome is unknown (UNAVAILABLE from Commit:
// it may or may not be durable), call Commit(): counting a customer that was
// not written only leaves one unit unused until the next restart, while
// releasing one that was written could exceed capacity.
//
// Load counters. OwnedCounterKey(department, rep) names a counter in
// Table::kCounters holding the number of customers the rep owns in the
// department (which ownerships count is the ownership code's decision; it
// must be the same in every commit), and WonCounterKey(department, rep) how
// many of those are won customers. What counts toward capacity is owned +
// reserved, less the won ones when PickRequest::count_won is false
// (policies.capacity.count_won). Every commit that changes either number
// adds the change to the counter in the same transaction, and tells the
// allocator after the commit: Commit() of a Pick reservation, or
// AdjustOwned() / AdjustWon() for changes made without Pick (transfers,
// moves on drift, claims, releases, recycling, approvals and rejections, a
// rep leaving, a customer becoming won or no longer won). The allocator
// reads each counter once, on first use, through the loader; from then on
// it trusts its own count. REQUIRES for AdjustOwned and AdjustWon: Preload()
// of that (department, rep) returned OK before the transaction that changed
// the counter committed, so the count read excludes the change it then
// applies.
//
// Round-robin cursor persistence. CursorCounterKey(team) names a counter
// whose value is 1 + the member index (in the member order of that pick) of
// the team's last pick, 0 when the team never picked. Its value is kept by
// deltas: each reservation carries cursor_delta(), to be added to the counter
// in the ownership commit. The deltas are chosen so that the counter equals
// the in-memory cursor once every outstanding reservation has committed: a
// reservation released without Commit() takes its delta back into the next
// pick's delta, so a failed commit never leaves the stored cursor off by
// more than until the team's next committed pick. On first use of a team
// after a restart the cursor is seeded from the counter (out of range values
// wrap modulo the member count).
//
// Strategies (among eligible members; see Pick for eligibility):
//   ROUND_ROBIN   the first eligible member at or after the member following
//                 the team's last pick, in member order, wrapping. The team's
//                 last pick is the last pick of that team by any strategy and
//                 is found by rep id, so members added or removed elsewhere
//                 in the list do not shift it; if that rep is no longer a
//                 member, the scan starts at the index it had. The first pick
//                 of a team with no history starts at member 0.
//   WEIGHTED      smooth weighted round robin (nginx): each pick adds every
//                 eligible member's weight to its current weight, picks the
//                 highest current weight (ties: member order) and subtracts
//                 the eligible total from the winner. Ineligible members keep
//                 their current weight. Weights 3/1/1 give a, b, a, c, a,
//                 repeating. The current weights are in memory only: after a
//                 restart, or when the team's member list changes, they start
//                 again from zero (the proportions of each later cycle hold).
//   LEAST_LOADED  the fewest owned + reserved in the department; ties by
//                 member order.
//   BEST_MATCH    the most distinct skills found among the customer's
//                 industry path segments, tags and segment names (exact,
//                 case-sensitive); ties by least loaded (owned + reserved),
//                 then member order. When no member matches any skill this is
//                 least loaded.
// A failed commit does not undo the cursor or the smooth weights: fairness
// (round robin within one of even, weighted within one of its shares per
// cycle) holds over picks.
//
// Thread-safety: a TeamAllocator is safe for concurrent use from many threads
// without external synchronization. Pick locks one mutex per team (so picks
// of different teams run in parallel) and, briefly, one mutex per rep at a
// time (lock order: team, then rep). The loader is never called under a lock.
#ifndef CUSTODIAN_SERVER_TEAM_ALLOCATOR_H_
#define CUSTODIAN_SERVER_TEAM_ALLOCATOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "custodian/v1/roster.pb.h"
#include "custodian/v1/ruleset.pb.h"

namespace custodian::server {

// Why a team member was not eligible. When several apply, the first in this
// order is reported: LEFT, AWAY, COOLDOWN, AT_CAPACITY (the most lasting
// reason first: a rep who left will not come back when load drops).
enum class SkipReason {
  kLeft,
  kAway,
  kCooldown,
  kAtCapacity,
};

// "LEFT", "AWAY", "COOLDOWN", "AT_CAPACITY".
absl::string_view SkipReasonName(SkipReason reason);

class TeamAllocator;

namespace team_allocator_internal {
struct RepLoad;
struct TeamState;
}  // namespace team_allocator_internal

// One unit of a rep's capacity in a department, held between Pick and the
// commit of the ownership change. Move-only. Commit() after the ownership
// transaction committed makes it an owned customer; Release(), or
// destruction without Commit(), gives it back. After Commit() or Release()
// the reservation is inactive and both calls do nothing.
//
// REQUIRES: it does not outlive the TeamAllocator that made it.
// Thread-compatible: one thread at a time (it may move between threads).
class CapacityReservation {
 public:
  CapacityReservation(CapacityReservation&& other) noexcept;
  CapacityReservation& operator=(CapacityReservation&& other) noexcept;
  CapacityReservation(const CapacityReservation&) = delete;
  CapacityReservation& operator=(const CapacityReservation&) = delete;
  ~CapacityReservation();

  // The reserved unit becomes owned (owned + 1, reserved - 1).
  void Commit();
  // The reserved unit is given back (reserved - 1), and the cursor delta is
  // taken back into the team's next pick.
  void Release();

  // True until Commit() or Release().
  bool active() const { return load_ != nullptr; }
  const std::string& department() const { return department_; }
  const std::string& rep_id() const { return rep_id_; }
  const std::string& team_id() const { return team_id_; }
  // What to add to CursorCounterKey(team_id()) in the ownership commit (may
  // be 0 or negative).
  int64_t cursor_delta() const { return cursor_delta_; }

 private:
  friend class TeamAllocator;
  CapacityReservation(team_allocator_internal::RepLoad* load,
                      team_allocator_internal::TeamState* team,
                      std::string department, std::string rep_id,
                      std::string team_id, int64_t cursor_delta);
  void Finish(bool commit);

  team_allocator_internal::RepLoad* load_ = nullptr;  // null when inactive
  team_allocator_internal::TeamState* team_ = nullptr;
  std::string department_;
  std::string rep_id_;
  std::string team_id_;
  int64_t cursor_delta_ = 0;
};

// A team member as Pick sees it: the roster's member with its capacity
// resolved and the rep's status, skills and cooldown filled in.
struct PickMember {
  // The rep id. Required, unique within the request.
  std::string rep_id;
  // Maximum customers in the department: the member's capacity, else
  // policies.capacity.default_max_customers. >= 0; 0 means never eligible.
  int64_t capacity = 0;
  // Weight for WEIGHTED, >= 1.
  int32_t weight = 1;
  // The rep's status. Not REP_STATUS_UNSPECIFIED.
  v1::RepStatus status = v1::ACTIVE;
  // The rep's skills (BEST_MATCH).
  std::vector<std::string> skills;
  // True when the rep is in a cooldown for this customer (computed by the
  // caller from the pool's cooldown).
  bool in_cooldown = false;
};

struct PickRequest {
  // The team's department. Required.
  std::string department;
  // The team. Required.
  std::string team_id;
  // Not STRATEGY_UNSPECIFIED.
  v1::Strategy strategy = v1::ROUND_ROBIN;
  // The team's members, in roster order.
  std::vector<PickMember> members;
  // BEST_MATCH terms: the customer's industry path segments, tags and
  // segment names. Ignored by the other strategies.
  std::vector<std::string> match_terms;
  // policies.capacity.count_won: true, every owned customer counts toward
  // capacity; false, won customers do not (see the top of this file).
  // Strategies that compare loads (LEAST_LOADED, BEST_MATCH ties) always
  // compare everything owned + reserved.
  bool count_won = true;
};

struct SkippedCandidate {
  std::string rep_id;
  SkipReason reason;

  friend bool operator==(const SkippedCandidate& a, const SkippedCandidate& b) {
    return a.rep_id == b.rep_id && a.reason == b.reason;
  }
};

struct PickResult {
  // True when a rep was picked.
  bool picked() const { return member_index >= 0; }

  // The picked rep and its index in PickRequest::members; "" and -1 when no
  // member was eligible.
  std::string rep_id;
  int member_index = -1;
  // The unit of capacity reserved for rep_id: present iff picked() by Pick
  // (never from Peek).
  std::optional<CapacityReservation> reservation;
  // Every member that was not eligible, in member order, with its reason.
  std::vector<SkippedCandidate> skipped;
};

// The in-memory load of one rep in one department.
struct RepLoadInfo {
  int64_t owned = 0;     // counted by the load counter (committed)
  int64_t reserved = 0;  // reservations not yet committed or released
  int64_t won = 0;       // of `owned`, the won customers (committed)
};

class TeamAllocator {
 public:
  // Reads the counter `counter_key` of Table::kCounters (0 when absent), e.g.
  // through Store::NewSnapshot() and Snapshot::GetCounter. Called without any
  // allocator lock held, possibly from several threads at once.
  using CounterLoader =
      std::function<absl::StatusOr<int64_t>(absl::string_view counter_key)>;

  // REQUIRES: loader is callable.
  explicit TeamAllocator(CounterLoader loader);
  ~TeamAllocator();
  TeamAllocator(const TeamAllocator&) = delete;
  TeamAllocator& operator=(const TeamAllocator&) = delete;

  // ("owned", department, rep) in storage/keys.h encoding: the rep's load
  // counter in the department (see the top of this file).
  static std::string OwnedCounterKey(absl::string_view department,
                                     absl::string_view rep_id);
  // ("rr_cursor", team): the team's round-robin cursor counter (see the top
  // of this file).
  static std::string CursorCounterKey(absl::string_view team_id);
  // ("owned_won", department, rep): how many of the rep's customers in the
  // department are won (see the top of this file).
  static std::string WonCounterKey(absl::string_view department,
                                   absl::string_view rep_id);

  // Picks a member of the team by `request.strategy` among the eligible
  // members, reserves one unit of its capacity and returns it with the
  // reservation. A member is eligible when its status is ACTIVE, it is not
  // in cooldown, and what counts toward its capacity in the department
  // (owned + reserved, less won customers unless request.count_won) is
  // below its capacity. The result lists every ineligible member (see
  // SkipReason). No eligible member (including an empty member list) is not an
  // error: the result has picked() false and nothing is reserved.
  //
  // Loads, through the loader, the counters of reps and of the team not yet
  // in memory (before taking the team's lock).
  //
  // Returns INVALID_ARGUMENT naming the field for an empty department or
  // team id, STRATEGY_UNSPECIFIED, an empty or duplicate rep id, a negative
  // capacity, a weight < 1 or REP_STATUS_UNSPECIFIED; the loader's error
  // (its code, with the counter named) if a counter cannot be read, in which
  // case nothing is reserved.
  absl::StatusOr<PickResult> Pick(const PickRequest& request);

  // The pick Pick(request) would make now, without reserving anything or
  // moving any cursor (for dry runs such as Evaluate): the same result with
  // no reservation. A later Pick may choose differently (concurrent picks).
  // Loads counters as Pick does. Returns the same errors as Pick.
  absl::StatusOr<PickResult> Peek(const PickRequest& request);

  // Loads the rep's counts (owned, won) in the department if they are not in
  // memory yet.
  // Returns OK, or the loader's error (the count stays unloaded).
  absl::Status Preload(absl::string_view department, absl::string_view rep_id);

  // Applies a committed change of the rep's load counter made without Pick
  // (owned += delta). Does nothing if the count is not in memory (a later
  // load reads the committed counter, which includes the change).
  // REQUIRES: Preload(department, rep_id) returned OK before the transaction
  // that made the change began, and the same delta was added to
  // OwnedCounterKey(department, rep_id) in that transaction.
  void AdjustOwned(absl::string_view department, absl::string_view rep_id,
                   int64_t delta);

  // Applies a committed change of the rep's won counter (won += delta), as
  // AdjustOwned does for the owned counter, with the same REQUIRES for
  // WonCounterKey(department, rep_id).
  void AdjustWon(absl::string_view department, absl::string_view rep_id,
                 int64_t delta);

  // The rep's in-memory load, or nullopt if it has not been loaded.
  std::optional<RepLoadInfo> GetLoad(absl::string_view department,
                                     absl::string_view rep_id) const;

 private:
  using RepLoad = team_allocator_internal::RepLoad;
  using TeamState = team_allocator_internal::TeamState;

  static constexpr int kShards = 16;
  struct RepShard {
    mutable absl::Mutex mu;
    // OwnedCounterKey(department, rep) -> load. Entries are never removed,
    // so pointers stay valid for the allocator's lifetime.
    absl::flat_hash_map<std::string, std::unique_ptr<RepLoad>> loads
        ABSL_GUARDED_BY(mu);
  };
  struct TeamShard {
    absl::Mutex mu;
    // team id -> state. Never removed.
    absl::flat_hash_map<std::string, std::unique_ptr<TeamState>> teams
        ABSL_GUARDED_BY(mu);
  };

  RepLoad* FindLoad(absl::string_view key) const;
  absl::StatusOr<RepLoad*> GetOrLoad(absl::string_view department,
                                     absl::string_view rep_id);
  absl::StatusOr<TeamState*> GetOrLoadTeam(absl::string_view team_id);
  // Pick (reserve) or Peek (!reserve).
  absl::StatusOr<PickResult> Choose(const PickRequest& request, bool reserve);
  absl::StatusOr<int64_t> LoadCounter(absl::string_view key,
                                      absl::string_view what);

  CounterLoader loader_;
  RepShard rep_shards_[kShards];
  TeamShard team_shards_[kShards];
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_TEAM_ALLOCATOR_H_
