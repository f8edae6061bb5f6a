// File: analytics/sequential.h
//
// The `sequential` engine (statistics.md 3): every objective of every version gets a sticky
// three-valued verdict, SATISFIES / VIOLATES / UNDECIDED, from anytime-valid tests, so that the
// probability of ever certifying a false verdict stays below alpha however often the experiment
// looks, however traffic moves and whenever it stops.
//
//   rate objectives      beta-binomial mixture on (errors, requests)       beta_binomial.h
//   mean objectives      normal-mixture confidence sequence on (sum, n)    normal_mixture.h
//                        with the variance from histogram buckets or batch means
//   quantile objectives  the same rate test on bucket exceedance counts     quantile_objective.h
//                        ("resolution-limited" when the limit is not a bucket bound)
//   count objectives     exact (counts only grow)
//   A/B(/n) rewards      normal-mixture confidence sequences on inverse-variance weighted
//                        per-iteration contrasts between every pair of versions
//   bursts               rate and quantile claims named by strength.burstyErrors (by default
//                        the SATISFIES ones) also need the batch-level test across iterations,
//                        valid when errors or latencies come in bursts         batch_rate.h
//
// The error budget `alpha` (spec.criteria.strength) is split over objectives and candidates
// (alpha / (J m)) for objective verdicts, and over pairs for reward contrasts.
//
// Decisions: Canary: a certified violation by the candidate (or of a rollback_on_failure
// objective by any version) rolls back; the candidate certified on every objective is promoted
// (at once with stopEarly); otherwise the candidate's weight follows the harm-budget rule of
// statistics.md 3.7 within maxCandidateWeight / maxCandidateWeightIncrement. A/B(/n): a version
// certified on its objectives and certified better than every other feasible version wins;
// versions with a certified violation or certified worse get no traffic; the rest share it by
// top-two Thompson sampling with 10 % exploration. Conformance: the baseline's verdict ends it.
// Missing data is no evidence: the verdicts stand, and nothing is certified from it.
//
// State (sticky verdicts, accumulators, contrasts) travels in AnalyticsOutput::state and comes
// back through status.analysis.extra["sequential"]; it also explains every verdict (bounds,
// evidence n, the iteration it was reached).
//
// Pure and stateless between calls (see analytics.h); thread-safe.
#pragma once

#include <string>

#include "analytics/analytics.h"

namespace iter8::analytics {

class SequentialEngine final : public Engine {
 public:
  AnalyticsOutput Analyze(const AnalyticsInput& input, Random& random) const override;
  std::string Name() const override { return "sequential"; }
};

// Where the sequential engine keeps its state in status.analysis.extra.
inline constexpr char kSequentialStateKey[] = "sequential";

// Standard normal draws for Thompson sampling: Box-Muller, both numbers of each pair of
// uniforms used. Holds the Random it is given (which must outlive it); one thread at a time.
class NormalPairs {
 public:
  explicit NormalPairs(Random& random) : random_(random) {}
  double Next();

 private:
  Random& random_;
  double spare_ = 0;
  bool has_spare_ = false;
};

}  // namespace iter8::analytics
