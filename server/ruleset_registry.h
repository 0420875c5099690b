// Ruleset versions: validate, publish as immutable numbered versions,
// activate (rollback = activating an older version), list and diff,
// independent of gRPC. Also holds the compiled active ruleset in memory for
// evaluation.
//
// Storage (Table::kRulesets; storage/README.md "Domain keys"):
//   ("latest")             -> 8-byte big-endian int64: the last version number
//   ("version", v)         -> custodian.v1.RulesetVersion, complete, as
//                             published (active/activations not stored)
//   ("summary", v)         -> the same without ruleset and source_text (for
//                             listing)
//   ("active")             -> storage::v1::ActiveRulesetRecord
//   ("activation", n)      -> custodian.v1.Activation, n = 1, 2, ...
// Versions are immutable once written. A version number is allocated in the
// transaction that stores the version, under a lock on ("latest"), so
// numbers are dense (1..latest) and an invalid ruleset consumes none.
//
// Activation locks the active pointer and the roster record; ApplyRoster
// (roster_registry.h) locks both too, so the two serialize.
//
// Thread-safe: all methods may be called concurrently.
#ifndef CUSTODIAN_SERVER_RULESET_REGISTRY_H_
#define CUSTODIAN_SERVER_RULESET_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "custodian/storage/v1/records.pb.h"
#include "custodian/v1/ruleset_service.pb.h"
#include "rules/compiled_ruleset.h"
#include "rules/roster_apply.h"
#include "server/audit_log.h"
#include "server/idempotency.h"
#include "storage/store.h"

namespace custodian::server {

// Method names under which idempotency records are kept.
inline constexpr absl::string_view kCreateRulesetVersionMethod =
    "custodian.v1.RulesetService/CreateRulesetVersion";
inline constexpr absl::string_view kActivateRulesetMethod =
    "custodian.v1.RulesetService/ActivateRuleset";
// The name diagnostics report for ruleset text when the request gives none.
inline constexpr absl::string_view kRulesetDefaultFileName = "ruleset.yaml";
// ListRulesetVersions page sizes.
inline constexpr int32_t kDefaultRulesetPageSize = 50;
inline constexpr int32_t kMaxRulesetPageSize = 1000;

// Keys in Table::kRulesets (see above).
std::string LatestRulesetVersionKey();
std::string RulesetVersionKey(int64_t version);
std::string RulesetSummaryKey(int64_t version);
std::string ActiveRulesetKey();
std::string ActivationKey(int64_t activation);

// The activation etag after `activation_count` activations whose last
// activated `version` (opaque; also defined for 0 activations, so the first
// ActivateRuleset has an etag to present).
std::string ActivationEtag(int64_t activation_count, int64_t version);

// The active pointer and, if a version is active, that version.
struct ActiveRulesetState {
  // Absent record: version 0, activation_count 0, etag ActivationEtag(0, 0).
  storage::v1::ActiveRulesetRecord record;
  // The active version as stored; nullopt when none is active.
  std::optional<v1::RulesetVersion> version;
};

// Reads the active pointer with GetForUpdate (locking it until `txn` ends)
// and the active version. DATA_LOSS when a record does not parse or the
// active version is missing; the store's errors.
absl::StatusOr<ActiveRulesetState> ReadActiveRulesetForUpdate(
    storage::Transaction& txn);

// FAILED_PRECONDITION for `broken` (not empty): `message`, then each item
// (BrokenRule::ToString, at most 5), with a PreconditionFailure holding
// every item {type "RULESET", subject field_path, description ToString()}.
absl::Status BrokenRulesStatus(absl::string_view message,
                               const std::vector<rules::BrokenRule>& broken);

class RulesetRegistry {
 public:
  struct Options {
    // Where rulesets live. Required; must outlive the registry.
    storage::Store* store = nullptr;
    // Time of versions and activations. Default: the real clock.
    Clock* clock = Clock::Real();
    // Request-id window.
    IdempotencyOptions idempotency;
  };

  // Creates the registry and loads and compiles the active version, if any.
  // INVALID_ARGUMENT naming a bad option; DATA_LOSS if the stored active
  // version is missing, does not parse or does not compile; the store's
  // errors.
  static absl::StatusOr<std::unique_ptr<RulesetRegistry>> Create(
      Options options);

  // ValidateRuleset against the stored roster (an empty roster before the
  // first ApplyRoster). An invalid ruleset is OK with valid = false and its
  // diagnostics. INVALID_ARGUMENT (BadRequest) only for a malformed request:
  // no source, source_text over 4 MiB, bad file_name. Writes nothing.
  absl::StatusOr<v1::ValidateRulesetResponse> Validate(
      const v1::ValidateRulesetRequest& request) const;

  // CreateRulesetVersion by `actor`: validates the text against the current
  // roster (read and locked in the same transaction) and stores it as
  // version latest+1 with the source verbatim, create_time, created_by,
  // file_name and the warnings. Does not activate. Returns the stored
  // version (with its ruleset and source). Errors, nothing written and no
  // version number consumed:
  //   INVALID_ARGUMENT  source_text missing or over 4 MiB, file_name,
  //                     request_id missing/malformed/reused for another
  //                     request, actor (BadRequest naming each); or the
  //                     ruleset does not validate (BadRequest listing every
  //                     error as "source_text:LINE:COL path");
  //   ABORTED / UNAVAILABLE / DATA_LOSS from the store.
  // A retry with the same request_id returns the first answer.
  absl::StatusOr<v1::RulesetVersion> CreateVersion(
      const v1::CreateRulesetVersionRequest& request, const Actor& actor);

  // GetRuleset: `version` (0 = the active one) with `active` and its
  // activations (oldest first); without source_text when omit_source.
  //   INVALID_ARGUMENT  version < 0;
  //   NOT_FOUND         no such version, or version 0 and none is active.
  absl::StatusOr<v1::RulesetVersion> Get(
      const v1::GetRulesetRequest& request) const;

  // ListRulesetVersions: newest first, without ruleset and source_text, with
  // `active` and activations, the active version and the activation etag.
  // page_size 0 = 50, above 1000 clamped; next_page_token empty on the last
  // page. INVALID_ARGUMENT for a negative page_size or a page_token this
  // listing did not issue.
  absl::StatusOr<v1::ListRulesetVersionsResponse> List(
      const v1::ListRulesetVersionsRequest& request) const;

  // ActivateRuleset by `actor`. In one commit: appends an Activation
  // {version, previous_version, activate_time, activated_by, reason} and
  // moves the active pointer with a new etag; then swaps the in-memory
  // compiled ruleset. Activating the version already active records a new
  // activation. Errors, nothing written:
  //   INVALID_ARGUMENT  version < 1, etag missing/malformed, reason over 1024
  //                     bytes or not UTF-8, request_id missing/malformed/
  //                     reused for another request, actor;
  //   NOT_FOUND         no such version;
  //   ABORTED           `etag` is not the current activation etag (re-read
  //                     with List and retry), or the store kept conflicting;
  //   FAILED_PRECONDITION the version no longer validates against the
  //                     current roster; names each broken rule (message and
  //                     PreconditionFailure);
  //   UNAVAILABLE / DATA_LOSS from the store.
  absl::StatusOr<v1::ActivateRulesetResponse> Activate(
      const v1::ActivateRulesetRequest& request, const Actor& actor);

  // DiffRulesets (rules::DiffRulesets) between two stored versions.
  //   INVALID_ARGUMENT  from_version or to_version < 1 (each named);
  //   NOT_FOUND         a version does not exist (named).
  absl::StatusOr<v1::DiffRulesetsResponse> Diff(
      const v1::DiffRulesetsRequest& request) const;

  // The compiled active ruleset, as of the last activation this registry
  // committed or loaded at Create. `ruleset` is null and version 0 when none
  // is active. The pointer stays valid for as long as the caller holds it.
  struct Active {
    int64_t version = 0;
    std::shared_ptr<const rules::CompiledRuleset> ruleset;
  };
  Active ActiveRuleset() const;

 private:
  explicit RulesetRegistry(Options options)
      : options_(options), idempotency_(options.idempotency) {}

  // Installs `active` unless a later activation (by count) is installed.
  void Install(int64_t activation_count, Active active);

  // Reads a stored version (without active/activations) at `snapshot`.
  // NOT_FOUND naming `field` and the version.
  absl::StatusOr<v1::RulesetVersion> ReadVersion(storage::Snapshot& snapshot,
                                                 absl::string_view field,
                                                 int64_t version) const;

  Options options_;
  Idempotency idempotency_;

  mutable absl::Mutex mu_;
  int64_t installed_count_ ABSL_GUARDED_BY(mu_) = -1;
  Active active_ ABSL_GUARDED_BY(mu_);
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_RULESET_REGISTRY_H_
