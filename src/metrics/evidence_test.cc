#include "metrics/evidence.h"

#include <gtest/gtest.h>

#include "metrics/builtin_provider.h"
#include "metrics/mock_provider.h"

namespace iter8::metrics {
namespace {

TEST(EvidenceTest, SampleSizeFromTheSampleSizeMetric) {
  api::Metric rate, count;
  rate.metadata.name = "rate";
  rate.spec.type = api::MetricType::kGauge;
  rate.spec.mock = {{"v1", *api::Quantity::Parse("10m"), {}}};
  count.metadata.name = "count";
  count.spec.type = api::MetricType::kCounter;
  count.spec.mock = {{"v1", *api::Quantity::Parse("3"), {}}};
  Mt19937Random random(5);
  MockProvider mock(random);
  api::VersionDetail v;
  v.name = "v1";
  absl::Time start = absl::FromUnixSeconds(0);
  QueryContext ctx{start, start + absl::Seconds(20), false};
  MetricResult r = QueryWithSampleSize(mock, rate, &count, v, ctx);
  ASSERT_TRUE(r.value);
  EXPECT_EQ(r.sample_size, 60.0);  // 20 s x 3
  EXPECT_FALSE(QueryWithSampleSize(mock, rate, nullptr, v, ctx).sample_size);
  // No value: no second query, no sample size.
  v.name = "v2";
  MetricResult none = QueryWithSampleSize(mock, rate, &count, v, ctx);
  EXPECT_FALSE(none.value);
  EXPECT_FALSE(none.sample_size);
}

TEST(EvidenceTest, BackendSampleSizeWins) {
  VersionStats s;
  s.requests = 7;
  s.errors = 1;
  MapBuiltinSource source({{"v1", s}});
  BuiltinProvider builtin(source);
  api::Metric rate, other;
  rate.metadata.name = "error-rate";
  other.metadata.name = "error-count";  // would give 1 if it were used
  api::VersionDetail v;
  v.name = "v1";
  MetricResult r = QueryWithSampleSize(builtin, rate, &other, v, QueryContext{});
  EXPECT_EQ(r.sample_size, 7.0);
}

}  // namespace
}  // namespace iter8::metrics
