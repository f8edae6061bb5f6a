// File: analytics/normal_mixture.h
//
// Anytime-valid evidence about a mean (mean latency) from cumulative sum T and count N
// (statistics.md 3.4): the asymptotic normal-mixture confidence sequence
//
//   r(V) = sqrt((V + rho) (ln(1 + V/rho) + 2 ln(1/alpha))),   CS = [(T - r)/N, (T + r)/N]
//
// where V accumulates n_j times a variance estimated before batch j (predictable), and rho
// places the tightest point of the boundary near N_opt requests. SATISFIES "mean <= L" when the
// upper end is <= L, VIOLATES when the lower end is > L. Also the variance estimate from
// histogram buckets and the strict (non-asymptotic) empirical-Bernstein boundary for latencies
// bounded by the request timeout.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

namespace iter8::analytics {

// rho = sigma2 N_opt / (2 ln(1/alpha) + ln(1 + 2 ln(1/alpha))).
double NormalMixtureRho(double sigma2, double n_opt, double alpha);
// r(V) above.
double NormalMixtureRadius(double intrinsic_time, double rho, double alpha);

struct MeanInterval {
  double lower;
  double upper;
};
// [(T - r)/N, (T + r)/N] with r = NormalMixtureRadius(V, rho, alpha); (-inf, inf) when N = 0.
MeanInterval MeanConfidenceInterval(double sum, double count, double intrinsic_time, double rho,
                                    double alpha);

// Variance of latencies from histogram buckets: sum_i C_i (m_i^2 + w_i^2 / 12) / N - (T/N)^2,
// bucket i spanning (bound_{i-1}, bound_i] (from 0), counts per bucket (not cumulative); the
// overflow bucket spans (last bound, max_latency]. Returns 0 without observations.
double HistogramVariance(const std::vector<double>& upper_bounds,
                         const std::vector<double>& bucket_counts, double overflow_count,
                         double max_latency, double sum);

// The strict variant's boundary u(v): polynomial stitching for sub-gamma processes with scale c
// (the latency bound B_max), s = 1.4, eta = 2, tight from intrinsic time v_min on. SATISFIES
// "mean <= L" when T - L N <= -u(V); VIOLATES when T - L N >= u(V).
double StitchingBoundary(double v, double v_min, double scale, double alpha);

}  // namespace iter8::analytics
