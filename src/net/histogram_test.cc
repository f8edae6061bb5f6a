// File: net/histogram_test.cc
#include "net/histogram.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace iter8::net {
namespace {

TEST(LatencyHistogramTest, EmptyReadsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.Count(), 0u);
  EXPECT_EQ(h.Percentile(0.99), 0u);
  EXPECT_EQ(h.Min(), 0u);
  EXPECT_EQ(h.Mean(), 0);
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 100; ++v) h.Record(v);
  EXPECT_EQ(h.Percentile(0.5), 50u);
  EXPECT_EQ(h.Percentile(0.99), 99u);
  EXPECT_EQ(h.Percentile(1.0), 100u);
  EXPECT_EQ(h.Min(), 1u);
  EXPECT_DOUBLE_EQ(h.Mean(), 50.5);
}

TEST(LatencyHistogramTest, LargeValuesWithinResolution) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(8.0, 1.5);  // median ~3 ms, long tail
  LatencyHistogram h;
  std::vector<uint64_t> values;
  for (int i = 0; i < 100000; ++i) {
    auto v = static_cast<uint64_t>(dist(rng)) + 1;
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    double exact =
        static_cast<double>(values[static_cast<size_t>(std::ceil(q * values.size())) - 1]);
    double got = static_cast<double>(h.Percentile(q));
    EXPECT_GE(got, exact) << q;
    EXPECT_LE(got, exact * 1.016 + 1) << q;
  }
  EXPECT_EQ(h.Max(), values.back());
}

TEST(LatencyHistogramTest, MergeEqualsRecordingEverything) {
  LatencyHistogram a, b, all;
  for (uint64_t v = 1; v < 50000; v += 7) {
    (v % 2 ? a : b).Record(v);
    all.Record(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.Count(), all.Count());
  for (double q : {0.1, 0.5, 0.9, 0.999}) EXPECT_EQ(a.Percentile(q), all.Percentile(q));
  EXPECT_EQ(a.Min(), all.Min());
  EXPECT_EQ(a.Max(), all.Max());
}

TEST(LatencyHistogramTest, HugeValuesClamp) {
  LatencyHistogram h;
  h.Record(~uint64_t{0});
  EXPECT_EQ(h.Count(), 1u);
  EXPECT_EQ(h.Max(), LatencyHistogram::kMaxMicros - 1);
}

TEST(LatencyHistogramTest, BucketsCoverEveryValueOnceInOrder) {
  LatencyHistogram h;
  const std::vector<uint64_t> values = {0, 5, 127, 128, 129, 1000, 1001, 250000, 250000};
  for (uint64_t v : values) h.Record(v);
  EXPECT_EQ(h.Sum(), 0u + 5 + 127 + 128 + 129 + 1000 + 1001 + 250000 + 250000);
  uint64_t total = 0;
  uint64_t previous_upper = 0;
  bool first = true;
  h.ForEachBucket([&](uint64_t lower, uint64_t upper, uint64_t count) {
    EXPECT_LE(lower, upper);
    if (!first) {
      EXPECT_GT(lower, previous_upper);
    }
    first = false;
    previous_upper = upper;
    uint64_t inside = 0;
    for (uint64_t v : values) inside += v >= lower && v <= upper;
    EXPECT_EQ(inside, count) << "bucket [" << lower << ", " << upper << "]";
    total += count;
  });
  EXPECT_EQ(total, values.size());
}

}  // namespace
}  // namespace iter8::net
