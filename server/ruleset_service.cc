#include "server/ruleset_service.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rules/check.h"
#include "rules/diagnostics.h"
#include "rules/loader.h"
#include "server/status_mapping.h"

namespace custodian::server {
namespace {

// Decodes one UTF-8 code point from the front of *s. Returns false (leaving
// *s unspecified) on an invalid, overlong or surrogate encoding.
bool ConsumeCodePoint(absl::string_view* s, uint32_t* code_point) {
  const auto* p = reinterpret_cast<const unsigned char*>(s->data());
  size_t n = s->size();
  if (n == 0) return false;
  size_t len;
  uint32_t cp;
  if (p[0] < 0x80) {
    len = 1;
    cp = p[0];
  } else if ((p[0] & 0xE0) == 0xC0) {
    len = 2;
    cp = p[0] & 0x1F;
  } else if ((p[0] & 0xF0) == 0xE0) {
    len = 3;
    cp = p[0] & 0x0F;
  } else if ((p[0] & 0xF8) == 0xF0) {
    len = 4;
    cp = p[0] & 0x07;
  } else {
    return false;
  }
  if (n < len) return false;
  for (size_t i = 1; i < len; ++i) {
    if ((p[i] & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMinForLength[len] || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return false;
  }
  s->remove_prefix(len);
  *code_point = cp;
  return true;
}

// Returns an empty string if `name` is an acceptable file_name, else why not.
std::string FileNameProblem(absl::string_view name) {
  size_t chars = 0;
  while (!name.empty()) {
    uint32_t cp = 0;
    if (!ConsumeCodePoint(&name, &cp)) return "is not valid UTF-8";
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
      return absl::StrCat("holds the control character U+",
                          absl::Hex(cp, absl::kZeroPad4),
                          "; only printable characters are allowed");
    }
    ++chars;
  }
  if (chars > kMaxFileNameChars) {
    return absl::StrCat("is ", chars, " characters long; at most ",
                        kMaxFileNameChars, " are allowed");
  }
  return "";
}

}  // namespace

absl::Status CheckValidateRulesetRequest(
    const v1::ValidateRulesetRequest& request) {
  std::vector<std::string> problems;
  switch (request.source_case()) {
    case v1::ValidateRulesetRequest::SOURCE_NOT_SET:
      problems.push_back(
          "source: is required; set source_text (YAML or JSON) or ruleset");
      break;
    case v1::ValidateRulesetRequest::kSourceText:
      if (request.source_text().size() > rules::kMaxFileBytes) {
        problems.push_back(absl::StrCat(
            "source_text: is ", request.source_text().size(),
            " bytes; at most ", rules::kMaxFileBytes, " (4 MiB) are allowed"));
      }
      break;
    case v1::ValidateRulesetRequest::kRuleset:
      break;
  }
  if (std::string problem = FileNameProblem(request.file_name());
      !problem.empty()) {
    problems.push_back(absl::StrCat("file_name: ", problem));
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(problems, "; "));
}

absl::Status RulesetValidator::Validate(
    const v1::ValidateRulesetRequest& request,
    v1::ValidateRulesetResponse* response) const {
  if (absl::Status s = CheckValidateRulesetRequest(request); !s.ok()) {
    return s;
  }
  std::unique_ptr<rules::RulesetCheck> check;
  if (request.source_case() == v1::ValidateRulesetRequest::kSourceText) {
    std::string file_name = request.file_name().empty()
                                ? std::string(kDefaultRulesetFileName)
                                : request.file_name();
    check = rules::CheckRulesetText(request.source_text(), std::move(file_name),
                                    &roster_);
  } else {
    check = rules::CheckRulesetProto(
        request.ruleset(), std::string(kProtoRulesetFileName), &roster_);
  }
  response->Clear();
  response->set_valid(check->valid());
  for (const rules::Diagnostic& diagnostic : check->diagnostics.Sorted()) {
    diagnostic.ToProto(response->add_diagnostics());
  }
  if (check->valid()) response->mutable_ruleset()->Swap(&check->ruleset);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* RulesetServiceImpl::ValidateRuleset(
    grpc::CallbackServerContext* context,
    const v1::ValidateRulesetRequest* request,
    v1::ValidateRulesetResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(validator_->Validate(*request, response)));
  return reactor;
}

}  // namespace custodian::server
