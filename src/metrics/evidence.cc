#include "metrics/evidence.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/strings.h"

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
  HttpRequest req;
  req.url = StrCat(prometheus_url, "/api/v1/query");
  req.query.emplace_back("query", StrCat("sum(increase(", histogram, "_bucket{", selector, "}[",
                                         window_seconds, "s])) by (le)"));
  if (time > 0) req.query.emplace_back("time", StrCat(time));
  absl::StatusOr<HttpResponse> resp = client.Do(req);
  if (!resp.ok()) return resp.status();
  if (resp->status >= 400) {
    return absl::UnavailableError(
        StrCat("HTTP ", resp->status, " from ", req.url, ": ", resp->body.substr(0, 200)));
  }
  nlohmann::json j = nlohmann::json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("Prometheus reply is not JSON");
  }
  const nlohmann::json* result = nullptr;
  if (j.contains("data") && j["data"].is_object() && j["data"].contains("result") &&
      j["data"]["result"].is_array()) {
    result = &j["data"]["result"];
  }
  if (!result) return absl::InvalidArgumentError("Prometheus reply has no data.result vector");
  std::vector<std::pair<double, double>> points;
  for (const auto& series : *result) {
    if (!series.is_object() || !series.contains("metric") || !series.contains("value")) continue;
    const auto& le = series["metric"].value("le", std::string());
    const auto& value = series["value"];
    if (le.empty() || !value.is_array() || value.size() != 2 || !value[1].is_string()) {
      return absl::InvalidArgumentError("Prometheus bucket series without le or value");
    }
    double bound =
        le == "+Inf" ? std::numeric_limits<double>::infinity() : std::strtod(le.c_str(), nullptr);
    double count = std::strtod(value[1].get<std::string>().c_str(), nullptr);
    if (std::isnan(bound) || !std::isfinite(count)) {
      return absl::InvalidArgumentError(StrCat("unusable bucket le=", le));
    }
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
