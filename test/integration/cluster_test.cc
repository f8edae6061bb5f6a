// Cluster mode end to end: the real `iter8 controller` binary against the in-tree TEST API
// server (not Kubernetes) with the SIMULATED KServe controller (not KServe) writing
// InferenceService status as KServe would. Covers the quickstart's promotion, a rollback, an
// invalid experiment, two experiments on one target, API failures (500, 409, dropped watches,
// 410 Gone), and leader failover after kill -9 with no iteration repeated. And with real
// traffic: the simulated KServe drives iter8's proxy in front of two sample model servers, a
// real Prometheus scrapes the proxy, and the out-of-the-box metrics (deploy/metrics) decide.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/document.h"
#include "k8s/client.h"
#include "k8s/config.h"
#include "loadgen/loadgen.h"
#include "modelserver/model_server.h"
#include "proxy/proxy.h"
#include "test/apiserver/simulated_kserve.h"
#include "test/apiserver/test_apiserver.h"
#include "test/testing/process.h"
#include "test/testing/prometheus.h"
#include "test/testing/wait.h"

namespace iter8 {
namespace {

using absl::StrCat;
using k8s::Json;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Source(const std::string& relative) { return StrCat(ITER8_SOURCE_DIR, "/", relative); }

// Mock metrics (spec.md 2.5) named as the kserve/start task names the versions.
std::string Metrics(const std::string& canary_error_level) {
  return StrCat(R"(
apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata: {name: mean-latency, namespace: default}
spec:
  type: Gauge
  mock: [{name: default, level: "80"}, {name: canary, level: "50"}]
---
apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata: {name: error-rate, namespace: default}
spec:
  type: Counter
  mock: [{name: default, level: "0"}, {name: canary, level: ")",
                canary_error_level, R"("}]
---
apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata: {name: request-count, namespace: default}
spec:
  type: Counter
  mock: [{name: default, level: "40"}, {name: canary, level: "40"}]
)");
}

// `metrics` prefixes the metric names (e.g. "iter8-kfserving/" for the out-of-the-box ones).
std::string ExperimentYaml(const std::string& name, const std::string& target, int iterations,
                           int interval = 1, const std::string& metrics = "") {
  return StrCat(R"(
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: )",
                name, R"(, namespace: default}
spec:
  target: )",
                target, R"(
  strategy:
    testingPattern: Canary
    deploymentPattern: Progressive
    actions:
      start: [{task: kserve/start}]
      finish: [{task: kserve/finish}]
  criteria:
    requestCount: )",
                metrics, R"(request-count
    objectives:
    - {metric: )",
                metrics, R"(mean-latency, upperLimit: 1000}
    - {metric: )",
                metrics, R"(error-rate, upperLimit: "0.01"}
  duration: {intervalSeconds: )",
                interval, ", iterationsPerLoop: ", iterations, "}\n");
}

std::string IsvcYaml(const std::string& name, const std::string& model, int canary_percent) {
  std::string out = StrCat(R"(
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: )",
                           name, R"(, namespace: default}
spec:
  predictor:
)");
  if (canary_percent >= 0) out += StrCat("    canaryTrafficPercent: ", canary_percent, "\n");
  out += StrCat("    sklearn: {storageUri: 'gs://models/", model, "'}\n");
  return out;
}

int64_t CompletedIterations(const Json& e) {
  return e.is_object() && e.contains("status")
             ? e["status"].value("completedIterations", int64_t{-1})
             : -1;
}

int Count(const std::vector<std::string>& v, const std::string& s) {
  return static_cast<int>(std::count(v.begin(), v.end(), s));
}

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok());
    kubeconfig_ = (dir_.path() / "kubeconfig").string();
    std::ofstream(kubeconfig_) << server_.Kubeconfig();
    absl::StatusOr<k8s::ClusterConfig> config = k8s::ParseKubeconfig(server_.Kubeconfig(), "kc");
    ASSERT_TRUE(config.ok());
    client_ = std::make_unique<k8s::Client>(*config);
    Apply(ReadFile(Source("deploy/crds/experiments.yaml")));
    Apply(ReadFile(Source("deploy/crds/metrics.yaml")));
    Apply(ReadFile(Source("test/apiserver/kserve-crds.yaml")));
    Apply(ReadFile(Source("deploy/base/namespace.yaml")));
    testing::SimulatedKServeOptions ko;
    ko.on_split = [this](const std::string& isvc, const std::map<std::string, int>& split) {
      OnSplit(isvc, split);
    };
    kserve_ = std::make_unique<testing::SimulatedKServe>(*client_, ko);
    ASSERT_TRUE(kserve_->Start().ok());
  }

  void TearDown() override {
    controllers_.clear();  // SIGTERM first, while the server still answers
    kserve_.reset();
  }
  // InferenceService `name` rolled out, then its canary at `canary_percent`, and the mock
  // metrics with the canary's error level.
  void DeployCanary(const std::string& name, int canary_percent, const std::string& canary_errors) {
    Apply(IsvcYaml(name, "v1", -1));
    ASSERT_TRUE(
        WaitFor([&] { return Condition(Isvc(name), "Ready") == "True"; }, absl::Seconds(10)));
    Apply(IsvcYaml(name, "v2", canary_percent));
    Apply(Metrics(canary_errors));
  }
  // KServe's traffic split changed (InferenceService namespace/name, revision -> percent).
  virtual void OnSplit(const std::string&, const std::map<std::string, int>&) {}

  // Creates (or, when it exists, replaces the spec of) every document of `yaml`.
  void Apply(const std::string& yaml) {
    absl::StatusOr<std::vector<api::Document>> docs = api::ParseDocuments(yaml, "test");
    ASSERT_TRUE(docs.ok()) << docs.status();
    for (const api::Document& d : *docs) {
      const Json object(d.json);
      absl::StatusOr<k8s::Resource> r = client_->Discover(object["apiVersion"], object["kind"]);
      ASSERT_TRUE(r.ok()) << r.status();
      const std::string ns = object["metadata"].value("namespace", std::string());
      absl::StatusOr<Json> created = client_->Create(*r, ns, object);
      if (absl::IsAlreadyExists(created.status())) {
        absl::StatusOr<Json> current = client_->Get(*r, ns, object["metadata"]["name"]);
        ASSERT_TRUE(current.ok());
        Json updated = *current;
        updated["spec"] = object["spec"];
        ASSERT_TRUE(client_->Update(*r, updated).ok());
      } else {
        ASSERT_TRUE(created.ok()) << created.status();
      }
    }
  }

  Json Get(const std::string& api_version, const std::string& kind, const std::string& ns,
           const std::string& name) {
    absl::StatusOr<k8s::Resource> r = client_->Discover(api_version, kind);
    if (!r.ok()) return Json();
    absl::StatusOr<Json> o = client_->Get(*r, ns, name);
    return o.ok() ? *o : Json();
  }
  Json Experiment(const std::string& name) {
    return Get("iter8.tools/v2alpha2", "Experiment", "default", name);
  }
  Json Isvc(const std::string& name) {
    return Get("serving.kserve.io/v1beta1", "InferenceService", "default", name);
  }
  static std::string Condition(const Json& e, const std::string& type) {
    if (!e.is_object() || !e.contains("status")) return "";
    for (const Json& c : e["status"].value("conditions", Json::array())) {
      if (c.value("type", std::string()) == type) return c.value("status", std::string());
    }
    return "";
  }
  static Json ConditionObject(const Json& e, const std::string& type) {
    for (const Json& c : e["status"].value("conditions", Json::array())) {
      if (c.value("type", std::string()) == type) return c;
    }
    return Json();
  }

  static bool WaitFor(const std::function<bool()>& done, absl::Duration limit) {
    return testing::WaitFor(done, limit, absl::Milliseconds(100));
  }
  bool WaitCompleted(const std::string& name, absl::Duration limit = absl::Seconds(60)) {
    return WaitFor([&] { return Condition(Experiment(name), "Completed") == "True"; }, limit);
  }

  // Starts `iter8 controller`; returns its index in controllers_.
  size_t StartController(const std::string& identity, std::vector<std::string> extra = {}) {
    metrics_ports_.push_back(testing::FreePort());
    std::vector<std::string> argv = {
        ITER8_BIN,           "controller",
        "--kubeconfig",      kubeconfig_,
        "--log-format",      "text",
        "--identity",        identity,
        "--metrics-address", StrCat("127.0.0.1:", metrics_ports_.back()),
        "--health-address",  "0",
        "--webhook-address", StrCat("127.0.0.1:", testing::FreePort())};
    argv.insert(argv.end(), extra.begin(), extra.end());
    logs_.push_back((dir_.path() / StrCat(identity, ".log")).string());
    controllers_.push_back(std::make_unique<testing::ChildProcess>(argv, logs_.back()));
    EXPECT_TRUE(controllers_.back()->started());
    return controllers_.size() - 1;
  }

  // The reasons and messages of the Events about experiment `name`, oldest first.
  std::vector<std::string> Events(const std::string& name) {
    absl::StatusOr<k8s::Resource> r = client_->Discover("v1", "Event");
    std::vector<std::string> out;
    if (!r.ok()) return out;
    absl::StatusOr<std::vector<Json>> events = client_->List(*r, "default");
    if (!events.ok()) return out;
    std::vector<std::pair<int64_t, std::string>> ordered;
    for (const Json& ev : *events) {
      if (ev["involvedObject"].value("name", std::string()) != name) continue;
      ordered.emplace_back(
          std::stoll(ev["metadata"].value("resourceVersion", std::string("0"))),
          StrCat(ev.value("reason", std::string()), ": ", ev.value("message", std::string())));
    }
    std::sort(ordered.begin(), ordered.end());
    for (auto& [rv, text] : ordered) out.push_back(text);
    return out;
  }

  // Experiment `name` (on InferenceService `name`) completed all `iterations` without failing,
  // promoted its canary (100 %), and no iteration was completed twice (one Event each at most).
  void ExpectPromotedWithEachIterationOnce(const std::string& name, int iterations) {
    const Json e = Experiment(name);
    EXPECT_EQ(CompletedIterations(e), iterations);
    EXPECT_EQ(Condition(e, "Failed"), "False") << e.dump(2);
    EXPECT_EQ(e["status"]["versionRecommendedForPromotion"], "canary");
    EXPECT_EQ(Isvc(name)["spec"]["predictor"]["canaryTrafficPercent"], 100);
    const std::vector<std::string> events = Events(name);
    for (int i = 1; i <= iterations; ++i) {
      EXPECT_LE(Count(events, StrCat("IterationUpdate: Completed Iteration ", i)), 1) << i;
    }
  }

  testing::TempDir dir_;
  testing::TestApiServer server_;
  std::string kubeconfig_;
  std::unique_ptr<k8s::Client> client_;
  std::unique_ptr<testing::SimulatedKServe> kserve_;
  std::vector<int> metrics_ports_;
  std::vector<std::string> logs_;
  std::vector<std::unique_ptr<testing::ChildProcess>> controllers_;
};

// The README's cluster-mode quickstart: default, then canary, then the experiment; the canary
// ends with 100 % of the traffic.
TEST_F(ClusterTest, QuickstartPromotesTheCanary) {
  StartController("one");
  Apply(ReadFile(Source("samples/cluster/quickstart/default.yaml")));
  ASSERT_TRUE(
      WaitFor([&] { return Condition(Isvc("my-model"), "Ready") == "True"; }, absl::Seconds(10)));
  Apply(ReadFile(Source("samples/cluster/quickstart/canary.yaml")));
  Apply(ReadFile(Source("samples/cluster/quickstart/metrics.yaml")));
  Apply(ReadFile(Source("samples/cluster/quickstart/experiment.yaml")));
  ASSERT_TRUE(WaitCompleted("quickstart-exp")) << ReadFile(logs_[0]);

  const Json e = Experiment("quickstart-exp");
  EXPECT_EQ(Condition(e, "Failed"), "False") << e.dump(2);
  EXPECT_EQ(e["status"]["versionRecommendedForPromotion"], "canary");
  EXPECT_EQ(CompletedIterations(e), 6);
  // kserve/start filled versionInfo from the revisions.
  EXPECT_EQ(e["spec"]["versionInfo"]["baseline"]["variables"][0]["value"],
            "my-model-predictor-default-00001");
  EXPECT_EQ(e["spec"]["versionInfo"]["candidates"][0]["variables"][0]["value"],
            "my-model-predictor-default-00002");
  const Json isvc = Isvc("my-model");
  EXPECT_EQ(isvc["spec"]["predictor"]["canaryTrafficPercent"], 100);
  EXPECT_EQ(isvc["status"]["components"]["predictor"]["latestRolledoutRevision"],
            "my-model-predictor-default-00002");

  // Kubernetes Events tell the story; one per iteration. (The last is written just after the
  // status that completes the experiment.)
  ASSERT_TRUE(WaitFor(
      [&] {
        return Count(Events("quickstart-exp"), "ExperimentCompleted: Experiment Completed") > 0;
      },
      absl::Seconds(5)));
  const std::vector<std::string> events = Events("quickstart-exp");
  for (int i = 1; i <= 6; ++i) {
    EXPECT_EQ(Count(events, StrCat("IterationUpdate: Completed Iteration ", i)), 1);
  }
  EXPECT_EQ(Count(events, "ExperimentCompleted: Experiment Completed"), 1);
  EXPECT_EQ(Count(events, "HandlerLaunched: Finish handler 'finish' launched"), 1);

  // The actions' state is kept in the iter8 namespace.
  const Json start = Get("v1", "ConfigMap", "iter8-system", "default.quickstart-exp-start");
  ASSERT_TRUE(start.is_object()) << "no handler state";
  EXPECT_NE(start["data"]["status"].get<std::string>().find("Complete"), std::string::npos);

  // Operations metrics.
  testing::TempDir tmp;
  const std::string out = (tmp.path() / "m").string();
  ASSERT_EQ(std::system(
                StrCat("curl -s http://127.0.0.1:", metrics_ports_[0], "/metrics > ", out).c_str()),
            0);
  const std::string metrics = ReadFile(out);
  EXPECT_NE(metrics.find("iter8_controller_experiments{stage=\"Completed\"} 1"), std::string::npos)
      << metrics;
  EXPECT_EQ(metrics.find("iter8_controller_reconciles_total{result=\"success\"} 0\n"),
            std::string::npos);
}

// Job-based actions through the controller: a kubernetes/job task before kserve/start and one
// after kserve/finish (its args rendered with the winner). The test plays Kubernetes' Job
// controller (the test API server has none): it completes every Job it sees, except those of
// "fail-exp", which fail; that experiment fails with the original's HandlerFailed.
TEST_F(ClusterTest, JobBasedActionsRunAsJobs) {
  StartController("one");
  DeployCanary("jobs", 5, "0");
  DeployCanary("fails", 5, "0");
  auto with_jobs = [](std::string yaml) {
    const std::string start = "start: [{task: kserve/start}]";
    yaml.replace(yaml.find(start), start.size(),
                 "start: [{task: kubernetes/job, with: {image: example.com/warm:1}}, "
                 "{task: kserve/start}]");
    const std::string finish = "finish: [{task: kserve/finish}]";
    yaml.replace(yaml.find(finish), finish.size(),
                 "finish: [{task: kserve/finish}, {task: kubernetes/job, with: "
                 "{image: example.com/notify:1, args: ['{{ .name }}']}}]");
    return yaml;
  };
  absl::StatusOr<k8s::Resource> jobs = client_->Discover("batch/v1", "Job");
  ASSERT_TRUE(jobs.ok());
  std::atomic<bool> stop{false};
  std::thread job_controller([&] {
    while (!stop.load()) {
      absl::StatusOr<std::vector<Json>> list = client_->List(*jobs, "iter8-system");
      for (Json j : list.ok() ? *list : std::vector<Json>{}) {
        if (j.contains("status") && j["status"].contains("conditions")) continue;
        const bool fail = j["metadata"]["name"].get<std::string>().rfind("fail-exp", 0) == 0;
        j["status"] = {{"conditions", Json::array({{{"type", fail ? "Failed" : "Complete"},
                                                    {"status", "True"},
                                                    {"reason", fail ? "DeadlineExceeded" : ""},
                                                    {"message", fail ? "too slow" : ""}}})}};
        (void)client_->Update(*jobs, j, /*status=*/true);
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
  });
  Apply(with_jobs(ExperimentYaml("jobs-exp", "default/jobs", 2)));
  Apply(with_jobs(ExperimentYaml("fail-exp", "default/fails", 2)));
  const bool completed = WaitCompleted("jobs-exp") && WaitCompleted("fail-exp");
  stop = true;
  job_controller.join();
  ASSERT_TRUE(completed) << ReadFile(logs_[0]);

  const Json e = Experiment("jobs-exp");
  EXPECT_EQ(Condition(e, "Failed"), "False") << e.dump(2);
  EXPECT_EQ(Isvc("jobs")["spec"]["predictor"]["canaryTrafficPercent"], 100);
  const Json warm = Get("batch/v1", "Job", "iter8-system", "jobs-exp-start-0");
  ASSERT_TRUE(warm.is_object());
  EXPECT_EQ(warm["metadata"]["labels"]["iter8/experimentName"], "jobs-exp");
  EXPECT_EQ(warm["spec"]["template"]["spec"]["containers"][0]["image"], "example.com/warm:1");
  const Json notify = Get("batch/v1", "Job", "iter8-system", "jobs-exp-finish-1");
  ASSERT_TRUE(notify.is_object());
  const Json& container = notify["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(container["args"], Json::array({"canary"}));  // the winner
  EXPECT_NE(container["env"].dump().find(R"({"name":"ACTION","value":"finish"})"),
            std::string::npos)
      << container["env"];

  const Json f = Experiment("fail-exp");
  EXPECT_EQ(Condition(f, "Failed"), "True");
  EXPECT_EQ(ConditionObject(f, "Failed")["reason"], "HandlerFailed") << f.dump(2);
  EXPECT_EQ(CompletedIterations(f), 0);
  const std::string log = ReadFile(logs_[0]);
  EXPECT_NE(log.find("Job iter8-system/fail-exp-start-0 failed: DeadlineExceeded: too slow"),
            std::string::npos)
      << log;
  // The failed start never reached kserve/start: the InferenceService is as it was.
  EXPECT_EQ(Isvc("fails")["spec"]["predictor"]["canaryTrafficPercent"], 5);
}

TEST_F(ClusterTest, FailingCanaryIsRolledBack) {
  StartController("one");
  DeployCanary("sklearn", 10, "0.2");
  Apply(ExperimentYaml("bad", "default/sklearn", 4));
  ASSERT_TRUE(WaitCompleted("bad")) << ReadFile(logs_[0]);
  const Json e = Experiment("bad");
  EXPECT_EQ(e["status"]["versionRecommendedForPromotion"], "default") << e.dump(2);
  const Json isvc = Isvc("sklearn");
  EXPECT_EQ(isvc["spec"]["predictor"]["canaryTrafficPercent"], 0);
  EXPECT_EQ(isvc["status"]["components"]["predictor"]["latestRolledoutRevision"],
            "sklearn-predictor-default-00001");
  // The failing canary never got more traffic than it started with.
  EXPECT_EQ(Count(Events("bad"),
                  "InferenceService default/sklearn: canaryTrafficPercent 100 (canary promoted)"),
            0);
}

// An experiment the original would fail fails with the original's reason and message; as in
// the original (etc3 >= v0.1.23) a failed experiment runs no finish action, so the traffic stays
// where kserve/start put it.
TEST_F(ClusterTest, ExperimentWithAMissingMetricFails) {
  StartController("one");
  DeployCanary("x", 5, "0");
  std::string yaml = ExperimentYaml("invalid", "default/x", 3);
  yaml.replace(yaml.find("metric: mean-latency"), 20, "metric: nosuch");
  Apply(yaml);
  ASSERT_TRUE(WaitCompleted("invalid")) << ReadFile(logs_[0]);
  const Json e = Experiment("invalid");
  EXPECT_EQ(Condition(e, "Failed"), "True");
  const Json failed = ConditionObject(e, "Failed");
  EXPECT_EQ(failed["reason"], "MetricUnavailable");
  EXPECT_EQ(failed["message"], "Unable to find metric default/nosuch");
  ASSERT_TRUE(WaitFor(
      [&] { return Count(Events("invalid"), "ExperimentCompleted: Experiment failed") > 0; },
      absl::Seconds(5)));
  EXPECT_EQ(Count(Events("invalid"), "MetricUnavailable: Unable to find metric default/nosuch"), 1);
  EXPECT_EQ(CompletedIterations(e), 0);
  EXPECT_EQ(Isvc("x")["spec"]["predictor"]["canaryTrafficPercent"], 1);
  EXPECT_EQ(Count(Events("invalid"), "HandlerLaunched: Finish handler 'finish' launched"), 0);
}

// Two experiments on one InferenceService run one after the other (spec.md 5.4).
TEST_F(ClusterTest, ExperimentsOnOneTargetAreSerialized) {
  StartController("one");
  DeployCanary("shared", 1, "0");
  Apply(ExperimentYaml("first", "default/shared", 3));
  ASSERT_TRUE(WaitFor([&] { return Condition(Experiment("first"), "TargetAcquired") == "True"; },
                      absl::Seconds(20)));
  Apply(ExperimentYaml("second", "default/shared", 2));
  // While the first runs, the second waits.
  bool overlapped = false;
  ASSERT_TRUE(WaitFor(
      [&] {
        const bool first_done = Condition(Experiment("first"), "Completed") == "True";
        if (!first_done && Condition(Experiment("second"), "TargetAcquired") == "True") {
          overlapped = true;
        }
        return first_done;
      },
      absl::Seconds(60)));
  EXPECT_FALSE(overlapped);
  ASSERT_TRUE(WaitCompleted("second")) << ReadFile(logs_[0]);
  const Json first = Experiment("first");
  const Json second = Experiment("second");
  EXPECT_EQ(Condition(second, "Failed"), "False") << second.dump(2);
  EXPECT_GE(ConditionObject(second, "TargetAcquired")["lastTransitionTime"].get<std::string>(),
            ConditionObject(first, "Completed")["lastTransitionTime"].get<std::string>());
}

// 500s, conflicts, dropped watches and 410 Gone during an experiment: it still completes, with
// every iteration counted once.
TEST_F(ClusterTest, SurvivesApiServerFailures) {
  const size_t c = StartController("one");
  DeployCanary("flaky", 1, "0");
  Apply(ExperimentYaml("flaky", "default/flaky", 8));
  ASSERT_TRUE(
      WaitFor([&] { return CompletedIterations(Experiment("flaky")) >= 1; }, absl::Seconds(30)));
  server_.FailNextRequests(3, 500);
  absl::SleepFor(absl::Milliseconds(1200));
  server_.FailNextWrites(2, 409);
  absl::SleepFor(absl::Milliseconds(1200));
  server_.DropWatches();
  absl::SleepFor(absl::Milliseconds(1200));
  // The server restarts its watch cache: watches are refused while the experiment goes on
  // writing, then history is compacted, so the controller's watch resumes at a version that
  // is gone (410) and it lists again.
  server_.RefuseWatches(true);
  server_.DropWatches();
  absl::SleepFor(absl::Milliseconds(2500));
  server_.CompactHistory();
  server_.RefuseWatches(false);
  ASSERT_TRUE(WaitCompleted("flaky")) << ReadFile(logs_[c]);
  ExpectPromotedWithEachIterationOnce("flaky", 8);
  const std::string log = ReadFile(logs_[c]);
  EXPECT_NE(log.find("listing again"), std::string::npos) << "no 410 relist seen:\n" << log;
}

// Two replicas with leader election; the leader is killed (-9) mid-experiment; the standby
// takes the lease and finishes the experiment without repeating an iteration.
TEST_F(ClusterTest, StandbyTakesOverAfterLeaderIsKilled) {
  const std::vector<std::string> election = {
      "--leader-elect", "--lease-duration", "3s", "--renew-deadline", "2s", "--retry-period",
      "500ms"};
  const size_t a = StartController("replica-a", election);
  ASSERT_TRUE(WaitFor(
      [&] {
        const Json lease =
            Get("coordination.k8s.io/v1", "Lease", "iter8-system", "leader.iter8.tools");
        return lease.is_object() && lease["spec"].value("holderIdentity", "") == "replica-a";
      },
      absl::Seconds(10)));
  const size_t b = StartController("replica-b", election);
  DeployCanary("failover", 1, "0");
  Apply(ExperimentYaml("failover", "default/failover", 8));
  ASSERT_TRUE(
      WaitFor([&] { return CompletedIterations(Experiment("failover")) >= 3; }, absl::Seconds(30)))
      << ReadFile(logs_[a]);
  controllers_[a]->Kill();
  const int64_t at_kill = CompletedIterations(Experiment("failover"));
  ASSERT_TRUE(WaitCompleted("failover")) << ReadFile(logs_[b]);
  ExpectPromotedWithEachIterationOnce("failover", 8);
  const std::string log_b = ReadFile(logs_[b]);
  EXPECT_NE(log_b.find("replica-b took lease iter8-system/leader.iter8.tools from replica-a"),
            std::string::npos)
      << log_b;
  EXPECT_LT(at_kill, 8);
}

// SIGTERM releases the lease: the standby takes over at its next retry, long before the lease
// would have expired.
TEST_F(ClusterTest, SigtermReleasesTheLease) {
  const std::vector<std::string> election = {
      "--leader-elect", "--lease-duration", "30s", "--renew-deadline", "20s", "--retry-period",
      "300ms"};
  const size_t a = StartController("replica-a", election);
  auto holder = [&] {
    const Json lease = Get("coordination.k8s.io/v1", "Lease", "iter8-system", "leader.iter8.tools");
    return lease.is_object() ? lease["spec"].value("holderIdentity", std::string()) : "";
  };
  ASSERT_TRUE(WaitFor([&] { return holder() == "replica-a"; }, absl::Seconds(10)));
  StartController("replica-b", election);
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(holder(), "replica-a");  // the standby waits
  const absl::Time stopped = absl::Now();
  controllers_[a]->Signal(SIGTERM);
  EXPECT_EQ(controllers_[a]->WaitForExit(std::chrono::seconds(10)), 0);
  ASSERT_TRUE(WaitFor([&] { return holder() == "replica-b"; }, absl::Seconds(10)));
  EXPECT_LT(absl::Now() - stopped, absl::Seconds(10));  // not the 30 s lease duration
}

// Real traffic: the simulated KServe moves iter8's proxy weights between two sample model
// servers (one per revision), a load generator sends predictions through the proxy, a real
// Prometheus scrapes the proxy's Knative-named metrics, and the experiment reads them with the
// out-of-the-box metrics of deploy/metrics (only their Prometheus URL changed).
class ClusterTrafficTest : public ClusterTest {
 protected:
  static constexpr char kRev1[] = "my-model-predictor-default-00001";
  static constexpr char kRev2[] = "my-model-predictor-default-00002";

  void StartDataPlane(double canary_error_rate) {
    for (int i = 0; i < 2; ++i) {
      modelserver::ModelServerOptions o;
      o.model = *modelserver::LoadModel(i == 0 ? "iris-v1" : "iris-v2");
      o.threads = 2;
      o.latency_ms = 5;
      o.error_rate = i == 0 ? 0 : canary_error_rate;
      servers_.push_back(std::make_unique<modelserver::ModelServer>(o));
      ASSERT_TRUE(servers_.back()->Start({"127.0.0.1", 0}).ok());
    }
    auto docs = api::ParseDocuments(
        StrCat("apiVersion: iter8.tools/v1alpha1\nkind: Route\nmetadata: {name: my-model}\n",
               "spec:\n  listen: 127.0.0.1:0\n  admin: 127.0.0.1:0\n  versions:\n",
               "  - {name: ", kRev1, ", backend: \"http://", servers_[0]->Address().String(),
               "\", weight: 100}\n", "  - {name: ", kRev2, ", backend: \"http://",
               servers_[1]->Address().String(), "\", weight: 0}\n"),
        "route.yaml");
    ASSERT_TRUE(docs.ok()) << docs.status();
    auto route = proxy::ParseRoute(docs->front().json);
    ASSERT_TRUE(route.ok()) << route.status();
    {
      std::lock_guard<std::mutex> l(mu_);
      proxy_ = std::make_unique<proxy::Proxy>(proxy::ProxyOptions{.workers = 1});
      ASSERT_TRUE(proxy_->Start(*route).ok());
    }
    prometheus_ = testing::StartPrometheus(
        dir_.path(), StrCat("global:\n  scrape_interval: 1s\nscrape_configs:\n",
                            "- job_name: iter8-proxy\n  static_configs:\n  - targets: ['",
                            proxy_->AdminAddress()->String(), "']\n"));
    ASSERT_TRUE(prometheus_.process)
        << "prometheus did not start: " << ReadFile((dir_.path() / "prometheus.log").string());
    // Steady load through the proxy until the test ends.
    load_ = std::thread([this] {
      loadgen::LoadOptions lo;
      lo.url = StrCat("http://", proxy_->ListenAddress().String(), "/v1/models/iris:predict");
      lo.method = "POST";
      lo.headers = {{"Content-Type", "application/json"}};
      lo.body = R"({"instances": [[6.8, 2.8, 4.8, 1.4]]})";
      lo.rate = 100;
      lo.duration = std::chrono::milliseconds(600000);
      lo.connections = 4;
      lo.cancel = &stop_load_;
      (void)loadgen::RunLoad(lo);
    });
  }

  void TearDown() override {
    stop_load_ = true;
    if (load_.joinable()) load_.join();
    ClusterTest::TearDown();
    std::lock_guard<std::mutex> l(mu_);
    if (proxy_) proxy_->Stop();
  }

  void OnSplit(const std::string& isvc, const std::map<std::string, int>& split) override {
    if (isvc != "default/my-model") return;
    std::map<std::string, int64_t> weights = {{kRev1, 0}, {kRev2, 0}};
    for (const auto& [rev, pct] : split) weights[rev] = pct;
    std::lock_guard<std::mutex> l(mu_);
    if (proxy_) {
      absl::Status s = proxy_->SetWeights(weights);
      EXPECT_TRUE(s.ok()) << s;
    }
    last_split_ = split;
  }

  // Runs the original quickstart's flow with the out-of-the-box metrics; returns the experiment.
  Json RunExperiment() {
    StartController("one");
    Apply(ReadFile(Source("samples/cluster/quickstart/default.yaml")));
    EXPECT_TRUE(
        WaitFor([&] { return Condition(Isvc("my-model"), "Ready") == "True"; }, absl::Seconds(10)));
    Apply(ReadFile(Source("samples/cluster/quickstart/canary.yaml")));
    std::string metrics = ReadFile(Source("deploy/metrics/kfserving-revision.yaml"));
    const std::string url = "http://prometheus-operated.iter8-system:9090";
    for (size_t at = metrics.find(url); at != std::string::npos; at = metrics.find(url)) {
      metrics.replace(at, url.size(), prometheus_.Url());
    }
    Apply(metrics);
    Apply(ExperimentYaml("real-traffic", "default/my-model", 6, 3, "iter8-kfserving/"));
    EXPECT_TRUE(WaitCompleted("real-traffic", absl::Seconds(90))) << ReadFile(logs_[0]);
    return Experiment("real-traffic");
  }

  std::vector<std::unique_ptr<modelserver::ModelServer>> servers_;
  std::mutex mu_;  // guards proxy_ and last_split_ against the KServe thread
  std::unique_ptr<proxy::Proxy> proxy_;
  std::map<std::string, int> last_split_;
  testing::RunningPrometheus prometheus_;
  std::atomic<bool> stop_load_{false};
  std::thread load_;
};

TEST_F(ClusterTrafficTest, GoodCanaryIsPromotedOnRealMetrics) {
  StartDataPlane(/*canary_error_rate=*/0);
  const Json e = RunExperiment();
  EXPECT_EQ(Condition(e, "Failed"), "False") << e.dump(2);
  EXPECT_EQ(e["status"]["versionRecommendedForPromotion"], "canary") << e.dump(2);
  // The values came from Prometheus: both versions have a mean latency of at least the 5 ms
  // the model servers add.
  const Json& values =
      e["status"]["analysis"]["aggregatedMetrics"]["data"]["iter8-kfserving/mean-latency"]["data"];
  for (const char* v : {"default", "canary"}) {
    ASSERT_TRUE(values.contains(v)) << e["status"]["analysis"].dump(2);
    const Json& value = values[v]["value"];
    ASSERT_FALSE(value.is_null()) << v << ": " << values.dump();
    EXPECT_GE(value.is_string() ? std::stod(value.get<std::string>()) : value.get<double>(), 5.0)
        << v;
  }
  EXPECT_EQ(Isvc("my-model")["spec"]["predictor"]["canaryTrafficPercent"], 100);
  // KServe moved all traffic to the new revision, and the proxy with it.
  ASSERT_TRUE(WaitFor(
      [&] {
        std::lock_guard<std::mutex> l(mu_);
        return last_split_ == std::map<std::string, int>{{kRev2, 100}};
      },
      absl::Seconds(5)));
  EXPECT_GT(servers_[1]->Inferences(), 0u);
}

TEST_F(ClusterTrafficTest, ErroringCanaryIsRolledBackOnRealMetrics) {
  StartDataPlane(/*canary_error_rate=*/0.3);
  const Json e = RunExperiment();
  EXPECT_EQ(e["status"]["versionRecommendedForPromotion"], "default") << e.dump(2);
  EXPECT_EQ(Isvc("my-model")["spec"]["predictor"]["canaryTrafficPercent"], 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        std::lock_guard<std::mutex> l(mu_);
        return last_split_ == std::map<std::string, int>{{kRev1, 100}, {kRev2, 0}};
      },
      absl::Seconds(5)));
  std::lock_guard<std::mutex> l(mu_);
  EXPECT_GT(proxy_->Traffic(kRev2)->Errors(), 0u);  // the canary did serve (and fail) requests
}

// Bad flags are named before anything starts.
TEST(ClusterFlagsTest, BadFlagsAreNamed) {
  testing::TempDir dir;
  const std::string log = (dir.path() / "out").string();
  testing::ChildProcess p({ITER8_BIN, "controller", "--lease-duration", "soon", "--leader-elect"},
                          log);
  EXPECT_EQ(p.WaitForExit(std::chrono::seconds(10)), 2);
  EXPECT_NE(ReadFile(log).find("--lease-duration"), std::string::npos) << ReadFile(log);
  testing::ChildProcess q({ITER8_BIN, "controller", "--metrics-address", "localhost"}, log);
  EXPECT_EQ(q.WaitForExit(std::chrono::seconds(10)), 2);
  EXPECT_NE(ReadFile(log).find("--metrics-address: 'localhost' is not [HOST]:PORT or 0"),
            std::string::npos)
      << ReadFile(log);
  testing::ChildProcess r({ITER8_BIN, "controller", "--kubeconfig", "/nonexistent/kc"}, log);
  EXPECT_EQ(r.WaitForExit(std::chrono::seconds(10)), 1);
  EXPECT_NE(ReadFile(log).find("/nonexistent/kc"), std::string::npos) << ReadFile(log);
}

}  // namespace
}  // namespace iter8
