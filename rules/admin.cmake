# Admin-facing rules logic: rendering rulesets and rosters back to file shape,
# ruleset diffs, and the declarative roster-apply semantics.
#   format         proto -> RULES.md-shaped YAML (whole files and pieces)
#   ruleset_diff   DiffRulesets: what changes between two rulesets
#   roster_apply   ComputeRosterApply and RulesBrokenByRoster
add_library(custodian_rules_admin
  format.cc
  ruleset_diff.cc
  roster_apply.cc)
target_compile_options(custodian_rules_admin PRIVATE ${CUSTODIAN_WARNINGS})
target_link_libraries(custodian_rules_admin
  PUBLIC custodian_rules_front
  PRIVATE yaml-cpp)

if(CUSTODIAN_BUILD_TESTS)
  custodian_rules_test(rules_admin_test
    SOURCES format_test.cc ruleset_diff_test.cc roster_apply_test.cc
    LIBS custodian_rules_admin)
endif()
