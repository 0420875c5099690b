# custodian_loadgen: the gRPC load generator (bench/loadgen.cc) that drives a
# running custodiand with Assign, BatchAssign, Evaluate or the empty health
# RPC, and bench/run_load.sh, the scenarios of docs/performance.md. A
# benchmark, not a test: not registered with ctest. Included from
# bench/CMakeLists.txt.
# The workload both load generators use (bench/workload.h).
add_library(custodian_bench_workload workload.cc)
target_compile_options(custodian_bench_workload PRIVATE ${CUSTODIAN_WARNINGS})
target_link_libraries(custodian_bench_workload PUBLIC custodian_proto
  absl::strings absl::time)

add_executable(custodian_loadgen loadgen.cc)
target_compile_options(custodian_loadgen PRIVATE ${CUSTODIAN_WARNINGS})
target_link_libraries(custodian_loadgen PRIVATE custodian_bench_workload custodian_grpc
  custodian_health_proto gRPC::grpc++ CLI11::CLI11 nlohmann_json::nlohmann_json
  absl::strings absl::str_format absl::time absl::synchronization
  Threads::Threads)
