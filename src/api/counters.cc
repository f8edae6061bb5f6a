// File: api/counters.cc
#include "api/counters.h"

#include <cmath>

#include "common/strings.h"

namespace iter8::api {

std::optional<CounterQueries> ParseCounterQueries(const Metric& metric,
                                                  std::vector<FieldError>* errors) {
  auto it = metric.spec.extra.find("counters");
  if (it == metric.spec.extra.end() || it->is_null()) return std::nullopt;
  const size_t before = errors->size();
  const Json& c = *it;
  if (!c.is_object()) {
    errors->push_back({"/spec/counters", "must be a map"});
    return std::nullopt;
  }
  CounterQueries q;
  for (const auto& [key, value] : c.items()) {
    const std::string where = StrCat("/spec/counters/", key);
    if (key == "lagSeconds") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > 3600) {
        errors->push_back({where, "must be an integer in [0, 3600]"});
      } else {
        q.lag_seconds = value.get<int64_t>();
      }
      continue;
    }
    if (key == "scale") {
      if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() <= 0) {
        errors->push_back({where, "must be a number > 0"});
      } else {
        q.scale = value.get<double>();
      }
      continue;
    }
    std::string* field = key == "url"       ? &q.url
                         : key == "total"   ? &q.total
                         : key == "events"  ? &q.events
                         : key == "sum"     ? &q.sum
                         : key == "buckets" ? &q.buckets
                                            : nullptr;
    if (field == nullptr) {
      errors->push_back(
          {where, "unknown field (url, lagSeconds, total, events, sum, buckets, scale)"});
    } else if (!value.is_string() || value.get<std::string>().empty()) {
      errors->push_back({where, "must be a non-empty string"});
    } else {
      *field = value.get<std::string>();
    }
  }
  if (q.url.empty() && !c.contains("url")) {
    errors->push_back({"/spec/counters/url", "Required value: the Prometheus base URL"});
  }
  if (q.total.empty() && !c.contains("total")) {
    errors->push_back({"/spec/counters/total", "Required value: the requests counter"});
  }
  if (errors->size() != before) return std::nullopt;
  return q;
}

}  // namespace iter8::api
