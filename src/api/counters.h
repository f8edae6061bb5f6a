// File: api/counters.h
//
// `spec.counters` on a Metric (ours): raw cumulative Prometheus counters behind the metric, read
// at every iteration and differenced per series by iter8 itself (statistics.md 3.2), so the
// sequential engine gets exact integer counts instead of `increase()`'s extrapolated ones.
//
//   counters:
//     url: http://prometheus:9090      Prometheus base URL (required)
//     lagSeconds: 30                   read at now - lag (>= 2 scrape intervals), default 30
//     total: <instant vector>          requests (required), e.g. ..._latencies_count{...}
//     events: <instant vector>         errors, for rates: value = events / total
//     sum: <instant vector>            latency sum, for means: value = scale * sum / total
//     buckets: <instant vector>        ..._bucket{...} series with `le`, for quantiles
//     scale: 1                         multiplies sums and bucket bounds (1000: s -> ms)
//
// The selectors are templates like urlTemplate's (`$revision`, `$name`, ...). Pure value types.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/codec.h"
#include "api/types.h"

namespace iter8::api {

struct CounterQueries {
  std::string url;
  int64_t lag_seconds = 30;
  std::string total;
  std::string events;
  std::string sum;
  std::string buckets;
  double scale = 1;
};

// nullopt when the Metric has no `spec.counters`; problems are appended to `errors` with their
// pointers under /spec/counters (the result is then nullopt too).
std::optional<CounterQueries> ParseCounterQueries(const Metric& metric,
                                                  std::vector<FieldError>* errors);

}  // namespace iter8::api
