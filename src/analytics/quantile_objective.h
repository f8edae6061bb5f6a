// File: analytics/quantile_objective.h
//
// Quantile objectives ("p95 latency <= X") tested as the equivalent exceedance proportion, never
// through an interpolated quantile (statistics.md 3.5): Q_q <= X <=> P(latency > X) <= 1 - q.
// With cumulative bucket counts C(b) and N requests:
//   SATISFIES  when the beta-binomial e-process certifies P(> b-) <= 1 - q, b- = the largest
//              bound <= X (then P(> X) <= 1 - q too);
//   VIOLATES   when it certifies P(> b+) > 1 - q, b+ = the smallest bound >= X;
//   RESOLUTION_LIMITED when X is not a bucket bound and the evidence puts the quantile inside
//              (b-, b+]: the buckets cannot say which side of X it is, so no verdict is given
//              rather than a wrong one;
//   UNDECIDED  otherwise (not enough evidence yet).
// When X is a bucket bound the test is exact.
//
// Pure; thread-safe. Stickiness of verdicts over iterations is the caller's state.
#pragma once

#include <cstdint>
#include <vector>

namespace iter8::analytics {

enum class Verdict { kUndecided, kSatisfies, kViolates, kResolutionLimited };

struct QuantileObjective {
  double quantile;  // q, e.g. 0.95
  double limit;     // X, in the buckets' unit
};

struct QuantileAssessment {
  Verdict verdict = Verdict::kUndecided;
  bool exact = false;          // X is a bucket bound
  double log_e_satisfies = 0;  // evidence at b-
  double log_e_violates = 0;   // evidence at b+
  int64_t requests = 0;        // N
  int64_t exceed_below = -1;   // requests above b- (-1: no bound <= X)
  int64_t exceed_above = -1;   // requests above b+ (-1: no finite bound >= X)
};

// `upper_bounds` ascending (the last may be +Inf), `cumulative` the counts <= each bound; the
// total N is the last cumulative count (the +Inf bucket). `concentration` tunes the prior
// (statistics.md suggests about 400 for p95).
QuantileAssessment AssessQuantile(const std::vector<double>& upper_bounds,
                                  const std::vector<double>& cumulative,
                                  const QuantileObjective& objective, double alpha,
                                  double concentration = 400);

}  // namespace iter8::analytics
