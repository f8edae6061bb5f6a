// File: analytics/builtin_hists.h
//
// The original's builtin metrics (provider `iter8`, spec.md 2.6), derived from the Fortio
// results that the `metrics/collect` task stores in `status.analysis.aggregatedBuiltinHists`:
// per version `{DurationHistogram: {Count, Sum, Max, Data: [{Start, End, Count}]}, RetCodes}`.
//
//   iter8-system/request-count   Count
//   iter8-system/error-count     responses with a code >= 400, and requests with no answer
//                                (Fortio's code -1; the original counted only codes >= 400)
//   iter8-system/error-rate      error-count / request-count (absent when Count is 0)
//   iter8-system/mean-latency    1000 * Sum / Count, in milliseconds
//   iter8-system/latency-<p>th-percentile for p in 50, 75, 90, 95, 99, in milliseconds
//
// Percentiles: the original drew 10 uniform samples per request inside each bucket (numpy,
// seed 17) and took numpy's percentile of them. Here the same number of points is spread evenly
// inside each bucket instead, which is the expectation of those draws and deterministic; values
// agree with the original's to within the sampling noise of its draws.
//
// Pure; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "api/types.h"

namespace iter8::analytics {

inline constexpr char kBuiltinNamespace[] = "iter8-system";

// One version's Fortio result, parsed: latencies in seconds as Fortio writes them.
struct FortioBucket {
  double start;
  double end;
  int64_t count;
};
struct FortioResult {
  int64_t count = 0;                  // requests
  double sum_seconds = 0;             // sum of latencies
  int64_t errors = 0;                 // codes >= 400 and < 100 (no answer)
  std::vector<FortioBucket> buckets;  // ascending Start
};

// Parses `aggregatedBuiltinHists` (`{data: {version: result}}`); malformed input is an error
// naming the JSON pointer of the bad field.
absl::StatusOr<std::map<std::string, FortioResult>> ParseFortioResults(const api::Json& hists);

// Adds the results in `more` to those in `existing` (both `{data: {...}}`; `existing` may be
// null): counts, sums, return codes and equal buckets add up, Min/Max widen. Used when the
// metrics/collect task runs more than once (a loop action) or for several versions in turn.
absl::StatusOr<api::Json> MergeFortioResults(const api::Json& existing, const api::Json& more);

// Aggregated values for every builtin metric and every version present in `hists` (the
// `aggregatedBuiltinHists` object, whose `data` maps version -> Fortio result). Malformed
// input is an error naming the JSON pointer of the bad field.
absl::StatusOr<api::AggregatedMetricsAnalysis> BuiltinMetrics(const api::Json& hists);

}  // namespace iter8::analytics
