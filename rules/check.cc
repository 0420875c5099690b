#include "rules/check.h"

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "rules/analyzer.h"
#include "rules/loader.h"
#include "rules/validator.h"

namespace custodian::rules {
namespace {

// Whether `path` equals `prefix` or lies under it (`a.b` is under `a`;
// `a.bc` is not).
bool PathWithin(absl::string_view path, absl::string_view prefix) {
  if (prefix.empty()) return true;
  if (!absl::StartsWith(path, prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '.' ||
         path[prefix.size()] == '[';
}

// The path one component up: `a.b[2]` -> `a.b`, `a.b` -> `a`, `a` -> "".
absl::string_view Parent(absl::string_view path) {
  size_t cut = path.find_last_of(".[");
  return cut == absl::string_view::npos ? absl::string_view()
                                        : path.substr(0, cut);
}

// Whether a validator error at `path` may merely echo a loader error at
// `loaded`: the same node, inside it, or its immediate parent (a block left
// empty because its only entry could not be converted).
bool Echoes(absl::string_view path, absl::string_view loaded) {
  return PathWithin(path, loaded) || path == Parent(loaded);
}

// Validates into `diags`, dropping errors that echo the loader's errors
// already in it, so that each problem is reported once. A loader error at
// the root (syntax error, a root that is not a map) means nothing was
// loaded: then nothing is validated.
template <typename ValidateFn>
void ValidateAfterLoad(Diagnostics* diags, const SourceMap* source_map,
                       ValidateFn validate) {
  std::vector<std::string> loaded;
  for (const Diagnostic& d : diags->items()) {
    if (d.severity == Diagnostic::Severity::kError) {
      loaded.push_back(d.field_path);
    }
  }
  if (loaded.empty()) {
    validate(diags);
    return;
  }
  for (const std::string& l : loaded) {
    if (l.empty()) return;
  }
  Diagnostics found(diags->file(), source_map);
  validate(&found);
  for (const Diagnostic& d : found.items()) {
    bool echo = false;
    for (const std::string& l : loaded) echo = echo || Echoes(d.field_path, l);
    if (!echo) diags->ErrorAt(d.location, d.field_path, d.message);
  }
}

}  // namespace

std::unique_ptr<RulesetCheck> CheckRulesetText(absl::string_view text,
                                               std::string file_name,
                                               const v1::Roster* roster) {
  auto check = std::make_unique<RulesetCheck>(std::move(file_name));
  LoadedRuleset loaded = LoadRuleset(text, &check->diagnostics);
  check->ruleset = std::move(loaded.ruleset);
  check->source_map = std::move(loaded.source_map);
  ApplyRulesetDefaults(&check->ruleset);
  ValidateAfterLoad(&check->diagnostics, &check->source_map,
                    [&](Diagnostics* diags) {
                      ValidateRuleset(check->ruleset, roster, diags);
                    });
  if (check->valid()) {
    AnalyzeRuleset(check->ruleset, roster, &check->diagnostics);
  }
  return check;
}

std::unique_ptr<RulesetCheck> CheckRulesetProto(const v1::Ruleset& ruleset,
                                                std::string file_name,
                                                const v1::Roster* roster) {
  auto check = std::make_unique<RulesetCheck>(std::move(file_name));
  check->ruleset = ruleset;
  ApplyRulesetDefaults(&check->ruleset);
  ValidateRuleset(check->ruleset, roster, &check->diagnostics);
  if (check->valid()) {
    AnalyzeRuleset(check->ruleset, roster, &check->diagnostics);
  }
  return check;
}

std::unique_ptr<RosterCheck> CheckRosterText(absl::string_view text,
                                             std::string file_name) {
  auto check = std::make_unique<RosterCheck>(std::move(file_name));
  LoadedRoster loaded = LoadRoster(text, &check->diagnostics);
  check->roster = std::move(loaded.roster);
  check->source_map = std::move(loaded.source_map);
  ApplyRosterDefaults(&check->roster);
  ValidateAfterLoad(
      &check->diagnostics, &check->source_map,
      [&](Diagnostics* diags) { ValidateRoster(check->roster, diags); });
  return check;
}

}  // namespace custodian::rules
