# The ownership book (no gRPC): ownership records, their indexes and
# counters, the event history and its global feed. See
# server/ownership_book.h, server/event_sequencer.h, server/event_feed.h and
# storage/README.md "Domain keys".
add_library(custodian_book
  ownership_book.cc
  ownership_book_keys.cc
  event_sequencer.cc
  event_feed.cc)
target_compile_options(custodian_book PRIVATE ${CUSTODIAN_WARNINGS})
# custodian_assign_core (assign.cmake) owns TeamAllocator::OwnedCounterKey,
# the key of the owned counters the book keeps.
target_link_libraries(custodian_book
  PUBLIC custodian_domain custodian_storage custodian_proto
         custodian_assign_core custodian_common absl::status absl::statusor
         absl::strings absl::synchronization absl::time absl::flat_hash_set)

if(CUSTODIAN_BUILD_TESTS)
  add_executable(book_test
    ownership_book_test.cc
    ownership_book_keys_test.cc
    event_sequencer_test.cc
    event_feed_test.cc)
  target_compile_options(book_test PRIVATE ${CUSTODIAN_WARNINGS})
  target_link_libraries(book_test PRIVATE custodian_book Threads::Threads
    GTest::gtest_main GTest::gmock)
  gtest_discover_tests(book_test DISCOVERY_TIMEOUT 60)
endif()
