#include "server/request_checks.h"

#include <openssl/evp.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "rules/loader.h"
#include "rules/names.h"
#include "storage/keys.h"

namespace custodian::server {
namespace {

// Number of code points in valid UTF-8 `s`.
size_t CodePoints(absl::string_view s) {
  size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) ++n;
  }
  return n;
}

bool HasControl(absl::string_view s) {
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

// Token layout (before base64): version byte, KeyBuilder strings (scope,
// position), then the first kTokenCheckBytes bytes of SHA-256 of all that.
constexpr char kTokenVersion = 1;
constexpr size_t kTokenCheckBytes = 8;
constexpr absl::string_view kTokenSalt = "custodian.page_token.v1";

std::string TokenCheck(absl::string_view body) {
  return Sha256(absl::StrCat(kTokenSalt, body)).substr(0, kTokenCheckBytes);
}

template <typename Details>
absl::Status WithDetails(absl::StatusCode code, absl::string_view message,
                         absl::string_view type_url, const Details& details) {
  absl::Status status(code, message);
  std::string bytes;
  details.SerializeToString(&bytes);
  status.SetPayload(type_url, absl::Cord(bytes));
  return status;
}

template <typename Details>
std::optional<Details> GetDetails(const absl::Status& status,
                                  absl::string_view type_url) {
  auto payload = status.GetPayload(type_url);
  if (!payload.has_value()) return std::nullopt;
  Details details;
  if (!details.ParseFromString(std::string(*payload))) return std::nullopt;
  return details;
}

}  // namespace

void FieldErrors::Add(absl::string_view field, absl::string_view description) {
  google::rpc::BadRequest::FieldViolation* v =
      bad_request_.add_field_violations();
  v->set_field(std::string(field));
  v->set_description(std::string(description));
}

absl::Status FieldErrors::ToStatus() const {
  if (empty()) return absl::OkStatus();
  std::string message;
  const int n = bad_request_.field_violations_size();
  for (int i = 0; i < n; ++i) {
    if (static_cast<size_t>(i) == kMaxItemsInMessage) {
      absl::StrAppend(&message, "; and ", n - i, " more");
      break;
    }
    const auto& v = bad_request_.field_violations(i);
    absl::StrAppend(&message, i == 0 ? "" : "; ", v.field(), ": ",
                    v.description());
  }
  return InvalidArgumentWithDetails(message, bad_request_);
}

absl::Status InvalidArgumentWithDetails(
    absl::string_view message, const google::rpc::BadRequest& details) {
  return WithDetails(absl::StatusCode::kInvalidArgument, message,
                     kBadRequestTypeUrl, details);
}

absl::Status FailedPreconditionWithDetails(
    absl::string_view message,
    const google::rpc::PreconditionFailure& failure) {
  return WithDetails(absl::StatusCode::kFailedPrecondition, message,
                     kPreconditionFailureTypeUrl, failure);
}

std::optional<google::rpc::BadRequest> GetBadRequest(
    const absl::Status& status) {
  return GetDetails<google::rpc::BadRequest>(status, kBadRequestTypeUrl);
}

std::optional<google::rpc::PreconditionFailure> GetPreconditionFailure(
    const absl::Status& status) {
  return GetDetails<google::rpc::PreconditionFailure>(
      status, kPreconditionFailureTypeUrl);
}

absl::Status DiagnosticsToStatus(absl::string_view field,
                                 absl::string_view what,
                                 const rules::Diagnostics& diagnostics) {
  google::rpc::BadRequest details;
  std::string listed;
  size_t count = 0;
  for (const rules::Diagnostic& d : diagnostics.Sorted()) {
    if (d.severity != rules::Diagnostic::Severity::kError) continue;
    ++count;
    google::rpc::BadRequest::FieldViolation* v = details.add_field_violations();
    if (d.location.known()) {
      std::string f =
          absl::StrCat(field, ":", d.location.line, ":", d.location.column);
      if (!d.field_path.empty()) absl::StrAppend(&f, " ", d.field_path);
      v->set_field(std::move(f));
    } else if (d.field_path.empty()) {
      v->set_field(std::string(field));
    } else {
      v->set_field(absl::StrCat(field, ".", d.field_path));
    }
    v->set_description(d.message);
    if (count <= kMaxItemsInMessage) {
      absl::StrAppend(&listed, count == 1 ? "" : "; ", d.ToString());
    }
  }
  if (count > kMaxItemsInMessage) {
    absl::StrAppend(&listed, "; and ", count - kMaxItemsInMessage, " more");
  }
  return InvalidArgumentWithDetails(
      absl::StrCat(field, ": ", what, " does not validate (", count,
                   count == 1 ? " error): " : " errors): ", listed),
      details);
}

void CheckRequestId(absl::string_view field, absl::string_view request_id,
                    bool required, FieldErrors* errors) {
  if (request_id.empty() && !required) return;
  bool ok = !request_id.empty() && request_id.size() <= kMaxRequestIdChars;
  for (char c : request_id) {
    ok = ok && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
                c == '-');
  }
  if (!ok) {
    errors->Add(field, request_id.empty()
                           ? "is required: 1-128 characters of [A-Za-z0-9._:-]"
                           : "must be 1-128 characters of [A-Za-z0-9._:-]");
  }
}

void CheckFileName(absl::string_view field, absl::string_view file_name,
                   FieldErrors* errors) {
  if (file_name.empty()) return;
  if (!rules::IsValidUtf8(file_name)) {
    errors->Add(field, "is not valid UTF-8");
  } else if (CodePoints(file_name) > kMaxFileNameCodePoints) {
    errors->Add(field, absl::StrCat("is longer than ", kMaxFileNameCodePoints,
                                    " characters"));
  } else if (HasControl(file_name)) {
    errors->Add(field, "contains a control character");
  }
}

void CheckSourceText(absl::string_view field, absl::string_view text,
                     bool required, FieldErrors* errors) {
  if (text.empty()) {
    if (required) errors->Add(field, "is required");
    return;
  }
  if (text.size() > rules::kMaxFileBytes) {
    errors->Add(field, absl::StrCat("is larger than ", rules::kMaxFileBytes,
                                    " bytes (4 MiB)"));
  }
}

void CheckReason(absl::string_view field, absl::string_view reason,
                 bool required, FieldErrors* errors) {
  if (reason.empty()) {
    if (required) errors->Add(field, "is required");
    return;
  }
  std::string problem = rules::CheckText(reason, kMaxReasonBytes);
  if (!problem.empty()) errors->Add(field, problem);
}

void CheckEtag(absl::string_view field, absl::string_view etag, bool required,
               FieldErrors* errors) {
  if (etag.empty()) {
    if (required) errors->Add(field, "is required");
    return;
  }
  bool ok = etag.size() <= kMaxEtagBytes;
  for (char c : etag) ok = ok && c > 0x20 && c < 0x7f;
  if (!ok) {
    errors->Add(field, absl::StrCat("must be 1-", kMaxEtagBytes,
                                    " printable ASCII characters"));
  }
}

void CheckActor(absl::string_view actor, FieldErrors* errors) {
  if (actor.empty() || actor.size() > 256 || !rules::IsValidUtf8(actor) ||
      HasControl(actor)) {
    errors->Add("actor",
                "must be 1-256 bytes of UTF-8 without control characters");
  }
}

int32_t CheckPageSize(absl::string_view field, int32_t page_size,
                      int32_t default_size, int32_t max_size,
                      FieldErrors* errors) {
  if (page_size < 0) {
    errors->Add(field, "must not be negative");
    return default_size;
  }
  if (page_size == 0) return default_size;
  return page_size > max_size ? max_size : page_size;
}

std::string EncodePageToken(absl::string_view scope,
                            absl::string_view position) {
  std::string body(1, kTokenVersion);
  body += storage::KeyBuilder().AddString(scope).AddString(position).Build();
  body += TokenCheck(body);
  return absl::WebSafeBase64Escape(body);
}

std::optional<std::string> DecodePageToken(absl::string_view field,
                                           absl::string_view scope,
                                           absl::string_view token,
                                           FieldErrors* errors) {
  std::string raw;
  std::string token_scope;
  std::string position;
  bool ok = absl::WebSafeBase64Unescape(token, &raw) &&
            raw.size() > 1 + kTokenCheckBytes && raw[0] == kTokenVersion;
  if (ok) {
    absl::string_view body(raw.data(), raw.size() - kTokenCheckBytes);
    ok = TokenCheck(body) == absl::string_view(raw).substr(body.size());
    if (ok) {
      storage::KeyReader reader(body.substr(1));
      ok = reader.ReadString(&token_scope).ok() &&
           reader.ReadString(&position).ok() && reader.done() &&
           token_scope == scope;
    }
  }
  if (!ok) {
    errors->Add(field, "is not a page token of this listing");
    return std::nullopt;
  }
  return position;
}

std::string Sha256(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  // EVP_Digest only fails on allocation failure or a broken OpenSSL build.
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(),
                 nullptr) != 1) {
    std::abort();
  }
  return std::string(reinterpret_cast<const char*>(digest), size);
}

std::string Sha256Hex(absl::string_view data, size_t bytes) {
  std::string digest = Sha256(data);
  if (bytes < digest.size()) digest.resize(bytes);
  return absl::BytesToHexString(digest);
}

}  // namespace custodian::server
