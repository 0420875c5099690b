// The Rulesets API: ValidateRuleset.
//
// RulesetValidator is the operation, independent of gRPC: it checks the
// request and runs the rules check pipeline (rules/check.h) against the
// roster it was given. RulesetServiceImpl is the thin gRPC adapter over it.
#ifndef CUSTODIAN_SERVER_RULESET_SERVICE_H_
#define CUSTODIAN_SERVER_RULESET_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "custodian/v1/roster.pb.h"
#include "custodian/v1/ruleset_service.grpc.pb.h"
#include "custodian/v1/ruleset_service.pb.h"

namespace custodian::server {

// The name diagnostics report for `source_text` when the request gives none.
inline constexpr absl::string_view kDefaultRulesetFileName = "ruleset.yaml";
// The name diagnostics report for a ruleset sent in proto form.
inline constexpr absl::string_view kProtoRulesetFileName = "<request>";
// Longest accepted `file_name`, in characters (Unicode code points).
inline constexpr size_t kMaxFileNameChars = 255;

// Returns OK if `request` is well formed. Otherwise INVALID_ARGUMENT whose
// message names every bad field:
//   - `source` when neither source_text nor ruleset is set;
//   - `source_text` when it is larger than rules::kMaxFileBytes (4 MiB);
//   - `file_name` when it is longer than 255 characters, is not valid UTF-8,
//     or holds a control character.
// An empty file_name is allowed (it defaults to "ruleset.yaml").
absl::Status CheckValidateRulesetRequest(
    const v1::ValidateRulesetRequest& request);

// Validates rulesets against a fixed roster.
//
// Thread-safe: immutable after construction.
class RulesetValidator {
 public:
  explicit RulesetValidator(v1::Roster roster) : roster_(std::move(roster)) {}
  RulesetValidator(const RulesetValidator&) = delete;
  RulesetValidator& operator=(const RulesetValidator&) = delete;

  // Checks `request` (CheckValidateRulesetRequest) and, if it is well formed,
  // validates its ruleset against the roster and fills *response: `valid`,
  // every diagnostic in file order, and the ruleset with defaults applied
  // when valid. Diagnostics name `file_name` (default "ruleset.yaml") for
  // source text and "<request>" for the proto form.
  //
  // An invalid ruleset is OK with valid = false. On a malformed request
  // returns INVALID_ARGUMENT and leaves *response unchanged.
  absl::Status Validate(const v1::ValidateRulesetRequest& request,
                        v1::ValidateRulesetResponse* response) const;

  const v1::Roster& roster() const { return roster_; }

 private:
  const v1::Roster roster_;
};

// custodian.v1.RulesetService over a RulesetValidator.
//
// Validation is bounded CPU work (at most 4 MiB of text) and runs on the
// callback thread.
class RulesetServiceImpl final : public v1::RulesetService::CallbackService {
 public:
  // REQUIRES: `validator` outlives this service.
  explicit RulesetServiceImpl(const RulesetValidator* validator)
      : validator_(validator) {}

  grpc::ServerUnaryReactor* ValidateRuleset(
      grpc::CallbackServerContext* context,
      const v1::ValidateRulesetRequest* request,
      v1::ValidateRulesetResponse* response) override;

 private:
  const RulesetValidator* const validator_;
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_RULESET_SERVICE_H_
