#include "controller/controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "absl/time/clock.h"
#include "api/document.h"
#include "api/load.h"
#include "common/strings.h"
#include "engine/engine.h"
#include "engine/v2alpha1.h"
#include "test/testing/process.h"
#include "test/testing/reference.h"
#include "test/testing/wait.h"

namespace iter8::controller {
namespace {

using api::Json;

// Mock levels: latency is a Gauge far below its limit; the error rate a Counter (exact), so the
// outcome never depends on a random draw.
std::string Metrics(const std::string& canary_latency, const std::string& canary_errors) {
  return StrCat(R"(
apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata: {name: mean-latency, namespace: ns}
spec:
  type: Gauge
  mock:
  - {name: default, level: "20"}
  - {name: canary, level: ")",
                canary_latency, R"("}
---
apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata: {name: error-rate, namespace: ns}
spec:
  type: Counter  # exact: level x elapsed seconds, so the verdict never depends on a draw
  mock:
  - {name: default, level: "0"}
  - {name: canary, level: ")",
                canary_errors, R"("}
---
apiVersion: iter8.tools/v1alpha1
kind: Route
metadata: {name: model, namespace: ns}
spec:
  versions:
  - {name: default, weight: 100}
  - {name: canary, weight: 0}
)");
}

std::string Experiment(const std::string& name, int iterations,
                       const std::string& extra_strategy = "") {
  return StrCat(R"(
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: )",
                name, R"(, namespace: ns}
spec:
  target: model
  strategy:
    testingPattern: Canary
)",
                extra_strategy, R"(
  criteria:
    objectives:
    - {metric: mean-latency, upperLimit: "100"}
    - {metric: error-rate, upperLimit: "0.01"}
  duration: {intervalSeconds: 1, iterationsPerLoop: )",
                iterations, R"(}
  versionInfo:
    baseline:
      name: default
      weightObjRef: {apiVersion: iter8.tools/v1alpha1, kind: Route, name: model, fieldPath: ".spec.versions[0].weight"}
    candidates:
    - name: canary
      weightObjRef: {apiVersion: iter8.tools/v1alpha1, kind: Route, name: model, fieldPath: ".spec.versions[1].weight"}
)");
}

void Apply(store::ResourceStore& s, const std::string& yaml) {
  auto docs = api::ParseDocuments(yaml, "test.yaml");
  ASSERT_TRUE(docs.ok()) << docs.status();
  for (const auto& d : *docs) ASSERT_TRUE(s.Create(d.json).ok());
}

api::Experiment Get(store::ResourceStore& s, const std::string& name) {
  auto j = s.Get({"Experiment", "ns", name});
  EXPECT_TRUE(j.ok());
  return *api::LoadExperiment(*j);
}

bool Completed(const api::Experiment& e) { return e.status.stage == api::Stage::kCompleted; }

using testing::WaitFor;

ControllerOptions Options() {
  ControllerOptions o;
  o.poll = absl::Milliseconds(20);
  o.seed = 7;
  return o;
}

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (dir_.path() / "iter8.db").string();
    store_ = *store::SqliteStore::Open(path_);
  }
  int Weight(const std::string& version) {
    Json r = *store_->Get({"Route", "ns", "model"});
    return r["spec"]["versions"][version == "default" ? 0 : 1]["weight"];
  }
  testing::TempDir dir_;
  std::string path_;
  std::unique_ptr<store::SqliteStore> store_;
};

TEST_F(ControllerTest, GoodCanaryIsPromoted) {
  Apply(*store_, Metrics("10", "0"));
  Apply(*store_,
        Experiment("exp", 3, "    actions:\n      finish:\n      - task: local/promote\n"));
  Controller c(*store_, Options());
  c.Start();
  ASSERT_TRUE(WaitFor([&] { return Completed(Get(*store_, "exp")); }, absl::Seconds(30)));
  c.Stop();
  api::Experiment e = Get(*store_, "exp");
  EXPECT_EQ(e.status.completed_iterations, 3);
  EXPECT_EQ(e.status.message, "ExperimentCompleted: Experiment Completed");
  EXPECT_EQ(engine::ExperimentOutcome(e), engine::Outcome::kPromoted);
  EXPECT_EQ(Weight("canary"), 100);
  EXPECT_EQ(Weight("default"), 0);
  auto records = store_->Records("ns", "exp");
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 3u);
  EXPECT_EQ((*records)[2]["iteration"], 3);
  EXPECT_EQ((*records)[0]["weightsAfter"]["canary"], 10);
  EXPECT_TRUE((*records)[0]["values"]["mean-latency"]["canary"].contains("value"));
}

TEST_F(ControllerTest, BadCanaryIsRolledBack) {
  Apply(*store_, Metrics("10", "0.5"));
  Apply(*store_, Experiment("exp", 3,
                            "    deploymentPattern: BlueGreen\n    actions:\n      finish:\n"
                            "      - task: local/promote\n"));
  Controller c(*store_, Options());
  c.Start();
  ASSERT_TRUE(WaitFor([&] { return Completed(Get(*store_, "exp")); }, absl::Seconds(30)));
  c.Stop();
  api::Experiment e = Get(*store_, "exp");
  EXPECT_EQ(engine::ExperimentOutcome(e), engine::Outcome::kRolledBack);
  EXPECT_EQ(e.status.completed_iterations, 0);
  EXPECT_EQ(Weight("default"), 100);
  EXPECT_EQ(Weight("canary"), 0);
}

TEST_F(ControllerTest, BackendDownMeansNoPromotionAndTrafficHeld) {
  Apply(*store_, Metrics("10", "0"));
  // error-rate from a backend nobody listens on.
  Json m = *store_->Get({"Metric", "ns", "error-rate"});
  m["spec"].erase("mock");
  m["spec"]["urlTemplate"] = StrCat("http://127.0.0.1:", testing::FreePort(), "/api");
  m["spec"]["jqExpression"] = ".value";
  ASSERT_TRUE(store_->Update(m).ok());
  Apply(*store_, Experiment("exp", 3));
  Controller c(*store_, Options());
  c.Start();
  ASSERT_TRUE(WaitFor([&] { return Completed(Get(*store_, "exp")); }, absl::Seconds(30)));
  c.Stop();
  api::Experiment e = Get(*store_, "exp");
  EXPECT_EQ(e.status.completed_iterations, 3);
  EXPECT_EQ(engine::ExperimentOutcome(e), engine::Outcome::kBaselineKept);
  EXPECT_EQ(Weight("canary"), 0);
  auto records = *store_->Records("ns", "exp");
  ASSERT_EQ(records.size(), 3u);
  for (const auto& r : records) EXPECT_EQ(r["decision"], "hold");
  EXPECT_NE(records[0]["why"].get<std::string>().find("error-rate for canary"), std::string::npos)
      << records[0]["why"];
}

TEST_F(ControllerTest, ExperimentsOnOneTargetRunOneAfterTheOther) {
  Apply(*store_, Metrics("10", "0"));
  Apply(*store_, Experiment("first", 2));
  absl::SleepFor(absl::Milliseconds(20));
  Apply(*store_, Experiment("second", 2));
  Controller c(*store_, Options());
  c.Start();
  // While the first runs, the second waits.
  ASSERT_TRUE(WaitFor([&] { return Get(*store_, "first").status.completed_iterations >= 1; },
                      absl::Seconds(20)));
  api::Experiment second = Get(*store_, "second");
  EXPECT_EQ(second.status.stage, api::Stage::kWaiting);
  ASSERT_TRUE(WaitFor([&] { return Completed(Get(*store_, "second")); }, absl::Seconds(30)));
  c.Stop();
  api::Experiment first = Get(*store_, "first");
  second = Get(*store_, "second");
  ASSERT_TRUE(first.status.start_time && second.status.start_time);
  // The second started only after the first completed.
  absl::Time first_end = *first.status.conditions[0].last_transition_time;
  EXPECT_GE(*second.status.start_time, first_end);
  EXPECT_EQ(second.status.completed_iterations, 2);
}

TEST_F(ControllerTest, DeletingTheRunningExperimentStartsTheWaitingOne) {
  Apply(*store_, Metrics("10", "0"));
  Apply(*store_, Experiment("first", 100));  // would run for minutes
  absl::SleepFor(absl::Milliseconds(20));
  Apply(*store_, Experiment("second", 2));
  Controller c(*store_, Options());
  c.Start();
  ASSERT_TRUE(WaitFor([&] { return Get(*store_, "first").status.completed_iterations >= 1; },
                      absl::Seconds(20)));
  EXPECT_EQ(Get(*store_, "second").status.stage, api::Stage::kWaiting);
  ASSERT_TRUE(store_->Delete({"Experiment", "ns", "first"}).ok());
  ASSERT_TRUE(WaitFor([&] { return Completed(Get(*store_, "second")); }, absl::Seconds(20)));
  c.Stop();
  EXPECT_EQ(Get(*store_, "second").status.completed_iterations, 2);
}

TEST_F(ControllerTest, RestartResumesWithTheRightIterationCount) {
  Apply(*store_, Metrics("10", "0"));
  Apply(*store_, Experiment("exp", 4));
  {
    Controller c(*store_, Options());
    c.Start();
    ASSERT_TRUE(WaitFor([&] { return Get(*store_, "exp").status.completed_iterations >= 2; },
                        absl::Seconds(20)));
    c.Stop();  // the process goes away mid-experiment
  }
  store_.reset();
  store_ = *store::SqliteStore::Open(path_);
  Controller c(*store_, Options());
  c.Start();
  ASSERT_TRUE(WaitFor([&] { return Completed(Get(*store_, "exp")); }, absl::Seconds(30)));
  c.Stop();
  api::Experiment e = Get(*store_, "exp");
  EXPECT_EQ(e.status.completed_iterations, 4);
  auto records = *store_->Records("ns", "exp");
  ASSERT_EQ(records.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(records[i]["iteration"], i + 1);
}

TEST_F(ControllerTest, MissingMetricFailsTheExperiment) {
  Apply(*store_, Metrics("10", "0"));
  ASSERT_TRUE(store_->Delete({"Metric", "ns", "error-rate"}).ok());
  Apply(*store_, Experiment("exp", 2));
  Controller c(*store_, Options());
  c.Start();
  ASSERT_TRUE(WaitFor([&] { return Completed(Get(*store_, "exp")); }, absl::Seconds(20)));
  c.Stop();
  api::Experiment e = Get(*store_, "exp");
  EXPECT_EQ(engine::ExperimentOutcome(e), engine::Outcome::kFailed);
  EXPECT_EQ(e.status.message, "ExperimentCompleted: Experiment failed");
  EXPECT_EQ(e.status.conditions[1].message, "Unable to find metric ns/error-rate");
}

// A store whose lookups of actions' state (one per reconcile) fail (Unavailable) the first
// `failures` times.
class FlakyStore final : public store::ResourceStore {
 public:
  FlakyStore(store::ResourceStore& inner, int failures) : inner_(inner), failures_(failures) {}
  absl::StatusOr<std::vector<Json>> ListPrefix(const std::string& kind, const std::string& ns,
                                               const std::string& prefix) override {
    if (failures_.fetch_sub(1) > 0) return absl::UnavailableError("injected: database busy");
    return inner_.ListPrefix(kind, ns, prefix);
  }
  absl::StatusOr<Json> Get(const store::ObjectKey& key) override { return inner_.Get(key); }
  absl::StatusOr<std::vector<Json>> List(const std::string& kind, const std::string& ns) override {
    return inner_.List(kind, ns);
  }
  absl::StatusOr<Json> Create(const Json& o) override { return inner_.Create(o); }
  absl::StatusOr<Json> Update(const Json& o) override { return inner_.Update(o); }
  absl::StatusOr<Json> UpdateStatus(const Json& o) override { return inner_.UpdateStatus(o); }
  absl::Status Delete(const store::ObjectKey& key) override { return inner_.Delete(key); }
  absl::StatusOr<std::vector<store::Change>> Changes(int64_t after, int limit) override {
    return inner_.Changes(after, limit);
  }
  absl::StatusOr<int64_t> Revision() override { return inner_.Revision(); }

 private:
  store::ResourceStore& inner_;
  std::atomic<int> failures_;
};

TEST_F(ControllerTest, FailedReconcilesBackOffExponentially) {
  Apply(*store_, Metrics("10", "0"));
  Apply(*store_, Experiment("exp", 2));
  FlakyStore flaky(*store_, 4);
  std::mutex mu;
  std::vector<absl::Time> failed_at;
  ControllerOptions o = Options();
  o.on_reconcile = [&](absl::Duration, const absl::Status& s) {
    std::lock_guard<std::mutex> l(mu);
    if (!s.ok()) failed_at.push_back(absl::Now());
  };
  Controller c(flaky, store_.get(), o);
  c.Start();
  ASSERT_TRUE(WaitFor([&] { return Completed(Get(*store_, "exp")); }, absl::Seconds(30)));
  c.Stop();
  std::lock_guard<std::mutex> l(mu);
  ASSERT_GE(failed_at.size(), 4u);
  // 100 ms, 200 ms, 400 ms between the failed attempts (lower bounds: timers may fire late).
  for (size_t i = 1; i < 4; ++i) {
    EXPECT_GE(failed_at[i] - failed_at[i - 1], absl::Milliseconds(90) * (1 << (i - 1))) << i;
  }
  // And it did not give up: the experiment ran to its end.
  EXPECT_EQ(Get(*store_, "exp").status.completed_iterations, 2);
}

// ---------------------------------------------------------------- v2alpha1 (spec.md 1.9)

// The original's quickstart experiment (samples/quickstart/experiment.yaml) as a user applies
// it into namespace `default`, with its duration shortened for a unit test (1 s, 2 iterations
// instead of 15 s, 12).
Json OriginalQuickstart() {
  const std::string text =
      testing::ReadFileOrDie(testing::ReferenceDir() / "iter8" / "iter8-kfserving" / "samples" /
                             "quickstart" / "experiment.yaml");
  auto docs = api::ParseDocuments(text, "experiment.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  Json e = (*docs)[0].json;
  e["metadata"]["namespace"] = "default";
  e["spec"]["duration"] = {{"intervalSeconds", 1}, {"maxIterations", 2}};
  return e;
}

// Out-of-the-box metrics as the original installed them: in iter8's namespace only, so the
// experiment finds them through the fallback. request-count is the defaults' requestCount.
constexpr char kIter8SystemMetrics[] = R"(
apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata: {name: request-count, namespace: iter8-system}
spec:
  type: Counter
  mock: [{name: default, level: "10"}, {name: canary, level: "10"}]
---
apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata: {name: mean-latency, namespace: iter8-system}
spec:
  mock: [{name: default, level: "20"}, {name: canary, level: "10"}]
---
apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata: {name: 95th-percentile-tail-latency, namespace: iter8-system}
spec:
  mock: [{name: default, level: "40"}, {name: canary, level: "30"}]
---
apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata: {name: error-rate, namespace: iter8-system}
spec:
  type: Counter
  mock: [{name: default, level: "0"}, {name: canary, level: "0"}]
---
apiVersion: iter8.tools/v1alpha1
kind: Route
metadata: {name: my-model, namespace: default}
spec:
  versions:
  - {name: default, weight: 100}
  - {name: canary, weight: 0}
)";

// Plays the original's start handler on the local store: writes the versionInfo the KFServing
// start handler wrote (v2alpha1 form: tags, JSON-pointer field paths), here on a Route.
tasks::TaskFn FillVersionInfo(store::ResourceStore& s) {
  return [&s](const Json&, const tasks::TaskEnv& env) -> absl::Status {
    absl::StatusOr<Json> e =
        s.Get({"Experiment", env.experiment->metadata.namespace_, env.experiment->metadata.name});
    if (!e.ok()) return e.status();
    const Json ref = {
        {"apiVersion", "iter8.tools/v1alpha1"}, {"kind", "Route"}, {"name", "my-model"}};
    Json base = ref, cand = ref;
    base["fieldPath"] = "/spec/versions/0/weight";
    cand["fieldPath"] = "/spec/versions/1/weight";
    (*e)["spec"]["versionInfo"] = {
        {"baseline", {{"name", "default"}, {"tags", {{"revision", "r1"}}}, {"weightObjRef", base}}},
        {"candidates",
         Json::array(
             {{{"name", "canary"}, {"tags", {{"revision", "r2"}}}, {"weightObjRef", cand}}})}};
    return s.Update(*e).status();  // no concurrent writer: the reconcile waits for this action
  };
}

class V2alpha1ControllerTest : public ControllerTest {
 protected:
  ControllerOptions V2alpha1Options() {
    ControllerOptions o = Options();
    o.extra_tasks["test/start"] = FillVersionInfo(*store_);
    o.v2alpha1 = [] {
      engine::V2alpha1Config c;
      api::TaskSpec start, promote;
      start.task = "test/start";
      promote.task = "local/promote";
      c.builtin = {{"start", {start}}, {"finish", {promote}}};
      return absl::StatusOr<engine::V2alpha1Config>(c);
    };
    o.log = [this](const std::string& line) {
      std::lock_guard<std::mutex> l(mu_);
      log_.push_back(line);
    };
    o.on_event = [this](const api::Experiment&, const engine::Event& ev) {
      std::lock_guard<std::mutex> l(mu_);
      events_.push_back(StrCat(ev.reason, ": ", ev.message));
    };
    o.on_reconcile = [this](absl::Duration, const absl::Status& s) {
      if (!s.ok()) ++failed_reconciles_;
    };
    return o;
  }
  api::Experiment GetIn(const std::string& ns, const std::string& name) {
    auto j = store_->Get({"Experiment", ns, name});
    EXPECT_TRUE(j.ok());
    return *api::LoadExperiment(*j);
  }
  size_t EventsWith(const std::string& text) {
    std::lock_guard<std::mutex> l(mu_);
    size_t n = 0;
    for (const auto& e : events_) n += e.find(text) != std::string::npos;
    return n;
  }
  std::mutex mu_;
  std::vector<std::string> log_, events_;
  std::atomic<int> failed_reconciles_{0};
};

TEST_F(V2alpha1ControllerTest, TheOriginalsQuickstartRunsWithItsDefaultHandlers) {
  ITER8_REQUIRE_REFERENCE();
  Apply(*store_, kIter8SystemMetrics);
  ASSERT_TRUE(store_->Create(OriginalQuickstart()).ok());
  Controller c(*store_, V2alpha1Options());
  c.Start();
  ASSERT_TRUE(
      WaitFor([&] { return Completed(GetIn("default", "experiment-1")); }, absl::Seconds(30)));
  c.Stop();
  api::Experiment e = GetIn("default", "experiment-1");
  EXPECT_EQ(e.api_version, api::kV2alpha1);
  EXPECT_EQ(e.status.completed_iterations, 2);
  EXPECT_EQ(e.status.message, "ExperimentCompleted: Experiment Completed");
  EXPECT_EQ(e.status.version_recommended_for_promotion, "canary");  // recommendedBaseline
  EXPECT_EQ(engine::ExperimentOutcome(e), engine::Outcome::kPromoted);
  // The finish handler (local/promote here, kserve/finish in a cluster) moved all traffic.
  Json route = *store_->Get({"Route", "default", "my-model"});
  EXPECT_EQ(route["spec"]["versions"][1]["weight"], 100);
  // Metrics from iter8-system (fallback), request-count from the defaults.
  std::vector<std::string> metrics;
  for (const auto& mi : e.status.metrics) {
    metrics.push_back(StrCat(mi.metric_obj.metadata.namespace_, "/", mi.name));
  }
  EXPECT_EQ(metrics, (std::vector<std::string>{
                         "iter8-system/request-count", "iter8-system/95th-percentile-tail-latency",
                         "iter8-system/mean-latency", "iter8-system/error-rate"}));
  // The original's messages.
  EXPECT_EQ(EventsWith("StartHandlerLaunched: Start handler 'start' launched"), 1u);
  EXPECT_EQ(EventsWith("TerminalHandlerLaunched: Finish handler 'finish' launched"), 1u);
  // The stored spec is as the user wrote it: handlers are resolved in memory only.
  Json stored = *store_->Get({"Experiment", "default", "experiment-1"});
  EXPECT_EQ(stored["apiVersion"], "iter8.tools/v2alpha1");
  EXPECT_FALSE(stored["spec"]["strategy"].contains("actions")) << stored["spec"]["strategy"];
  EXPECT_EQ(stored["spec"]["strategy"], Json({{"type", "Canary"}}));
}

TEST_F(V2alpha1ControllerTest, WithoutTheFallbackNamespaceAMetricIsMissing) {
  ITER8_REQUIRE_REFERENCE();
  Apply(*store_, kIter8SystemMetrics);
  ASSERT_TRUE(store_->Create(OriginalQuickstart()).ok());
  ControllerOptions o = V2alpha1Options();
  o.iter8_namespace = "elsewhere";
  Controller c(*store_, o);
  c.Start();
  ASSERT_TRUE(
      WaitFor([&] { return Completed(GetIn("default", "experiment-1")); }, absl::Seconds(30)));
  c.Stop();
  api::Experiment e = GetIn("default", "experiment-1");
  EXPECT_EQ(engine::ExperimentOutcome(e), engine::Outcome::kFailed);
  EXPECT_EQ(e.status.conditions[1].message, "Unable to find metric default/request-count");
}

TEST_F(V2alpha1ControllerTest, AHandlerThatResolvesToNothingFailsTheExperimentOnce) {
  ITER8_REQUIRE_REFERENCE();
  Apply(*store_, kIter8SystemMetrics);
  Json exp = OriginalQuickstart();
  exp["spec"]["strategy"]["handlers"] = {{"finish", "promote-it"}};
  ASSERT_TRUE(store_->Create(exp).ok());
  Controller c(*store_, V2alpha1Options());
  c.Start();
  ASSERT_TRUE(
      WaitFor([&] { return Completed(GetIn("default", "experiment-1")); }, absl::Seconds(30)));
  absl::SleepFor(absl::Milliseconds(300));  // time for a loop to show, if there were one
  c.Stop();
  api::Experiment e = GetIn("default", "experiment-1");
  EXPECT_EQ(engine::ExperimentOutcome(e), engine::Outcome::kFailed);
  const std::string why =
      "Finish handler 'promote-it' not found: it is no built-in handler (finish, start) and Job "
      "templates are not enabled (--v2alpha1-handlers=jobs)";
  EXPECT_EQ(e.status.conditions[1].reason, "InvalidExperiment");
  EXPECT_EQ(e.status.conditions[1].message, why);
  EXPECT_EQ(EventsWith(why), 1u);
  EXPECT_EQ(EventsWith("launched"), 0u);  // nothing ran, no traffic moved
  EXPECT_EQ(failed_reconciles_.load(), 0);
}

TEST_F(V2alpha1ControllerTest, NoneDisablesAHandler) {
  ITER8_REQUIRE_REFERENCE();
  Apply(*store_, kIter8SystemMetrics);
  Json exp = OriginalQuickstart();
  exp["spec"]["strategy"]["handlers"] = {{"finish", "none"}};
  ASSERT_TRUE(store_->Create(exp).ok());
  Controller c(*store_, V2alpha1Options());
  c.Start();
  ASSERT_TRUE(
      WaitFor([&] { return Completed(GetIn("default", "experiment-1")); }, absl::Seconds(30)));
  c.Stop();
  api::Experiment e = GetIn("default", "experiment-1");
  EXPECT_EQ(e.status.message, "ExperimentCompleted: Experiment completed successfully");
  EXPECT_EQ(EventsWith("Start handler 'start' launched"), 1u);
  EXPECT_EQ(EventsWith("Finish handler"), 0u);
  // No finish handler: traffic stays where the last iteration put it, not 100 %.
  Json route = *store_->Get({"Route", "default", "my-model"});
  EXPECT_LT(route["spec"]["versions"][1]["weight"].get<int>(), 100);
}

TEST_F(V2alpha1ControllerTest, AnExperimentThatCannotBeDecodedFailsOnceWithAnEvent) {
  Json exp = {{"apiVersion", "iter8.tools/v2alpha1"},
              {"kind", "Experiment"},
              {"metadata", {{"name", "bad"}, {"namespace", "default"}}},
              {"spec", {{"target", "default/my-model"}, {"strategy", {{"type", "Bogus"}}}}}};
  ASSERT_TRUE(store_->Create(exp).ok());
  Controller c(*store_, V2alpha1Options());
  c.Start();
  auto failed = [&] {
    Json j = *store_->Get({"Experiment", "default", "bad"});
    return j.contains("status") && j["status"].value("stage", "") == "Completed";
  };
  ASSERT_TRUE(WaitFor(failed, absl::Seconds(20)));
  absl::SleepFor(absl::Milliseconds(300));
  c.Stop();
  Json status = (*store_->Get({"Experiment", "default", "bad"}))["status"];
  EXPECT_EQ(status["message"], "ExperimentCompleted: Experiment failed");
  bool found = false;
  for (const Json& cond : status["conditions"]) {
    if (cond["type"] != "Failed") continue;
    found = true;
    EXPECT_EQ(cond["status"], "True");
    EXPECT_EQ(cond["reason"], "InvalidExperiment");
    EXPECT_NE(cond["message"].get<std::string>().find("Unsupported value: \"Bogus\""),
              std::string::npos)
        << cond["message"];
  }
  EXPECT_TRUE(found) << status;
  EXPECT_EQ(EventsWith("Unable to read experiment"), 1u);
  EXPECT_EQ(failed_reconciles_.load(), 0);
}

}  // namespace
}  // namespace iter8::controller
