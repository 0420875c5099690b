// First start: give an empty store a roster and an active ruleset, so that
// custodiand answers something useful out of the box (it passes the sample
// files from examples/).
//
// Thread-safe as the registries are; meant to run once at start-up.
#ifndef CUSTODIAN_SERVER_BOOTSTRAP_H_
#define CUSTODIAN_SERVER_BOOTSTRAP_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/roster_registry.h"
#include "server/ruleset_registry.h"

namespace custodian::server {

// The actor recorded on everything the bootstrap writes.
inline constexpr absl::string_view kBootstrapActor = "custodiand-bootstrap";

struct BootstrapFiles {
  // The roster file's text and the name its diagnostics use.
  std::string roster_text;
  std::string roster_file_name = "roster.yaml";
  // The ruleset file's text and the name stored with version 1.
  std::string ruleset_text;
  std::string ruleset_file_name = "ruleset.yaml";
};

enum class BootstrapResult {
  kNothingToDo,   // the store already holds a roster or rulesets of its own
  kBootstrapped,  // this call applied, published and/or activated
};

// If the store holds no roster and no ruleset version, applies
// `files.roster_text` as the roster, publishes `files.ruleset_text` as
// version 1 and activates it, all as kBootstrapActor. Each step is its own
// commit with a fixed request_id, and a later call resumes an interrupted
// bootstrap: it continues while everything in the store was written by the
// bootstrap itself (roster updated_by kBootstrapActor, at most version 1
// created by it, nothing active). Once any step is done by someone else, or a
// version is active, it does nothing. Returns kNothingToDo or kBootstrapped;
// the registries' errors (INVALID_ARGUMENT for a file that does not
// validate, naming it); the store's errors.
absl::StatusOr<BootstrapResult> BootstrapIfEmpty(RosterRegistry& roster,
                                                 RulesetRegistry& rulesets,
                                                 const BootstrapFiles& files);

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_BOOTSTRAP_H_
