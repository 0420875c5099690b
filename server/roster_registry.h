// The roster: ApplyRoster, GetRoster, SetRepStatus, independent of gRPC.
//
// The roster is one record (storage::v1::RosterRecord) in Table::kRoster,
// with a version (1 on the first change, +1 per change) and an etag. Every
// change is one transaction: the record, the rep status history entries and
// the idempotency record commit together. Key layout: storage/README.md
// "Domain keys".
//
// Serialization with rulesets: Apply and SetRepStatus lock (GetForUpdate)
// both the roster record and the active-ruleset pointer, and activation
// (ruleset_registry.h) locks both too, so a roster change and an activation
// never both commit against a state the other has changed: the later one
// re-runs its check against the earlier one's result.
//
// Rep status history: every change of a rep's status (by SetRepStatus, or
// by ApplyRoster, including reps the file no longer names becoming LEFT) is
// appended under ("rep_status", rep, roster version) as a
// custodian.v1.RosterChange {kind MODIFIED, resource "reps/<id>", changes:
// status (before -> after, lower-case), reason, actor, time (RFC 3339)}.
// Nothing in the API reads it yet.
//
// Thread-safe: all methods may be called concurrently.
#ifndef CUSTODIAN_SERVER_ROSTER_REGISTRY_H_
#define CUSTODIAN_SERVER_ROSTER_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/clock.h"
#include "custodian/storage/v1/records.pb.h"
#include "custodian/v1/roster_service.pb.h"
#include "server/audit_log.h"
#include "server/idempotency.h"
#include "storage/store.h"

namespace custodian::server {

// Method names under which idempotency records are kept.
inline constexpr absl::string_view kApplyRosterMethod =
    "custodian.v1.RosterService/ApplyRoster";
inline constexpr absl::string_view kSetRepStatusMethod =
    "custodian.v1.RosterService/SetRepStatus";
// The name diagnostics report for roster text when the request gives none,
// and for a roster sent in proto form.
inline constexpr absl::string_view kRosterDefaultFileName = "roster.yaml";
inline constexpr absl::string_view kProtoSourceFileName = "<request>";

// Keys in Table::kRoster.
// ("roster") -> storage::v1::RosterRecord.
std::string RosterRecordKey();
// ("roster_version") -> the record's version as 8 bytes (EncodeCounter),
// written in the same commit as every version of the record, so that a hot
// path can tell whether its parsed copy is current without reading the
// whole record. Stores written before it existed lack it until the next
// roster change.
std::string RosterVersionKey();
// ("rep_status", rep, version) -> custodian.v1.RosterChange; the prefix
// without the version lists one rep's history, oldest first.
std::string RepStatusHistoryKey(absl::string_view rep, int64_t version);
std::string RepStatusHistoryPrefix(absl::string_view rep);

// The roster etag of `version` (opaque; "" for version 0).
std::string RosterEtag(int64_t version);

// Reads the roster record with GetForUpdate (locking it until `txn` ends).
// nullopt when no roster was ever applied; DATA_LOSS when it does not parse;
// the store's errors.
absl::StatusOr<std::optional<storage::v1::RosterRecord>> ReadRosterForUpdate(
    storage::Transaction& txn);

class RosterRegistry {
 public:
  struct Options {
    // Where the roster lives. Required; must outlive the registry.
    storage::Store* store = nullptr;
    // Time of changes and idempotency records. Default: the real clock.
    Clock* clock = Clock::Real();
    // Request-id window.
    IdempotencyOptions idempotency;
  };

  // Returns INVALID_ARGUMENT naming a bad option (no store, no clock, bad
  // idempotency window).
  static absl::StatusOr<std::unique_ptr<RosterRegistry>> Create(
      Options options);

  // ApplyRoster by `actor`. Makes the roster what the file says
  // (rules::ComputeRosterApply: reps the file no longer names become LEFT,
  // never dropped) and returns every change. Errors, nothing written:
  //   INVALID_ARGUMENT  a bad request field (source missing, source_text over
  //                     4 MiB, file_name, request_id missing unless dry_run or
  //                     malformed, etag malformed, actor), with a BadRequest
  //                     naming every bad field; or a roster that does not
  //                     validate, with a BadRequest listing every error
  //                     ("source_text:LINE:COL path" / "roster.path");
  //                     or a request_id already used for another request;
  //   ABORTED           `etag` is set and is not the current roster's etag
  //                     (re-read and retry), or the store kept conflicting;
  //   FAILED_PRECONDITION the new roster would break the active ruleset (a
  //                     team, pool, rep or department it names would be
  //                     gone); the message and a PreconditionFailure name
  //                     each broken rule;
  //   UNAVAILABLE / DATA_LOSS from the store.
  // dry_run: the same checks and the same changes, nothing written, no
  // idempotency record (request_id optional). A no-op apply (no changes)
  // writes no new version but its answer is recorded under request_id. A
  // retry with the same request_id within the window returns the first
  // answer and writes nothing.
  absl::StatusOr<v1::ApplyRosterResponse> Apply(
      const v1::ApplyRosterRequest& request, const Actor& actor);

  // GetRoster: the current roster with version, etag, update time and
  // updater; an empty response (version 0) before the first apply. Errors:
  // the store's.
  absl::StatusOr<v1::GetRosterResponse> Get() const;

  // SetRepStatus by `actor`. Sets one rep's status with a reason and bumps
  // the roster version; the rep's team memberships are kept (a LEFT or AWAY
  // member is simply not eligible, and rules::RulesBrokenByRoster does not
  // count such a member as broken, so a status change never breaks the
  // active ruleset; the check still runs, under the same locks as Apply).
  // Setting the status the rep already has changes nothing (same version)
  // but is recorded under request_id. Errors, nothing written:
  //   INVALID_ARGUMENT  rep missing or malformed, status unset or unknown,
  //                     reason missing or malformed, request_id missing or
  //                     malformed or reused for another request, actor;
  //   NOT_FOUND         the rep is not in the roster (message names it);
  //   FAILED_PRECONDITION the change would break the active ruleset;
  //   ABORTED / UNAVAILABLE / DATA_LOSS from the store.
  absl::StatusOr<v1::SetRepStatusResponse> SetRepStatus(
      const v1::SetRepStatusRequest& request, const Actor& actor);

 private:
  explicit RosterRegistry(Options options)
      : options_(options), idempotency_(options.idempotency) {}

  Options options_;
  Idempotency idempotency_;
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_ROSTER_REGISTRY_H_
