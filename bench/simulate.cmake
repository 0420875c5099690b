# SimulateRuleset over 1,000,000 stored customers (server/
# ruleset_simulator.h): customers per second and peak RSS. Included from
# bench/CMakeLists.txt.
add_executable(simulate_bench simulate_bench.cc)
target_compile_options(simulate_bench PRIVATE ${CUSTODIAN_WARNINGS})
target_compile_definitions(simulate_bench PRIVATE
  CUSTODIAN_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
target_link_libraries(simulate_bench PRIVATE custodian_simulate custodian_book
  custodian_domain custodian_storage benchmark::benchmark_main)
