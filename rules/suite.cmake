# Rule tests (`custodianctl rules test`): the test-file format and runner.
add_library(custodian_rules_suite test_suite.cc)
target_compile_options(custodian_rules_suite PRIVATE ${CUSTODIAN_WARNINGS})
target_link_libraries(custodian_rules_suite
  PUBLIC custodian_rules_front custodian_rules_engine
  PRIVATE yaml-cpp)

if(CUSTODIAN_BUILD_TESTS)
  custodian_rules_test(rules_suite_test
    SOURCES test_suite_test.cc
    LIBS custodian_rules_suite)
endif()
