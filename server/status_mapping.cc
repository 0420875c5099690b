#include "server/status_mapping.h"

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/any.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "server/request_checks.h"

namespace custodian::server {
namespace {

grpc::StatusCode ToGrpcCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return grpc::StatusCode::OK;
    case absl::StatusCode::kCancelled:
      return grpc::StatusCode::CANCELLED;
    case absl::StatusCode::kUnknown:
      return grpc::StatusCode::UNKNOWN;
    case absl::StatusCode::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case absl::StatusCode::kDeadlineExceeded:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case absl::StatusCode::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case absl::StatusCode::kAlreadyExists:
      return grpc::StatusCode::ALREADY_EXISTS;
    case absl::StatusCode::kPermissionDenied:
      return grpc::StatusCode::PERMISSION_DENIED;
    case absl::StatusCode::kResourceExhausted:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case absl::StatusCode::kFailedPrecondition:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case absl::StatusCode::kAborted:
      return grpc::StatusCode::ABORTED;
    case absl::StatusCode::kOutOfRange:
      return grpc::StatusCode::OUT_OF_RANGE;
    case absl::StatusCode::kUnimplemented:
      return grpc::StatusCode::UNIMPLEMENTED;
    case absl::StatusCode::kInternal:
      return grpc::StatusCode::INTERNAL;
    case absl::StatusCode::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case absl::StatusCode::kDataLoss:
      return grpc::StatusCode::DATA_LOSS;
    case absl::StatusCode::kUnauthenticated:
      return grpc::StatusCode::UNAUTHENTICATED;
    default:
      return grpc::StatusCode::UNKNOWN;
  }
}

// The bytes of `message` once gRPC percent-encodes it for grpc-message
// (everything but printable ASCII other than '%' takes three).
size_t PercentEncodedSize(absl::string_view message) {
  size_t size = 0;
  for (char c : message) {
    size += (c >= 0x20 && c < 0x7f && c != '%') ? 1 : 3;
  }
  return size;
}

// Copies into *kept (the repeated field of `out`) the leading `items` for
// which `out` serializes within `budget` bytes; when some are left out, adds
// one more item filled by `note(left_out, item)`. Returns `out` serialized.
// Items are added one at a time, so the cost is bounded by what is kept,
// not by the number of items.
template <typename Detail, typename Item, typename Note>
std::string Fit(const google::protobuf::RepeatedPtrField<Item>& items,
                google::protobuf::RepeatedPtrField<Item>* kept,
                const Detail& out, size_t budget, Note note) {
  // Room for the note itself.
  constexpr size_t kNoteBytes = 128;
  int n = 0;
  for (; n < items.size(); ++n) {
    *kept->Add() = items.Get(n);
    if (out.ByteSizeLong() + kNoteBytes > budget) {
      kept->RemoveLast();
      break;
    }
  }
  if (n < items.size()) note(items.size() - n, kept->Add());
  return out.SerializeAsString();
}

// `bytes` (a detail of type `type_url`) cut to fit `budget` bytes: the leading
// violations of a BadRequest or PreconditionFailure, with a last violation
// saying how many were left out; "" (drop it) for a detail of another type
// that does not fit, or when nothing fits.
std::string FitDetail(const std::string& type_url, const std::string& bytes,
                      size_t budget) {
  if (bytes.size() <= budget) return bytes;
  constexpr size_t kMinUseful = 256;
  if (budget < kMinUseful) return "";
  auto note_text = [budget](int left_out) {
    return absl::StrCat(left_out,
                        " more not listed: error details are limited to ",
                        budget, " bytes");
  };
  if (type_url == kBadRequestTypeUrl) {
    google::rpc::BadRequest in;
    if (!in.ParseFromString(bytes)) return "";
    google::rpc::BadRequest out;
    return Fit(
        in.field_violations(), out.mutable_field_violations(), out, budget,
        [&](int left_out, google::rpc::BadRequest::FieldViolation* violation) {
          violation->set_field("(truncated)");
          violation->set_description(note_text(left_out));
        });
  }
  if (type_url == kPreconditionFailureTypeUrl) {
    google::rpc::PreconditionFailure in;
    if (!in.ParseFromString(bytes)) return "";
    google::rpc::PreconditionFailure out;
    return Fit(in.violations(), out.mutable_violations(), out, budget,
               [&](int left_out,
                   google::rpc::PreconditionFailure::Violation* violation) {
                 violation->set_type("TRUNCATED");
                 violation->set_description(note_text(left_out));
               });
  }
  return "";
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  grpc::StatusCode code = ToGrpcCode(status.code());
  std::string message(status.message());
  std::map<std::string, std::string> details;  // type URL -> bytes, sorted
  status.ForEachPayload(
      [&details](absl::string_view type_url, const absl::Cord& payload) {
        if (absl::StartsWith(type_url, kErrorDetailTypeUrlPrefix)) {
          details[std::string(type_url)] = std::string(payload);
        }
      });
  if (details.empty()) return grpc::Status(code, message);
  google::rpc::Status rpc_status;
  rpc_status.set_code(static_cast<int>(code));
  rpc_status.set_message(message);
  // What is left of the trailer budget for the serialized google.rpc.Status:
  // grpc-message takes the message percent-encoded, and the details travel
  // base64-encoded (4 bytes per 3).
  const size_t encoded_message = PercentEncodedSize(message);
  const size_t room = encoded_message >= kMaxErrorTrailerBytes
                          ? 0
                          : (kMaxErrorTrailerBytes - encoded_message) / 4 * 3;
  for (auto& [type_url, bytes] : details) {
    // Per detail: the Any's type URL, and tag and length bytes.
    const size_t used = rpc_status.ByteSizeLong() + type_url.size() + 16;
    std::string fitted =
        FitDetail(type_url, bytes, room > used ? room - used : 0);
    if (fitted.empty()) continue;
    google::protobuf::Any* any = rpc_status.add_details();
    any->set_type_url(type_url);
    any->set_value(std::move(fitted));
  }
  if (rpc_status.details().empty()) return grpc::Status(code, message);
  return grpc::Status(code, message, rpc_status.SerializeAsString());
}

grpc::ServerUnaryReactor* FinishError(grpc::CallbackServerContext* context,
                                      const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace custodian::server
