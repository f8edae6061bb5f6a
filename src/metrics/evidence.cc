#include "metrics/evidence.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "absl/time/clock.h"
#include "common/strings.h"
#include "metrics/counters.h"

namespace iter8::metrics {

MetricResult QueryWithSampleSize(MetricProvider& provider, const api::Metric& metric,
                                 const api::Metric* sample_size_metric,
                                 const api::VersionDetail& version, const QueryContext& context) {
  MetricResult r = provider.Query(metric, version, context);
  if (r.value && !r.sample_size && sample_size_metric) {
    MetricResult n = provider.Query(*sample_size_metric, version, context);
    if (n.value && *n.value >= 0) r.sample_size = *n.value;
  }
  return r;
}

absl::StatusOr<CumulativeBuckets> ReadPrometheusBuckets(HttpClient& client,
                                                        const std::string& prometheus_url,
                                                        const std::string& histogram,
                                                        const std::string& selector,
                                                        int64_t window_seconds, int64_t time) {
  const std::string query = StrCat("sum(increase(", histogram, "_bucket{", selector, "}[",
                                   window_seconds, "s])) by (le)");
  absl::StatusOr<std::map<std::string, double>> series = QueryInstantVector(
      client, prometheus_url, query, time > 0 ? time : absl::ToUnixSeconds(absl::Now()));
  if (!series.ok()) return series.status();
  std::vector<std::pair<double, double>> points;
  for (const auto& [labels, count] : *series) {
    const double bound = BucketBound(labels);
    if (std::isnan(bound)) return absl::InvalidArgumentError("Prometheus bucket series without le");
    points.emplace_back(bound, count);
  }
  if (points.empty()) {
    return absl::NotFoundError(StrCat("no ", histogram, "_bucket series match {", selector, "}"));
  }
  std::sort(points.begin(), points.end());
  if (!std::isinf(points.back().first)) {
    return absl::InvalidArgumentError("histogram has no +Inf bucket");
  }
  CumulativeBuckets out;
  for (const auto& [bound, count] : points) {
    out.upper_bounds.push_back(bound);
    out.counts.push_back(count);
  }
  return out;
}

}  // namespace iter8::metrics
