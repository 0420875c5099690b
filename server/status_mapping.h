// The one place where absl::Status becomes grpc::Status. Every gRPC handler
// returns its result through ToGrpcStatus; nothing else builds a grpc::Status
// from a domain error.
#ifndef CUSTODIAN_SERVER_STATUS_MAPPING_H_
#define CUSTODIAN_SERVER_STATUS_MAPPING_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace custodian::server {

// Returns a grpc::Status with the same canonical code and message as
// `status`. OK maps to grpc::Status::OK. A code outside the canonical set
// maps to UNKNOWN. Payloads are not carried over.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_STATUS_MAPPING_H_
