// File: metrics/counters.cc
#include "metrics/counters.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/strings.h"
#include "metrics/builtin_provider.h"
#include "metrics/template.h"

namespace iter8::metrics {
namespace {

using api::Json;

constexpr const char* kKinds[] = {"total", "events", "sum", "buckets"};

const std::string& QueryOf(const api::CounterQueries& q, const std::string& kind) {
  return kind == "total"    ? q.total
         : kind == "events" ? q.events
         : kind == "sum"    ? q.sum
                            : q.buckets;
}

}  // namespace

double BucketBound(const std::string& series_key) {
  const Json labels = Json::parse(series_key, nullptr, false);
  if (!labels.is_object() || !labels.contains("le") || !labels["le"].is_string()) return NAN;
  const std::string le = labels["le"].get<std::string>();
  if (le == "+Inf") return std::numeric_limits<double>::infinity();
  char* end = nullptr;
  const double v = std::strtod(le.c_str(), &end);
  return end != nullptr && *end == '\0' && !le.empty() ? v : NAN;
}

absl::StatusOr<std::map<std::string, double>> QueryInstantVector(HttpClient& client,
                                                                 const std::string& base_url,
                                                                 const std::string& query,
                                                                 int64_t time) {
  HttpRequest req;
  req.url = StrCat(base_url, "/api/v1/query");
  req.query = {{"query", query}, {"time", StrCat(time)}};
  absl::StatusOr<HttpResponse> resp = client.Do(req);
  if (!resp.ok()) return resp.status();
  if (resp->status != 200) {
    return absl::UnavailableError(
        StrCat("HTTP ", resp->status, " for ", query, ": ", resp->body.substr(0, 200)));
  }
  const Json j = Json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("data") || !j["data"].is_object() ||
      j["data"].value("resultType", std::string()) != "vector" || !j["data"].contains("result") ||
      !j["data"]["result"].is_array()) {
    return absl::InvalidArgumentError(StrCat("not a Prometheus instant vector reply for ", query,
                                             ": ", resp->body.substr(0, 200)));
  }
  std::map<std::string, double> out;
  for (const Json& series : j["data"]["result"]) {
    if (!series.is_object() || !series.contains("metric") || !series["metric"].is_object() ||
        !series.contains("value") || !series["value"].is_array() || series["value"].size() != 2 ||
        !series["value"][1].is_string()) {
      return absl::InvalidArgumentError(StrCat("malformed series in the reply for ", query));
    }
    const std::string text = series["value"][1].get<std::string>();
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || *end != '\0' || !std::isfinite(v) || v < 0) {
      return absl::InvalidArgumentError(
          StrCat("counter value '", text, "' of ", series["metric"].dump(), " is not a count"));
    }
    out[series["metric"].dump()] = v;
  }
  return out;
}

CounterRead ReadCounters(HttpClient& client, const api::CounterQueries& queries,
                         const api::TestMethod& method, const api::VersionDetail& version,
                         const QueryContext& context, const Json& previous_state) {
  CounterRead out;
  out.state = previous_state.is_object() ? previous_state : Json::object();
  const int64_t start = absl::ToUnixSeconds(context.start);
  const int64_t at = absl::ToUnixSeconds(context.now) - queries.lag_seconds;
  const Variables vars = QueryVariables(version, context.start, context.now, context.v2alpha1);

  std::vector<std::string> rendered_all;
  Json state = out.state;
  if (!state.contains("series") || !state["series"].is_object()) state["series"] = Json::object();
  if (!state.contains("totals") || !state["totals"].is_object()) state["totals"] = Json::object();
  const bool first = !out.state.contains("series");
  if (at <= start) {
    out.result = MetricResult::Unavailable(StrCat("no counter reading yet: now - lagSeconds (",
                                                  queries.lag_seconds, " s) is before the start"));
    out.result.sample_size = 0;
    return out;
  }
  for (const char* kind : kKinds) {
    const std::string& query = QueryOf(queries, kind);
    if (query.empty()) continue;
    absl::StatusOr<std::string> rendered = Substitute(query, vars);
    if (!rendered.ok()) {
      out.result =
          MetricResult::Unavailable(StrCat("counters.", kind, ": ", rendered.status().message()));
      return out;
    }
    rendered_all.push_back(StrCat(kind, ": ", *rendered));
    std::map<std::string, double> previous;
    if (first) {
      absl::StatusOr<std::map<std::string, double>> at_start =
          QueryInstantVector(client, queries.url, *rendered, start);
      if (!at_start.ok()) {
        out.result = MetricResult::Unavailable(std::string(at_start.status().message()));
        return out;
      }
      previous = *std::move(at_start);
    } else if (state["series"].contains(kind)) {
      for (const auto& [k, v] : state["series"][kind].items()) previous[k] = v.get<double>();
    }
    absl::StatusOr<std::map<std::string, double>> now =
        QueryInstantVector(client, queries.url, *rendered, at);
    if (!now.ok()) {
      out.result = MetricResult::Unavailable(std::string(now.status().message()));
      return out;
    }
    Json& series = state["series"][kind];
    if (!series.is_object()) series = Json::object();
    for (const auto& [k, v] : previous) series[k] = v;
    for (const auto& [key, value] : *now) {
      auto p = previous.find(key);
      // A new series counts from zero; a value below the last one is a reset.
      const double increment = p == previous.end() || value < p->second ? value : value - p->second;
      series[key] = value;
      if (std::string(kind) == "buckets") {
        const double le = BucketBound(key);
        if (std::isnan(le)) {
          out.result = MetricResult::Unavailable(
              StrCat("counters.buckets: series ", key, " has no numeric le label"));
          return out;
        }
        Json& b = state["totals"]["buckets"];
        if (!b.is_object()) b = Json::object();
        const std::string le_key = std::isinf(le) ? "+Inf" : absl::StrFormat("%.17g", le);
        b[le_key] = b.value(le_key, 0.0) + increment;
      } else {
        state["totals"][kind] = state["totals"].value(kind, 0.0) + increment;
      }
    }
  }
  state["at"] = at;
  out.state = state;

  // Totals -> value, sample size and buckets.
  const Json& totals = state["totals"];
  const double n = totals.value("total", 0.0);
  double events = std::min(totals.value("events", 0.0), n);
  MetricResult r;
  r.sample_size = n;
  r.request = StrCat(absl::StrJoin(rendered_all, "; "), " at ", at);
  std::optional<VersionStats> stats;
  if (totals.contains("buckets")) {
    std::vector<std::pair<double, double>> points;
    for (const auto& [le, c] : totals["buckets"].items()) {
      points.emplace_back(
          le == "+Inf" ? std::numeric_limits<double>::infinity() : std::strtod(le.c_str(), nullptr),
          c.get<double>());
    }
    std::sort(points.begin(), points.end());
    if (points.empty() || !std::isinf(points.back().first)) {
      out.result = MetricResult::Unavailable("counters.buckets: no +Inf bucket");
      return out;
    }
    CumulativeBuckets cb;
    VersionStats st;
    double running = 0;
    for (const auto& [le, c] : points) {
      // Cumulative counts are monotone and never above the request count.
      const double cum = std::min(std::max(c, running), n > 0 ? n : c);
      if (!std::isinf(le)) {
        st.upper_bounds_ms.push_back(le * queries.scale);
        st.bucket_counts.push_back(static_cast<uint64_t>(std::llround(cum - running)));
      } else {
        st.overflow = static_cast<uint64_t>(std::llround(cum - running));
      }
      cb.upper_bounds.push_back(std::isinf(le) ? le : le * queries.scale);
      cb.counts.push_back(cum);
      running = cum;
    }
    st.requests = static_cast<uint64_t>(std::llround(running));
    r.buckets = std::move(cb);
    stats = std::move(st);
  }
  const char* missing = nullptr;
  switch (method.kind) {
    case api::TestMethod::kRate:
      if (queries.events.empty()) missing = "events is needed to test this metric as a rate";
      if (n > 0) r.value = events / n;
      break;
    case api::TestMethod::kMean:
      if (queries.sum.empty()) missing = "sum is needed to test this metric as a mean";
      if (n > 0) r.value = queries.scale * totals.value("sum", 0.0) / n;
      break;
    case api::TestMethod::kCount:
      r.value = queries.events.empty() ? n : events;
      break;
    case api::TestMethod::kQuantile:
      if (!stats) missing = "buckets is needed to test this metric as a quantile";
      if (stats && n > 0) r.value = BucketQuantile(*stats, method.quantile);
      break;
  }
  if (missing != nullptr) {
    r.value.reset();
    r.unavailable = StrCat("counters.", missing);
    out.result = std::move(r);
    return out;
  }
  if (!r.value) r.unavailable = "no requests counted yet";
  out.result = std::move(r);
  return out;
}

}  // namespace iter8::metrics
