// File: analytics/batch_rate.h
//
// Batch-level evidence about a rate that stays valid when errors come in bursts (retries, a
// failing pod, a slow dependency): the requests of one iteration then fail together, the
// per-request beta-binomial test (beta_binomial.h) sees far more evidence than there is, and its
// alpha no longer holds (statistics.md 3.3, "over-dispersion").
//
// Model (random effects per batch): the errors e_j among the n_j requests of batch (iteration)
// j have mean n_j p and variance
//     s n_j p0 (1 - p0) (1 + (n_j - 1) rho)
// at the tested rate p0: s scales the binomial part, rho >= 0 is the intra-batch correlation
// (the share of the variance a batch's common burst explains; rho = 0: independent requests).
// This is the variance of any per-request rate that varies from batch to batch (a n + b n^2), so
// it fits bursts whatever their size, and large batches get the larger dispersion they have.
// With Y_j = (e_j - n_j p0) / sqrt(n_j p0 (1 - p0)) and a_j = sqrt(n_j / (p0 (1 - p0))), Y_j is
// taken as N(theta a_j, v_j), theta = p - p0 (central limit theorem per batch).
//
// The e-process (universal inference with a Bayes mixture numerator):
//   E_K = [ sum_g w_g  integral L(theta, s_g, rho_g) pi(theta) dtheta ]  /  sup_{H0} L
// - numerator: a mixture over a grid of (s, rho) (40 % of the weight on independent requests at
//   p0's variance, 25 % on smaller binomial variances, which rates below p0 have, 35 % on
//   bursts) and over half-normal priors on theta on the alternative's side (scales tau, 3 tau,
//   9 tau), each integral in closed form; any such mixture is a product of predictive densities;
// - denominator: the likelihood maximised over the whole null: theta on the null's side, every
//   s >= 1 (a rate at or beyond p0 has at least p0's binomial variance) and rho in [0, 1]
//   (s in closed form, rho by a fine search, refined), which is at least the likelihood at the
//   true null parameter.
// So E_K is bounded by a nonnegative martingale under every null of the model, and by Ville's
// inequality P(ever E_K >= 1/alpha) <= alpha whatever the bursts. The price: until a few batches
// agree, excess errors could be a burst, so it certifies several batches later than the exact
// test on large batches (measured: docs/decisions.md). The normal model for batch counts is an
// approximation; the sequential engine therefore asks for both this test and the exact
// per-request one, so each guarantee holds where its model does.
//
// Pure functions; thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <vector>

namespace iter8::analytics {

// One batch: requests and errors counted in one iteration.
struct RateBatch {
  double n = 0;
  double e = 0;
};

enum class RateSide {
  kBelow,  // certifies p < p0 (H0: p >= p0)
  kAbove,  // certifies p > p0 (H0: p <= p0)
};

// ln E_K for the side, at rate p0 in (0, 1), prior scale tau > 0 of theta. Batches without
// requests are skipped. 0 without batches or for p0 outside (0, 1).
double LogBatchEvidence(const std::vector<RateBatch>& batches, double p0, RateSide side,
                        double tau);

// Running sums of the batches that the numerator needs, whatever p0 (kept between iterations so
// that most checks cost O(1), not O(batches)): the number of batches, then per rho of the
// numerator's grid sum e^2 / (n v), sum e / v, sum n / v and sum ln v, v = 1 + (n - 1) rho.
struct BatchSums {
  static constexpr size_t kValues = 37;
  std::array<double, kValues> values{};
  void Add(const RateBatch& batch);  // batches without requests are skipped
  static BatchSums Of(const std::vector<RateBatch>& batches);
};

// LogBatchEvidence(batches, ...) >= log_threshold, `sums` being BatchSums::Of(batches): the
// numerator and a lower bound of the null's supremum come from the sums; the supremum is
// searched (O(batches)) only when that bound does not already say no.
bool BatchEvidenceReaches(const BatchSums& sums, const std::vector<RateBatch>& batches, double p0,
                          RateSide side, double tau, double log_threshold);

}  // namespace iter8::analytics
