#include "analytics/builtin_hists.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>
#include <vector>

#include "common/strings.h"

namespace iter8::analytics {
namespace {

// Bucket counts beyond this are rejected (they would overflow the 10-points-per-request sample).
constexpr double kMaxCount = 1e12;

struct Bucket {
  double start;
  double end;
  int64_t count;
};

absl::Status Bad(const std::string& pointer, const std::string& what) {
  return absl::InvalidArgumentError(StrCat("aggregatedBuiltinHists", pointer, ": ", what));
}

absl::StatusOr<double> Number(const api::Json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) {
    return Bad(StrCat(where, "/", key), "expected a number");
  }
  double v = it->get<double>();
  if (!std::isfinite(v) || v < 0)
    return Bad(StrCat(where, "/", key), "expected a finite number >= 0");
  return v;
}

// numpy.percentile (linear interpolation) over `n` points spread evenly in each bucket.
double Percentile(const std::vector<Bucket>& buckets, double p) {
  int64_t n = 0;
  for (const auto& b : buckets) n += 10 * b.count;
  if (n == 0) return 0;
  const double rank = p / 100.0 * static_cast<double>(n - 1);
  auto point = [&](int64_t index) {
    for (const auto& b : buckets) {
      const int64_t k = 10 * b.count;
      if (index < k) {
        return b.start +
               (b.end - b.start) * (static_cast<double>(index) + 0.5) / static_cast<double>(k);
      }
      index -= k;
    }
    return buckets.back().end;
  };
  const int64_t lo = static_cast<int64_t>(std::floor(rank));
  const int64_t hi = std::min(lo + 1, n - 1);
  const double frac = rank - static_cast<double>(lo);
  return point(lo) + (point(hi) - point(lo)) * frac;
}

void Put(api::AggregatedMetricsAnalysis* out, const std::string& metric, const std::string& version,
         double value) {
  absl::StatusOr<api::Quantity> q = api::Quantity::FromDouble(value);
  auto& entry = out->data[StrCat(kBuiltinNamespace, "/", metric)].data[version];
  if (q.ok()) entry.value = *q;
}

}  // namespace

absl::StatusOr<std::map<std::string, FortioResult>> ParseFortioResults(const api::Json& hists) {
  if (!hists.is_object() || !hists.contains("data") || !hists["data"].is_object()) {
    return Bad("/data", "expected an object mapping version names to Fortio results");
  }
  std::map<std::string, FortioResult> out;
  for (auto it = hists["data"].begin(); it != hists["data"].end(); ++it) {
    const std::string where = StrCat("/data/", it.key());
    const api::Json& result = it.value();
    if (!result.is_object() || !result.contains("DurationHistogram") ||
        !result["DurationHistogram"].is_object()) {
      return Bad(StrCat(where, "/DurationHistogram"), "expected an object");
    }
    const api::Json& dh = result["DurationHistogram"];
    const std::string dh_where = StrCat(where, "/DurationHistogram");
    FortioResult r;
    absl::StatusOr<double> count = Number(dh, "Count", dh_where);
    if (!count.ok()) return count.status();
    absl::StatusOr<double> sum = Number(dh, "Sum", dh_where);
    if (!sum.ok()) return sum.status();
    if (*count > kMaxCount) return Bad(StrCat(dh_where, "/Count"), "implausibly large count");
    r.count = static_cast<int64_t>(*count);
    r.sum_seconds = *sum;
    if (dh.contains("Data")) {
      if (!dh["Data"].is_array()) return Bad(StrCat(dh_where, "/Data"), "expected an array");
      for (size_t i = 0; i < dh["Data"].size(); ++i) {
        const std::string bw = StrCat(dh_where, "/Data/", i);
        const api::Json& b = dh["Data"][i];
        if (!b.is_object()) return Bad(bw, "expected an object");
        absl::StatusOr<double> start = Number(b, "Start", bw);
        absl::StatusOr<double> end = Number(b, "End", bw);
        absl::StatusOr<double> c = Number(b, "Count", bw);
        if (!start.ok()) return start.status();
        if (!end.ok()) return end.status();
        if (!c.ok()) return c.status();
        if (*end < *start) return Bad(bw, "End is below Start");
        if (*c > kMaxCount) return Bad(StrCat(bw, "/Count"), "implausibly large count");
        if (!r.buckets.empty() && *start < r.buckets.back().start) {
          return Bad(bw, "buckets must be in ascending order of Start");
        }
        r.buckets.push_back({*start, *end, static_cast<int64_t>(*c)});
      }
    }
    if (result.contains("RetCodes")) {
      const api::Json& codes = result["RetCodes"];
      if (!codes.is_object()) return Bad(StrCat(where, "/RetCodes"), "expected an object");
      for (auto c = codes.begin(); c != codes.end(); ++c) {
        if (!c.value().is_number() || !(c.value().get<double>() >= 0)) {
          return Bad(StrCat(where, "/RetCodes/", c.key()), "expected a number >= 0");
        }
        const int code = std::atoi(c.key().c_str());
        // >= 400: an HTTP error; < 100 (Fortio's -1): no answer at all, also an error.
        if (code >= 400 || code < 100) r.errors += static_cast<int64_t>(c.value().get<double>());
      }
    }
    out.emplace(it.key(), std::move(r));
  }
  return out;
}

absl::StatusOr<api::AggregatedMetricsAnalysis> BuiltinMetrics(const api::Json& hists) {
  absl::StatusOr<std::map<std::string, FortioResult>> results = ParseFortioResults(hists);
  if (!results.ok()) return results.status();
  api::AggregatedMetricsAnalysis out;
  for (const auto& [version, r] : *results) {
    const double count = static_cast<double>(r.count);
    const double errors = static_cast<double>(r.errors);
    Put(&out, "request-count", version, count);
    Put(&out, "error-count", version, errors);
    if (r.count > 0) {
      std::vector<Bucket> ms;
      for (const FortioBucket& b : r.buckets) {
        ms.push_back({b.start * 1000.0, b.end * 1000.0, b.count});
      }
      Put(&out, "error-rate", version, errors / count);
      Put(&out, "mean-latency", version, 1000.0 * r.sum_seconds / count);
      for (int p : {50, 75, 90, 95, 99}) {
        Put(&out, StrCat("latency-", p, "th-percentile"), version, Percentile(ms, p));
      }
    }
  }
  return out;
}

absl::StatusOr<api::Json> MergeFortioResults(const api::Json& existing, const api::Json& more) {
  api::Json out = existing.is_object() ? existing : api::Json::object();
  if (!out.contains("data") || out["data"].is_null()) out["data"] = api::Json::object();
  for (const api::Json* hists : std::initializer_list<const api::Json*>{&out, &more}) {
    if (auto parsed = ParseFortioResults(*hists); !parsed.ok()) return parsed.status();
  }
  for (const auto& [version, add] : more["data"].items()) {
    if (!out["data"].contains(version)) {
      out["data"][version] = add;
      continue;
    }
    api::Json& to = out["data"][version];
    api::Json& dh = to["DurationHistogram"];
    const api::Json& adh = add["DurationHistogram"];
    dh["Count"] = dh["Count"].get<double>() + adh["Count"].get<double>();
    dh["Sum"] = dh["Sum"].get<double>() + adh["Sum"].get<double>();
    for (const char* key : {"Min", "Max"}) {
      if (!adh.contains(key) || !adh[key].is_number()) continue;
      const bool take = !dh.contains(key) || !dh[key].is_number() ||
                        (key[1] == 'i' ? adh[key].get<double>() < dh[key].get<double>()
                                       : adh[key].get<double>() > dh[key].get<double>());
      if (take) dh[key] = adh[key];
    }
    if (dh["Count"].get<double>() > 0) {
      dh["Avg"] = dh["Sum"].get<double>() / dh["Count"].get<double>();
    }
    // Buckets with the same [Start, End] add up; others are kept, in order of Start.
    std::map<std::pair<double, double>, double> buckets;
    for (const api::Json* data : std::initializer_list<const api::Json*>{&dh, &adh}) {
      if (!data->contains("Data")) continue;
      for (const api::Json& b : (*data)["Data"]) {
        buckets[{b["Start"].get<double>(), b["End"].get<double>()}] += b["Count"].get<double>();
      }
    }
    api::Json merged = api::Json::array();
    const double total = dh["Count"].get<double>();
    for (const auto& [range, count] : buckets) {
      merged.push_back({{"Start", range.first},
                        {"End", range.second},
                        {"Percent", total > 0 ? 100.0 * count / total : 0.0},
                        {"Count", count}});
    }
    dh["Data"] = std::move(merged);
    if (add.contains("RetCodes")) {
      if (!to.contains("RetCodes")) to["RetCodes"] = api::Json::object();
      for (const auto& [code, n] : add["RetCodes"].items()) {
        to["RetCodes"][code] = to["RetCodes"].value(code, 0.0) + n.get<double>();
      }
    }
  }
  return out;
}

}  // namespace iter8::analytics
