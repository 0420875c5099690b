// The gRPC edge, shared by every service adapter:
//   - the one place where absl::Status becomes grpc::Status (ToGrpcStatus),
//     error details included; nothing else builds a grpc::Status from a
//     domain error;
//   - FinishUnary / FinishError, which finish a unary call with it.
// Who is calling is the Authorizer's (server/authorizer.h).
#ifndef CUSTODIAN_SERVER_STATUS_MAPPING_H_
#define CUSTODIAN_SERVER_STATUS_MAPPING_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/status.h>

#include <cstddef>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace custodian::server {

// Payload keys (absl::Status::SetPayload) that start with this prefix are
// google.rpc error detail messages keyed by their type URL
// (server/request_checks.h: kBadRequestTypeUrl, kPreconditionFailureTypeUrl)
// and travel to the client.
inline constexpr absl::string_view kErrorDetailTypeUrlPrefix =
    "type.googleapis.com/google.rpc.";

// The most bytes grpc-message (percent-encoded) and grpc-status-details-bin
// (base64) may take together: gRPC clients refuse metadata over 8 KiB by
// default (GRPC_ARG_MAX_METADATA_SIZE), and the other headers need some.
inline constexpr size_t kMaxErrorTrailerBytes = 7 * 1024;

// Returns a grpc::Status with the same canonical code and message as
// `status`. OK maps to grpc::Status::OK. A code outside the canonical set
// maps to UNKNOWN.
//
// Error details (AIP-193): when `status` carries payloads whose key starts
// with kErrorDetailTypeUrlPrefix, the grpc::Status's binary error details
// (sent as the `grpc-status-details-bin` trailer) are a serialized
// google.rpc.Status {code, message, details}, with one google.protobuf.Any
// per such payload {type_url: the key, value: the payload bytes}, ordered by
// type URL. Other payloads are not sent. Without such payloads the details
// are empty.
//
// The details travel in a trailer, and gRPC clients refuse trailers over
// 8 KiB by default, which would turn the error into RESOURCE_EXHAUSTED. So
// the message and details together are kept within kMaxErrorTrailerBytes
// (encoded): a BadRequest or PreconditionFailure that does not fit keeps its
// leading violations and ends with one more whose field is "(truncated)"
// (BadRequest) or whose type is "TRUNCATED" (PreconditionFailure) and whose
// description says how many were left out; another detail that does not fit
// is dropped. The code and message are never changed.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Finishes a unary callback call: on success moves *result into *response;
// in every case finishes with ToGrpcStatus(result.status()). Returns the
// reactor for the handler to return.
template <typename Response>
grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                      absl::StatusOr<Response> result,
                                      Response* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (result.ok()) *response = *std::move(result);
  reactor->Finish(ToGrpcStatus(result.status()));
  return reactor;
}

// Finishes a unary callback call with `status` (REQUIRES: not OK), mapped
// by ToGrpcStatus. Returns the reactor for the handler to return.
grpc::ServerUnaryReactor* FinishError(grpc::CallbackServerContext* context,
                                      const absl::Status& status);

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_STATUS_MAPPING_H_
