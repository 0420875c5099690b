#include "storage/store.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "storage/keys.h"

namespace custodian::storage {

absl::string_view TableName(Table table) {
  switch (table) {
    case Table::kMeta:
      return "meta";
    case Table::kCustomers:
      return "customers";
    case Table::kOwnerships:
      return "ownerships";
    case Table::kEvents:
      return "events";
    case Table::kIndexes:
      return "indexes";
    case Table::kCounters:
      return "counters";
    case Table::kIdempotency:
      return "idempotency";
    case Table::kRulesets:
      return "rulesets";
    case Table::kRoster:
      return "roster";
    case Table::kAudit:
      return "audit";
    case Table::kOperations:
      return "operations";
    case Table::kAppeals:
      return "appeals";
    case Table::kReviews:
      return "reviews";
    case Table::kNumTables:
      break;
  }
  return "invalid";
}

absl::StatusOr<int64_t> DecodeCounter(absl::string_view encoded) {
  if (encoded.size() != sizeof(uint64_t)) {
    return absl::DataLossError(absl::StrCat(
        "counter value has ", encoded.size(), " bytes; expected 8"));
  }
  return static_cast<int64_t>(LoadBigEndian64(encoded.data()));
}

std::string EncodeCounter(int64_t value) {
  std::string out;
  AppendBigEndian64(&out, static_cast<uint64_t>(value));
  return out;
}

absl::Status RunInTransaction(Store& store, const TxnOptions& options,
                              absl::FunctionRef<absl::Status(Transaction&)> fn,
                              int max_attempts) {
  absl::Status last = absl::AbortedError("RunInTransaction: no attempt made");
  for (int attempt = 1; attempt <= max_attempts; ++attempt) {
    absl::StatusOr<std::unique_ptr<Transaction>> txn = store.Begin(options);
    if (!txn.ok()) return txn.status();
    absl::Status s = fn(**txn);
    if (s.ok()) s = (*txn)->Commit();
    if (s.ok()) return s;
    (*txn)->Rollback();
    if (!absl::IsAborted(s)) return s;
    last = s;
  }
  return absl::AbortedError(absl::StrCat("transaction aborted ", max_attempts,
                                         " times; last: ", last.message()));
}

}  // namespace custodian::storage
