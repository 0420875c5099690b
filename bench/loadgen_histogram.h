// A log-linear latency histogram in the manner of HdrHistogram, for the load
// generator (bench/loadgen.cc): values below 128 have a bucket each; above,
// every power of two is split into 128 equal buckets, so a reported value is
// within 1/128 (< 0.8%) of the recorded one, for any uint64 value, in a fixed
// 59 KiB table. Recording is one increment, with no allocation.
//
// Not thread-safe: give each thread (or each load-generator caller, whose
// calls never overlap) its own histogram and Merge them at the end.
#ifndef CUSTODIAN_BENCH_LOADGEN_HISTOGRAM_H_
#define CUSTODIAN_BENCH_LOADGEN_HISTOGRAM_H_

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace custodian::loadgen {

class LatencyHistogram {
 public:
  static constexpr int kSubBucketBits = 7;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;
  // Indexes 0..127 are exact; each of the 57 octaves above has 128 buckets.
  static constexpr int kBuckets =
      static_cast<int>(kSubBuckets) * (64 - kSubBucketBits + 1);

  void Record(uint64_t value) {
    ++counts_[Index(value)];
    ++count_;
    sum_ += value;
    max_ = std::max(max_, value);
    min_ = std::min(min_, value);
  }

  void Merge(const LatencyHistogram& other) {
    for (int i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    max_ = std::max(max_, other.max_);
    min_ = std::min(min_, other.min_);
  }

  uint64_t count() const { return count_; }
  // 0 when empty.
  uint64_t max() const { return max_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  double mean() const {
    return count_ == 0
               ? 0.0
               : static_cast<double>(sum_) / static_cast<double>(count_);
  }

  // The smallest recorded-bucket upper bound v such that at least a fraction
  // q (0..1) of the values are <= v, clamped to max(); 0 when empty. Like
  // HdrHistogram's "highest equivalent value", it never under-reports.
  uint64_t Percentile(double q) const {
    if (count_ == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(count_));
    if (static_cast<double>(rank) < q * static_cast<double>(count_)) ++rank;
    rank = std::max<uint64_t>(rank, 1);
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(UpperBound(i), max_);
    }
    return max_;
  }

  static int Index(uint64_t value) {
    if (value < kSubBuckets) return static_cast<int>(value);
    const int msb = 63 - std::countl_zero(value);  // >= kSubBucketBits
    const int shift = msb - kSubBucketBits;
    return (shift + 1) * static_cast<int>(kSubBuckets) +
           static_cast<int>((value >> shift) - kSubBuckets);
  }

  // The largest value that falls in bucket `index`.
  static uint64_t UpperBound(int index) {
    if (index < static_cast<int>(kSubBuckets)) return index;
    const int shift = index / static_cast<int>(kSubBuckets) - 1;
    const uint64_t mantissa = kSubBuckets + index % kSubBuckets;
    return ((mantissa + 1) << shift) - 1;
  }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
};

}  // namespace custodian::loadgen

#endif  // CUSTODIAN_BENCH_LOADGEN_HISTOGRAM_H_
