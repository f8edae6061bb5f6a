#include "analytics/quantile_objective.h"

#include <cmath>
#include <cstdint>

#include "analytics/beta_binomial.h"

namespace iter8::analytics {

QuantileAssessment AssessQuantile(const std::vector<double>& bounds,
                                  const std::vector<double>& cumulative,
                                  const QuantileObjective& objective, double alpha,
                                  double concentration) {
  QuantileAssessment out;
  if (bounds.empty() || bounds.size() != cumulative.size()) return out;
  if (!(objective.quantile > 0 && objective.quantile < 1) || !(alpha > 0 && alpha < 1)) return out;
  const int64_t n = std::llround(cumulative.back());
  if (n <= 0) return out;
  const double exceed_limit = 1.0 - objective.quantile;
  const BetaPrior prior = CenteredPrior(exceed_limit, concentration);
  const double threshold = std::log(1.0 / alpha);
  // Requests above bound i (counts clamped into [0, n]: Prometheus counts can be inexact).
  auto above = [&](size_t i) {
    const int64_t c = std::llround(cumulative[i]);
    return std::min<int64_t>(n, std::max<int64_t>(0, n - c));
  };
  // b- and b+ around X.
  int below = -1, at_or_above = -1;
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (bounds[i] <= objective.limit) below = static_cast<int>(i);
    if (at_or_above < 0 && bounds[i] >= objective.limit) at_or_above = static_cast<int>(i);
  }
  out.exact = below >= 0 && bounds[below] == objective.limit;
  // No bound <= X: P(> X) >= P(> 0) is all we know; only a violation can be certified.
  out.requests = n;
  if (below >= 0) {
    out.exceed_below = above(below);
    out.log_e_satisfies = LogEvidenceSatisfies(out.exceed_below, n, exceed_limit, prior);
  }
  if (at_or_above >= 0 && !std::isinf(bounds[at_or_above])) {
    out.exceed_above = above(at_or_above);
    out.log_e_violates = LogEvidenceViolates(out.exceed_above, n, exceed_limit, prior);
  }
  if (out.log_e_satisfies >= threshold) {
    out.verdict = Verdict::kSatisfies;
  } else if (out.log_e_violates >= threshold) {
    out.verdict = Verdict::kViolates;
  } else if (!out.exact && below >= 0 && at_or_above >= 0) {
    // Certified F(b-) < q and F(b+) >= q: the quantile sits inside the bucket around X.
    const bool low_side = LogEvidenceViolates(above(below), n, exceed_limit, prior) >= threshold;
    const bool high_side =
        !std::isinf(bounds[at_or_above]) &&
        LogEvidenceSatisfies(above(at_or_above), n, exceed_limit, prior) >= threshold;
    if (low_side && high_side) out.verdict = Verdict::kResolutionLimited;
  }
  return out;
}

}  // namespace iter8::analytics
