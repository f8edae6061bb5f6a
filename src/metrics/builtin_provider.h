// File: metrics/builtin_provider.h
//
// Builtin metrics (provider `iter8`): values computed from per-version traffic statistics that
// iter8 itself collects, in local mode from its own proxy. Names as the original's builtin
// metrics, with or without the `iter8-system/` namespace: request-count, error-count,
// error-rate, mean-latency, latency-50th-percentile, -75th-, -90th-, -95th-, -99th-percentile.
// Latencies are in milliseconds; an error is a response with status >= 400 or a failed backend
// exchange.
//
// The statistics come through the small BuiltinSource interface (the proxy implements it; tests
// use a map). Rates and means need at least one request: with none they are unavailable, never
// zero. Results carry the request count as `sample_size`, the evidence behind the value.
//
// A BuiltinProvider borrows its source and is as thread-safe as the source.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "metrics/provider.h"

namespace iter8::metrics {

// Traffic of one version over the experiment so far.
struct VersionStats {
  uint64_t requests = 0;
  uint64_t errors = 0;
  double latency_sum_ms = 0;
  // Latency histogram: bucket i counts requests with latency <= upper_bounds_ms[i] and above the
  // previous bound (not cumulative); requests above the last bound are in `overflow`.
  std::vector<double> upper_bounds_ms;
  std::vector<uint64_t> bucket_counts;
  uint64_t overflow = 0;
};

class BuiltinSource {
 public:
  virtual ~BuiltinSource() = default;
  // Statistics of `version`; `route` names the Route its weightObjRef points at ("" when it
  // points at none), so that equal version names on different routes stay apart. nullopt when
  // the source knows nothing of the version.
  virtual std::optional<VersionStats> Stats(const std::string& version,
                                            const std::string& route) const = 0;
};

// A fixed map by version name (the route is ignored); for tests.
class MapBuiltinSource final : public BuiltinSource {
 public:
  explicit MapBuiltinSource(std::map<std::string, VersionStats> stats) : stats_(std::move(stats)) {}
  std::optional<VersionStats> Stats(const std::string& version,
                                    const std::string& route) const override;

 private:
  std::map<std::string, VersionStats> stats_;
};

class BuiltinProvider final : public MetricProvider {
 public:
  explicit BuiltinProvider(const BuiltinSource& source) : source_(source) {}
  MetricResult Query(const api::Metric& metric, const api::VersionDetail& version,
                     const QueryContext& context) override;

 private:
  const BuiltinSource& source_;
};

// The q-quantile (0 < q < 1) of a bucketed latency distribution, interpolating linearly inside
// the bucket as Prometheus' histogram_quantile does; nullopt without requests. A quantile in the
// overflow bucket is reported as the last bound (a lower bound of the true value).
std::optional<double> BucketQuantile(const VersionStats& stats, double q);

}  // namespace iter8::metrics
