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
  PRIVATE PkgConfig::UTF8PROC)

if(CUSTODIAN_BUILD_TESTS)
  add_executable(dupkeys_test duplicate_keys_test.cc)
  target_compile_options(dupkeys_test PRIVATE ${CUSTODIAN_WARNINGS})
  target_link_libraries(dupkeys_test PRIVATE custodian_dupkeys
    GTest::gtest_main GTest::gmock)
  gtest_discover_tests(dupkeys_test DISCOVERY_TIMEOUT 60)
endif()
