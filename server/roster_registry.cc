#include "server/roster_registry.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "custodian/v1/diff.pb.h"
#include "google/protobuf/util/time_util.h"
#include "rules/check.h"
#include "rules/names.h"
#include "rules/roster_apply.h"
#include "rules/validator.h"
#include "server/request_checks.h"
#include "server/ruleset_registry.h"
#include "storage/keys.h"

namespace custodian::server {
namespace {

using ::google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

std::string StatusName(v1::RepStatus status) {
  return absl::AsciiStrToLower(v1::RepStatus_Name(status));
}

// Stages one rep status history entry.
absl::Status AppendStatusHistory(storage::Transaction& txn,
                                 absl::string_view rep, int64_t version,
                                 v1::RepStatus before, v1::RepStatus after,
                                 absl::string_view reason,
                                 absl::string_view actor, absl::Time now) {
  v1::RosterChange entry;
  entry.set_kind(v1::MODIFIED);
  entry.set_resource(absl::StrCat("reps/", rep));
  v1::ValueChange* status = entry.add_changes();
  status->set_field("status");
  status->set_before(StatusName(before));
  status->set_after(StatusName(after));
  v1::ValueChange* why = entry.add_changes();
  why->set_field("reason");
  why->set_after(std::string(reason));
  v1::ValueChange* who = entry.add_changes();
  who->set_field("actor");
  who->set_after(std::string(actor));
  v1::ValueChange* when = entry.add_changes();
  when->set_field("time");
  when->set_after(
      absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", now, absl::UTCTimeZone()));
  return txn.Put(storage::Table::kRoster, RepStatusHistoryKey(rep, version),
                 SerializeDeterministic(entry));
}

// Stages `roster` as the next version of the roster record.
absl::Status WriteRoster(storage::Transaction& txn,
                         const storage::v1::RosterRecord& current,
                         v1::Roster roster, absl::string_view actor,
                         absl::Time now, storage::v1::RosterRecord* written) {
  storage::v1::RosterRecord record;
  *record.mutable_roster() = std::move(roster);
  record.set_version(current.version() + 1);
  record.set_etag(RosterEtag(record.version()));
  *record.mutable_update_time() = ToProto(now);
  record.set_updated_by(std::string(actor));
  RETURN_IF_ERROR(txn.Put(storage::Table::kRoster, RosterRecordKey(),
                          SerializeDeterministic(record)));
  // Only a holder of the record's lock writes the version key.
  RETURN_IF_ERROR(txn.PutUnlocked(storage::Table::kRoster, RosterVersionKey(),
                                  storage::EncodeCounter(record.version())));
  *written = std::move(record);
  return absl::OkStatus();
}

// FAILED_PRECONDITION if `roster` breaks the active ruleset.
absl::Status CheckActiveRuleset(const ActiveRulesetState& active,
                                const v1::Roster& roster) {
  if (!active.version.has_value()) return absl::OkStatus();
  std::vector<rules::BrokenRule> broken =
      rules::RulesBrokenByRoster(active.version->ruleset(), roster);
  if (broken.empty()) return absl::OkStatus();
  return BrokenRulesStatus(
      absl::StrCat("the roster would break active ruleset version ",
                   active.record.version(), " (", broken.size(),
                   broken.size() == 1 ? " problem)" : " problems)"),
      broken);
}

template <typename Response>
absl::Status ParseFirstAnswer(const std::string& bytes, Response* response) {
  if (!response->ParseFromString(bytes)) {
    return absl::DataLossError("stored first answer does not parse");
  }
  return absl::OkStatus();
}

}  // namespace

std::string RosterRecordKey() {
  return storage::KeyBuilder().AddString("roster").Build();
}

std::string RosterVersionKey() {
  return storage::KeyBuilder().AddString("roster_version").Build();
}

std::string RepStatusHistoryPrefix(absl::string_view rep) {
  return storage::KeyBuilder().AddString("rep_status").AddString(rep).Build();
}

std::string RepStatusHistoryKey(absl::string_view rep, int64_t version) {
  return storage::KeyBuilder(RepStatusHistoryPrefix(rep))
      .AddInt64(version)
      .Build();
}

std::string RosterEtag(int64_t version) {
  if (version == 0) return "";
  return Sha256Hex(absl::StrCat("custodian.roster/", version), 8);
}

absl::StatusOr<std::optional<storage::v1::RosterRecord>> ReadRosterForUpdate(
    storage::Transaction& txn) {
  std::string value;
  absl::Status s =
      txn.GetForUpdate(storage::Table::kRoster, RosterRecordKey(), &value);
  if (absl::IsNotFound(s)) return std::nullopt;
  RETURN_IF_ERROR(s);
  storage::v1::RosterRecord record;
  if (!record.ParseFromString(value)) {
    return absl::DataLossError("the stored roster record does not parse");
  }
  return record;
}

absl::StatusOr<std::unique_ptr<RosterRegistry>> RosterRegistry::Create(
    Options options) {
  if (options.store == nullptr) {
    return absl::InvalidArgumentError("options.store: is required");
  }
  if (options.clock == nullptr) {
    return absl::InvalidArgumentError("options.clock: is required");
  }
  RETURN_IF_ERROR(ValidateIdempotencyOptions(options.idempotency));
  return std::unique_ptr<RosterRegistry>(new RosterRegistry(options));
}

absl::StatusOr<v1::ApplyRosterResponse> RosterRegistry::Apply(
    const v1::ApplyRosterRequest& request, const Actor& actor) {
  FieldErrors errors;
  switch (request.source_case()) {
    case v1::ApplyRosterRequest::kSourceText:
      CheckSourceText("source_text", request.source_text(), true, &errors);
      break;
    case v1::ApplyRosterRequest::kRoster:
      break;
    default:
      errors.Add("source", "is required: set source_text or roster");
  }
  CheckFileName("file_name", request.file_name(), &errors);
  CheckRequestId("request_id", request.request_id(), !request.dry_run(),
                 &errors);
  CheckEtag("etag", request.etag(), false, &errors);
  CheckActor(actor, &errors);
  RETURN_IF_ERROR(errors.ToStatus());

  const bool from_text =
      request.source_case() == v1::ApplyRosterRequest::kSourceText;
  std::unique_ptr<rules::RosterCheck> check;
  if (from_text) {
    check = rules::CheckRosterText(request.source_text(),
                                   request.file_name().empty()
                                       ? std::string(kRosterDefaultFileName)
                                       : request.file_name());
  } else {
    check =
        std::make_unique<rules::RosterCheck>(std::string(kProtoSourceFileName));
    check->roster = request.roster();
    rules::ApplyRosterDefaults(&check->roster);
    rules::ValidateRoster(check->roster, &check->diagnostics);
  }
  if (!check->valid()) {
    return DiagnosticsToStatus(from_text ? "source_text" : "roster",
                               "the roster", check->diagnostics);
  }

  const std::string fingerprint =
      request.dry_run() ? std::string() : RequestFingerprint(request);
  v1::ApplyRosterResponse response;
  absl::Status refused;
  RETURN_IF_ERROR(storage::RunInTransaction(
      *options_.store, [&](storage::Transaction& txn) -> absl::Status {
        response.Clear();
        refused = absl::OkStatus();
        const absl::Time now = options_.clock->Now();
        if (!request.dry_run()) {
          ASSIGN_OR_RETURN(
              std::optional<std::string> first,
              idempotency_.Lookup(txn, kApplyRosterMethod, request.request_id(),
                                  fingerprint, now));
          if (first.has_value()) return ParseFirstAnswer(*first, &response);
        }
        ASSIGN_OR_RETURN(std::optional<storage::v1::RosterRecord> stored,
                         ReadRosterForUpdate(txn));
        ASSIGN_OR_RETURN(ActiveRulesetState active,
                         ReadActiveRulesetForUpdate(txn));
        const storage::v1::RosterRecord current =
            stored.value_or(storage::v1::RosterRecord());
        if (!request.etag().empty() && request.etag() != current.etag()) {
          // Not ABORTED from here: RunInTransaction would retry it.
          refused = absl::AbortedError(
              absl::StrCat("etag: \"", request.etag(),
                           "\" is not the current roster etag; re-read the "
                           "roster and retry"));
          return absl::OkStatus();
        }
        rules::RosterApplyResult result =
            rules::ComputeRosterApply(current.roster(), check->roster);
        if (!result.changes.empty()) {
          RETURN_IF_ERROR(CheckActiveRuleset(active, result.roster));
        }
        response.set_dry_run(request.dry_run());
        for (v1::RosterChange& change : result.changes) {
          *response.add_changes() = std::move(change);
        }
        for (const rules::Diagnostic& d : check->diagnostics.Sorted()) {
          if (d.severity == rules::Diagnostic::Severity::kWarning) {
            d.ToProto(response.add_diagnostics());
          }
        }
        if (request.dry_run() || response.changes().empty()) {
          response.set_version(current.version());
          response.set_etag(current.etag());
        } else {
          absl::flat_hash_map<std::string, v1::RepStatus> before;
          for (const v1::Rep& rep : current.roster().reps()) {
            before[rep.id()] = rep.status();
          }
          storage::v1::RosterRecord written;
          RETURN_IF_ERROR(WriteRoster(txn, current, std::move(result.roster),
                                      actor, now, &written));
          const std::string reason =
              absl::StrCat("roster applied (version ", written.version(), ")");
          for (const v1::Rep& rep : written.roster().reps()) {
            auto it = before.find(rep.id());
            if (it == before.end() || it->second == rep.status()) continue;
            RETURN_IF_ERROR(AppendStatusHistory(
                txn, rep.id(), written.version(), it->second, rep.status(),
                reason, actor, now));
          }
          response.set_version(written.version());
          response.set_etag(written.etag());
        }
        if (request.dry_run()) return absl::OkStatus();
        RETURN_IF_ERROR(StageAuditRecord(
            txn, actor, kApplyRosterMethod, request.request_id(), {"roster"},
            absl::StrCat("OK: ", response.changes_size(),
                         " change(s); roster version ", response.version()),
            now));
        return idempotency_.Record(txn, kApplyRosterMethod,
                                   request.request_id(), fingerprint,
                                   SerializeDeterministic(response), now);
      }));
  RETURN_IF_ERROR(refused);
  return response;
}

absl::StatusOr<v1::GetRosterResponse> RosterRegistry::Get() const {
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  std::string value;
  absl::Status s =
      snapshot->Get(storage::Table::kRoster, RosterRecordKey(), &value);
  v1::GetRosterResponse response;
  if (absl::IsNotFound(s)) return response;
  RETURN_IF_ERROR(s);
  storage::v1::RosterRecord record;
  if (!record.ParseFromString(value)) {
    return absl::DataLossError("the stored roster record does not parse");
  }
  *response.mutable_roster() = std::move(*record.mutable_roster());
  response.set_version(record.version());
  response.set_etag(record.etag());
  *response.mutable_update_time() = record.update_time();
  response.set_updated_by(record.updated_by());
  return response;
}

absl::StatusOr<v1::SetRepStatusResponse> RosterRegistry::SetRepStatus(
    const v1::SetRepStatusRequest& request, const Actor& actor) {
  FieldErrors errors;
  if (request.rep().empty()) {
    errors.Add("rep", "is required");
  } else if (std::string problem = rules::CheckRepId(request.rep());
             !problem.empty()) {
    errors.Add("rep", problem);
  }
  if (request.status() == v1::REP_STATUS_UNSPECIFIED) {
    errors.Add("status", "is required: active, away or left");
  } else if (!v1::RepStatus_IsValid(request.status())) {
    errors.Add("status", absl::StrCat("unknown value ", request.status(),
                                      ": must be active, away or left"));
  }
  CheckReason("reason", request.reason(), true, &errors);
  CheckRequestId("request_id", request.request_id(), true, &errors);
  CheckActor(actor, &errors);
  RETURN_IF_ERROR(errors.ToStatus());

  const std::string fingerprint = RequestFingerprint(request);
  v1::SetRepStatusResponse response;
  RETURN_IF_ERROR(storage::RunInTransaction(
      *options_.store, [&](storage::Transaction& txn) -> absl::Status {
        response.Clear();
        const absl::Time now = options_.clock->Now();
        ASSIGN_OR_RETURN(
            std::optional<std::string> first,
            idempotency_.Lookup(txn, kSetRepStatusMethod, request.request_id(),
                                fingerprint, now));
        if (first.has_value()) return ParseFirstAnswer(*first, &response);
        ASSIGN_OR_RETURN(std::optional<storage::v1::RosterRecord> stored,
                         ReadRosterForUpdate(txn));
        ASSIGN_OR_RETURN(ActiveRulesetState active,
                         ReadActiveRulesetForUpdate(txn));
        const storage::v1::RosterRecord current =
            stored.value_or(storage::v1::RosterRecord());
        int index = -1;
        for (int i = 0; i < current.roster().reps_size(); ++i) {
          if (current.roster().reps(i).id() == request.rep()) index = i;
        }
        if (index < 0) {
          return absl::NotFoundError(absl::StrCat("rep: \"", request.rep(),
                                                  "\" is not in the roster"));
        }
        const v1::RepStatus previous = current.roster().reps(index).status();
        response.set_previous_status(previous);
        if (previous == request.status()) {
          *response.mutable_rep() = current.roster().reps(index);
          response.set_version(current.version());
        } else {
          v1::Roster roster = current.roster();
          roster.mutable_reps(index)->set_status(request.status());
          RETURN_IF_ERROR(CheckActiveRuleset(active, roster));
          storage::v1::RosterRecord written;
          RETURN_IF_ERROR(WriteRoster(txn, current, std::move(roster), actor,
                                      now, &written));
          RETURN_IF_ERROR(AppendStatusHistory(
              txn, request.rep(), written.version(), previous, request.status(),
              request.reason(), actor, now));
          *response.mutable_rep() = written.roster().reps(index);
          response.set_version(written.version());
        }
        RETURN_IF_ERROR(StageAuditRecord(
            txn, actor, kSetRepStatusMethod, request.request_id(),
            {"roster", absl::StrCat("reps/", request.rep())},
            absl::StrCat("OK: ", v1::RepStatus_Name(previous), " -> ",
                         v1::RepStatus_Name(request.status()),
                         "; roster version ", response.version()),
            now));
        return idempotency_.Record(txn, kSetRepStatusMethod,
                                   request.request_id(), fingerprint,
                                   SerializeDeterministic(response), now);
      }));
  return response;
}

}  // namespace custodian::server
