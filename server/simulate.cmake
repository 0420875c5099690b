# SimulateRuleset over the store (no gRPC): what a candidate ruleset version
# would change if it were active, from one snapshot, in parallel, writing
# nothing. See server/ruleset_simulator.h. Included from
# server/CMakeLists.txt.
add_library(custodian_simulate ruleset_simulator.cc)
target_compile_options(custodian_simulate PRIVATE ${CUSTODIAN_WARNINGS})
target_link_libraries(custodian_simulate
  PUBLIC custodian_domain custodian_rules custodian_proto custodian_storage
         custodian_common absl::status absl::statusor absl::strings
         absl::synchronization absl::time absl::flat_hash_map
         Threads::Threads)

if(CUSTODIAN_BUILD_TESTS)
  add_executable(simulate_test ruleset_simulator_test.cc)
  target_compile_options(simulate_test PRIVATE ${CUSTODIAN_WARNINGS})
  target_link_libraries(simulate_test PRIVATE custodian_simulate custodian_book
    GTest::gtest_main GTest::gmock)
  gtest_discover_tests(simulate_test DISCOVERY_TIMEOUT 60)
endif()
