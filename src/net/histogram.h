// File: net/histogram.h
//
// A log-linear latency histogram (HdrHistogram-like): exact below 128 µs, then 64 sub-buckets
// per power of two, so any recorded value is known within 1.6 %. Fixed size (no allocation
// after construction), mergeable, and cheap to record into (a few instructions). Used by the
// load generator for its report and by tests.
//
// Not thread-safe: give each thread its own and Merge them when reading.
#pragma once

#include <array>
#include <cstdint>
#include <limits>

namespace iter8::net {

class LatencyHistogram {
 public:
  // Values are microseconds; values above kMaxMicros are recorded as kMaxMicros.
  static constexpr uint64_t kMaxMicros = uint64_t{1} << 40;  // ~12.7 days

  void Record(uint64_t micros);
  void Merge(const LatencyHistogram& other);
  void Clear() { *this = LatencyHistogram(); }

  uint64_t Count() const { return count_; }
  uint64_t Min() const { return count_ == 0 ? 0 : min_; }
  uint64_t Max() const { return max_; }
  uint64_t Sum() const { return sum_; }
  double Mean() const { return count_ == 0 ? 0 : static_cast<double>(sum_) / count_; }
  // The smallest recorded value v such that at least q (0..1) of all values are <= v, up to the
  // bucket's resolution (the bucket's upper bound, clamped to Max()). 0 when empty.
  uint64_t Percentile(double q) const;

  // Calls f(lower, upper, count) for every non-empty bucket in ascending order; the bucket
  // holds the values v with lower <= v <= upper (microseconds).
  template <typename F>
  void ForEachBucket(F f) const {
    for (int i = 0; i < kBuckets; ++i) {
      if (buckets_[i] != 0) f(i == 0 ? 0 : UpperBound(i - 1) + 1, UpperBound(i), buckets_[i]);
    }
  }

 private:
  static constexpr int kSubBits = 6;             // 64 sub-buckets per power of two
  static constexpr int kLinear = 2 << kSubBits;  // values < 128 have a bucket each
  static constexpr int kBuckets = kLinear + (40 - kSubBits) * (1 << kSubBits);

  static int Index(uint64_t v);
  static uint64_t UpperBound(int index);

  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = std::numeric_limits<uint64_t>::max();
  uint64_t max_ = 0;
};

}  // namespace iter8::net
