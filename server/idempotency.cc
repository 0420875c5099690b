#include "server/idempotency.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "custodian/storage/v1/records.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/time_util.h"
#include "server/request_checks.h"
#include "storage/keys.h"

namespace custodian::server {
namespace {

using ::google::protobuf::util::TimeUtil;

std::string RecordKey(absl::string_view method, absl::string_view request_id) {
  return storage::KeyBuilder()
      .AddString("req")
      .AddString(method)
      .AddString(request_id)
      .Build();
}

std::string ExpiryPrefix() {
  return storage::KeyBuilder().AddString("exp").Build();
}

std::string ExpiryKey(absl::Time created, absl::string_view method,
                      absl::string_view request_id) {
  return storage::KeyBuilder(ExpiryPrefix())
      .AddTime(created)
      .AddString(method)
      .AddString(request_id)
      .Build();
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(t));
}

}  // namespace

absl::Status ValidateIdempotencyOptions(const IdempotencyOptions& options) {
  if (options.window <= absl::ZeroDuration() ||
      options.window == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        "idempotency.window: must be a finite duration > 0");
  }
  return absl::OkStatus();
}

std::string SerializeDeterministic(const google::protobuf::Message& message) {
  // Sized first and written into place: a string stream grows the string
  // in steps and zero-fills each step, which cost more than the encoding.
  const size_t size = message.ByteSizeLong();
  std::string bytes(size, '\0');
  google::protobuf::io::ArrayOutputStream array(bytes.data(),
                                                static_cast<int>(size));
  google::protobuf::io::CodedOutputStream out(&array);
  out.SetSerializationDeterministic(true);
  message.SerializeWithCachedSizes(&out);
  return bytes;
}

std::string RequestFingerprint(const google::protobuf::Message& request) {
  std::unique_ptr<google::protobuf::Message> copy(request.New());
  copy->CopyFrom(request);
  // request_id names the request; etag is a precondition, not part of what
  // is asked: a retry whose first attempt succeeded (and so moved the etag)
  // must still get the first answer.
  for (absl::string_view name : {"request_id", "etag"}) {
    const google::protobuf::FieldDescriptor* field =
        copy->GetDescriptor()->FindFieldByName(std::string(name));
    if (field != nullptr &&
        field->type() == google::protobuf::FieldDescriptor::TYPE_STRING &&
        !field->is_repeated()) {
      copy->GetReflection()->ClearField(copy.get(), field);
    }
  }
  const std::string bytes = SerializeDeterministic(*copy);
  // Bind the fingerprint to the message type too.
  return Sha256(absl::StrCat(copy->GetDescriptor()->full_name(),
                             absl::string_view("\0", 1), bytes));
}

absl::StatusOr<std::optional<std::string>> Idempotency::Lookup(
    storage::Transaction& txn, absl::string_view method,
    absl::string_view request_id, absl::string_view fingerprint,
    absl::Time now) const {
  std::string value;
  absl::Status s = txn.GetForUpdate(storage::Table::kIdempotency,
                                    RecordKey(method, request_id), &value);
  if (absl::IsNotFound(s)) return std::nullopt;
  RETURN_IF_ERROR(s);
  storage::v1::IdempotencyRecord record;
  if (!record.ParseFromString(value)) {
    return absl::DataLossError(absl::StrCat(
        "idempotency record of ", method, " ", request_id, " does not parse"));
  }
  if (FromProto(record.create_time()) + options_.window <= now) {
    return std::nullopt;  // expired: a new request
  }
  if (record.request_fingerprint() != fingerprint) {
    FieldErrors errors;
    errors.Add("request_id",
               absl::StrCat("\"", request_id,
                            "\" was already used for a different request"));
    return errors.ToStatus();
  }
  return std::optional<std::string>(record.response());
}

absl::Status Idempotency::Record(storage::Transaction& txn,
                                 absl::string_view method,
                                 absl::string_view request_id,
                                 absl::string_view fingerprint,
                                 absl::string_view response,
                                 absl::Time now) const {
  storage::v1::IdempotencyRecord record;
  record.set_method(std::string(method));
  record.set_request_fingerprint(std::string(fingerprint));
  record.set_status_code(0);
  record.set_response(std::string(response));
  *record.mutable_create_time() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(now));
  std::string bytes;
  record.SerializeToString(&bytes);
  RETURN_IF_ERROR(txn.Put(storage::Table::kIdempotency,
                          RecordKey(method, request_id), bytes));
  // The expiry entry names this request id, whose record is locked (Lookup).
  return txn.PutUnlocked(storage::Table::kIdempotency,
                         ExpiryKey(now, method, request_id), "");
}

absl::StatusOr<size_t> Idempotency::SweepExpired(storage::Store& store,
                                                 absl::Time now,
                                                 size_t max_records) const {
  size_t removed = 0;
  const std::string prefix = ExpiryPrefix();
  RETURN_IF_ERROR(storage::RunInTransaction(
      store, [&](storage::Transaction& txn) -> absl::Status {
        removed = 0;
        struct Due {
          std::string index_key;
          absl::Time created;
          std::string method;
          std::string request_id;
        };
        std::vector<Due> due;
        {
          std::unique_ptr<storage::ScanIterator> it =
              txn.Scan(storage::Table::kIdempotency, prefix);
          for (; it->Valid() && due.size() < max_records; it->Next()) {
            Due d;
            d.index_key = std::string(it->key());
            storage::KeyReader reader(d.index_key);
            RETURN_IF_ERROR(reader.Skip(prefix.size()));
            RETURN_IF_ERROR(reader.ReadTime(&d.created));
            if (d.created + options_.window > now) break;  // not yet due
            RETURN_IF_ERROR(reader.ReadString(&d.method));
            RETURN_IF_ERROR(reader.ReadString(&d.request_id));
            due.push_back(std::move(d));
          }
          RETURN_IF_ERROR(it->status());
        }
        for (const Due& d : due) {
          const std::string key = RecordKey(d.method, d.request_id);
          std::string value;
          absl::Status s =
              txn.GetForUpdate(storage::Table::kIdempotency, key, &value);
          if (s.ok()) {
            storage::v1::IdempotencyRecord record;
            // Delete the record only if this index entry is its own: a
            // reused id has a newer record with its own index entry.
            if (record.ParseFromString(value) &&
                FromProto(record.create_time()) == d.created) {
              RETURN_IF_ERROR(txn.Delete(storage::Table::kIdempotency, key));
            }
          } else if (!absl::IsNotFound(s)) {
            return s;
          }
          RETURN_IF_ERROR(
              txn.Delete(storage::Table::kIdempotency, d.index_key));
          ++removed;
        }
        return absl::OkStatus();
      }));
  return removed;
}

}  // namespace custodian::server
