#include "analytics/batch_rate.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numbers>

namespace iter8::analytics {
namespace {

constexpr double kMinusInf = -std::numeric_limits<double>::infinity();

// ln Phi(z), accurate far into the lower tail (Mills' ratio below -30, where erfc underflows).
double LogNormalCdf(double z) {
  if (z > -30) return std::log(0.5 * std::erfc(-z / std::numbers::sqrt2));
  const double z2 = z * z;
  return -z2 / 2 - std::log(-z) - 0.5 * std::log(2 * std::numbers::pi) +
         std::log1p(-1 / z2 + 3 / (z2 * z2));
}

double LogSumExp(double a, double b) {
  if (a == kMinusInf) return b;
  if (b == kMinusInf) return a;
  const double m = std::max(a, b);
  return m + std::log(std::exp(a - m) + std::exp(b - m));
}

// The numerator's grid. Binomial scales s (a rate below p0 has a smaller binomial variance than
// p0's; without these the test would give up most of its power on small batches) and intra-batch
// correlations rho.
constexpr std::array<double, 4> kScales = {0.3, 0.45, 0.67, 1.0};
constexpr std::array<double, 9> kRhos = {0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3};
static_assert(BatchSums::kValues == 1 + 4 * kRhos.size());
double LogGridWeight(size_t s, size_t r) {
  const bool binomial_variance = s + 1 == kScales.size();
  if (r == 0) return std::log(binomial_variance ? 0.4 : 0.25 / (kScales.size() - 1));
  return std::log(0.35 / (kScales.size() * (kRhos.size() - 1)));
}
// Prior scales of theta, as multiples of tau, and their weights: heavier tails than one
// half-normal, so a rate far from p0 is not penalised for being unexpected.
constexpr std::array<double, 3> kThetaScales = {1, 3, 9};
constexpr std::array<double, 3> kThetaWeights = {0.5, 0.3, 0.2};

// Sums over the batches with variances v_j = 1 + (n_j - 1) rho (s apart):
// A = sum Y^2 / v, B = sum a Y / v, C = sum a^2 / v, D = sum ln v, K.
struct Sums {
  double a = 0, b = 0, c = 0, d = 0, k = 0;
};
// From p0-free sums r = {sum e^2 / (n v), sum e / v, sum n / v, sum ln v}.
Sums AtP0(const double* r, double k, double p0) {
  const double c0 = p0 * (1 - p0);
  return {(r[0] - 2 * p0 * r[1] + p0 * p0 * r[2]) / c0, (r[1] - p0 * r[2]) / c0, r[2] / c0, r[3],
          k};
}
void AddRaw(const RateBatch& x, double rho, double* r) {
  const double v = 1 + (x.n - 1) * rho;
  r[0] += x.e * x.e / (x.n * v);
  r[1] += x.e / v;
  r[2] += x.n / v;
  r[3] += rho == 0 ? 0 : std::log(v);
}
Sums Weighted(const std::vector<RateBatch>& batches, double p0, double rho) {
  double r[4] = {0, 0, 0, 0}, k = 0;
  for (const RateBatch& x : batches) {
    if (!(x.n > 0)) continue;
    AddRaw(x, rho, r);
    k += 1;
  }
  return AtP0(r, k, p0);
}

// The null's profile log-likelihood given the sums at some rho: theta on the null's side,
// s >= 1 at its best.
double NullProfile(const Sums& w, RateSide side) {
  const double theta_hat = w.b / w.c;
  const double theta =
      side == RateSide::kBelow ? std::max(0.0, theta_hat) : std::min(0.0, theta_hat);
  const double q = std::max(0.0, w.a - 2 * theta * w.b + theta * theta * w.c);
  const double s = std::max(1.0, q / w.k);
  return -0.5 * (w.d + w.k * std::log(s)) - q / (2 * s);
}

// sup over rho in [0, 1] of the null's profile, at least `known` (the profile at some rho):
// 0 and a log-spaced grid from 1e-7, then a golden section search between the neighbours of the
// best grid point.
double NullSup(const std::vector<RateBatch>& batches, double p0, RateSide side, double known) {
  constexpr int kGrid = 29;  // 1e-7 .. 1, four points per factor of 10
  auto profile = [&](double rho) { return NullProfile(Weighted(batches, p0, rho), side); };
  auto rho_at = [](int i) { return std::pow(10.0, -7 + i / 4.0); };
  double best = profile(0);
  int best_i = -1;
  for (int i = 0; i < kGrid; ++i) {
    const double l = profile(rho_at(i));
    if (l > best) best = l, best_i = i;
  }
  double lo = best_i <= 0 ? 0 : rho_at(best_i - 1);
  double hi = best_i < 0 ? rho_at(0) : rho_at(std::min(best_i + 1, kGrid - 1));
  constexpr double kGolden = 0.6180339887498949;
  double x1 = hi - kGolden * (hi - lo), x2 = lo + kGolden * (hi - lo);
  double f1 = profile(x1), f2 = profile(x2);
  for (int it = 0; it < 30; ++it) {
    if (f1 > f2) {
      hi = x2, x2 = x1, f2 = f1;
      x1 = hi - kGolden * (hi - lo);
      f1 = profile(x1);
    } else {
      lo = x1, x1 = x2, f1 = f2;
      x2 = lo + kGolden * (hi - lo);
      f2 = profile(x2);
    }
  }
  return std::max({best, f1, f2, known});
}

// The numerator, and the null's profile at the numerator's grid of rho (a lower bound of the
// null's sup).
struct Parts {
  double log_alt = kMinusInf;
  double null_lower = kMinusInf;
};
Parts Numerator(const BatchSums& sums, double p0, RateSide side, double tau) {
  Parts out;
  const double sign = side == RateSide::kBelow ? -1 : 1;
  for (size_t r = 0; r < kRhos.size(); ++r) {
    const Sums w = AtP0(&sums.values[1 + 4 * r], sums.values[0], p0);
    out.null_lower = std::max(out.null_lower, NullProfile(w, side));
    for (size_t s = 0; s < kScales.size(); ++s) {
      const double scale = kScales[s];
      const double base = -0.5 * (w.d + w.k * std::log(scale)) - w.a / (2 * scale);
      const double b = w.b / scale;
      for (size_t t = 0; t < kThetaScales.size(); ++t) {
        const double width = tau * kThetaScales[t];
        const double precision = w.c / scale + 1 / (width * width);
        const double term = base + std::log(2.0) - std::log(width) - 0.5 * std::log(precision) +
                            b * b / (2 * precision) + LogNormalCdf(sign * b / std::sqrt(precision));
        out.log_alt =
            LogSumExp(out.log_alt, LogGridWeight(s, r) + std::log(kThetaWeights[t]) + term);
      }
    }
  }
  return out;
}

bool Usable(const BatchSums& sums, double p0, double tau) {
  return p0 > 0 && p0 < 1 && tau > 0 && sums.values[0] >= 1;
}

}  // namespace

void BatchSums::Add(const RateBatch& batch) {
  if (!(batch.n > 0) || !(batch.e >= 0)) return;
  values[0] += 1;
  for (size_t r = 0; r < kRhos.size(); ++r) AddRaw(batch, kRhos[r], &values[1 + 4 * r]);
}

BatchSums BatchSums::Of(const std::vector<RateBatch>& batches) {
  BatchSums sums;
  for (const RateBatch& b : batches) sums.Add(b);
  return sums;
}

// The constant -K/2 ln(2 pi) of every Gaussian likelihood cancels between the two terms.
double LogBatchEvidence(const std::vector<RateBatch>& batches, double p0, RateSide side,
                        double tau) {
  const BatchSums sums = BatchSums::Of(batches);
  if (!Usable(sums, p0, tau)) return 0;
  const Parts parts = Numerator(sums, p0, side, tau);
  const double out = parts.log_alt - NullSup(batches, p0, side, parts.null_lower);
  return std::isfinite(out) ? out : 0;
}

bool BatchEvidenceReaches(const BatchSums& sums, const std::vector<RateBatch>& batches, double p0,
                          RateSide side, double tau, double log_threshold) {
  if (!Usable(sums, p0, tau)) return false;
  const Parts parts = Numerator(sums, p0, side, tau);
  // The null's sup is at least its profile on the numerator's grid: below the threshold with
  // that, below it for certain; only near it is the sup searched for.
  if (!(parts.log_alt - parts.null_lower >= log_threshold)) return false;
  return parts.log_alt - NullSup(batches, p0, side, parts.null_lower) >= log_threshold;
}

}  // namespace iter8::analytics
