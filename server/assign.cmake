# The rep-picking core of Assign (no store, no gRPC): TeamAllocator picks a
# team member by strategy, reserves capacity exactly under concurrency and
# keeps the round-robin and weighted cursors. See server/team_allocator.h.
add_library(custodian_assign_core team_allocator.cc)
target_compile_options(custodian_assign_core PRIVATE ${CUSTODIAN_WARNINGS})
target_link_libraries(custodian_assign_core
  PUBLIC custodian_proto custodian_storage custodian_common absl::status
         absl::statusor absl::strings absl::synchronization
         absl::flat_hash_map absl::flat_hash_set absl::hash)

if(CUSTODIAN_BUILD_TESTS)
  add_executable(assign_core_test team_allocator_test.cc)
  target_compile_options(assign_core_test PRIVATE ${CUSTODIAN_WARNINGS})
  target_link_libraries(assign_core_test PRIVATE custodian_assign_core
    Threads::Threads GTest::gtest_main GTest::gmock)
  gtest_discover_tests(assign_core_test DISCOVERY_TIMEOUT 60)
endif()

# Assign, BatchAssign, Evaluate, GetCustomer, UpdateCustomer, Transfer,
# Approve and Reject over the store (no gRPC): the planner (decision logic
# over the roster, the active ruleset and the allocator) and the assigner
# (one transaction per change). See server/assignment_planner.h and
# server/assigner.h.
add_library(custodian_assign assignment_planner.cc assigner.cc mutation.cc
  cooldowns.cc duplicate_index.cc)
target_compile_options(custodian_assign PRIVATE ${CUSTODIAN_WARNINGS})
target_link_libraries(custodian_assign
  PUBLIC custodian_assign_core custodian_book custodian_domain custodian_rules
         custodian_dupkeys custodian_proto custodian_storage custodian_common absl::status
         absl::statusor absl::strings absl::synchronization absl::time
         absl::flat_hash_map)

if(CUSTODIAN_BUILD_TESTS)
  add_executable(assign_test assignment_planner_test.cc assigner_test.cc)
  target_compile_options(assign_test PRIVATE ${CUSTODIAN_WARNINGS})
  target_link_libraries(assign_test PRIVATE custodian_assign
    Threads::Threads GTest::gtest_main GTest::gmock)
  gtest_discover_tests(assign_test DISCOVERY_TIMEOUT 60)
endif()
