// The whole pipeline for a file an admin wrote: load, apply defaults,
// validate (against a roster when given) and, when valid, analyze. This is
// what `custodianctl rules validate` and the ValidateRuleset RPC run.
//
// Thread-safe: no shared state.
#ifndef CUSTODIAN_RULES_CHECK_H_
#define CUSTODIAN_RULES_CHECK_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "custodian/v1/roster.pb.h"
#include "custodian/v1/ruleset.pb.h"
#include "rules/diagnostics.h"
#include "rules/source_map.h"

namespace custodian::rules {

struct RulesetCheck {
  explicit RulesetCheck(std::string file_name)
      : diagnostics(std::move(file_name), &source_map) {}
  RulesetCheck(const RulesetCheck&) = delete;
  RulesetCheck& operator=(const RulesetCheck&) = delete;

  bool valid() const { return !diagnostics.has_errors(); }

  v1::Ruleset ruleset;  // defaults applied
  SourceMap source_map;
  Diagnostics diagnostics;  // errors, then (when valid) warnings
};

struct RosterCheck {
  explicit RosterCheck(std::string file_name)
      : diagnostics(std::move(file_name), &source_map) {}
  RosterCheck(const RosterCheck&) = delete;
  RosterCheck& operator=(const RosterCheck&) = delete;

  bool valid() const { return !diagnostics.has_errors(); }

  v1::Roster roster;  // defaults applied
  SourceMap source_map;
  Diagnostics diagnostics;
};

// Checks ruleset file text. `roster` may be null; when given, it must have
// passed CheckRosterText (defaults applied, no errors). Loader errors and
// validator errors are reported together, each problem once; warnings are
// added only when there is no error.
std::unique_ptr<RulesetCheck> CheckRulesetText(absl::string_view text,
                                               std::string file_name,
                                               const v1::Roster* roster);
// Checks a ruleset given in proto form (no source locations).
std::unique_ptr<RulesetCheck> CheckRulesetProto(const v1::Ruleset& ruleset,
                                                std::string file_name,
                                                const v1::Roster* roster);
// Checks roster file text.
std::unique_ptr<RosterCheck> CheckRosterText(absl::string_view text,
                                             std::string file_name);

}  // namespace custodian::rules

#endif  // CUSTODIAN_RULES_CHECK_H_
