# A periodic REPORT review over 1,000,000 stored customers: time, peak RSS,
# and Assign throughput with and without a review running
# (bench/review_bench.cc). Included from bench/CMakeLists.txt.
add_executable(review_bench review_bench.cc)
target_compile_options(review_bench PRIVATE ${CUSTODIAN_WARNINGS})
target_link_libraries(review_bench PRIVATE custodian_bench_workload
  custodian_review custodian_assign custodian_domain Threads::Threads)
if(TARGET PkgConfig::TCMALLOC)
  target_link_libraries(review_bench PRIVATE PkgConfig::TCMALLOC)
endif()
