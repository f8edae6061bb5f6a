#include "engine/engine.h"

#include <gtest/gtest.h>

#include <functional>
#include <limits>

#include "api/document.h"
#include "api/load.h"
#include "common/strings.h"

namespace iter8::engine {
namespace {

using api::ConditionStatus;
using api::Experiment;
using api::Stage;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

constexpr char kCanary[] = R"(
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: exp
  namespace: ns
spec:
  target: model
  strategy:
    testingPattern: Canary
  criteria:
    requestCount: request-count
    objectives:
    - metric: mean-latency
      upperLimit: 1000
    - metric: error-rate
      upperLimit: "0.01"
  duration:
    intervalSeconds: 10
    iterationsPerLoop: 3
  versionInfo:
    baseline:
      name: default
      weightObjRef:
        apiVersion: iter8.tools/v1
        kind: Route
        name: model
        fieldPath: .spec.versions[0].weight
    candidates:
    - name: canary
      weightObjRef:
        apiVersion: iter8.tools/v1
        kind: Route
        name: model
        fieldPath: .spec.versions[1].weight
)";

Experiment Load(const std::string& yaml) {
  auto docs = api::ParseDocuments(yaml, "test.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  auto e = api::LoadExperiment(docs->front());
  EXPECT_TRUE(e.ok()) << e.status();
  return *e;
}

const api::ExperimentCondition& Cond(const Experiment& e, std::string_view type) {
  for (const auto& c : e.status.conditions) {
    if (c.type == type) return c;
  }
  static api::ExperimentCondition none;
  ADD_FAILURE() << "no condition " << type;
  return none;
}

// A scripted world: what the controller would read and how it applies actions.
struct World {
  std::map<std::string, absl::StatusOr<api::Metric>> metrics;
  std::map<std::string, int32_t> weights;  // by version
  absl::Status weight_error;
  // Value of metric for version at iteration time; nullopt = backend error.
  api::Json counters;  // handed to the engine with the values
  std::function<std::optional<double>(const std::string&, const std::string&)> value =
      [](const std::string& metric, const std::string&) -> std::optional<double> {
    if (metric == "mean-latency") return 20.0;
    if (metric == "error-rate") return 0.0;
    return 100.0;
  };
  std::map<std::string, HandlerState> handlers;
  std::vector<Contender> contenders;
  std::vector<WeightPatch> applied;
  std::vector<LaunchHandler> launched;
  std::vector<api::Json> records;
  int value_queries = 0;

  World() {
    for (const char* m : {"request-count", "mean-latency", "error-rate"}) {
      api::Metric metric;
      metric.metadata.name = m;
      metric.metadata.namespace_ = "ns";
      metrics.emplace(m, metric);
    }
    weights = {{"default", 100}, {"canary", 0}};
  }

  // One reconcile as the controller performs it; returns the final result and updates `e`.
  StepResult Reconcile(Experiment* e, absl::Time now, Random& random) {
    Observations obs;
    obs.handlers = handlers;
    obs.contenders = contenders;
    StepResult r;
    for (int guard = 0; guard < 5; ++guard) {
      r = Step(*e, obs, now, random);
      if (r.need == Need::kNothing) break;
      switch (r.need) {
        case Need::kMetrics:
          obs.metrics = metrics;
          break;
        case Need::kWeights:
          obs.weights = Weights();
          break;
        case Need::kValues: {
          ++value_queries;
          MetricValues values;
          for (const auto& mi : e->status.metrics) {
            for (const auto& v : api::VersionNames(e->spec)) {
              std::optional<double> x = value(mi.name, v);
              MetricValue mv;
              if (x) {
                mv.value = *x;
              } else {
                mv.error = "connection refused";
              }
              values[mi.name][v] = mv;
            }
          }
          obs.values = values;
          obs.counters = counters;
          break;
        }
        case Need::kNothing:
          break;
      }
    }
    EXPECT_EQ(r.need, Need::kNothing);
    if (r.launch) launched.push_back(*r.launch);
    for (const auto& p : r.patches) {
      applied.push_back(p);
      for (const auto& op : p.ops) weights[op.version] = op.value;
    }
    if (r.read_weights_after) RecordWeights(*e, Weights(), now, &r);
    if (r.record) records.push_back(*r.record);
    if (r.write_status) e->status = r.status;
    return r;
  }

  absl::StatusOr<std::map<std::string, int32_t>> Weights() const {
    if (!weight_error.ok()) return weight_error;
    return weights;
  }

  // Reconciles until Completed or `max_steps`, advancing time by requeue_after each step.
  absl::Time RunToCompletion(Experiment* e, absl::Time now, Random& random, int max_steps = 200) {
    for (int i = 0; i < max_steps; ++i) {
      StepResult r = Reconcile(e, now, random);
      if (e->status.stage == Stage::kCompleted) return now;
      if (r.launch) handlers[r.launch->name] = HandlerState::kComplete;
      now += r.requeue_after.value_or(absl::ZeroDuration());
    }
    ADD_FAILURE() << "not completed after " << max_steps << " steps: " << e->status.message;
    return now;
  }
};

// Drives a fresh experiment to the point where it is Running with no iteration done.
Experiment ToRunning(World& w, const std::string& yaml, Random& random) {
  Experiment e = Load(yaml);
  for (int i = 0; i < 6 && e.status.stage != Stage::kRunning; ++i) {
    StepResult r = w.Reconcile(&e, kT0, random);
    if (r.launch) w.handlers[r.launch->name] = HandlerState::kComplete;
  }
  EXPECT_EQ(e.status.stage, Stage::kRunning) << e.status.message;
  return e;
}

std::string With(std::string yaml, const std::string& from, const std::string& to) {
  const size_t at = yaml.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return yaml.replace(at, from.size(), to);
}

// ---------------------------------------------------------------- initialisation

TEST(EngineTest, FirstSightInitialisesStatus) {
  Experiment e = Load(kCanary);
  World w;
  SequenceRandom rnd({0.5});
  StepResult r = w.Reconcile(&e, kT0, rnd);
  EXPECT_TRUE(r.write_status);
  EXPECT_EQ(e.status.stage, Stage::kWaiting);
  EXPECT_EQ(e.status.init_time, kT0);
  EXPECT_EQ(e.status.last_update_time, kT0);
  EXPECT_EQ(e.status.completed_iterations, 0);
  ASSERT_EQ(e.status.conditions.size(), 3u);
  EXPECT_EQ(e.status.conditions[0].type, "Completed");
  EXPECT_EQ(e.status.conditions[1].type, "Failed");
  EXPECT_EQ(e.status.conditions[2].type, "TargetAcquired");
  EXPECT_EQ(Cond(e, "Failed").status, ConditionStatus::kFalse);
  EXPECT_EQ(Cond(e, "TargetAcquired").status, ConditionStatus::kFalse);
  EXPECT_EQ(e.status.message, "ExperimentInitialized: Experiment status initialized");
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].reason, "ExperimentInitialized");
  EXPECT_FALSE(e.status.start_time);
}

TEST(EngineTest, AcquiresTargetThenAdvancesToInitializingThenRunning) {
  Experiment e = Load(kCanary);
  World w;
  SequenceRandom rnd({0.5});
  w.Reconcile(&e, kT0, rnd);
  StepResult r = w.Reconcile(&e, kT0 + absl::Seconds(1), rnd);
  EXPECT_EQ(e.status.message, "TargetAcquired");
  EXPECT_EQ(Cond(e, "TargetAcquired").status, ConditionStatus::kTrue);
  EXPECT_EQ(Cond(e, "TargetAcquired").reason, "TargetAcquired");
  EXPECT_EQ(e.status.stage, Stage::kWaiting);

  w.Reconcile(&e, kT0 + absl::Seconds(2), rnd);
  EXPECT_EQ(e.status.stage, Stage::kInitializing);
  EXPECT_EQ(e.status.message, "StageAdvanced: Advanced to Initializing");

  r = w.Reconcile(&e, kT0 + absl::Seconds(3), rnd);
  ASSERT_EQ(e.status.metrics.size(), 3u);
  EXPECT_EQ(e.status.metrics[0].name, "request-count");
  EXPECT_EQ(e.status.metrics[1].name, "mean-latency");
  EXPECT_EQ(e.status.metrics[2].name, "error-rate");
  EXPECT_EQ(r.requeue_after, absl::ZeroDuration());

  w.weights = {{"default", 80}, {"canary", 20}};
  w.Reconcile(&e, kT0 + absl::Seconds(4), rnd);
  EXPECT_EQ(e.status.stage, Stage::kRunning);
  EXPECT_EQ(e.status.message, "StageAdvanced: Advanced to Running");
  ASSERT_EQ(e.status.current_weight_distribution.size(), 2u);
  EXPECT_EQ(e.status.current_weight_distribution[0].name, "default");
  EXPECT_EQ(e.status.current_weight_distribution[0].value, 80);
  EXPECT_EQ(e.status.current_weight_distribution[1].value, 20);
  EXPECT_EQ(w.value_queries, 0);
}

TEST(EngineTest, WaitsWhileAnotherExperimentOwnsTheTarget) {
  Experiment e = Load(kCanary);
  World w;
  SequenceRandom rnd({0.5});
  w.Reconcile(&e, kT0, rnd);
  w.contenders = {{"other", "x", kT0 + absl::Seconds(5), true}};
  StepResult r = w.Reconcile(&e, kT0 + absl::Seconds(1), rnd);
  EXPECT_FALSE(r.write_status);
  EXPECT_FALSE(r.requeue_after);
  EXPECT_EQ(Cond(e, "TargetAcquired").status, ConditionStatus::kFalse);
  EXPECT_EQ(e.status.stage, Stage::kWaiting);
}

TEST(EngineTest, EarliestInitTimeAcquiresTheTargetTiesByName) {
  Experiment e = Load(kCanary);  // ns/exp
  World w;
  SequenceRandom rnd({0.5});
  w.Reconcile(&e, kT0, rnd);
  w.contenders = {{"ns", "earlier", kT0 - absl::Seconds(1), false}};
  EXPECT_FALSE(w.Reconcile(&e, kT0 + absl::Seconds(1), rnd).write_status);
  w.contenders = {{"ns", "aaa", kT0, false}};  // same initTime, sorts first
  EXPECT_FALSE(w.Reconcile(&e, kT0 + absl::Seconds(1), rnd).write_status);
  w.contenders = {{"ns", "zzz", kT0, false}, {"ns", "later", kT0 + absl::Seconds(1), false}};
  w.Reconcile(&e, kT0 + absl::Seconds(1), rnd);
  EXPECT_EQ(Cond(e, "TargetAcquired").status, ConditionStatus::kTrue);
}

// ---------------------------------------------------------------- start handler and metrics

constexpr char kActions[] = R"(
  strategy:
    testingPattern: Canary
    actions:
      start:
      - task: common/exec
      finish:
      - task: common/exec
)";

std::string WithActions() {
  return With(kCanary, "\n  strategy:\n    testingPattern: Canary\n", kActions);
}

TEST(EngineTest, StartHandlerLaunchedOnceThenWaitedFor) {
  Experiment e = Load(WithActions());
  World w;
  SequenceRandom rnd({0.5});
  for (int i = 0; i < 3; ++i) w.Reconcile(&e, kT0, rnd);
  ASSERT_EQ(e.status.stage, Stage::kInitializing);
  StepResult r = w.Reconcile(&e, kT0, rnd);
  ASSERT_TRUE(r.launch);
  EXPECT_EQ(r.launch->name, "exp-start");
  EXPECT_EQ(r.launch->action, "start");
  EXPECT_EQ(r.launch->type, HandlerType::kStart);
  EXPECT_EQ(e.status.message, "HandlerLaunched: Start handler 'start' launched");

  w.handlers["exp-start"] = HandlerState::kRunning;
  r = w.Reconcile(&e, kT0, rnd);
  EXPECT_FALSE(r.launch);
  EXPECT_FALSE(r.write_status);

  w.handlers["exp-start"] = HandlerState::kComplete;
  r = w.Reconcile(&e, kT0, rnd);
  EXPECT_FALSE(r.launch);
  EXPECT_EQ(e.status.metrics.size(), 3u);
}

TEST(EngineTest, FailedHandlerFailsTheExperiment) {
  Experiment e = Load(WithActions());
  World w;
  SequenceRandom rnd({0.5});
  for (int i = 0; i < 4; ++i) w.Reconcile(&e, kT0, rnd);
  w.handlers["exp-start"] = HandlerState::kFailed;
  StepResult r = w.Reconcile(&e, kT0, rnd);
  EXPECT_TRUE(r.release_target);
  EXPECT_EQ(Cond(e, "Failed").status, ConditionStatus::kTrue);
  EXPECT_EQ(Cond(e, "Failed").reason, "HandlerFailed");
  EXPECT_EQ(Cond(e, "Failed").message, "Start actions failed");
  EXPECT_EQ(Cond(e, "Completed").status, ConditionStatus::kTrue);
  EXPECT_EQ(e.status.stage, Stage::kCompleted);
  EXPECT_EQ(e.status.message, "ExperimentCompleted: Start actions failed");
  EXPECT_EQ(ExperimentOutcome(e), Outcome::kFailed);
  // Completed experiments are left alone.
  r = w.Reconcile(&e, kT0 + absl::Hours(1), rnd);
  EXPECT_FALSE(r.write_status);
}

TEST(EngineTest, MissingMetricFailsWithTheOriginalMessages) {
  struct Case {
    absl::Status status;
    std::string reason, message;
  };
  for (const Case& c : {Case{absl::NotFoundError("gone"), "MetricUnavailable",
                             "Unable to find metric ns/mean-latency"},
                        Case{absl::InvalidArgumentError("bad yaml"), "MetricsUnreadable",
                             "Unable to load metric ns/mean-latency"}}) {
    Experiment e = Load(kCanary);
    World w;
    w.metrics.erase("mean-latency");
    w.metrics.emplace("mean-latency", c.status);
    SequenceRandom rnd({0.5});
    for (int i = 0; i < 4; ++i) w.Reconcile(&e, kT0, rnd);
    EXPECT_EQ(Cond(e, "Failed").reason, c.reason);
    EXPECT_EQ(Cond(e, "Failed").message, c.message);
    EXPECT_EQ(e.status.message, "ExperimentCompleted: Experiment failed");
    EXPECT_TRUE(e.status.metrics.empty());
  }
}

TEST(EngineTest, WeightReadBackRules) {
  SequenceRandom rnd({0.5});
  {  // read error
    World w;
    w.weight_error = absl::NotFoundError("routes \"model\" not found");
    Experiment e = Load(kCanary);
    for (int i = 0; i < 5; ++i) w.Reconcile(&e, kT0, rnd);
    EXPECT_EQ(Cond(e, "Failed").reason, "InvalidExperiment");
    EXPECT_EQ(Cond(e, "Failed").message,
              "Specification of version weightObjectRef invalid: routes \"model\" not found");
  }
  {  // one version without a weightObjRef gets 100 - sum(others)
    World w;
    w.weights = {{"canary", 30}};
    std::string yaml = kCanary;
    const size_t at = yaml.find("      weightObjRef:");
    yaml.erase(at, yaml.find("    candidates:") - at);
    Experiment e = Load(yaml);
    for (int i = 0; i < 5; ++i) w.Reconcile(&e, kT0, rnd);
    ASSERT_EQ(e.status.stage, Stage::kRunning) << e.status.message;
    ASSERT_EQ(e.status.current_weight_distribution.size(), 2u);
    EXPECT_EQ(e.status.current_weight_distribution[0].value, 70);
    EXPECT_EQ(e.status.current_weight_distribution[1].value, 30);
  }
  {  // two without: cannot read
    World w;
    std::string yaml = kCanary;
    yaml.erase(yaml.find("      weightObjRef:"));
    yaml += "    candidates:\n    - name: canary\n";
    Experiment e = Load(yaml);
    for (int i = 0; i < 5; ++i) w.Reconcile(&e, kT0, rnd);
    EXPECT_EQ(Cond(e, "Failed").message,
              "Specification of version weightObjectRef invalid: Unable to read version weights; "
              "insufficient number of weightObjectRef specified");
  }
}

TEST(EngineTest, InvalidVersionInfoFailsBeforeTheFirstIteration) {
  std::string yaml =
      With(kCanary, "    - name: canary\n", "    - name: other\n    - name: canary\n");
  Experiment e = Load(yaml);
  World w;
  w.weights["other"] = 0;
  SequenceRandom rnd({0.5});
  for (int i = 0; i < 6; ++i) w.Reconcile(&e, kT0, rnd);
  EXPECT_EQ(Cond(e, "Failed").reason, "InvalidExperiment");
  EXPECT_EQ(Cond(e, "Failed").message, "Invalid number of candidates for Canary experiment");
  EXPECT_EQ(w.value_queries, 0);
  EXPECT_FALSE(e.status.start_time);
}

// ---------------------------------------------------------------- iterations

TEST(EngineTest, FirstIterationAtOnceThenEveryIntervalLessSlack) {
  World w;
  SequenceRandom rnd({0.5});
  Experiment e = ToRunning(w, kCanary, rnd);
  const absl::Time t1 = kT0 + absl::Seconds(1);
  StepResult r = w.Reconcile(&e, t1, rnd);
  EXPECT_EQ(e.status.start_time, t1);
  EXPECT_EQ(e.status.completed_iterations, 1);
  EXPECT_EQ(e.status.last_update_time, t1);
  EXPECT_EQ(e.status.message, "IterationUpdate: Completed Iteration 1");
  EXPECT_EQ(r.requeue_after, absl::Seconds(10) - absl::Milliseconds(100));
  ASSERT_TRUE(e.status.analysis);
  EXPECT_EQ(e.status.version_recommended_for_promotion, "canary");
  EXPECT_TRUE(e.status.analysis->winner_assessment->data.winner_found);
  EXPECT_EQ(e.status.analysis->aggregated_metrics->data.at("mean-latency").data.at("canary").value,
            api::Quantity::FromInt(20));
  // The canary wins: traffic shifts by at most maxCandidateWeightIncrement (10) points.
  ASSERT_EQ(w.applied.size(), 1u);
  EXPECT_EQ(w.applied[0].object.name, "model");
  EXPECT_EQ(w.applied[0].object.namespace_, "ns");
  ASSERT_EQ(w.applied[0].ops.size(), 2u);
  EXPECT_EQ(w.applied[0].ops[0].pointer, "/spec/versions/0/weight");
  EXPECT_EQ(w.applied[0].ops[0].value, 90);
  EXPECT_EQ(w.applied[0].ops[1].pointer, "/spec/versions/1/weight");
  EXPECT_EQ(w.applied[0].ops[1].value, 10);
  EXPECT_EQ(e.status.current_weight_distribution[1].value, 10);  // read back

  // Too early: no query, requeued for the remaining time.
  r = w.Reconcile(&e, t1 + absl::Seconds(5), rnd);
  EXPECT_EQ(w.value_queries, 1);
  EXPECT_EQ(r.requeue_after, absl::Seconds(5) - absl::Milliseconds(100));
  // Exactly at lastUpdateTime + interval - 100 ms: iterates.
  w.Reconcile(&e, t1 + absl::Seconds(10) - absl::Milliseconds(100), rnd);
  EXPECT_EQ(e.status.completed_iterations, 2);
  ASSERT_EQ(w.records.size(), 2u);
  EXPECT_EQ(w.records[1]["iteration"], 2);
  EXPECT_EQ(w.records[1]["weightsBefore"]["canary"], 10);
  EXPECT_EQ(w.records[1]["recommendedWeights"]["canary"], 20);
  EXPECT_EQ(w.records[1]["decision"], "shift traffic");
}

TEST(EngineTest, OnlyChangedWeightsArePatched) {
  World w;
  SequenceRandom rnd({0.5});
  Experiment e = ToRunning(w, kCanary, rnd);
  w.value = [](const std::string& m, const std::string& v) -> std::optional<double> {
    if (m == "error-rate") return v == "canary" ? 0.5 : 0.0;  // the canary fails
    return 1.0;
  };
  w.Reconcile(&e, kT0, rnd);
  // No winner: the baseline gets the 90 % exploitation share plus half the exploration, the
  // canary the other half (5): it changed from 0, so both fields are patched.
  EXPECT_EQ(e.status.version_recommended_for_promotion, "default");
  ASSERT_EQ(w.applied.size(), 1u);
  EXPECT_EQ(w.applied[0].ops.size(), 2u);
  EXPECT_EQ(w.weights["canary"], 5);
  EXPECT_EQ(w.weights["default"], 95);
  // Same data again: the same recommendation, nothing to patch.
  w.applied.clear();
  w.Reconcile(&e, kT0 + absl::Seconds(10), rnd);
  EXPECT_EQ(e.status.completed_iterations, 2);
  EXPECT_TRUE(w.applied.empty());
}

TEST(EngineTest, LastIterationIsFollowedByFinishWithoutWaiting) {
  World w;
  SequenceRandom rnd({0.5});
  Experiment e = ToRunning(w, kCanary, rnd);
  absl::Time end = w.RunToCompletion(&e, kT0, rnd);
  EXPECT_EQ(e.status.completed_iterations, 3);
  EXPECT_EQ(w.value_queries, 3);
  EXPECT_EQ(end, kT0 + absl::Seconds(20) - absl::Milliseconds(100));
  EXPECT_EQ(e.status.stage, Stage::kCompleted);
  EXPECT_EQ(e.status.message, "ExperimentCompleted: Experiment completed successfully");
  EXPECT_EQ(Cond(e, "Failed").status, ConditionStatus::kFalse);
  EXPECT_EQ(ExperimentOutcome(e), Outcome::kPromoted);
  EXPECT_EQ(w.weights["canary"], 30);
}

TEST(EngineTest, FinishActionRunsAndCompletesTheExperiment) {
  World w;
  SequenceRandom rnd({0.5});
  Experiment e = ToRunning(w, WithActions(), rnd);
  ASSERT_EQ(w.launched.size(), 1u);  // start
  w.RunToCompletion(&e, kT0, rnd);
  ASSERT_EQ(w.launched.size(), 2u);
  EXPECT_EQ(w.launched[1].name, "exp-finish");
  EXPECT_EQ(w.launched[1].type, HandlerType::kFinish);
  EXPECT_EQ(e.status.message, "ExperimentCompleted: Experiment Completed");
}

TEST(EngineTest, FinishHandlerLaunchMovesToFinishing) {
  World w;
  SequenceRandom rnd({0.5});
  std::string yaml = With(WithActions(), "iterationsPerLoop: 3", "iterationsPerLoop: 1");
  Experiment e = ToRunning(w, yaml, rnd);
  w.Reconcile(&e, kT0, rnd);  // iteration 1
  StepResult r = w.Reconcile(&e, kT0, rnd);
  ASSERT_TRUE(r.launch);
  EXPECT_EQ(e.status.stage, Stage::kFinishing);
  EXPECT_EQ(e.status.message, "HandlerLaunched: Finish handler 'finish' launched");
  w.handlers["exp-finish"] = HandlerState::kRunning;
  EXPECT_FALSE(w.Reconcile(&e, kT0, rnd).write_status);
  w.handlers["exp-finish"] = HandlerState::kFailed;
  w.Reconcile(&e, kT0, rnd);
  EXPECT_EQ(Cond(e, "Failed").message, "Finish actions failed");
  EXPECT_EQ(e.status.message, "ExperimentCompleted: Finish actions failed");
}

TEST(EngineTest, LoopActionsRunAfterEachLoopAndWeightsAreReRead) {
  std::string yaml = With(kCanary, "iterationsPerLoop: 3", "iterationsPerLoop: 2\n    maxLoops: 2");
  yaml = With(yaml, "    testingPattern: Canary\n",
              "    testingPattern: Canary\n    actions:\n      loop:\n      - task: common/exec\n");
  World w;
  SequenceRandom rnd({0.5});
  Experiment e = ToRunning(w, yaml, rnd);
  w.Reconcile(&e, kT0, rnd);
  StepResult r = w.Reconcile(&e, kT0 + absl::Seconds(10), rnd);
  ASSERT_TRUE(r.launch);
  EXPECT_EQ(r.launch->name, "exp-loop-1");
  EXPECT_EQ(e.status.message, "HandlerLaunched: Loop handler 'loop' launched");
  w.handlers["exp-loop-1"] = HandlerState::kComplete;
  w.weights["canary"] = 42;  // changed by the loop action
  w.Reconcile(&e, kT0 + absl::Seconds(11), rnd);
  EXPECT_EQ(e.status.current_weight_distribution[1].value, 42);
  w.RunToCompletion(&e, kT0 + absl::Seconds(20), rnd);
  EXPECT_EQ(e.status.completed_iterations, 4);
  EXPECT_EQ(w.launched.back().name, "exp-loop-2");
}

constexpr char kRollbackObjective[] = R"(
    - metric: error-rate
      upperLimit: "0.01"
      rollback_on_failure: true
)";

TEST(EngineTest, RollbackObjectiveEndsTheExperimentAndKeepsTheRecommendation) {
  std::string yaml = With(kCanary, "    - metric: error-rate\n      upperLimit: \"0.01\"\n",
                          kRollbackObjective + 1);
  World w;
  SequenceRandom rnd({0.5});
  Experiment e = ToRunning(w, yaml, rnd);
  w.Reconcile(&e, kT0, rnd);
  ASSERT_EQ(e.status.version_recommended_for_promotion, "canary");
  w.value = [](const std::string& m, const std::string& v) -> std::optional<double> {
    if (m == "error-rate") return v == "canary" ? 0.2 : 0.0;
    return 1.0;
  };
  w.applied.clear();
  StepResult r = w.Reconcile(&e, kT0 + absl::Seconds(10), rnd);
  EXPECT_TRUE(r.release_target);
  EXPECT_TRUE(w.applied.empty());
  EXPECT_EQ(e.status.completed_iterations, 1);                      // not counted
  EXPECT_EQ(e.status.version_recommended_for_promotion, "canary");  // quirk: kept
  EXPECT_EQ(e.status.message, "ExperimentCompleted: Experiment rolled back");
  EXPECT_EQ(ExperimentOutcome(e), Outcome::kRolledBack);
  EXPECT_EQ(w.records.back()["decision"], "rollback");
}

TEST(EngineTest, BlueGreenRollsBackAtIterationOneWhenMetricsAreMissing) {
  std::string yaml = With(kCanary, "    testingPattern: Canary\n",
                          "    testingPattern: Canary\n    deploymentPattern: BlueGreen\n");
  World w;
  w.value = [](const std::string&, const std::string&) { return std::nullopt; };
  SequenceRandom rnd({0.5});
  Experiment e = ToRunning(w, yaml, rnd);
  w.Reconcile(&e, kT0, rnd);
  EXPECT_EQ(e.status.message, "ExperimentCompleted: Experiment rolled back");
  EXPECT_EQ(e.status.completed_iterations, 0);
}

TEST(EngineTest, UnavailableMetricsHoldTrafficAndAreReported) {
  World w;
  w.value = [](const std::string& m, const std::string& v) -> std::optional<double> {
    if (v == "canary") return std::nullopt;
    return m == "error-rate" ? 0.0 : 1.0;
  };
  SequenceRandom rnd({0.5});
  Experiment e = ToRunning(w, kCanary, rnd);
  w.Reconcile(&e, kT0, rnd);
  EXPECT_TRUE(w.applied.empty());
  EXPECT_EQ(w.weights["canary"], 0);
  EXPECT_EQ(e.status.completed_iterations, 1);
  EXPECT_EQ(e.status.version_recommended_for_promotion, "default");
  EXPECT_NE(e.status.message.find("Completed Iteration 1; metrics unavailable (request-count for "
                                  "canary: connection refused;"),
            std::string::npos)
      << e.status.message;
  EXPECT_EQ(w.records.back()["decision"], "hold");
  const std::string agg_msg = *e.status.analysis->aggregated_metrics->message;
  EXPECT_NE(agg_msg.find(analytics::MetricsBackendError("mean-latency", "canary")),
            std::string::npos);
  w.RunToCompletion(&e, kT0, rnd);
  EXPECT_EQ(ExperimentOutcome(e), Outcome::kBaselineKept);
  EXPECT_EQ(w.weights["canary"], 0);
}

TEST(EngineTest, NoObservationsYetDoesNotHoldButIsNoEvidence) {
  // The canary at 0 % has served nothing: request-count reads 0 and its rates are undefined.
  // That is not a backend failure: traffic may move (exploration) so it can get data, and it is
  // never promoted on the missing values.
  World w;
  w.value = [](const std::string& m, const std::string& v) -> std::optional<double> {
    if (v == "canary") {
      if (m == "request-count") return 0.0;
      return std::nullopt;
    }
    return m == "error-rate" ? 0.0 : m == "request-count" ? 100.0 : 1.0;
  };
  SequenceRandom rnd({0.5});
  Experiment e = ToRunning(w, kCanary, rnd);
  w.Reconcile(&e, kT0, rnd);
  EXPECT_EQ(e.status.extra.count(kStatusMetricsUnavailable), 0u);
  EXPECT_EQ(w.records.back()["decision"], "shift traffic");
  EXPECT_NE(w.records.back()["why"].get<std::string>().find("no observations yet for canary"),
            std::string::npos)
      << w.records.back()["why"];
  EXPECT_GT(w.weights["canary"], 0);  // exploration traffic reaches the canary
  EXPECT_EQ(e.status.version_recommended_for_promotion, "default");
  w.RunToCompletion(&e, kT0, rnd);
  EXPECT_EQ(ExperimentOutcome(e), Outcome::kBaselineKept);
}

TEST(EngineTest, CounterReadingsAreStoredWithTheIterationAndHandedBack) {
  World w;
  SequenceRandom rnd({0.5});
  Experiment e = ToRunning(w, kCanary, rnd);
  w.counters = {{"error-rate", {{"canary", {{"totals", {{"total", 42.0}}}}}}}};
  w.Reconcile(&e, kT0, rnd);
  ASSERT_TRUE(e.status.analysis);
  EXPECT_EQ(e.status.analysis->extra.at(kCountersStateKey), w.counters);
  // It survives the status round trip (as the store keeps it).
  auto reloaded = api::LoadExperiment(api::Document{"e.yaml", 0, api::EncodeResource(e), {}});
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(reloaded->status.analysis->extra.at(kCountersStateKey), w.counters);
}

TEST(EngineTest, ConformanceAndFixedSplitNeverPatchWeights) {
  for (const std::string& yaml :
       {With(kCanary, "    testingPattern: Canary\n",
             "    testingPattern: Canary\n    deploymentPattern: FixedSplit\n"),
        With(With(kCanary, "testingPattern: Canary", "testingPattern: Conformance"),
             kCanary + std::string(kCanary).find("    candidates:"), "\n")}) {
    World w;
    SequenceRandom rnd({0.5});
    Experiment e = ToRunning(w, yaml, rnd);
    w.RunToCompletion(&e, kT0, rnd);
    EXPECT_TRUE(w.applied.empty());
    EXPECT_EQ(e.status.completed_iterations, 3);
    EXPECT_EQ(w.records.back()["decision"], "keep split");
  }
}

// ---------------------------------------------------------------- operator verbs

TEST(EngineTest, PauseHoldsAndResumeReportsPausedTime) {
  World w;
  SequenceRandom rnd({0.5});
  Experiment e = ToRunning(w, kCanary, rnd);
  w.Reconcile(&e, kT0, rnd);
  e.metadata.annotations[kAnnotationPause] = "true";
  StepResult r = w.Reconcile(&e, kT0 + absl::Seconds(10), rnd);
  EXPECT_EQ(e.status.message, "ExperimentPaused: Experiment paused; traffic held");
  EXPECT_FALSE(r.requeue_after);
  r = w.Reconcile(&e, kT0 + absl::Seconds(60), rnd);
  EXPECT_FALSE(r.write_status);
  EXPECT_EQ(e.status.completed_iterations, 1);
  e.metadata.annotations.erase(kAnnotationPause);
  w.Reconcile(&e, kT0 + absl::Seconds(100), rnd);
  EXPECT_EQ(e.status.completed_iterations, 2);
  EXPECT_EQ(e.status.extra[kStatusPausedSeconds], 90);
  EXPECT_FALSE(e.status.extra.contains(kStatusPausedAt));
}

TEST(EngineTest, AbortEndsThroughTheRollbackPath) {
  World w;
  SequenceRandom rnd({0.5});
  Experiment e = ToRunning(w, kCanary, rnd);
  w.Reconcile(&e, kT0, rnd);
  e.metadata.annotations[kAnnotationAbort] = "true";
  StepResult r = w.Reconcile(&e, kT0 + absl::Seconds(1), rnd);
  EXPECT_TRUE(r.release_target);
  EXPECT_EQ(e.status.message, "ExperimentCompleted: Experiment aborted");
  EXPECT_EQ(ExperimentOutcome(e), Outcome::kAborted);

  World w2;
  Experiment f = ToRunning(w2, WithActions(), rnd);
  f.metadata.annotations[kAnnotationAbort] = "true";
  r = w2.Reconcile(&f, kT0, rnd);
  ASSERT_TRUE(r.launch);
  EXPECT_EQ(r.launch->type, HandlerType::kRollback);
  EXPECT_EQ(r.launch->name, "exp-finish");
  EXPECT_EQ(r.launch->action, "finish");
}

TEST(EngineTest, RetryRestartsACompletedExperimentOncePerToken) {
  World w;
  SequenceRandom rnd({0.5});
  Experiment e = ToRunning(w, kCanary, rnd);
  w.RunToCompletion(&e, kT0, rnd);
  e.metadata.annotations[kAnnotationRetry] = "1";
  StepResult r = w.Reconcile(&e, kT0 + absl::Hours(1), rnd);
  EXPECT_TRUE(r.write_status);
  EXPECT_TRUE(r.forget_handlers);
  EXPECT_FALSE(e.status.init_time);
  EXPECT_TRUE(e.status.conditions.empty());
  w.RunToCompletion(&e, kT0 + absl::Hours(1), rnd);
  EXPECT_EQ(e.status.completed_iterations, 3);
  EXPECT_EQ(e.status.extra[kStatusRetry], "1");
  // The same token does not restart it again.
  EXPECT_FALSE(w.Reconcile(&e, kT0 + absl::Hours(2), rnd).write_status);
}

TEST(EngineTest, ApprovalGateWaitsBeforeFinishing) {
  std::string yaml = With(kCanary, "    testingPattern: Canary\n",
                          "    testingPattern: Canary\n    requireApproval: true\n");
  World w;
  SequenceRandom rnd({0.5});
  Experiment e = ToRunning(w, yaml, rnd);
  for (int i = 0; i < 3; ++i) w.Reconcile(&e, kT0 + absl::Seconds(10 * i), rnd);
  ASSERT_EQ(e.status.completed_iterations, 3);
  StepResult r = w.Reconcile(&e, kT0 + absl::Seconds(30), rnd);
  EXPECT_EQ(e.status.message,
            "AwaitingApproval: Waiting for approval to finish; recommended version canary "
            "(annotate iter8.tools/approve=true)");
  EXPECT_NE(e.status.stage, Stage::kCompleted);
  EXPECT_FALSE(w.Reconcile(&e, kT0 + absl::Seconds(40), rnd).write_status);
  e.metadata.annotations[kAnnotationApprove] = "true";
  w.Reconcile(&e, kT0 + absl::Seconds(50), rnd);
  EXPECT_EQ(e.status.message, "ExperimentCompleted: Experiment completed successfully");
  (void)r;
}

TEST(EngineTest, DryRunDecidesButAppliesNothing) {
  std::string yaml = With(WithActions(), "    testingPattern: Canary\n",
                          "    testingPattern: Canary\n    dryRun: true\n");
  World w;
  SequenceRandom rnd({0.5});
  Experiment e = ToRunning(w, yaml, rnd);
  w.RunToCompletion(&e, kT0, rnd);
  EXPECT_TRUE(w.launched.empty());
  EXPECT_TRUE(w.applied.empty());
  EXPECT_EQ(e.status.completed_iterations, 3);
  EXPECT_EQ(e.status.version_recommended_for_promotion, "canary");
  EXPECT_EQ(w.records.back()["decision"], "observe (dry run)");
  EXPECT_EQ(e.status.message, "ExperimentCompleted: Experiment completed successfully (dry run)");
}

TEST(EngineTest, LaunchFailureEndsTheExperiment) {
  World w;
  SequenceRandom rnd({0.5});
  Experiment e = Load(WithActions());
  StepResult r;
  for (int i = 0; i < 4; ++i) r = w.Reconcile(&e, kT0, rnd);
  ASSERT_TRUE(r.launch);
  RecordLaunchFailure(e, "jobs.batch is forbidden", kT0, &r);
  e.status = r.status;
  EXPECT_EQ(Cond(e, "Failed").reason, "LaunchHandlerFailed");
  EXPECT_EQ(e.status.message, "ExperimentCompleted: failure executing failure handler");
  EXPECT_TRUE(r.release_target);
}

TEST(EngineTest, UnavailableEngineIsAClearFailure) {
  std::string yaml =
      With(kCanary, "  duration:\n", "    strength:\n      engine: bayesian\n  duration:\n");
  World w;
  SequenceRandom rnd({0.5});
  Experiment e = Load(yaml);
  for (int i = 0; i < 6; ++i) w.Reconcile(&e, kT0, rnd);
  EXPECT_EQ(Cond(e, "Failed").message,
            "/spec/criteria/strength/engine: Unsupported value: \"bayesian\": supported values: "
            "\"classic\", \"sequential\"");
}

// ---------------------------------------------------------------- sequential engine

std::string SequentialCanary() {
  return With(kCanary, "  duration:\n", "    strength: {engine: sequential}\n  duration:\n");
}

TEST(EngineTest, SequentialEngineEndsEarlyWhenTheCandidateIsCertified) {
  World w;
  int iteration = 0;
  std::map<std::string, double> requests;  // 10,000 per iteration, split by the weights
  w.value = [&](const std::string& metric, const std::string& v) -> std::optional<double> {
    if (metric == "request-count") return requests[v];
    if (metric == "mean-latency") return 20.0;
    return 0.0;  // error-rate
  };
  SequenceRandom rnd({0.5});
  Experiment e =
      ToRunning(w, With(SequentialCanary(), "iterationsPerLoop: 3", "iterationsPerLoop: 10"), rnd);
  // Error-free iterations: certified once the batch-level test (burstyErrors:
  // promotion) agrees with the per-request one, after a few iterations; then finished at once.
  StepResult r;
  for (iteration = 1; iteration <= 8; ++iteration) {
    for (const auto& [v, weight] : w.weights) requests[v] += 100.0 * weight;
    r = w.Reconcile(&e, kT0 + absl::Hours(iteration - 1), rnd);
    ASSERT_FALSE(w.records.empty());
    if (w.records.back()["why"].get<std::string>().rfind("certified", 0) == 0) break;
  }
  EXPECT_GE(iteration, 2);  // one iteration says nothing about bursts
  EXPECT_LE(iteration, 6);
  EXPECT_EQ(w.records.back()["engine"], "sequential");
  EXPECT_EQ(w.records.back()["why"], "certified: canary satisfies all objectives");
  EXPECT_EQ(w.records.back()["decision"], "shift traffic, then promote");
  EXPECT_EQ(w.records.back()["verdicts"]["versions"]["canary"], "SATISFIES");
  EXPECT_EQ(e.status.analysis->version_assessments->provenance, "iter8/sequential");
  EXPECT_EQ(e.status.version_recommended_for_promotion, "canary");
  EXPECT_EQ(r.requeue_after, absl::ZeroDuration());  // finish now, not after the interval
  w.RunToCompletion(&e, kT0 + absl::Hours(iteration), rnd);
  EXPECT_EQ(e.status.completed_iterations, iteration);
  EXPECT_EQ(ExperimentOutcome(e), Outcome::kPromoted);
}

TEST(EngineTest, SequentialEngineRollsBackOnACertifiedViolation) {
  World w;
  int iteration = 0;
  w.value = [&](const std::string& metric, const std::string& v) -> std::optional<double> {
    if (metric == "request-count") return 1000.0 * iteration;
    if (metric == "mean-latency") return 20.0;
    return v == "canary" ? 0.05 : 0.0;
  };
  SequenceRandom rnd({0.5});
  Experiment e = ToRunning(w, SequentialCanary(), rnd);
  w.weights = {{"default", 50}, {"canary", 50}};
  iteration = 1;
  w.Reconcile(&e, kT0, rnd);
  EXPECT_EQ(w.records.back()["decision"], "rollback");
  EXPECT_EQ(w.records.back()["why"], "certified: canary violates error-rate");
  // The candidate's traffic is taken away at once, without waiting for a finish action.
  EXPECT_EQ(w.weights.at("canary"), 0);
  EXPECT_EQ(w.weights.at("default"), 100);
  EXPECT_EQ(e.status.stage, Stage::kCompleted);
  EXPECT_EQ(e.status.completed_iterations, 1);
  EXPECT_EQ(ExperimentOutcome(e), Outcome::kRolledBack);
}

TEST(EngineTest, SequentialEngineIsInconclusiveWithoutEnoughEvidence) {
  World w;  // 100 requests per version, no more: never enough to certify error-rate <= 1 %
  SequenceRandom rnd({0.5});
  Experiment e = ToRunning(w, SequentialCanary(), rnd);
  w.RunToCompletion(&e, kT0, rnd);
  EXPECT_EQ(e.status.completed_iterations, 3);
  EXPECT_EQ(ExperimentOutcome(e), Outcome::kBaselineKept);
  EXPECT_EQ(w.records.back()["why"], "undecided: canary on error-rate");
  // Never promoted on undecided evidence; the canary kept the floor weight.
  EXPECT_EQ(w.weights.at("canary"), 10);
}

TEST(EngineTest, RecordValuesRoundTripWithBuckets) {
  MetricValues values;
  MetricValue& mv = values["latency-95th-percentile"]["canary"];
  mv.value = 12.5;
  mv.sample_size = 40;
  mv.request = "builtin latency-95th-percentile of canary";
  mv.buckets =
      analytics::Buckets{{5, 10, 25, std::numeric_limits<double>::infinity()}, {3, 20, 39, 40}};
  values["error-rate"]["default"].error = "connection refused";
  const api::Json record = {{"values", ValuesRecord(values)}};
  // JSON has no infinity: finite bounds and one more cumulative count.
  EXPECT_EQ(record["values"]["latency-95th-percentile"]["canary"]["buckets"]["bounds"].size(), 3u);
  absl::StatusOr<MetricValues> back = ValuesFromRecord(record);
  ASSERT_TRUE(back.ok()) << back.status();
  const MetricValue& b = back->at("latency-95th-percentile").at("canary");
  EXPECT_EQ(b.value, 12.5);
  EXPECT_EQ(b.sample_size, 40);
  ASSERT_TRUE(b.buckets);
  EXPECT_EQ(b.buckets->upper_bounds, mv.buckets->upper_bounds);
  EXPECT_EQ(b.buckets->cumulative, mv.buckets->cumulative);
  EXPECT_EQ(back->at("error-rate").at("default").error, "connection refused");
  EXPECT_FALSE(back->at("error-rate").at("default").value);

  api::Json bad = record;
  bad["values"]["latency-95th-percentile"]["canary"]["buckets"]["cumulative"] = {1, 2};
  EXPECT_EQ(ValuesFromRecord(bad).status().message(),
            "record: values/latency-95th-percentile/canary/buckets: one more count than bounds "
            "expected");
  bad["values"]["latency-95th-percentile"]["canary"]["buckets"]["bounds"] = "x";
  EXPECT_FALSE(ValuesFromRecord(bad).ok());
  bad["values"]["error-rate"] = 7;
  EXPECT_FALSE(ValuesFromRecord(bad).ok());
}

// ---------------------------------------------------------------- helpers

TEST(EngineTest, FieldPathToPointer) {
  EXPECT_EQ(FieldPathToPointer(".spec.http[0].route[1].weight"), "/spec/http/0/route/1/weight");
  EXPECT_EQ(FieldPathToPointer(".spec.predictor.canaryTrafficPercent"),
            "/spec/predictor/canaryTrafficPercent");
  EXPECT_EQ(FieldPathToPointer(".spec.traffic[0].percent"), "/spec/traffic/0/percent");
}

TEST(EngineTest, HandlerNames) {
  EXPECT_EQ(HandlerName("e", HandlerType::kStart), "e-start");
  EXPECT_EQ(HandlerName("e", HandlerType::kFinish), "e-finish");
  EXPECT_EQ(HandlerName("e", HandlerType::kRollback), "e-finish");
  EXPECT_EQ(HandlerName("e", HandlerType::kFailure), "e-finish");
  EXPECT_EQ(HandlerName("e", HandlerType::kLoop, 3), "e-loop-3");
}

TEST(EngineTest, MetricReferencesInOrderWithoutDuplicates) {
  Experiment e = Load(
      With(kCanary, "    objectives:\n", "    indicators: [p95, mean-latency]\n    objectives:\n"));
  EXPECT_EQ(MetricReferences(e.spec),
            (std::vector<std::string>{"request-count", "p95", "mean-latency", "error-rate"}));
  EXPECT_EQ(ResolveMetricReference("other/m", "ns"), "other/m");
  EXPECT_EQ(ResolveMetricReference("m", "ns"), "ns/m");
}

}  // namespace
}  // namespace iter8::engine
