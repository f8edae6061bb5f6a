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
  // ln E(p0) = const - e ln p0 - (n - e) ln(1 - p0) is convex with its minimum at e/n: bisect
  // each side for the crossing (the Beta terms do not depend on p0: computed once).
  const double mixture = LogBeta(prior.a + ed, prior.b + nd - ed) - LogBeta(prior.a, prior.b);
  auto inside = [&](double p) {
    return mixture - ed * std::log(p) - (nd - ed) * std::log1p(-p) < threshold;
  };
  auto bisect = [&](double out, double in) {
    for (int i = 0; i < 60; ++i) {
      const double mid = 0.5 * (out + in);
      (inside(mid) ? in : out) = mid;
    }
    return in;
  };
  const double eps = 1e-12;
  const double centre = std::clamp(mle, eps, 1.0 - eps);
  const double lower = inside(eps) ? 0.0 : bisect(eps, centre);
  const double upper = inside(1.0 - eps) ? 1.0 : bisect(1.0 - eps, centre);
  return {lower, upper};
}

}  // namespace iter8::analytics
