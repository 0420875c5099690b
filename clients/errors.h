// How custodianctl reports a failed RPC, and which exit code it returns.
//
// Exit codes (the same for every command; see `custodianctl --help`):
//   0  success;
//   1  the server refused: any non-OK status not listed under 3 (and, for the
//      offline commands, an invalid file or a failed test);
//   2  usage or local error: bad flags, a file that cannot be read;
//   3  the server is unreachable: UNAVAILABLE, or DEADLINE_EXCEEDED before a
//      connection was established.
//
// A failed RPC prints as
//   custodianctl: INVALID_ARGUMENT: <message>
// followed, when the status carries a serialized google.rpc.Status in its
// error details (`grpc-status-details-bin`), by one indented line per
//   google.rpc.BadRequest field violation:   "  <field>: <description>"
//   google.rpc.PreconditionFailure violation:
//       "  <type> <subject>: <description>" (type/subject left out when empty)
// (": " is left out when either side is empty). Other detail types are
// skipped. Details that do not parse are reported as
// one line "  (unreadable error details)".
//
// Thread-safe: pure functions.
#ifndef CUSTODIAN_CLIENTS_ERRORS_H_
#define CUSTODIAN_CLIENTS_ERRORS_H_

#include <grpcpp/support/status.h>

#include <iosfwd>
#include <string>

#include "absl/strings/string_view.h"

namespace custodian::clients {

inline constexpr int kExitServerRefused = 1;
inline constexpr int kExitUnreachable = 3;

// "INVALID_ARGUMENT", "NOT_FOUND", ...; "CODE_<n>" for unknown numbers.
std::string StatusCodeName(grpc::StatusCode code);

// 3 for UNAVAILABLE, and for DEADLINE_EXCEEDED when `connected` is false (the
// call never reached a server); 1 for every other non-OK status; 0 for OK.
int ExitCodeForStatus(const grpc::Status& status, bool connected);

// The lines describing `status` (see the file comment), each ending in "\n".
std::string FormatRpcError(const grpc::Status& status);

// Where the failure happened, for the hints below.
struct RpcFailure {
  // The server address the call went to.
  std::string server;
  // Whether the channel was connected when the call failed.
  bool connected = true;
  // For mutating calls: the request_id sent (empty otherwise). When the
  // outcome is unknown (DEADLINE_EXCEEDED, UNAVAILABLE, CANCELLED, UNKNOWN,
  // INTERNAL) a hint says to retry with this id to get the first answer.
  std::string request_id;
};

// Prints FormatRpcError(status) to `err`, then the hints: for exit code 3
// when the call never reached a server (not connected),
// "  server: ADDRESS (set --server or CUSTODIAN_SERVER)"; for an unknown
// outcome of a mutating call, the retry hint. Returns
// ExitCodeForStatus(status, failure.connected).
// REQUIRES: !status.ok().
int ReportRpcError(const grpc::Status& status, const RpcFailure& failure,
                   std::ostream& err);

}  // namespace custodian::clients

#endif  // CUSTODIAN_CLIENTS_ERRORS_H_
