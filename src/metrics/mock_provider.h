// File: metrics/mock_provider.h
//
// The original's mock metrics (spec.md 2.5): `spec.mock` gives a level per version name.
// Counter: value = elapsed seconds x level. Gauge: value = 2 x level x a Beta(e, e) draw with
// e = elapsed seconds, so the mean is the level and the spread shrinks as the experiment runs.
// Elapsed is whole seconds since the start, at least 1.
//
// Randomness comes from the Random given at construction, which the provider borrows; like the
// Random, a MockProvider must not be shared between threads.
#pragma once

#include "common/random.h"
#include "metrics/provider.h"

namespace iter8::metrics {

class MockProvider final : public MetricProvider {
 public:
  explicit MockProvider(Random& random) : random_(random) {}
  MetricResult Query(const api::Metric& metric, const api::VersionDetail& version,
                     const QueryContext& context) override;

 private:
  Random& random_;
};

// A Beta(a, a) draw (a >= 1) from two Gamma draws (Marsaglia-Tsang); exposed for tests.
double SampleSymmetricBeta(double a, Random& random);

}  // namespace iter8::metrics
