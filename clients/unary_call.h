// One unary call of a custodianctl server command, the way every command
// makes it: a fresh context prepared by the Connection (deadline,
// credentials), and on failure the error reported with the server, whether
// the channel ever connected, and the request id to retry with.
//
// Thread-safe: a pure function of its arguments.
#ifndef CUSTODIAN_CLIENTS_UNARY_CALL_H_
#define CUSTODIAN_CLIENTS_UNARY_CALL_H_

#include <ostream>
#include <string>

#include "clients/connection.h"
#include "clients/errors.h"
#include "grpcpp/grpcpp.h"

namespace custodian::clients {

// What ReportRpcError says about a failed call on `connection` with
// `request_id` ("" for a call without one).
inline RpcFailure FailureOf(const Connection& connection,
                            const std::string& request_id) {
  RpcFailure failure;
  failure.server = connection.address();
  failure.connected = connection.IsConnected();
  failure.request_id = request_id;
  return failure;
}

// Calls `method` of `stub` with `request`; returns 0 with *response filled
// on success, else reports the error on `err` (ReportRpcError) and returns
// its exit code.
template <typename Stub, typename Request, typename Response>
int Call(const Connection& connection, Stub* stub,
         grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                      Response*),
         const Request& request, Response* response,
         const std::string& request_id, std::ostream& err) {
  grpc::ClientContext context;
  connection.PrepareContext(&context);
  grpc::Status status = (stub->*method)(&context, request, response);
  if (status.ok()) return 0;
  return ReportRpcError(status, FailureOf(connection, request_id), err);
}

}  // namespace custodian::clients

#endif  // CUSTODIAN_CLIENTS_UNARY_CALL_H_
