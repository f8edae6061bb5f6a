#include "metrics/builtin_provider.h"

#include <gtest/gtest.h>

namespace iter8::metrics {
namespace {

api::Metric Named(const std::string& name) {
  api::Metric m;
  m.metadata.name = name;
  m.spec.provider = "iter8";
  return m;
}

api::VersionDetail V(const std::string& name) {
  api::VersionDetail v;
  v.name = name;
  return v;
}

VersionStats Stats() {
  VersionStats s;
  s.requests = 100;
  s.errors = 3;
  s.latency_sum_ms = 4200;
  s.upper_bounds_ms = {10, 50, 100, 500};
  s.bucket_counts = {20, 40, 30, 8};  // 98 within bounds
  s.overflow = 2;
  return s;
}

TEST(BuiltinProviderTest, ComputesEveryBuiltinMetric) {
  MapBuiltinSource source({{"v1", Stats()}});
  BuiltinProvider p(source);
  QueryContext ctx;
  auto get = [&](const std::string& m) { return p.Query(Named(m), V("v1"), ctx); };
  EXPECT_EQ(get("request-count").value, 100.0);
  EXPECT_EQ(get("iter8-system/request-count").value, 100.0);
  EXPECT_EQ(get("error-count").value, 3.0);
  EXPECT_DOUBLE_EQ(*get("error-rate").value, 0.03);
  EXPECT_DOUBLE_EQ(*get("mean-latency").value, 42.0);
  EXPECT_EQ(get("mean-latency").sample_size, 100.0);
  // rank 50 of 100: 30 into the (10, 50] bucket of 40 -> 10 + 40 * 30/40 = 40.
  EXPECT_DOUBLE_EQ(*get("latency-50th-percentile").value, 40.0);
  // rank 95: 5 into the (100, 500] bucket of 8 -> 100 + 400 * 5/8 = 350.
  EXPECT_DOUBLE_EQ(*get("latency-95th-percentile").value, 350.0);
  // rank 99 lies in the overflow: reported as the last bound.
  EXPECT_DOUBLE_EQ(*get("latency-99th-percentile").value, 500.0);
  EXPECT_NE(get("latency-42th-percentile").unavailable.find("unknown builtin metric"),
            std::string::npos);
}

TEST(BuiltinProviderTest, NoRequestsMeansUnavailableNotZero) {
  MapBuiltinSource source({{"idle", VersionStats{}}});
  BuiltinProvider p(source);
  QueryContext ctx;
  EXPECT_EQ(p.Query(Named("request-count"), V("idle"), ctx).value, 0.0);
  for (const char* m : {"error-rate", "mean-latency", "latency-95th-percentile"}) {
    auto r = p.Query(Named(m), V("idle"), ctx);
    EXPECT_FALSE(r.value.has_value()) << m;
    EXPECT_NE(r.unavailable.find("undefined without requests"), std::string::npos) << m;
  }
  auto unknown = p.Query(Named("request-count"), V("nobody"), ctx);
  EXPECT_FALSE(unknown.value.has_value());
  EXPECT_EQ(unknown.unavailable, "no traffic statistics for version nobody");
}

}  // namespace
}  // namespace iter8::metrics
