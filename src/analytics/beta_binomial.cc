#include "analytics/beta_binomial.h"

#include <algorithm>
#include <boost/math/special_functions/beta.hpp>
#include <boost/math/special_functions/gamma.hpp>
#include <cmath>
#include <limits>

namespace iter8::analytics {
namespace {

// Errors become NaN/inf results instead of exceptions; callers treat non-finite evidence as none.
// Doubles stay doubles (Boost would promote to long double: 4x slower, no accuracy we need).
using Policy = boost::math::policies::policy<
    boost::math::policies::promote_double<false>,
    boost::math::policies::domain_error<boost::math::policies::ignore_error>,
    boost::math::policies::overflow_error<boost::math::policies::ignore_error>,
    boost::math::policies::underflow_error<boost::math::policies::ignore_error>,
    boost::math::policies::evaluation_error<boost::math::policies::ignore_error>>;

double LogBeta(double x, double y) {
  return boost::math::lgamma(x, Policy()) + boost::math::lgamma(y, Policy()) -
         boost::math::lgamma(x + y, Policy());
}

// ln I_x(a, b) and ln(1 - I_x(a, b)).
double LogIbeta(double a, double b, double x) {
  return std::log(boost::math::ibeta(a, b, x, Policy()));
}
double LogIbetac(double a, double b, double x) {
  return std::log(boost::math::ibetac(a, b, x, Policy()));
}

// The mixture's likelihood ratio without the truncation terms.
double LogRatio(int64_t e, int64_t n, double p0, BetaPrior prior) {
  const double ed = static_cast<double>(e), nd = static_cast<double>(n);
  return LogBeta(prior.a + ed, prior.b + nd - ed) - LogBeta(prior.a, prior.b) - ed * std::log(p0) -
         (nd - ed) * std::log1p(-p0);
}

bool Valid(int64_t e, int64_t n, double p) { return n > 0 && e >= 0 && e <= n && p > 0 && p < 1; }

}  // namespace

BetaPrior CenteredPrior(double limit, double concentration) {
  return {concentration * limit, concentration * (1.0 - limit)};
}

double LogEvidenceAt(int64_t e, int64_t n, double p0, BetaPrior prior) {
  if (!Valid(e, n, p0)) return 0.0;
  return LogRatio(e, n, p0, prior);
}

double LogEvidenceSatisfies(int64_t e, int64_t n, double limit, BetaPrior prior) {
  if (!Valid(e, n, limit)) return 0.0;
  const double ed = static_cast<double>(e), nd = static_cast<double>(n);
  return LogRatio(e, n, limit, prior) + LogIbeta(prior.a + ed, prior.b + nd - ed, limit) -
         LogIbeta(prior.a, prior.b, limit);
}

double LogEvidenceViolates(int64_t e, int64_t n, double limit, BetaPrior prior) {
  if (!Valid(e, n, limit)) return 0.0;
  const double ed = static_cast<double>(e), nd = static_cast<double>(n);
  return LogRatio(e, n, limit, prior) + LogIbetac(prior.a + ed, prior.b + nd - ed, limit) -
         LogIbetac(prior.a, prior.b, limit);
}

RateInterval RateConfidenceInterval(int64_t e, int64_t n, double alpha, BetaPrior prior) {
  if (n <= 0 || e < 0 || e > n) return {0.0, 1.0};
  const double threshold = std::log(1.0 / alpha);
  const double ed = static_cast<double>(e), nd = static_cast<double>(n);
  const double mle = ed / nd;
  // ln E(p0) = const - e ln p0 - (n - e) ln(1 - p0) is convex with its minimum at e/n (the Beta
  // terms do not depend on p0: computed once). In x = logit(p0) it is
  //   g(x) = const + e softplus(-x) + (n - e) softplus(x),   g'(x) = n sigmoid(x) - e,
  // convex and asymptotically linear: Newton's method from outside the interval converges to
  // each end monotonically, from outside (so the interval is never narrower than it is), in a
  // handful of steps.
  const double mixture = LogBeta(prior.a + ed, prior.b + nd - ed) - LogBeta(prior.a, prior.b);
  auto softplus = [](double x) {
    return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
  };
  auto g = [&](double x) {
    return mixture + ed * softplus(-x) + (nd - ed) * softplus(x) - threshold;
  };
  auto sigmoid = [](double x) { return 1 / (1 + std::exp(-x)); };
  auto inside = [&](double p) {
    return mixture - ed * std::log(p) - (nd - ed) * std::log1p(-p) < threshold;
  };
  const double eps = 1e-12;
  const double centre =
      std::log(std::clamp(mle, eps, 1.0 - eps) / (1 - std::clamp(mle, eps, 1.0 - eps)));
  // The end on the side `dir` (+1 upper, -1 lower): a point outside, then Newton.
  auto end = [&](double dir) {
    double step = 1, x = centre + dir * step;
    for (int i = 0; i < 60 && g(x) < 0; ++i) x = centre + dir * (step *= 2);
    for (int i = 0; i < 100; ++i) {
      const double slope = nd * sigmoid(x) - ed;
      if (slope == 0) break;
      const double next = x - g(x) / slope;
      if (!std::isfinite(next) || std::abs(next - x) <= 1e-12 * std::max(1.0, std::abs(x))) break;
      x = next;
    }
    return sigmoid(x);
  };
  const double lower = inside(eps) ? 0.0 : end(-1);
  const double upper = inside(1.0 - eps) ? 1.0 : end(+1);
  return {lower, upper};
}

}  // namespace iter8::analytics
