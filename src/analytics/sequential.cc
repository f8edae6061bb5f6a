#include "analytics/sequential.h"

#include <algorithm>
#include <boost/math/distributions/chi_squared.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numbers>
#include <optional>

#include "analytics/batch_rate.h"
#include "analytics/beta_binomial.h"
#include "analytics/classic.h"
#include "analytics/normal_mixture.h"
#include "analytics/quantile_objective.h"
#include "api/strength.h"
#include "api/validate.h"
#include "common/strings.h"

namespace iter8::analytics {
namespace {

using api::Json;
using api::TestingPattern;
using api::TestMethod;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMinBatch = 30;  // requests per arm before a contrast batch is used
constexpr int kThompsonDraws = 1000;
constexpr double kExplore = 0.10;

enum class V { kUndecided, kSatisfies, kViolates };

const char* Name(V v) {
  switch (v) {
    case V::kSatisfies:
      return "SATISFIES";
    case V::kViolates:
      return "VIOLATES";
    case V::kUndecided:
      break;
  }
  return "UNDECIDED";
}

V ParseVerdict(const Json& j) {
  if (j == "SATISFIES") return V::kSatisfies;
  if (j == "VIOLATES") return V::kViolates;
  return V::kUndecided;
}

double Num(const Json& j, const char* key, double fallback = 0) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return fallback;
  return j[key].get<double>();
}

// j[key] without a copy: a static empty object (or array, or null) when j is not an object or
// does not hold the key with that type.
const Json& EmptyObject() {
  static const Json kEmpty = Json::object();
  return kEmpty;
}
const Json& Object(const Json& j, const std::string& key) {
  if (!j.is_object()) return EmptyObject();
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : EmptyObject();
}
const Json& Array(const Json& j, const std::string& key) {
  static const Json kEmpty = Json::array();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : kEmpty;
}
const Json& Member(const Json& j, const std::string& key) {
  static const Json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it != j.end() ? *it : kNull;
}

// JSON has no infinity: unbounded ends are null.
Json Finite(double x) { return std::isfinite(x) ? Json(x) : Json(nullptr); }

std::string MethodName(const TestMethod& m) {
  switch (m.kind) {
    case TestMethod::kRate:
      return "rate";
    case TestMethod::kMean:
      return "mean";
    case TestMethod::kCount:
      return "count";
    case TestMethod::kQuantile:
      return StrCat("p", m.quantile * 100);
  }
  return "mean";
}

// Accumulators of a mean over iterations (statistics.md 3.4): the last cumulative (n, sum), the
// intrinsic time V = sum_j n_j sigma2_{j-1}, the predictable variance for the next batch, and
// batch-means sums (k batches, sq = sum_j n_j m_j^2).
struct MeanAcc {
  double n = 0, sum = 0, v = 0, s2 = -1, k = 0, sq = 0, rho = 0;

  static MeanAcc From(const Json& j) {
    MeanAcc a;
    a.n = Num(j, "n");
    a.sum = Num(j, "sum");
    a.v = Num(j, "v");
    a.s2 = Num(j, "s2", -1);
    a.k = Num(j, "k");
    a.sq = Num(j, "sq");
    a.rho = Num(j, "rho");
    return a;
  }
  Json ToJson() const {
    return Json{{"n", n}, {"sum", sum}, {"v", v}, {"s2", s2}, {"k", k}, {"sq", sq}, {"rho", rho}};
  }
  // Batch-means variance of single observations, when two batches or more have been seen.
  std::optional<double> BatchVariance() const {
    if (k < 2 || n <= 0) return std::nullopt;
    const double mean = sum / n;
    return std::max(0.0, (sq - n * mean * mean) / (k - 1));
  }
  // Takes the new cumulative (count, sum) as one batch. Returns false on a counter reset (the
  // accumulators restart; verdicts already reached stand).
  bool Add(double count, double total, double prior_s2) {
    if (s2 < 0) s2 = prior_s2;
    if (count < n) {
      *this = MeanAcc{};
      s2 = prior_s2;
      n = count;
      sum = total;
      return false;
    }
    const double nj = count - n;
    if (nj > 0) {
      v += nj * s2;
      const double mj = (total - sum) / nj;
      sq += nj * mj * mj;
      k += 1;
    }
    n = count;
    sum = total;
    return true;
  }
};

// Accumulators of a rate over iterations, for the batch-level test and the over-dispersion
// guard (statistics.md 3.3): the last cumulative (n, e), s1 = sum_k e_k^2 / n_k over the
// per-iteration increments, k, the number of iterations with requests, the increments
// themselves and their running sums (kept only while a claim still needs the batch test; at most
// one entry per iteration of the experiment), and which one-sided tests have ever crossed their
// threshold (sticky; they survive a counter reset).
struct RateAcc {
  double n = 0, e = 0, s1 = 0, k = 0;
  std::vector<RateBatch> batches;
  BatchSums sums;
  Json crossed = Json::object();

  static RateAcc From(const Json& j) {
    RateAcc a;
    a.n = Num(j, "n");
    a.e = Num(j, "e");
    a.s1 = Num(j, "s1");
    a.k = Num(j, "k");
    if (j.is_object() && j.contains("crossed") && j["crossed"].is_object()) {
      a.crossed = j["crossed"];
    }
    // The batches as "n:e,n:e,..." and their running sums as "v,v,...": strings, because the
    // list can be long and the state is copied every iteration (one allocation, not one per
    // number). Malformed entries are dropped; sums that do not parse are recomputed.
    if (j.is_object() && j.contains("batches") && j["batches"].is_string()) {
      const std::string& text = j["batches"].get_ref<const std::string&>();
      const char* p = text.data();
      const char* end = p + text.size();
      while (p < end) {
        RateBatch b;
        const auto r1 = std::from_chars(p, end, b.n);
        const char* next = std::find(p, end, ',');
        if (r1.ec == std::errc() && r1.ptr < end && *r1.ptr == ':') {
          const auto r2 = std::from_chars(r1.ptr + 1, end, b.e);
          if (r2.ec == std::errc() && r2.ptr == next) a.batches.push_back(b);
        }
        p = next == end ? end : next + 1;
      }
      bool sums_ok = false;
      if (j.contains("sums") && j["sums"].is_string()) {
        const std::string& sums = j["sums"].get_ref<const std::string&>();
        const char* q = sums.data();
        const char* sums_end = q + sums.size();
        size_t i = 0;
        for (; i < BatchSums::kValues && q < sums_end; ++i) {
          const auto r = std::from_chars(q, sums_end, a.sums.values[i]);
          if (r.ec != std::errc() || (r.ptr < sums_end && *r.ptr != ',')) break;
          q = r.ptr + 1;
        }
        sums_ok = i == BatchSums::kValues && q >= sums_end;
      }
      if (!sums_ok) a.sums = BatchSums::Of(a.batches);
    }
    return a;
  }
  Json ToJson(bool keep_batches) const {
    Json j = {{"n", n}, {"e", e}, {"s1", s1}, {"k", k}};
    if (!crossed.empty()) j["crossed"] = crossed;
    if (keep_batches) {
      std::string text;
      for (const RateBatch& b : batches) {
        if (!text.empty()) text += ',';
        text += StrCat(b.n, ":", b.e);
      }
      j["batches"] = std::move(text);
      j["sums"] = StrJoin(sums.values, ",");
    }
    return j;
  }
  // Takes the new cumulative (n, e); a counter reset restarts the accumulators.
  void Add(double count, double errors) {
    if (count < n || errors < e) {
      Json keep = std::move(crossed);
      *this = RateAcc{};
      crossed = std::move(keep);
      n = count;
      e = errors;
      return;
    }
    const double dn = count - n;
    const double de = errors - e;
    if (dn > 0) {
      s1 += de * de / dn;
      k += 1;
      batches.push_back({dn, de});
      sums.Add(batches.back());
    }
    n = count;
    e = errors;
  }
  // Records that the test `key` crosses now; returns whether it ever has.
  bool Crossed(const std::string& key, bool now) {
    if (now) crossed[key] = true;
    return crossed.value(key, false);
  }
  // Pearson dispersion of the per-iteration error counts around the pooled rate:
  // phi = sum_k (e_k - n_k p)^2 / (n_k p (1 - p)) / (K - 1); from three iterations on.
  std::optional<double> Dispersion() const {
    if (k < 3 || n <= 0) return std::nullopt;
    const double p = e / n;
    if (p <= 0 || p >= 1) return std::nullopt;
    const double chi2 = std::max(0.0, s1 - 2 * p * e + p * p * n) / (p * (1 - p));
    return chi2 / (k - 1);
  }
};

// A rate's counts are deflated to effective counts (n/phi, e/phi) when phi is above 1.5 and
// also above what independent errors give 95 % of the time (chi2 with K - 1 degrees of freedom
// over K - 1): with a handful of iterations, phi > 1.5 alone happens by chance (22 % at K = 3),
// and every such false alarm would slow a sound decision down.
constexpr double kOverDispersion = 1.5;
bool OverDispersed(double phi, double iterations) {
  if (phi <= kOverDispersion || iterations < 3) return false;
  const boost::math::chi_squared chi2(iterations - 1);
  return phi > boost::math::quantile(chi2, 0.95) / (iterations - 1);
}

// Histogram variance from cumulative buckets; nullopt when there are none.
std::optional<double> BucketVariance(const Buckets& b, double sum,
                                     std::optional<double> max_value) {
  if (b.upper_bounds.empty() || b.upper_bounds.size() != b.cumulative.size()) return std::nullopt;
  std::vector<double> bounds, counts;
  double prev = 0, last_finite = 0;
  for (size_t i = 0; i < b.upper_bounds.size(); ++i) {
    if (std::isinf(b.upper_bounds[i])) break;
    bounds.push_back(b.upper_bounds[i]);
    counts.push_back(std::max(0.0, b.cumulative[i] - prev));
    prev = std::max(prev, b.cumulative[i]);
    last_finite = b.upper_bounds[i];
  }
  const double overflow = std::max(0.0, b.cumulative.back() - prev);
  const double cap = max_value.value_or(2 * last_finite);
  return HistogramVariance(bounds, counts, overflow, std::max(cap, last_finite), sum);
}

struct Assessment {
  V verdict = V::kUndecided;
  bool sticky = true;  // an upper-limit count "satisfies" only until it grows past the limit
  double n = 0;
  double lower = -kInf, upper = kInf;  // confidence bounds of the metric
  double gamma = 0;                    // worst plausible relative exceedance of the upper limit
  std::string note;
  Json acc = nullptr;  // accumulators to keep (means)
};

struct Context {
  const api::Strength& strength;
  double alpha;  // per objective and version
};

// One one-sided claim about a rate p against p0 ("p < p0": kBelow, "p > p0": kAbove) from the
// cumulative counts (n, e) that `acc` accumulates. With `batch` it must be certified by the exact
// per-request test and by the batch-level test on acc's batches (batch_rate.h), each crossing
// sticky in acc under `key`: the exact test's guarantee holds for independent requests, the batch
// test's whatever the bursts, so the claim keeps alpha under either. Without, the exact test
// alone decides, on counts deflated to n/phi when the iterations show bursts (the guard, a
// heuristic).
struct Gate {
  bool certified = false;
  bool waiting = false;  // the exact test has crossed, the batch test not yet
  bool pending = false;  // the batch test has not crossed: keep the batches
};
Gate CertifyClaim(RateAcc& acc, const std::string& key, int64_t n, int64_t e, double p0,
                  RateSide side, bool batch, double concentration, double threshold) {
  if (!batch) {
    if (const std::optional<double> phi = acc.Dispersion(); phi && OverDispersed(*phi, acc.k)) {
      n = std::llround(static_cast<double>(n) / *phi);
      e = std::clamp<int64_t>(std::llround(static_cast<double>(e) / *phi), 0, n);
    }
  }
  const BetaPrior prior = CenteredPrior(p0, concentration);
  const bool exact_now =
      (side == RateSide::kBelow ? LogEvidenceSatisfies(e, n, p0, prior)
                                : LogEvidenceViolates(e, n, p0, prior)) >= threshold;
  if (!batch) return {exact_now, false, false};
  const bool x = acc.Crossed(StrCat(key, "/exact"), exact_now);
  const std::string batch_key = StrCat(key, "/batch");
  const double tau = std::sqrt(p0 * (1 - p0) / (concentration + 1));
  const bool b = acc.Crossed(
      batch_key, acc.Crossed(batch_key, false) ||
                     BatchEvidenceReaches(acc.sums, acc.batches, p0, side, tau, threshold));
  return {x && b, x && !b, !b};
}

// Whether strength.burstyErrors asks the batch-level test for a claim; `promotes`: its
// certification is a SATISFIES verdict.
bool NeedsBatchTest(api::Strength::Bursts bursts, bool promotes) {
  return bursts == api::Strength::Bursts::kAll ||
         (promotes && bursts == api::Strength::Bursts::kPromotion);
}

// Rates (statistics.md 3.3). Each one-sided claim ("p < L", "p > L") is certified by the exact
// per-request beta-binomial e-process. strength.burstyErrors names the claims that must also be
// certified by the batch-level random-effects e-process across iterations (batch_rate.h),
// each test's crossing sticky: the exact test's guarantee holds for independent requests, the
// batch test's whatever the dispersion, so such a verdict keeps alpha under either. By default
// (promotion) that is the SATISFIES claim, which can promote; VIOLATES claims, and every claim
// with burstyErrors: none, rest on the exact test, whose counts the over-dispersion guard
// deflates to n/phi when the iterations show bursts (a heuristic).
Assessment AssessRate(const Evidence& ev, std::optional<double> up, std::optional<double> lo,
                      const Json& prev_acc, const Context& cx) {
  using Bursts = api::Strength::Bursts;
  Assessment a;
  if (!ev.count) {
    a.note = "a rate needs the number of requests behind it (set sampleSize on the metric)";
    return a;
  }
  const double value = *ev.value;
  if (value < 0 || value > 1) {
    a.note =
        StrCat("value ", value, " is not a rate in [0, 1] (name the method in strength.methods)");
    return a;
  }
  const int64_t n = std::llround(std::max(0.0, *ev.count));
  const int64_t e = std::clamp<int64_t>(std::llround(value * static_cast<double>(n)), 0, n);
  RateAcc acc = RateAcc::From(prev_acc);
  acc.Add(static_cast<double>(n), static_cast<double>(e));
  // Bursts or retries make errors depend on each other: the guarded tests and the confidence
  // bounds (which steer traffic) see n/phi independent requests.
  int64_t dn = n, de = e;
  const std::optional<double> phi = acc.Dispersion();
  if (phi && OverDispersed(*phi, acc.k)) {
    dn = std::llround(static_cast<double>(n) / *phi);
    de = std::clamp<int64_t>(std::llround(static_cast<double>(e) / *phi), 0, dn);
    a.note = StrCat("over-dispersed errors (phi ", std::round(*phi * 10) / 10, "): ",
                    cx.strength.bursty_errors == Bursts::kNone
                        ? StrCat("tested as ", dn, " independent requests")
                        : std::string("certified only with the batch-level test"));
  }
  // The evidence behind the verdict: the deflated count when every claim rests on it.
  a.n = static_cast<double>(cx.strength.bursty_errors == Bursts::kNone ? dn : n);
  if (dn == 0) {
    a.acc = acc.ToJson(cx.strength.bursty_errors != Bursts::kNone);
    a.note = "no observations yet";
    a.lower = 0;
    a.upper = 1;
    a.gamma = up ? kInf : 0;
    return a;
  }
  const double thr = std::log(1.0 / cx.alpha);
  const double centre = up ? *up : lo ? *lo : 0.5;
  const BetaPrior prior =
      CenteredPrior(std::clamp(centre, 1e-6, 1 - 1e-6), cx.strength.concentration);
  const RateInterval ci = RateConfidenceInterval(de, dn, cx.alpha, prior);
  a.lower = ci.lower;
  a.upper = ci.upper;
  bool waiting = false;        // the exact test has certified a claim the batch test has not yet
  bool batch_pending = false;  // some claim still needs the batch test: keep the batches
  // One claim about p against p0; `promotes`: its certification is a SATISFIES verdict.
  auto certified = [&](const char* key, double p0, RateSide side, bool promotes) {
    const Gate g =
        CertifyClaim(acc, key, n, e, p0, side, NeedsBatchTest(cx.strength.bursty_errors, promotes),
                     cx.strength.concentration, thr);
    batch_pending = batch_pending || g.pending;
    waiting = waiting || g.waiting;
    return g.certified;
  };
  bool sat = true, viol = false;
  if (up) {
    if (*up >= 1) {
      // always met
    } else if (*up <= 0) {
      viol = e > 0;
      sat = false;
    } else {
      sat = certified("upper<", *up, RateSide::kBelow, true);
      viol = certified("upper>", *up, RateSide::kAbove, false);
      a.gamma = std::max(0.0, (ci.upper - *up) / *up);
    }
  }
  if (lo) {
    if (*lo <= 0) {
      // always met
    } else if (*lo >= 1) {
      viol = viol || e < n;
      sat = false;
    } else {
      const bool above = certified("lower>", *lo, RateSide::kAbove, true);
      const bool below = certified("lower<", *lo, RateSide::kBelow, false);
      sat = sat && above;
      viol = viol || below;
    }
  }
  a.verdict = viol ? V::kViolates : sat ? V::kSatisfies : V::kUndecided;
  if (waiting && a.verdict == V::kUndecided && a.note.empty()) {
    a.note = StrCat("certified per request; waiting for the batch-level test (", acc.k,
                    " iterations so far)");
  }
  a.acc = acc.ToJson(batch_pending);
  return a;
}

// The strict variant (statistics.md 3.4): latencies bounded by B = maxLatency; the variance
// process bounded from this iteration's bucket counts around the predictable mean of the data
// before it; polynomial-stitched sub-gamma boundary u(V). S = T - L N; SATISFIES "mean <= L"
// when S <= -u, VIOLATES when S >= u.
Assessment AssessMeanStrict(const Evidence& ev, std::optional<double> up, std::optional<double> lo,
                            const Json& previous_acc, const Context& cx) {
  Assessment a;
  a.acc = previous_acc;
  const double cap = *cx.strength.max_latency;
  if (!ev.count || !ev.buckets || ev.buckets->upper_bounds.empty()) {
    a.note = "strict means need the count and the histogram buckets behind the value";
    return a;
  }
  const Buckets& b = *ev.buckets;
  const double n = std::max(0.0, *ev.count);
  const double total = n > 0 ? *ev.value * n : 0;
  double prev_n = Num(previous_acc, "n"), prev_sum = Num(previous_acc, "sum");
  double vbar = Num(previous_acc, "vbar");
  std::vector<double> prev_cum;
  if (previous_acc.is_object() && previous_acc.contains("cum") && previous_acc["cum"].is_array()) {
    prev_cum = previous_acc["cum"].get<std::vector<double>>();
  }
  if (prev_cum.size() != b.cumulative.size() || n < prev_n) {  // first look, or a reset
    if (n < prev_n) a.note = "counts went down (counter reset): evidence restarted";
    prev_cum.assign(b.cumulative.size(), 0);
    if (n < prev_n) prev_n = prev_sum = vbar = 0;
  }
  const double centre = prev_n > 0 ? std::clamp(prev_sum / prev_n, 0.0, cap) : cap / 2;
  double lower_bound = 0, below_prev = 0, below_now = 0;
  for (size_t i = 0; i < b.upper_bounds.size(); ++i) {
    const double hi = std::isinf(b.upper_bounds[i]) ? cap : std::min(b.upper_bounds[i], cap);
    const double in = std::max(0.0, (b.cumulative[i] - below_now) - (prev_cum[i] - below_prev));
    below_now = b.cumulative[i];
    below_prev = prev_cum[i];
    const double lo_i = std::min(lower_bound, cap);
    vbar += in * std::max((lo_i - centre) * (lo_i - centre), (hi - centre) * (hi - centre));
    lower_bound = hi;
  }
  Json acc = {{"n", n}, {"sum", total}, {"vbar", vbar}, {"cum", b.cumulative}};
  a.acc = acc;
  a.n = n;
  if (n <= 0) {
    a.note = "no observations yet";
    a.gamma = up ? kInf : 0;
    return a;
  }
  const double limit = std::abs(up ? *up : lo ? *lo : *ev.value);
  const double v_min = std::max(limit * limit, 1e-12) * std::max(1.0, cx.strength.n_opt / 10);
  const double u = StitchingBoundary(vbar, v_min, cap, cx.alpha);
  a.lower = (total - u) / n;
  a.upper = (total + u) / n;
  bool sat = true, viol = false;
  if (up) {
    sat = total - *up * n <= -u;
    viol = total - *up * n >= u;
    if (*up > 0) a.gamma = std::max(0.0, (a.upper - *up) / *up);
  }
  if (lo) {
    sat = sat && total - *lo * n >= u;
    viol = viol || total - *lo * n <= -u;
  }
  a.verdict = viol ? V::kViolates : sat ? V::kSatisfies : V::kUndecided;
  return a;
}

Assessment AssessMean(const Evidence& ev, std::optional<double> up, std::optional<double> lo,
                      const Json& previous_acc, const Context& cx) {
  if (cx.strength.strict && cx.strength.max_latency) {
    return AssessMeanStrict(ev, up, lo, previous_acc, cx);
  }
  Assessment a;
  MeanAcc acc = MeanAcc::From(previous_acc);
  if (!ev.count) {
    a.note = "a mean needs the number of requests behind it (set sampleSize on the metric)";
    a.acc = previous_acc;
    return a;
  }
  const double limit = std::abs(up ? *up : lo ? *lo : *ev.value);
  const double prior_s2 = std::max(limit * limit, 1e-12);
  const double n = std::max(0.0, *ev.count);
  const double total = n > 0 ? *ev.value * n : 0;
  if (!acc.Add(n, total, prior_s2)) a.note = "counts went down (counter reset): evidence restarted";
  if (acc.rho <= 0) acc.rho = NormalMixtureRho(prior_s2, cx.strength.n_opt, cx.alpha);
  // The variance used for the next batch (predictable): buckets, else batch means, else the
  // prior, never below a floor; the prior until 30 observations.
  std::optional<double> est;
  if (ev.buckets) est = BucketVariance(*ev.buckets, total, cx.strength.max_latency);
  if (!est) est = acc.BatchVariance();
  if (acc.n >= 30 && est) acc.s2 = std::max(*est, prior_s2 * 1e-6);
  a.acc = acc.ToJson();
  a.n = acc.n;
  if (acc.n <= 0) {
    if (a.note.empty()) a.note = "no observations yet";
    a.gamma = up ? kInf : 0;
    return a;
  }
  const MeanInterval ci = MeanConfidenceInterval(acc.sum, acc.n, acc.v, acc.rho, cx.alpha);
  a.lower = ci.lower;
  a.upper = ci.upper;
  bool sat = true, viol = false;
  if (up) {
    sat = ci.upper <= *up;
    viol = ci.lower > *up;
    if (*up > 0) a.gamma = std::max(0.0, (ci.upper - *up) / *up);
  }
  if (lo) {
    sat = sat && ci.lower >= *lo;
    viol = viol || ci.upper < *lo;
  }
  a.verdict = viol ? V::kViolates : sat ? V::kSatisfies : V::kUndecided;
  return a;
}

// Quantiles (statistics.md 3.5): the exceedance counts at the bucket bounds around the limit are
// rates, so with strength.burstyErrors their claims are gated by the batch-level test as a rate's
// are (latencies come in bursts too: a slow dependency, a GC pause); `prev_acc` keeps the
// exceedance counts' accumulators at b- ("below") and b+ ("above").
Assessment AssessQuantileObjective(const Evidence& ev, double q, std::optional<double> up,
                                   std::optional<double> lo, const Json& prev_acc,
                                   const Context& cx) {
  Assessment a;
  if (!ev.buckets || ev.buckets->upper_bounds.empty()) {
    a.note = "a quantile objective needs the histogram buckets behind it; the backend gave none";
    return a;
  }
  if (lo) {
    a.note = "lower limits on quantiles are not supported by the sequential engine";
    return a;
  }
  if (!up) return a;
  const Buckets& b = *ev.buckets;
  const double total = b.cumulative.back();
  a.n = total;
  if (total <= 0) {
    a.note = "no observations yet";
    a.gamma = kInf;
    return a;
  }
  const QuantileAssessment qa =
      AssessQuantile(b.upper_bounds, b.cumulative, {q, *up}, cx.alpha, cx.strength.concentration);
  // The claims on the exceedance counts: "share above b- < 1 - q" (SATISFIES) and "share above
  // b+ > 1 - q" (VIOLATES), each accumulated across iterations for the guard and the batch test.
  const double thr = std::log(1.0 / cx.alpha);
  const double n_all = static_cast<double>(qa.requests);
  bool waiting = false, sat = false, viol = false;
  Json acc = Json::object();
  auto claim = [&](const char* name, const char* key, int64_t exceed, RateSide side,
                   bool promotes) {
    RateAcc counts = RateAcc::From(Member(prev_acc, name));
    counts.Add(n_all, static_cast<double>(exceed));
    const Gate g = CertifyClaim(counts, key, qa.requests, exceed, 1 - q, side,
                                NeedsBatchTest(cx.strength.bursty_errors, promotes),
                                cx.strength.concentration, thr);
    waiting = waiting || g.waiting;
    acc[name] = counts.ToJson(g.pending);
    return g.certified;
  };
  if (qa.exceed_below >= 0) sat = claim("below", "upper<", qa.exceed_below, RateSide::kBelow, true);
  if (qa.exceed_above >= 0)
    viol = claim("above", "upper>", qa.exceed_above, RateSide::kAbove, false);
  a.verdict = sat ? V::kSatisfies : viol ? V::kViolates : V::kUndecided;
  a.acc = std::move(acc);
  if (waiting && a.verdict == V::kUndecided) {
    a.note = "certified per request; waiting for the batch-level test";
  } else if (qa.verdict == Verdict::kResolutionLimited) {
    a.note = StrCat("resolution-limited: the quantile lies in the bucket around ", *up,
                    "; add a bucket bound at the limit");
  } else if (!qa.exact && a.verdict == V::kUndecided) {
    a.note = StrCat("limit ", *up, " is not a bucket bound: verdicts use the bounds around it");
  }
  // Confidence bounds of the quantile (statistics.md 3.5), Bonferroni over the finite bounds;
  // the worst plausible exceedance from the bound at or below the limit.
  const int64_t n = std::llround(total);
  std::vector<size_t> finite;
  for (size_t i = 0; i < b.upper_bounds.size(); ++i) {
    if (std::isfinite(b.upper_bounds[i])) finite.push_back(i);
  }
  const double each = cx.alpha / static_cast<double>(std::max<size_t>(1, finite.size()));
  const BetaPrior prior = CenteredPrior(q, cx.strength.concentration);
  a.lower = 0;
  a.upper = kInf;
  int64_t below_limit = -1;
  auto count_at = [&](size_t k) {
    return std::clamp<int64_t>(std::llround(b.cumulative[finite[k]]), 0, n);
  };
  // F's confidence bounds grow with the bound (cumulative counts only grow), so the last bound
  // with UCB F < q and the first with LCB F >= q are found by binary search.
  size_t lo_k = 0, hi_k = finite.size();  // first k with UCB F(b_k) >= q
  while (lo_k < hi_k) {
    const size_t mid = (lo_k + hi_k) / 2;
    if (RateConfidenceInterval(count_at(mid), n, each, prior).upper < q) {
      lo_k = mid + 1;
    } else {
      hi_k = mid;
    }
  }
  if (lo_k > 0) a.lower = b.upper_bounds[finite[lo_k - 1]];
  size_t first = 0, last = finite.size();  // first k with LCB F(b_k) >= q
  while (first < last) {
    const size_t mid = (first + last) / 2;
    if (RateConfidenceInterval(count_at(mid), n, each, prior).lower >= q) {
      last = mid;
    } else {
      first = mid + 1;
    }
  }
  if (first < finite.size()) a.upper = b.upper_bounds[finite[first]];
  for (size_t k = 0; k < finite.size(); ++k) {
    if (b.upper_bounds[finite[k]] <= *up) below_limit = n - count_at(k);
  }
  const double exceed = 1 - q;
  if (below_limit < 0) {
    a.gamma = kInf;
  } else {
    const RateInterval x = RateConfidenceInterval(below_limit, n, cx.alpha,
                                                  CenteredPrior(exceed, cx.strength.concentration));
    a.gamma = std::max(0.0, (x.upper - exceed) / exceed);
  }
  return a;
}

Assessment AssessCount(const Evidence& ev, std::optional<double> up, std::optional<double> lo) {
  Assessment a;
  a.n = *ev.value;
  a.lower = a.upper = *ev.value;
  const bool viol = up && *ev.value > *up;
  const bool reached = !lo || *ev.value >= *lo;
  a.verdict = viol ? V::kViolates : reached ? V::kSatisfies : V::kUndecided;
  a.sticky = a.verdict == V::kViolates || (a.verdict == V::kSatisfies && !up);
  return a;
}

// The evidence for (metric, version): the EvidenceMap entry, else the aggregated value.
std::optional<Evidence> Lookup(const AnalyticsInput& in, const std::string& metric,
                               const std::string& version) {
  if (in.evidence != nullptr) {
    auto m = in.evidence->find(metric);
    if (m != in.evidence->end()) {
      auto v = m->second.find(version);
      if (v != m->second.end() && v->second.value && std::isfinite(*v->second.value)) {
        return v->second;
      }
    }
  }
  auto m = in.aggregated.data.find(metric);
  if (m == in.aggregated.data.end()) return std::nullopt;
  auto v = m->second.data.find(version);
  if (v == m->second.data.end() || !v->second.value) return std::nullopt;
  Evidence ev;
  ev.value = v->second.value->ToDouble();
  if (v->second.sample_size) ev.count = *v->second.sample_size;
  return ev;
}

const api::Metric* MetricObject(const api::Experiment& e, const std::string& ref) {
  for (const api::MetricInfo& mi : e.status.metrics) {
    if (mi.name == ref) return &mi.metric_obj;
  }
  return nullptr;
}

// ---------------------------------------------------------------- rewards (statistics.md 3.6)

// Per-version reward estimate for contrasts and Thompson sampling.
struct RewardArm {
  bool known = false;
  double value = 0, n = 0;
  double s2 = 0;  // variance of one observation, predictable (from earlier iterations)
};

struct Pair {
  std::string a, b;
  double estimate = 0, lower = -kInf, upper = kInf, info = 0;
};

// The sample-ratio check: how many past splits a lagged count may have been served under, the
// false-alarm probability per side and version, and the share below which a bound is not bet on.
constexpr int kSrmLag = 5;    // iterations a lagged count may reach back beyond its interval
constexpr int kSrmKeep = 24;  // iterations of splits kept
constexpr double kSrmAlpha = 0.001;
constexpr double kSrmFloor = 0.002;

class Analysis {
 public:
  Analysis(const AnalyticsInput& in, Random& random)
      : in_(in),
        e_(in.experiment),
        random_(random),
        versions_(api::VersionNames(e_.spec)),
        strength_(ParseStrengthQuietly(e_)),
        prev_(e_.status.analysis ? Object(e_.status.analysis->extra, kSequentialStateKey)
                                 : EmptyObject()) {}

  AnalyticsOutput Run() {
    iteration_ = static_cast<int>(Num(prev_, "iteration")) + 1;
    state_["iteration"] = iteration_;
    AssessObjectives();
    if (const std::string mismatch = SampleRatio(); !mismatch.empty()) {
      Hold(mismatch);
    } else {
      Decide();
    }
    state_["decision"] = ToString(out_.decision);
    state_["reason"] = out_.reason;
    out_.state = std::move(state_);
    return std::move(out_);
  }

 private:
  void Decide() {
    switch (e_.spec.strategy.testing_pattern) {
      case TestingPattern::kCanary:
        Canary();
        break;
      case TestingPattern::kConformance:
        Conformance();
        break;
      case TestingPattern::kAB:
      case TestingPattern::kABN:
        Rewards();
        break;
    }
  }

  // The sample-ratio check (statistics.md 3.2): each version's share of the requests counted
  // this iteration against the share its weight gives. The counts are read with a lag, so the
  // window may have been served under any split since the previous reading: the null hypothesis
  // for a version is "its share lies between the smallest and the largest of those" (since the
  // last reading, kSrmLag iterations further back for the lag). Two
  // one-sided e-processes per version bet against it with a predictable plug-in alternative
  // (half-way from the bound toward the share observed before this iteration): under the null
  // each factor has expectation <= 1, so a false alarm has probability <= kSrmAlpha (x 2 sides x
  // versions). Once certified the mismatch is sticky: routing does not follow the weights, and
  // every decision is paused. Returns the mismatch message, or "".
  std::string SampleRatio() {
    const Json& prev = Object(prev_, "srm");
    if (prev.contains("mismatch")) {
      state_["srm"] = prev;
      return prev["mismatch"].get<std::string>();
    }
    if (!strength_.sample_ratio_check || versions_.size() < 2 || in_.evidence == nullptr) {
      return "";
    }
    Json srm = prev;
    // The split in force during the interval just ended, after the previous ones (each with its
    // iteration; kept for kSrmKeep iterations).
    Json ring = prev.value("weights", Json::array());
    Json split = Json::array();
    double sum = 0;
    for (const auto& v : versions_) {
      split.push_back(Current(v));
      sum += Current(v);
    }
    if (sum > 0) ring.push_back({{"it", iteration_}, {"w", split}});
    while (!ring.empty() && Num(ring[0], "it") <= iteration_ - kSrmKeep) ring.erase(ring.begin());
    srm["weights"] = ring;
    // Each version's requests so far: the largest count behind any of its metrics.
    std::vector<double> n(versions_.size(), -1);
    for (size_t i = 0; i < versions_.size(); ++i) {
      for (const auto& [metric, per_version] : *in_.evidence) {
        auto it = per_version.find(versions_[i]);
        if (it != per_version.end() && it->second.count) n[i] = std::max(n[i], *it->second.count);
      }
    }
    const Json last = prev.value("last", Json(nullptr));
    const bool complete = std::all_of(n.begin(), n.end(), [](double c) { return c >= 0; });
    if (!complete || ring.empty()) {
      state_["srm"] = srm;  // no reading for some version: the next increment covers both
      return "";
    }
    // The requests counted now were served since the last reading, up to kSrmLag iterations
    // earlier still (the read lag): under any split of those iterations.
    const double since = Num(prev, "lastIteration", iteration_) - kSrmLag;
    const bool covered = !ring.empty() && Num(ring[0], "it") <= std::max(since, 1.0);
    srm["last"] = n;
    srm["lastIteration"] = iteration_;
    std::vector<double> dn(versions_.size(), 0);
    double total = 0;
    bool usable = last.is_array() && last.size() == n.size();
    for (size_t i = 0; usable && i < n.size(); ++i) {
      dn[i] = n[i] - last[i].get<double>();
      usable = dn[i] >= 0;
      total += dn[i];
    }
    if (!usable || total <= 0) {
      state_["srm"] = srm;
      return "";
    }
    const double threshold = std::log(1 / std::min(kSrmAlpha, strength_.alpha / 10));
    Json bets = prev.value("e", Json::object());
    std::string mismatch;
    for (size_t i = 0; i < versions_.size(); ++i) {
      double lo = 1, hi = 0;
      for (const Json& entry : ring) {
        if (Num(entry, "it") < since) continue;
        const Json& w = entry["w"];
        double ws = 0;
        for (const Json& x : w) ws += x.get<double>();
        const double share = ws > 0 ? w[i].get<double>() / ws : 0;
        lo = std::min(lo, share);
        hi = std::max(hi, share);
      }
      if (!covered) lo = 0, hi = 1;  // the window reaches past the splits kept: no bet
      const Json b = bets.value(versions_[i], Json::object());
      const double seen_x = Num(b, "x"), seen_n = Num(b, "n");
      double log_lo = Num(b, "lo"), log_hi = Num(b, "hi");
      const double x = dn[i];
      if (seen_n > 0) {
        const double observed = seen_x / seen_n;  // before this iteration: predictable
        if (lo > kSrmFloor && observed < lo) {    // too few requests
          const double q = std::max(kSrmFloor / 2, lo + (observed - lo) / 2);
          log_lo += x * std::log(q / lo) + (total - x) * std::log((1 - q) / (1 - lo));
        }
        const double p = std::max(hi, kSrmFloor);
        if (p < 1 - kSrmFloor && observed > p) {  // too many requests
          const double q = std::min(1 - kSrmFloor / 2, p + (observed - p) / 2);
          log_hi += x * std::log(q / p) + (total - x) * std::log((1 - q) / (1 - p));
        }
      }
      bets[versions_[i]] = {
          {"x", seen_x + x}, {"n", seen_n + total}, {"lo", log_lo}, {"hi", log_hi}};
      if (mismatch.empty() && std::max(log_lo, log_hi) >= threshold) {
        mismatch =
            StrCat("sample ratio mismatch: ", versions_[i], " received ",
                   Percent((seen_x + x) / (seen_n + total)),
                   " % of the requests while its weight gave ", Percent(lo), "-", Percent(hi),
                   " %: routing does not follow the weights; decisions "
                   "are paused");
      }
    }
    srm["e"] = std::move(bets);
    if (!mismatch.empty()) srm["mismatch"] = mismatch;
    state_["srm"] = std::move(srm);
    return mismatch;
  }

  static std::string Percent(double share) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", 100 * share);
    return buf;
  }

  // Routing is broken: keep the traffic where it is, declare nothing.
  void Hold(const std::string& why) {
    for (const auto& v : versions_) {
      out_.weights.data.push_back({v, static_cast<int32_t>(std::lround(Current(v))), {}});
    }
    Messages msgs;
    msgs.errors.push_back(why);
    out_.weights.message = msgs.Join();
    out_.winner_assessment.message = msgs.Join();
    out_.decision = Decision::kContinue;
    out_.reason = why;
  }

  static api::Strength ParseStrengthQuietly(const api::Experiment& e) {
    std::vector<api::FieldError> ignored;  // validated when the experiment was admitted
    return api::ParseStrength(e.spec.criteria ? e.spec.criteria->strength : Json(nullptr),
                              &ignored);
  }

  size_t Candidates() const { return versions_.size() > 1 ? versions_.size() - 1 : 1; }
  const std::vector<api::Objective>& Objectives() const {
    static const std::vector<api::Objective> kNone;
    return e_.spec.criteria ? e_.spec.criteria->objectives : kNone;
  }

  void AssessObjectives() {
    const auto& objectives = Objectives();
    const size_t j = std::max<size_t>(1, objectives.size());
    alpha_objective_ = strength_.alpha / static_cast<double>(j * Candidates());
    state_["alphaObjective"] = alpha_objective_;
    Json objs = Json::array();
    const Json& prev_objs = Array(prev_, "objectives");
    Messages msgs;
    for (const auto& v : versions_) {
      out_.version_assessments.data[v] = std::vector<bool>(objectives.size(), false);
      version_verdict_[v] = V::kSatisfies;
    }
    for (size_t i = 0; i < objectives.size(); ++i) {
      const api::Objective& obj = objectives[i];
      auto m = strength_.methods.find(obj.metric);
      const TestMethod method =
          m != strength_.methods.end()
              ? m->second
              : api::InferTestMethod(obj.metric, MetricObject(e_, obj.metric));
      Json o = {{"metric", obj.metric}, {"method", MethodName(method)}};
      if (obj.upper_limit) o["upperLimit"] = obj.upper_limit->ToDouble();
      if (obj.lower_limit) o["lowerLimit"] = obj.lower_limit->ToDouble();
      const Json& prev_o = i < prev_objs.size() && prev_objs[i].is_object() &&
                                   prev_objs[i].value("metric", std::string()) == obj.metric
                               ? Object(prev_objs[i], "versions")
                               : EmptyObject();
      Json per_version = Json::object();
      for (const auto& v : versions_) {
        const Json& prev_v = Object(prev_o, v);
        const V sticky = ParseVerdict(prev_v.value("verdict", Json()));
        const bool was_sticky = prev_v.value("sticky", true);
        std::optional<Evidence> ev = Lookup(in_, obj.metric, v);
        Assessment a;
        if (!ev) {
          a.note = "no value this iteration (no evidence either way)";
          a.acc = prev_v.value("acc", Json(nullptr));
          a.n = Num(prev_v, "n");
          // No data is no reason to give the candidate more traffic: the last known worst
          // case stands (never known: the worst).
          a.gamma = prev_v.contains("gamma") && prev_v["gamma"].is_number()
                        ? prev_v["gamma"].get<double>()
                        : kInf;
          a.lower = Num(prev_v, "lower", -kInf);
          a.upper = prev_v.contains("upper") && prev_v["upper"].is_number()
                        ? prev_v["upper"].get<double>()
                        : kInf;
        } else {
          const Context cx{strength_, alpha_objective_};
          std::optional<double> up, lo;
          if (obj.upper_limit) up = obj.upper_limit->ToDouble();
          if (obj.lower_limit) lo = obj.lower_limit->ToDouble();
          switch (method.kind) {
            case TestMethod::kRate:
              a = AssessRate(*ev, up, lo, Member(prev_v, "acc"), cx);
              break;
            case TestMethod::kMean:
              a = AssessMean(*ev, up, lo, Member(prev_v, "acc"), cx);
              break;
            case TestMethod::kQuantile:
              a = AssessQuantileObjective(*ev, method.quantile, up, lo, Member(prev_v, "acc"), cx);
              break;
            case TestMethod::kCount:
              a = AssessCount(*ev, up, lo);
              break;
          }
        }
        Json entry = Json::object();
        V verdict = a.verdict;
        int since = iteration_;
        if (sticky != V::kUndecided && was_sticky) {
          verdict = sticky;  // verdicts are never revoked
          since = static_cast<int>(Num(prev_v, "since", iteration_));
        } else if (verdict == V::kUndecided) {
          since = 0;
        }
        entry["verdict"] = Name(verdict);
        if (verdict != V::kUndecided) entry["since"] = since;
        if (!a.sticky) entry["sticky"] = false;
        entry["n"] = a.n;
        entry["lower"] = Finite(a.lower);
        entry["upper"] = Finite(a.upper);
        entry["gamma"] = Finite(a.gamma);
        if (!a.note.empty()) entry["note"] = a.note;
        if (!a.acc.is_null()) entry["acc"] = a.acc;
        per_version[v] = std::move(entry);
        out_.version_assessments.data[v][i] = verdict == V::kSatisfies;
        gamma_[v] = std::max(gamma_[v], verdict == V::kSatisfies ? 0.0 : a.gamma);
        if (verdict == V::kViolates) {
          version_verdict_[v] = V::kViolates;
          if (obj.rollback_on_failure.value_or(false) && rollback_.empty()) {
            rollback_ = StrCat(v, " violates ", obj.metric, " (rollback_on_failure)");
          }
          if (first_violation_[v].empty()) first_violation_[v] = obj.metric;
        } else if (verdict == V::kUndecided && version_verdict_[v] != V::kViolates) {
          version_verdict_[v] = V::kUndecided;
          if (first_undecided_[v].empty()) first_undecided_[v] = obj.metric;
        }
      }
      o["versions"] = std::move(per_version);
      objs.push_back(std::move(o));
    }
    state_["objectives"] = std::move(objs);
    Json vs = Json::object();
    for (const auto& v : versions_) vs[v] = Name(version_verdict_[v]);
    state_["versions"] = std::move(vs);
    msgs.infos.push_back(
        StrCat("sequential verdicts at alpha ", alpha_objective_, " per objective and version"));
    out_.version_assessments.message = msgs.Join();
  }

  void SetWinner(const std::string& v, const std::string& info) {
    out_.winner_assessment.data.winner_found = true;
    out_.winner_assessment.data.winner = v;
    out_.winner_assessment.data.best_versions = {v};
    Messages msgs;
    msgs.infos.push_back(info);
    out_.winner_assessment.message = msgs.Join();
  }

  double Current(const std::string& v) const {
    for (const auto& w : e_.status.current_weight_distribution) {
      if (w.name == v) return w.value;
    }
    return e_.status.current_weight_distribution.empty() && !versions_.empty() && v == versions_[0]
               ? 100
               : 0;
  }
  double MaxIncrement() const {
    return e_.spec.strategy.weights
               ? e_.spec.strategy.weights->max_candidate_weight_increment.value_or(
                     api::kDefaultMaxCandidateWeightIncrement)
               : api::kDefaultMaxCandidateWeightIncrement;
  }
  double MaxWeight() const {
    return e_.spec.strategy.weights ? e_.spec.strategy.weights->max_candidate_weight.value_or(
                                          api::kDefaultMaxCandidateWeight)
                                    : api::kDefaultMaxCandidateWeight;
  }

  // The harm-budget weight of an undecided candidate (statistics.md 3.7), before ramp limits.
  double Budget(const std::string& v) const {
    const double g = gamma_.count(v) ? gamma_.at(v) : 0;
    const double budget = 100.0 * strength_.harm_budget / std::max(g, 1e-9);
    return std::clamp(budget, std::min(strength_.min_weight, MaxWeight()),
                      std::min(strength_.undecided_max_weight, MaxWeight()));
  }
  // Ramp limits: increases by at most maxCandidateWeightIncrement and at most doubling (from the
  // floor); decreases are not limited.
  double Ramp(const std::string& v, double target) const {
    const double cur = Current(v);
    if (target <= cur) return target;
    return std::min(
        {target, std::max(2 * cur, strength_.min_weight), cur + MaxIncrement(), MaxWeight()});
  }

  void Weights(const std::vector<double>& candidate_weights, bool rounded_exactly) {
    std::vector<double> w(versions_.size(), 0);
    double rest = 100;
    for (size_t i = 1; i < versions_.size(); ++i) {
      w[i] = std::clamp(candidate_weights[i], 0.0, rest);
      rest -= w[i];
    }
    if (!versions_.empty()) w[0] = rest;
    std::vector<int32_t> ints;
    if (rounded_exactly) {
      int32_t left = 100;
      ints.assign(versions_.size(), 0);
      for (size_t i = 1; i < versions_.size(); ++i) {
        ints[i] = std::clamp<int32_t>(static_cast<int32_t>(std::lround(w[i])), 0, left);
        left -= ints[i];
      }
      ints[0] = left;
    } else {
      ints = GenRound(w, 100, random_);
    }
    for (size_t i = 0; i < versions_.size(); ++i) {
      out_.weights.data.push_back({versions_[i], ints[i], {}});
    }
    Messages msgs;
    msgs.infos.push_back("harm-budget weights");
    out_.weights.message = msgs.Join();
  }

  void Canary() {
    if (versions_.size() < 2) return;
    const std::string& base = versions_[0];
    const std::string& cand = versions_[1];
    std::vector<double> w(versions_.size(), 0);
    const V cv = version_verdict_[cand];
    if (cv == V::kViolates || !rollback_.empty()) {
      w[1] = 0;
      out_.decision = Decision::kRollback;
      out_.reason = !rollback_.empty()
                        ? rollback_
                        : StrCat("certified: ", cand, " violates ", first_violation_[cand]);
      if (version_verdict_[base] != V::kViolates) {
        SetWinner(base, "candidate violates an objective (certified)");
      }
    } else if (cv == V::kSatisfies) {
      w[1] = Ramp(cand, MaxWeight());
      SetWinner(cand, "candidate satisfies all objectives (certified)");
      out_.decision = strength_.stop_early ? Decision::kPromote : Decision::kContinue;
      out_.reason = StrCat("certified: ", cand, " satisfies all objectives");
    } else {
      w[1] = Ramp(cand, Budget(cand));
      out_.reason = StrCat("undecided: ", cand, " on ", first_undecided_[cand]);
    }
    Weights(w, true);
  }

  void Conformance() {
    out_.weights.message = "weight computation is not applicable to a conformance experiment";
    if (versions_.empty()) return;
    const std::string& base = versions_[0];
    switch (version_verdict_[base]) {
      case V::kSatisfies:
        SetWinner(base, "baseline satisfies all objectives (certified)");
        out_.decision = strength_.stop_early ? Decision::kPromote : Decision::kContinue;
        out_.reason = StrCat("certified: ", base, " satisfies all objectives");
        break;
      case V::kViolates:
        out_.decision = strength_.stop_early ? Decision::kEnd : Decision::kContinue;
        out_.reason = StrCat("certified: ", base, " violates ", first_violation_[base]);
        break;
      case V::kUndecided:
        out_.reason = StrCat("undecided: ", base, " on ", first_undecided_[base]);
        break;
    }
  }

  // Reward arms: value, count and a predictable per-observation variance.
  std::map<std::string, RewardArm> Arms(const api::Reward& reward, const TestMethod& method,
                                        const Json& prev_arms, Json* arms_state) {
    std::map<std::string, RewardArm> arms;
    for (const auto& v : versions_) {
      const Json& prev = Object(prev_arms, v);
      MeanAcc acc = MeanAcc::From(prev);
      RewardArm arm;
      arm.s2 = Num(prev, "s2", -1);
      std::optional<Evidence> ev = Lookup(in_, reward.metric, v);
      if (ev && ev->count && *ev->count > 0) {
        arm.known = true;
        arm.value = *ev->value;
        arm.n = *ev->count;
        const double prior =
            method.kind == TestMethod::kRate
                ? 0.25
                : std::max(arm.value * arm.value, 1e-12);  // coefficient of variation 1
        acc.Add(arm.n, arm.value * arm.n, prior);
        if (arm.s2 < 0) arm.s2 = prior;
      }
      Json st = acc.ToJson();
      // The variance for the next iteration, from what is known now.
      double next = arm.s2;
      if (arm.known) {
        if (method.kind == TestMethod::kRate) {
          // Laplace-smoothed: a rate read as 0 or 1 from few requests must not claim ~0 variance.
          const double p = (std::clamp(arm.value, 0.0, 1.0) * arm.n + 1) / (arm.n + 2);
          next = p * (1 - p);
        } else if (std::optional<double> bv = acc.BatchVariance()) {
          next = std::max(*bv, 1e-12);
        }
      }
      st["s2"] = next;
      (*arms_state)[v] = std::move(st);
      arms[v] = arm;
    }
    return arms;
  }

  void Rewards() {
    const bool high_is_better =
        !e_.spec.criteria || e_.spec.criteria->rewards.empty() ||
        e_.spec.criteria->rewards[0].preferred_direction == api::PreferredDirection::kHigh;
    std::vector<std::string> feasible;
    for (const auto& v : versions_) {
      if (version_verdict_[v] != V::kViolates) feasible.push_back(v);
    }
    std::vector<Pair> pairs;
    if (e_.spec.criteria && !e_.spec.criteria->rewards.empty()) {
      pairs = Contrasts(e_.spec.criteria->rewards[0]);
    } else {
      Messages msgs;
      msgs.warnings.push_back("No reward metric in experiment: no winner can be certified");
      out_.winner_assessment.message = msgs.Join();
    }
    // better(a, b): a's reward is certified better than b's.
    auto certified_better = [&](const std::string& a, const std::string& b) {
      for (const Pair& p : pairs) {
        if (p.a == a && p.b == b) return high_is_better ? p.lower > 0 : p.upper < 0;
        if (p.a == b && p.b == a) return high_is_better ? p.upper < 0 : p.lower > 0;
      }
      return false;
    };
    std::vector<std::string> live;  // feasible and not certified worse than a feasible version
    for (const auto& v : feasible) {
      bool worse = false;
      for (const auto& u : feasible) worse = worse || (u != v && certified_better(u, v));
      if (!worse) live.push_back(v);
    }
    Json eliminated = Json::array();
    for (const auto& v : versions_) {
      if (std::find(live.begin(), live.end(), v) == live.end()) eliminated.push_back(v);
    }
    state_["eliminated"] = eliminated;

    std::string winner;
    for (const auto& v : live) {
      if (version_verdict_[v] != V::kSatisfies) continue;
      bool best = true;
      for (const auto& u : feasible) best = best && (u == v || certified_better(v, u));
      if (best && !pairs.empty()) winner = v;
    }
    bool no_difference = false;
    if (winner.empty() && strength_.equivalence_margin && !pairs.empty()) {
      const double eps = *strength_.equivalence_margin;
      no_difference = live.size() >= 2;
      for (const Pair& p : pairs) {
        const bool in_live = std::find(live.begin(), live.end(), p.a) != live.end() &&
                             std::find(live.begin(), live.end(), p.b) != live.end();
        if (in_live) no_difference = no_difference && p.lower > -eps && p.upper < eps;
      }
    }
    const bool all_candidates_out =
        versions_.size() > 1 &&
        std::none_of(versions_.begin() + 1, versions_.end(), [&](const std::string& v) {
          return std::find(live.begin(), live.end(), v) != live.end();
        });
    if (!rollback_.empty()) {
      out_.decision = Decision::kRollback;
      out_.reason = rollback_;
    } else if (!winner.empty()) {
      SetWinner(winner, "winner certified: satisfies all objectives and has the best reward");
      out_.decision = strength_.stop_early ? Decision::kPromote : Decision::kContinue;
      out_.reason = StrCat("certified: winner ", winner);
    } else if (no_difference) {
      out_.decision = strength_.stop_early ? Decision::kEnd : Decision::kContinue;
      out_.reason = StrCat("certified: no meaningful difference (margin ",
                           *strength_.equivalence_margin, ")");
    } else if (all_candidates_out && version_verdict_[versions_[0]] != V::kViolates) {
      out_.decision = Decision::kRollback;
      out_.reason = "certified: every candidate violates an objective or is worse";
      SetWinner(versions_[0], "every candidate is ruled out (certified)");
    } else {
      out_.reason = "undecided: no winner certified yet";
    }
    AllocateByThompson(live, winner, high_is_better);
  }

  std::vector<Pair> Contrasts(const api::Reward& reward) {
    auto m = strength_.methods.find(reward.metric);
    const TestMethod method =
        m != strength_.methods.end()
            ? m->second
            : api::InferTestMethod(reward.metric, MetricObject(e_, reward.metric));
    const Json& prev_r = Object(prev_, "reward");
    Json arms_state = Json::object();
    arms_ = Arms(reward, method, Object(prev_r, "arms"), &arms_state);
    const size_t npairs = versions_.size() * (versions_.size() - 1) / 2;
    const double alpha = strength_.alpha / static_cast<double>(std::max<size_t>(1, npairs));
    const double log_inv = std::log(1.0 / alpha);
    const Json& prev_pairs = Object(prev_r, "pairs");
    Json pairs_state = Json::object();
    std::vector<Pair> pairs;
    for (size_t i = 0; i < versions_.size(); ++i) {
      for (size_t j = i + 1; j < versions_.size(); ++j) {
        const std::string& a = versions_[i];
        const std::string& b = versions_[j];
        const std::string key = StrCat(a, " - ", b);
        const Json& st = Object(prev_pairs, key);
        double info = Num(st, "info"), wsum = Num(st, "wsum"), rho = Num(st, "rho");
        double na = Num(st, "na"), sa = Num(st, "sa"), nb = Num(st, "nb"), sb = Num(st, "sb");
        double batches = Num(st, "batches");
        const RewardArm& ra = arms_[a];
        const RewardArm& rb = arms_[b];
        if (ra.known && rb.known) {
          const double cur_sa = ra.value * ra.n, cur_sb = rb.value * rb.n;
          if (ra.n < na || rb.n < nb) {  // counter reset: start the pair's batches again here
            na = ra.n, sa = cur_sa, nb = rb.n, sb = cur_sb;
          }
          const double da = ra.n - na, db = rb.n - nb;
          if (da >= kMinBatch && db >= kMinBatch) {
            const double d = (cur_sa - sa) / da - (cur_sb - sb) / db;
            // Rates: the larger of the two variances for both arms (under "no difference" they
            // are equal; the larger is the conservative choice while estimates are rough).
            const double s2a = method.kind == TestMethod::kRate ? std::max(ra.s2, rb.s2) : ra.s2;
            const double s2b = method.kind == TestMethod::kRate ? std::max(ra.s2, rb.s2) : rb.s2;
            const double tau2 = s2a / da + s2b / db;
            if (tau2 > 0 && std::isfinite(d)) {
              const double omega = 1.0 / tau2;
              if (rho <= 0) rho = 10 * omega / (2 * log_inv + std::log(1 + 2 * log_inv));
              info += omega;
              wsum += omega * d;
              batches += 1;
            }
            na = ra.n, sa = cur_sa, nb = rb.n, sb = cur_sb;
          }
        }
        Pair p{a, b, 0, -kInf, kInf, info};
        if (info > 0) {
          p.estimate = wsum / info;
          const double r =
              std::sqrt((info + rho) * (std::log(1 + info / rho) + 2 * log_inv)) / info;
          p.lower = p.estimate - r;
          p.upper = p.estimate + r;
        }
        pairs_state[key] = Json{{"na", na},
                                {"sa", sa},
                                {"nb", nb},
                                {"sb", sb},
                                {"info", info},
                                {"wsum", wsum},
                                {"rho", rho},
                                {"batches", batches},
                                {"estimate", p.estimate},
                                {"lower", Finite(p.lower)},
                                {"upper", Finite(p.upper)}};
        pairs.push_back(p);
      }
    }
    state_["reward"] = Json{{"metric", reward.metric},
                            {"method", MethodName(method)},
                            {"alpha", alpha},
                            {"arms", std::move(arms_state)},
                            {"pairs", std::move(pairs_state)}};
    return pairs;
  }

  // Top-two Thompson sampling over the live versions (Gaussian approximation of each reward),
  // 10 % exploration, harm ceilings for candidates not yet certified, ramp limits; the excess
  // goes to the baseline.
  void AllocateByThompson(const std::vector<std::string>& live, const std::string& winner,
                          bool high_is_better) {
    if (e_.spec.strategy.testing_pattern == TestingPattern::kConformance) return;
    std::vector<double> mix(versions_.size(), 0);
    if (!winner.empty()) {
      for (size_t i = 0; i < versions_.size(); ++i) mix[i] = versions_[i] == winner ? 100 : 0;
    } else if (!live.empty()) {
      std::map<std::string, double> credit;
      double known_mean = 0, known_sd = 0;
      int known = 0;
      for (const auto& v : live) {
        const RewardArm& r = arms_[v];
        if (!r.known) continue;
        known_mean += r.value;
        known_sd = std::max(known_sd, std::sqrt(r.s2 / r.n));
        ++known;
      }
      if (known > 0) known_mean /= known;
      const double unknown_sd = known_sd > 0 ? 10 * known_sd : 1;
      // Each live version's sampling distribution, looked up once (not per draw).
      std::vector<double> means, sds;
      for (const auto& v : live) {
        const RewardArm& r = arms_[v];
        means.push_back(r.known ? r.value : known_mean);
        sds.push_back(r.known ? std::sqrt(r.s2 / r.n) : unknown_sd);
      }
      std::vector<double> credits(live.size(), 0);
      NormalPairs normal(random_);
      for (int d = 0; d < kThompsonDraws; ++d) {
        int first = -1, second = -1;
        double best = -kInf, next = -kInf;
        for (size_t i = 0; i < live.size(); ++i) {
          double x = means[i] + sds[i] * normal.Next();
          if (!high_is_better) x = -x;
          if (x > best) {
            second = first, next = best;
            first = static_cast<int>(i), best = x;
          } else if (x > next) {
            second = static_cast<int>(i), next = x;
          }
        }
        credits[first] += second < 0 ? 1.0 : 0.5;
        if (second >= 0) credits[second] += 0.5;
      }
      for (size_t i = 0; i < live.size(); ++i) credit[live[i]] = credits[i];
      for (size_t i = 0; i < versions_.size(); ++i) {
        if (std::find(live.begin(), live.end(), versions_[i]) == live.end()) continue;
        mix[i] = 100.0 * (kExplore / static_cast<double>(live.size()) +
                          (1 - kExplore) * credit[versions_[i]] / kThompsonDraws);
      }
    } else {
      mix[0] = 100;
    }
    std::vector<double> w(versions_.size(), 0);
    for (size_t i = 1; i < versions_.size(); ++i) {
      double target = mix[i];
      if (version_verdict_[versions_[i]] == V::kUndecided) {
        target = std::min(target, Budget(versions_[i]));
      }
      w[i] = mix[i] > 0 ? Ramp(versions_[i], target) : 0;
    }
    Weights(w, false);
  }

  const AnalyticsInput& in_;
  const api::Experiment& e_;
  Random& random_;
  const std::vector<std::string> versions_;
  const api::Strength strength_;
  const Json& prev_;  // the previous iteration's state, in the experiment's status
  Json state_ = Json::object();
  AnalyticsOutput out_;
  int iteration_ = 0;
  double alpha_objective_ = 0;
  std::map<std::string, V> version_verdict_;
  std::map<std::string, double> gamma_;
  std::map<std::string, std::string> first_violation_, first_undecided_;
  std::map<std::string, RewardArm> arms_;
  std::string rollback_;
};

}  // namespace

double NormalPairs::Next() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = random_.Uniform();
  const double u2 = random_.Uniform();
  if (u1 <= 0) u1 = std::numeric_limits<double>::min();
  const double r = std::sqrt(-2 * std::log(u1)), angle = 2 * std::numbers::pi * u2;
  spare_ = r * std::sin(angle);
  has_spare_ = true;
  return r * std::cos(angle);
}

AnalyticsOutput SequentialEngine::Analyze(const AnalyticsInput& input, Random& random) const {
  Analysis analysis(input, random);
  return analysis.Run();
}

}  // namespace iter8::analytics
