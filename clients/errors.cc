#include "clients/errors.h"

#include <ostream>

#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace custodian::clients {
namespace {

// "  SUBJECT: DESCRIPTION", leaving out the parts that are empty.
std::string DetailLine(absl::string_view subject,
                       absl::string_view description) {
  return absl::StrCat("  ", subject,
                      subject.empty() || description.empty() ? "" : ": ",
                      description, "\n");
}

bool OutcomeUnknown(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return absl::StrCat("CODE_", static_cast<int>(code));
  }
}

int ExitCodeForStatus(const grpc::Status& status, bool connected) {
  if (status.ok()) return 0;
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return kExitUnreachable;
  }
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
      !connected) {
    return kExitUnreachable;
  }
  return kExitServerRefused;
}

std::string FormatRpcError(const grpc::Status& status) {
  std::string out =
      absl::StrCat("custodianctl: ", StatusCodeName(status.error_code()), ": ",
                   status.error_message(), "\n");
  if (status.error_details().empty()) return out;
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) {
    absl::StrAppend(&out, "  (unreadable error details)\n");
    return out;
  }
  for (const google::protobuf::Any& any : details.details()) {
    google::rpc::BadRequest bad_request;
    google::rpc::PreconditionFailure precondition;
    if (any.Is<google::rpc::BadRequest>()) {
      if (!any.UnpackTo(&bad_request)) {
        absl::StrAppend(&out, "  (unreadable error details)\n");
        continue;
      }
      for (const auto& v : bad_request.field_violations()) {
        absl::StrAppend(&out, DetailLine(v.field(), v.description()));
      }
    } else if (any.Is<google::rpc::PreconditionFailure>()) {
      if (!any.UnpackTo(&precondition)) {
        absl::StrAppend(&out, "  (unreadable error details)\n");
        continue;
      }
      for (const auto& v : precondition.violations()) {
        std::string subject = v.type();
        if (!v.subject().empty()) {
          absl::StrAppend(&subject, subject.empty() ? "" : " ", v.subject());
        }
        absl::StrAppend(&out, DetailLine(subject, v.description()));
      }
    }
  }
  return out;
}

int ReportRpcError(const grpc::Status& status, const RpcFailure& failure,
                   std::ostream& err) {
  err << FormatRpcError(status);
  int exit_code = ExitCodeForStatus(status, failure.connected);
  if (exit_code == kExitUnreachable && !failure.connected) {
    err << "  server: " << failure.server
        << " (set --server or CUSTODIAN_SERVER)\n";
  }
  if (!failure.request_id.empty() && OutcomeUnknown(status.error_code())) {
    err << "  the change may or may not have been made: retry with "
           "--request-id "
        << failure.request_id << " to get the first answer\n";
  }
  return exit_code;
}

}  // namespace custodian::clients
