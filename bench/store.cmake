# Store commit throughput next to RocksDB's raw write rate (storage/README.md).
# Included from bench/CMakeLists.txt.
add_executable(store_commit_bench store_commit_bench.cc)
target_compile_options(store_commit_bench PRIVATE ${CUSTODIAN_WARNINGS})
target_link_libraries(store_commit_bench PRIVATE custodian_storage
  RocksDB::rocksdb benchmark::benchmark_main)
