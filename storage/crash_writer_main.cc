// Test helper for the unclean-shutdown test: opens the store in argv[1] and
// commits numbered transactions (crash_writer.h) for ever, up to a limit,
// writing "<n>\n" to stdout after commit n is acknowledged. The test kills it
// with SIGKILL at a random point.
//
//   storage_crash_writer DATA_DIR sync|nosync
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "storage/crash_writer.h"
#include "storage/rocksdb_store.h"

int main(int argc, char** argv) {
  using namespace custodian::storage;
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DATA_DIR sync|nosync\n", argv[0]);
    return 2;
  }
  RocksDbStoreOptions options;
  options.data_dir = argv[1];
  options.sync_writes = std::strcmp(argv[2], "sync") == 0;
  absl::StatusOr<std::unique_ptr<Store>> store = RocksDbStore::Open(options);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<Snapshot>> snap = (*store)->NewSnapshot();
  if (!snap.ok()) return 1;
  absl::StatusOr<int64_t> next = (*snap)->GetCounter(crash::kCrashCounterKey);
  snap->reset();
  if (!next.ok()) return 1;
  for (uint64_t i = *next; i < static_cast<uint64_t>(*next) + 100000; ++i) {
    absl::Status s = crash::CommitOne(**store, i);
    if (!s.ok()) {
      std::fprintf(stderr, "commit %lu: %s\n", static_cast<unsigned long>(i),
                   s.ToString().c_str());
      return 1;
    }
    std::string line = absl::StrCat(i, "\n");
    if (write(STDOUT_FILENO, line.data(), line.size()) !=
        static_cast<ssize_t>(line.size())) {
      return 1;
    }
  }
  return 0;
}
