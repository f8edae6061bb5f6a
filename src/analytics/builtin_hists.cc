#include "analytics/builtin_hists.h"

#include <algorithm>
#include <cmath>
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

absl::StatusOr<api::AggregatedMetricsAnalysis> BuiltinMetrics(const api::Json& hists) {
  if (!hists.is_object() || !hists.contains("data") || !hists["data"].is_object()) {
    return Bad("/data", "expected an object mapping version names to Fortio results");
  }
  api::AggregatedMetricsAnalysis out;
  for (auto it = hists["data"].begin(); it != hists["data"].end(); ++it) {
    const std::string version = it.key();
    const std::string where = StrCat("/data/", version);
    const api::Json& result = it.value();
    if (!result.is_object() || !result.contains("DurationHistogram") ||
        !result["DurationHistogram"].is_object()) {
      return Bad(StrCat(where, "/DurationHistogram"), "expected an object");
    }
    const api::Json& dh = result["DurationHistogram"];
    const std::string dh_where = StrCat(where, "/DurationHistogram");
    absl::StatusOr<double> count = Number(dh, "Count", dh_where);
    if (!count.ok()) return count.status();
    absl::StatusOr<double> sum = Number(dh, "Sum", dh_where);
    if (!sum.ok()) return sum.status();
    std::vector<Bucket> buckets;
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
        buckets.push_back({*start * 1000.0, *end * 1000.0, static_cast<int64_t>(*c)});
      }
    }
    double errors = 0;
    if (result.contains("RetCodes")) {
      const api::Json& codes = result["RetCodes"];
      if (!codes.is_object()) return Bad(StrCat(where, "/RetCodes"), "expected an object");
      for (auto c = codes.begin(); c != codes.end(); ++c) {
        if (!c.value().is_number()) {
          return Bad(StrCat(where, "/RetCodes/", c.key()), "expected a number");
        }
        int code = std::atoi(c.key().c_str());
        if (code >= 400) errors += c.value().get<double>();
      }
    }
    Put(&out, "request-count", version, *count);
    Put(&out, "error-count", version, errors);
    if (*count > 0) {
      Put(&out, "error-rate", version, errors / *count);
      Put(&out, "mean-latency", version, 1000.0 * *sum / *count);
      for (int p : {50, 75, 90, 95, 99}) {
        Put(&out, StrCat("latency-", p, "th-percentile"), version, Percentile(buckets, p));
      }
    }
  }
  return out;
}

}  // namespace iter8::analytics
