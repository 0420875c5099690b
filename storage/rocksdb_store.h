// The RocksDB implementation of Store (store.h): an embedded, single-machine
// store in one data directory.
//
// Layout: one column family per Table, named TableName(table), in a
// pessimistic rocksdb::TransactionDB. Counters (Table::kCounters) are 8-byte
// big-endian int64 values updated through a merge operator that adds, so
// AddToCounter neither reads nor locks. kMeta holds the schema version under
// kSchemaVersionKey as "<major>.<minor>" text. See README.md for why
// pessimistic, the key encoding and the durability contract.
#ifndef CUSTODIAN_STORAGE_ROCKSDB_STORE_H_
#define CUSTODIAN_STORAGE_ROCKSDB_STORE_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/store.h"

namespace custodian::storage {

struct RocksDbStoreOptions {
  // Directory holding the store. Required. Created (the last path component
  // only) when create_if_missing is true and it holds no store yet.
  std::string data_dir;

  // Create a new, empty store when data_dir holds none. When false, opening a
  // directory without a store returns NOT_FOUND.
  bool create_if_missing = true;

  // true (default): Commit() returns only after the commit is on disk
  // (fsync of the write-ahead log); concurrent commits share one fsync (group
  // commit). No acknowledged commit is ever lost.
  //
  // false (UNSAFE): Commit() returns once the commit is written to the
  // operating system, before it reaches the disk. If only the custodiand
  // process crashes or is killed, nothing acknowledged is lost. If the
  // machine or the operating system crashes, or power is lost, the commits
  // acknowledged in roughly the last 30 seconds (the OS's dirty-page
  // write-back delay; Linux default) may be lost;
  // each commit is still all-or-nothing and the store stays consistent, but
  // callers were told "done" for changes that are gone. Store::Flush() makes
  // everything acknowledged so far durable.
  bool sync_writes = true;

  // How long a transaction waits for a key locked by another transaction
  // before GetForUpdate/Put/Delete return ABORTED, unless TxnOptions says
  // otherwise. Zero: never wait. absl::InfiniteDuration(): wait for ever
  // (deadlocks are still detected and return ABORTED). Negative:
  // INVALID_ARGUMENT.
  absl::Duration lock_timeout = absl::Seconds(1);

  // Bytes of the block cache shared by all tables (uncompressed data,
  // index and filter blocks). Must be > 0.
  size_t block_cache_bytes = size_t{256} << 20;

  // Bytes of write buffers (memtables) for all tables together; when full,
  // the largest is flushed. Also bounds the write-ahead log replayed at
  // start-up. Must be > 0.
  size_t write_buffer_bytes = size_t{256} << 20;
};

class RocksDbStore {
 public:
  // The schema version this build writes. A data dir is readable when its
  // major version equals kSchemaMajor; a different minor version only adds
  // tables or key families, which older code ignores.
  static constexpr int kSchemaMajor = 1;
  static constexpr int kSchemaMinor = 0;
  // The kMeta key holding the schema version.
  static constexpr absl::string_view kSchemaVersionKey = "schema_version";

  // Opens (or creates) the store in options.data_dir. Returns the open store,
  // or:
  //   INVALID_ARGUMENT    bad options (empty data_dir, negative lock_timeout,
  //                       zero cache or buffer size);
  //   NOT_FOUND           no store in data_dir and create_if_missing false;
  //   FAILED_PRECONDITION data_dir was written by an incompatible schema
  //                       version, or holds a RocksDB database that is not a
  //                       Custodian store (both left untouched), or data dir
  //                       options that cannot be reconciled;
  //   UNAVAILABLE         an I/O error, or the dir is locked by another
  //                       process or another open Store;
  //   DATA_LOSS           the data is corrupt.
  // Opening an existing store never rescans its data: start-up time does not
  // grow with the number of stored records.
  static absl::StatusOr<std::unique_ptr<Store>> Open(
      const RocksDbStoreOptions& options);

  RocksDbStore() = delete;
};

}  // namespace custodian::storage

#endif  // CUSTODIAN_STORAGE_ROCKSDB_STORE_H_
