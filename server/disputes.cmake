# Disputes (appeals), issue 7.
#
#   custodian_disputes  the appeal desk (no gRPC): FileAppeal, votes,
#                       rulings, withdrawal, expiry; the expiry sweeper. See
#                       server/appeal_desk.h, server/appeal_expiry_sweeper.h.
add_library(custodian_disputes appeal_desk.cc appeal_expiry_sweeper.cc)
target_compile_options(custodian_disputes PRIVATE ${CUSTODIAN_WARNINGS})
target_link_libraries(custodian_disputes
  PUBLIC custodian_pool custodian_assign custodian_book custodian_domain
         custodian_rules custodian_storage custodian_proto custodian_common
         absl::status absl::statusor absl::strings absl::time
         absl::synchronization)

if(CUSTODIAN_BUILD_TESTS)
  add_executable(appeal_test appeal_desk_test.cc)
  target_compile_options(appeal_test PRIVATE ${CUSTODIAN_WARNINGS})
  target_link_libraries(appeal_test PRIVATE custodian_disputes
    Threads::Threads GTest::gtest_main GTest::gmock)
  gtest_discover_tests(appeal_test DISCOVERY_TIMEOUT 60)
endif()
