// File: engine/engine.h
//
// The experiment lifecycle (spec.md 1.4-1.7, 5.3-5.4) as a pure function:
//
//   Step(experiment, observations, now, random) -> StepResult
//
// A StepResult says what the status becomes, which handler (action) to launch, which weight
// fields to patch, whether to release the target to the next waiting experiment, which events
// to record, and when to be called again. The engine does no I/O, reads no clock and draws
// randomness only from the Random it is given (for the classic engine's rounding).
//
// What the engine needs from the world arrives as Observations. Some observations are costly
// (reading Metric resources, reading weights back, querying metric backends), so the controller
// gathers only what the engine asks for: a StepResult with `need != Need::kNothing` carries no
// decision; the controller fills the requested observation and calls Step again with the same
// experiment and `now`. A reconcile is therefore:
//
//   Observations obs = {handler states, target contenders};
//   for (;;) { r = Step(e, obs, now, rnd); if (r.need == kNothing) break; fill obs for r.need; }
//   launch r.launch; apply r.patches; if (r.read_weights_after) RecordWeights(...);
//   write r.status if r.write_status; release the target if asked; requeue after r.requeue_after.
//
// Operator verbs are annotations on the Experiment (so `kubectl annotate` and `iter8 pause`
// are the same thing), see kAnnotation* below; our extensions to the spec (approval gate, dry
// run) are documented in docs/user-guide.md.
//
// Pure functions; thread-safe. Observations and results are values owned by the caller.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "analytics/analytics.h"
#include "api/types.h"
#include "common/random.h"

namespace iter8::engine {

// ---------------------------------------------------------------- reasons (spec.md 1.6)

inline constexpr char kReasonExperimentInitialized[] = "ExperimentInitialized";
inline constexpr char kReasonTargetAcquired[] = "TargetAcquired";
inline constexpr char kReasonIterationUpdate[] = "IterationUpdate";
inline constexpr char kReasonExperimentCompleted[] = "ExperimentCompleted";
inline constexpr char kReasonAnalyticsServiceError[] = "AnalyticsServiceError";
inline constexpr char kReasonMetricUnavailable[] = "MetricUnavailable";
inline constexpr char kReasonMetricsUnreadable[] = "MetricsUnreadable";
inline constexpr char kReasonHandlerLaunched[] = "HandlerLaunched";
inline constexpr char kReasonHandlerFailed[] = "HandlerFailed";
inline constexpr char kReasonLaunchHandlerFailed[] = "LaunchHandlerFailed";
inline constexpr char kReasonWeightRedistributionFailed[] = "WeightRedistributionFailed";
inline constexpr char kReasonInvalidExperiment[] = "InvalidExperiment";
inline constexpr char kReasonStageAdvanced[] = "StageAdvanced";
// v2alpha1 experiments' handler launches (spec.md 1.9), instead of HandlerLaunched.
inline constexpr char kReasonStartHandlerLaunched[] = "StartHandlerLaunched";
inline constexpr char kReasonTerminalHandlerLaunched[] = "TerminalHandlerLaunched";
// Ours (operator verbs); the original has no such reasons.
inline constexpr char kReasonPaused[] = "ExperimentPaused";
inline constexpr char kReasonResumed[] = "ExperimentResumed";
inline constexpr char kReasonAborted[] = "ExperimentAborted";
inline constexpr char kReasonRetried[] = "ExperimentRetried";
inline constexpr char kReasonAwaitingApproval[] = "AwaitingApproval";
inline constexpr char kReasonApproved[] = "ExperimentApproved";

// ---------------------------------------------------------------- operator verbs

// "true" holds traffic where it is and stops iterating; removing it (or any other value)
// resumes. The paused time is reported in the resume message and in status `pausedSeconds`.
inline constexpr char kAnnotationPause[] = "iter8.tools/pause";
// "true" ends the experiment now through the rollback path.
inline constexpr char kAnnotationAbort[] = "iter8.tools/abort";
// Any new value starts a Completed experiment again (status reset, handlers forgotten).
inline constexpr char kAnnotationRetry[] = "iter8.tools/retry";
// "true" lets an experiment with `spec.strategy.requireApproval: true` run its finish step.
inline constexpr char kAnnotationApprove[] = "iter8.tools/approve";

// Extension fields (kept in the spec's `extra`, written by users as plain YAML fields).
inline constexpr char kFieldRequireApproval[] = "requireApproval";  // spec.strategy
inline constexpr char kFieldDryRun[] = "dryRun";                    // spec.strategy

// Status fields of ours, kept in status.extra.
inline constexpr char kStatusPausedAt[] = "pausedAt";
inline constexpr char kStatusPausedSeconds[] = "pausedSeconds";
inline constexpr char kStatusRetry[] = "retry";
inline constexpr char kStatusMetricsUnavailable[] = "metricsUnavailable";
inline constexpr char kStatusAborted[] = "aborted";
// The sequential engine certified the outcome before the last iteration: "promote: why",
// "rollback: why" or "end: why" (the experiment finishes on the next step).
inline constexpr char kStatusDecided[] = "decided";

// ---------------------------------------------------------------- handlers (spec.md 5.3)

enum class HandlerType { kStart, kFinish, kRollback, kFailure, kLoop };
std::string_view ToString(HandlerType type);  // "Start", "Finish", ...

enum class HandlerState { kNotLaunched, kRunning, kComplete, kFailed };

// The action key a handler runs: start, finish (also for rollback and failure), loop.
std::string ActionKey(HandlerType type);
// The handler's (Job's) name: "<exp>-start", "<exp>-finish", "<exp>-loop-<k>".
std::string HandlerName(const std::string& experiment, HandlerType type, int loop = 0);

struct LaunchHandler {
  HandlerType type = HandlerType::kStart;
  std::string name;    // HandlerName(...)
  std::string action;  // key into spec.strategy.actions
  int loop = 0;        // 1-based loop number for kLoop
};

// ---------------------------------------------------------------- observations

// Another experiment on the same `spec.target` whose Completed condition is not True.
struct Contender {
  std::string namespace_;
  std::string name;
  std::optional<absl::Time> init_time;
  bool target_acquired = false;
};

// One metric value for one version, as a provider returned it.
struct MetricValue {
  std::optional<double> value;
  std::optional<double> sample_size;
  std::string error;                          // why there is no value; empty when there is one
  std::string request;                        // the rendered request, for the decision record
  std::optional<analytics::Buckets> buckets;  // the histogram behind a latency value, if any
};

// Metric reference (as written) -> version name -> value.
using MetricValues = std::map<std::string, std::map<std::string, MetricValue>>;

struct Observations {
  // State of each handler by HandlerName; absent = not launched.
  std::map<std::string, HandlerState> handlers;
  // Every other experiment on this experiment's target that has not completed.
  std::vector<Contender> contenders;
  // Why the experiment cannot run as specified, found by the controller before the step (a
  // v2alpha1 handler name that resolves to nothing, engine/v2alpha1.h); non-empty: the step
  // fails the experiment (InvalidExperiment, this message), once.
  std::string invalid;

  // Need::kMetrics: every reference of MetricReferences(), resolved (NotFound = missing).
  std::optional<std::map<std::string, absl::StatusOr<api::Metric>>> metrics;
  // Need::kWeights: the weight read through each version's weightObjRef (versions without one
  // are absent); an error fails the experiment.
  std::optional<absl::StatusOr<std::map<std::string, int32_t>>> weights;
  // Need::kValues: this iteration's value for every metric in status.metrics and version.
  std::optional<MetricValues> values;
  // With values: the raw counter readings behind metrics with `spec.counters`
  // (metrics/counters.h), stored as `status.analysis.counters` when the iteration completes and
  // handed back to the reader next iteration. Null when no metric has counters.
  api::Json counters;
};

// The key of the counter readings in status.analysis.
inline constexpr char kCountersStateKey[] = "counters";

// ---------------------------------------------------------------- results

enum class Need { kNothing, kMetrics, kWeights, kValues };

// One JSON Patch for one object: `add` ops at JSON pointers (spec.md 5.2).
struct WeightPatch {
  api::ObjectReference object;  // namespace resolved (empty = experiment namespace)
  struct Op {
    std::string version;
    std::string pointer;
    int32_t value = 0;
  };
  std::vector<Op> ops;
};

struct Event {
  std::string reason;
  std::string message;
};

struct StepResult {
  Need need = Need::kNothing;  // when set, nothing else in the result applies

  api::ExperimentStatus status;  // the new status
  bool write_status = false;     // status differs from the stored one

  std::optional<LaunchHandler> launch;
  std::vector<WeightPatch> patches;
  // After applying patches, read the weights back (RecordWeights) before writing status.
  bool read_weights_after = false;
  // The experiment reached Completed: wake the next experiment waiting on the same target.
  bool release_target = false;
  // A retry started the experiment again: forget (delete) the handlers of the previous run.
  bool forget_handlers = false;
  // Events recorded (a condition whose status, reason or message changed).
  std::vector<Event> events;
  // Call Step again after this long even if nothing changes (iteration timer).
  std::optional<absl::Duration> requeue_after;

  // The decision record of the iteration this step ran, if it ran one (docs/user-guide.md):
  // {iteration, time, values: {metric: {version: {value|error, request}}}, analysis,
  //  weightsBefore, weightsAfter, winner, decision, why}.
  std::optional<api::Json> record;
};

// The metric references an experiment's criteria name, in order: requestCount, rewards,
// indicators, objectives; duplicates removed. The controller resolves each and follows their
// `sampleSize` references (which it adds to the map it returns).
std::vector<std::string> MetricReferences(const api::ExperimentSpec& spec);

// The namespace/name a reference resolves to (bare names live in the experiment's namespace).
std::string ResolveMetricReference(const std::string& reference,
                                   const std::string& experiment_namespace);

// `.spec.http[0].route[1].weight` -> `/spec/http/0/route/1/weight` (spec.md 5.2).
std::string FieldPathToPointer(const std::string& field_path);

// Adds "set `version`'s weight to `value`" to the patch of the object its weightObjRef names
// (one patch per object; namespace resolved; nothing when the version has no weightObjRef).
void AddWeightOp(const api::Experiment& experiment, const api::VersionDetail& version,
                 int32_t value, std::vector<WeightPatch>* patches);

// One reconcile of `experiment` (its spec as stored, sparse; defaults are applied in memory).
StepResult Step(const api::Experiment& experiment, const Observations& observations, absl::Time now,
                Random& random);

// Applies weights read back after patching (or their read error) to `result->status`.
void RecordWeights(const api::Experiment& experiment,
                   const absl::StatusOr<std::map<std::string, int32_t>>& weights, absl::Time now,
                   StepResult* result);

// The controller could not launch `result->launch`: the experiment ends (spec.md 1.4).
void RecordLaunchFailure(const api::Experiment& experiment, const std::string& error,
                         absl::Time now, StepResult* result);

// How a finished experiment ended, derived from its status.
enum class Outcome { kRunning, kPromoted, kBaselineKept, kRolledBack, kFailed, kAborted };
std::string_view ToString(Outcome outcome);
Outcome ExperimentOutcome(const api::Experiment& experiment);

// The counts behind each value for the analytics engine (`experiment` with status.metrics): a
// value without its own sample size takes the one of its metric's sampleSize metric, else the
// experiment's requestCount metric; latency buckets are passed on.
analytics::EvidenceMap EvidenceFromValues(const api::Experiment& experiment,
                                          const MetricValues& values);

// The classic rule: the first objective with rollback_on_failure that some version does not
// meet in `assessments`, described; nullopt when none (spec.md 4.6).
std::optional<std::string> UnmetRollbackObjective(
    const api::Experiment& experiment, const api::VersionAssessmentAnalysis& assessments);

// A decision record's `values` and back (buckets included), for `iter8 replay`.
api::Json ValuesRecord(const MetricValues& values);
absl::StatusOr<MetricValues> ValuesFromRecord(const api::Json& record);

// The analytics engine an experiment asks for through spec.criteria.strength (absent = classic).
const analytics::Engine& SelectEngine(const api::Experiment& experiment);

}  // namespace iter8::engine
