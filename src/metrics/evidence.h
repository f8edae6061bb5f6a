// File: metrics/evidence.h
//
// What the sequential engine needs beyond a point value (statistics.md 3.2): how many
// observations stand behind a value, and the bucket counts of a latency histogram, so that
// rates, means and quantile objectives can be tested with the right statistics.
//
//  - QueryWithSampleSize: evaluates a metric and, when the backend did not report a sample size,
//    the metric's `sampleSize` metric (e.g. request-count for error-rate), returning both.
//  - ReadPrometheusBuckets: `sum(increase(<histogram>_bucket{<selector>}[<window>s])) by (le)`
//    from Prometheus, as cumulative counts per upper bound, for one version.
//
// Same threading rules as the providers and HttpClient they use.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "metrics/http_client.h"
#include "metrics/provider.h"

namespace iter8::metrics {

// `sample_size_metric` may be null (no sampleSize). An unavailable sample size leaves
// `sample_size` empty and says why in `unavailable` only if the value itself is unavailable.
MetricResult QueryWithSampleSize(MetricProvider& provider, const api::Metric& metric,
                                 const api::Metric* sample_size_metric,
                                 const api::VersionDetail& version, const QueryContext& context);

// `prometheus_url` is the base URL (http://host:9090); `selector` the label matchers without
// braces (e.g. "revision_name='rev-2'"); `time` the evaluation time (Unix seconds, 0 = now).
absl::StatusOr<CumulativeBuckets> ReadPrometheusBuckets(HttpClient& client,
                                                        const std::string& prometheus_url,
                                                        const std::string& histogram,
                                                        const std::string& selector,
                                                        int64_t window_seconds, int64_t time = 0);

}  // namespace iter8::metrics
