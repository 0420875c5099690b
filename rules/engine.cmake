# The compiler, rule index and evaluator.
#   condition_eval    compiled `when:` blocks and their evaluation
#   rule_index        per-department candidate index (first match, in order)
#   compiled_ruleset  CompiledRuleset::Compile and Evaluate; testing hooks
#   recycling         RecyclingMatcher: policies.recycling against a customer
add_library(custodian_rules_engine
  compiled_ruleset.cc
  condition_eval.cc
  rule_index.cc
  recycling.cc)
target_compile_options(custodian_rules_engine PRIVATE ${CUSTODIAN_WARNINGS})
target_link_libraries(custodian_rules_engine
  PUBLIC custodian_rules_core
  PRIVATE PkgConfig::RE2)

if(CUSTODIAN_BUILD_TESTS)
  custodian_rules_test(rules_engine_test
    SOURCES compiled_ruleset_test.cc recycling_test.cc
    LIBS custodian_rules_engine)
endif()
