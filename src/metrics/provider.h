// File: metrics/provider.h
//
// The contract between experiments and metric backends: for one Metric and one version, the
// value of this iteration, or a clear reason why there is none. "Unavailable" is never a silent
// zero: the engine treats it as missing data (no evidence either way), never as a good value.
//
// Backends live in their own files: http (REST + jq, the original's generic provider), mock
// (the original's mock levels), builtin (the local proxy's counters, later).
//
// A provider object may be shared between threads only if its class says so; a QueryContext
// is a value owned by the caller.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "api/types.h"

namespace iter8::metrics {

struct QueryContext {
  absl::Time start;  // status.startTime of the experiment
  absl::Time now;
  bool v2alpha1 = false;  // `$interval` instead of `$elapsedTime`
};

// A histogram as cumulative counts per upper bound (Prometheus `le` buckets).
struct CumulativeBuckets {
  std::vector<double> upper_bounds;  // ascending; the last is +Inf
  std::vector<double> counts;        // cumulative: observations <= upper_bounds[i]
};

struct MetricResult {
  std::optional<double> value;
  // The number of observations behind the value when the backend knows it (requests for a
  // rate or a mean), for the sequential engine; nullopt when unknown.
  std::optional<double> sample_size;
  // The histogram behind a latency value when the backend has one (for quantile objectives and
  // the variance of means in the sequential engine), in the value's unit.
  std::optional<CumulativeBuckets> buckets;
  std::string unavailable;  // why there is no value (empty when there is one)
  std::string request;      // the rendered request, for decision records and `metric get`
  std::string response;     // the raw reply (bounded), for `-v` and records

  static MetricResult Value(double v) {
    MetricResult r;
    r.value = v;
    return r;
  }
  static MetricResult Unavailable(std::string why) {
    MetricResult r;
    r.unavailable = std::move(why);
    return r;
  }
};

class MetricProvider {
 public:
  virtual ~MetricProvider() = default;
  virtual MetricResult Query(const api::Metric& metric, const api::VersionDetail& version,
                             const QueryContext& context) = 0;
};

}  // namespace iter8::metrics
