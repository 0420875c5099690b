#include "server/bootstrap.h"

#include "common/status_macros.h"
#include "custodian/v1/roster_service.pb.h"
#include "custodian/v1/ruleset_service.pb.h"

namespace custodian::server {
namespace {

constexpr absl::string_view kRosterRequestId = "custodiand-bootstrap-roster";
constexpr absl::string_view kRulesetRequestId = "custodiand-bootstrap-ruleset";
constexpr absl::string_view kActivateRequestId =
    "custodiand-bootstrap-activate";

}  // namespace

absl::StatusOr<BootstrapResult> BootstrapIfEmpty(RosterRegistry& roster,
                                                 RulesetRegistry& rulesets,
                                                 const BootstrapFiles& files) {
  ASSIGN_OR_RETURN(v1::GetRosterResponse current, roster.Get());
  v1::ListRulesetVersionsRequest list_request;
  list_request.set_page_size(2);
  ASSIGN_OR_RETURN(v1::ListRulesetVersionsResponse versions,
                   rulesets.List(list_request));
  if (versions.active_version() != 0) return BootstrapResult::kNothingToDo;
  if (current.version() != 0 && current.updated_by() != kBootstrapActor) {
    return BootstrapResult::kNothingToDo;
  }
  if (versions.versions_size() > 1 ||
      (versions.versions_size() == 1 &&
       (versions.versions(0).version() != 1 ||
        versions.versions(0).created_by() != kBootstrapActor))) {
    return BootstrapResult::kNothingToDo;
  }

  if (current.version() == 0) {
    v1::ApplyRosterRequest apply;
    apply.set_source_text(files.roster_text);
    apply.set_file_name(files.roster_file_name);
    apply.set_request_id(std::string(kRosterRequestId));
    RETURN_IF_ERROR(roster.Apply(apply, kBootstrapActor).status());
  }
  if (versions.versions_size() == 0) {
    v1::CreateRulesetVersionRequest create;
    create.set_source_text(files.ruleset_text);
    create.set_file_name(files.ruleset_file_name);
    create.set_request_id(std::string(kRulesetRequestId));
    RETURN_IF_ERROR(rulesets.CreateVersion(create, kBootstrapActor).status());
  }
  v1::ActivateRulesetRequest activate;
  activate.set_version(1);
  activate.set_etag(versions.activation_etag());
  activate.set_reason("first start");
  activate.set_request_id(std::string(kActivateRequestId));
  RETURN_IF_ERROR(rulesets.Activate(activate, kBootstrapActor).status());
  return BootstrapResult::kBootstrapped;
}

}  // namespace custodian::server
