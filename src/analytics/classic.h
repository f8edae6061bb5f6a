// File: analytics/classic.h
//
// The `classic` engine: iter8-analytics v2 exactly (spec.md 4.2-4.5). Point estimates,
// inclusive limits, missing value = objective not met, winner rules per testing pattern, 10 %
// exploration, candidate caps with the excess going to the baseline, and randomized rounding of
// the weights (`gen_round`) with the injected Random.
//
// One deliberate fix, switchable: previous weights are matched to versions by name. The original
// matched them by position, which misreads them when only the candidate has a weightObjRef
// (spec.md 4.4); `positional_previous_weights` reproduces that for byte-compatibility tests.
//
// Stateless and thread-safe (see analytics.h).
#pragma once

#include <vector>

#include "analytics/analytics.h"

namespace iter8::analytics {

struct ClassicOptions {
  bool positional_previous_weights = false;
  double exploration_traffic_percentage = 10.0;
};

class ClassicEngine final : public Engine {
 public:
  explicit ClassicEngine(ClassicOptions options = {}) : options_(options) {}
  AnalyticsOutput Analyze(const AnalyticsInput& input, Random& random) const override;
  std::string Name() const override { return "classic"; }

 private:
  ClassicOptions options_;
};

// The original's randomized rounding: integers summing to `total`, each position rounded up
// with probability equal to its fractional part after renormalising the remaining weights.
std::vector<int32_t> GenRound(const std::vector<double>& weights, int32_t total, Random& random);

}  // namespace iter8::analytics
