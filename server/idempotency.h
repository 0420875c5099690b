// AIP-155 request ids: a mutation's first successful answer is stored in the
// same commit as the change, so a retry with the same request_id returns that
// answer, byte for byte, and changes nothing.
//
// Use, inside the mutation's transaction:
//   ASSIGN_OR_RETURN(std::optional<std::string> first,
//                    idem.Lookup(txn, kMethod, req.request_id(), fp));
//   if (first) return ParseResponse(*first);        // a retry
//   ... make the change ...
//   RETURN_IF_ERROR(idem.Record(txn, kMethod, req.request_id(), fp, bytes));
//
// Only successful answers are recorded: a failed mutation changes nothing,
// so a retry of it is evaluated afresh.
//
// Records live in Table::kIdempotency (storage/README.md "Domain keys"):
//   ("req", method, request_id)                  -> IdempotencyRecord
//   ("exp", create_time, method, request_id)     -> "" (expiry index)
// A record expires `window` after its create_time: from then on Lookup
// treats it as absent (a reuse of the id is a new request), and
// SweepExpired deletes it.
//
// Concurrency: Lookup locks the record key (GetForUpdate), so two concurrent
// calls with the same (method, request_id) serialize: the second waits for
// the first's commit, then either reads the first answer (a transaction
// without a snapshot, TxnOptions::snapshot) or aborts (the key changed after
// its snapshot) and its retry reads it. The expiry entry is written without
// a lock (Transaction::PutUnlocked): it names the locked request id.
//
// Thread-safe: an Idempotency object is immutable.
#ifndef CUSTODIAN_SERVER_IDEMPOTENCY_H_
#define CUSTODIAN_SERVER_IDEMPOTENCY_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "storage/store.h"

namespace custodian::server {

struct IdempotencyOptions {
  // How long a first answer is kept and returned to retries. Must be > 0.
  // Default: 24 hours.
  absl::Duration window = absl::Hours(24);
};

// Returns OK, or INVALID_ARGUMENT naming the bad option.
absl::Status ValidateIdempotencyOptions(const IdempotencyOptions& options);

// The deterministic serialization of `message` (map entries sorted), as
// stored in records and idempotency answers.
std::string SerializeDeterministic(const google::protobuf::Message& message);

// The fingerprint of a request: SHA-256 (32 bytes) of its type name and
// deterministic serialization with the string fields named "request_id" and
// "etag" (where the message has them) cleared. The etag is a precondition:
// a retry whose first attempt succeeded carries a stale etag and must still
// get the first answer.
std::string RequestFingerprint(const google::protobuf::Message& request);

class Idempotency {
 public:
  // REQUIRES: ValidateIdempotencyOptions(options).ok().
  explicit Idempotency(IdempotencyOptions options) : options_(options) {}

  // Looks up the first answer of (`method`, `request_id`) as of `now`,
  // locking the record key until `txn` ends. Returns:
  //   the stored response bytes   a previous call with this id succeeded
  //                               less than `window` before `now` with the
  //                               same fingerprint;
  //   nullopt                     no such call, or its record expired;
  //   INVALID_ARGUMENT            the id was used (unexpired) for a request
  //                               with another fingerprint; the message
  //                               names `request_id` and a BadRequest is
  //                               attached;
  //   ABORTED / UNAVAILABLE / DATA_LOSS from the store (DATA_LOSS also for
  //                               a record that does not parse).
  // REQUIRES: !request_id.empty().
  absl::StatusOr<std::optional<std::string>> Lookup(
      storage::Transaction& txn, absl::string_view method,
      absl::string_view request_id, absl::string_view fingerprint,
      absl::Time now) const;

  // Stages the record of a successful answer, created at `now`, in `txn`
  // (overwriting an expired one). Returns the store's errors.
  absl::Status Record(storage::Transaction& txn, absl::string_view method,
                      absl::string_view request_id,
                      absl::string_view fingerprint, absl::string_view response,
                      absl::Time now) const;

  // Deletes up to `max_records` records that expired by `now` (oldest
  // first), each with its index entry, in one transaction. Returns how many
  // index entries were removed (0 when nothing is due); a periodic sweeper
  // calls it until it returns less than `max_records`. Store errors as
  // returned by RunInTransaction. REQUIRES: max_records >= 1.
  absl::StatusOr<size_t> SweepExpired(storage::Store& store, absl::Time now,
                                      size_t max_records) const;

  const IdempotencyOptions& options() const { return options_; }

 private:
  IdempotencyOptions options_;
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_IDEMPOTENCY_H_
