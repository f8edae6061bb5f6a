#include "analytics/classic.h"

#include <gtest/gtest.h>

#include "api/document.h"
#include "api/load.h"
#include "api/validate.h"
#include "test/testing/experiment.h"
#include "test/testing/reference.h"

namespace iter8::analytics {
namespace {

using api::Quantity;

api::Experiment Exp(const std::string& spec_yaml) {
  return testing::DefaultedExperiment(spec_yaml);
}

// metric -> version -> value ("" = present but None; absent version = no entry).
using Values = std::map<std::string, std::map<std::string, std::string>>;
api::AggregatedMetricsAnalysis Agg(const Values& values) {
  api::AggregatedMetricsAnalysis agg;
  for (const auto& [metric, versions] : values) {
    auto& data = agg.data[metric];
    for (const auto& [version, v] : versions) {
      if (!v.empty()) {
        data.data[version].value = *Quantity::Parse(v);
      } else {
        data.data[version];
      }
    }
  }
  return agg;
}

std::vector<int32_t> Weights(const AnalyticsOutput& out) {
  std::vector<int32_t> w;
  for (const auto& v : out.weights.data) w.push_back(v.value);
  return w;
}

AnalyticsOutput Analyze(const api::Experiment& e, const Values& values, Random& random,
                        ClassicOptions options = {}) {
  api::AggregatedMetricsAnalysis agg = Agg(values);
  return ClassicEngine(options).Analyze(AnalyticsInput{e, agg}, random);
}

AnalyticsOutput Analyze(const api::Experiment& e, const Values& values) {
  SequenceRandom random({0.5});
  return Analyze(e, values, random);
}

const char kCanary[] = R"(spec:
  target: t
  strategy: {testingPattern: Canary}
  criteria:
    objectives:
    - {metric: mean-latency, upperLimit: 1000}
    - {metric: error-rate, upperLimit: "0.01"}
  versionInfo:
    baseline: {name: default}
    candidates: [{name: canary}]
)";

TEST(ClassicTest, CanaryCandidateWinsAndGainsTenPoints) {
  auto out = Analyze(Exp(kCanary), {{"mean-latency", {{"default", "500"}, {"canary", "400"}}},
                                    {"error-rate", {{"default", "0"}, {"canary", "0.001"}}}});
  EXPECT_EQ(out.version_assessments.data.at("canary"), (std::vector<bool>{true, true}));
  EXPECT_EQ(out.version_assessments.message, "Error: ; Warning: ; Info: ");
  EXPECT_TRUE(out.winner_assessment.data.winner_found);
  EXPECT_EQ(out.winner_assessment.data.winner, "canary");
  EXPECT_EQ(out.winner_assessment.message,
            "Error: ; Warning: ; Info: candidate satisfies all objectives");
  EXPECT_EQ(Weights(out), (std::vector<int32_t>{90, 10}));  // spec.md 4.4 worked example
  EXPECT_EQ(out.weights.message, "Error: ; Warning: ; Info: all ok");
}

TEST(ClassicTest, CandidateRampsTenPointsPerIterationAndSaturatesAt95) {
  api::Experiment e = Exp(kCanary);
  Values good = {{"mean-latency", {{"default", "500"}, {"canary", "400"}}},
                 {"error-rate", {{"default", "0"}, {"canary", "0"}}}};
  std::vector<int32_t> seen;
  for (int i = 0; i < 12; ++i) {
    auto out = Analyze(e, good);
    e.status.current_weight_distribution = out.weights.data;
    seen.push_back(out.weights.data[1].value);
  }
  EXPECT_EQ(seen, (std::vector<int32_t>{10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 95, 95}));
}

TEST(ClassicTest, CanaryBaselineWinsWhenOnlyItIsFeasible) {
  auto out = Analyze(Exp(kCanary), {{"mean-latency", {{"default", "500"}, {"canary", "1001"}}},
                                    {"error-rate", {{"default", "0"}, {"canary", "0"}}}});
  EXPECT_EQ(out.version_assessments.data.at("canary"), (std::vector<bool>{false, true}));
  EXPECT_EQ(out.winner_assessment.data.winner, "default");
  EXPECT_EQ(out.winner_assessment.message,
            "Error: ; Warning: ; Info: baseline satisfies all objectives; candidate does not");
  EXPECT_EQ(Weights(out), (std::vector<int32_t>{95, 5}));
}

TEST(ClassicTest, CanaryWithoutWinnerHasNoMessageAndExplores5Percent) {
  auto out = Analyze(Exp(kCanary), {{"mean-latency", {{"default", "2000"}, {"canary", "1001"}}},
                                    {"error-rate", {{"default", "0"}, {"canary", "0"}}}});
  EXPECT_FALSE(out.winner_assessment.data.winner_found);
  EXPECT_TRUE(out.winner_assessment.data.best_versions.empty());
  EXPECT_FALSE(out.winner_assessment.message.has_value());
  EXPECT_EQ(Weights(out), (std::vector<int32_t>{95, 5}));
}

TEST(ClassicTest, LimitsAreInclusiveAndLowerLimitsApply) {
  api::Experiment e = Exp(R"(spec:
  target: t
  strategy: {testingPattern: Canary}
  criteria:
    objectives:
    - {metric: m, upperLimit: 10, lowerLimit: 5}
  versionInfo:
    baseline: {name: a}
    candidates: [{name: b}]
)");
  auto at_limits = Analyze(e, {{"m", {{"a", "10"}, {"b", "5"}}}});
  EXPECT_EQ(at_limits.version_assessments.data.at("a"), std::vector<bool>{true});
  EXPECT_EQ(at_limits.version_assessments.data.at("b"), std::vector<bool>{true});
  auto outside = Analyze(e, {{"m", {{"a", "10000000001n"}, {"b", "4999999999n"}}}});
  EXPECT_EQ(outside.version_assessments.data.at("a"), std::vector<bool>{false});
  EXPECT_EQ(outside.version_assessments.data.at("b"), std::vector<bool>{false});
}

TEST(ClassicTest, MissingDataIsNeverSatisfiedAndIsReported) {
  auto out = Analyze(Exp(kCanary), {{"mean-latency", {{"default", ""}}}});
  EXPECT_EQ(out.version_assessments.data.at("default"), (std::vector<bool>{false, false}));
  EXPECT_EQ(out.version_assessments.data.at("canary"), (std::vector<bool>{false, false}));
  EXPECT_EQ(out.version_assessments.message,
            "Error: ; Warning: Value for mean-latency metric and default version is None., "
            "Value for mean-latency metric and canary version is unavailable., Aggregated metric "
            "object for error-rate metric is unavailable.; Info: ");
  EXPECT_FALSE(out.winner_assessment.data.winner_found);
}

TEST(ClassicTest, WithoutObjectivesEveryVersionIsFeasible) {
  api::Experiment e = Exp(R"(spec:
  target: t
  strategy: {testingPattern: Canary}
  versionInfo:
    baseline: {name: a}
    candidates: [{name: b}]
)");
  auto out = Analyze(e, {});
  EXPECT_TRUE(out.version_assessments.data.empty());
  EXPECT_FALSE(out.version_assessments.message.has_value());
  EXPECT_EQ(out.winner_assessment.data.winner, "b");
}

TEST(ClassicTest, ConformanceBaselineWinsAndWeightsAreNotComputed) {
  api::Experiment e = Exp(R"(spec:
  target: t
  strategy: {testingPattern: Conformance}
  criteria: {objectives: [{metric: m, upperLimit: 10}]}
  versionInfo: {baseline: {name: current}}
)");
  auto ok = Analyze(e, {{"m", {{"current", "3"}}}});
  EXPECT_EQ(ok.winner_assessment.data.winner, "current");
  EXPECT_EQ(ok.winner_assessment.data.best_versions, std::vector<std::string>{"current"});
  EXPECT_EQ(ok.winner_assessment.message,
            "Error: ; Warning: ; Info: baseline satisfies all objectives");
  EXPECT_TRUE(ok.weights.data.empty());
  EXPECT_EQ(ok.weights.message, "weight computation is not applicable to a conformance experiment");
  auto bad = Analyze(e, {{"m", {{"current", "30"}}}});
  EXPECT_FALSE(bad.winner_assessment.data.winner_found);
  EXPECT_FALSE(bad.winner_assessment.message.has_value());
}

const char kAB[] = R"(spec:
  target: t
  strategy: {testingPattern: A/B}
  criteria:
    rewards: [{metric: revenue, preferredDirection: High}]
    objectives: [{metric: latency, upperLimit: 100}]
  versionInfo:
    baseline: {name: a}
    candidates: [{name: b}]
)";

TEST(ClassicTest, ABPicksTheHighestRewardAmongFeasibleVersions) {
  auto out = Analyze(
      Exp(kAB), {{"latency", {{"a", "50"}, {"b", "60"}}}, {"revenue", {{"a", "10"}, {"b", "12"}}}});
  EXPECT_EQ(out.winner_assessment.data.winner, "b");
  EXPECT_EQ(out.winner_assessment.message, "Error: ; Warning: ; Info: found unique winner");
  EXPECT_EQ(Weights(out), (std::vector<int32_t>{90, 10}));
  // An infeasible version cannot win however high its reward.
  auto infeasible = Analyze(Exp(kAB), {{"latency", {{"a", "50"}, {"b", "600"}}},
                                       {"revenue", {{"a", "10"}, {"b", "99"}}}});
  EXPECT_EQ(infeasible.winner_assessment.data.winner, "a");
}

TEST(ClassicTest, ABLowerIsBetterAndTiesHaveNoUniqueWinner) {
  std::string low = kAB;
  low.replace(low.find("High"), 4, "Low");
  auto out = Analyze(
      Exp(low), {{"latency", {{"a", "50"}, {"b", "60"}}}, {"revenue", {{"a", "10"}, {"b", "12"}}}});
  EXPECT_EQ(out.winner_assessment.data.winner, "a");
  auto tie = Analyze(
      Exp(kAB), {{"latency", {{"a", "50"}, {"b", "60"}}}, {"revenue", {{"a", "12"}, {"b", "12"}}}});
  EXPECT_FALSE(tie.winner_assessment.data.winner_found);
  EXPECT_EQ(tie.winner_assessment.data.best_versions, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(tie.winner_assessment.message,
            "Error: ; Warning: ; Info: no unique winner; two or more feasible versions with same "
            "reward value");
  // exploit [.5, .5] -> mix [50, 50]; the candidate may gain only 10 points.
  EXPECT_EQ(Weights(tie), (std::vector<int32_t>{90, 10}));
}

TEST(ClassicTest, ABRewardProblemsAreWarnings) {
  api::Experiment no_reward = Exp(kAB);
  no_reward.spec.criteria->rewards.clear();
  auto a = Analyze(no_reward, {{"latency", {{"a", "50"}, {"b", "60"}}}});
  EXPECT_EQ(a.winner_assessment.message,
            "Error: ; Warning: No reward metric in experiment. Winner assessment cannot be "
            "computed for ab or abn experiments without reward metric.; Info: ");
  auto b = Analyze(Exp(kAB), {{"latency", {{"a", "50"}, {"b", "60"}}}});
  EXPECT_EQ(b.winner_assessment.message,
            "Error: ; Warning: reward metric values are not available; Info: ");
  auto c = Analyze(Exp(kAB), {{"latency", {{"a", "50"}, {"b", "60"}}}, {"revenue", {{"a", "3"}}}});
  EXPECT_EQ(c.winner_assessment.data.winner, "a");
  EXPECT_EQ(c.winner_assessment.message,
            "Error: ; Warning: reward value for feasible version b is not available; Info: found "
            "unique winner");
  auto d = Analyze(
      Exp(kAB), {{"latency", {{"a", "500"}, {"b", "600"}}}, {"revenue", {{"a", "3"}, {"b", "4"}}}});
  EXPECT_EQ(d.winner_assessment.message,
            "Error: ; Warning: ; Info: no version satisfies all objectives");
}

TEST(ClassicTest, ABNThreeVersionsUseRandomizedRounding) {
  api::Experiment e = Exp(R"(spec:
  target: t
  strategy: {testingPattern: A/B/N}
  criteria: {rewards: [{metric: r, preferredDirection: High}]}
  versionInfo:
    baseline: {name: a}
    candidates: [{name: b}, {name: c}]
)");
  Values v = {{"r", {{"a", "1"}, {"b", "2"}, {"c", "3"}}}};
  // mix = [3.33, 3.33, 93.33]; c capped at +10 -> [86.67, 3.33, 10].
  SequenceRandom low({0.5});
  EXPECT_EQ(Weights(Analyze(e, v, low)), (std::vector<int32_t>{87, 3, 10}));
  SequenceRandom high({0.9});
  EXPECT_EQ(Weights(Analyze(e, v, high)), (std::vector<int32_t>{86, 3, 11}));
}

TEST(ClassicTest, CandidateCaps) {
  Values good = {{"mean-latency", {{"default", "1"}, {"canary", "1"}}},
                 {"error-rate", {{"default", "0"}, {"canary", "0"}}}};
  api::Experiment zero = Exp(kCanary);
  zero.spec.strategy.weights->max_candidate_weight = 0;
  EXPECT_EQ(Weights(Analyze(zero, good)), (std::vector<int32_t>{100, 0}));

  api::Experiment forty = Exp(kCanary);
  forty.spec.strategy.weights->max_candidate_weight = 40;
  forty.status.current_weight_distribution = {{"default", 60, {}}, {"canary", 40, {}}};
  EXPECT_EQ(Weights(Analyze(forty, good)), (std::vector<int32_t>{60, 40}));

  api::Experiment open = Exp(kCanary);
  open.spec.strategy.weights->max_candidate_weight_increment = 100;
  EXPECT_EQ(Weights(Analyze(open, good)), (std::vector<int32_t>{5, 95}));
}

TEST(ClassicTest, PreviousWeightsMatchByNameUnlessPositionalIsAsked) {
  Values good = {{"mean-latency", {{"default", "1"}, {"canary", "1"}}},
                 {"error-rate", {{"default", "0"}, {"canary", "0"}}}};
  api::Experiment e = Exp(kCanary);
  // Only the candidate has a weightObjRef, so the controller lists it first (spec.md 4.4).
  e.status.current_weight_distribution = {{"canary", 40, {}}, {"default", 60, {}}};
  SequenceRandom r1({0.5}), r2({0.5});
  EXPECT_EQ(Weights(Analyze(e, good, r1)), (std::vector<int32_t>{50, 50}));
  EXPECT_EQ(Weights(Analyze(e, good, r2, ClassicOptions{.positional_previous_weights = true})),
            (std::vector<int32_t>{30, 70}));
}

TEST(ClassicTest, V2alpha1PerformanceHasNoWinnerAndNoWeights) {
  api::Experiment e = Exp(R"(spec:
  target: t
  strategy: {testingPattern: Conformance}
  versionInfo: {baseline: {name: a}}
)");
  e.v2alpha1 = api::V2alpha1Fields{};
  e.v2alpha1->strategy_type = "Performance";
  auto out = Analyze(e, {});
  EXPECT_EQ(out.winner_assessment.message,
            "Error: performance tests cannot have winner assessments; Warning: ; Info: ");
  EXPECT_EQ(out.weights.message,
            "weight computation is not applicable to a performance experiment");
}

TEST(GenRoundTest, AlwaysSumsToTotalAndIsExactForIntegers) {
  Mt19937Random random(7);
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<double> w(1 + trial % 5);
    for (double& x : w) x = random.Uniform() * 50;
    auto r = GenRound(w, 100, random);
    int sum = 0;
    for (int32_t x : r) {
      EXPECT_GE(x, 0);
      sum += x;
    }
    EXPECT_EQ(sum, 100);
  }
  EXPECT_EQ(GenRound({90, 10}, 100, random), (std::vector<int32_t>{90, 10}));
  EXPECT_EQ(GenRound({0, 0}, 100, random), (std::vector<int32_t>{50, 50}));
  EXPECT_EQ(GenRound({0, 0, 0, 0}, 100, random), (std::vector<int32_t>{25, 25, 25, 25}));
}

TEST(GenRoundTest, RoundsUpWithProbabilityOfTheFraction) {
  Mt19937Random random(11);
  int up = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) up += GenRound({30.25, 69.75}, 100, random)[0] == 31;
  EXPECT_NEAR(static_cast<double>(up) / n, 0.25, 0.015);
}

// The response of the original analytics service recorded in etc3's tests: a canary whose
// metric backend failed for every metric and version.
TEST(ClassicTest, MatchesRecordedAnalyticsResponse) {
  ITER8_REQUIRE_REFERENCE();
  auto docs = api::ParseDocuments(
      ::iter8::testing::ReadFileOrDie(::iter8::testing::ReferenceDir() /
                                      "iter8/etc3/test/data/analyticsresponse.json"),
      "analyticsresponse.json");
  ASSERT_TRUE(docs.ok());
  const api::Json& want = (*docs)[0].json;
  api::Experiment e = Exp(R"(spec:
  target: t
  strategy: {testingPattern: Canary}
  criteria: {objectives: [{metric: mean-latency, upperLimit: 1000}]}
  versionInfo:
    baseline: {name: default}
    candidates: [{name: canary}]
)");
  auto out = Analyze(e, {{"request-count", {{"default", ""}, {"canary", ""}}},
                         {"mean-latency", {{"default", ""}, {"canary", ""}}}});
  EXPECT_EQ(out.version_assessments.message, want["versionAssessments"]["message"]);
  EXPECT_EQ(out.version_assessments.data.at("default"), std::vector<bool>{false});
  EXPECT_EQ(out.winner_assessment.data.winner_found, false);
  EXPECT_TRUE(want["winnerAssessment"]["message"].is_null());
  EXPECT_FALSE(out.winner_assessment.message.has_value());
  EXPECT_EQ(out.weights.message, want["weights"]["message"]);
  EXPECT_EQ(out.weights.data[0].value, want["weights"]["data"][0]["value"]);
  EXPECT_EQ(out.weights.data[1].value, want["weights"]["data"][1]["value"]);
  // The aggregated-metrics errors, spaces included.
  std::string message = want["aggregatedMetrics"]["message"];
  EXPECT_NE(message.find(MetricsBackendError("request-count", "default")), std::string::npos);
  EXPECT_NE(message.find(MetricsBackendError("mean-latency", "canary")), std::string::npos);
}

}  // namespace
}  // namespace iter8::analytics
