# TeamAllocator Pick+Commit throughput: one hot team vs many teams, 1 and 8
# threads (server/team_allocator.h). Included from bench/CMakeLists.txt.
add_executable(team_allocator_bench team_allocator_bench.cc)
target_compile_options(team_allocator_bench PRIVATE ${CUSTODIAN_WARNINGS})
target_link_libraries(team_allocator_bench PRIVATE custodian_assign_core
  benchmark::benchmark_main)

# One Assign / Evaluate in process, without gRPC, over a real RocksDB store:
# the CPU cost of the call (bench/assigner_bench.cc).
add_executable(assigner_bench assigner_bench.cc)
target_compile_options(assigner_bench PRIVATE ${CUSTODIAN_WARNINGS})
target_link_libraries(assigner_bench PRIVATE custodian_bench_workload
  custodian_assign custodian_domain benchmark::benchmark)
if(TARGET PkgConfig::TCMALLOC)
  # The allocator custodiand uses, so the figures are custodiand's.
  target_link_libraries(assigner_bench PRIVATE PkgConfig::TCMALLOC)
endif()
