// The decision benchmark (statistics.md 4): how often each decision rule promotes a bad
// candidate, rolls back a good one or stays inconclusive, how fast it decides and how many
// SLO-violating errors users see before it does, on simulated traffic with known truth.
//
//   build/release/bench/decisions [--grid reduced|full] [--runs N] [--threads N]
//                                 [--csv FILE] [--markdown FILE] [--exact] [--scenarios G1,H0]
//                                 [--bursty promotion|all|none]   (strength.burstyErrors)
//
// Simulation: per version, Poisson arrivals at rate x weight, Bernoulli errors, lognormal
// latencies (sigma_log 0.6) counted into Prometheus' default buckets (5 ms ... 10 s, +Inf), a
// latency sum, all as cumulative counters scraped every 15 s and read 30 s late, as a
// Prometheus query at check time sees them (--exact: read exactly at each check). Counter
// resets are not simulated (the counter reader handles them, tested against a real Prometheus);
// failed queries, drift and over-dispersed errors are, in the robustness cells M0, M1, D0, O0,
// O1 (statistics.md 4.2). Each rule applies its
// own traffic split for the next interval. Objectives: error rate <= 1 %, mean latency <= 500 ms,
// p95 <= 1000 ms (a bucket bound; U0: 900 ms, between two). Baseline: 0.5 % errors, median 300 ms.
//
// Rules compared in the same run, each with its native cadence:
//   classic      our ClassicEngine (iter8 v2 exactly): 15 iterations at the cell's interval,
//                winner at the end; "+rb" adds rollback_on_failure on every objective
//   flagger      60 s checks on the last minute, +10 per pass up to 50 then promote, rollback
//                after 5 failed checks, no data = failed check
//   argo         steps 20/40/60/80 % with 5-minute pauses, 1-minute background measurements,
//                rollback when more than 3 fail, promote after the last step
//   bayes-v1     iter8 v1-like: 60 s, Beta(0.1 + e, 0.1 + n - e) on the error rate and point
//                estimates on latency, promote when P(all met) > 0.99, +2 points per check,
//                roll back at the horizon without a winner
//   sequential   our SequentialEngine (alpha 0.05), checks at the cell's interval
// plus N1 and X0, A/B/n tests with four versions, for classic and sequential (RunABN).
// All stop at a 60-minute horizon; "inconclusive" = no decision by then (baseline kept).
#include <algorithm>
#include <atomic>
#include <boost/math/special_functions/beta.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "analytics/classic.h"
#include "analytics/sequential.h"
#include "api/document.h"
#include "api/load.h"
#include "api/validate.h"
#include "common/strings.h"

namespace iter8::bench {
namespace {

constexpr double kHorizonS = 3600;
constexpr double kErrorLimit = 0.01, kMeanLimit = 500, kP95Limit = 1000;
constexpr double kSigmaLog = 0.6;
const std::vector<double> kBounds = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};

struct Truth {
  double error_rate = 0.005;
  double median_ms = 300;
  double conversion = 0;  // A/B scenarios
  // Heavy-tail variant (H0, H1): a share of requests from a second, wider lognormal (slow
  // requests: cold caches, long inputs), so latency sums are far from normal.
  double tail_share = 0;
  double tail_median_ms = 0;
  double tail_sigma = 1.0;
  // Robustness cells (M*, D0, O*; off elsewhere, so other cells draw the same numbers):
  double missing = 0;         // probability that a check's query fails (no data for any version)
  double drift = 0;           // latency of every version grows by this fraction per hour
  double dispersion = 0;      // > 0: the error rate of each 5 s step ~ Beta with this concentration
  double routed = 1;          // the share of its weight's traffic the candidate really receives
  bool with_latency = false;  // A/B(/n) versions that also have latencies (X0)
  double latency_bursts = 0;  // > 0: each 5 s step's median is multiplied by e^N(0, this^2)
  double Mean() const {
    return (1 - tail_share) * median_ms * std::exp(kSigmaLog * kSigmaLog / 2) +
           tail_share * tail_median_ms * std::exp(tail_sigma * tail_sigma / 2);
  }
};

struct Scenario {
  std::string id;
  Truth candidate;
  bool ab = false;
  // Which outcome is right: "promote", "rollback", "either" (B0), "winner" (R1-R3, N1), "none"
  // (R0).
  std::string correct;
  // A/B/n with four versions (RunABN): 0 no, 1 N1, 2 X0.
  int abn = 0;
  double p95_limit = kP95Limit;  // U0: a limit between two bucket bounds
};

std::vector<Scenario> Scenarios() {
  return {
      {"G1", {0.005, 300, 0}, false, "promote"},
      {"G2", {0.008, 350, 0}, false, "promote"},
      {"B0", {0.010, 300, 0}, false, "either"},
      {"B1", {0.015, 300, 0}, false, "rollback"},
      {"B2", {0.030, 300, 0}, false, "rollback"},
      {"B3", {0.005, 400, 0}, false, "rollback"},
      {"B4", {0.006, 320, 0}, false, "promote"},
      {"R0", {0, 0, 0.05}, true, "none"},
      {"R1", {0, 0, 0.0525}, true, "winner"},
      {"R2", {0, 0, 0.055}, true, "winner"},
      {"N1", {0, 0, 0.055}, true, "winner", 1},
      {"R3", {0, 0, 0.06}, true, "winner"},
      // Heavy tails: 3 % of requests ~ lognormal(1500 ms, 1.0): mean 422 ms, p95 ~ 700 ms,
      // both within the limits; 8 % ~ lognormal(2500 ms, 1.0): mean 660 ms, p95 ~ 1900 ms.
      {"H0", {0.005, 300, 0, 0.03, 1500, 1.0}, false, "promote"},
      {"H1", {0.005, 300, 0, 0.08, 2500, 1.0}, false, "rollback"},
      // Robustness: a quarter of the checks get no data (Prometheus unreachable, a failed
      // query); G1 and B2 otherwise.
      {"M0", {0.005, 300, 0, 0, 0, 1.0, 0.25}, false, "promote"},
      {"M1", {0.030, 300, 0, 0, 0, 1.0, 0.25}, false, "rollback"},
      // Drift: both versions' latency grows 15 % over the hour (load rising); G1 stays within
      // the limits throughout (mean 359 -> 413 ms, p95 805 -> 926 ms).
      {"D0", {0.005, 300, 0, 0, 0, 1.0, 0, 0.15}, false, "promote"},
      // Over-dispersed errors: each 5 s step's error rate ~ Beta(mean, concentration 100)
      // (bursts), the mean good (0.5 %) or bad (1.5 %).
      {"O0", {0.005, 300, 0, 0, 0, 1.0, 0, 0, 100}, false, "promote"},
      {"O1", {0.015, 300, 0, 0, 0, 1.0, 0, 0, 100}, false, "rollback"},
      // An unaligned p95 limit: 900 ms lies between the 500 and 1000 ms bounds. G1's true p95
      // is 805 ms (within), but interpolating in the 500-1000 bucket, as histogram_quantile
      // does, reads about 920 ms. Right: promote; no rule can know it from these buckets.
      {"U0", {0.005, 300, 0}, false, "promote", false, 900},
      // Broken routing: the candidate (G1) receives 40 % of the traffic its weight says (the
      // rest goes to the baseline). Nothing is wrong with the candidate, but the experiment's
      // split is: sequential's sample-ratio check pauses it (inconclusive).
      {"S0", {0.005, 300, 0, 0, 0, 1.0, 0, 0, 0, 0.4}, false, "promote"},
      // Errors in bursts at the limit (calibration under stress, statistics.md 4.1 item 7):
      // each 5 s step's rate ~ Beta with mean 1 %, concentration 100 (O2) or 20 (O3, severe).
      {"O2", {0.010, 300, 0, 0, 0, 1.0, 0, 0, 100}, false, "either"},
      {"O3", {0.010, 300, 0, 0, 0, 1.0, 0, 0, 20}, false, "either"},
      // Multiplicity: A/B/n with three candidates, every one at the error-rate limit, on three
      // objectives (error rate, mean latency, p95) and an identical conversion rate (RunABN).
      // Any certified verdict on a candidate's error rate is false, and so is any winner.
      {"X0", {0.010, 300, 0.05}, true, "either", 2},
      // Latency in bursts at the p95 limit: each 5 s step's median is multiplied by
      // e^N(0, 0.3^2); with median 331.7 ms the share above 1000 ms is exactly 5 % on average
      // (ln X = ln m + sigma Z over both normals: 1 - Phi((ln 1000 - ln m) / sqrt(0.36 + 0.09)))
      // and the mean 415 ms is within its limit. Either verdict on p95 is false.
      {"L0", {0.005, 331.7, 0, 0, 0, 1.0, 0, 0, 0, 1, false, 0.3}, false, "either"},
  };
}

double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// Cumulative counters of one version, as Prometheus would hold them.
struct Counters {
  double n = 0, errors = 0, sum_ms = 0, conversions = 0;
  std::vector<double> buckets = std::vector<double>(kBounds.size(), 0);  // cumulative per bound

  Counters Minus(const Counters& o) const {
    Counters d;
    d.n = n - o.n;
    d.errors = errors - o.errors;
    d.sum_ms = sum_ms - o.sum_ms;
    d.conversions = conversions - o.conversions;
    for (size_t i = 0; i < buckets.size(); ++i) d.buckets[i] = buckets[i] - o.buckets[i];
    return d;
  }
  // Prometheus' histogram_quantile over these buckets (+Inf = n).
  double Quantile(double q) const {
    if (n <= 0) return NAN;
    const double rank = q * n;
    double below = 0, lower = 0;
    for (size_t i = 0; i < kBounds.size(); ++i) {
      if (buckets[i] >= rank) {
        const double in = buckets[i] - below;
        return in > 0 ? lower + (kBounds[i] - lower) * (rank - below) / in : kBounds[i];
      }
      below = buckets[i];
      lower = kBounds[i];
    }
    return kBounds.back();
  }
  analytics::Buckets Cumulative() const {
    analytics::Buckets b;
    b.upper_bounds = kBounds;
    b.upper_bounds.push_back(INFINITY);
    b.cumulative = buckets;
    b.cumulative.push_back(n);
    return b;
  }
};

// Adds `seconds` of traffic at `rate` req/s, ending at time `now`, to `c`.
void Generate(const Truth& truth, double rate, double seconds, std::mt19937_64& rng, Counters* c,
              double now = 0) {
  if (rate <= 0) return;
  std::poisson_distribution<int64_t> arrivals(rate * seconds);
  const int64_t n = arrivals(rng);
  if (n == 0) return;
  Truth t = truth;
  if (t.drift > 0) {
    const double f = 1 + t.drift * now / 3600;
    t.median_ms *= f;
    t.tail_median_ms *= f;
  }
  if (t.latency_bursts > 0) {  // slow and fast periods
    std::normal_distribution<double> burst(0, t.latency_bursts);
    t.median_ms *= std::exp(burst(rng));
  }
  c->n += n;
  double error_rate = t.error_rate;
  if (t.dispersion > 0) {  // Beta(k p, k (1 - p)) from two gamma draws
    std::gamma_distribution<double> ga(t.dispersion * t.error_rate, 1.0);
    std::gamma_distribution<double> gb(t.dispersion * (1 - t.error_rate), 1.0);
    const double a = ga(rng), b = gb(rng);
    error_rate = a + b > 0 ? a / (a + b) : t.error_rate;
  }
  std::binomial_distribution<int64_t> err(n, error_rate);
  c->errors += err(rng);
  if (t.conversion > 0) {  // A/B: conversions instead of latencies
    std::binomial_distribution<int64_t> conv(n, t.conversion);
    c->conversions += conv(rng);
    if (!t.with_latency) return;
  }
  // Bucket counts: a multinomial drawn as successive binomials.
  auto latency_cdf = [&t](double ms) {
    const double body = NormalCdf((std::log(ms) - std::log(t.median_ms)) / kSigmaLog);
    if (t.tail_share <= 0) return body;
    const double tail = NormalCdf((std::log(ms) - std::log(t.tail_median_ms)) / t.tail_sigma);
    return (1 - t.tail_share) * body + t.tail_share * tail;
  };
  int64_t left = n;
  double p_left = 1, cum = 0, prev_cdf = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    const double cdf = latency_cdf(kBounds[i]);
    const double p = p_left > 0 ? std::clamp((cdf - prev_cdf) / p_left, 0.0, 1.0) : 0;
    std::binomial_distribution<int64_t> in(left, p);
    const int64_t k = left > 0 ? in(rng) : 0;
    left -= k;
    cum += static_cast<double>(k);
    c->buckets[i] += cum;
    p_left -= cdf - prev_cdf;
    prev_cdf = cdf;
  }
  // The latency sum. Body requests by the central limit theorem (exact enough for a sum of
  // many); tail requests one by one, so their sum keeps its skew.
  int64_t tail_n = 0;
  if (t.tail_share > 0) {
    std::binomial_distribution<int64_t> in_tail(n, t.tail_share);
    tail_n = in_tail(rng);
    std::lognormal_distribution<double> slow(std::log(t.tail_median_ms), t.tail_sigma);
    for (int64_t i = 0; i < tail_n; ++i) c->sum_ms += slow(rng);
  }
  const double body_n = static_cast<double>(n - tail_n);
  if (body_n > 0) {
    const double mean = t.median_ms * std::exp(kSigmaLog * kSigmaLog / 2);
    const double var = mean * mean * (std::exp(kSigmaLog * kSigmaLog) - 1);
    std::normal_distribution<double> sum(body_n * mean, std::sqrt(body_n * var));
    c->sum_ms += std::max(0.0, sum(rng));
  }
}

enum class Outcome { kPromote, kRollback, kInconclusive, kWinner, kNoWinner };

struct RunResult {
  Outcome outcome = Outcome::kInconclusive;
  double seconds = kHorizonS;
  double candidate_requests = 0;
  double slo_errors = 0;  // expected errors above the error-rate SLO served by the candidate
  std::string winner;
  // X0, sequential: some candidate's error-rate objective was certified SATISFIES / VIOLATES.
  bool certified_satisfies = false, certified_violates = false;
};

// A decision rule: told the cumulative counters at each of its checks, answers with the
// candidate weight for the next interval or a decision.
class Rule {
 public:
  virtual ~Rule() = default;
  virtual double Interval() const = 0;
  virtual double InitialWeight() const { return 0; }
  // Returns the candidate weight (percent) for the next interval; sets *done on a decision.
  virtual double Check(const Counters& base, const Counters& cand, double t, bool* done,
                       Outcome* outcome, std::string* winner) = 0;
};

bool Meets(const Counters& c, double p95_limit) {
  if (c.n <= 0) return false;
  return c.errors / c.n <= kErrorLimit && c.sum_ms / c.n <= kMeanLimit &&
         c.Quantile(0.95) <= p95_limit;
}

// ---------------------------------------------------------------- our engines

api::Experiment Build(const std::string& spec) {
  const std::string text =
      "apiVersion: iter8.tools/v2alpha2\nkind: Experiment\nmetadata: {name: bench}\n" + spec;
  auto docs = api::ParseDocuments(text, "bench.yaml");
  auto e = api::LoadExperiment((*docs)[0]);
  if (!e.ok()) {
    std::cerr << e.status() << "\n";
    std::abort();
  }
  api::Experiment out = *e;
  api::ApplyDefaults(&out);
  return out;
}

std::string CanarySpec(const std::string& extra_criteria, bool rollback, const char* increment,
                       double p95_limit) {
  const std::string rb = rollback ? ", rollback_on_failure: true" : "";
  return StrCat(
      "spec:\n  target: t\n  strategy: {testingPattern: Canary, weights: "
      "{maxCandidateWeightIncrement: ",
      increment, "}}\n  criteria:\n", extra_criteria,
      "    objectives:\n"
      "    - {metric: error-rate, upperLimit: \"0.01\"",
      rb,
      "}\n"
      "    - {metric: mean-latency, upperLimit: 500",
      rb,
      "}\n"
      "    - {metric: latency-95th-percentile, upperLimit: ",
      static_cast<int>(p95_limit), rb,
      "}\n"
      "  versionInfo:\n    baseline: {name: base}\n    candidates: [{name: cand}]\n");
}

std::string ABSpec(const std::string& extra_criteria) {
  return StrCat(
      "spec:\n  target: t\n  strategy: {testingPattern: A/B, weights: "
      "{maxCandidateWeightIncrement: 20}}\n  criteria:\n",
      extra_criteria,
      "    rewards: [{metric: conversion-rate, preferredDirection: High}]\n"
      "  versionInfo:\n    baseline: {name: base}\n    candidates: [{name: cand}]\n");
}

analytics::EvidenceMap Evidence(const Counters& base, const Counters& cand, bool ab) {
  analytics::EvidenceMap m;
  for (const auto& [name, c] : {std::pair<std::string, const Counters*>{"base", &base},
                                std::pair<std::string, const Counters*>{"cand", &cand}}) {
    if (c->n <= 0) continue;
    if (ab) {
      m["conversion-rate"][name] = {c->conversions / c->n, c->n, std::nullopt};
      continue;
    }
    m["error-rate"][name] = {c->errors / c->n, c->n, std::nullopt};
    m["mean-latency"][name] = {c->sum_ms / c->n, c->n, c->Cumulative()};
    m["latency-95th-percentile"][name] = {c->Quantile(0.95), c->n, c->Cumulative()};
  }
  return m;
}

// Runs one of our analytics engines as the controller would (state and weights carried in the
// status between iterations).
class EngineRule : public Rule {
 public:
  EngineRule(std::unique_ptr<analytics::Engine> engine, api::Experiment e, double interval,
             int max_iterations, uint64_t seed, bool ab, bool rollback_rule)
      : engine_(std::move(engine)),
        e_(std::move(e)),
        interval_(interval),
        max_iterations_(max_iterations),
        random_(seed),
        ab_(ab),
        rollback_rule_(rollback_rule) {
    const double w = InitialWeight();
    e_.status.current_weight_distribution = {{"base", static_cast<int32_t>(100 - w), {}},
                                             {"cand", static_cast<int32_t>(w), {}}};
  }

  double Interval() const override { return interval_; }
  // A canary starts at 10 % (KServe's canaryTrafficPercent), as the peers' first step does.
  double InitialWeight() const override { return ab_ ? 50 : 10; }

  double Check(const Counters& base, const Counters& cand, double, bool* done, Outcome* outcome,
               std::string* winner) override {
    ++iteration_;
    const analytics::EvidenceMap ev = Evidence(base, cand, ab_);
    const api::AggregatedMetricsAnalysis agg = analytics::AggregatedFromEvidence(ev);
    analytics::AnalyticsOutput out = engine_->Analyze({e_, agg, &ev}, random_);
    if (!out.state.is_null()) {
      if (!e_.status.analysis) e_.status.analysis.emplace();
      e_.status.analysis->extra[analytics::kSequentialStateKey] = std::move(out.state);
    }
    if (!out.weights.data.empty()) e_.status.current_weight_distribution = out.weights.data;
    const auto& w = out.winner_assessment.data;
    if (rollback_rule_) {  // the original's one-strike rollback_on_failure
      for (const auto& [v, sat] : out.version_assessments.data) {
        if (std::find(sat.begin(), sat.end(), false) != sat.end()) {
          *done = true;
          *outcome = Outcome::kRollback;
          return 0;
        }
      }
    }
    switch (out.decision) {
      case analytics::Decision::kPromote:
        *done = true;
        *outcome = ab_ ? Outcome::kWinner : Outcome::kPromote;
        *winner = w.winner;
        return 100;
      case analytics::Decision::kRollback:
        *done = true;
        *outcome = Outcome::kRollback;
        return 0;
      case analytics::Decision::kEnd:
        *done = true;
        *outcome = ab_ ? Outcome::kNoWinner : Outcome::kRollback;
        return 0;
      case analytics::Decision::kContinue:
        break;
    }
    if (iteration_ >= max_iterations_) {  // the classic engine's last iteration decides
      *done = true;
      if (ab_) {
        *outcome = w.winner_found ? Outcome::kWinner : Outcome::kNoWinner;
        *winner = w.winner;
      } else {
        *outcome = w.winner_found && w.winner == "cand" ? Outcome::kPromote : Outcome::kRollback;
      }
      return 0;
    }
    for (const auto& v : out.weights.data) {
      if (v.name == "cand") return v.value;
    }
    return 0;
  }

 private:
  std::unique_ptr<analytics::Engine> engine_;
  api::Experiment e_;
  double interval_;
  int max_iterations_;
  Mt19937Random random_;
  bool ab_, rollback_rule_;
  int iteration_ = 0;
};

// ---------------------------------------------------------------- peers' rules

class FlaggerRule : public Rule {
 public:
  explicit FlaggerRule(double p95_limit) : p95_limit_(p95_limit) {}
  double Interval() const override { return 60; }
  double Check(const Counters& base, const Counters& cand, double, bool* done, Outcome* outcome,
               std::string*) override {
    (void)base;
    // A failed query (cumulative counters cannot fall to 0) is a failed check; the next window
    // is again the last minute, as Flagger's `[1m]` queries are.
    const bool failed_query = cand.n <= 0 && last_.n > 0;
    const Counters window = failed_query ? Counters{} : cand.Minus(last_);
    if (!failed_query) last_ = cand;
    if (!Meets(window, p95_limit_)) {  // no data counts as a failed check
      if (++failed_ >= 5) {
        *done = true;
        *outcome = Outcome::kRollback;
        return 0;
      }
      return weight_;
    }
    if (weight_ >= 50) {
      *done = true;
      *outcome = Outcome::kPromote;
      return 100;
    }
    weight_ += 10;
    return weight_;
  }
  double InitialWeight() const override { return 10; }

 private:
  double p95_limit_;
  Counters last_;
  double weight_ = 10;
  int failed_ = 0;
};

class ArgoRule : public Rule {
 public:
  explicit ArgoRule(double p95_limit) : p95_limit_(p95_limit) {}
  double Interval() const override { return 60; }
  double InitialWeight() const override { return 20; }
  double Check(const Counters&, const Counters& cand, double t, bool* done, Outcome* outcome,
               std::string*) override {
    const bool failed_query = cand.n <= 0 && last_.n > 0;  // a failed measurement, as Flagger
    const Counters window = failed_query ? Counters{} : cand.Minus(last_);
    if (!failed_query) last_ = cand;
    if (!Meets(window, p95_limit_) && ++failed_ > 3) {
      *done = true;
      *outcome = Outcome::kRollback;
      return 0;
    }
    const int step = static_cast<int>(t / 300);  // 5-minute pauses
    if (step >= 4) {
      *done = true;
      *outcome = Outcome::kPromote;
      return 100;
    }
    return 20.0 * (step + 1);
  }

 private:
  double p95_limit_;
  Counters last_;
  int failed_ = 0;
};

// P(p <= x) under Beta(a, b).
double BetaCdf(double x, double a, double b) { return boost::math::ibeta(a, b, x); }

class BayesV1Rule : public Rule {
 public:
  explicit BayesV1Rule(double p95_limit) : p95_limit_(p95_limit) {}
  double Interval() const override { return 60; }
  double Check(const Counters&, const Counters& cand, double, bool* done, Outcome* outcome,
               std::string*) override {
    double prob = 0;
    if (cand.n > 0) {
      prob = BetaCdf(kErrorLimit, 0.1 + cand.errors, 0.1 + cand.n - cand.errors);
      const bool latency_ok =
          cand.sum_ms / cand.n <= kMeanLimit && cand.Quantile(0.95) <= p95_limit_;
      if (!latency_ok) prob = 0;
    }
    if (prob > 0.99) {
      *done = true;
      *outcome = Outcome::kPromote;
      return 100;
    }
    // Top-1 routing on the win probability, 10 % exploration, +2 points per check at most.
    const double target = 100 * (0.05 + 0.9 * prob);
    weight_ = target > weight_ ? std::min(target, weight_ + 2) : target;
    return weight_;
  }
  double InitialWeight() const override { return 5; }

 private:
  double p95_limit_;
  double weight_ = 5;
};

// ---------------------------------------------------------------- the harness

struct Cell {
  std::string rule;
  const Scenario* scenario;
  double rate;
  double interval;
};

// strength.burstyErrors for the sequential engine (--bursty; empty: the engine's default).
std::string g_bursty;
std::string SequentialStrength() {
  return StrCat("    strength: {engine: sequential, alpha: 0.05",
                g_bursty.empty() ? "" : ", burstyErrors: " + g_bursty, "}\n");
}

std::unique_ptr<Rule> MakeRule(const Cell& c, uint64_t seed) {
  const int horizon_iterations = static_cast<int>(kHorizonS / c.interval);
  if (c.rule == "classic" || c.rule == "classic+rb") {
    const bool rb = c.rule == "classic+rb";
    api::Experiment e =
        Build(c.scenario->ab ? ABSpec("")
                             : CanarySpec("", rb && !c.scenario->ab, "10", c.scenario->p95_limit));
    return std::make_unique<EngineRule>(std::make_unique<analytics::ClassicEngine>(), e, c.interval,
                                        15, seed, c.scenario->ab, rb);
  }
  if (c.rule == "sequential") {
    const std::string strength = SequentialStrength();
    api::Experiment e =
        Build(c.scenario->ab ? ABSpec(strength)
                             : CanarySpec(strength, false, "20", c.scenario->p95_limit));
    return std::make_unique<EngineRule>(std::make_unique<analytics::SequentialEngine>(), e,
                                        c.interval, horizon_iterations + 1, seed, c.scenario->ab,
                                        false);
  }
  if (c.rule == "flagger") return std::make_unique<FlaggerRule>(c.scenario->p95_limit);
  if (c.rule == "argo") return std::make_unique<ArgoRule>(c.scenario->p95_limit);
  return std::make_unique<BayesV1Rule>(c.scenario->p95_limit);
}

// How rules read the counters: Prometheus scrapes every `scrape` seconds and a query at time t
// sees the last scrape at or before t - lag (statistics.md 4.1: 15 s and 30 s). 0/0 = exact.
struct Reading {
  double scrape = 15;
  double lag = 30;
};
Reading g_reading;

RunResult RunOnce(const Cell& c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::unique_ptr<Rule> rule = MakeRule(c, seed);
  Truth base;
  if (c.scenario->ab) {
    base.error_rate = 0;
    base.conversion = 0.05;
  }
  const Truth& cand = c.scenario->candidate;
  base.drift = cand.drift;  // drift moves every version alike
  // Failed queries come from a stream of their own, so other cells draw the same numbers.
  std::mt19937_64 query_rng(seed ^ 0x6d697373696e67ull);
  std::bernoulli_distribution query_fails(cand.missing);
  Counters cb, cc;
  RunResult r;
  double w = c.scenario->ab ? 50 : rule->InitialWeight();
  double t = 0;
  const double excess = std::max(0.0, cand.error_rate - kErrorLimit);
  // Scrapes taken so far (time, baseline, candidate); the empty one at time 0.
  struct Scrape {
    double time;
    Counters base, cand;
  };
  std::vector<Scrape> scrapes = {{0, Counters{}, Counters{}}};
  const double tick = g_reading.scrape > 0 ? std::min(5.0, g_reading.scrape) : 5.0;
  while (t < kHorizonS) {
    const double dt = std::min(rule->Interval(), kHorizonS - t);
    const double before = cc.n;
    for (double done_s = 0; done_s + 1e-9 < dt; done_s += tick) {
      const double step = std::min(tick, dt - done_s);
      const double now = t + done_s + step;
      const double served = cand.routed == 1 ? w : w * cand.routed;
      Generate(base, c.rate * (100 - served) / 100, step, rng, &cb, now);
      Generate(cand, c.rate * served / 100, step, rng, &cc, now);
      if (g_reading.scrape > 0 && std::floor(now / g_reading.scrape + 1e-9) >
                                      std::floor(scrapes.back().time / g_reading.scrape + 1e-9)) {
        scrapes.push_back({now, cb, cc});
      }
    }
    r.candidate_requests += cc.n - before;
    r.slo_errors += (cc.n - before) * excess;
    t += dt;
    bool done = false;
    Outcome outcome = Outcome::kInconclusive;
    std::string winner;
    const Counters* view_b = &cb;
    const Counters* view_c = &cc;
    static const Counters kNoData;
    if (cand.missing > 0 && query_fails(query_rng)) {
      // The query failed: no version has data this time (the scrapes stay for later checks).
      w = rule->Check(kNoData, kNoData, t, &done, &outcome, &winner);
    } else if (g_reading.scrape > 0) {
      size_t k = 0;
      for (size_t i = 0; i < scrapes.size(); ++i) {
        if (scrapes[i].time <= t - g_reading.lag + 1e-9) k = i;
      }
      view_b = &scrapes[k].base;
      view_c = &scrapes[k].cand;
      w = rule->Check(*view_b, *view_c, t, &done, &outcome, &winner);
      // Older scrapes are never read again (after Check: the views point into `scrapes`).
      if (k > 0) scrapes.erase(scrapes.begin(), scrapes.begin() + static_cast<long>(k));
    } else {
      w = rule->Check(*view_b, *view_c, t, &done, &outcome, &winner);
    }
    if (done) {
      r.outcome = outcome;
      r.seconds = t;
      r.winner = winner;
      return r;
    }
  }
  r.outcome = c.scenario->ab ? Outcome::kNoWinner : Outcome::kInconclusive;
  return r;
}

// A/B/n with four versions starting at 25 % each (statistics.md 4.1).
// N1: the baseline, one that breaks the error-rate objective (1.5 %), one equal to the
// baseline, one with a 10 % better conversion rate; one objective (error rate). Right outcome:
// the +10 % version wins, the bad one loses its traffic. `slo_errors` counts the bad version's
// expected errors above the SLO before the decision.
// X0 (multiplicity, "3 objectives x 3 candidates"): three candidates at the error-rate limit,
// latencies and conversion as the baseline's, three objectives. Any winner is a false promotion,
// a rollback (every candidate ruled out) a false rollback; for sequential, any candidate whose
// error-rate objective is certified either way is a false verdict of the family the alpha
// split (alpha / (3 objectives x 3 candidates)) protects.
RunResult RunABN(const Cell& c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const bool x0 = c.scenario->abn == 2;
  const std::vector<std::string> names =
      x0 ? std::vector<std::string>{"base", "c1", "c2", "c3"}
         : std::vector<std::string>{"base", "bad", "same", "better"};
  std::vector<Truth> truth = {
      {0.005, 300, 0.05}, {0.015, 300, 0.05}, {0.005, 300, 0.05}, {0.005, 300, 0.055}};
  if (x0) {
    truth = {{0.005, 300, 0.05}, {0.010, 300, 0.05}, {0.010, 300, 0.05}, {0.010, 300, 0.05}};
    for (Truth& t : truth) t.with_latency = true;
  }
  const bool sequential = c.rule == "sequential";
  const std::string objectives =
      x0 ? "    objectives:\n"
           "    - {metric: error-rate, upperLimit: \"0.01\"}\n"
           "    - {metric: mean-latency, upperLimit: 500}\n"
           "    - {metric: latency-95th-percentile, upperLimit: 1000}\n"
         : "    objectives: [{metric: error-rate, upperLimit: \"0.01\"}]\n";
  const std::string spec = StrCat(
      "spec:\n  target: t\n  strategy: {testingPattern: A/B/N, weights: "
      "{maxCandidateWeightIncrement: 20}}\n  criteria:\n",
      sequential ? SequentialStrength() : "",
      "    rewards: [{metric: conversion-rate, preferredDirection: High}]\n", objectives,
      "  versionInfo:\n    baseline: {name: base}\n    candidates: [{name: ", names[1],
      "}, {name: ", names[2], "}, {name: ", names[3], "}]\n");
  api::Experiment e = Build(spec);
  std::unique_ptr<analytics::Engine> engine;
  if (sequential) {
    engine = std::make_unique<analytics::SequentialEngine>();
  } else {
    engine = std::make_unique<analytics::ClassicEngine>();
  }
  Mt19937Random random(seed);
  std::vector<double> w = {25, 25, 25, 25};
  std::vector<Counters> now(4);
  struct Scrape {
    double time;
    std::vector<Counters> counters;
  };
  std::vector<Scrape> scrapes = {{0, std::vector<Counters>(4)}};
  RunResult r;
  const int max_iterations = sequential ? static_cast<int>(kHorizonS / c.interval) : 15;
  double t = 0;
  for (int k = 1; k <= max_iterations && t < kHorizonS; ++k) {
    const double before = now[1].n;
    for (double done_s = 0; done_s + 1e-9 < c.interval; done_s += 5) {
      for (size_t v = 0; v < 4; ++v) Generate(truth[v], c.rate * w[v] / 100, 5, rng, &now[v]);
      const double at = t + done_s + 5;
      if (g_reading.scrape > 0 && std::floor(at / g_reading.scrape + 1e-9) >
                                      std::floor(scrapes.back().time / g_reading.scrape + 1e-9)) {
        scrapes.push_back({at, now});
      }
    }
    r.slo_errors += (now[1].n - before) * std::max(0.0, truth[1].error_rate - kErrorLimit);
    t += c.interval;
    const std::vector<Counters>* view = &now;
    if (g_reading.scrape > 0) {
      size_t i = 0;
      for (size_t j = 0; j < scrapes.size(); ++j) {
        if (scrapes[j].time <= t - g_reading.lag + 1e-9) i = j;
      }
      if (i > 0) scrapes.erase(scrapes.begin(), scrapes.begin() + static_cast<long>(i));
      view = &scrapes.front().counters;
    }
    analytics::EvidenceMap ev;
    for (size_t v = 0; v < 4; ++v) {
      const Counters& cv = (*view)[v];
      if (cv.n <= 0) continue;
      ev["error-rate"][names[v]] = {cv.errors / cv.n, cv.n, std::nullopt};
      ev["conversion-rate"][names[v]] = {cv.conversions / cv.n, cv.n, std::nullopt};
      if (x0) {
        ev["mean-latency"][names[v]] = {cv.sum_ms / cv.n, cv.n, cv.Cumulative()};
        ev["latency-95th-percentile"][names[v]] = {cv.Quantile(0.95), cv.n, cv.Cumulative()};
      }
    }
    const api::AggregatedMetricsAnalysis agg = analytics::AggregatedFromEvidence(ev);
    analytics::AnalyticsOutput out = engine->Analyze({e, agg, &ev}, random);
    if (!out.state.is_null()) {
      if (x0) {
        const api::Json& versions = out.state["objectives"][0]["versions"];
        for (size_t v = 1; v < 4; ++v) {
          const api::Json verdict = versions[names[v]].value("verdict", api::Json());
          r.certified_satisfies = r.certified_satisfies || verdict == "SATISFIES";
          r.certified_violates = r.certified_violates || verdict == "VIOLATES";
        }
      }
      if (!e.status.analysis) e.status.analysis.emplace();
      e.status.analysis->extra[analytics::kSequentialStateKey] = std::move(out.state);
    }
    if (!out.weights.data.empty()) {
      e.status.current_weight_distribution = out.weights.data;
      for (const auto& vw : out.weights.data) {
        for (size_t v = 0; v < 4; ++v) {
          if (vw.name == names[v]) w[v] = vw.value;
        }
      }
    }
    const auto& win = out.winner_assessment.data;
    const bool last = k == max_iterations;
    const bool decided = out.decision == analytics::Decision::kPromote || (last && !sequential);
    if (x0 && (decided || out.decision != analytics::Decision::kContinue)) {
      // A candidate winning is a false promotion, the baseline kept by a decision a rollback.
      r.outcome = !win.winner_found      ? Outcome::kInconclusive
                  : win.winner == "base" ? Outcome::kRollback
                                         : Outcome::kPromote;
      if (out.decision == analytics::Decision::kRollback) r.outcome = Outcome::kRollback;
      r.seconds = t;
      return r;
    }
    if (decided) {
      r.outcome = win.winner_found ? Outcome::kWinner : Outcome::kNoWinner;
      r.winner = win.winner == "better" ? "cand" : win.winner;
      r.seconds = t;
      return r;
    }
    if (out.decision != analytics::Decision::kContinue) {
      r.outcome = Outcome::kNoWinner;
      r.seconds = t;
      return r;
    }
  }
  r.outcome = x0 ? Outcome::kInconclusive : Outcome::kNoWinner;
  return r;
}

struct Summary {
  int runs = 0, promote = 0, rollback = 0, inconclusive = 0, right_winner = 0, wrong_winner = 0;
  int certified_satisfies = 0, certified_violates = 0;  // X0
  std::vector<double> times;                            // decided runs, minutes
  double slo_errors = 0, candidate_requests = 0;
};

double Median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string Pct(int k, int n) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %%", n > 0 ? 100.0 * k / n : 0.0);
  return buf;
}

std::string Fixed(double x, int digits = 1) {
  if (std::isnan(x)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, x);
  return buf;
}

int Main(int argc, char** argv) {
  std::string grid = "reduced", csv_path, md_path, only;
  int runs = 0, threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "decisions: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--grid") {
      grid = next();
    } else if (a == "--runs") {
      runs = std::atoi(next().c_str());
    } else if (a == "--threads") {
      threads = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--csv") {
      csv_path = next();
    } else if (a == "--markdown") {
      md_path = next();
    } else if (a == "--scenarios") {
      only = next();
    } else if (a == "--exact") {
      g_reading = {0, 0};
    } else if (a == "--bursty") {
      g_bursty = next();
      if (g_bursty != "promotion" && g_bursty != "all" && g_bursty != "none") {
        std::cerr << "decisions: --bursty must be promotion, all or none, not " << g_bursty << "\n";
        return 2;
      }
    } else {
      std::cerr
          << "usage: decisions [--grid reduced|full] [--runs N] [--threads N] [--csv F] "
             "[--markdown F] [--exact] [--bursty promotion|all|none] [--scenarios G1,B2,...]\n";
      return 2;
    }
  }
  if (grid != "reduced" && grid != "full") {
    std::cerr << "decisions: --grid must be reduced or full, not " << grid << "\n";
    return 2;
  }
  if (runs <= 0) runs = grid == "full" ? 2000 : 200;
  const std::vector<double> rates =
      grid == "full" ? std::vector<double>{2, 20, 200, 2000} : std::vector<double>{20, 200};
  const std::vector<double> intervals =
      grid == "full" ? std::vector<double>{10, 20, 60} : std::vector<double>{10, 20};
  const std::vector<Scenario> scenarios = Scenarios();
  std::vector<Cell> cells;
  for (const Scenario& s : scenarios) {
    if (!only.empty() && ("," + only + ",").find("," + s.id + ",") == std::string::npos) continue;
    for (double rate : rates) {
      for (double interval : intervals) {
        std::vector<std::string> rules = {"classic", "sequential"};
        if (!s.ab) rules = {"classic", "classic+rb", "flagger", "argo", "bayes-v1", "sequential"};
        for (const std::string& rule : rules) {
          // The peers' native cadence does not depend on the cell's interval: run them once.
          const bool native = rule == "flagger" || rule == "argo" || rule == "bayes-v1";
          if (native && interval != intervals.front()) continue;
          cells.push_back({rule, &s, rate, native ? 60 : interval});
        }
      }
    }
  }
  std::vector<Summary> results(cells.size());
  std::atomic<size_t> next_job{0};
  const size_t jobs = cells.size() * static_cast<size_t>(runs);
  std::mutex mu;
  auto worker = [&]() {
    for (;;) {
      const size_t j = next_job.fetch_add(1);
      if (j >= jobs) return;
      const size_t cell = j / static_cast<size_t>(runs);
      const uint64_t run = j % static_cast<size_t>(runs);
      const Cell& c = cells[cell];
      const uint64_t seed =
          std::hash<std::string>{}(StrCat(c.scenario->id, "/", c.rate, "/", c.interval)) ^
          (run * 0x9e3779b97f4a7c15ULL);
      const RunResult r = c.scenario->abn ? RunABN(c, seed) : RunOnce(c, seed);
      std::lock_guard<std::mutex> lock(mu);
      Summary& s = results[cell];
      ++s.runs;
      switch (r.outcome) {
        case Outcome::kPromote:
          ++s.promote;
          break;
        case Outcome::kRollback:
          ++s.rollback;
          break;
        case Outcome::kInconclusive:
        case Outcome::kNoWinner:
          ++s.inconclusive;
          break;
        case Outcome::kWinner:
          if (r.winner == "cand" && c.scenario->correct == "winner") {
            ++s.right_winner;
          } else {
            ++s.wrong_winner;
          }
          break;
      }
      if (r.outcome != Outcome::kInconclusive && r.outcome != Outcome::kNoWinner) {
        s.times.push_back(r.seconds / 60);
      }
      s.slo_errors += r.slo_errors;
      s.candidate_requests += r.candidate_requests;
      s.certified_satisfies += r.certified_satisfies;
      s.certified_violates += r.certified_violates;
    }
  };
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back(worker);
  for (auto& th : pool) th.join();

  std::ofstream csv;
  if (!csv_path.empty()) {
    csv.open(csv_path);
    csv << "rule,scenario,rate,interval,runs,promote,rollback,inconclusive,right_winner,"
           "wrong_winner,median_minutes,mean_slo_errors,mean_candidate_requests,certified_"
           "satisfies,"
           "certified_violates\n";
  }
  std::string md = StrCat(
      "Decision benchmark, grid ", grid, ", ", runs, " runs per cell, counters ",
      g_reading.scrape > 0
          ? StrCat("scraped every ", g_reading.scrape, " s and read ", g_reading.lag, " s late")
          : std::string("read exactly at each check"),
      " (statistics.md 4). FP = false promotion, FR = false "
      "rollback, inc. = inconclusive at 60 min; time = median minutes to a "
      "decision; SLO-err = mean expected errors above the 1 % SLO served by "
      "the candidate before the decision.\n\n");
  for (double rate : rates) {
    for (double interval : intervals) {
      md += StrCat("### ", rate, " req/s, ", interval,
                   " s interval (peers: their native 60 s)\n\n"
                   "| scenario | rule | promote | rollback | inc. | time | SLO-err | verdict |\n"
                   "|---|---|---|---|---|---|---|---|\n");
      for (size_t i = 0; i < cells.size(); ++i) {
        const Cell& c = cells[i];
        if (c.rate != rate) continue;
        // The peers run at their native cadence once per rate and show in every interval's table;
        // our engines' cells belong to their own interval only.
        const bool peer = c.rule == "flagger" || c.rule == "argo" || c.rule == "bayes-v1";
        if (!peer && c.interval != interval) continue;
        const Summary& s = results[i];
        const std::string& want = c.scenario->correct;
        std::string verdict;
        if (want == "promote") verdict = "FR " + Pct(s.rollback, s.runs);
        if (want == "rollback") verdict = "FP " + Pct(s.promote, s.runs);
        if (want == "either") {
          verdict = "FP " + Pct(s.promote, s.runs) + ", FR " + Pct(s.rollback, s.runs);
        }
        if (want == "winner") verdict = "right winner " + Pct(s.right_winner, s.runs);
        if (want == "none") verdict = "false winner " + Pct(s.wrong_winner, s.runs);
        if (c.scenario->abn == 2 && c.rule == "sequential") {
          verdict += StrCat(
              "; certified on a candidate's error rate: ", Pct(s.certified_satisfies, s.runs),
              " satisfies, ", Pct(s.certified_violates, s.runs), " violates");
        }
        if (c.scenario->ab && c.scenario->abn != 2) {
          md += StrCat("| ", c.scenario->id, " | ", c.rule, " | ", Pct(s.right_winner, s.runs),
                       " | ", Pct(s.wrong_winner, s.runs), " (wrong winner) | ",
                       Pct(s.inconclusive, s.runs), " | ", Fixed(Median(s.times)), " | ",
                       c.scenario->abn ? Fixed(s.slo_errors / s.runs) : std::string("-"), " | ",
                       verdict, " |\n");
        } else {
          md += StrCat("| ", c.scenario->id, " | ", c.rule, " | ", Pct(s.promote, s.runs), " | ",
                       Pct(s.rollback, s.runs), " | ", Pct(s.inconclusive, s.runs), " | ",
                       Fixed(Median(s.times)), " | ", Fixed(s.slo_errors / s.runs), " | ", verdict,
                       " |\n");
        }
        if (csv.is_open()) {
          csv << c.rule << "," << c.scenario->id << "," << c.rate << "," << c.interval << ","
              << s.runs << "," << s.promote << "," << s.rollback << "," << s.inconclusive << ","
              << s.right_winner << "," << s.wrong_winner << "," << Fixed(Median(s.times), 2) << ","
              << Fixed(s.slo_errors / s.runs, 2) << "," << Fixed(s.candidate_requests / s.runs, 0)
              << "," << s.certified_satisfies << "," << s.certified_violates << "\n";
        }
      }
      md += "\n";
    }
  }
  std::cout << md;
  if (!md_path.empty()) std::ofstream(md_path) << md;
  return 0;
}

}  // namespace
}  // namespace iter8::bench

int main(int argc, char** argv) { return iter8::bench::Main(argc, argv); }
