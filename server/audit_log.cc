#include "server/audit_log.h"

#include <memory>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"
#include "server/idempotency.h"
#include "server/request_checks.h"
#include "storage/keys.h"

namespace custodian::server {
namespace {

using storage::Table;

constexpr absl::string_view kAuditTag = "audit";

std::string Prefix() {
  return storage::KeyBuilder().AddString(kAuditTag).Build();
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp out;
  const int64_t micros = absl::ToUnixMicros(t);
  out.set_seconds(micros / 1000000 - (micros % 1000000 < 0 ? 1 : 0));
  out.set_nanos(static_cast<int32_t>(((micros % 1000000) + 1000000) % 1000000) *
                1000);
  return out;
}

}  // namespace

std::string AuditRpcName(absl::string_view method) {
  return absl::StrReplaceAll(method, {{"/", "."}});
}

absl::Status StageAuditRecord(storage::Transaction& txn, const Actor& actor,
                              absl::string_view default_rpc,
                              absl::string_view request_id,
                              std::vector<std::string> resources,
                              absl::string_view outcome, absl::Time now) {
  v1::AuditRecord record;
  *record.mutable_time() = ToProto(now);
  record.set_principal(actor.id);
  for (const std::string& role : actor.roles) record.add_roles(role);
  record.set_rpc(actor.rpc.empty() ? AuditRpcName(default_rpc) : actor.rpc);
  record.set_request_id(std::string(request_id));
  for (std::string& resource : resources) {
    record.add_resources(std::move(resource));
  }
  record.set_outcome(std::string(outcome));
  thread_local absl::BitGen bitgen;
  const std::string key = storage::KeyBuilder()
                              .AddString(kAuditTag)
                              .AddTime(now)
                              .AddUint64(absl::Uniform<uint64_t>(bitgen))
                              .Build();
  // Time and 64 random bits: unique to this transaction, never read back.
  return txn.PutWriteOnly(Table::kAudit, key, SerializeDeterministic(record));
}

absl::StatusOr<v1::ListAuditRecordsResponse> ListAuditRecords(
    storage::Store& store, const v1::ListAuditRecordsRequest& request) {
  FieldErrors errors;
  const int32_t page_size =
      CheckPageSize("page_size", request.page_size(), kDefaultAuditPageSize,
                    kMaxAuditPageSize, &errors);
  const bool has_start = request.has_start_time();
  const bool has_end = request.has_end_time();
  const absl::Time start =
      has_start ? FromProto(request.start_time()) : absl::UnixEpoch();
  const absl::Time end =
      has_end ? FromProto(request.end_time()) : absl::InfiniteFuture();
  if (has_start && has_end && end <= start) {
    errors.Add("end_time", "must be after start_time");
  }
  // The token is bound to the filters, so it cannot be replayed with others.
  const std::string scope = absl::StrCat(
      "ListAuditRecords\n", request.principal(), "\n", request.resource(), "\n",
      has_start ? absl::StrCat(absl::ToUnixMicros(start)) : "", "\n",
      has_end ? absl::StrCat(absl::ToUnixMicros(end)) : "");
  std::string start_after;
  if (!request.page_token().empty()) {
    std::optional<std::string> position =
        DecodePageToken("page_token", scope, request.page_token(), &errors);
    if (position.has_value()) start_after = *position;
  }
  RETURN_IF_ERROR(errors.ToStatus());

  const std::string prefix = Prefix();
  if (start_after.empty() && has_start) {
    // Just before the first key at `start`: the prefix with the time, and
    // nothing after it, sorts before every record at that time.
    start_after = storage::KeyBuilder(prefix).AddTime(start).Build();
  }
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   store.NewSnapshot());
  v1::ListAuditRecordsResponse response;
  storage::ScanOptions options;
  options.start_after = start_after;
  std::unique_ptr<storage::ScanIterator> it =
      snapshot->Scan(Table::kAudit, prefix, options);
  int scanned = 0;
  std::string last_key;
  bool more = false;
  for (; it->Valid(); it->Next()) {
    if (response.records_size() >= page_size ||
        scanned >= kMaxAuditRecordsScanned) {
      more = true;
      break;
    }
    ++scanned;
    v1::AuditRecord record;
    if (!record.ParseFromString(std::string(it->value()))) {
      return absl::DataLossError("an audit record does not parse");
    }
    if (has_end && FromProto(record.time()) >= end) break;
    last_key = std::string(it->key());
    if (!request.principal().empty() &&
        record.principal() != request.principal()) {
      continue;
    }
    if (!request.resource().empty()) {
      bool names = false;
      for (const std::string& r : record.resources()) {
        names = names || r == request.resource();
      }
      if (!names) continue;
    }
    *response.add_records() = std::move(record);
  }
  RETURN_IF_ERROR(it->status());
  if (more && !last_key.empty()) {
    response.set_next_page_token(EncodePageToken(scope, last_key));
  }
  return response;
}

}  // namespace custodian::server
