#include "analytics/beta_binomial.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/random.h"

namespace iter8::analytics {
namespace {

struct Vector {
  int64_t e, n;
  double limit, two_sided, sat, viol;
};

// statistics.md 3.3: L = 0.01 and c = 400 (a = 4, b = 396) unless stated; checked there
// against direct numerical integration.
TEST(BetaBinomialTest, PublishedTestVectors) {
  for (const Vector& v : std::vector<Vector>{{4, 2000, 0.01, 6.9045, 7.4745, -2.2712},
                                             {10, 2000, 0.01, 1.8317, 2.3912, -1.8931},
                                             {20, 2000, 0.01, -0.9132, -0.9843, -0.8276},
                                             {40, 2000, 0.01, 5.5408, -2.7279, 6.3743},
                                             {0, 300, 0.01, 0.7659, 1.2511, -0.9108},
                                             {200, 5000, 0.05, 3.9805, 4.6196, -2.6986},
                                             {300, 5000, 0.05, 3.2268, -2.8066, 3.9752}}) {
    SCOPED_TRACE(::testing::Message() << "e=" << v.e << " n=" << v.n << " L=" << v.limit);
    const BetaPrior prior = CenteredPrior(v.limit, 400);
    EXPECT_NEAR(LogEvidenceAt(v.e, v.n, v.limit, prior), v.two_sided, 5e-4);
    EXPECT_NEAR(LogEvidenceSatisfies(v.e, v.n, v.limit, prior), v.sat, 5e-4);
    EXPECT_NEAR(LogEvidenceViolates(v.e, v.n, v.limit, prior), v.viol, 5e-4);
  }
}

TEST(BetaBinomialTest, NoDataIsNoEvidence) {
  const BetaPrior prior = CenteredPrior(0.01, 400);
  EXPECT_EQ(LogEvidenceSatisfies(0, 0, 0.01, prior), 0.0);
  EXPECT_EQ(LogEvidenceViolates(0, 0, 0.01, prior), 0.0);
  EXPECT_EQ(LogEvidenceAt(5, 3, 0.01, prior), 0.0);  // inconsistent counts: none either
  auto ci = RateConfidenceInterval(0, 0, 0.05, prior);
  EXPECT_EQ(ci.lower, 0.0);
  EXPECT_EQ(ci.upper, 1.0);
}

TEST(BetaBinomialTest, ConfidenceIntervalContainsTheEstimateAndShrinks) {
  const BetaPrior prior = CenteredPrior(0.01, 400);
  auto small = RateConfidenceInterval(10, 1000, 0.05, prior);
  auto large = RateConfidenceInterval(100, 10000, 0.05, prior);
  EXPECT_LT(small.lower, 0.01);
  EXPECT_GT(small.upper, 0.01);
  EXPECT_LT(large.upper - large.lower, small.upper - small.lower);
  // The ends are where the evidence crosses ln 20.
  EXPECT_NEAR(LogEvidenceAt(100, 10000, large.upper, prior), std::log(20.0), 1e-6);
  EXPECT_NEAR(LogEvidenceAt(100, 10000, large.lower, prior), std::log(20.0), 1e-6);
}

// Simulated validity at the limit: with p exactly L, checking after every batch forever, the
// chance that either verdict is ever declared stays below alpha (Ville).
TEST(BetaBinomialTest, FalseVerdictsStayBelowAlphaUnderContinuousMonitoring) {
  const double limit = 0.01, alpha = 0.05, threshold = std::log(1 / alpha);
  const BetaPrior prior = CenteredPrior(limit, 400);
  Mt19937Random random(2026);
  const int runs = 2000, batches = 40, batch = 200;
  int false_sat = 0, false_viol = 0;
  for (int r = 0; r < runs; ++r) {
    int64_t e = 0, n = 0;
    bool sat = false, viol = false;
    for (int k = 0; k < batches && !(sat && viol); ++k) {
      for (int i = 0; i < batch; ++i) e += random.Uniform() < limit;
      n += batch;
      sat = sat || LogEvidenceSatisfies(e, n, limit, prior) >= threshold;
      viol = viol || LogEvidenceViolates(e, n, limit, prior) >= threshold;
    }
    false_sat += sat;
    false_viol += viol;
  }
  EXPECT_LE(false_sat, alpha * runs);
  EXPECT_LE(false_viol, alpha * runs);
}

// And power: a clearly worse or better rate is certified.
TEST(BetaBinomialTest, CertifiesClearDeviations) {
  const double limit = 0.01, threshold = std::log(20.0);
  const BetaPrior prior = CenteredPrior(limit, 400);
  EXPECT_GE(LogEvidenceViolates(60, 2000, limit, prior), threshold);  // 3 % vs 1 %
  EXPECT_GE(LogEvidenceSatisfies(2, 2000, limit, prior), threshold);  // 0.1 % vs 1 %
  EXPECT_LT(LogEvidenceSatisfies(60, 2000, limit, prior), threshold);
}

}  // namespace
}  // namespace iter8::analytics
