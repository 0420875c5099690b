#include "server/ownership_book.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/time_util.h"
#include "rules/names.h"
#include "server/idempotency.h"
#include "server/request_checks.h"
#include "storage/keys.h"

namespace custodian::server {
namespace {

using ::google::protobuf::util::TimeUtil;
using storage::KeyBuilder;
using storage::Table;

constexpr absl::string_view kListOwnershipsScope = "ListOwnerships";
constexpr absl::string_view kListEventsScope = "ListOwnershipEvents";

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

template <typename Message>
absl::Status Parse(absl::string_view bytes, absl::string_view what,
                   Message* out) {
  if (!out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(absl::StrCat(what, " does not parse"));
  }
  return absl::OkStatus();
}

// Reads a key that may be absent into *value: true if found.
template <typename Reader>
absl::StatusOr<bool> ReadOptional(Reader& reader, Table table,
                                  absl::string_view key, std::string* value) {
  absl::Status s = reader.Get(table, key, value);
  if (s.ok()) return true;
  if (absl::IsNotFound(s)) return false;
  return s;
}

std::string OwnershipWhat(absl::string_view customer,
                          absl::string_view department) {
  return absl::StrCat("the ownership of customer ", rules::Quote(customer),
                      " in department ", rules::Quote(department));
}

// ---- Index and counter keys ------------------------------------------------

std::string ByRepPrefix(absl::string_view department, absl::string_view rep) {
  return KeyBuilder()
      .AddString("by_rep")
      .AddString(department)
      .AddString(rep)
      .Build();
}
std::string ByTeamPrefix(absl::string_view department, absl::string_view team) {
  return KeyBuilder()
      .AddString("by_team")
      .AddString(department)
      .AddString(team)
      .Build();
}
std::string ByStatePrefix(absl::string_view department, int state) {
  return KeyBuilder()
      .AddString("by_state")
      .AddString(department)
      .AddInt64(state)
      .Build();
}
std::string BySegmentPrefix(absl::string_view department,
                            absl::string_view segment) {
  return KeyBuilder()
      .AddString("by_segment")
      .AddString(department)
      .AddString(segment)
      .Build();
}
std::string HistPrefix(absl::string_view customer,
                       absl::string_view department) {
  return KeyBuilder()
      .AddString("hist")
      .AddString(customer)
      .AddString(department)
      .Build();
}
std::string HistKey(absl::string_view customer, absl::string_view department,
                    int64_t sequence) {
  return KeyBuilder(HistPrefix(customer, department))
      .AddUint64(static_cast<uint64_t>(sequence))
      .Build();
}
std::string IndexEntry(absl::string_view prefix, absl::string_view customer) {
  return KeyBuilder(prefix).AddString(customer).Build();
}

// One index entry and the counter that counts it; either may be empty (the
// owned counter counts the by_rep range; the pool and won counters have no
// index; the other ranges have no counter).
struct Membership {
  std::string entry;
  std::string counter;
  friend bool operator<(const Membership& a, const Membership& b) {
    return std::tie(a.entry, a.counter) < std::tie(b.entry, b.counter);
  }
};

// The index entries and counters `record` belongs to; segment entries for
// `segments`; the won counter of its rep when the customer is `won`.
std::set<Membership> MembershipsOf(
    const v1::Ownership& record,
    const google::protobuf::RepeatedPtrField<std::string>& segments, bool won) {
  const std::string& c = record.customer_id();
  const std::string& d = record.department();
  std::set<Membership> out;
  out.insert({IndexEntry(ByStatePrefix(d, record.state()), c), ""});
  if (!record.rep().empty()) {
    out.insert({IndexEntry(ByRepPrefix(d, record.rep()), c),
                OwnedCounterKeyOf(d, record.rep())});
    if (won) out.insert({"", WonCounterKeyOf(d, record.rep())});
  }
  if (!record.team().empty()) {
    out.insert({IndexEntry(ByTeamPrefix(d, record.team()), c), ""});
  }
  if (!record.pool().empty()) {
    out.insert({"", PoolSizeCounterKey(d, record.pool())});
  }
  for (const std::string& segment : segments) {
    out.insert({IndexEntry(BySegmentPrefix(d, segment), c), ""});
  }
  return out;
}

// The stage that makes a customer count as won (policies.capacity.count_won).
constexpr absl::string_view kWonStage = "won";

bool IsWon(const storage::v1::CustomerRecord& record) {
  return record.customer().sales_stage() == kWonStage;
}

// The won-counter changes between `before` and `after` memberships.
void AppendWonChanges(const std::set<Membership>& before,
                      const std::set<Membership>& after,
                      absl::string_view department,
                      absl::string_view before_rep, absl::string_view after_rep,
                      std::vector<RepCountChange>* out) {
  if (!before_rep.empty() &&
      before.count({"", WonCounterKeyOf(department, before_rep)}) != 0 &&
      after.count({"", WonCounterKeyOf(department, before_rep)}) == 0) {
    out->push_back({std::string(department), std::string(before_rep), -1});
  }
  if (!after_rep.empty() &&
      after.count({"", WonCounterKeyOf(department, after_rep)}) != 0 &&
      before.count({"", WonCounterKeyOf(department, after_rep)}) == 0) {
    out->push_back({std::string(department), std::string(after_rep), +1});
  }
}

// Deletes the entries of `before` not in `after`, writes those of `after`
// not in `before`, and moves their counters (where they have one). The entries
// are written without locks: an ownership's entries are written only under the
// lock of its ownership record, and segment entries only under the lock of the
// customer record (Stage and StageCustomer hold them). Only snapshots read them
// and their counters, so both are write-only in the transaction
// (Transaction::PutWriteOnly, AddToCounterWriteOnly).
absl::Status ApplyMemberships(storage::Transaction& txn,
                              const std::set<Membership>& before,
                              const std::set<Membership>& after) {
  for (const Membership& m : before) {
    if (after.count(m) != 0) continue;
    if (!m.entry.empty()) {
      RETURN_IF_ERROR(txn.DeleteWriteOnly(Table::kIndexes, m.entry));
    }
    if (!m.counter.empty()) {
      RETURN_IF_ERROR(txn.AddToCounterWriteOnly(m.counter, -1));
    }
  }
  for (const Membership& m : after) {
    if (before.count(m) != 0) continue;
    if (!m.entry.empty()) {
      RETURN_IF_ERROR(txn.PutWriteOnly(Table::kIndexes, m.entry, ""));
    }
    if (!m.counter.empty()) {
      RETURN_IF_ERROR(txn.AddToCounterWriteOnly(m.counter, +1));
    }
  }
  return absl::OkStatus();
}

// ---- Validation ------------------------------------------------------------

void CheckName(absl::string_view field, absl::string_view value, bool required,
               std::string (*check)(absl::string_view), FieldErrors* errors) {
  if (value.empty()) {
    if (required) errors->Add(field, "is required");
    return;
  }
  std::string problem = check(value);
  if (!problem.empty()) errors->Add(field, problem);
}

bool StateHasRep(v1::Ownership::State state) {
  return state == v1::Ownership::ACTIVE ||
         state == v1::Ownership::PENDING_APPROVAL ||
         state == v1::Ownership::FROZEN || state == v1::Ownership::ORPHANED;
}

absl::Status ValidateChange(const ChangeSpec& change) {
  FieldErrors errors;
  const v1::Ownership& after = change.after;
  CheckName("after.customer_id", after.customer_id(), true,
            rules::CheckCustomerId, &errors);
  CheckName("after.department", after.department(), true,
            rules::CheckDepartmentId, &errors);
  const v1::Ownership::State state = after.state();
  const bool valid_state = v1::Ownership::State_IsValid(state) &&
                           state != v1::Ownership::STATE_UNSPECIFIED;
  if (!valid_state) {
    errors.Add("after.state", "must be a valid ownership state");
  }
  CheckName("after.rep", after.rep(), false, rules::CheckRepId, &errors);
  CheckName("after.team", after.team(), false, rules::CheckTeamId, &errors);
  CheckName("after.pool", after.pool(), false, rules::CheckTeamId, &errors);
  if (valid_state) {
    const std::string state_name = v1::Ownership::State_Name(state);
    if (StateHasRep(state) && after.rep().empty()) {
      errors.Add("after.rep",
                 absl::StrCat("is required when state is ", state_name));
    } else if (!StateHasRep(state) && !after.rep().empty()) {
      errors.Add("after.rep",
                 absl::StrCat("must be empty when state is ", state_name));
    }
    if (state == v1::Ownership::POOLED && after.pool().empty()) {
      errors.Add("after.pool", "is required when state is POOLED");
    } else if (state != v1::Ownership::POOLED && !after.pool().empty()) {
      errors.Add("after.pool",
                 absl::StrCat("must be empty when state is ", state_name));
    }
    const bool has_reason =
        after.unowned_reason() != v1::Ownership::UNOWNED_REASON_UNSPECIFIED;
    if (state == v1::Ownership::UNOWNED &&
        (!has_reason ||
         !v1::Ownership::UnownedReason_IsValid(after.unowned_reason()))) {
      errors.Add("after.unowned_reason", "is required when state is UNOWNED");
    } else if (state != v1::Ownership::UNOWNED && has_reason) {
      errors.Add("after.unowned_reason",
                 absl::StrCat("must be unset when state is ", state_name));
    }
  }
  if (change.cause == v1::OwnershipEvent::CAUSE_UNSPECIFIED ||
      !v1::OwnershipEvent::Cause_IsValid(change.cause)) {
    errors.Add("cause", "must be a valid cause");
  }
  CheckActor(change.actor, &errors);
  CheckReason("reason", change.reason, false, &errors);
  CheckRequestId("request_id", change.request_id, false, &errors);
  return errors.ToStatus();
}

// ---- Reads -----------------------------------------------------------------

// The customer id at the end of index entry `key` under `prefix`.
absl::StatusOr<std::string> CustomerOfEntry(absl::string_view key,
                                            absl::string_view prefix) {
  storage::KeyReader reader(key.substr(prefix.size()));
  std::string customer;
  if (key.size() < prefix.size() || !reader.ReadString(&customer).ok() ||
      !reader.done()) {
    return absl::DataLossError("indexes: malformed ownership index entry");
  }
  return customer;
}

// The departments of the ownership records of `customer`, in order, as seen
// by `reader` (a Snapshot or a Transaction).
template <typename Reader>
absl::StatusOr<std::vector<std::string>> DepartmentsOf(
    Reader& reader, absl::string_view customer) {
  const std::string prefix = OwnershipKeyPrefix(customer);
  std::vector<std::string> departments;
  std::unique_ptr<storage::ScanIterator> it =
      reader.Scan(Table::kOwnerships, prefix, storage::ScanOptions());
  for (; it->Valid(); it->Next()) {
    storage::KeyReader key(it->key().substr(prefix.size()));
    std::string department;
    if (!key.ReadString(&department).ok() || !key.done()) {
      return absl::DataLossError("ownerships: malformed ownership key");
    }
    departments.push_back(std::move(department));
  }
  RETURN_IF_ERROR(it->status());
  return departments;
}

// Where a page of a ListOwnerships join resumes: after `customer` (the
// last one returned) or, for a page the examination limit cut short, at it
// (every customer before it is decided, it is not yet).
struct JoinPosition {
  std::string customer;
  bool at = false;

  std::string Encode() const {
    return KeyBuilder().AddString(customer).AddInt64(at ? 1 : 0).Build();
  }
  static std::optional<JoinPosition> Decode(absl::string_view encoded) {
    storage::KeyReader key(encoded);
    JoinPosition position;
    int64_t at = 0;
    if (!key.ReadString(&position.customer).ok() || !key.ReadInt64(&at).ok() ||
        !key.done() || (at != 0 && at != 1) || position.customer.empty()) {
      return std::nullopt;
    }
    position.at = at == 1;
    return position;
  }
};

// The ownerships of `department` in customer order, for a ListOwnerships
// with no other filter: a scan of every ownership record that skips the
// other departments' (a customer's records are adjacent, so this reads about
// as many records as there are departments per customer). A department
// without its marker (DepartmentMarkerKey) has no ownership in any state and
// answers an empty page without scanning. A page
// resumes after OwnershipKey(customer, department) of the last customer
// returned.
absl::StatusOr<v1::ListOwnershipsResponse> ListDepartment(
    storage::Snapshot& snapshot, absl::string_view department,
    absl::string_view scope, int32_t page_size,
    const std::optional<std::string>& resume_after, int64_t max_examined) {
  v1::ListOwnershipsResponse response;
  std::string ignored;
  ASSIGN_OR_RETURN(bool marked,
                   ReadOptional(snapshot, Table::kIndexes,
                                DepartmentMarkerKey(department), &ignored));
  if (!marked) return response;

  const std::string all = KeyBuilder().AddString("own").Build();
  storage::ScanOptions scan_options;
  if (resume_after.has_value()) {
    scan_options.start_after = OwnershipKey(*resume_after, department);
  }
  // Every record examined is returned (there is no other filter), so the
  // examination limit only shortens the page.
  const int64_t limit = std::min<int64_t>(page_size, max_examined);
  std::string last_returned;
  bool more = false;
  std::unique_ptr<storage::ScanIterator> it =
      snapshot.Scan(Table::kOwnerships, all, scan_options);
  for (; it->Valid(); it->Next()) {
    storage::KeyReader key(it->key().substr(all.size()));
    std::string customer;
    std::string record_department;
    if (!key.ReadString(&customer).ok() ||
        !key.ReadString(&record_department).ok() || !key.done()) {
      return absl::DataLossError("ownerships: malformed ownership key");
    }
    if (record_department != department) continue;
    if (response.ownerships_size() == limit) {
      more = true;  // one beyond the page: there is a next page
      break;
    }
    RETURN_IF_ERROR(Parse(it->value(), OwnershipWhat(customer, department),
                          response.add_ownerships()));
    last_returned = std::move(customer);
  }
  RETURN_IF_ERROR(it->status());
  if (more) response.set_next_page_token(EncodePageToken(scope, last_returned));
  return response;
}

// A position of the history index: (sequence, event time).
struct HistEntry {
  int64_t sequence = 0;
  absl::Time time;
};

absl::StatusOr<HistEntry> ParseHist(absl::string_view key,
                                    absl::string_view value,
                                    absl::string_view prefix) {
  HistEntry out;
  storage::KeyReader key_reader(key.substr(prefix.size()));
  uint64_t sequence = 0;
  storage::KeyReader value_reader(value);
  if (key.size() < prefix.size() || !key_reader.ReadUint64(&sequence).ok() ||
      !key_reader.done() || !value_reader.ReadTime(&out.time).ok() ||
      !value_reader.done() ||
      sequence > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return absl::DataLossError("indexes: malformed history entry");
  }
  out.sequence = static_cast<int64_t>(sequence);
  return out;
}

}  // namespace

// ---- Keys ------------------------------------------------------------------

std::string CustomerKey(absl::string_view customer_id) {
  return KeyBuilder().AddString("customer").AddString(customer_id).Build();
}

std::string OwnershipKeyPrefix(absl::string_view customer_id) {
  return KeyBuilder().AddString("own").AddString(customer_id).Build();
}

std::string OwnershipKey(absl::string_view customer_id,
                         absl::string_view department) {
  return KeyBuilder(OwnershipKeyPrefix(customer_id))
      .AddString(department)
      .Build();
}

std::string DepartmentMarkerKey(absl::string_view department) {
  return KeyBuilder().AddString("department").AddString(department).Build();
}

std::string PoolSizeCounterKey(absl::string_view department,
                               absl::string_view pool) {
  return KeyBuilder()
      .AddString("pool_size")
      .AddString(department)
      .AddString(pool)
      .Build();
}

// ---- PendingEvents ---------------------------------------------------------

void PendingEvents::Append(PendingEvents&& other) {
  if (sequencer_ == nullptr) sequencer_ = other.sequencer_;
  for (v1::OwnershipEvent& e : other.events_) events_.push_back(std::move(e));
  for (SequenceTicket& t : other.tickets_) tickets_.push_back(std::move(t));
  for (RepCountChange& c : other.won_changes_) {
    won_changes_.push_back(std::move(c));
  }
  other.events_.clear();
  other.tickets_.clear();
  other.won_changes_.clear();
}

void PendingEvents::Committed() {
  for (SequenceTicket& t : tickets_) sequencer_->Committed(t);
  tickets_.clear();
}

void PendingEvents::Abandoned() {
  tickets_.clear();  // each ticket abandons itself
}

// ---- OwnershipBook ---------------------------------------------------------

absl::StatusOr<std::unique_ptr<OwnershipBook>> OwnershipBook::Create(
    Options options) {
  if (options.store == nullptr) {
    return absl::InvalidArgumentError(
        "OwnershipBook: options.store is not set");
  }
  if (options.sequencer == nullptr) {
    return absl::InvalidArgumentError(
        "OwnershipBook: options.sequencer is not set");
  }
  if (options.clock == nullptr) {
    return absl::InvalidArgumentError(
        "OwnershipBook: options.clock is not set");
  }
  if (options.max_examined_per_page < 1) {
    return absl::InvalidArgumentError(
        "OwnershipBook: options.max_examined_per_page must be >= 1");
  }
  return std::unique_ptr<OwnershipBook>(new OwnershipBook(options));
}

absl::StatusOr<std::optional<v1::Ownership>> OwnershipBook::ReadForUpdate(
    storage::Transaction& txn, absl::string_view customer_id,
    absl::string_view department) {
  std::string value;
  absl::Status s = txn.GetForUpdate(
      Table::kOwnerships, OwnershipKey(customer_id, department), &value);
  if (absl::IsNotFound(s)) return std::optional<v1::Ownership>();
  RETURN_IF_ERROR(s);
  v1::Ownership record;
  RETURN_IF_ERROR(
      Parse(value, OwnershipWhat(customer_id, department), &record));
  return std::optional<v1::Ownership>(std::move(record));
}

absl::StatusOr<PendingEvents> OwnershipBook::Stage(
    storage::Transaction& txn, const ChangeSpec& change) const {
  RETURN_IF_ERROR(ValidateChange(change));
  const std::string& customer = change.after.customer_id();
  const std::string& department = change.after.department();
  std::optional<v1::Ownership> read;
  if (change.before == nullptr) {
    ASSIGN_OR_RETURN(read, ReadForUpdate(txn, customer, department));
  }
  const std::optional<v1::Ownership>& before =
      change.before != nullptr ? *change.before : read;

  // A first ownership in the department gets the customer's segment
  // entries. The customer record is locked, so a concurrent StageCustomer
  // that changes the segments waits for this transaction (or, with snapshot
  // isolation, one of them aborts and re-reads) instead of missing this
  // ownership.
  // When the rep changes, the record also says whether the customer is won
  // (the won counters of the old and new rep move); it is locked, so a
  // concurrent StageCustomer flipping the stage waits for this transaction.
  const bool rep_changes =
      !before.has_value() || before->rep() != change.after.rep();
  storage::v1::CustomerRecord customer_record;
  if (!before.has_value() || rep_changes) {
    const std::string key = CustomerKey(customer);
    std::string value;
    absl::Status s = txn.GetForUpdate(Table::kCustomers, key, &value);
    if (absl::IsNotFound(s) && !before.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("customer ", rules::Quote(customer),
                       " has no customer record: stage it (StageCustomer) "
                       "before its first ownership"));
    }
    if (!absl::IsNotFound(s)) {
      RETURN_IF_ERROR(s);
      RETURN_IF_ERROR(
          Parse(value, absl::StrCat("customer record ", rules::Quote(customer)),
                &customer_record));
    }
  }
  // Unchanged rep: the won membership is the same on both sides.
  const bool won = rep_changes && IsWon(customer_record);

  SequenceTicket ticket = options_.sequencer->Allocate(1);
  const int64_t sequence = ticket.first();
  const absl::Time now = options_.clock->Now();

  v1::Ownership after = change.after;
  after.set_last_event_sequence(sequence);
  if (!before.has_value() || before->rep() != after.rep() ||
      before->pool() != after.pool()) {
    *after.mutable_since() = ToProto(now);
  } else {
    *after.mutable_since() = before->since();
  }
  RETURN_IF_ERROR(txn.Put(Table::kOwnerships,
                          OwnershipKey(customer, department),
                          SerializeDeterministic(after)));
  RETURN_IF_ERROR(MarkDepartment(txn, department));

  const google::protobuf::RepeatedPtrField<std::string> no_segments;
  std::set<Membership> old_memberships;
  if (before.has_value()) {
    old_memberships = MembershipsOf(*before, no_segments, won);
  }
  std::set<Membership> new_memberships = MembershipsOf(
      after, before.has_value() ? no_segments : customer_record.segments(),
      won);
  RETURN_IF_ERROR(ApplyMemberships(txn, old_memberships, new_memberships));
  std::vector<RepCountChange> won_changes;
  AppendWonChanges(old_memberships, new_memberships, department,
                   before.has_value() ? before->rep() : "", after.rep(),
                   &won_changes);

  v1::OwnershipEvent event;
  event.set_sequence(sequence);
  *event.mutable_event_time() = ToProto(now);
  event.set_customer_id(customer);
  event.set_department(department);
  event.set_cause(change.cause);
  event.set_actor(change.actor);
  event.set_reason(change.reason);
  if (before.has_value()) *event.mutable_before() = *before;
  *event.mutable_after() = after;
  event.set_request_id(change.request_id);
  event.set_appeal_id(change.appeal_id);
  // The event's keys hold its freshly allocated sequence: no other
  // transaction writes them.
  RETURN_IF_ERROR(txn.PutWriteOnly(Table::kEvents, EventKey(sequence),
                                   SerializeDeterministic(event)));
  RETURN_IF_ERROR(txn.PutWriteOnly(Table::kIndexes,
                                   HistKey(customer, department, sequence),
                                   KeyBuilder().AddTime(now).Build()));

  PendingEvents pending;
  pending.sequencer_ = options_.sequencer;
  pending.won_changes_ = std::move(won_changes);
  pending.events_.push_back(std::move(event));
  pending.tickets_.push_back(std::move(ticket));
  return pending;
}

absl::Status OwnershipBook::MarkDepartment(
    storage::Transaction& txn, const std::string& department) const {
  {
    absl::ReaderMutexLock lock(&marked_mu_);
    if (marked_.contains(department)) return absl::OkStatus();
  }
  // Committed state only: the transaction's own staged marker would read as
  // present before its commit, which may fail.
  const std::string key = DepartmentMarkerKey(department);
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  std::string ignored;
  ASSIGN_OR_RETURN(bool committed,
                   ReadOptional(*snapshot, Table::kIndexes, key, &ignored));
  if (committed) {
    absl::MutexLock lock(&marked_mu_);
    marked_.insert(department);
    return absl::OkStatus();
  }
  // Unlocked: every writer writes the same empty value.
  return txn.PutWriteOnly(Table::kIndexes, key, "");
}

namespace {

// Deletes every key under `prefix` of `table`, in pages of `batch_size`
// keys, one transaction each; adds how many to *deleted. Starting each page
// after the last page's last key skips its tombstones.
absl::Status DeleteKeysUnder(storage::Store& store, Table table,
                             absl::string_view prefix, int batch_size,
                             int64_t* deleted) {
  std::string position;
  for (;;) {
    std::vector<std::string> keys;
    {
      ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                       store.NewSnapshot());
      storage::ScanOptions options;
      options.start_after = position;
      std::unique_ptr<storage::ScanIterator> it =
          snapshot->Scan(table, prefix, options);
      for (; it->Valid() && static_cast<int>(keys.size()) < batch_size;
           it->Next()) {
        keys.emplace_back(it->key());
      }
      RETURN_IF_ERROR(it->status());
    }
    if (keys.empty()) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::unique_ptr<storage::Transaction> txn, store.Begin());
    for (const std::string& key : keys) {
      RETURN_IF_ERROR(txn->DeleteWriteOnly(table, key));
    }
    RETURN_IF_ERROR(txn->Commit());
    *deleted += static_cast<int64_t>(keys.size());
    position = std::move(keys.back());
  }
}

// Whether kOperations holds `done_key`.
absl::StatusOr<bool> OperationDone(storage::Store& store,
                                   absl::string_view done_key) {
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   store.NewSnapshot());
  std::string ignored;
  return ReadOptional(*snapshot, Table::kOperations, done_key, &ignored);
}

absl::Status RecordOperationDone(storage::Store& store,
                                 absl::string_view done_key) {
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Transaction> txn, store.Begin());
  RETURN_IF_ERROR(txn->Put(Table::kOperations, done_key, ""));
  return txn->Commit();
}

}  // namespace

absl::StatusOr<int64_t> DropIndexSizeCounters(storage::Store& store,
                                              int batch_size) {
  if (batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch_size ", batch_size, " is not positive"));
  }
  const std::string done_key =
      KeyBuilder().AddString("size_counters_dropped").Build();
  ASSIGN_OR_RETURN(bool done, OperationDone(store, done_key));
  if (done) return 0;

  // The departments with an ownership in any state, from their n_state
  // counters, get their markers first: a crash before the counters are all
  // deleted then finds the rest again.
  const std::string states = KeyBuilder().AddString("n_state").Build();
  std::set<std::string> departments;
  {
    ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                     store.NewSnapshot());
    std::unique_ptr<storage::ScanIterator> it =
        snapshot->Scan(Table::kCounters, states);
    for (; it->Valid(); it->Next()) {
      storage::KeyReader key(it->key().substr(states.size()));
      std::string department;
      int64_t state = 0;
      if (!key.ReadString(&department).ok() || !key.ReadInt64(&state).ok() ||
          !key.done()) {
        return absl::DataLossError("counters: malformed n_state key");
      }
      ASSIGN_OR_RETURN(int64_t n, storage::DecodeCounter(it->value()));
      if (n != 0) departments.insert(std::move(department));
    }
    RETURN_IF_ERROR(it->status());
  }
  if (!departments.empty()) {
    ASSIGN_OR_RETURN(std::unique_ptr<storage::Transaction> txn, store.Begin());
    for (const std::string& department : departments) {
      RETURN_IF_ERROR(
          txn->Put(Table::kIndexes, DepartmentMarkerKey(department), ""));
    }
    RETURN_IF_ERROR(txn->Commit());
  }
  int64_t deleted = 0;
  for (absl::string_view tag : {"n_team", "n_segment", "n_state"}) {
    RETURN_IF_ERROR(DeleteKeysUnder(store, Table::kCounters,
                                    KeyBuilder().AddString(tag).Build(),
                                    batch_size, &deleted));
  }
  RETURN_IF_ERROR(RecordOperationDone(store, done_key));
  return deleted;
}

absl::StatusOr<int64_t> DropDepartmentIndex(storage::Store& store,
                                            int batch_size) {
  if (batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch_size ", batch_size, " is not positive"));
  }
  const std::string done_key =
      KeyBuilder().AddString("by_dept_dropped").Build();
  ASSIGN_OR_RETURN(bool done, OperationDone(store, done_key));
  if (done) return 0;
  int64_t deleted = 0;
  RETURN_IF_ERROR(DeleteKeysUnder(store, Table::kIndexes,
                                  KeyBuilder().AddString("by_dept").Build(),
                                  batch_size, &deleted));
  RETURN_IF_ERROR(DeleteKeysUnder(store, Table::kCounters,
                                  KeyBuilder().AddString("n_dept").Build(),
                                  batch_size, &deleted));
  RETURN_IF_ERROR(RecordOperationDone(store, done_key));
  return deleted;
}

absl::StatusOr<storage::v1::CustomerRecord> OwnershipBook::StageCustomer(
    storage::Transaction& txn, const storage::v1::CustomerRecord& record,
    std::vector<RepCountChange>* won_changes) const {
  FieldErrors errors;
  const std::string& customer = record.customer().id();
  CheckName("customer.id", customer, true, rules::CheckCustomerId, &errors);
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < record.segments_size(); ++i) {
    const std::string field = absl::StrCat("segments[", i, "]");
    CheckName(field, record.segments(i), true, rules::CheckSegmentName,
              &errors);
    if (!seen.insert(record.segments(i)).second) {
      errors.Add(field, absl::StrCat("repeats segment ",
                                     rules::Quote(record.segments(i))));
    }
  }
  if (record.ruleset_version() < 0) {
    errors.Add("ruleset_version", "must not be negative");
  }
  RETURN_IF_ERROR(errors.ToStatus());

  const std::string key = CustomerKey(customer);
  std::string value;
  absl::Status locked = txn.GetForUpdate(Table::kCustomers, key, &value);
  const bool found = locked.ok();
  if (!locked.ok() && !absl::IsNotFound(locked)) return locked;
  storage::v1::CustomerRecord old;
  if (found) {
    RETURN_IF_ERROR(Parse(
        value, absl::StrCat("customer record ", rules::Quote(customer)), &old));
  }

  const absl::Time now = options_.clock->Now();
  storage::v1::CustomerRecord stored = record;
  *stored.mutable_create_time() = found ? old.create_time() : ToProto(now);
  *stored.mutable_update_time() = ToProto(now);
  RETURN_IF_ERROR(
      txn.Put(Table::kCustomers, key, SerializeDeterministic(stored)));

  std::vector<std::string> removed;
  std::vector<std::string> added;
  absl::flat_hash_set<std::string> old_set(old.segments().begin(),
                                           old.segments().end());
  for (const std::string& s : old.segments()) {
    if (seen.count(s) == 0) removed.push_back(s);
  }
  for (const std::string& s : record.segments()) {
    if (old_set.count(s) == 0) added.push_back(s);
  }
  // A customer without a record has no ownership yet (Stage requires the
  // record first), so no segment entries or won counts to move.
  const bool won_flips = found && IsWon(old) != IsWon(stored);
  if (!found || (removed.empty() && added.empty() && !won_flips)) {
    return stored;
  }

  ASSIGN_OR_RETURN(std::vector<std::string> departments,
                   DepartmentsOf(txn, customer));
  for (const std::string& department : departments) {
    if (won_flips) {
      ASSIGN_OR_RETURN(std::optional<v1::Ownership> o,
                       ReadForUpdate(txn, customer, department));
      if (o.has_value() && !o->rep().empty()) {
        const int64_t delta = IsWon(stored) ? +1 : -1;
        RETURN_IF_ERROR(txn.AddToCounterWriteOnly(
            WonCounterKeyOf(department, o->rep()), delta));
        if (won_changes != nullptr) {
          won_changes->push_back({department, o->rep(), delta});
        }
      }
    }
    for (const std::string& segment : removed) {
      RETURN_IF_ERROR(txn.Delete(
          Table::kIndexes,
          IndexEntry(BySegmentPrefix(department, segment), customer)));
    }
    for (const std::string& segment : added) {
      RETURN_IF_ERROR(txn.Put(
          Table::kIndexes,
          IndexEntry(BySegmentPrefix(department, segment), customer), ""));
    }
  }
  return stored;
}

absl::StatusOr<v1::Ownership> OwnershipBook::GetOwnership(
    const v1::GetOwnershipRequest& request) const {
  FieldErrors errors;
  CheckName("customer_id", request.customer_id(), true, rules::CheckCustomerId,
            &errors);
  CheckName("department", request.department(), true, rules::CheckDepartmentId,
            &errors);
  RETURN_IF_ERROR(errors.ToStatus());
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  std::string value;
  ASSIGN_OR_RETURN(bool found, ReadOptional(*snapshot, Table::kOwnerships,
                                            OwnershipKey(request.customer_id(),
                                                         request.department()),
                                            &value));
  const std::string what =
      OwnershipWhat(request.customer_id(), request.department());
  if (!found) return absl::NotFoundError(absl::StrCat(what, " does not exist"));
  v1::Ownership record;
  RETURN_IF_ERROR(Parse(value, what, &record));
  return record;
}

absl::StatusOr<v1::ListOwnershipsResponse> OwnershipBook::ListOwnerships(
    const v1::ListOwnershipsRequest& request) const {
  FieldErrors errors;
  const std::string& department = request.department();
  CheckName("department", department, true, rules::CheckDepartmentId, &errors);
  CheckName("team", request.team(), false, rules::CheckTeamId, &errors);
  CheckName("rep", request.rep(), false, rules::CheckRepId, &errors);
  const int state = request.state();
  if (!v1::Ownership::State_IsValid(state)) {
    errors.Add("state", "is not a valid ownership state");
  }
  CheckName("segment", request.segment(), false, rules::CheckSegmentName,
            &errors);
  const int32_t page_size =
      CheckPageSize("page_size", request.page_size(), kDefaultOwnershipPageSize,
                    kMaxOwnershipPageSize, &errors);
  const std::string scope = KeyBuilder()
                                .AddString(kListOwnershipsScope)
                                .AddString(department)
                                .AddString(request.team())
                                .AddString(request.rep())
                                .AddInt64(state)
                                .AddString(request.segment())
                                .Build();
  const bool filtered = !request.rep().empty() || !request.team().empty() ||
                        state != v1::Ownership::STATE_UNSPECIFIED ||
                        !request.segment().empty();
  // A page of the department listing resumes after a customer; a page of a
  // join at or after one (JoinPosition).
  std::optional<std::string> resume_after;
  std::optional<JoinPosition> resume;
  if (!request.page_token().empty()) {
    std::optional<std::string> position =
        DecodePageToken("page_token", scope, request.page_token(), &errors);
    if (position.has_value() && !filtered) {
      resume_after = std::move(position);
    } else if (position.has_value()) {
      resume = JoinPosition::Decode(*position);
      if (!resume.has_value()) {
        errors.Add("page_token", "is not a page token of this listing");
      }
    }
  }
  RETURN_IF_ERROR(errors.ToStatus());

  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());

  // One index range per filter given.
  std::vector<std::string> prefixes;
  if (!request.rep().empty()) {
    prefixes.push_back(ByRepPrefix(department, request.rep()));
  }
  if (!request.team().empty()) {
    prefixes.push_back(ByTeamPrefix(department, request.team()));
  }
  if (state != v1::Ownership::STATE_UNSPECIFIED) {
    prefixes.push_back(ByStatePrefix(department, state));
  }
  if (!request.segment().empty()) {
    prefixes.push_back(BySegmentPrefix(department, request.segment()));
  }
  // No filter but the department: every ownership record, in customer
  // order, skipping the other departments' records (no index holds a
  // department's ownerships alone).
  if (!filtered) {
    return ListDepartment(*snapshot, department, scope, page_size, resume_after,
                          options_.max_examined_per_page);
  }

  // A leapfrog join. Each range's entries end in the customer id, in
  // customer order, so the ownerships matching every filter are the
  // customers in all ranges. Each round either finds every range at one
  // customer (a match) or moves the ranges that are behind to the furthest
  // customer any range is at: every customer before that one is missing from
  // some range. A round is one examination (max_examined_per_page).
  std::vector<std::unique_ptr<storage::ScanIterator>> ranges;
  for (const std::string& prefix : prefixes) {
    storage::ScanOptions scan_options;
    if (resume.has_value() && !resume->at) {
      scan_options.start_after = IndexEntry(prefix, resume->customer);
    }
    ranges.push_back(snapshot->Scan(Table::kIndexes, prefix, scan_options));
    if (resume.has_value() && resume->at) {
      ranges.back()->Seek(IndexEntry(prefix, resume->customer));
    }
  }
  v1::ListOwnershipsResponse response;
  std::vector<std::string> at(ranges.size());  // each range's customer
  std::string last_returned;
  std::optional<JoinPosition> next;
  int64_t examined = 0;
  for (;;) {
    bool ended = false;
    for (size_t i = 0; i < ranges.size(); ++i) {
      if (!ranges[i]->Valid()) {
        RETURN_IF_ERROR(ranges[i]->status());
        ended = true;
        break;
      }
      ASSIGN_OR_RETURN(at[i], CustomerOfEntry(ranges[i]->key(), prefixes[i]));
    }
    if (ended) break;
    const auto [nearest, furthest] = std::minmax_element(at.begin(), at.end());
    if (examined == options_.max_examined_per_page) {
      // Cut short: every customer before the nearest range's is decided.
      next = JoinPosition{*nearest, /*at=*/true};
      break;
    }
    ++examined;
    const std::string target = *furthest;
    if (*nearest != target) {
      for (size_t i = 0; i < ranges.size(); ++i) {
        if (at[i] != target) ranges[i]->Seek(IndexEntry(prefixes[i], target));
      }
      continue;
    }
    std::string value;
    ASSIGN_OR_RETURN(bool found,
                     ReadOptional(*snapshot, Table::kOwnerships,
                                  OwnershipKey(target, department), &value));
    const std::string what = OwnershipWhat(target, department);
    if (!found) {
      return absl::DataLossError(
          absl::StrCat("an index names ", what, ", which does not exist"));
    }
    v1::Ownership record;
    RETURN_IF_ERROR(Parse(value, what, &record));
    // The indexes move with the record in one commit; a record that
    // disagrees with them is skipped rather than returned.
    const bool match =
        (request.rep().empty() || record.rep() == request.rep()) &&
        (request.team().empty() || record.team() == request.team()) &&
        (state == v1::Ownership::STATE_UNSPECIFIED || record.state() == state);
    if (match) {
      if (response.ownerships_size() == page_size) {
        // One beyond the page: there is a next page.
        next = JoinPosition{last_returned, /*at=*/false};
        break;
      }
      *response.add_ownerships() = std::move(record);
      last_returned = target;
    }
    for (std::unique_ptr<storage::ScanIterator>& range : ranges) {
      range->Next();
    }
  }
  if (next.has_value()) {
    response.set_next_page_token(EncodePageToken(scope, next->Encode()));
  }
  return response;
}

absl::StatusOr<v1::ListOwnershipEventsResponse>
OwnershipBook::ListOwnershipEvents(
    const v1::ListOwnershipEventsRequest& request) const {
  FieldErrors errors;
  const std::string& customer = request.customer_id();
  CheckName("customer_id", customer, true, rules::CheckCustomerId, &errors);
  CheckName("department", request.department(), false, rules::CheckDepartmentId,
            &errors);
  int64_t as_of_us = 0;
  if (request.has_as_of()) {
    const google::protobuf::Timestamp& t = request.as_of();
    if (t.seconds() < TimeUtil::kTimestampMinSeconds ||
        t.seconds() > TimeUtil::kTimestampMaxSeconds || t.nanos() < 0 ||
        t.nanos() > 999999999) {
      errors.Add("as_of",
                 "must be a valid timestamp (0001-01-01 to 9999-12-31)");
    } else {
      as_of_us = TimeUtil::TimestampToMicroseconds(t);
    }
  }
  const int32_t page_size =
      CheckPageSize("page_size", request.page_size(), kDefaultOwnershipPageSize,
                    kMaxOwnershipPageSize, &errors);
  const std::string scope = KeyBuilder()
                                .AddString(kListEventsScope)
                                .AddString(customer)
                                .AddString(request.department())
                                .AddInt64(request.has_as_of() ? 1 : 0)
                                .AddInt64(as_of_us)
                                .Build();
  int64_t after = 0;
  if (!request.page_token().empty()) {
    std::optional<std::string> position =
        DecodePageToken("page_token", scope, request.page_token(), &errors);
    if (position.has_value() &&
        (!absl::SimpleAtoi(*position, &after) || after < 0)) {
      errors.Add("page_token", "is not a page token of this listing");
    }
  }
  RETURN_IF_ERROR(errors.ToStatus());

  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  ASSIGN_OR_RETURN(std::vector<std::string> departments,
                   DepartmentsOf(*snapshot, customer));
  if (departments.empty()) {
    std::string ignored;
    ASSIGN_OR_RETURN(bool exists,
                     ReadOptional(*snapshot, Table::kCustomers,
                                  CustomerKey(customer), &ignored));
    if (!exists) {
      return absl::NotFoundError(
          absl::StrCat("customer ", rules::Quote(customer), " does not exist"));
    }
  }
  if (!request.department().empty()) {
    const bool has = std::find(departments.begin(), departments.end(),
                               request.department()) != departments.end();
    departments.clear();
    if (has) departments.push_back(request.department());
  }

  // The sequences to return (at most page_size + 1, ascending).
  std::vector<int64_t> sequences;
  if (request.has_as_of()) {
    const absl::Time as_of = absl::FromUnixMicros(as_of_us);
    for (const std::string& department : departments) {
      const std::string prefix = HistPrefix(customer, department);
      std::unique_ptr<storage::ScanIterator> it =
          snapshot->Scan(Table::kIndexes, prefix);
      int64_t in_force = 0;
      for (; it->Valid(); it->Next()) {
        ASSIGN_OR_RETURN(HistEntry entry,
                         ParseHist(it->key(), it->value(), prefix));
        if (entry.time <= as_of) in_force = entry.sequence;
      }
      RETURN_IF_ERROR(it->status());
      if (in_force > after) sequences.push_back(in_force);
    }
    std::sort(sequences.begin(), sequences.end());
    if (sequences.size() > static_cast<size_t>(page_size) + 1) {
      sequences.resize(static_cast<size_t>(page_size) + 1);
    }
  } else {
    // Merge the departments' histories by sequence.
    struct Cursor {
      std::string prefix;
      std::unique_ptr<storage::ScanIterator> it;
      int64_t sequence = 0;
    };
    std::vector<Cursor> cursors;
    auto load = [](Cursor& c) -> absl::Status {
      if (!c.it->Valid()) return c.it->status();
      ASSIGN_OR_RETURN(HistEntry entry,
                       ParseHist(c.it->key(), c.it->value(), c.prefix));
      c.sequence = entry.sequence;
      return absl::OkStatus();
    };
    for (const std::string& department : departments) {
      Cursor c;
      c.prefix = HistPrefix(customer, department);
      storage::ScanOptions options;
      options.start_after = HistKey(customer, department, after);
      c.it = snapshot->Scan(Table::kIndexes, c.prefix, options);
      RETURN_IF_ERROR(load(c));
      cursors.push_back(std::move(c));
    }
    while (sequences.size() < static_cast<size_t>(page_size) + 1) {
      Cursor* next = nullptr;
      for (Cursor& c : cursors) {
        if (c.it->Valid() && (next == nullptr || c.sequence < next->sequence)) {
          next = &c;
        }
      }
      if (next == nullptr) break;
      sequences.push_back(next->sequence);
      next->it->Next();
      RETURN_IF_ERROR(load(*next));
    }
  }

  v1::ListOwnershipEventsResponse response;
  const bool more = sequences.size() > static_cast<size_t>(page_size);
  if (more) sequences.resize(static_cast<size_t>(page_size));
  for (int64_t sequence : sequences) {
    std::string value;
    ASSIGN_OR_RETURN(bool found, ReadOptional(*snapshot, Table::kEvents,
                                              EventKey(sequence), &value));
    const std::string what = absl::StrCat("ownership event ", sequence);
    if (!found) {
      return absl::DataLossError(absl::StrCat("the history of customer ",
                                              rules::Quote(customer), " names ",
                                              what, ", which does not exist"));
    }
    RETURN_IF_ERROR(Parse(value, what, response.add_events()));
  }
  if (more) {
    response.set_next_page_token(
        EncodePageToken(scope, absl::StrCat(sequences.back())));
  }
  return response;
}

absl::StatusOr<storage::v1::CustomerRecord> OwnershipBook::GetCustomer(
    const v1::GetCustomerRequest& request) const {
  FieldErrors errors;
  CheckName("customer_id", request.customer_id(), true, rules::CheckCustomerId,
            &errors);
  RETURN_IF_ERROR(errors.ToStatus());
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  std::string value;
  ASSIGN_OR_RETURN(bool found,
                   ReadOptional(*snapshot, Table::kCustomers,
                                CustomerKey(request.customer_id()), &value));
  const std::string what =
      absl::StrCat("customer ", rules::Quote(request.customer_id()));
  if (!found) return absl::NotFoundError(absl::StrCat(what, " does not exist"));
  storage::v1::CustomerRecord record;
  RETURN_IF_ERROR(Parse(value, absl::StrCat("the record of ", what), &record));
  return record;
}

absl::StatusOr<int64_t> OwnershipBook::ReadCounter(
    absl::string_view key) const {
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  return snapshot->GetCounter(key);
}

}  // namespace custodian::server
