#include "metrics/mock_provider.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "common/strings.h"

namespace iter8::metrics {
namespace {

double Normal(Random& random) {
  const double u1 = 1.0 - random.Uniform();  // (0, 1]
  const double u2 = random.Uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

// Gamma(shape, 1) for shape >= 1 (Marsaglia and Tsang, 2000).
double Gamma(double shape, Random& random) {
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const double x = Normal(random);
    double v = 1.0 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    const double u = 1.0 - random.Uniform();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
  return d;  // practically unreachable; the mean keeps the result sensible
}

}  // namespace

double SampleSymmetricBeta(double a, Random& random) {
  const double x = Gamma(a, random);
  const double y = Gamma(a, random);
  return x + y > 0 ? x / (x + y) : 0.5;
}

MetricResult MockProvider::Query(const api::Metric& metric, const api::VersionDetail& version,
                                 const QueryContext& context) {
  const auto& levels = metric.spec.mock;
  auto it = std::find_if(levels.begin(), levels.end(),
                         [&](const api::NamedLevel& l) { return l.name == version.name; });
  if (it == levels.end()) {
    return MetricResult::Unavailable(
        StrCat("mock metric ", metric.metadata.name, " has no level for version ", version.name));
  }
  const double level = it->level.ToDouble();
  const double elapsed =
      std::max<double>(1.0, std::floor(absl::ToDoubleSeconds(context.now - context.start)));
  MetricResult r;
  r.request = StrCat("mock level ", it->level.ToString(), ", elapsed ", elapsed, "s");
  if (metric.spec.type.value_or(api::MetricType::kGauge) == api::MetricType::kCounter) {
    r.value = elapsed * level;
  } else {
    r.value = 2.0 * level * SampleSymmetricBeta(elapsed, random_);
  }
  return r;
}

}  // namespace iter8::metrics
