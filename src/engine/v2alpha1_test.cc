#include "engine/v2alpha1.h"

#include <gtest/gtest.h>

#include "api/document.h"
#include "api/load.h"
#include "api/validate.h"
#include "common/strings.h"
#include "engine/engine.h"
#include "test/testing/reference.h"

namespace iter8::engine {
namespace {

using api::Json;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

std::filesystem::path Original() { return testing::ReferenceDir() / "iter8" / "iter8-kfserving"; }

// The original's quickstart experiment (v2alpha1, strategy.type Canary, no versionInfo),
// unchanged, with the metadata a server would add.
api::Experiment Quickstart() {
  const std::string text =
      testing::ReadFileOrDie(Original() / "samples" / "quickstart" / "experiment.yaml");
  auto docs = api::ParseDocuments(text, "experiment.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  auto e = api::LoadExperiment((*docs)[0]);
  EXPECT_TRUE(e.ok()) << e.status();
  e->metadata.namespace_ = "default";
  e->metadata.uid = "5d0d1b0e-7d1c-4b7a-9c55-0123456789ab";
  return *e;
}

// The quickstart with `strategy.type` and `strategy.handlers` replaced.
api::Experiment With(const std::string& type, const Json& handlers) {
  api::Experiment e = Quickstart();
  Json j = api::EncodeResource(e);
  j["spec"]["strategy"] = {{"type", type}};
  if (!handlers.is_null()) j["spec"]["strategy"]["handlers"] = handlers;
  auto loaded = api::LoadExperiment(j);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return *loaded;
}

api::TaskSpec Task(const std::string& name) {
  api::TaskSpec t;
  t.task = name;
  return t;
}

V2alpha1Config ClusterLike() {
  V2alpha1Config c;
  c.builtin = {{"start", {Task("kserve/start")}}, {"finish", {Task("kserve/finish")}}};
  return c;
}

std::vector<std::string> TaskNames(const api::Experiment& e, const std::string& action) {
  std::vector<std::string> out;
  auto it = e.spec.strategy.actions.find(action);
  if (it == e.spec.strategy.actions.end()) return {"<absent>"};
  for (const auto& t : it->second) out.push_back(t.task);
  return out;
}

TEST(V2alpha1Test, TheOriginalsDefaultsFileIsTheBuiltinDefaults) {
  ITER8_REQUIRE_REFERENCE();
  const std::string text = testing::ReadFileOrDie(Original() / "install" / "iter8-controller" /
                                                  "configmaps" / "defaults" / "defaults.yaml");
  absl::StatusOr<V2alpha1Defaults> parsed = ParseV2alpha1Defaults(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const V2alpha1Defaults builtin = BuiltinV2alpha1Defaults();
  EXPECT_EQ(parsed->handlers, builtin.handlers);
  EXPECT_EQ(parsed->request_count, builtin.request_count);
  EXPECT_EQ(parsed->request_count, "request-count");
  const V2alpha1HandlerNames canary = {
      {"start", "start"}, {"finish", "finish"}, {"rollback", "finish"}, {"failure", "finish"}};
  EXPECT_EQ(parsed->handlers.at("Canary"), canary);
  EXPECT_EQ(parsed->handlers.at("Performance"), (V2alpha1HandlerNames{{"start", "start"}}));
}

TEST(V2alpha1Test, BadDefaultsAreErrorsNamingTheField) {
  EXPECT_EQ(ParseV2alpha1Defaults("experimentTypes: {}").status().message(),
            "defaults.yaml: experimentTypes: must be a list");
  EXPECT_EQ(ParseV2alpha1Defaults("experimentTypes: [{handlers: {}}]").status().message(),
            "defaults.yaml: experimentTypes[0].name: required");
  EXPECT_EQ(ParseV2alpha1Defaults("experimentTypes: [{name: Canary, handlers: {begin: x}}]")
                .status()
                .message(),
            "defaults.yaml: experimentTypes[0].handlers.begin: unknown handler type (start, "
            "finish, rollback, failure)");
  EXPECT_FALSE(ParseV2alpha1Defaults("a: [").ok());
}

TEST(V2alpha1Test, QuickstartCanaryGetsTheKServeStartAndFinish) {
  ITER8_REQUIRE_REFERENCE();
  api::Experiment e = Quickstart();
  ASSERT_TRUE(e.v2alpha1);
  // maxIterations: 12 is 12 iterations in one loop.
  api::Experiment d = e;
  api::ApplyDefaults(&d);
  EXPECT_EQ(d.spec.duration->iterations_per_loop, 12);
  EXPECT_EQ(d.spec.duration->max_loops, 1);

  ASSERT_TRUE(ResolveV2alpha1Handlers(ClusterLike(), &e).ok());
  EXPECT_EQ(TaskNames(e, "start"), std::vector<std::string>{"kserve/start"});
  EXPECT_EQ(TaskNames(e, "finish"), std::vector<std::string>{"kserve/finish"});
  // rollback = finish: the finish action; failure runs nothing.
  EXPECT_EQ(TaskNames(e, "rollback"), std::vector<std::string>{"<absent>"});
  EXPECT_EQ(e.spec.strategy.actions.size(), 2u);
  EXPECT_EQ(e.spec.strategy.extra[kFieldV2alpha1Handlers], Json({{"failure", "finish"},
                                                                 {"finish", "finish"},
                                                                 {"rollback", "finish"},
                                                                 {"start", "start"}}));
  EXPECT_EQ(e.spec.criteria->request_count, "request-count");
}

TEST(V2alpha1Test, HandlersPerStrategyType) {
  ITER8_REQUIRE_REFERENCE();
  const V2alpha1Defaults d = BuiltinV2alpha1Defaults();
  EXPECT_EQ(V2alpha1Handlers(d, With("Performance", nullptr)),
            (V2alpha1HandlerNames{{"start", "start"}}));
  EXPECT_EQ(V2alpha1Handlers(d, With("BlueGreen", nullptr)).size(), 4u);
  EXPECT_EQ(V2alpha1Handlers(d, With("A/B", nullptr)).size(), 4u);
  // A/B/N has no entry in the original's defaults: no handlers.
  EXPECT_TRUE(V2alpha1Handlers(d, With("A/B/N", nullptr)).empty());

  api::Experiment perf = With("Performance", nullptr);
  ASSERT_TRUE(ResolveV2alpha1Handlers(ClusterLike(), &perf).ok());
  EXPECT_EQ(TaskNames(perf, "start"), std::vector<std::string>{"kserve/start"});
  EXPECT_EQ(TaskNames(perf, "finish"), std::vector<std::string>{"<absent>"});
}

TEST(V2alpha1Test, NoneDisablesAndTheExperimentOverridesTheDefaults) {
  ITER8_REQUIRE_REFERENCE();
  V2alpha1Config config = ClusterLike();
  config.builtin["my-rollback"] = {Task("common/bash")};
  api::Experiment e =
      With("Canary", {{"start", "none"}, {"rollback", "my-rollback"}, {"failure", "none"}});
  ASSERT_TRUE(ResolveV2alpha1Handlers(config, &e).ok());
  EXPECT_EQ(TaskNames(e, "start"), std::vector<std::string>{"<absent>"});
  EXPECT_EQ(TaskNames(e, "finish"), std::vector<std::string>{"kserve/finish"});
  EXPECT_EQ(TaskNames(e, "rollback"), std::vector<std::string>{"common/bash"});
  EXPECT_EQ(e.spec.strategy.extra[kFieldV2alpha1Handlers],
            Json({{"finish", "finish"}, {"rollback", "my-rollback"}}));
}

TEST(V2alpha1Test, AHandlerThatResolvesToNothingIsAnErrorNamingIt) {
  ITER8_REQUIRE_REFERENCE();
  api::Experiment e = With("Canary", {{"finish", "promote-it"}});
  absl::Status s = ResolveV2alpha1Handlers(ClusterLike(), &e);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_EQ(s.message(),
            "Finish handler 'promote-it' not found: it is no built-in handler (finish, start) and "
            "Job templates are not enabled (--v2alpha1-handlers=jobs)");
  V2alpha1Config jobs = ClusterLike();
  jobs.job_templates_source = "iter8-system/iter8-handlers";
  s = ResolveV2alpha1Handlers(jobs, &e);
  EXPECT_EQ(s.message(),
            "Finish handler 'promote-it' not found: it is no built-in handler (finish, start) and "
            "ConfigMap iter8-system/iter8-handlers has no promote-it.yaml");
  api::Experiment bad = With("Canary", {{"finish", 3}});
  EXPECT_EQ(ResolveV2alpha1Handlers(ClusterLike(), &bad).message(),
            "spec.strategy.handlers.finish: must be a handler name");
}

TEST(V2alpha1Test, TheOriginalsJobTemplatesRunAsJobsNamedAsTheOriginalNamedThem) {
  ITER8_REQUIRE_REFERENCE();
  const auto dir = Original() / "install" / "iter8-controller" / "configmaps" / "handlers";
  V2alpha1Config config = ClusterLike();
  config.job_templates_source = "iter8-system/iter8-handlers";
  for (const char* name : {"start", "finish"}) {
    absl::StatusOr<Json> t =
        ParseV2alpha1JobTemplate(testing::ReadFileOrDie(dir / StrCat(name, ".yaml")));
    ASSERT_TRUE(t.ok()) << t.status();
    config.job_templates[name] = *t;
  }
  api::Experiment e = Quickstart();
  ASSERT_TRUE(ResolveV2alpha1Handlers(config, &e).ok());
  ASSERT_EQ(TaskNames(e, "start"), std::vector<std::string>{"kubernetes/job"});
  const Json& with = e.spec.strategy.actions["start"][0].with;
  EXPECT_EQ(with["jobName"], "start-handler-experiment-1-0123456789ab");
  EXPECT_EQ(with["spec"]["template"]["spec"]["containers"][0]["command"],
            Json({"/handler", "start"}));
  EXPECT_EQ(with["spec"]["backoffLimit"], 4);
  EXPECT_EQ(with["timeoutSeconds"], 360);
  EXPECT_EQ(e.spec.strategy.actions["finish"][0].with["jobName"],
            "finish-handler-experiment-1-0123456789ab");

  EXPECT_FALSE(ParseV2alpha1JobTemplate("apiVersion: v1\nkind: Pod\n").ok());
  EXPECT_FALSE(ParseV2alpha1JobTemplate("apiVersion: batch/v1\nkind: Job\nspec: {}\n").ok());
}

TEST(V2alpha1Test, ExperimentsReadAsV2alpha2AreLeftAlone) {
  api::Experiment e;
  e.spec.criteria = api::Criteria{};
  ASSERT_TRUE(ResolveV2alpha1Handlers(ClusterLike(), &e).ok());
  EXPECT_TRUE(e.spec.strategy.actions.empty());
  EXPECT_FALSE(e.spec.strategy.extra.contains(kFieldV2alpha1Handlers));
  EXPECT_EQ(e.spec.criteria->request_count, "");
}

// The engine with a resolved v2alpha1 experiment: the original's launch reasons and messages.
TEST(V2alpha1Test, LaunchesCarryTheOriginalsReasonsAndHandlerNames) {
  ITER8_REQUIRE_REFERENCE();
  api::Experiment e = Quickstart();
  ASSERT_TRUE(ResolveV2alpha1Handlers(ClusterLike(), &e).ok());
  SequenceRandom random({});
  Observations obs;
  StepResult r = Step(e, obs, kT0, random);  // first sight
  e.status = r.status;
  r = Step(e, obs, kT0, random);  // target acquired
  e.status = r.status;
  r = Step(e, obs, kT0, random);  // Initializing
  e.status = r.status;
  r = Step(e, obs, kT0, random);
  ASSERT_TRUE(r.launch);
  EXPECT_EQ(r.launch->action, "start");
  EXPECT_EQ(r.launch->name, "experiment-1-start");
  EXPECT_EQ(r.status.message, "StartHandlerLaunched: Start handler 'start' launched");
  ASSERT_FALSE(r.events.empty());
  EXPECT_EQ(r.events.back().reason, kReasonStartHandlerLaunched);
}

TEST(V2alpha1Test, AnInvalidExperimentFailsOnce) {
  ITER8_REQUIRE_REFERENCE();
  api::Experiment e = Quickstart();
  SequenceRandom random({});
  Observations obs;
  e.status = Step(e, obs, kT0, random).status;
  obs.invalid = "Start handler 'x' not found";
  StepResult r = Step(e, obs, kT0, random);
  EXPECT_TRUE(r.write_status);
  EXPECT_EQ(r.status.message, "ExperimentCompleted: Experiment failed");
  EXPECT_TRUE(api::ConditionIsTrue(r.status, api::kConditionFailed));
  size_t failed_events = 0;
  for (const auto& ev : r.events) failed_events += ev.reason == kReasonInvalidExperiment;
  EXPECT_EQ(failed_events, 1u);
  e.status = r.status;
  r = Step(e, obs, kT0 + absl::Seconds(1), random);
  EXPECT_FALSE(r.write_status);
  EXPECT_TRUE(r.events.empty());
  EXPECT_FALSE(r.requeue_after);
}

}  // namespace
}  // namespace iter8::engine
