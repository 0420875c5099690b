// Helpers shared by the rules front-end tests (not part of the library).
#ifndef CUSTODIAN_RULES_FRONT_TESTING_H_
#define CUSTODIAN_RULES_FRONT_TESTING_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "custodian/v1/roster.pb.h"
#include "rules/check.h"
#include "rules/diagnostics.h"

namespace custodian::rules::testing {

// Every diagnostic as `FILE:LINE:COL: path: message`, in file order.
inline std::vector<std::string> Strings(const Diagnostics& diags) {
  std::vector<std::string> out;
  for (const Diagnostic& d : diags.Sorted()) out.push_back(d.ToString());
  return out;
}

// Checks ruleset text as "f.yaml" and returns its diagnostics.
inline std::vector<std::string> CheckRuleset(
    absl::string_view text, const v1::Roster* roster = nullptr) {
  return Strings(CheckRulesetText(text, "f.yaml", roster)->diagnostics);
}

// A roster from text that must be valid (else the returned roster is empty
// and `errors` lists why).
inline v1::Roster RosterFromText(absl::string_view text,
                                 std::vector<std::string>* errors) {
  auto check = CheckRosterText(text, "roster.yaml");
  *errors = Strings(check->diagnostics);
  return check->valid() ? check->roster : v1::Roster();
}

// A small roster used by the ruleset tests.
inline constexpr absl::string_view kRoster = R"(departments:
  - {id: sales}
  - {id: service}
reps:
  - {id: ann}
  - {id: bob}
  - {id: cat, status: away}
  - {id: dan}
teams:
  - {id: ka, department: sales, members: [{rep: ann}, {rep: bob}]}
  - {id: idle, department: sales, members: [{rep: cat}]}
  - {id: svc, department: service, members: [{rep: dan}]}
  - {id: pool-a, department: sales, pool: {claim_limit_per_day: 5}}
  - {id: svc-pool, department: service, pool: {}}
  - {id: arb, department: sales, members: [{rep: ann}, {rep: bob}, {rep: dan}]}
)";

}  // namespace custodian::rules::testing

#endif  // CUSTODIAN_RULES_FRONT_TESTING_H_
