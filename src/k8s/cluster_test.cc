// Cluster mode's parts against the in-tree test API server (test/apiserver; not Kubernetes):
// informer, ClusterStore, traffic driver, leader election, kserve tasks, the Job task, events.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "absl/time/clock.h"
#include "api/load.h"
#include "k8s/cluster_store.h"
#include "k8s/events.h"
#include "k8s/informer.h"
#include "k8s/job_task.h"
#include "k8s/kserve.h"
#include "k8s/leader.h"
#include "k8s/traffic_driver.h"
#include "k8s/v2alpha1_config.h"
#include "test/apiserver/crd.h"
#include "test/apiserver/test_apiserver.h"
#include "test/testing/reference.h"
#include "test/testing/wait.h"

namespace iter8::k8s {
namespace {

Json Crd(const std::string& group, const std::string& plural, const std::string& kind,
         const std::string& version, bool status) {
  return testing::CrdJson(group, plural, kind, version, status);
}

// Election options with short periods, so tests take seconds.
LeaderElectionOptions FastElection(const std::string& identity, absl::Duration lease,
                                   absl::Duration renew_deadline) {
  LeaderElectionOptions o;
  o.identity = identity;
  o.lease_duration = lease;
  o.renew_deadline = renew_deadline;
  o.retry_period = absl::Milliseconds(100);
  return o;
}

Json ExperimentJson(const std::string& name) {
  return {{"apiVersion", "iter8.tools/v2alpha2"},
          {"kind", "Experiment"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec",
           {{"target", "default/isvc"},
            {"strategy", {{"testingPattern", "Canary"}}},
            {"duration", {{"intervalSeconds", 1}, {"iterationsPerLoop", 1}}}}}};
}

class ClusterPartsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok());
    absl::StatusOr<ClusterConfig> config = ParseKubeconfig(server_.Kubeconfig(), "test");
    ASSERT_TRUE(config.ok());
    ClientOptions o;
    o.backoff = absl::Milliseconds(5);
    client_ = std::make_unique<Client>(*config, o);
    absl::StatusOr<Resource> crds =
        client_->Discover("apiextensions.k8s.io/v1", "CustomResourceDefinition");
    ASSERT_TRUE(crds.ok());
    for (const Json& crd :
         {Crd("iter8.tools", "experiments", "Experiment", "v2alpha2", true),
          Crd("iter8.tools", "metrics", "Metric", "v2alpha2", false),
          Crd("serving.kserve.io", "inferenceservices", "InferenceService", "v1beta1", true)}) {
      ASSERT_TRUE(client_->Create(*crds, "", crd).ok());
    }
    experiments_ = *client_->Discover("iter8.tools/v2alpha2", "Experiment");
    isvcs_ = *client_->Discover("serving.kserve.io/v1beta1", "InferenceService");
  }

  static bool WaitFor(const std::function<bool()>& done, absl::Duration limit = absl::Seconds(10)) {
    return testing::WaitFor(done, limit, absl::Milliseconds(20));
  }

  testing::TestApiServer server_;
  std::unique_ptr<Client> client_;
  Resource experiments_;
  Resource isvcs_;
};

TEST_F(ClusterPartsTest, InformerFollowsAddsUpdatesDeletesAndRelistsAfterGone) {
  ASSERT_TRUE(client_->Create(experiments_, "default", ExperimentJson("a")).ok());
  std::mutex mu;
  std::vector<std::pair<store::ChangeType, std::string>> seen;
  InformerOptions o;
  o.retry = absl::Milliseconds(20);
  Informer informer(*client_, experiments_, o, [&](store::ChangeType t, const Json& obj) {
    std::lock_guard<std::mutex> l(mu);
    seen.emplace_back(t, obj["metadata"]["name"].get<std::string>());
  });
  ASSERT_TRUE(informer.Start().ok());
  ASSERT_TRUE(informer.Get("default", "a").has_value());  // complete after Start
  ASSERT_TRUE(client_->Create(experiments_, "default", ExperimentJson("b")).ok());
  ASSERT_TRUE(WaitFor([&] { return informer.Get("default", "b").has_value(); }));
  ASSERT_TRUE(client_->Delete(experiments_, "default", "a").ok());
  ASSERT_TRUE(WaitFor([&] { return !informer.Get("default", "a").has_value(); }));

  // Watches refused while b is deleted and c created, then the history is compacted: the
  // resumed watch gets 410 and the relist reports both changes.
  server_.RefuseWatches(true);
  server_.DropWatches();
  ASSERT_TRUE(client_->Delete(experiments_, "default", "b").ok());
  ASSERT_TRUE(client_->Create(experiments_, "default", ExperimentJson("c")).ok());
  server_.CompactHistory();
  server_.RefuseWatches(false);
  ASSERT_TRUE(WaitFor(
      [&] { return informer.Get("default", "c").has_value() && !informer.Get("default", "b"); }));
  EXPECT_GE(informer.Stats().expired, 1);
  EXPECT_EQ(informer.List("default").size(), 1u);
  informer.Stop();
  std::lock_guard<std::mutex> l(mu);
  const std::vector<std::pair<store::ChangeType, std::string>> expected = {
      {store::ChangeType::kAdded, "a"},
      {store::ChangeType::kAdded, "b"},
      {store::ChangeType::kDeleted, "a"},
      {store::ChangeType::kDeleted, "b"},
      {store::ChangeType::kAdded, "c"}};
  EXPECT_EQ(seen, expected);
}

TEST_F(ClusterPartsTest, InformerNeverGoesBackToAnOlderVersion) {
  Informer informer(*client_, experiments_, {}, nullptr);
  ASSERT_TRUE(informer.Start().ok());
  Json newer = ExperimentJson("x");
  newer["metadata"]["resourceVersion"] = "20";
  informer.Observe(newer);
  Json older = newer;
  older["metadata"]["resourceVersion"] = "9";
  older["spec"]["target"] = "old";
  informer.Observe(older);
  EXPECT_EQ((*informer.Get("default", "x"))["metadata"]["resourceVersion"], "20");
  EXPECT_TRUE(NewerVersion(newer, older));
  EXPECT_FALSE(NewerVersion(older, newer));
}

TEST_F(ClusterPartsTest, ClusterStoreReadsItsOwnWritesAndFeedsChanges) {
  ClusterStoreOptions o;
  o.iter8_namespace = "iter8-system";
  absl::StatusOr<std::unique_ptr<ClusterStore>> store = ClusterStore::Open(*client_, o);
  ASSERT_TRUE(store.ok()) << store.status();
  const int64_t start = *(*store)->Revision();
  absl::StatusOr<api::Json> created = (*store)->Create(api::Json(ExperimentJson("e")));
  ASSERT_TRUE(created.ok()) << created.status();
  // Read at once from the cache.
  absl::StatusOr<api::Json> got = (*store)->Get({"Experiment", "default", "e"});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["metadata"]["resourceVersion"], (*created)["metadata"]["resourceVersion"]);

  // Status through the subresource; a stale write is a conflict (kAborted).
  api::Json with_status = *got;
  with_status["status"] = {{"stage", "Running"}};
  absl::StatusOr<api::Json> written = (*store)->UpdateStatus(with_status);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ((*written)["status"]["stage"], "Running");
  EXPECT_TRUE(absl::IsAborted((*store)->UpdateStatus(with_status).status()));

  // Handlers live in ConfigMaps of the iter8 namespace and come back as Handlers.
  api::Json h = {{"apiVersion", "iter8.tools/v1alpha1"},
                 {"kind", "Handler"},
                 {"metadata", {{"name", "e-start"}, {"namespace", "default"}}},
                 {"spec", {{"experiment", "e"}, {"action", "start"}}}};
  absl::StatusOr<api::Json> hc = (*store)->Create(h);
  ASSERT_TRUE(hc.ok()) << hc.status();
  EXPECT_TRUE(absl::IsAlreadyExists((*store)->Create(h).status()));
  api::Json hs = *hc;
  hs["status"] = {{"state", "Complete"}};
  ASSERT_TRUE((*store)->UpdateStatus(hs).ok());
  absl::StatusOr<std::vector<api::Json>> handlers = (*store)->List("Handler", "default");
  ASSERT_TRUE(handlers.ok());
  ASSERT_EQ(handlers->size(), 1u);
  EXPECT_EQ((*handlers)[0]["status"]["state"], "Complete");
  EXPECT_EQ((*handlers)[0]["spec"]["experiment"], "e");
  absl::StatusOr<Resource> cms = client_->Discover("v1", "ConfigMap");
  absl::StatusOr<Json> cm = client_->Get(*cms, "iter8-system", "default.e-start");
  ASSERT_TRUE(cm.ok()) << cm.status();
  EXPECT_EQ(cm->at("metadata").at("labels").at(kHandlerLabel), "true");

  // Another writer's change arrives through the watch.
  Json other = ExperimentJson("f");
  ASSERT_TRUE(client_->Create(experiments_, "default", other).ok());
  ASSERT_TRUE(WaitFor([&] { return (*store)->Get({"Experiment", "default", "f"}).ok(); }));

  ASSERT_TRUE((*store)->Delete({"Handler", "default", "e-start"}).ok());
  EXPECT_TRUE(absl::IsNotFound((*store)->Get({"Handler", "default", "e-start"}).status()));

  absl::StatusOr<std::vector<store::Change>> changes = (*store)->Changes(start, 1000);
  ASSERT_TRUE(changes.ok());
  std::set<std::string> keys;
  for (const store::Change& c : *changes) keys.insert(c.key.String());
  EXPECT_TRUE(keys.count("Experiment default/e"));
  EXPECT_TRUE(keys.count("Experiment default/f"));
  EXPECT_TRUE(keys.count("Handler default/e-start"));
  EXPECT_TRUE(absl::IsInvalidArgument((*store)->Get({"Route", "default", "r"}).status()));
  (*store)->Stop();
}

TEST_F(ClusterPartsTest, OpenFailsClearlyWithoutTheCrds) {
  testing::TestApiServer bare;
  ASSERT_TRUE(bare.Start().ok());
  Client client(*ParseKubeconfig(bare.Kubeconfig(), "bare"));
  absl::StatusOr<std::unique_ptr<ClusterStore>> store = ClusterStore::Open(client, {});
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("Experiment CRD is not served"), std::string::npos)
      << store.status();
}

TEST_F(ClusterPartsTest, TrafficDriverPatchesAnyKindAndReadsBack) {
  Json isvc = {{"apiVersion", "serving.kserve.io/v1beta1"},
               {"kind", "InferenceService"},
               {"metadata", {{"name", "m"}, {"namespace", "default"}}},
               {"spec", {{"predictor", {{"sklearn", Json::object()}}}}}};
  ASSERT_TRUE(client_->Create(isvcs_, "default", isvc).ok());
  KubernetesTrafficDriver driver(*client_);
  engine::WeightPatch patch;
  patch.object = {"serving.kserve.io/v1beta1", "InferenceService", "default", "m", "", "", "", {}};
  patch.ops.push_back({"canary", "/spec/predictor/canaryTrafficPercent", 30});
  ASSERT_TRUE(driver.Apply(patch).ok());
  api::ObjectReference ref = patch.object;
  ref.field_path = ".spec.predictor.canaryTrafficPercent";
  absl::StatusOr<int32_t> w = driver.Read(ref);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(*w, 30);
  // Errors name the object.
  patch.object.name = "missing";
  absl::Status s = driver.Apply(patch);
  EXPECT_TRUE(absl::IsNotFound(s));
  EXPECT_NE(s.message().find("InferenceService default/missing"), std::string::npos) << s;
  ref.field_path = ".spec.nothing";
  EXPECT_TRUE(absl::IsNotFound(driver.Read(ref).status()));
}

TEST_F(ClusterPartsTest, OneLeaderAtATimeAndTakeoverAfterExpiryOrRelease) {
  LeaderElector a(*client_, FastElection("a", absl::Milliseconds(1500), absl::Seconds(1)));
  LeaderElector b(*client_, FastElection("b", absl::Milliseconds(1500), absl::Seconds(1)));
  EXPECT_TRUE(a.TryAcquireOrRenew());
  EXPECT_FALSE(b.TryAcquireOrRenew());
  EXPECT_TRUE(a.TryAcquireOrRenew());  // renewal
  EXPECT_FALSE(b.TryAcquireOrRenew());
  // a stops renewing: b takes over once the lease has not changed for its duration (b's clock).
  absl::SleepFor(absl::Milliseconds(800));
  EXPECT_FALSE(b.TryAcquireOrRenew());
  absl::SleepFor(absl::Milliseconds(900));
  EXPECT_TRUE(b.TryAcquireOrRenew());
  EXPECT_FALSE(a.TryAcquireOrRenew());
  EXPECT_FALSE(a.IsLeader());
  // b releases: a takes it at once.
  b.Release();
  EXPECT_TRUE(a.TryAcquireOrRenew());
  absl::StatusOr<Resource> leases = client_->Discover("coordination.k8s.io/v1", "Lease");
  absl::StatusOr<Json> lease = client_->Get(*leases, "iter8-system", "leader.iter8.tools");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(lease->at("spec").at("holderIdentity"), "a");
  EXPECT_EQ(lease->at("spec").at("leaseTransitions"), 2);
}

TEST_F(ClusterPartsTest, LeaderThatCannotRenewLosesTheLease) {
  LeaderElector a(*client_, FastElection("a", absl::Seconds(2), absl::Milliseconds(500)));
  std::atomic<bool> stop{false};
  ASSERT_TRUE(a.Acquire(&stop));
  std::atomic<bool> lost{false};
  a.KeepRenewing([&] { lost = true; });
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_FALSE(lost.load());
  server_.FailNextRequests(1000000, 500);  // the API server is gone
  EXPECT_TRUE(WaitFor([&] { return lost.load(); }, absl::Seconds(10)));
  EXPECT_FALSE(a.IsLeader());
  server_.FailNextRequests(0, 500);
}

class KServeTaskTest : public ClusterPartsTest {
 protected:
  api::Experiment LoadedExperiment(const std::string& name) {
    absl::StatusOr<Json> j = client_->Get(experiments_, "default", name);
    EXPECT_TRUE(j.ok());
    absl::StatusOr<api::Experiment> e = api::LoadExperiment(api::Json(*j));
    EXPECT_TRUE(e.ok()) << e.status();
    return *e;
  }
  // What KServe would write once the canary revision is ready.
  void MarkReady(const std::string& name) {
    absl::StatusOr<Json> o = client_->Get(isvcs_, "default", name);
    ASSERT_TRUE(o.ok());
    Json updated = *o;
    updated["status"] = {{"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})},
                         {"components",
                          {{"predictor",
                            {{"latestRolledoutRevision", name + "-00001"},
                             {"latestCreatedRevision", name + "-00002"}}}}}};
    ASSERT_TRUE(client_->Update(isvcs_, updated, /*status=*/true).ok());
  }
};

TEST_F(KServeTaskTest, StartWaitsForReadyAndFillsVersionInfo) {
  ASSERT_TRUE(client_->Create(experiments_, "default", ExperimentJson("exp")).ok());
  Json isvc = {{"apiVersion", "serving.kserve.io/v1beta1"},
               {"kind", "InferenceService"},
               {"metadata", {{"name", "isvc"}, {"namespace", "default"}}},
               {"spec", {{"predictor", {{"sklearn", Json::object()}}}}}};
  ASSERT_TRUE(client_->Create(isvcs_, "default", isvc).ok());
  tasks::TaskRegistry tasks = KServeTasks(*client_, {absl::Milliseconds(50)});
  api::Experiment e = LoadedExperiment("exp");
  tasks::TaskEnv env;
  env.experiment = &e;
  std::thread kserve([&] {
    absl::SleepFor(absl::Milliseconds(300));  // not Ready at first
    MarkReady("isvc");
  });
  absl::Status s = tasks.at("kserve/start")(Json::object(), env);
  kserve.join();
  ASSERT_TRUE(s.ok()) << s;
  absl::StatusOr<Json> patched = client_->Get(isvcs_, "default", "isvc");
  EXPECT_EQ(patched->at("spec").at("predictor").at("canaryTrafficPercent"), 1);
  api::Experiment after = LoadedExperiment("exp");
  ASSERT_TRUE(after.spec.version_info.has_value());
  EXPECT_EQ(after.spec.version_info->baseline.name, "default");
  EXPECT_EQ(after.spec.version_info->baseline.variables[0].value, "isvc-00001");
  ASSERT_EQ(after.spec.version_info->candidates.size(), 1u);
  const api::VersionDetail& canary = after.spec.version_info->candidates[0];
  EXPECT_EQ(canary.name, "canary");
  EXPECT_EQ(canary.variables[0].value, "isvc-00002");
  ASSERT_TRUE(canary.weight_obj_ref.has_value());
  EXPECT_EQ(canary.weight_obj_ref->api_version, "serving.kserve.io/v1beta1");
  EXPECT_EQ(canary.weight_obj_ref->field_path, ".spec.predictor.canaryTrafficPercent");

  // finish: the canary recommended -> 100; the baseline -> 0.
  after.status.version_recommended_for_promotion = "canary";
  env.experiment = &after;
  env.type = engine::HandlerType::kFinish;
  ASSERT_TRUE(tasks.at("kserve/finish")(Json::object(), env).ok());
  EXPECT_EQ(client_->Get(isvcs_, "default", "isvc")
                ->at("spec")
                .at("predictor")
                .at("canaryTrafficPercent"),
            100);
  env.type = engine::HandlerType::kRollback;  // a rollback keeps the baseline
  ASSERT_TRUE(tasks.at("kserve/finish")(Json::object(), env).ok());
  EXPECT_EQ(client_->Get(isvcs_, "default", "isvc")
                ->at("spec")
                .at("predictor")
                .at("canaryTrafficPercent"),
            0);
}

// v1alpha2's default/canary form (the original's Dec 2020 shell handlers), on the reference's
// InferenceService shape: start sets canaryTrafficPercent 0 and a weightObjRef on
// /spec/canaryTrafficPercent; finish promotes by copying spec.canary over spec.default and
// removing the canary.
TEST_F(KServeTaskTest, V1alpha2CanaryIsPromotedByRewritingTheService) {
  absl::StatusOr<Resource> crds =
      client_->Discover("apiextensions.k8s.io/v1", "CustomResourceDefinition");
  ASSERT_TRUE(client_
                  ->Create(*crds, "",
                           Crd("serving.kubeflow.org", "inferenceservices", "InferenceService",
                               "v1alpha2", true))
                  .ok());
  absl::StatusOr<Resource> v1alpha2 =
      client_->Discover("serving.kubeflow.org/v1alpha2", "InferenceService");
  ASSERT_TRUE(v1alpha2.ok());
  Json isvc = Json::parse(R"({"apiVersion": "serving.kubeflow.org/v1alpha2",
    "kind": "InferenceService", "metadata": {"name": "sklearn-iris", "namespace": "default"},
    "spec": {"default": {"predictor": {"tensorflow": {"storageUri": "gs://m/flowers"}}},
             "canaryTrafficPercent": 95,
             "canary": {"predictor": {"tensorflow": {"storageUri": "gs://m/flowers-2"}}}}})");
  ASSERT_TRUE(client_->Create(*v1alpha2, "default", isvc).ok());
  Json ready = *client_->Get(*v1alpha2, "default", "sklearn-iris");
  ready["status"] = {{"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})}};
  ASSERT_TRUE(client_->Update(*v1alpha2, ready, /*status=*/true).ok());
  Json exp = ExperimentJson("exp");
  exp["spec"]["target"] = "default/sklearn-iris";
  ASSERT_TRUE(client_->Create(experiments_, "default", exp).ok());
  tasks::TaskRegistry tasks = KServeTasks(*client_, {absl::Milliseconds(50)});
  api::Experiment e = LoadedExperiment("exp");
  tasks::TaskEnv env;
  env.experiment = &e;
  const Json with = {{"apiVersion", "serving.kubeflow.org/v1alpha2"}};
  absl::Status started = tasks.at("kserve/start")(with, env);
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_EQ(
      client_->Get(*v1alpha2, "default", "sklearn-iris")->at("spec").at("canaryTrafficPercent"), 0);
  api::Experiment after = LoadedExperiment("exp");
  ASSERT_TRUE(after.spec.version_info.has_value());
  EXPECT_EQ(after.spec.version_info->candidates[0].weight_obj_ref->field_path,
            ".spec.canaryTrafficPercent");
  after.status.version_recommended_for_promotion = "canary";
  env.experiment = &after;
  env.type = engine::HandlerType::kFinish;
  absl::Status finished = tasks.at("kserve/finish")(with, env);
  ASSERT_TRUE(finished.ok()) << finished;
  const Json spec = client_->Get(*v1alpha2, "default", "sklearn-iris")->at("spec");
  EXPECT_EQ(spec.at("default").at("predictor").at("tensorflow").at("storageUri"),
            "gs://m/flowers-2");
  EXPECT_FALSE(spec.contains("canary"));
  EXPECT_FALSE(spec.contains("canaryTrafficPercent"));
}

TEST_F(KServeTaskTest, BadTargetAndMissingServiceAreNamed) {
  ASSERT_TRUE(client_->Create(experiments_, "default", ExperimentJson("exp")).ok());
  tasks::TaskRegistry tasks = KServeTasks(*client_, {absl::Milliseconds(50)});
  api::Experiment e = LoadedExperiment("exp");
  tasks::TaskEnv env;
  env.experiment = &e;
  absl::Status s = tasks.at("kserve/start")(Json{{"target", "no-slash"}}, env);
  EXPECT_EQ(s.message(),
            "invalid target specification; v1beta1 target needs to be of the form: "
            "'inference-service-namespace/inference-service-name'");
  s = tasks.at("kserve/start")(Json{{"timeoutSeconds", 1}}, env);  // default/isvc: absent
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_NE(s.message().find("InferenceService default/isvc not found"), std::string::npos) << s;
  s = tasks.at("kserve/start")(Json{{"canaryTrafficPercent", 101}}, env);
  EXPECT_EQ(s.message(), "with.canaryTrafficPercent: must be an integer in [0, 100]");
  // Cancel stops the wait at once.
  std::atomic<bool> cancel{true};
  env.cancel = &cancel;
  EXPECT_TRUE(absl::IsCancelled(tasks.at("kserve/start")(Json::object(), env)));
}

// kubernetes/job: the Job the original's handler would have been (name, labels, env, the
// shorthand's template), waited for until Complete; Failed fails the task with the Job's reason;
// running again adopts the Job instead of starting a second one; a Job of the same name from an
// earlier experiment (another uid) is replaced; bad parameters are named. The test plays the
// Job controller (there is none in the test API server): it writes the Job's conditions.
class JobTaskTest : public ClusterPartsTest {
 protected:
  void SetUp() override {
    ClusterPartsTest::SetUp();
    jobs_ = *client_->Discover("batch/v1", "Job");
  }
  // Marks Job `name` finished with condition `type` (Complete or Failed) once it exists.
  std::thread Finish(const std::string& name, const std::string& type) {
    return std::thread([this, name, type] {
      absl::StatusOr<Json> job;
      WaitFor([&] {
        job = client_->Get(jobs_, "iter8-system", name);
        return job.ok();
      });
      if (!job.ok()) return;
      absl::SleepFor(absl::Milliseconds(200));  // running for a while
      Json updated = *job;
      updated["status"] = {
          {"conditions",
           Json::array({{{"type", type},
                         {"status", "True"},
                         {"reason", type == "Failed" ? "BackoffLimitExceeded" : "Completed"},
                         {"message", "from the test"}}})}};
      EXPECT_TRUE(client_->Update(jobs_, updated, /*status=*/true).ok());
    });
  }
  Resource jobs_;
};

TEST_F(JobTaskTest, RunsAJobLikeTheOriginalsHandlerAndWaitsForIt) {
  Json ej = ExperimentJson("exp");
  ej["metadata"]["uid"] = "u-1";
  ej["spec"]["versionInfo"] = {{"baseline", {{"name", "default"}}},
                               {"candidates", Json::array({{{"name", "canary"}}})}};
  ASSERT_TRUE(client_->Create(experiments_, "default", ej).ok());
  absl::StatusOr<api::Experiment> e = api::LoadExperiment(api::Json(ej));
  ASSERT_TRUE(e.ok());
  e->metadata.uid = "u-1";
  tasks::TaskRegistry tasks = JobTasks(*client_, {"iter8-system", absl::Milliseconds(50)});
  tasks::TaskEnv env;
  env.experiment = &*e;
  env.type = engine::HandlerType::kStart;
  env.handler = "exp-start";
  env.task_index = 1;
  const Json with = {{"image", "example.com/prep:1"},
                     {"command", {"prep"}},
                     {"args", {"--version", "{{ .name }}"}},
                     {"env", {{{"name", "MODE"}, {"value", "fast"}}}}};
  std::thread controller = Finish("exp-start-1", "Complete");
  absl::Status s = tasks.at("kubernetes/job")(with, env);
  controller.join();
  ASSERT_TRUE(s.ok()) << s;
  absl::StatusOr<Json> job = client_->Get(jobs_, "iter8-system", "exp-start-1");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ((*job)["metadata"]["labels"]["iter8/experimentName"], "exp");
  EXPECT_EQ((*job)["metadata"]["labels"]["iter8/experimentNamespace"], "default");
  EXPECT_EQ((*job)["metadata"]["labels"]["iter8/experimentUID"], "u-1");
  const Json& spec = (*job)["spec"];
  EXPECT_EQ(spec["backoffLimit"], 1);
  EXPECT_EQ(spec["activeDeadlineSeconds"], 300);
  EXPECT_EQ(spec["template"]["metadata"]["labels"]["iter8/action"], "start");
  EXPECT_EQ(spec["template"]["spec"]["restartPolicy"], "Never");
  EXPECT_EQ(spec["template"]["spec"]["serviceAccountName"], "iter8-handlers");
  const Json& c = spec["template"]["spec"]["containers"][0];
  EXPECT_EQ(c["image"], "example.com/prep:1");
  EXPECT_EQ(c["command"], Json::array({"prep"}));
  EXPECT_EQ(c["args"], Json::array({"--version", "default"}));  // no winner yet: the baseline
  std::map<std::string, std::string> vars;
  for (const Json& v : c["env"]) vars[v["name"]] = v.value("value", "");
  EXPECT_EQ(vars["MODE"], "fast");
  EXPECT_EQ(vars["EXPERIMENT_NAME"], "exp");
  EXPECT_EQ(vars["EXPERIMENT_NAMESPACE"], "default");
  EXPECT_EQ(vars["ACTION"], "start");

  // Run again (a new leader): the finished Job is found, not created twice.
  const int64_t before = client_->Requests();
  ASSERT_TRUE(tasks.at("kubernetes/job")(with, env).ok());
  EXPECT_LE(client_->Requests() - before, 4);  // create (409), get, get: no second Job
  absl::StatusOr<std::vector<Json>> all = client_->List(jobs_, "iter8-system");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);

  // A failing Job fails the task with its reason; the finish action of a rollback is "finish".
  env.type = engine::HandlerType::kRollback;
  env.handler = "exp-finish";
  env.task_index = 0;
  const Json full = {
      {"spec",
       {{"template",
         {{"spec",
           {{"restartPolicy", "Never"},
            {"containers", {{{"name", "x"}, {"image", "example.com/check:2"}}}}}}}}}}};
  std::thread failing = Finish("exp-finish-0", "Failed");
  s = tasks.at("kubernetes/job")(full, env);
  failing.join();
  EXPECT_TRUE(absl::IsAborted(s)) << s;
  EXPECT_NE(s.message().find("Job iter8-system/exp-finish-0 failed: BackoffLimitExceeded: from "
                             "the test"),
            std::string::npos)
      << s;
  absl::StatusOr<Json> finish = client_->Get(jobs_, "iter8-system", "exp-finish-0");
  ASSERT_TRUE(finish.ok());
  EXPECT_EQ((*finish)["spec"]["template"]["metadata"]["labels"]["iter8/action"], "finish");
  EXPECT_FALSE((*finish)["spec"].contains("backoffLimit"));  // a given spec is taken as it is

  // An experiment re-created under the same name (new uid) replaces the old Job.
  e->metadata.uid = "u-2";
  env.type = engine::HandlerType::kStart;
  env.handler = "exp-start";
  env.task_index = 1;
  std::thread again = std::thread([&] {
    WaitFor([&] {
      absl::StatusOr<Json> j = client_->Get(jobs_, "iter8-system", "exp-start-1");
      return j.ok() && (*j)["metadata"]["labels"].value("iter8/experimentUID", "") == "u-2";
    });
    Finish("exp-start-1", "Complete").join();
  });
  s = tasks.at("kubernetes/job")(with, env);
  again.join();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ((*client_->Get(jobs_, "iter8-system",
                           "exp-start-1"))["metadata"]["labels"]["iter8/experimentUID"],
            "u-2");

  // A Job that never finishes times out, named.
  env.task_index = 2;
  s = tasks.at("kubernetes/job")({{"image", "example.com/slow:1"}, {"timeoutSeconds", 1}}, env);
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_NE(s.message().find("Job iter8-system/exp-start-2 did not finish within "
                             "with.timeoutSeconds (1 s)"),
            std::string::npos)
      << s;
}

// The original's iter8-handlers ConfigMap, as its kustomize generated it from its files.
Json OriginalHandlersConfigMap() {
  const auto dir = testing::ReferenceDir() / "iter8" / "iter8-kfserving" / "install" /
                   "iter8-controller" / "configmaps" / "handlers";
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", "iter8-handlers"}, {"namespace", "iter8-system"}}},
          {"data",
           {{"start.yaml", testing::ReadFileOrDie(dir / "start.yaml")},
            {"finish.yaml", testing::ReadFileOrDie(dir / "finish.yaml")}}}};
}

TEST_F(JobTaskTest, TheOriginalsStartTemplateRunsAsTheOriginalsJob) {
  ITER8_REQUIRE_REFERENCE();
  Resource cms = *client_->Discover("v1", "ConfigMap");
  ASSERT_TRUE(client_->Create(cms, "iter8-system", OriginalHandlersConfigMap()).ok());
  V2alpha1ConfigSource source(*client_, {"iter8-system", /*jobs=*/true, absl::Seconds(10)});
  absl::StatusOr<engine::V2alpha1Config> config = source.Get();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->job_templates.size(), 2u);

  Json ej = {{"apiVersion", "iter8.tools/v2alpha1"},
             {"kind", "Experiment"},
             {"metadata", {{"name", "experiment-1"}, {"namespace", "default"}, {"uid", "a-b-c9"}}},
             {"spec", {{"target", "default/my-model"}, {"strategy", {{"type", "Canary"}}}}}};
  absl::StatusOr<api::Experiment> e = api::LoadExperiment(ej);
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_TRUE(engine::ResolveV2alpha1Handlers(*config, &*e).ok());
  const api::TaskSpec& start = e->spec.strategy.actions.at("start").at(0);
  ASSERT_EQ(start.task, "kubernetes/job");
  tasks::TaskRegistry tasks = JobTasks(*client_, {"iter8-system", absl::Milliseconds(50)});
  tasks::TaskEnv env;
  env.experiment = &*e;
  env.type = engine::HandlerType::kStart;
  env.handler = "experiment-1-start";
  std::thread controller = Finish("start-handler-experiment-1-c9", "Complete");
  absl::Status s = tasks.at("kubernetes/job")(start.with, env);
  controller.join();
  ASSERT_TRUE(s.ok()) << s;
  absl::StatusOr<Json> job = client_->Get(jobs_, "iter8-system", "start-handler-experiment-1-c9");
  ASSERT_TRUE(job.ok()) << job.status();
  const Json& pod = (*job)["spec"]["template"]["spec"];
  EXPECT_EQ(pod["serviceAccountName"], "iter8-handlers");
  EXPECT_EQ((*job)["spec"]["backoffLimit"], 4);
  const Json& c = pod["containers"][0];
  EXPECT_EQ(c["image"], "iter8/iter8-kfserving-handler:0.1.0-alpha");
  EXPECT_EQ(c["command"], Json::array({"/handler", "start"}));
  // The template's placeholder values are replaced, each name once.
  std::map<std::string, int> count;
  std::map<std::string, std::string> vars;
  for (const Json& v : c["env"]) {
    ++count[v["name"]];
    vars[v["name"]] = v.value("value", "");
  }
  EXPECT_EQ(vars["EXPERIMENT_NAME"], "experiment-1");
  EXPECT_EQ(vars["EXPERIMENT_NAMESPACE"], "default");
  EXPECT_EQ(count["EXPERIMENT_NAME"], 1);
  EXPECT_EQ(count["EXPERIMENT_NAMESPACE"], 1);
}

TEST_F(ClusterPartsTest, V2alpha1ConfigComesFromTheConfigMapsElseTheBuiltinDefaults) {
  Resource cms = *client_->Discover("v1", "ConfigMap");
  // Nothing installed: built-in defaults and handlers, no templates.
  V2alpha1ConfigSource fresh(*client_, {"iter8-system", /*jobs=*/true, absl::ZeroDuration()});
  absl::StatusOr<engine::V2alpha1Config> c = fresh.Get();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->defaults.handlers, engine::BuiltinV2alpha1Defaults().handlers);
  EXPECT_TRUE(c->job_templates.empty());
  EXPECT_EQ(c->builtin.at("start").at(0).task, "kserve/start");
  EXPECT_EQ(c->builtin.at("finish").at(0).task, "kserve/finish");
  EXPECT_EQ(c->job_templates_source, "iter8-system/iter8-handlers");

  // An edited defaults ConfigMap is read (within the ttl: here 0) ...
  Json defaults = {
      {"apiVersion", "v1"},
      {"kind", "ConfigMap"},
      {"metadata", {{"name", "iter8-defaults"}, {"namespace", "iter8-system"}}},
      {"data",
       {{"defaults.yaml",
         "experimentTypes:\n- name: Canary\n  handlers: {start: none, finish: finish}\n"
         "metrics:\n  requestCount: iter8-system/requests\n"}}}};
  ASSERT_TRUE(client_->Create(cms, "iter8-system", defaults).ok());
  c = fresh.Get();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->defaults.handlers.at("Canary"),
            (engine::V2alpha1HandlerNames{{"start", "none"}, {"finish", "finish"}}));
  EXPECT_EQ(c->defaults.request_count, "iter8-system/requests");

  // ... cached for the ttl ...
  V2alpha1ConfigSource cached(*client_, {"iter8-system", /*jobs=*/false, absl::Seconds(60)});
  ASSERT_TRUE(cached.Get().ok());
  const int64_t before = client_->Requests();
  ASSERT_TRUE(cached.Get().ok());
  EXPECT_EQ(client_->Requests(), before);
  // ... and without Job templates enabled the handlers ConfigMap is not read.
  EXPECT_TRUE(cached.Get()->job_templates_source.empty());

  // A broken one is an error naming the ConfigMap and key.
  defaults["data"]["defaults.yaml"] = "experimentTypes: 3\n";
  defaults["metadata"]["resourceVersion"] =
      (*client_->Get(cms, "iter8-system", "iter8-defaults"))["metadata"]["resourceVersion"];
  ASSERT_TRUE(client_->Update(cms, defaults).ok());
  c = fresh.Get();
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "ConfigMap iter8-system/iter8-defaults defaults.yaml: defaults.yaml: experimentTypes: "
            "must be a list");
}

TEST_F(JobTaskTest, BadParametersAndLongNamesAreHandled) {
  api::Experiment e = *api::LoadExperiment(api::Json(ExperimentJson("exp")));
  tasks::TaskRegistry tasks = JobTasks(*client_, {"iter8-system", absl::Milliseconds(50)});
  tasks::TaskEnv env;
  env.experiment = &e;
  env.handler = "exp-start";
  for (const auto& [with, message] : std::vector<std::pair<Json, std::string>>{
           {Json::object(), "with: give either image (and command, args, env) or spec"},
           {{{"image", "a"}, {"spec", Json::object()}}, "with: give either image"},
           {{{"image", 3}}, "with.image: must be a string"},
           {{{"image", "a"}, {"args", "x"}}, "with.args: must be a list of strings"},
           {{{"image", "a"}, {"args", {"{{ .nope }}"}}}, "with.args[0]:"},
           {{{"image", "a"}, {"env", {{{"value", "x"}}}}}, "with.env: must be a list of"},
           {{{"image", "a"}, {"backoffLimit", -1}}, "with.backoffLimit: must be an integer"},
           {{{"spec", {{"template", Json::object()}}}}, "with.spec: must be a batch/v1 JobSpec"},
           {{{"image", "a"}, {"timeoutSeconds", 0}}, "with.timeoutSeconds: must be an integer"}}) {
    absl::Status s = tasks.at("kubernetes/job")(with, env);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << with << ": " << s;
    EXPECT_NE(s.message().find(message), std::string::npos) << with << ": " << s;
  }
  EXPECT_TRUE(client_->List(jobs_, "iter8-system")->empty());  // nothing was created
  EXPECT_EQ(JobName("exp-loop-3", 0), "exp-loop-3-0");
  const std::string long_handler(80, 'a');
  const std::string name = JobName(long_handler + "-start", 0);
  EXPECT_EQ(name.size(), 63u);
  EXPECT_EQ(name, JobName(long_handler + "-start", 0));  // stable
  EXPECT_NE(name, JobName(long_handler + "-start", 1));
  EXPECT_EQ(JobName("My_Exp-start", 0), "my-exp-start-0");
}

TEST_F(ClusterPartsTest, EventsInvolveTheExperiment) {
  absl::StatusOr<api::Experiment> e = api::LoadExperiment(api::Json(ExperimentJson("ev")));
  ASSERT_TRUE(e.ok());
  e->metadata.uid = "u-1";
  const Json ok = EventObject(*e, {"IterationUpdate", "Completed Iteration 1"}, "iter8", "h",
                              absl::FromUnixSeconds(0));
  EXPECT_EQ(ok["type"], "Normal");
  EXPECT_EQ(ok["involvedObject"]["uid"], "u-1");
  EXPECT_EQ(ok["metadata"]["generateName"], "ev.");
  EXPECT_EQ(ok["firstTimestamp"], "1970-01-01T00:00:00Z");
  EXPECT_EQ(
      EventObject(*e, {"HandlerFailed", "Start actions failed"}, "iter8", "h", absl::Now())["type"],
      "Warning");
  std::vector<std::string> logged;
  EventRecorder recorder(*client_, "iter8-controller", "h",
                         [&](const std::string& l) { logged.push_back(l); });
  recorder.Record(*e, {"IterationUpdate", "Completed Iteration 1"});
  absl::StatusOr<Resource> events = client_->Discover("v1", "Event");
  absl::StatusOr<std::vector<Json>> list = client_->List(*events, "default");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0]["reason"], "IterationUpdate");
  EXPECT_TRUE(logged.empty());
}

}  // namespace
}  // namespace iter8::k8s
