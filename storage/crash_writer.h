// Shared by the unclean-shutdown test (rocksdb_store_test.cc) and its child
// process (crash_writer_main.cc): what one numbered test commit writes.
//
// Commit number i writes, in one transaction:
//   kCustomers[CrashKey(i)], kEvents[CrashKey(i)], kIndexes[CrashKey(i)],
//   kAudit[CrashKey(i)]  = CrashValue(i)
//   kCounters[kCrashCounterKey] += 1
// Commits are numbered 0, 1, 2, ... in order; the next number is the counter.
#ifndef CUSTODIAN_STORAGE_CRASH_WRITER_H_
#define CUSTODIAN_STORAGE_CRASH_WRITER_H_

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "storage/keys.h"
#include "storage/store.h"

namespace custodian::storage::crash {

inline constexpr Table kCrashTables[] = {Table::kCustomers, Table::kEvents,
                                         Table::kIndexes, Table::kAudit};
inline constexpr absl::string_view kCrashCounterKey = "crash_commits";

inline std::string CrashKey(uint64_t i) {
  return KeyBuilder().AddString("crash").AddUint64(i).Build();
}

inline std::string CrashValue(uint64_t i) {
  return absl::StrCat("commit ", i, std::string(200, 'x'));
}

// Commits number i. Returns the commit's status.
inline absl::Status CommitOne(Store& store, uint64_t i) {
  return RunInTransaction(store, [&](Transaction& txn) -> absl::Status {
    for (Table t : kCrashTables) {
      absl::Status s = txn.Put(t, CrashKey(i), CrashValue(i));
      if (!s.ok()) return s;
    }
    return txn.AddToCounter(kCrashCounterKey, 1);
  });
}

}  // namespace custodian::storage::crash

#endif  // CUSTODIAN_STORAGE_CRASH_WRITER_H_
