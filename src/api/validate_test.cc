#include "api/validate.h"

#include <gtest/gtest.h>

#include "api/document.h"
#include "api/load.h"

namespace iter8::api {
namespace {

Experiment Load(const std::string& yaml) {
  auto docs = ParseDocuments(yaml, "t.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  auto e = LoadExperiment((*docs)[0]);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? *e : Experiment{};
}

constexpr char kCanary[] = R"(
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: e}
spec:
  target: t
  strategy: {testingPattern: Canary}
  criteria:
    objectives:
    - {metric: mean-latency, upperLimit: 1000}
  versionInfo:
    baseline: {name: v1}
    candidates:
    - name: v2
      weightObjRef: {apiVersion: v1, kind: X, name: x, fieldPath: .spec.w}
)";

TEST(DefaultsTest, FillsEveryDefaultOfTheOriginal) {
  Experiment e = Load(kCanary);
  ApplyDefaults(&e);
  EXPECT_EQ(e.spec.strategy.deployment_pattern, DeploymentPattern::kProgressive);
  EXPECT_EQ(e.spec.strategy.weights->max_candidate_weight, 100);
  EXPECT_EQ(e.spec.strategy.weights->max_candidate_weight_increment, 10);
  EXPECT_EQ(e.spec.duration->interval_seconds, 20);
  EXPECT_EQ(e.spec.duration->iterations_per_loop, 15);
  EXPECT_EQ(e.spec.duration->max_loops, 1);
  EXPECT_EQ(e.spec.criteria->objectives[0].rollback_on_failure, false);
  EXPECT_TRUE(e.spec.criteria->request_count.empty());  // no default in v2alpha2
}

TEST(DefaultsTest, BlueGreenRollsBackOnFailureByDefaultButKeepsExplicitFalse) {
  Experiment e = Load(kCanary);
  e.spec.strategy.deployment_pattern = DeploymentPattern::kBlueGreen;
  e.spec.criteria->objectives.push_back({"error-rate", std::nullopt, std::nullopt, false, {}});
  ApplyDefaults(&e);
  EXPECT_EQ(e.spec.criteria->objectives[0].rollback_on_failure, true);
  EXPECT_EQ(e.spec.criteria->objectives[1].rollback_on_failure, false);
}

TEST(DefaultsTest, KeepsUserValuesAndMetricDefaults) {
  Experiment e = Load(kCanary);
  e.spec.duration = Duration{5, std::nullopt, 3, {}};
  ApplyDefaults(&e);
  EXPECT_EQ(e.spec.duration->interval_seconds, 5);
  EXPECT_EQ(e.spec.duration->iterations_per_loop, 15);
  EXPECT_EQ(e.spec.duration->max_loops, 3);
  Metric m;
  ApplyDefaults(&m);
  EXPECT_EQ(m.spec.type, MetricType::kGauge);
  EXPECT_EQ(m.spec.method, HttpMethod::kGet);
}

TEST(ValidateTest, ValidCanaryHasNoProblems) { EXPECT_TRUE(Validate(Load(kCanary)).empty()); }

struct Rule {
  std::string name;
  std::function<void(Experiment&)> mutate;
  FieldError want;
  friend void PrintTo(const Rule& c, std::ostream* os) { *os << c.name; }
};

class ValidateRuleTest : public ::testing::TestWithParam<Rule> {};

TEST_P(ValidateRuleTest, ReportsTheOriginalMessage) {
  Experiment e = Load(kCanary);
  GetParam().mutate(e);
  std::vector<FieldError> errors = Validate(e);
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0], GetParam().want) << JoinErrors(errors);
}

VersionDetail Version(const std::string& name) { return VersionDetail{name, {}, std::nullopt, {}}; }

INSTANTIATE_TEST_SUITE_P(
    Rules, ValidateRuleTest,
    ::testing::Values(
        Rule{"NoVersionInfo",
             [](Experiment& e) { e.spec.version_info.reset(); },
             {"/spec/versionInfo", "No versionInfo in experiment"}},
        Rule{
            "CanaryTwoCandidates",
            [](Experiment& e) { e.spec.version_info->candidates.push_back(Version("v3")); },
            {"/spec/versionInfo/candidates", "Invalid number of candidates for Canary experiment"}},
        Rule{
            "CanaryNoCandidate",
            [](Experiment& e) { e.spec.version_info->candidates.clear(); },
            {"/spec/versionInfo/candidates", "Invalid number of candidates for Canary experiment"}},
        Rule{"ConformanceWithCandidate",
             [](Experiment& e) { e.spec.strategy.testing_pattern = TestingPattern::kConformance; },
             {"/spec/versionInfo/candidates",
              "Invalid number of candidates for Conformance experiment"}},
        Rule{"ABNWithoutCandidates",
             [](Experiment& e) {
               e.spec.strategy.testing_pattern = TestingPattern::kABN;
               e.spec.version_info->candidates.clear();
               e.spec.criteria->rewards.push_back({"r", PreferredDirection::kHigh, {}});
             },
             {"/spec/versionInfo/candidates", "Invalid number of candidates for A/B/N experiment"}},
        Rule{"DuplicateNames",
             [](Experiment& e) { e.spec.version_info->candidates[0].name = "v1"; },
             {"/spec/versionInfo", "Version names are not unique"}},
        Rule{"ABWithoutReward",
             [](Experiment& e) { e.spec.strategy.testing_pattern = TestingPattern::kAB; },
             {"/spec/criteria/rewards", "Invalid number of rewards for A/B experiment"}},
        Rule{"CanaryWithReward",
             [](Experiment& e) {
               e.spec.criteria->rewards.push_back({"r", PreferredDirection::kHigh, {}});
             },
             {"/spec/criteria/rewards", "Invalid number of rewards for Canary experiment"}},
        Rule{"ABNTwoRewards",
             [](Experiment& e) {
               e.spec.strategy.testing_pattern = TestingPattern::kABN;
               e.spec.criteria->rewards.push_back({"r", PreferredDirection::kHigh, {}});
               e.spec.criteria->rewards.push_back({"s", PreferredDirection::kLow, {}});
             },
             {"/spec/criteria/rewards", "Invalid number of rewards for A/B/N experiment"}},
        Rule{"FieldPathWithoutDot",
             [](Experiment& e) {
               e.spec.version_info->candidates[0].weight_obj_ref->field_path = "/spec/w";
             },
             {"/spec/versionInfo/candidates/0/weightObjRef/fieldPath",
              "Fieldpaths must start with '.'"}},
        Rule{"TwoVersionsWithoutWeightRef",
             [](Experiment& e) { e.spec.version_info->candidates[0].weight_obj_ref.reset(); },
             {"/spec/versionInfo",
              "Unable to read version weights; insufficient number of weightObjectRef "
              "specified"}},
        Rule{"IntervalZero",
             [](Experiment& e) {
               e.spec.duration = Duration{0, std::nullopt, std::nullopt, {}};
             },
             {"/spec/duration/intervalSeconds",
              "Invalid value: 0: should be greater than or equal to 1"}},
        Rule{
            "MaxLoopsNegative",
            [](Experiment& e) {
              e.spec.duration = Duration{std::nullopt, std::nullopt, -1, {}};
            },
            {"/spec/duration/maxLoops", "Invalid value: -1: should be greater than or equal to 1"}},
        Rule{"IterationsZero",
             [](Experiment& e) {
               e.spec.duration = Duration{std::nullopt, 0, std::nullopt, {}};
             },
             {"/spec/duration/iterationsPerLoop",
              "Invalid value: 0: should be greater than or equal to 1"}},
        Rule{"WeightAbove100",
             [](Experiment& e) {
               e.spec.strategy.weights = Weights{101, std::nullopt, {}};
             },
             {"/spec/strategy/weights/maxCandidateWeight",
              "Invalid value: 101: should be less than or equal to 100"}},
        Rule{"IncrementNegative",
             [](Experiment& e) {
               e.spec.strategy.weights = Weights{std::nullopt, -1, {}};
             },
             {"/spec/strategy/weights/maxCandidateWeightIncrement",
              "Invalid value: -1: should be greater than or equal to 0"}},
        Rule{"EmptyTarget",
             [](Experiment& e) { e.spec.target.clear(); },
             {"/spec/target", "Invalid value: \"\": should be at least 1 chars long"}},
        Rule{"UnknownConditionType",
             [](Experiment& e) {
               e.status.conditions.push_back({"Done", {}, {}, "", "", {}});
             },
             {"/status/conditions/0/type",
              "Unsupported value: \"Done\": supported values: \"Completed\", \"Failed\", "
              "\"TargetAcquired\""}},
        Rule{"NoName",
             [](Experiment& e) { e.metadata.name.clear(); },
             {"/metadata/name", "Required value: name or generateName is required"}},
        Rule{"TaskWithoutName",
             [](Experiment& e) { e.spec.strategy.actions["start"].push_back(TaskSpec{}); },
             {"/spec/strategy/actions/start/0/task",
              "Required value: a task (library/name) or run is required"}}),
    [](const auto& info) { return info.param.name; });

TEST(ValidateTest, FixedSplitNeedsNoWeightRefs) {
  Experiment e = Load(kCanary);
  e.spec.strategy.deployment_pattern = DeploymentPattern::kFixedSplit;
  e.spec.version_info->candidates[0].weight_obj_ref.reset();
  EXPECT_TRUE(Validate(e).empty());
}

TEST(ValidateTest, MissingVersionInfoIsFineWhenAStartTaskFillsIt) {
  Experiment e = Load(kCanary);
  e.spec.version_info.reset();
  e.spec.strategy.actions["start"].push_back(TaskSpec{"kfserving/start", "", "", nullptr, {}});
  EXPECT_TRUE(Validate(e).empty());
  EXPECT_FALSE(ValidateVersionInfo(e).empty());
}

TEST(ValidateTest, ExplicitNullInSpecIsRejectedButAcceptedInMetadata) {
  auto docs = ParseDocuments(
      "apiVersion: iter8.tools/v2alpha2\nkind: Metric\nmetadata:\n  name: m\n"
      "  creationTimestamp: null\nspec:\n  params:\n",
      "m.yaml");
  ASSERT_TRUE(docs.ok());
  auto m = LoadMetric((*docs)[0]);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(std::string(m.status().message()),
            "m.yaml:7:3: /spec/params: Invalid value: expected array, got null");
}

TEST(ValidateTest, StrengthAndOurStrategyFieldsAreChecked) {
  Experiment e = Load(kCanary);
  e.spec.criteria->strength = Json::parse(R"({"engine": "classic", "alpha": 0.05})");
  EXPECT_TRUE(Validate(e).empty());
  e.spec.criteria->strength = Json::parse(R"({"anything": ["the original ignored it"]})");
  EXPECT_TRUE(Validate(e).empty());
  e.spec.criteria->strength = Json::parse(R"({"engine": "bayesian", "alpha": 0})");
  std::vector<FieldError> errors = Validate(e);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].pointer, "/spec/criteria/strength/engine");
  EXPECT_EQ(errors[0].message,
            "Unsupported value: \"bayesian\": supported values: \"classic\", \"sequential\"");
  EXPECT_EQ(errors[1].pointer, "/spec/criteria/strength/alpha");
  EXPECT_EQ(errors[1].message, "Invalid value: 0: must be a number in (0, 0.5]");
  e.spec.criteria->strength = Json::parse(R"({"engine": "sequential", "alpha": 0.01})");
  EXPECT_TRUE(Validate(e).empty());
  e.spec.criteria->strength = Json::parse(R"({"engine": "sequential", "methods": {"x": "p101"}})");
  errors = Validate(e);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pointer, "/spec/criteria/strength/methods/x");
  e.spec.criteria->strength = nullptr;
  e.spec.strategy.extra["dryRun"] = "yes";
  e.spec.strategy.extra["requireApproval"] = true;
  errors = Validate(e);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pointer, "/spec/strategy/dryRun");
  EXPECT_EQ(errors[0].message, "Invalid value: \"yes\": must be true or false");
}

}  // namespace
}  // namespace iter8::api
