# The compiler, rule index and evaluator.
add_library(custodian_rules_engine
  compiled_ruleset.cc)
target_compile_options(custodian_rules_engine PRIVATE ${CUSTODIAN_WARNINGS})
target_link_libraries(custodian_rules_engine
  PUBLIC custodian_rules_core
  PRIVATE PkgConfig::RE2)

if(CUSTODIAN_BUILD_TESTS)
  custodian_rules_test(rules_engine_test
    SOURCES compiled_ruleset_test.cc
    LIBS custodian_rules_engine)
endif()
