#include "server/team_allocator.h"

#include <cstddef>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/keys.h"

namespace custodian::server {
namespace team_allocator_internal {

// One rep's load in one department.
struct RepLoad {
  RepLoad(int64_t initial_owned, int64_t initial_won)
      : owned(initial_owned), won(initial_won) {}

  // owned + reserved, and what of it counts toward capacity (all of it, or
  // without the won customers).
  void Read(bool count_won, int64_t* used, int64_t* counted) {
    absl::MutexLock lock(&mu);
    *used = owned + reserved;
    *counted = *used - (count_won ? 0 : won);
  }
  // Reserves one unit if what counts toward capacity is below it.
  bool TryReserve(int64_t capacity, bool count_won) {
    absl::MutexLock lock(&mu);
    if (owned + reserved - (count_won ? 0 : won) >= capacity) return false;
    ++reserved;
    return true;
  }

  absl::Mutex mu;
  int64_t owned ABSL_GUARDED_BY(mu);
  int64_t won ABSL_GUARDED_BY(mu);
  int64_t reserved ABSL_GUARDED_BY(mu) = 0;
};

// One team's cursors, and the member list of its last pick with the loads of
// those members (so that a pick with the same members looks nothing up).
struct TeamState {
  explicit TeamState(int64_t stored_cursor)
      : last_index(stored_cursor > 0 ? stored_cursor - 1 : -1),
        cursor_target(stored_cursor) {}

  absl::Mutex mu;
  // The member index and rep of the team's last pick; -1 and "" when none.
  // last_rep is "" after seeding from the store (only the index is stored).
  int64_t last_index ABSL_GUARDED_BY(mu);
  std::string last_rep ABSL_GUARDED_BY(mu);
  // The value the cursor counter will hold once every outstanding
  // reservation of this team has committed.
  int64_t cursor_target ABSL_GUARDED_BY(mu);

  std::string department ABSL_GUARDED_BY(mu);
  std::vector<std::string> member_ids ABSL_GUARDED_BY(mu);
  std::vector<RepLoad*> loads ABSL_GUARDED_BY(mu);
  // Smooth weighted round robin: the current weight of each member.
  std::vector<int64_t> current_weights ABSL_GUARDED_BY(mu);
};

}  // namespace team_allocator_internal

namespace {

using team_allocator_internal::RepLoad;
using team_allocator_internal::TeamState;

size_t ShardOf(absl::string_view key, int shards) {
  return absl::Hash<absl::string_view>{}(key) % static_cast<size_t>(shards);
}

absl::Status ValidateRequest(const PickRequest& request) {
  if (request.department.empty()) {
    return absl::InvalidArgumentError("department is empty");
  }
  if (request.team_id.empty()) {
    return absl::InvalidArgumentError("team_id is empty");
  }
  if (request.strategy == v1::STRATEGY_UNSPECIFIED ||
      !v1::Strategy_IsValid(request.strategy)) {
    return absl::InvalidArgumentError(
        absl::StrCat("strategy of team ", request.team_id, " is ",
                     v1::Strategy_IsValid(request.strategy)
                         ? v1::Strategy_Name(request.strategy)
                         : absl::StrCat(static_cast<int>(request.strategy))));
  }
  for (size_t i = 0; i < request.members.size(); ++i) {
    const PickMember& m = request.members[i];
    auto field = [i] { return absl::StrCat("members[", i, "]"); };
    if (m.rep_id.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field(), ".rep_id is empty"));
    }
    if (m.capacity < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field(), ".capacity is ", m.capacity, "; must be >= 0"));
    }
    if (m.weight < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(field(), ".weight is ", m.weight, "; must be >= 1"));
    }
    if (m.status != v1::ACTIVE && m.status != v1::AWAY &&
        m.status != v1::LEFT) {
      return absl::InvalidArgumentError(
          absl::StrCat(field(), ".status is ",
                       m.status == v1::REP_STATUS_UNSPECIFIED
                           ? "REP_STATUS_UNSPECIFIED"
                           : absl::StrCat(static_cast<int>(m.status))));
    }
  }
  return absl::OkStatus();
}

// The rest of ValidateRequest: no rep twice in the member list. Choose
// skips it for the member list the team has cached, which passed it when it
// was cached.
absl::Status CheckDistinctMembers(const PickRequest& request) {
  // Pairwise for a small team, a set for a large one.
  constexpr size_t kSmallTeam = 32;
  absl::flat_hash_set<absl::string_view> seen;
  for (size_t i = 0; i < request.members.size(); ++i) {
    const PickMember& m = request.members[i];
    bool duplicate = false;
    if (request.members.size() <= kSmallTeam) {
      for (size_t j = 0; j < i && !duplicate; ++j) {
        duplicate = request.members[j].rep_id == m.rep_id;
      }
    } else {
      duplicate = !seen.insert(m.rep_id).second;
    }
    if (duplicate) {
      return absl::InvalidArgumentError(
          absl::StrCat("members[", i, "].rep_id: rep ", m.rep_id,
                       " appears twice in team ", request.team_id));
    }
  }
  return absl::OkStatus();
}

bool MembersMatch(const TeamState& team, const PickRequest& request)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(team.mu) {
  if (team.department != request.department ||
      team.member_ids.size() != request.members.size()) {
    return false;
  }
  for (size_t i = 0; i < request.members.size(); ++i) {
    if (team.member_ids[i] != request.members[i].rep_id) return false;
  }
  return true;
}

// Where the round-robin scan starts (before wrapping modulo n > 0).
int64_t RoundRobinStart(const TeamState& team, const PickRequest& request)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(team.mu) {
  if (!team.last_rep.empty()) {
    for (size_t i = 0; i < request.members.size(); ++i) {
      if (request.members[i].rep_id == team.last_rep) {
        return static_cast<int64_t>(i) + 1;
      }
    }
    // The last rep is no longer a member: the member now in its slot is the
    // one that followed it.
    return team.last_index;
  }
  return team.last_index + 1;  // 0 when the team never picked
}

// Distinct skills of `member` found among `terms`.
int MatchScore(const PickMember& member,
               const absl::flat_hash_set<absl::string_view>& terms) {
  int score = 0;
  for (size_t j = 0; j < member.skills.size(); ++j) {
    if (!terms.contains(member.skills[j])) continue;
    bool repeated = false;
    for (size_t k = 0; k < j && !repeated; ++k) {
      repeated = member.skills[k] == member.skills[j];
    }
    if (!repeated) ++score;
  }
  return score;
}

}  // namespace

absl::string_view SkipReasonName(SkipReason reason) {
  switch (reason) {
    case SkipReason::kLeft:
      return "LEFT";
    case SkipReason::kAway:
      return "AWAY";
    case SkipReason::kCooldown:
      return "COOLDOWN";
    case SkipReason::kAtCapacity:
      return "AT_CAPACITY";
  }
  return "UNKNOWN";
}

// ---------------------------------------------------------------------------
// CapacityReservation

CapacityReservation::CapacityReservation(RepLoad* load, TeamState* team,
                                         std::string department,
                                         std::string rep_id,
                                         std::string team_id,
                                         int64_t cursor_delta)
    : load_(load),
      team_(team),
      department_(std::move(department)),
      rep_id_(std::move(rep_id)),
      team_id_(std::move(team_id)),
      cursor_delta_(cursor_delta) {}

CapacityReservation::CapacityReservation(CapacityReservation&& other) noexcept
    : load_(std::exchange(other.load_, nullptr)),
      team_(std::exchange(other.team_, nullptr)),
      department_(std::move(other.department_)),
      rep_id_(std::move(other.rep_id_)),
      team_id_(std::move(other.team_id_)),
      cursor_delta_(other.cursor_delta_) {}

CapacityReservation& CapacityReservation::operator=(
    CapacityReservation&& other) noexcept {
  if (this != &other) {
    Release();
    load_ = std::exchange(other.load_, nullptr);
    team_ = std::exchange(other.team_, nullptr);
    department_ = std::move(other.department_);
    rep_id_ = std::move(other.rep_id_);
    team_id_ = std::move(other.team_id_);
    cursor_delta_ = other.cursor_delta_;
  }
  return *this;
}

CapacityReservation::~CapacityReservation() { Release(); }

void CapacityReservation::Commit() { Finish(/*commit=*/true); }

void CapacityReservation::Release() { Finish(/*commit=*/false); }

void CapacityReservation::Finish(bool commit) {
  if (load_ == nullptr) return;
  {
    absl::MutexLock lock(&load_->mu);
    --load_->reserved;
    if (commit) ++load_->owned;
  }
  if (!commit && team_ != nullptr && cursor_delta_ != 0) {
    // The delta will never reach the store: the next pick's delta makes up
    // for it.
    absl::MutexLock lock(&team_->mu);
    team_->cursor_target -= cursor_delta_;
  }
  load_ = nullptr;
  team_ = nullptr;
}

// ---------------------------------------------------------------------------
// TeamAllocator

TeamAllocator::TeamAllocator(CounterLoader loader)
    : loader_(std::move(loader)) {}

TeamAllocator::~TeamAllocator() = default;

std::string TeamAllocator::OwnedCounterKey(absl::string_view department,
                                           absl::string_view rep_id) {
  return storage::KeyBuilder()
      .AddString("owned")
      .AddString(department)
      .AddString(rep_id)
      .Build();
}

std::string TeamAllocator::WonCounterKey(absl::string_view department,
                                         absl::string_view rep_id) {
  return storage::KeyBuilder()
      .AddString("owned_won")
      .AddString(department)
      .AddString(rep_id)
      .Build();
}

std::string TeamAllocator::CursorCounterKey(absl::string_view team_id) {
  return storage::KeyBuilder()
      .AddString("rr_cursor")
      .AddString(team_id)
      .Build();
}

absl::StatusOr<int64_t> TeamAllocator::LoadCounter(absl::string_view key,
                                                   absl::string_view what) {
  absl::StatusOr<int64_t> value = loader_(key);
  if (!value.ok()) {
    return absl::Status(
        value.status().code(),
        absl::StrCat("loading ", what, ": ", value.status().message()));
  }
  return value;
}

TeamAllocator::RepLoad* TeamAllocator::FindLoad(absl::string_view key) const {
  const RepShard& shard = rep_shards_[ShardOf(key, kShards)];
  absl::MutexLock lock(&shard.mu);
  auto it = shard.loads.find(key);
  return it == shard.loads.end() ? nullptr : it->second.get();
}

absl::StatusOr<TeamAllocator::RepLoad*> TeamAllocator::GetOrLoad(
    absl::string_view department, absl::string_view rep_id) {
  const std::string key = OwnedCounterKey(department, rep_id);
  if (RepLoad* load = FindLoad(key)) return load;
  ASSIGN_OR_RETURN(
      int64_t owned,
      LoadCounter(key, absl::StrCat("the owned count of rep ", rep_id,
                                    " in department ", department)));
  ASSIGN_OR_RETURN(int64_t won,
                   LoadCounter(WonCounterKey(department, rep_id),
                               absl::StrCat("the won count of rep ", rep_id,
                                            " in department ", department)));
  RepShard& shard = rep_shards_[ShardOf(key, kShards)];
  absl::MutexLock lock(&shard.mu);
  // Another thread may have loaded it meanwhile: keep the first, which may
  // already have changed.
  auto [it, inserted] = shard.loads.try_emplace(key);
  if (inserted) it->second = std::make_unique<RepLoad>(owned, won);
  return it->second.get();
}

absl::StatusOr<TeamAllocator::TeamState*> TeamAllocator::GetOrLoadTeam(
    absl::string_view team_id) {
  TeamShard& shard = team_shards_[ShardOf(team_id, kShards)];
  {
    absl::MutexLock lock(&shard.mu);
    auto it = shard.teams.find(team_id);
    if (it != shard.teams.end()) return it->second.get();
  }
  ASSIGN_OR_RETURN(
      int64_t cursor,
      LoadCounter(CursorCounterKey(team_id),
                  absl::StrCat("the round-robin cursor of team ", team_id)));
  absl::MutexLock lock(&shard.mu);
  auto [it, inserted] = shard.teams.try_emplace(team_id);
  if (inserted) it->second = std::make_unique<TeamState>(cursor);
  return it->second.get();
}

absl::Status TeamAllocator::Preload(absl::string_view department,
                                    absl::string_view rep_id) {
  return GetOrLoad(department, rep_id).status();
}

void TeamAllocator::AdjustOwned(absl::string_view department,
                                absl::string_view rep_id, int64_t delta) {
  RepLoad* load = FindLoad(OwnedCounterKey(department, rep_id));
  if (load == nullptr) return;
  absl::MutexLock lock(&load->mu);
  load->owned += delta;
}

void TeamAllocator::AdjustWon(absl::string_view department,
                              absl::string_view rep_id, int64_t delta) {
  RepLoad* load = FindLoad(OwnedCounterKey(department, rep_id));
  if (load == nullptr) return;
  absl::MutexLock lock(&load->mu);
  load->won += delta;
}

std::optional<RepLoadInfo> TeamAllocator::GetLoad(
    absl::string_view department, absl::string_view rep_id) const {
  RepLoad* load = FindLoad(OwnedCounterKey(department, rep_id));
  if (load == nullptr) return std::nullopt;
  absl::MutexLock lock(&load->mu);
  return RepLoadInfo{load->owned, load->reserved, load->won};
}

absl::StatusOr<PickResult> TeamAllocator::Pick(const PickRequest& request) {
  return Choose(request, /*reserve=*/true);
}

absl::StatusOr<PickResult> TeamAllocator::Peek(const PickRequest& request) {
  return Choose(request, /*reserve=*/false);
}

absl::StatusOr<PickResult> TeamAllocator::Choose(const PickRequest& request,
                                                 bool reserve) {
  RETURN_IF_ERROR(ValidateRequest(request));
  ASSIGN_OR_RETURN(TeamState * team, GetOrLoadTeam(request.team_id));

  // The team caches the loads of its members; on a different member list
  // (first pick, roster change) load them without the team's lock.
  std::vector<RepLoad*> loads;
  bool cached = false;
  {
    absl::MutexLock lock(&team->mu);
    cached = MembersMatch(*team, request);
    if (cached) loads = team->loads;
  }
  if (!cached) {
    RETURN_IF_ERROR(CheckDistinctMembers(request));
    for (const PickMember& member : request.members) {
      ASSIGN_OR_RETURN(RepLoad * load,
                       GetOrLoad(request.department, member.rep_id));
      loads.push_back(load);
    }
  }

  const size_t n = request.members.size();
  absl::flat_hash_set<absl::string_view> terms;
  std::vector<int> scores;
  if (request.strategy == v1::BEST_MATCH) {
    terms.insert(request.match_terms.begin(), request.match_terms.end());
    scores.resize(n);
    for (size_t i = 0; i < n; ++i) {
      scores[i] = MatchScore(request.members[i], terms);
    }
  }

  absl::MutexLock lock(&team->mu);
  // A peek at a member list the team has not picked from sees the weights a
  // pick would start from: zeros. A team that has no member list yet takes
  // the peek's (with those zero weights, exactly what its first pick would
  // set), so that repeated dry runs do not look every member up again.
  bool members_match = MembersMatch(*team, request);
  std::vector<int64_t> zero_weights;
  if (!members_match && !reserve && !team->member_ids.empty()) {
    zero_weights.assign(n, 0);
  }
  if (!members_match && (reserve || team->member_ids.empty())) {
    team->department = request.department;
    team->member_ids.clear();
    for (const PickMember& member : request.members) {
      team->member_ids.push_back(member.rep_id);
    }
    team->loads = loads;
    team->current_weights.assign(n, 0);
    members_match = true;
  }
  const std::vector<int64_t>& weights =
      members_match || reserve ? team->current_weights : zero_weights;

  std::vector<std::optional<SkipReason>> reasons(n);
  std::vector<int64_t> used(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const PickMember& m = request.members[i];
    if (m.status == v1::LEFT) {
      reasons[i] = SkipReason::kLeft;
    } else if (m.status == v1::AWAY) {
      reasons[i] = SkipReason::kAway;
    } else if (m.in_cooldown) {
      reasons[i] = SkipReason::kCooldown;
    } else {
      int64_t counted = 0;
      loads[i]->Read(request.count_won, &used[i], &counted);
      if (counted >= m.capacity) reasons[i] = SkipReason::kAtCapacity;
    }
  }

  // Chooses among the members still eligible; -1 if none.
  auto choose = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(team->mu) -> int {
    int best = -1;
    switch (request.strategy) {
      case v1::ROUND_ROBIN: {
        if (n == 0) return -1;
        const int64_t sn = static_cast<int64_t>(n);
        const int64_t start =
            ((RoundRobinStart(*team, request) % sn) + sn) % sn;
        for (int64_t off = 0; off < sn; ++off) {
          const int64_t i = (start + off) % sn;
          if (!reasons[i].has_value()) return static_cast<int>(i);
        }
        return -1;
      }
      case v1::WEIGHTED:
        for (size_t i = 0; i < n; ++i) {
          if (reasons[i].has_value()) continue;
          if (best < 0 || weights[i] + request.members[i].weight >
                              weights[best] + request.members[best].weight) {
            best = static_cast<int>(i);
          }
        }
        return best;
      case v1::LEAST_LOADED:
        for (size_t i = 0; i < n; ++i) {
          if (reasons[i].has_value()) continue;
          if (best < 0 || used[i] < used[best]) best = static_cast<int>(i);
        }
        return best;
      case v1::BEST_MATCH:
        for (size_t i = 0; i < n; ++i) {
          if (reasons[i].has_value()) continue;
          if (best < 0 || scores[i] > scores[best] ||
              (scores[i] == scores[best] && used[i] < used[best])) {
            best = static_cast<int>(i);
          }
        }
        return best;
      default:
        return -1;  // excluded by ValidateRequest
    }
  };

  int chosen = -1;
  while ((chosen = choose()) >= 0) {
    if (!reserve) break;  // its load was below capacity when read
    if (loads[chosen]->TryReserve(request.members[chosen].capacity,
                                  request.count_won)) {
      break;
    }
    // Another team sharing the rep took the last unit since it was read.
    reasons[chosen] = SkipReason::kAtCapacity;
  }

  PickResult result;
  for (size_t i = 0; i < n; ++i) {
    if (reasons[i].has_value()) {
      result.skipped.push_back({request.members[i].rep_id, *reasons[i]});
    }
  }
  if (chosen < 0) return result;
  result.rep_id = request.members[chosen].rep_id;
  result.member_index = chosen;
  if (!reserve) return result;

  if (request.strategy == v1::WEIGHTED) {
    int64_t total = 0;
    for (size_t i = 0; i < n; ++i) {
      if (reasons[i].has_value()) continue;
      team->current_weights[i] += request.members[i].weight;
      total += request.members[i].weight;
    }
    team->current_weights[chosen] -= total;
  }
  team->last_index = chosen;
  team->last_rep = request.members[chosen].rep_id;
  const int64_t cursor_delta = (chosen + 1) - team->cursor_target;
  team->cursor_target = chosen + 1;

  result.reservation.emplace(CapacityReservation(
      loads[chosen], team, request.department, request.members[chosen].rep_id,
      request.team_id, cursor_delta));
  return result;
}

}  // namespace custodian::server
