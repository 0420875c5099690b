#include "storage/keys.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"

namespace custodian::storage {
namespace {

constexpr uint64_t kSignBit = uint64_t{1} << 63;
constexpr char kEscape = '\x00';
constexpr char kEscapedZero = '\xff';
constexpr char kTerminator = '\x01';

}  // namespace

void AppendBigEndian64(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(buf, sizeof(buf));
}

uint64_t LoadBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v = (v << 8) | static_cast<uint8_t>(p[i]);
  }
  return v;
}

KeyBuilder& KeyBuilder::AddString(absl::string_view s) {
  key_.reserve(key_.size() + s.size() + 2);
  // Runs without a zero byte are copied whole; each zero gets its escape.
  for (size_t zero = s.find(kEscape); zero != absl::string_view::npos;
       zero = s.find(kEscape)) {
    key_.append(s.data(), zero + 1);
    key_.push_back(kEscapedZero);
    s.remove_prefix(zero + 1);
  }
  key_.append(s.data(), s.size());
  key_.push_back(kEscape);
  key_.push_back(kTerminator);
  return *this;
}

KeyBuilder& KeyBuilder::AddUint64(uint64_t v) {
  AppendBigEndian64(&key_, v);
  return *this;
}

KeyBuilder& KeyBuilder::AddInt64(int64_t v) {
  AppendBigEndian64(&key_, static_cast<uint64_t>(v) ^ kSignBit);
  return *this;
}

KeyBuilder& KeyBuilder::AddTime(absl::Time t) {
  return AddInt64(absl::ToUnixMicros(t));
}

absl::Status KeyReader::ReadString(std::string* out) {
  std::string s;
  for (size_t i = pos_; i < key_.size(); ++i) {
    if (key_[i] != kEscape) {
      s.push_back(key_[i]);
      continue;
    }
    if (i + 1 == key_.size()) break;
    if (key_[i + 1] == kTerminator) {
      *out = std::move(s);
      pos_ = i + 2;
      return absl::OkStatus();
    }
    if (key_[i + 1] != kEscapedZero) {
      return absl::InvalidArgumentError(
          absl::StrCat("key has a bad escape in the string at byte ", i));
    }
    s.push_back(kEscape);
    ++i;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("key has an unterminated string at byte ", pos_));
}

absl::Status KeyReader::ReadUint64(uint64_t* out) {
  if (key_.size() - pos_ < 8) {
    return absl::InvalidArgumentError(
        absl::StrCat("key is too short for an integer at byte ", pos_));
  }
  *out = LoadBigEndian64(key_.data() + pos_);
  pos_ += 8;
  return absl::OkStatus();
}

absl::Status KeyReader::ReadInt64(int64_t* out) {
  uint64_t u = 0;
  absl::Status s = ReadUint64(&u);
  if (s.ok()) *out = static_cast<int64_t>(u ^ kSignBit);
  return s;
}

absl::Status KeyReader::ReadTime(absl::Time* out) {
  int64_t micros = 0;
  absl::Status s = ReadInt64(&micros);
  if (s.ok()) *out = absl::FromUnixMicros(micros);
  return s;
}

absl::Status KeyReader::Skip(size_t n) {
  if (key_.size() - pos_ < n) {
    return absl::InvalidArgumentError(
        absl::StrCat("key is too short to skip ", n, " bytes at byte ", pos_));
  }
  pos_ += n;
  return absl::OkStatus();
}

std::string PrefixUpperBound(absl::string_view prefix) {
  std::string bound(prefix);
  while (!bound.empty()) {
    unsigned char last = static_cast<unsigned char>(bound.back());
    if (last != 0xff) {
      bound.back() = static_cast<char>(last + 1);
      return bound;
    }
    bound.pop_back();
  }
  return bound;
}

}  // namespace custodian::storage
