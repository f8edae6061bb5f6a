#include "analytics/batch_rate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <vector>

namespace iter8::analytics {
namespace {

using Batch = RateBatch;

// The e-process computed the long way, from the batches themselves: the Gaussian likelihood of
// Y_j = (e_j - n_j p0) / sqrt(n_j p0 (1 - p0)) with mean theta a_j and variance
// s (1 + (n_j - 1) rho), integrated over theta by Simpson's rule against each half-normal prior
// and mixed over the same grid; the null's likelihood maximised over a fine grid of rho (3,000
// log-spaced points and 0) and, for each, over theta on the null's side by a fine scan, s at
// its best for each.
double Reference(const std::vector<Batch>& batches, double p0, RateSide side, double tau) {
  const double c0 = p0 * (1 - p0);
  const double k = static_cast<double>(batches.size());
  auto q_at = [&](double theta, double rho) {
    double q = 0, d = 0;
    for (const Batch& x : batches) {
      const double y = (x.e - x.n * p0) / std::sqrt(x.n * c0);
      const double mean = theta * std::sqrt(x.n / c0);
      const double v = 1 + (x.n - 1) * rho;
      q += (y - mean) * (y - mean) / v;
      d += std::log(v);
    }
    return std::pair{q, d};
  };
  const double sign = side == RateSide::kBelow ? -1 : 1;
  double best_null = -1e300;
  for (int i = -1; i < 3000; ++i) {
    const double rho = i < 0 ? 0 : std::pow(10.0, -8 + 8.0 * i / 2999);
    // theta: a coarse scan of the null side, then a fine one around its best point.
    double best_theta = 0, best_q = q_at(0, rho).first;
    for (int j = 1; j <= 400; ++j) {
      const double theta = -sign * 0.1 * j / 400;
      const double q = q_at(theta, rho).first;
      if (q < best_q) best_q = q, best_theta = theta;
    }
    for (int j = -200; j <= 200; ++j) {
      const double theta = best_theta + 0.00025 * j / 200;
      if (theta * sign > 0) continue;
      best_q = std::min(best_q, q_at(theta, rho).first);
    }
    const double d = q_at(0, rho).second;
    const double s = std::max(1.0, best_q / k);
    best_null = std::max(best_null, -0.5 * (d + k * std::log(s)) - best_q / (2 * s));
  }
  const double scales[] = {0.3, 0.45, 0.67, 1.0};
  const double rhos[] = {0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3};
  const double widths[] = {1, 3, 9}, width_weights[] = {0.5, 0.3, 0.2};
  double alt = 0;
  for (int r = 0; r < 9; ++r) {
    for (int si = 0; si < 4; ++si) {
      const double wg = r == 0 ? (si == 3 ? 0.4 : 0.25 / 3) : 0.35 / 32;
      for (int t = 0; t < 3; ++t) {
        const double width = tau * widths[t];
        // Simpson over theta in (0, 12 width] on the alternative's side; the rest is negligible.
        const int steps = 4000;
        const double h = 12 * width / steps;
        double integral = 0;
        for (int i = 0; i <= steps; ++i) {
          const double theta = sign * i * h;
          const auto [q, d] = q_at(theta, rhos[r]);
          const double log_lik = -0.5 * (d + k * std::log(scales[si])) - q / (2 * scales[si]);
          const double prior = 2 * std::exp(-theta * theta / (2 * width * width)) /
                               (std::sqrt(2 * std::numbers::pi) * width);
          const double f = std::exp(log_lik - best_null) * prior;
          integral += f * (i == 0 || i == steps ? 1 : i % 2 == 1 ? 4 : 2);
        }
        alt += wg * width_weights[t] * integral * h / 3;
      }
    }
  }
  return std::log(alt);
}

TEST(BatchRateTest, ClosedFormMatchesNumericalIntegration) {
  const double p0 = 0.01, tau = std::sqrt(p0 * (1 - p0) / 401);
  const std::vector<std::vector<Batch>> cases = {
      {{1000, 4}, {1000, 6}, {2000, 9}},                        // below p0, binomial-looking
      {{400, 12}, {800, 20}, {800, 31}, {1600, 50}},            // far above
      {{1000, 2}, {1000, 25}, {1000, 1}, {1000, 18}},           // bursty, mean near p0
      {{50, 0}, {50, 1}, {60, 0}, {40, 0}, {100, 2}, {80, 0}},  // small batches
  };
  for (const auto& c : cases) {
    for (const RateSide side : {RateSide::kBelow, RateSide::kAbove}) {
      const double closed = LogBatchEvidence(c, p0, side, tau);
      EXPECT_NEAR(closed, Reference(c, p0, side, tau), 2e-3)
          << c.size() << " batches, side " << static_cast<int>(side);
    }
  }
}

TEST(BatchRateTest, NoEvidenceWithoutBatchesOrOutsideTheUnitInterval) {
  EXPECT_EQ(LogBatchEvidence({}, 0.01, RateSide::kBelow, 0.005), 0);
  const std::vector<Batch> b = {{1000, 3}, {1000, 2}};
  EXPECT_EQ(LogBatchEvidence(b, 0, RateSide::kBelow, 0.005), 0);
  EXPECT_EQ(LogBatchEvidence(b, 1, RateSide::kAbove, 0.005), 0);
  EXPECT_EQ(LogBatchEvidence(b, 0.01, RateSide::kAbove, 0), 0);
}

// Validity: at the tested rate, with errors in bursts of any strength, the probability that
// either one-sided e-process ever reaches 1/alpha stays below alpha. Each run: 60 batches of
// 500-2,000 requests (the split moves), whose errors are binomial (no bursts), or binomial at a
// rate drawn per batch from a Beta with mean p0 (concentration 300: the dispersion of a batch of
// 1,000 is 4.3), or from a normal with mean p0 and standard deviation 0.6 p0 (dispersion 4.6 at
// 1,000, 8.3 at 2,000), or Gaussian with 20 times the binomial variance. (Rare, large bursts,
// most batches error-free and a few with many, are outside the model: a batch's count is far
// from normal, and no test of the mean rate can certify it below p0 before it has seen how often
// bursts come; docs/decisions.md, cell O3.)
TEST(BatchRateTest, FalseCertificationsStayBelowAlphaWhateverTheBursts) {
  constexpr int kRuns = 1000;
  constexpr double kAlpha = 0.05;
  const double p0 = 0.01, tau = std::sqrt(p0 * (1 - p0) / 401), thr = std::log(1 / kAlpha);
  for (const int model : {0, 1, 2, 3}) {
    std::mt19937_64 rng(11 + model);
    int below = 0, above = 0;
    for (int run = 0; run < kRuns; ++run) {
      std::vector<Batch> batches;
      BatchSums sums;  // kept as the engine keeps them, one batch at a time
      bool b = false, a = false;
      for (int k = 0; k < 60 && !(a && b); ++k) {
        const double n = 500 + 100 * (k % 16);
        double e = 0;
        if (model == 0) {
          std::binomial_distribution<int> errors(static_cast<int>(n), p0);
          e = errors(rng);
        } else if (model == 1) {
          std::gamma_distribution<double> ga(300 * p0, 1.0), gb(300 * (1 - p0), 1.0);
          const double x = ga(rng), y = gb(rng);
          std::binomial_distribution<int> errors(static_cast<int>(n), x / (x + y));
          e = errors(rng);
        } else if (model == 3) {
          std::normal_distribution<double> rate(p0, 0.6 * p0);
          std::binomial_distribution<int> errors(static_cast<int>(n),
                                                 std::clamp(rate(rng), 0.0, 1.0));
          e = errors(rng);
        } else {
          std::normal_distribution<double> errors(n * p0, std::sqrt(20 * n * p0 * (1 - p0)));
          e = std::max(0.0, errors(rng));
        }
        batches.push_back({n, e});
        sums.Add(batches.back());
        b = b || BatchEvidenceReaches(sums, batches, p0, RateSide::kBelow, tau, thr);
        a = a || BatchEvidenceReaches(sums, batches, p0, RateSide::kAbove, tau, thr);
      }
      below += b;
      above += a;
    }
    const double limit = kRuns * (kAlpha + 3 * std::sqrt(kAlpha * (1 - kAlpha) / kRuns));
    EXPECT_LE(below, limit) << "model " << model;
    EXPECT_LE(above, limit) << "model " << model;
  }
}

// The shortcut answers as the full computation does.
TEST(BatchRateTest, ReachesAgreesWithTheEvidence) {
  const double p0 = 0.01, tau = std::sqrt(p0 * (1 - p0) / 401);
  std::mt19937_64 rng(9);
  int agreed = 0, crossed = 0;
  for (int run = 0; run < 300; ++run) {
    std::uniform_real_distribution<double> rate(0.003, 0.02);
    const double p = rate(rng);
    std::vector<Batch> batches;
    for (int k = 0; k < 1 + run % 12; ++k) {
      std::binomial_distribution<int> errors(1500, p);
      batches.push_back({1500, static_cast<double>(errors(rng))});
    }
    for (const RateSide side : {RateSide::kBelow, RateSide::kAbove}) {
      for (const double thr : {std::log(20.0), std::log(180.0)}) {
        const bool full = LogBatchEvidence(batches, p0, side, tau) >= thr;
        agreed += full == BatchEvidenceReaches(BatchSums::Of(batches), batches, p0, side, tau, thr);
        crossed += full;
      }
    }
  }
  EXPECT_EQ(agreed, 1200);
  EXPECT_GT(crossed, 100);  // both answers occur
  EXPECT_LT(crossed, 1100);
}

// Power: a rate three times p0 is certified above it within a handful of large batches (the
// dispersion could be anything until a few batches agree), never below it; a rate half of p0
// is certified below it.
TEST(BatchRateTest, CertifiesClearDeviationsWithinAFewBatches) {
  const double p0 = 0.01, tau = std::sqrt(p0 * (1 - p0) / 401), thr = std::log(20.0);
  std::mt19937_64 rng(5);
  for (const double p : {0.03, 0.005}) {
    const RateSide right = p > p0 ? RateSide::kAbove : RateSide::kBelow;
    const RateSide wrong = p > p0 ? RateSide::kBelow : RateSide::kAbove;
    int worst = 0;
    for (int run = 0; run < 100; ++run) {
      std::vector<Batch> batches;
      int k = 0;
      for (; k < 40; ++k) {
        std::binomial_distribution<int> errors(4000, p);
        batches.push_back({4000, static_cast<double>(errors(rng))});
        ASSERT_LT(LogBatchEvidence(batches, p0, wrong, tau), thr);
        if (LogBatchEvidence(batches, p0, right, tau) >= thr) break;
      }
      worst = std::max(worst, k + 1);
    }
    EXPECT_LE(worst, 8) << "p " << p;
    EXPECT_GE(worst, 2) << "p " << p;  // one batch says nothing about the dispersion
  }
}

}  // namespace
}  // namespace iter8::analytics
