#include "metrics/builtin_provider.h"

#include <limits>

#include "common/strings.h"

namespace iter8::metrics {

std::optional<VersionStats> MapBuiltinSource::Stats(const std::string& version,
                                                    const std::string& /*route*/) const {
  auto it = stats_.find(version);
  if (it == stats_.end()) return std::nullopt;
  return it->second;
}

std::optional<double> BucketQuantile(const VersionStats& s, double q) {
  uint64_t total = s.overflow;
  for (uint64_t c : s.bucket_counts) total += c;
  if (total == 0 || s.bucket_counts.size() != s.upper_bounds_ms.size()) return std::nullopt;
  const double rank = q * static_cast<double>(total);
  double below = 0, lower = 0;
  for (size_t i = 0; i < s.bucket_counts.size(); ++i) {
    const double in = static_cast<double>(s.bucket_counts[i]);
    if (below + in >= rank && in > 0) {
      return lower + (s.upper_bounds_ms[i] - lower) * (rank - below) / in;
    }
    below += in;
    lower = s.upper_bounds_ms[i];
  }
  return s.upper_bounds_ms.empty() ? std::nullopt : std::optional<double>(lower);
}

MetricResult BuiltinProvider::Query(const api::Metric& metric, const api::VersionDetail& version,
                                    const QueryContext& /*context*/) {
  std::string name = metric.metadata.name;
  if (size_t slash = name.rfind('/'); slash != std::string::npos) name = name.substr(slash + 1);
  std::string route;
  if (version.weight_obj_ref && version.weight_obj_ref->kind == "Route") {
    route = version.weight_obj_ref->name;
  }
  std::optional<VersionStats> stats = source_.Stats(version.name, route);
  if (!stats) {
    return MetricResult::Unavailable(StrCat("no traffic statistics for version ", version.name));
  }
  MetricResult r;
  r.request = StrCat("builtin ", name, " of ", version.name);
  r.sample_size = static_cast<double>(stats->requests);
  const double n = static_cast<double>(stats->requests);
  auto need_requests = [&]() {
    r.unavailable = StrCat(name, " of ", version.name, " is undefined without requests");
    return r;
  };
  // Latency metrics carry the histogram behind them (milliseconds, cumulative, +Inf last).
  auto attach_buckets = [&]() {
    if (stats->bucket_counts.size() != stats->upper_bounds_ms.size()) return;
    CumulativeBuckets b;
    double cumulative = 0;
    for (size_t i = 0; i < stats->upper_bounds_ms.size(); ++i) {
      cumulative += static_cast<double>(stats->bucket_counts[i]);
      b.upper_bounds.push_back(stats->upper_bounds_ms[i]);
      b.counts.push_back(cumulative);
    }
    b.upper_bounds.push_back(std::numeric_limits<double>::infinity());
    b.counts.push_back(cumulative + static_cast<double>(stats->overflow));
    r.buckets = std::move(b);
  };
  if (name == "request-count") {
    r.value = n;
  } else if (name == "error-count") {
    r.value = static_cast<double>(stats->errors);
  } else if (name == "error-rate") {
    if (n == 0) return need_requests();
    r.value = static_cast<double>(stats->errors) / n;
  } else if (name == "mean-latency") {
    if (n == 0) return need_requests();
    r.value = stats->latency_sum_ms / n;
    attach_buckets();
  } else {
    static const std::map<std::string, double> kQuantiles = {{"latency-50th-percentile", 0.50},
                                                             {"latency-75th-percentile", 0.75},
                                                             {"latency-90th-percentile", 0.90},
                                                             {"latency-95th-percentile", 0.95},
                                                             {"latency-99th-percentile", 0.99}};
    auto q = kQuantiles.find(name);
    if (q == kQuantiles.end()) {
      return MetricResult::Unavailable(StrCat("unknown builtin metric ", metric.metadata.name));
    }
    std::optional<double> v = BucketQuantile(*stats, q->second);
    if (!v) return need_requests();
    r.value = *v;
    attach_buckets();
  }
  return r;
}

}  // namespace iter8::metrics
