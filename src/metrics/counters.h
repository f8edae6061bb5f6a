// File: metrics/counters.h
//
// Exact counts for the sequential engine (statistics.md 3.2): a Metric's `spec.counters`
// (api/counters.h) names raw cumulative Prometheus counters; at each iteration they are read as
// instant vectors at now - lag, differenced per series against the previous reading (a value
// below the previous one is a counter reset: the increment is the new value; a series not seen
// before counts from zero), and the increments summed over series (pods). The first reading is
// differenced against a reading at the experiment's start, so counts cover the experiment only.
//
// The per-series readings and running totals are the caller's state (JSON, stored by the engine
// in `status.analysis.counters`): a reading that fails leaves the state as it was, so the next
// iteration's increments still start from the last good reading and nothing is counted twice.
//
// The value follows the metric's test method: rate = events / total, mean = scale * sum / total,
// count = events (or total without events), pNN = the quantile interpolated in the buckets.
// The result carries the total as sample size and the buckets (bounds times scale).
//
// Thread-compatible: one HttpClient per thread, as HttpClient requires.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "api/counters.h"
#include "api/strength.h"
#include "metrics/http_client.h"
#include "metrics/provider.h"

namespace iter8::metrics {

// `query` as a Prometheus instant vector at `time` (Unix seconds): one value per series, keyed by
// the series' label set (canonical JSON). Errors name the query and what was wrong.
absl::StatusOr<std::map<std::string, double>> QueryInstantVector(HttpClient& client,
                                                                 const std::string& base_url,
                                                                 const std::string& query,
                                                                 int64_t time);

// The `le` label of a series key from QueryInstantVector as a number (+Inf for "+Inf"); NaN
// when it has none or it is not a number.
double BucketBound(const std::string& series_key);

struct CounterRead {
  MetricResult result;
  api::Json state;  // the state to hand back next iteration (unchanged on failure)
};

CounterRead ReadCounters(HttpClient& client, const api::CounterQueries& queries,
                         const api::TestMethod& method, const api::VersionDetail& version,
                         const QueryContext& context, const api::Json& previous_state);

}  // namespace iter8::metrics
