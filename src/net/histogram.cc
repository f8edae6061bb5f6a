// File: net/histogram.cc
#include "net/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace iter8::net {

// Values below kLinear map to themselves. Above, for v with its highest set bit at e (e >= 7),
// the bucket is kLinear + (e - 7) * 64 + the next 6 bits of v.
int LatencyHistogram::Index(uint64_t v) {
  if (v < static_cast<uint64_t>(kLinear)) return static_cast<int>(v);
  int e = std::bit_width(v) - 1;  // >= 7
  int sub = static_cast<int>((v >> (e - kSubBits)) & ((1 << kSubBits) - 1));
  return kLinear + (e - (kSubBits + 1)) * (1 << kSubBits) + sub;
}

uint64_t LatencyHistogram::UpperBound(int index) {
  if (index < kLinear) return static_cast<uint64_t>(index);
  int rel = index - kLinear;
  int e = rel / (1 << kSubBits) + kSubBits + 1;
  uint64_t sub = static_cast<uint64_t>(rel % (1 << kSubBits));
  uint64_t lower = (uint64_t{1} << e) | (sub << (e - kSubBits));
  return lower + (uint64_t{1} << (e - kSubBits)) - 1;
}

void LatencyHistogram::Record(uint64_t micros) {
  micros = std::min(micros, kMaxMicros - 1);
  ++buckets_[Index(micros)];
  ++count_;
  sum_ += micros;
  min_ = std::min(min_, micros);
  max_ = std::max(max_, micros);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (int i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

uint64_t LatencyHistogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * count_)));
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::clamp(UpperBound(i), Min(), max_);
  }
  return max_;
}

}  // namespace iter8::net
