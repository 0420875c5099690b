# Periodic ownership review (issue 9).
#
#   custodian_review  the review checks (pure) and the review runner (no
#                     gRPC): scans, checkpoints, findings, fixes, resume.
#                     See server/review_checks.h, server/review_runner.h.
add_library(custodian_review review_checks.cc review_runner.cc)
target_compile_options(custodian_review PRIVATE ${CUSTODIAN_WARNINGS})
target_link_libraries(custodian_review
  PUBLIC custodian_pool custodian_assign custodian_book custodian_domain
         custodian_simulate custodian_rules custodian_storage custodian_proto
         custodian_common absl::status absl::statusor absl::strings
         absl::synchronization absl::time Threads::Threads)

if(CUSTODIAN_BUILD_TESTS)
  add_executable(review_test review_checks_test.cc review_runner_test.cc)
  target_compile_options(review_test PRIVATE ${CUSTODIAN_WARNINGS})
  target_link_libraries(review_test PRIVATE custodian_review
    Threads::Threads GTest::gtest_main GTest::gmock)
  gtest_discover_tests(review_test DISCOVERY_TIMEOUT 60)
endif()
