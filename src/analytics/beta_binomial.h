// File: analytics/beta_binomial.h
//
// Anytime-valid evidence about a rate (error rate, or any count/count metric) from cumulative
// counts: e errors among n requests. Conjugate beta-binomial mixture e-processes
// (statistics.md 3.3): by Ville's inequality, the probability that ln E ever reaches ln(1/alpha)
// under the null is at most alpha, however often it is checked.
//
//   LogEvidenceSatisfies(e, n, L)  tests H0: p >= L; crossing ln(1/alpha) certifies p < L.
//   LogEvidenceViolates(e, n, L)   tests H0: p <= L; crossing certifies p > L.
//   LogEvidenceAt(e, n, p0)        two-sided, for confidence intervals.
//   RateConfidenceInterval         {p0 : LogEvidenceAt(e, n, p0) < ln(1/alpha)}.
//
// n = 0 gives ln E = 0 (no evidence). Pure functions; thread-safe.
#pragma once

#include <cstdint>

namespace iter8::analytics {

struct BetaPrior {
  double a;
  double b;
};

// A prior centred on the limit: a = c L, b = c (1 - L); c tunes speed, never validity.
BetaPrior CenteredPrior(double limit, double concentration);

double LogEvidenceAt(int64_t errors, int64_t n, double p0, BetaPrior prior);
double LogEvidenceSatisfies(int64_t errors, int64_t n, double limit, BetaPrior prior);
double LogEvidenceViolates(int64_t errors, int64_t n, double limit, BetaPrior prior);

struct RateInterval {
  double lower;
  double upper;
};
RateInterval RateConfidenceInterval(int64_t errors, int64_t n, double alpha, BetaPrior prior);

}  // namespace iter8::analytics
