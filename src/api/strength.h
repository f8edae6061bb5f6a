// File: api/strength.h
//
// `spec.criteria.strength`: reserved (free-form) in the original; iter8 uses it to choose and
// tune the decision engine (docs/user-guide.md, "Choosing the decision engine"):
//
//   strength:
//     engine: sequential        # classic (default) | sequential
//     alpha: 0.05               # error budget per experiment, (0, 0.5]
//     stopEarly: true           # end as soon as the outcome is certified
//     concentration: 400        # beta prior strength for rates and quantiles, [1, 1e6]
//     nOpt: 1000                # requests at which the mean boundary is tightest, >= 1
//     harmBudget: 0.1           # beta of the traffic rule, (0, 10]
//     minWeight: 10             # weight of an undecided candidate at least (percent)
//     undecidedMaxWeight: 50    # and at most, while undecided (percent)
//     equivalenceMargin: 0.01   # A/B: "no meaningful difference" within +-margin of the reward
//     maxLatency: 30000         # latency bound for the overflow bucket (metric's unit)
//     strict: true              # means by the non-asymptotic empirical-Bernstein bound
//                               # (needs maxLatency: the request timeout) instead of the
//                               # asymptotic normal mixture
//     methods: {my-metric: rate|mean|count|pNN}   # how each objective metric is tested
//     sampleRatioCheck: true    # pause decisions when the versions' request shares certainly
//                               # disagree with the weights (routing broken); turn off when
//                               # sticky keys or header rules route requests, not weights
//     burstyErrors: promotion   # which rate and quantile verdicts also need the batch-level
//                               # test across iterations, valid when errors or latencies come
//                               # in bursts: promotion
//                               # (SATISFIES, the default) | all (VIOLATES too) | none
//                               # (requests fail independently; fastest)
//
// Only these keys have a meaning; anything else in `strength` is kept and ignored, as the
// original did. Pure; thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/codec.h"
#include "api/types.h"

namespace iter8::api {

enum class EngineKind { kClassic, kSequential };

// How the sequential engine tests one objective's metric.
struct TestMethod {
  enum Kind { kRate, kMean, kCount, kQuantile } kind = kMean;
  double quantile = 0;  // for kQuantile, in (0, 1)
};

struct Strength {
  EngineKind engine = EngineKind::kClassic;
  double alpha = 0.05;
  bool stop_early = true;
  double concentration = 400;
  double n_opt = 1000;
  double harm_budget = 0.1;
  double min_weight = 10;
  double undecided_max_weight = 50;
  std::optional<double> equivalence_margin;
  std::optional<double> max_latency;
  bool strict = false;
  bool sample_ratio_check = true;
  // Which rate verdicts need the batch-level (random-effects, batch_rate.h) test too.
  enum class Bursts { kNone, kPromotion, kAll } bursty_errors = Bursts::kPromotion;
  std::map<std::string, TestMethod> methods;  // metric reference -> method
};

// Reads `strength` (null or an object). Every problem is appended to `errors` with its pointer
// under /spec/criteria/strength; the result then holds the defaults for the bad keys.
Strength ParseStrength(const Json& strength, std::vector<FieldError>* errors);

// "rate", "mean", "count", "p95", "p99.9" -> TestMethod; nullopt when not one of these.
std::optional<TestMethod> ParseTestMethod(const std::string& text);

// The method a metric is tested with when `methods` does not name it: Counter metrics by count;
// names with "percentile" or a pNN token as that quantile ("latency-95th-percentile",
// "p99-latency"); names with "rate", "ratio" or "fraction" as a rate; anything else as a mean.
TestMethod InferTestMethod(const std::string& metric_reference, const Metric* metric);

}  // namespace iter8::api
