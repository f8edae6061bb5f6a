#include "analytics/normal_mixture.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace iter8::analytics {

double NormalMixtureRho(double sigma2, double n_opt, double alpha) {
  const double l = 2.0 * std::log(1.0 / alpha);
  return sigma2 * n_opt / (l + std::log1p(l));
}

double NormalMixtureRadius(double v, double rho, double alpha) {
  if (rho <= 0) return std::numeric_limits<double>::infinity();
  v = std::max(v, 0.0);
  return std::sqrt((v + rho) * (std::log1p(v / rho) + 2.0 * std::log(1.0 / alpha)));
}

MeanInterval MeanConfidenceInterval(double sum, double count, double v, double rho, double alpha) {
  if (count <= 0) {
    return {-std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity()};
  }
  const double r = NormalMixtureRadius(v, rho, alpha);
  return {(sum - r) / count, (sum + r) / count};
}

double HistogramVariance(const std::vector<double>& bounds, const std::vector<double>& counts,
                         double overflow, double max_latency, double sum) {
  double n = overflow, second = 0, lower = 0;
  for (size_t i = 0; i < bounds.size() && i < counts.size(); ++i) {
    const double mid = 0.5 * (lower + bounds[i]), width = bounds[i] - lower;
    second += counts[i] * (mid * mid + width * width / 12.0);
    n += counts[i];
    lower = bounds[i];
  }
  if (overflow > 0) {
    const double hi = std::max(max_latency, lower);
    const double mid = 0.5 * (lower + hi), width = hi - lower;
    second += overflow * (mid * mid + width * width / 12.0);
  }
  if (n <= 0) return 0;
  const double mean = sum / n;
  return std::max(0.0, second / n - mean * mean);
}

double StitchingBoundary(double v, double v_min, double scale, double alpha) {
  constexpr double kS = 1.4, kEta = 2.0;
  constexpr double kZeta = 3.1055;  // zeta(1.4)
  const double vv = std::max(v, v_min);
  const double ell = kS * std::log(std::log(kEta * vv / v_min)) +
                     std::log(kZeta / (alpha * std::pow(std::log(kEta), kS)));
  const double k1 = (std::pow(kEta, 0.25) + std::pow(kEta, -0.25)) / std::sqrt(2.0);
  const double k2 = (std::sqrt(kEta) + 1.0) / 2.0;
  return std::sqrt(k1 * k1 * vv * ell + (k2 * scale * ell) * (k2 * scale * ell)) + k2 * scale * ell;
}

}  // namespace iter8::analytics
