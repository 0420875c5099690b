# The public pool (公海) and duplicate matching (查重), issue 8.
#
#   custodian_dupkeys  normalized duplicate-matching keys (no store, no
#                      gRPC): NFKC through utf8proc, case and punctuation
#                      folding, legal suffixes. See server/duplicate_keys.h.
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)

add_library(custodian_dupkeys duplicate_keys.cc)
target_compile_options(custodian_dupkeys PRIVATE ${CUSTODIAN_WARNINGS})
target_link_libraries(custodian_dupkeys
  PUBLIC custodian_proto absl::status absl::statusor absl::strings
  PRIVATE PkgConfig::UTF8PROC absl::flat_hash_set)

if(CUSTODIAN_BUILD_TESTS)
  add_executable(dupkeys_test duplicate_keys_test.cc)
  target_compile_options(dupkeys_test PRIVATE ${CUSTODIAN_WARNINGS})
  target_link_libraries(dupkeys_test PRIVATE custodian_dupkeys
    GTest::gtest_main GTest::gmock)
  gtest_discover_tests(dupkeys_test DISCOVERY_TIMEOUT 60)
endif()

#   custodian_pool     the pool desk (no gRPC): ListPool, Claim, Release,
#                      RecordActivity and the cooldown records; the
#                      recycling sweeper. See server/recycling_sweeper.h,
#                      server/pool_desk.h.
add_library(custodian_pool pool_desk.cc recycling_sweeper.cc)
target_compile_options(custodian_pool PRIVATE ${CUSTODIAN_WARNINGS})
target_link_libraries(custodian_pool
  PUBLIC custodian_assign custodian_book custodian_domain custodian_rules
         custodian_storage
         custodian_proto custodian_common absl::status absl::statusor
         absl::strings absl::time)

if(CUSTODIAN_BUILD_TESTS)
  add_executable(pool_test pool_desk_test.cc recycling_sweeper_test.cc
    duplicate_index_test.cc cooldowns_test.cc)
  target_compile_options(pool_test PRIVATE ${CUSTODIAN_WARNINGS})
  target_link_libraries(pool_test PRIVATE custodian_pool
    Threads::Threads GTest::gtest_main GTest::gmock)
  gtest_discover_tests(pool_test DISCOVERY_TIMEOUT 60)
endif()
