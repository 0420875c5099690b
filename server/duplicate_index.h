// The duplicate-matching index (查重) and duplicate routing on intake.
//
// Index. Every customer record is listed under each normalized key it has
// (duplicate_keys.h; all three kinds, whatever the active policy, so a
// policy change needs no re-indexing), staged in the same transaction as
// the record by StageIntakeKeys (a new customer) or StageDuplicateKeys:
//   kIndexes ("dup", kind: int64, value) -> customer   the key's marker
//   kIndexes ("dup", kind: int64, value, customer) -> ""   an entry
// The first customer to have a key writes its marker, naming itself, and
// no entry: most keys belong to one customer, so that is one write per key.
// Every later customer with the key gets an entry. When the named customer
// loses the key, its marker is rewritten to name no one ("", as are the
// markers of stores written before markers named anyone): then every
// customer with the key has an entry. So a key's customers are the one its
// marker names plus those of its entries. The entries include the customer,
// whose record the writer holds locked, so they are written without locks
// (Transaction::PutUnlocked). A marker is never deleted: a key without one
// has no customers, so looking for matches is a point read (a bloom-filter
// miss, usually), not an index scan. What makes intake exact is a lock per
// key: the intake of a new customer locks the marker ("dup", kind, value)
// of every key it has (LockDuplicateKeys) before it looks for matches, and
// a changed customer locks those of the keys it gains or loses, until their
// commits. So of two customers with a common key committed at the same
// moment, the second waits for the first and then sees it (is routed to
// it): every match is seen, in commit order. The locks are taken in key
// order after the customer's own record and ownerships, so they cannot
// deadlock with each other; a cycle through another lock (two BatchAssign
// chunks) is detected by the store and the mutation retried.
//
// Stores written before markers existed get them once at start-up
// (BackfillDuplicateMarkers).
//
// FindDuplicates lists the other customers sharing a key of the policy's
// match_on, each once (under the first key of match_on it matches on),
// oldest first: by the existing customer's create_time, then customer id.
//
// RouteDuplicates applies policies.duplicates to the plan of a NEW
// customer: every department plan lists the matches in its explanation;
// with ROUTE_TO_EXISTING_OWNER, a department where the oldest match has an
// owner gets that owner instead of the rules' choice, with cause
// DUPLICATE_OF and explanation.target_used "duplicate": the same rep when
// the match is ACTIVE or FROZEN with it (ACTIVE, in the rep's seat team;
// the rep must be ACTIVE and have room, as for a fixed rep, else the rules'
// choice stands) or the same pool when the match is POOLED. A match that is
// PENDING_APPROVAL, ORPHANED or UNOWNED routes nothing. FLAG_ONLY assigns
// normally and only lists the matches.
//
// Thread-safe: functions over the caller's transaction or snapshot.
#ifndef CUSTODIAN_SERVER_DUPLICATE_INDEX_H_
#define CUSTODIAN_SERVER_DUPLICATE_INDEX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "custodian/v1/customer.pb.h"
#include "custodian/v1/ownership.pb.h"
#include "custodian/v1/ruleset.pb.h"
#include "server/assignment_planner.h"
#include "server/duplicate_keys.h"
#include "storage/store.h"

namespace custodian::server {

std::string DuplicateIndexKey(v1::MatchKey kind, absl::string_view value,
                              absl::string_view customer_id);
// ("dup", kind, value): the key's marker (see the top), and the prefix of
// its entries.
std::string DuplicateMarkerKey(v1::MatchKey kind, absl::string_view value);

// Every key `customer` has, of all kinds (what the index holds; an intake
// computes them once and passes them to the functions below).
// INVALID_ARGUMENT naming the field when a value is not valid UTF-8.
absl::StatusOr<std::vector<DuplicateKey>> AllDuplicateKeysOf(
    const v1::Customer& customer);

// A key whose marker exists, and the customer the marker names ("" for
// none; see the top).
struct MarkedKey {
  DuplicateKey key;
  std::string holder;
};

// A new customer's keys for its intake: all of them (AllDuplicateKeysOf),
// locked, and those of them that already have a marker (only those can
// match).
struct IntakeKeys {
  std::vector<DuplicateKey> all;
  std::vector<MarkedKey> marked;
};

// Computes `customer`'s keys and locks their markers in key order (see the
// top); nothing is written. INVALID_ARGUMENT naming the field when a value
// is not valid UTF-8; the store's errors (ABORTED on a deadlock or lock
// timeout: retry the mutation).
absl::StatusOr<IntakeKeys> LockDuplicateKeys(storage::Transaction& txn,
                                             const v1::Customer& customer);

// Lists a new customer under its keys: the marker naming it for each key
// that had none, an entry for the others. REQUIRES: `intake` is
// LockDuplicateKeys' answer in `txn`.
absl::Status StageIntakeKeys(storage::Transaction& txn,
                             absl::string_view customer_id,
                             const IntakeKeys& intake);

// Lists a stored customer changed from `before` to `after` under the keys
// it gains and takes it off those it loses: locks the markers of both in
// key order, deletes its entries of lost keys (or rewrites a lost key's
// marker that named it to name no one) and lists it under the gained ones
// as StageIntakeKeys does.
// INVALID_ARGUMENT naming the field when a value of `after` is not valid
// UTF-8; the store's errors. REQUIRES: the customer record is locked by
// `txn`.
absl::Status StageDuplicateKeys(storage::Transaction& txn,
                                const v1::Customer& before,
                                const v1::Customer& after);

// Writes the marker of every key that has index entries but none, naming
// no one, once per store: does nothing when kOperations ("dup_markers")
// says it was done, else scans every ("dup", ...) entry in pages of
// `batch_size`, writes the missing markers a page per transaction and then
// that record. Returns how many markers it wrote. Run before the store
// serves (custodiand's start); a crash part-way leaves the record
// unwritten, so the next start runs it again (a key whose marker exists is
// skipped, so no marker is rewritten). DATA_LOSS for an entry that
// does not parse; the store's errors.
absl::StatusOr<int64_t> BackfillDuplicateMarkers(storage::Store& store,
                                                 int batch_size = 1000);

// The customers other than `customer` sharing one of its keys of
// `match_on`, oldest first (see the top). Reads without locks.
// INVALID_ARGUMENT as DuplicateKeysOf.
absl::StatusOr<std::vector<v1::DuplicateMatch>> FindDuplicates(
    storage::Snapshot& snapshot, const v1::Customer& customer,
    const google::protobuf::RepeatedField<int>& match_on);

// See the top. `plan` is Plan(kReserve)'s for a customer with no stored
// record; `planner` made it; `intake` is LockDuplicateKeys' answer. Reads
// the oldest match's ownerships without locks. The store's and the
// allocator's errors.
absl::Status RouteDuplicates(storage::Transaction& txn,
                             const AssignmentPlanner& planner,
                             const v1::Customer& customer,
                             const IntakeKeys& intake,
                             const RosterIndex& roster,
                             const v1::Policies& policies,
                             AssignmentPlan* plan);
// The same over a snapshot for Plan(kDryRun)'s plan (Evaluate), `keys`
// being the customer's AllDuplicateKeysOf: the same routing, reserving
// nothing.
absl::Status RouteDuplicates(storage::Snapshot& snapshot,
                             const AssignmentPlanner& planner,
                             const v1::Customer& customer,
                             const std::vector<DuplicateKey>& keys,
                             const RosterIndex& roster,
                             const v1::Policies& policies,
                             AssignmentPlan* plan);

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_DUPLICATE_INDEX_H_
