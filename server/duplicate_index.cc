#include "server/duplicate_index.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "custodian/storage/v1/records.pb.h"
#include "rules/names.h"
#include "server/duplicate_keys.h"
#include "server/ownership_book.h"
#include "storage/keys.h"

namespace custodian::server {
namespace {

using storage::KeyBuilder;
using storage::KeyReader;
using storage::Table;

std::string DuplicatePrefix(v1::MatchKey kind, absl::string_view value) {
  return KeyBuilder().AddString("dup").AddInt64(kind).AddString(value).Build();
}

google::protobuf::RepeatedField<int> AllKinds() {
  google::protobuf::RepeatedField<int> kinds;
  kinds.Add(v1::TAX_ID);
  kinds.Add(v1::EMAIL_DOMAIN);
  kinds.Add(v1::NAME);
  return kinds;
}

// The keys of `all` (every kind, as AllDuplicateKeysOf) of the kinds in
// `match_on`, in match_on's order. INVALID_ARGUMENT naming "match_on" for
// MATCH_KEY_UNSPECIFIED or an unknown kind (as DuplicateKeysOf).
absl::StatusOr<std::vector<MarkedKey>> KeysOfKinds(
    const std::vector<MarkedKey>& all,
    const google::protobuf::RepeatedField<int>& match_on) {
  std::vector<MarkedKey> keys;
  for (int i = 0; i < match_on.size(); ++i) {
    const int kind = match_on[i];
    if (kind != v1::TAX_ID && kind != v1::EMAIL_DOMAIN && kind != v1::NAME) {
      return absl::InvalidArgumentError(
          absl::StrCat("match_on[", i, "]: ", kind, " is not a match key"));
    }
    for (const MarkedKey& k : all) {
      if (k.key.kind == kind) keys.push_back(k);
    }
  }
  return keys;
}

// `keys` as MarkedKeys whose markers are still to be read.
std::vector<MarkedKey> Unread(std::vector<DuplicateKey> keys) {
  std::vector<MarkedKey> out;
  out.reserve(keys.size());
  for (DuplicateKey& k : keys) out.push_back(MarkedKey{std::move(k), ""});
  return out;
}

// Reader: Transaction or Snapshot (both have Get and Scan). `keys` in
// match_on order; `all_marked`: every one of them is known to have a marker,
// read into its `holder` (an intake's IntakeKeys::marked), else each marker
// is read first.
template <typename Reader>
absl::StatusOr<std::vector<v1::DuplicateMatch>> Find(
    Reader& reader, const v1::Customer& customer,
    const std::vector<MarkedKey>& keys, bool all_marked) {
  std::vector<v1::DuplicateMatch> out;
  absl::flat_hash_set<std::string> seen;
  for (const MarkedKey& marked : keys) {
    const DuplicateKey& key = marked.key;
    const std::string prefix = DuplicatePrefix(key.kind, key.value);
    std::vector<std::string> ids;
    if (all_marked) {
      if (!marked.holder.empty()) ids.push_back(marked.holder);
    } else {
      // No marker: no customer has ever had this key (see the top of the
      // header), so there is nothing to scan.
      std::string holder;
      absl::Status m = reader.Get(Table::kIndexes, prefix, &holder);
      if (absl::IsNotFound(m)) continue;
      RETURN_IF_ERROR(m);
      if (!holder.empty()) ids.push_back(std::move(holder));
    }
    {
      std::unique_ptr<storage::ScanIterator> it =
          reader.Scan(Table::kIndexes, prefix);
      for (; it->Valid(); it->Next()) {
        if (it->key().size() == prefix.size()) continue;  // the marker
        KeyReader k(it->key().substr(prefix.size()));
        std::string id;
        RETURN_IF_ERROR(k.ReadString(&id));
        ids.push_back(std::move(id));
      }
      RETURN_IF_ERROR(it->status());
    }
    for (std::string& id : ids) {
      if (id == customer.id() || !seen.insert(id).second) continue;
      v1::DuplicateMatch match;
      match.set_customer_id(id);
      match.set_key(std::string(MatchKeyName(key.kind)));
      match.set_value(key.value);
      std::string bytes;
      absl::Status s = reader.Get(Table::kCustomers, CustomerKey(id), &bytes);
      if (s.ok()) {
        storage::v1::CustomerRecord record;
        if (!record.ParseFromString(bytes)) {
          return absl::DataLossError(absl::StrCat(
              "the record of customer ", rules::Quote(id), " does not parse"));
        }
        *match.mutable_create_time() = record.create_time();
      } else if (!absl::IsNotFound(s)) {
        return s;
      }
      out.push_back(std::move(match));
    }
  }
  std::stable_sort(
      out.begin(), out.end(),
      [](const v1::DuplicateMatch& a, const v1::DuplicateMatch& b) {
        const auto ta =
            std::make_pair(a.create_time().seconds(), a.create_time().nanos());
        const auto tb =
            std::make_pair(b.create_time().seconds(), b.create_time().nanos());
        if (ta != tb) return ta < tb;
        return a.customer_id() < b.customer_id();
      });
  return out;
}

}  // namespace

std::string DuplicateMarkerKey(v1::MatchKey kind, absl::string_view value) {
  return DuplicatePrefix(kind, value);
}

std::string DuplicateIndexKey(v1::MatchKey kind, absl::string_view value,
                              absl::string_view customer_id) {
  return KeyBuilder(DuplicatePrefix(kind, value))
      .AddString(customer_id)
      .Build();
}

namespace {

// Locks the markers of `keys` in key order; returns those of `keys` whose
// marker exists, with the customer each names.
absl::StatusOr<std::vector<MarkedKey>> LockPrefixes(
    storage::Transaction& txn, const std::vector<DuplicateKey>& keys) {
  std::vector<std::string> prefixes;
  prefixes.reserve(keys.size());
  for (const DuplicateKey& k : keys) {
    prefixes.push_back(DuplicatePrefix(k.kind, k.value));
  }
  std::sort(prefixes.begin(), prefixes.end());
  prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
  absl::flat_hash_map<std::string, std::string> holders;
  for (const std::string& prefix : prefixes) {
    std::string holder;
    absl::Status s = txn.GetForUpdate(Table::kIndexes, prefix, &holder);
    if (s.ok()) {
      holders.emplace(prefix, std::move(holder));
    } else if (!absl::IsNotFound(s)) {
      return s;
    }
  }
  std::vector<MarkedKey> out;
  for (const DuplicateKey& k : keys) {
    auto it = holders.find(DuplicatePrefix(k.kind, k.value));
    if (it != holders.end()) out.push_back(MarkedKey{k, it->second});
  }
  return out;
}

// The entry of `marked` for `key`, or null when its marker does not exist.
const MarkedKey* FindMarked(const std::vector<MarkedKey>& marked,
                            const DuplicateKey& key) {
  auto it = std::find_if(marked.begin(), marked.end(),
                         [&](const MarkedKey& m) { return m.key == key; });
  return it == marked.end() ? nullptr : &*it;
}

// Stages `customer_id` under each of `gained`: the marker naming it for a
// key without one (its only write for that key), else an entry. The
// caller holds the markers locked; `marked` are those that exist.
absl::Status StageEntries(storage::Transaction& txn,
                          absl::string_view customer_id,
                          const std::vector<DuplicateKey>& gained,
                          const std::vector<MarkedKey>& marked) {
  for (const DuplicateKey& k : gained) {
    if (FindMarked(marked, k) != nullptr) {
      RETURN_IF_ERROR(
          txn.PutUnlocked(Table::kIndexes,
                          DuplicateIndexKey(k.kind, k.value, customer_id), ""));
    } else {
      RETURN_IF_ERROR(txn.PutUnlocked(
          Table::kIndexes, DuplicatePrefix(k.kind, k.value), customer_id));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<DuplicateKey>> AllDuplicateKeysOf(
    const v1::Customer& customer) {
  return DuplicateKeysOf(customer, AllKinds());
}

absl::StatusOr<IntakeKeys> LockDuplicateKeys(storage::Transaction& txn,
                                             const v1::Customer& customer) {
  IntakeKeys intake;
  ASSIGN_OR_RETURN(intake.all, AllDuplicateKeysOf(customer));
  ASSIGN_OR_RETURN(intake.marked, LockPrefixes(txn, intake.all));
  return intake;
}

absl::Status StageIntakeKeys(storage::Transaction& txn,
                             absl::string_view customer_id,
                             const IntakeKeys& intake) {
  return StageEntries(txn, customer_id, intake.all, intake.marked);
}

absl::Status StageDuplicateKeys(storage::Transaction& txn,
                                const v1::Customer& before,
                                const v1::Customer& after) {
  ASSIGN_OR_RETURN(std::vector<DuplicateKey> new_keys,
                   AllDuplicateKeysOf(after));
  // A stored value that no longer normalizes has no entry to delete.
  absl::StatusOr<std::vector<DuplicateKey>> old = AllDuplicateKeysOf(before);
  const std::vector<DuplicateKey> old_keys =
      old.ok() ? *std::move(old) : std::vector<DuplicateKey>();
  std::vector<DuplicateKey> lost;
  for (const DuplicateKey& k : old_keys) {
    if (std::find(new_keys.begin(), new_keys.end(), k) == new_keys.end()) {
      lost.push_back(k);
    }
  }
  std::vector<DuplicateKey> gained;
  for (const DuplicateKey& k : new_keys) {
    if (std::find(old_keys.begin(), old_keys.end(), k) == old_keys.end()) {
      gained.push_back(k);
    }
  }
  if (lost.empty() && gained.empty()) return absl::OkStatus();
  // One pass in key order over the markers of both, as an intake does.
  std::vector<DuplicateKey> touched = lost;
  touched.insert(touched.end(), gained.begin(), gained.end());
  ASSIGN_OR_RETURN(std::vector<MarkedKey> marked, LockPrefixes(txn, touched));
  for (const DuplicateKey& k : lost) {
    const MarkedKey* m = FindMarked(marked, k);
    if (m != nullptr && m->holder == after.id()) {
      // It named this customer, which has no entry: it names no one now,
      // and the key's other customers have entries.
      RETURN_IF_ERROR(txn.PutUnlocked(Table::kIndexes,
                                      DuplicatePrefix(k.kind, k.value), ""));
    } else {
      RETURN_IF_ERROR(txn.DeleteUnlocked(
          Table::kIndexes, DuplicateIndexKey(k.kind, k.value, after.id())));
    }
  }
  return StageEntries(txn, after.id(), gained, marked);
}

std::string DuplicateMarkersDoneKey() {
  return KeyBuilder().AddString("dup_markers").Build();
}

absl::StatusOr<int64_t> BackfillDuplicateMarkers(storage::Store& store,
                                                 int batch_size) {
  {
    ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                     store.NewSnapshot());
    std::string done;
    absl::Status s =
        snapshot->Get(Table::kOperations, DuplicateMarkersDoneKey(), &done);
    if (s.ok()) return 0;
    if (!absl::IsNotFound(s)) return s;
  }
  const std::string all = KeyBuilder().AddString("dup").Build();
  int64_t written = 0;
  std::string last_prefix;
  std::string start_after;
  while (true) {
    // One page of entries, its new markers in one transaction.
    std::vector<std::string> markers;
    std::string page_last;
    {
      ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                       store.NewSnapshot());
      storage::ScanOptions options;
      options.start_after = start_after;
      std::unique_ptr<storage::ScanIterator> it =
          snapshot->Scan(Table::kIndexes, all, options);
      int seen = 0;
      for (; it->Valid() && seen < batch_size; it->Next(), ++seen) {
        page_last = std::string(it->key());
        KeyReader k(it->key());
        std::string tag, value, customer;
        int64_t kind = 0;
        if (!k.ReadString(&tag).ok() || !k.ReadInt64(&kind).ok() ||
            !k.ReadString(&value).ok()) {
          return absl::DataLossError(
              "a duplicate-index entry does not parse (\"dup\", kind, value)");
        }
        if (k.done()) {  // a marker: its key needs none
          last_prefix = std::string(it->key());
          continue;
        }
        const std::string prefix =
            DuplicatePrefix(static_cast<v1::MatchKey>(kind), value);
        if (prefix != last_prefix) {
          markers.push_back(prefix);
          last_prefix = prefix;
        }
      }
      RETURN_IF_ERROR(it->status());
    }
    if (page_last.empty()) break;
    if (!markers.empty()) {
      ASSIGN_OR_RETURN(std::unique_ptr<storage::Transaction> txn,
                       store.Begin());
      for (const std::string& m : markers) {
        RETURN_IF_ERROR(txn->Put(Table::kIndexes, m, ""));
      }
      RETURN_IF_ERROR(txn->Commit());
      written += static_cast<int64_t>(markers.size());
    }
    start_after = std::move(page_last);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Transaction> txn, store.Begin());
  RETURN_IF_ERROR(txn->Put(Table::kOperations, DuplicateMarkersDoneKey(), ""));
  RETURN_IF_ERROR(txn->Commit());
  return written;
}

absl::StatusOr<std::vector<v1::DuplicateMatch>> FindDuplicates(
    storage::Snapshot& snapshot, const v1::Customer& customer,
    const google::protobuf::RepeatedField<int>& match_on) {
  ASSIGN_OR_RETURN(std::vector<DuplicateKey> keys,
                   DuplicateKeysOf(customer, match_on));
  return Find(snapshot, customer, Unread(std::move(keys)),
              /*all_marked=*/false);
}

namespace {

// RouteDuplicates over `reader` (a Transaction or a Snapshot), picking the
// matched rep with `mode`.
template <typename Reader>
absl::Status RouteDuplicatesWith(Reader& reader, PickMode mode,
                                 const AssignmentPlanner& planner,
                                 const v1::Customer& customer,
                                 const std::vector<MarkedKey>& all_keys,
                                 bool all_marked, const RosterIndex& roster,
                                 const v1::Policies& policies,
                                 AssignmentPlan* plan) {
  const v1::DuplicatesPolicy& dup = policies.duplicates();
  if (dup.match_on_size() == 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::vector<MarkedKey> keys,
                   KeysOfKinds(all_keys, dup.match_on()));
  ASSIGN_OR_RETURN(std::vector<v1::DuplicateMatch> matches,
                   Find(reader, customer, keys, all_marked));
  if (matches.empty()) return absl::OkStatus();
  const bool route = dup.on_match() != v1::FLAG_ONLY;
  const std::string& oldest = matches.front().customer_id();
  for (DepartmentPlan& d : plan->departments) {
    for (const v1::DuplicateMatch& m : matches) {
      *d.after.mutable_explanation()->add_duplicates() = m;
    }
    if (!route) continue;
    std::string bytes;
    absl::Status s = reader.Get(Table::kOwnerships,
                                OwnershipKey(oldest, d.department), &bytes);
    if (absl::IsNotFound(s)) continue;
    RETURN_IF_ERROR(s);
    v1::Ownership existing;
    if (!existing.ParseFromString(bytes)) {
      return absl::DataLossError(
          absl::StrCat("the ownership of customer ", rules::Quote(oldest),
                       " in department ", d.department, " does not parse"));
    }
    v1::Ownership after;
    after.set_customer_id(customer.id());
    after.set_department(d.department);
    std::optional<CapacityReservation> reservation;
    switch (existing.state()) {
      case v1::Ownership::ACTIVE:
      case v1::Ownership::FROZEN: {
        std::optional<RosterIndex::Seat> seat =
            roster.FindSeat(d.department, existing.rep());
        ASSIGN_OR_RETURN(PickResult pick,
                         planner.ReserveRep(d.department, existing.rep(),
                                            roster, policies, mode));
        if (!seat.has_value() || !pick.picked()) continue;  // rules decide
        after.set_state(v1::Ownership::ACTIVE);
        after.set_rep(existing.rep());
        after.set_team(seat->team->id());
        reservation = std::move(pick.reservation);
        break;
      }
      case v1::Ownership::POOLED:
        after.set_state(v1::Ownership::POOLED);
        after.set_pool(existing.pool());
        break;
      default:
        continue;  // no owner to route to
    }
    v1::OwnershipExplanation* explanation = after.mutable_explanation();
    *explanation->mutable_segments() = d.after.explanation().segments();
    *explanation->mutable_duplicates() = d.after.explanation().duplicates();
    explanation->set_target_used("duplicate");
    after.set_ruleset_version(d.after.ruleset_version());
    *after.mutable_since() = d.after.since();  // the evaluation time
    if (d.reservation.has_value()) d.reservation->Release();
    d.reservation = std::move(reservation);
    d.reservation_moves_cursor = false;
    d.after = std::move(after);
    d.changed = true;
    d.cause = v1::OwnershipEvent::DUPLICATE_OF;
    d.owned_deltas =
        OwnedDeltas(d.before.has_value() ? &*d.before : nullptr, d.after);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RouteDuplicates(storage::Transaction& txn,
                             const AssignmentPlanner& planner,
                             const v1::Customer& customer,
                             const IntakeKeys& intake,
                             const RosterIndex& roster,
                             const v1::Policies& policies,
                             AssignmentPlan* plan) {
  // Only the marked keys can match (the others have no entries).
  return RouteDuplicatesWith(txn, PickMode::kReserve, planner, customer,
                             intake.marked, /*all_marked=*/true, roster,
                             policies, plan);
}

absl::Status RouteDuplicates(storage::Snapshot& snapshot,
                             const AssignmentPlanner& planner,
                             const v1::Customer& customer,
                             const std::vector<DuplicateKey>& keys,
                             const RosterIndex& roster,
                             const v1::Policies& policies,
                             AssignmentPlan* plan) {
  return RouteDuplicatesWith(snapshot, PickMode::kDryRun, planner, customer,
                             Unread(keys), /*all_marked=*/false, roster,
                             policies, plan);
}

}  // namespace custodian::server
