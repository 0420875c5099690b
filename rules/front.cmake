# Loaders, defaults, validator, analyzer and the check pipeline.
add_library(custodian_rules_front
  names.cc
  durations.cc
  loader.cc
  validator.cc
  analyzer.cc
  check.cc)
target_compile_options(custodian_rules_front PRIVATE ${CUSTODIAN_WARNINGS})
target_link_libraries(custodian_rules_front
  PUBLIC custodian_rules_core
  PRIVATE yaml-cpp PkgConfig::RE2)

if(CUSTODIAN_BUILD_TESTS)
  custodian_rules_test(rules_front_test
    SOURCES names_test.cc durations_test.cc loader_test.cc validator_test.cc
            analyzer_test.cc check_test.cc
    LIBS custodian_rules_front)
endif()
