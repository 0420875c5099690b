// The key encoding: composite keys whose bytewise order equals the order of
// their component tuples, so that range and prefix scans follow the logical
// order (by customer, then department, then time, ...).
//
// A key is the concatenation of its encoded components. Components carry no
// type tag: every key family has a fixed layout, documented where it is
// defined (see README.md for the table of layouts). Encodings:
//
//   uint64   8 bytes, big-endian.
//   int64    8 bytes, big-endian, of the value with its sign bit flipped
//            (so INT64_MIN encodes as 00..00 and INT64_MAX as FF..FF).
//   time     int64 microseconds since the Unix epoch (absl::ToUnixMicros),
//            encoded as int64.
//   string   the bytes, with every 0x00 written as 0x00 0xFF, followed by the
//            terminator 0x00 0x01. Any bytes are allowed. A string's
//            encoding is never a prefix of another string's encoding, so the
//            prefix "customer c1" never matches "customer c10", and a shorter
//            string sorts before its extensions ("a" < "a\0" < "ab").
//
// Order: for tuples of the same layout, and for a tuple and its
// extensions (a tuple sorts before any tuple that extends it),
// Encode(a) < Encode(b) bytewise iff a < b component-wise.
//
// Thread-safety: all functions are pure; a KeyBuilder or KeyReader is used by
// one thread at a time.
#ifndef CUSTODIAN_STORAGE_KEYS_H_
#define CUSTODIAN_STORAGE_KEYS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace custodian::storage {

// Appends `v` as 8 big-endian bytes to *out.
void AppendBigEndian64(std::string* out, uint64_t v);
// Returns the big-endian uint64 in the 8 bytes at `p`.
uint64_t LoadBigEndian64(const char* p);

// Builds a key by appending components in order:
//   std::string k = KeyBuilder().AddString(customer).AddUint64(seq).Build();
class KeyBuilder {
 public:
  KeyBuilder() = default;
  // Starts from an already-encoded prefix (e.g. a table's key-family tag).
  explicit KeyBuilder(absl::string_view encoded_prefix)
      : key_(encoded_prefix) {}

  KeyBuilder& AddString(absl::string_view s);
  KeyBuilder& AddUint64(uint64_t v);
  KeyBuilder& AddInt64(int64_t v);
  // REQUIRES: t is finite (not absl::InfiniteFuture/Past).
  KeyBuilder& AddTime(absl::Time t);

  // The key built so far.
  const std::string& key() const { return key_; }
  // The finished key.
  std::string Build() const& { return key_; }
  std::string Build() && { return std::move(key_); }

 private:
  std::string key_;
};

// Reads the components of a key, in the order they were added. Each Read*
// returns OK and advances, or returns INVALID_ARGUMENT (naming the byte
// offset) if the next bytes are not a well-formed component of that type, in
// which case the reader does not advance.
class KeyReader {
 public:
  // REQUIRES: the bytes of `key` outlive the reader (it keeps a view).
  explicit KeyReader(absl::string_view key) : key_(key) {}

  absl::Status ReadString(std::string* out);
  absl::Status ReadUint64(uint64_t* out);
  absl::Status ReadInt64(int64_t* out);
  absl::Status ReadTime(absl::Time* out);
  // Skips `n` raw bytes (e.g. a tag written by KeyBuilder(prefix)).
  absl::Status Skip(size_t n);

  // True once every byte has been read.
  bool done() const { return pos_ == key_.size(); }
  // The bytes not yet read.
  absl::string_view remaining() const { return key_.substr(pos_); }

 private:
  absl::string_view key_;
  size_t pos_ = 0;
};

// Returns the smallest key greater than every key that starts with `prefix`
// (the exclusive upper bound of a prefix scan), or "" if there is none
// (empty prefix, or a prefix made only of 0xFF bytes): no upper bound.
std::string PrefixUpperBound(absl::string_view prefix);

}  // namespace custodian::storage

#endif  // CUSTODIAN_STORAGE_KEYS_H_
