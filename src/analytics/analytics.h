// File: analytics/analytics.h
//
// Deciding, given the metric values of one iteration: does each version meet its objectives
// (version assessments), who wins (winner assessment), and how much traffic each version gets
// next (weights). Engines sit behind one interface; `classic` (analytics/classic.h) is exactly
// the original iter8-analytics v2, the default.
//
// Pure: engines do no I/O, read no clock and draw randomness only from the Random they are
// given. An engine object holds no mutable state and may be shared between threads; the Random
// passed to a call must not be.
#pragma once

#include <string>
#include <vector>

#include "api/types.h"
#include "common/random.h"

namespace iter8::analytics {

// Messages of one analysis section, rendered as the original did:
// "Error: e1, e2; Warning: w1; Info: i1" (every part present, possibly empty).
struct Messages {
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
  std::vector<std::string> infos;
  std::string Join() const;
};

// Everything an engine reads. `experiment` must be defaulted (api::ApplyDefaults); its status
// supplies the current weights. `aggregated` holds this iteration's values (a missing entry or
// an absent value means unavailable).
struct AnalyticsInput {
  const api::Experiment& experiment;
  const api::AggregatedMetricsAnalysis& aggregated;
};

// The sections an engine computes; provenance and timestamps are left to the caller.
struct AnalyticsOutput {
  api::VersionAssessmentAnalysis version_assessments;
  api::WinnerAssessmentAnalysis winner_assessment;
  api::WeightsAnalysis weights;
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual AnalyticsOutput Analyze(const AnalyticsInput& input, Random& random) const = 0;
};

// The original's metric-collection error, with the run of 29 spaces its Python line
// continuation left in the message (spec.md 4.1).
std::string MetricsBackendError(const std::string& metric, const std::string& version);

}  // namespace iter8::analytics
