# The domain layer of the roster and ruleset services (no gRPC): request
# checks and error details, idempotency records, the roster and ruleset
# registries, and the first-start bootstrap. See the headers for contracts and
# storage/README.md "Domain keys" for the key layout.
find_package(OpenSSL REQUIRED)

add_library(custodian_domain
  audit_log.cc
  request_checks.cc
  idempotency.cc
  roster_registry.cc
  ruleset_registry.cc
  bootstrap.cc)
target_compile_options(custodian_domain PRIVATE ${CUSTODIAN_WARNINGS})
target_link_libraries(custodian_domain
  PUBLIC custodian_storage custodian_rules custodian_proto custodian_common
         absl::status absl::statusor absl::strings absl::synchronization
         absl::time absl::flat_hash_map absl::random_random
  PRIVATE OpenSSL::Crypto)

if(CUSTODIAN_BUILD_TESTS)
  add_executable(domain_test
    audit_log_test.cc
    request_checks_test.cc
    idempotency_test.cc
    roster_registry_test.cc
    ruleset_registry_test.cc
    bootstrap_test.cc)
  target_compile_options(domain_test PRIVATE ${CUSTODIAN_WARNINGS})
  target_compile_definitions(domain_test PRIVATE
    CUSTODIAN_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  target_link_libraries(domain_test PRIVATE custodian_domain
    GTest::gtest_main GTest::gmock)
  gtest_discover_tests(domain_test DISCOVERY_TIMEOUT 60)
endif()
