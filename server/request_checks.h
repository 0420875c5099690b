// Validation of request fields shared by the domain services, and the
// AIP-193 error details they attach.
//
// Every check names the field it rejects: the status message starts with the
// field path ("request_id: must be 1-128 characters of [A-Za-z0-9._:-]"), and
// the status carries a google.rpc.BadRequest listing EVERY bad field of the
// request, so a caller fixes all of them at once.
//
// Error details travel as absl::Status payloads, keyed by the type URL of the
// detail message, with the serialized message as the value:
//   kBadRequestTypeUrl           google.rpc.BadRequest INVALID_ARGUMENT
//   kPreconditionFailureTypeUrl  google.rpc.PreconditionFailure
//   FAILED_PRECONDITION
// The gRPC edge (status mapping) turns each payload into a google.protobuf.Any
// with that type_url inside google.rpc.Status, sent as
// grpc-status-details-bin.
//
// Thread-safe: pure functions; a FieldErrors is used by one thread at a time.
#ifndef CUSTODIAN_SERVER_REQUEST_CHECKS_H_
#define CUSTODIAN_SERVER_REQUEST_CHECKS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/rpc/error_details.pb.h"
#include "rules/diagnostics.h"

namespace custodian::server {

// Payload type URLs (absl::Status::SetPayload keys) of the error details.
inline constexpr absl::string_view kBadRequestTypeUrl =
    "type.googleapis.com/google.rpc.BadRequest";
inline constexpr absl::string_view kPreconditionFailureTypeUrl =
    "type.googleapis.com/google.rpc.PreconditionFailure";

// Limits of request fields.
inline constexpr size_t kMaxRequestIdChars = 128;
inline constexpr size_t kMaxFileNameCodePoints = 255;
inline constexpr size_t kMaxReasonBytes = 1024;
inline constexpr size_t kMaxEtagBytes = 128;
// At most this many items are spelled out in a status message; the details
// payload always lists every one.
inline constexpr size_t kMaxItemsInMessage = 5;

// Collects the violations of one request, then turns them into one status.
class FieldErrors {
 public:
  // Records that `field` is bad because of `description`.
  void Add(absl::string_view field, absl::string_view description);
  bool empty() const { return bad_request_.field_violations_size() == 0; }
  const google::rpc::BadRequest& bad_request() const { return bad_request_; }

  // OK when nothing was added. Otherwise INVALID_ARGUMENT whose message is
  // "<field>: <description>" for the first violation, then "; <field>:
  // <description>" for each further one (at most kMaxItemsInMessage, then
  // "; and N more"), carrying a BadRequest with every violation.
  absl::Status ToStatus() const;

 private:
  google::rpc::BadRequest bad_request_;
};

// INVALID_ARGUMENT with `message` and `bad_request` attached.
absl::Status InvalidArgumentWithDetails(absl::string_view message,
                                        const google::rpc::BadRequest& details);
// FAILED_PRECONDITION with `message` and `failure` attached.
absl::Status FailedPreconditionWithDetails(
    absl::string_view message, const google::rpc::PreconditionFailure& failure);

// The details attached to `status`, if any (nullopt also when the payload
// does not parse).
std::optional<google::rpc::BadRequest> GetBadRequest(
    const absl::Status& status);
std::optional<google::rpc::PreconditionFailure> GetPreconditionFailure(
    const absl::Status& status);

// INVALID_ARGUMENT for a file with ERROR diagnostics, which came from the
// request field `field` ("source_text", or "roster"/"ruleset" for the proto
// form). Message: "<field>: <what> does not validate (N errors): <d1>; <d2>"
// with diagnostics printed by Diagnostic::ToString (FILE:LINE:COL: path:
// message), at most kMaxItemsInMessage of them. The BadRequest lists every
// ERROR diagnostic in file order; each violation's field is
//   "<field>:<line>:<col> <field_path>" for source text (line > 0),
//   "<field>.<field_path>" for the proto form (line 0; "<field>" if the
//   path is empty),
// and its description is the diagnostic's message. Warnings are not listed.
absl::Status DiagnosticsToStatus(absl::string_view field,
                                 absl::string_view what,
                                 const rules::Diagnostics& diagnostics);

// Field checks. Each appends at most one violation for `field` to *errors.

// AIP-155 request id: 1-128 characters of [A-Za-z0-9._:-]. An empty id is
// a violation only when `required`.
void CheckRequestId(absl::string_view field, absl::string_view request_id,
                    bool required, FieldErrors* errors);
// A file name for diagnostics: empty (the caller's default applies) or 1-255
// characters (code points) of UTF-8 without control characters.
void CheckFileName(absl::string_view field, absl::string_view file_name,
                   FieldErrors* errors);
// A file's text: at most rules::kMaxFileBytes (4 MiB). Empty is a violation
// only when `required`.
void CheckSourceText(absl::string_view field, absl::string_view text,
                     bool required, FieldErrors* errors);
// A reason: UTF-8 of at most kMaxReasonBytes bytes, no control characters
// but tab, CR and LF. Empty is a violation only when `required`.
void CheckReason(absl::string_view field, absl::string_view reason,
                 bool required, FieldErrors* errors);
// An etag echoed back by a client: at most kMaxEtagBytes printable ASCII.
// Empty is a violation only when `required`.
void CheckEtag(absl::string_view field, absl::string_view etag, bool required,
               FieldErrors* errors);

// The actor of a mutation (the caller's principal, set by the auth layer,
// not by the request): 1-256 bytes of UTF-8 without control characters.
void CheckActor(absl::string_view actor, FieldErrors* errors);

// AIP-158 page size: negative is a violation; 0 means `default_size`; above
// `max_size` is clamped. Returns the effective size (default_size when
// negative, so callers may go on collecting errors).
int32_t CheckPageSize(absl::string_view field, int32_t page_size,
                      int32_t default_size, int32_t max_size,
                      FieldErrors* errors);

// Opaque page tokens. A token carries a `scope` (which listing issued it:
// the method and any request fields the listing depends on) and a
// `position` (where the next page starts), protected by a checksum against
// accidental or deliberate edits. Not a secret: the position is not
// encrypted, only made opaque (web-safe base64) and tamper-evident.
std::string EncodePageToken(absl::string_view scope,
                            absl::string_view position);
// Returns the position of a token EncodePageToken(`scope`, position) made.
// A token that is not base64, fails its checksum, or was issued for another
// scope is a violation ("<field>: is not a page token of this listing") and
// nullopt is returned. REQUIRES: !token.empty().
std::optional<std::string> DecodePageToken(absl::string_view field,
                                           absl::string_view scope,
                                           absl::string_view token,
                                           FieldErrors* errors);

// The 32-byte SHA-256 digest of `data` (OpenSSL EVP), for request
// fingerprints, page-token checksums and etags.
std::string Sha256(absl::string_view data);
// The lower-case hex of the first `bytes` bytes of Sha256(data).
std::string Sha256Hex(absl::string_view data, size_t bytes);

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_REQUEST_CHECKS_H_
