#include "server/ruleset_registry.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "rules/check.h"
#include "rules/ruleset_diff.h"
#include "server/request_checks.h"
#include "server/roster_registry.h"
#include "storage/keys.h"

namespace custodian::server {
namespace {

using ::google::protobuf::util::TimeUtil;

constexpr absl::string_view kListScope = "ListRulesetVersions";

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

// Reads a key that may be absent: OK and *found, OK and !*found, or error.
template <typename Reader>
absl::Status ReadOptional(Reader& reader, storage::Table table,
                          absl::string_view key, std::string* value,
                          bool* found) {
  absl::Status s = reader.Get(table, key, value);
  *found = s.ok();
  return absl::IsNotFound(s) ? absl::OkStatus() : s;
}

// The active record as stored, or the "nothing activated yet" record.
template <typename Reader>
absl::StatusOr<storage::v1::ActiveRulesetRecord> ReadActiveRecord(
    Reader& reader) {
  std::string value;
  bool found = false;
  RETURN_IF_ERROR(ReadOptional(reader, storage::Table::kRulesets,
                               ActiveRulesetKey(), &value, &found));
  storage::v1::ActiveRulesetRecord record;
  if (found) {
    RETURN_IF_ERROR(Parse(value, "the active ruleset record", &record));
  } else {
    record.set_etag(ActivationEtag(0, 0));
  }
  return record;
}

// Every activation, oldest first, grouped by version.
absl::StatusOr<absl::flat_hash_map<int64_t, std::vector<v1::Activation>>>
ReadActivations(storage::Snapshot& snapshot) {
  absl::flat_hash_map<int64_t, std::vector<v1::Activation>> by_version;
  const std::string prefix =
      storage::KeyBuilder().AddString("activation").Build();
  std::unique_ptr<storage::ScanIterator> it =
      snapshot.Scan(storage::Table::kRulesets, prefix);
  for (; it->Valid(); it->Next()) {
    v1::Activation activation;
    RETURN_IF_ERROR(Parse(it->value(), "an activation record", &activation));
    by_version[activation.version()].push_back(std::move(activation));
  }
  RETURN_IF_ERROR(it->status());
  return by_version;
}

absl::StatusOr<int64_t> ReadLatest(storage::Snapshot& snapshot) {
  std::string value;
  bool found = false;
  RETURN_IF_ERROR(ReadOptional(snapshot, storage::Table::kRulesets,
                               LatestRulesetVersionKey(), &value, &found));
  if (!found) return 0;
  return storage::DecodeCounter(value);
}

}  // namespace

std::string LatestRulesetVersionKey() {
  return storage::KeyBuilder().AddString("latest").Build();
}

std::string RulesetVersionKey(int64_t version) {
  return storage::KeyBuilder().AddString("version").AddInt64(version).Build();
}

std::string RulesetSummaryKey(int64_t version) {
  return storage::KeyBuilder().AddString("summary").AddInt64(version).Build();
}

std::string ActiveRulesetKey() {
  return storage::KeyBuilder().AddString("active").Build();
}

std::string ActivationKey(int64_t activation) {
  return storage::KeyBuilder()
      .AddString("activation")
      .AddInt64(activation)
      .Build();
}

std::string ActivationEtag(int64_t activation_count, int64_t version) {
  return Sha256Hex(
      absl::StrCat("custodian.activation/", activation_count, "/", version), 8);
}

absl::StatusOr<ActiveRulesetState> ReadActiveRulesetForUpdate(
    storage::Transaction& txn) {
  ActiveRulesetState state;
  std::string value;
  absl::Status s =
      txn.GetForUpdate(storage::Table::kRulesets, ActiveRulesetKey(), &value);
  if (absl::IsNotFound(s)) {
    state.record.set_etag(ActivationEtag(0, 0));
    return state;
  }
  RETURN_IF_ERROR(s);
  RETURN_IF_ERROR(Parse(value, "the active ruleset record", &state.record));
  if (state.record.version() == 0) return state;
  // Versions are immutable: a snapshot read is enough.
  s = txn.Get(storage::Table::kRulesets,
              RulesetVersionKey(state.record.version()), &value);
  if (absl::IsNotFound(s)) {
    return absl::DataLossError(absl::StrCat(
        "active ruleset version ", state.record.version(), " is missing"));
  }
  RETURN_IF_ERROR(s);
  state.version.emplace();
  RETURN_IF_ERROR(Parse(value, "the active ruleset version", &*state.version));
  return state;
}

absl::Status BrokenRulesStatus(absl::string_view message,
                               const std::vector<rules::BrokenRule>& broken) {
  google::rpc::PreconditionFailure failure;
  std::string text(message);
  for (size_t i = 0; i < broken.size(); ++i) {
    std::string item = broken[i].ToString();
    if (i < kMaxItemsInMessage) {
      absl::StrAppend(&text, i == 0 ? ": " : "; ", item);
    } else if (i == kMaxItemsInMessage) {
      absl::StrAppend(&text, "; and ", broken.size() - i, " more");
    }
    google::rpc::PreconditionFailure::Violation* v = failure.add_violations();
    v->set_type("RULESET");
    v->set_subject(broken[i].field_path);
    v->set_description(std::move(item));
  }
  return FailedPreconditionWithDetails(text, failure);
}

absl::StatusOr<std::unique_ptr<RulesetRegistry>> RulesetRegistry::Create(
    Options options) {
  if (options.store == nullptr) {
    return absl::InvalidArgumentError("options.store: is required");
  }
  if (options.clock == nullptr) {
    return absl::InvalidArgumentError("options.clock: is required");
  }
  RETURN_IF_ERROR(ValidateIdempotencyOptions(options.idempotency));
  std::unique_ptr<RulesetRegistry> registry(new RulesetRegistry(options));
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options.store->NewSnapshot());
  ASSIGN_OR_RETURN(storage::v1::ActiveRulesetRecord active,
                   ReadActiveRecord(*snapshot));
  Active loaded;
  if (active.version() > 0) {
    absl::StatusOr<v1::RulesetVersion> version =
        registry->ReadVersion(*snapshot, "active", active.version());
    if (!version.ok()) {
      return absl::DataLossError(
          absl::StrCat("active ruleset version ", active.version(),
                       " cannot be read: ", version.status().message()));
    }
    absl::StatusOr<std::unique_ptr<const rules::CompiledRuleset>> compiled =
        rules::CompiledRuleset::Compile(version->ruleset());
    if (!compiled.ok()) {
      return absl::DataLossError(
          absl::StrCat("active ruleset version ", active.version(),
                       " does not compile: ", compiled.status().message()));
    }
    loaded.version = active.version();
    loaded.ruleset = std::move(*compiled);
  }
  registry->Install(active.activation_count(), std::move(loaded));
  return registry;
}

absl::StatusOr<v1::RulesetVersion> RulesetRegistry::ReadVersion(
    storage::Snapshot& snapshot, absl::string_view field,
    int64_t version) const {
  std::string value;
  bool found = false;
  RETURN_IF_ERROR(ReadOptional(snapshot, storage::Table::kRulesets,
                               RulesetVersionKey(version), &value, &found));
  if (!found) {
    return absl::NotFoundError(
        absl::StrCat(field, ": ruleset version ", version, " does not exist"));
  }
  v1::RulesetVersion out;
  RETURN_IF_ERROR(
      Parse(value, absl::StrCat("ruleset version ", version), &out));
  return out;
}

void RulesetRegistry::Install(int64_t activation_count, Active active) {
  absl::MutexLock lock(&mu_);
  if (activation_count <= installed_count_) return;
  installed_count_ = activation_count;
  active_ = std::move(active);
}

RulesetRegistry::Active RulesetRegistry::ActiveRuleset() const {
  absl::MutexLock lock(&mu_);
  return active_;
}

absl::StatusOr<v1::ValidateRulesetResponse> RulesetRegistry::Validate(
    const v1::ValidateRulesetRequest& request) const {
  FieldErrors errors;
  switch (request.source_case()) {
    case v1::ValidateRulesetRequest::kSourceText:
      CheckSourceText("source_text", request.source_text(), true, &errors);
      break;
    case v1::ValidateRulesetRequest::kRuleset:
      break;
    default:
      errors.Add("source", "is required: set source_text or ruleset");
  }
  CheckFileName("file_name", request.file_name(), &errors);
  RETURN_IF_ERROR(errors.ToStatus());

  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  std::string value;
  bool found = false;
  RETURN_IF_ERROR(ReadOptional(*snapshot, storage::Table::kRoster,
                               RosterRecordKey(), &value, &found));
  storage::v1::RosterRecord roster;
  if (found) RETURN_IF_ERROR(Parse(value, "the roster record", &roster));

  std::unique_ptr<rules::RulesetCheck> check;
  if (request.source_case() == v1::ValidateRulesetRequest::kSourceText) {
    check = rules::CheckRulesetText(request.source_text(),
                                    request.file_name().empty()
                                        ? std::string(kRulesetDefaultFileName)
                                        : request.file_name(),
                                    &roster.roster());
  } else {
    check = rules::CheckRulesetProto(
        request.ruleset(), std::string(kProtoSourceFileName), &roster.roster());
  }
  v1::ValidateRulesetResponse response;
  response.set_valid(check->valid());
  for (const rules::Diagnostic& d : check->diagnostics.Sorted()) {
    d.ToProto(response.add_diagnostics());
  }
  if (check->valid()) *response.mutable_ruleset() = std::move(check->ruleset);
  return response;
}

absl::StatusOr<v1::RulesetVersion> RulesetRegistry::CreateVersion(
    const v1::CreateRulesetVersionRequest& request, const Actor& actor) {
  FieldErrors errors;
  CheckSourceText("source_text", request.source_text(), true, &errors);
  CheckFileName("file_name", request.file_name(), &errors);
  CheckRequestId("request_id", request.request_id(), true, &errors);
  CheckActor(actor, &errors);
  RETURN_IF_ERROR(errors.ToStatus());

  const std::string file_name = request.file_name().empty()
                                    ? std::string(kRulesetDefaultFileName)
                                    : request.file_name();
  const std::string fingerprint = RequestFingerprint(request);
  v1::RulesetVersion response;
  RETURN_IF_ERROR(storage::RunInTransaction(
      *options_.store, [&](storage::Transaction& txn) -> absl::Status {
        response.Clear();
        const absl::Time now = options_.clock->Now();
        ASSIGN_OR_RETURN(
            std::optional<std::string> first,
            idempotency_.Lookup(txn, kCreateRulesetVersionMethod,
                                request.request_id(), fingerprint, now));
        if (first.has_value()) {
          return Parse(*first, "the stored first answer", &response);
        }
        ASSIGN_OR_RETURN(std::optional<storage::v1::RosterRecord> roster,
                         ReadRosterForUpdate(txn));
        const v1::Roster empty;
        std::unique_ptr<rules::RulesetCheck> check = rules::CheckRulesetText(
            request.source_text(), file_name,
            roster.has_value() ? &roster->roster() : &empty);
        if (!check->valid()) {
          return DiagnosticsToStatus("source_text", "the ruleset",
                                     check->diagnostics);
        }
        std::string value;
        int64_t latest = 0;
        absl::Status s = txn.GetForUpdate(storage::Table::kRulesets,
                                          LatestRulesetVersionKey(), &value);
        if (s.ok()) {
          ASSIGN_OR_RETURN(latest, storage::DecodeCounter(value));
        } else if (!absl::IsNotFound(s)) {
          return s;
        }
        const int64_t version = latest + 1;
        response.set_version(version);
        response.set_name(check->ruleset.name());
        *response.mutable_ruleset() = std::move(check->ruleset);
        response.set_source_text(request.source_text());
        response.set_file_name(file_name);
        *response.mutable_create_time() = ToProto(now);
        response.set_created_by(std::string(actor));
        for (const rules::Diagnostic& d : check->diagnostics.Sorted()) {
          if (d.severity == rules::Diagnostic::Severity::kWarning) {
            d.ToProto(response.add_warnings());
          }
        }
        const std::string bytes = SerializeDeterministic(response);
        v1::RulesetVersion summary = response;
        summary.clear_ruleset();
        summary.clear_source_text();
        RETURN_IF_ERROR(txn.Put(storage::Table::kRulesets,
                                RulesetVersionKey(version), bytes));
        RETURN_IF_ERROR(txn.Put(storage::Table::kRulesets,
                                RulesetSummaryKey(version),
                                SerializeDeterministic(summary)));
        RETURN_IF_ERROR(txn.Put(storage::Table::kRulesets,
                                LatestRulesetVersionKey(),
                                storage::EncodeCounter(version)));
        RETURN_IF_ERROR(StageAuditRecord(
            txn, actor, kCreateRulesetVersionMethod, request.request_id(),
            {absl::StrCat("rulesets/", version)},
            absl::StrCat("OK: published version ", version), now));
        return idempotency_.Record(txn, kCreateRulesetVersionMethod,
                                   request.request_id(), fingerprint, bytes,
                                   now);
      }));
  return response;
}

absl::StatusOr<v1::RulesetVersion> RulesetRegistry::Get(
    const v1::GetRulesetRequest& request) const {
  if (request.version() < 0) {
    FieldErrors errors;
    errors.Add("version", "must be >= 0 (0 = the active version)");
    return errors.ToStatus();
  }
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  ASSIGN_OR_RETURN(storage::v1::ActiveRulesetRecord active,
                   ReadActiveRecord(*snapshot));
  int64_t version = request.version();
  if (version == 0) {
    if (active.version() == 0) {
      return absl::NotFoundError("version: no ruleset version is active");
    }
    version = active.version();
  }
  ASSIGN_OR_RETURN(v1::RulesetVersion out,
                   ReadVersion(*snapshot, "version", version));
  ASSIGN_OR_RETURN(auto activations, ReadActivations(*snapshot));
  out.set_active(version == active.version());
  for (v1::Activation& a : activations[version]) {
    *out.add_activations() = std::move(a);
  }
  if (request.omit_source()) out.clear_source_text();
  return out;
}

absl::StatusOr<v1::ListRulesetVersionsResponse> RulesetRegistry::List(
    const v1::ListRulesetVersionsRequest& request) const {
  FieldErrors errors;
  const int32_t page_size =
      CheckPageSize("page_size", request.page_size(), kDefaultRulesetPageSize,
                    kMaxRulesetPageSize, &errors);
  int64_t start = -1;
  if (!request.page_token().empty()) {
    std::optional<std::string> position = DecodePageToken(
        "page_token", kListScope, request.page_token(), &errors);
    if (position.has_value() &&
        (!absl::SimpleAtoi(*position, &start) || start < 1)) {
      errors.Add("page_token", "is not a page token of this listing");
    }
  }
  RETURN_IF_ERROR(errors.ToStatus());

  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  ASSIGN_OR_RETURN(storage::v1::ActiveRulesetRecord active,
                   ReadActiveRecord(*snapshot));
  ASSIGN_OR_RETURN(int64_t latest, ReadLatest(*snapshot));
  ASSIGN_OR_RETURN(auto activations, ReadActivations(*snapshot));
  if (start < 0 || start > latest) start = latest;

  v1::ListRulesetVersionsResponse response;
  response.set_active_version(active.version());
  response.set_activation_etag(active.etag());
  int64_t v = start;
  for (; v >= 1 && response.versions_size() < page_size; --v) {
    std::string value;
    bool found = false;
    RETURN_IF_ERROR(ReadOptional(*snapshot, storage::Table::kRulesets,
                                 RulesetSummaryKey(v), &value, &found));
    if (!found) continue;
    v1::RulesetVersion* out = response.add_versions();
    RETURN_IF_ERROR(Parse(value, absl::StrCat("ruleset version ", v), out));
    out->set_active(v == active.version());
    for (v1::Activation& a : activations[v]) {
      *out->add_activations() = std::move(a);
    }
  }
  if (v >= 1) {
    response.set_next_page_token(EncodePageToken(kListScope, absl::StrCat(v)));
  }
  return response;
}

absl::StatusOr<v1::ActivateRulesetResponse> RulesetRegistry::Activate(
    const v1::ActivateRulesetRequest& request, const Actor& actor) {
  FieldErrors errors;
  if (request.version() < 1) errors.Add("version", "must be >= 1");
  CheckEtag("etag", request.etag(), true, &errors);
  CheckReason("reason", request.reason(), false, &errors);
  CheckRequestId("request_id", request.request_id(), true, &errors);
  CheckActor(actor, &errors);
  RETURN_IF_ERROR(errors.ToStatus());

  const std::string fingerprint = RequestFingerprint(request);
  v1::ActivateRulesetResponse response;
  absl::Status refused;
  bool retry = false;
  int64_t activation_count = 0;
  std::shared_ptr<const rules::CompiledRuleset> compiled;
  RETURN_IF_ERROR(storage::RunInTransaction(
      *options_.store, [&](storage::Transaction& txn) -> absl::Status {
        response.Clear();
        refused = absl::OkStatus();
        retry = false;
        const absl::Time now = options_.clock->Now();
        ASSIGN_OR_RETURN(
            std::optional<std::string> first,
            idempotency_.Lookup(txn, kActivateRulesetMethod,
                                request.request_id(), fingerprint, now));
        if (first.has_value()) {
          retry = true;
          return Parse(*first, "the stored first answer", &response);
        }
        // Lock order, as in every domain transaction: roster, then active.
        ASSIGN_OR_RETURN(std::optional<storage::v1::RosterRecord> roster,
                         ReadRosterForUpdate(txn));
        ASSIGN_OR_RETURN(ActiveRulesetState active,
                         ReadActiveRulesetForUpdate(txn));
        std::string value;
        absl::Status s = txn.Get(storage::Table::kRulesets,
                                 RulesetVersionKey(request.version()), &value);
        if (absl::IsNotFound(s)) {
          return absl::NotFoundError(absl::StrCat("version: ruleset version ",
                                                  request.version(),
                                                  " does not exist"));
        }
        RETURN_IF_ERROR(s);
        if (request.etag() != active.record.etag()) {
          // Not ABORTED from here: RunInTransaction would retry it.
          refused = absl::AbortedError(absl::StrCat(
              "etag: \"", request.etag(),
              "\" is not the current activation etag; re-read it with "
              "ListRulesetVersions and retry"));
          return absl::OkStatus();
        }
        v1::RulesetVersion version;
        RETURN_IF_ERROR(Parse(value, "the ruleset version", &version));
        std::vector<rules::BrokenRule> broken = rules::RulesBrokenByRoster(
            version.ruleset(),
            roster.has_value() ? roster->roster() : v1::Roster());
        if (!broken.empty()) {
          return BrokenRulesStatus(
              absl::StrCat("ruleset version ", request.version(),
                           " no longer validates against the current roster (",
                           broken.size(),
                           broken.size() == 1 ? " problem)" : " problems)"),
              broken);
        }
        if (compiled == nullptr) {
          absl::StatusOr<std::unique_ptr<const rules::CompiledRuleset>> c =
              rules::CompiledRuleset::Compile(version.ruleset());
          if (!c.ok()) {
            return absl::InternalError(
                absl::StrCat("ruleset version ", request.version(),
                             " does not compile: ", c.status().message()));
          }
          compiled = std::move(*c);
        }
        activation_count = active.record.activation_count() + 1;
        v1::Activation* activation = response.mutable_activation();
        activation->set_version(request.version());
        activation->set_previous_version(active.record.version());
        *activation->mutable_activate_time() = ToProto(now);
        activation->set_activated_by(std::string(actor));
        activation->set_reason(request.reason());
        storage::v1::ActiveRulesetRecord record;
        record.set_version(request.version());
        record.set_etag(ActivationEtag(activation_count, request.version()));
        record.set_activation_count(activation_count);
        response.set_etag(record.etag());
        RETURN_IF_ERROR(txn.Put(storage::Table::kRulesets,
                                ActivationKey(activation_count),
                                SerializeDeterministic(*activation)));
        RETURN_IF_ERROR(txn.Put(storage::Table::kRulesets, ActiveRulesetKey(),
                                SerializeDeterministic(record)));
        RETURN_IF_ERROR(StageAuditRecord(
            txn, actor, kActivateRulesetMethod, request.request_id(),
            {absl::StrCat("rulesets/", request.version())},
            absl::StrCat("OK: activated version ", request.version(),
                         " (previous ", activation->previous_version(), ")"),
            now));
        return idempotency_.Record(txn, kActivateRulesetMethod,
                                   request.request_id(), fingerprint,
                                   SerializeDeterministic(response), now);
      }));
  RETURN_IF_ERROR(refused);
  if (!retry) {
    Install(activation_count, Active{request.version(), std::move(compiled)});
  }
  return response;
}

absl::StatusOr<v1::DiffRulesetsResponse> RulesetRegistry::Diff(
    const v1::DiffRulesetsRequest& request) const {
  FieldErrors errors;
  if (request.from_version() < 1) errors.Add("from_version", "must be >= 1");
  if (request.to_version() < 1) errors.Add("to_version", "must be >= 1");
  RETURN_IF_ERROR(errors.ToStatus());
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  ASSIGN_OR_RETURN(
      v1::RulesetVersion from,
      ReadVersion(*snapshot, "from_version", request.from_version()));
  ASSIGN_OR_RETURN(v1::RulesetVersion to,
                   ReadVersion(*snapshot, "to_version", request.to_version()));
  v1::DiffRulesetsResponse response;
  response.set_from_version(request.from_version());
  response.set_to_version(request.to_version());
  *response.mutable_diff() = rules::DiffRulesets(from.ruleset(), to.ruleset());
  return response;
}

}  // namespace custodian::server
