#include "analytics/normal_mixture.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "common/random.h"

namespace iter8::analytics {
namespace {

// statistics.md 3.4: sigma = 250 ms, N = 1000, N_opt = 2000, alpha = 0.05 -> half-width 24.4 ms.
TEST(NormalMixtureTest, PublishedHalfWidth) {
  const double sigma2 = 250.0 * 250.0, n = 1000;
  const double rho = NormalMixtureRho(sigma2, 2000, 0.05);
  const MeanInterval ci = MeanConfidenceInterval(300.0 * n, n, n * sigma2, rho, 0.05);
  EXPECT_NEAR((ci.upper - ci.lower) / 2, 24.4, 0.05);
  EXPECT_NEAR((ci.upper + ci.lower) / 2, 300.0, 1e-9);
  // Wider than the fixed-n 95 % z-interval (15.5 ms): the price of anytime validity.
  EXPECT_GT((ci.upper - ci.lower) / 2, 1.96 * 250 / std::sqrt(n));
}

TEST(NormalMixtureTest, NoRequestsNoInterval) {
  const MeanInterval ci = MeanConfidenceInterval(0, 0, 0, 1, 0.05);
  EXPECT_TRUE(std::isinf(ci.lower));
  EXPECT_TRUE(std::isinf(ci.upper));
}

TEST(NormalMixtureTest, HistogramVarianceOfUniformBuckets) {
  // 100 requests uniform on [0, 100] ms in 10 buckets: variance 100^2/12.
  std::vector<double> bounds, counts;
  for (int i = 1; i <= 10; ++i) {
    bounds.push_back(10.0 * i);
    counts.push_back(10);
  }
  EXPECT_NEAR(HistogramVariance(bounds, counts, 0, 0, 5000), 10000.0 / 12, 1e-9);
  EXPECT_EQ(HistogramVariance(bounds, std::vector<double>(10, 0), 0, 0, 0), 0.0);
  // Overflow requests widen it, spread up to the timeout.
  EXPECT_GT(HistogramVariance(bounds, counts, 5, 1000, 5000 + 5 * 550), 10000.0 / 12);
}

TEST(NormalMixtureTest, StrictBoundaryScale) {
  // statistics.md 3.4: B_max = 30 s, N = 1e4 gives an additive price of about 20-40 ms.
  const double b_max = 30000, n = 1e4, sigma2 = 250.0 * 250.0;
  const double v = n * sigma2;
  const double u = StitchingBoundary(v, sigma2 * 600, b_max, 0.05);
  const double asymptotic = NormalMixtureRadius(v, NormalMixtureRho(sigma2, n, 0.05), 0.05);
  const double price_ms = (u - asymptotic) / n;
  EXPECT_GT(price_ms, 10);
  EXPECT_LT(price_ms, 60);
  // Increasing in v.
  EXPECT_LT(StitchingBoundary(v, sigma2 * 600, b_max, 0.05),
            StitchingBoundary(2 * v, sigma2 * 600, b_max, 0.05));
}

// Simulated validity: lognormal latencies whose true mean is exactly L, checked after every
// batch; the interval must rarely (< alpha) exclude L at any time.
TEST(NormalMixtureTest, CoverageUnderContinuousMonitoring) {
  const double alpha = 0.05, mu_log = 5.0, sd_log = 0.6;
  const double mean = std::exp(mu_log + sd_log * sd_log / 2);
  Mt19937Random random(99);
  auto normal = [&] {
    const double u1 = 1 - random.Uniform(), u2 = random.Uniform();
    return std::sqrt(-2 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
  };
  const int runs = 1000, batches = 30, batch = 200;
  int misses = 0;
  for (int r = 0; r < runs; ++r) {
    double sum = 0, sumsq = 0, n = 0, v = 0;
    double sigma2 = mean * mean;  // deliberately large prior until data arrives
    const double rho = NormalMixtureRho(sigma2, 2000, alpha);
    bool missed = false;
    for (int k = 0; k < batches && !missed; ++k) {
      v += batch * sigma2;  // predictable: variance estimated before this batch
      for (int i = 0; i < batch; ++i) {
        const double x = std::exp(mu_log + sd_log * normal());
        sum += x;
        sumsq += x * x;
      }
      n += batch;
      const MeanInterval ci = MeanConfidenceInterval(sum, n, v, rho, alpha);
      missed = ci.lower > mean || ci.upper < mean;
      sigma2 = std::max(sumsq / n - (sum / n) * (sum / n), 1.0);
    }
    misses += missed;
  }
  EXPECT_LE(misses, alpha * runs);
}

}  // namespace
}  // namespace iter8::analytics
