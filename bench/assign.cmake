# TeamAllocator Pick+Commit throughput: one hot team vs many teams, 1 and 8
# threads (server/team_allocator.h). Included from bench/CMakeLists.txt.
add_executable(team_allocator_bench team_allocator_bench.cc)
target_compile_options(team_allocator_bench PRIVATE ${CUSTODIAN_WARNINGS})
target_link_libraries(team_allocator_bench PRIVATE custodian_assign_core
  benchmark::benchmark_main)
