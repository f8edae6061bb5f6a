// File: analytics/analytics.h
//
// Deciding, given the metric values of one iteration: does each version meet its objectives
// (version assessments), who wins (winner assessment), and how much traffic each version gets
// next (weights). Engines sit behind one interface; `classic` (analytics/classic.h) is exactly
// the original iter8-analytics v2, the default; `sequential` (analytics/sequential.h) makes
// anytime-valid decisions with a stated error rate. An engine that keeps state between
// iterations returns it in AnalyticsOutput::state and reads it back from the experiment's status.
//
// Pure: engines do no I/O, read no clock and draw randomness only from the Random they are
// given. An engine object holds no mutable state and may be shared between threads; the Random
// passed to a call must not be.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
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

// Cumulative evidence behind one metric value of one version since the experiment started, for
// engines that need more than the point value (the sequential engine, statistics.md 3.2).
struct Buckets {
  std::vector<double> upper_bounds;  // ascending, in the metric's unit; the last may be +Inf
  std::vector<double> cumulative;    // observations <= upper_bounds[i]
};
struct Evidence {
  std::optional<double> value;
  std::optional<double> count;     // observations behind `value` (requests), when known
  std::optional<Buckets> buckets;  // the latency histogram behind `value`, when known
};
// Metric reference (as written) -> version name -> evidence.
using EvidenceMap = std::map<std::string, std::map<std::string, Evidence>>;

// Everything an engine reads. `experiment` must be defaulted (api::ApplyDefaults); its status
// supplies the current weights. `aggregated` holds this iteration's values (a missing entry or
// an absent value means unavailable).
struct AnalyticsInput {
  const api::Experiment& experiment;
  const api::AggregatedMetricsAnalysis& aggregated;
  // Counts and histograms behind the aggregated values (null: only `aggregated` is known).
  const EvidenceMap* evidence = nullptr;
};

// What the experiment should do now, beyond moving traffic. The classic engine always says
// kContinue (the original decides only at the end, or by rollback_on_failure in the controller).
enum class Decision {
  kContinue,  // keep iterating
  kPromote,   // the winner is certified: finish now (stopEarly) with it
  kRollback,  // a certified violation: roll back now
  kEnd,       // certified, without a winner (conformance violated, no meaningful difference)
};
// "continue", "promote", "rollback", "end".
std::string_view ToString(Decision decision);

// The aggregated metrics an engine reads, from evidence: each value as a Quantity (non-finite
// values left out), each count as the sample size (when it fits).
api::AggregatedMetricsAnalysis AggregatedFromEvidence(const EvidenceMap& evidence);

// The sections an engine computes; provenance and timestamps are left to the caller.
struct AnalyticsOutput {
  api::VersionAssessmentAnalysis version_assessments;
  api::WinnerAssessmentAnalysis winner_assessment;
  api::WeightsAnalysis weights;
  Decision decision = Decision::kContinue;
  std::string reason;  // one line: why this decision (for records and progress lines)
  // Engine state to keep between iterations (sticky verdicts, accumulators) and to explain the
  // decision; stored by the caller in status.analysis.extra[StateKey()] and handed back through
  // the experiment's status next time. Null for stateless engines.
  api::Json state = nullptr;
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual AnalyticsOutput Analyze(const AnalyticsInput& input, Random& random) const = 0;
  // "classic", "sequential": the analyses' provenance is "iter8/<Name()>".
  virtual std::string Name() const = 0;
};

// The original's metric-collection error, with the run of 29 spaces its Python line
// continuation left in the message (spec.md 4.1).
std::string MetricsBackendError(const std::string& metric, const std::string& version);

}  // namespace iter8::analytics
