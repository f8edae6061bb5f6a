#include "metrics/mock_provider.h"

#include <gtest/gtest.h>

#include <cmath>

namespace iter8::metrics {
namespace {

api::Metric Mock(api::MetricType type) {
  api::Metric m;
  m.metadata.name = "m";
  m.spec.type = type;
  m.spec.mock = {{"v1", *api::Quantity::Parse("15"), {}}, {"v2", *api::Quantity::Parse("20"), {}}};
  return m;
}

api::VersionDetail Version(const std::string& name) {
  api::VersionDetail v;
  v.name = name;
  return v;
}

QueryContext At(double seconds) {
  absl::Time start = absl::FromUnixSeconds(0);
  return {start, start + absl::Seconds(seconds), false};
}

TEST(MockProviderTest, CounterGrowsWithElapsedTime) {
  Mt19937Random random(1);
  MockProvider p(random);
  auto m = Mock(api::MetricType::kCounter);
  EXPECT_EQ(p.Query(m, Version("v1"), At(10.7)).value, 150.0);
  EXPECT_EQ(p.Query(m, Version("v2"), At(0.2)).value, 20.0);  // elapsed at least 1 s
}

TEST(MockProviderTest, GaugeHasTheLevelAsMeanAndShrinkingSpread) {
  Mt19937Random random(2);
  MockProvider p(random);
  auto m = Mock(api::MetricType::kGauge);
  for (double t : {2.0, 200.0}) {
    double sum = 0, sq = 0;
    const int n = 4000;
    for (int i = 0; i < n; ++i) {
      double v = *p.Query(m, Version("v1"), At(t)).value;
      ASSERT_GE(v, 0);
      ASSERT_LE(v, 30);
      sum += v;
      sq += v * v;
    }
    const double mean = sum / n, var = sq / n - mean * mean;
    // Var(2 L Beta(t, t)) = 4 L^2 / (4 (2t + 1)) = L^2 / (2t + 1).
    const double want_var = 15.0 * 15.0 / (2 * t + 1);
    EXPECT_NEAR(mean, 15.0, 4 * std::sqrt(want_var / n));
    EXPECT_NEAR(var, want_var, 0.1 * want_var);
  }
}

TEST(MockProviderTest, UnknownVersionIsUnavailableNotZero) {
  Mt19937Random random(3);
  MockProvider p(random);
  auto r = p.Query(Mock(api::MetricType::kGauge), Version("v3"), At(5));
  EXPECT_FALSE(r.value.has_value());
  EXPECT_EQ(r.unavailable, "mock metric m has no level for version v3");
}

}  // namespace
}  // namespace iter8::metrics
