#include "analytics/builtin_hists.h"

#include <gtest/gtest.h>

#include "analytics/classic.h"
#include "api/document.h"
#include "api/load.h"
#include "api/validate.h"
#include "common/strings.h"
#include "test/testing/reference.h"

namespace iter8::analytics {
namespace {

double Value(const api::AggregatedMetricsAnalysis& a, const std::string& metric,
             const std::string& version) {
  return a.data.at(StrCat("iter8-system/", metric)).data.at(version).value->ToDouble();
}

TEST(BuiltinHistsTest, CountsErrorsMeanAndPercentiles) {
  api::Json hists = api::Json::parse(R"({"data": {"v1": {
      "DurationHistogram": {"Count": 10, "Sum": 0.5, "Max": 0.1,
        "Data": [{"Start": 0.0, "End": 0.1, "Count": 10}]},
      "RetCodes": {"200": 7, "404": 1, "503": 2}}}})");
  auto a = BuiltinMetrics(hists);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(Value(*a, "request-count", "v1"), 10);
  EXPECT_EQ(Value(*a, "error-count", "v1"), 3);
  EXPECT_DOUBLE_EQ(Value(*a, "error-rate", "v1"), 0.3);
  EXPECT_DOUBLE_EQ(Value(*a, "mean-latency", "v1"), 50);
  // 100 points evenly in [0, 100] ms: the p-th percentile is close to p.
  EXPECT_NEAR(Value(*a, "latency-50th-percentile", "v1"), 50, 0.6);
  EXPECT_NEAR(Value(*a, "latency-95th-percentile", "v1"), 95, 0.6);
  EXPECT_NEAR(Value(*a, "latency-99th-percentile", "v1"), 99, 0.6);
}

TEST(BuiltinHistsTest, NoRequestsMeansNoRatesRatherThanZero) {
  auto a = BuiltinMetrics(api::Json::parse(
      R"({"data": {"v1": {"DurationHistogram": {"Count": 0, "Sum": 0}, "RetCodes": {}}}})"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(Value(*a, "request-count", "v1"), 0);
  EXPECT_EQ(a->data.count("iter8-system/mean-latency"), 0u);
  EXPECT_EQ(a->data.count("iter8-system/error-rate"), 0u);
}

TEST(BuiltinHistsTest, MalformedInputNamesThePointer) {
  for (
      const auto& [text, where] : std::vector<std::pair<std::string, std::string>>{
          {R"({})", "/data"},
          {R"({"data": {"v": 1}})", "/data/v/DurationHistogram"},
          {R"({"data": {"v": {"DurationHistogram": {"Count": "x", "Sum": 1}}}})",
           "/data/v/DurationHistogram/Count"},
          {R"({"data": {"v": {"DurationHistogram": {"Count": 1, "Sum": -1}}}})",
           "/data/v/DurationHistogram/Sum"},
          {R"({"data": {"v": {"DurationHistogram": {"Count": 1, "Sum": 1,
                "Data": [{"Start": 2, "End": 1, "Count": 1}]}}}})",
           "/data/v/DurationHistogram/Data/0"},
          {R"({"data": {"v": {"DurationHistogram": {"Count": 1, "Sum": 1,
                "Data": [{"Start": 1, "End": 2, "Count": 1e300}]}}}})",
           "/data/v/DurationHistogram/Data/0/Count"},
          {R"({"data": {"v": {"DurationHistogram": {"Count": 1, "Sum": 1}, "RetCodes": {"500": []}}}})",
           "/data/v/RetCodes/500"}}) {
    auto a = BuiltinMetrics(api::Json::parse(text));
    ASSERT_FALSE(a.ok()) << text;
    EXPECT_NE(a.status().message().find(where), absl::string_view::npos) << a.status();
  }
}

// iter8-analytics' fixture with histograms collected by metrics/collect (Fortio, 40 requests
// per version, all 200).
TEST(BuiltinHistsTest, ReferenceExperimentWithCollectedHistograms) {
  ITER8_REQUIRE_REFERENCE();
  const auto path = ::iter8::testing::ReferenceDir() /
                    "iter8/iter8-analytics/iter8_analytics/tests/unit/v2/data/experiments/"
                    "metricscollected.json";
  auto docs = api::ParseDocuments(::iter8::testing::ReadFileOrDie(path), path.string());
  ASSERT_TRUE(docs.ok());
  auto e = api::LoadExperiment((*docs)[0]);
  ASSERT_TRUE(e.ok()) << e.status();
  api::ApplyDefaults(&*e);
  auto a = BuiltinMetrics(e->status.analysis->aggregated_builtin_hists);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(Value(*a, "request-count", "default"), 40);
  EXPECT_EQ(Value(*a, "error-count", "canary"), 0);
  EXPECT_EQ(Value(*a, "error-rate", "canary"), 0);
  EXPECT_NEAR(Value(*a, "mean-latency", "default"), 21.9761407, 1e-6);
  EXPECT_NEAR(Value(*a, "mean-latency", "canary"), 44.7955056, 1e-6);
  const double p95 = Value(*a, "latency-95th-percentile", "canary");
  EXPECT_GT(p95, 100);  // 38 of 40 canary requests were faster than 120 ms, 2 were slower
  EXPECT_LT(p95, 250);

  // The fixture's objectives name `builtin-metrics/...`, which the final analytics (v2.1.7)
  // no longer provides (its builtins are `iter8-system/...`): both objectives are unavailable,
  // so the canary experiment has no winner and keeps exploring at 5 %.
  ClassicEngine engine;
  SequenceRandom random({0.5});
  AnalyticsOutput out = engine.Analyze(AnalyticsInput{*e, *a}, random);
  EXPECT_FALSE(out.winner_assessment.data.winner_found);
  EXPECT_EQ(out.weights.data[1].value, 5);
  // With the objectives pointed at the builtin names, both versions meet them (mean latency
  // <= 1000 ms, error count <= 10) and the candidate wins.
  for (auto& o : e->spec.criteria->objectives) {
    o.metric.replace(0, o.metric.find('/'), "iter8-system");
  }
  out = engine.Analyze(AnalyticsInput{*e, *a}, random);
  EXPECT_EQ(out.version_assessments.data.at("canary"), (std::vector<bool>{true, true}));
  EXPECT_EQ(out.winner_assessment.data.winner, "canary");
  EXPECT_EQ(out.weights.data[1].value, 10);
}

TEST(BuiltinHistsTest, RequestsWithoutAnAnswerAreErrors) {
  auto a = BuiltinMetrics(api::Json::parse(R"({"data": {"v1": {
      "DurationHistogram": {"Count": 4, "Sum": 0.4, "Data": [{"Start": 0, "End": 0.2, "Count": 4}]},
      "RetCodes": {"200": 2, "-1": 2}}}})"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(Value(*a, "error-count", "v1"), 2);
  EXPECT_DOUBLE_EQ(Value(*a, "error-rate", "v1"), 0.5);
}

TEST(BuiltinHistsTest, MergeAddsCountsSumsCodesAndEqualBuckets) {
  const api::Json first = api::Json::parse(R"({"data": {"v1": {
      "DurationHistogram": {"Count": 3, "Sum": 0.3, "Min": 0.05, "Max": 0.15,
        "Data": [{"Start": 0.0, "End": 0.1, "Count": 2}, {"Start": 0.1, "End": 0.2, "Count": 1}]},
      "RetCodes": {"200": 3}}}})");
  const api::Json second = api::Json::parse(R"({"data": {
      "v1": {"DurationHistogram": {"Count": 2, "Sum": 0.9, "Min": 0.15, "Max": 0.75,
        "Data": [{"Start": 0.1, "End": 0.2, "Count": 1}, {"Start": 0.7, "End": 0.8, "Count": 1}]},
        "RetCodes": {"200": 1, "503": 1}},
      "v2": {"DurationHistogram": {"Count": 1, "Sum": 0.01}, "RetCodes": {"200": 1}}}})");
  absl::StatusOr<api::Json> merged = MergeFortioResults(first, second);
  ASSERT_TRUE(merged.ok()) << merged.status();
  auto parsed = ParseFortioResults(*merged);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const FortioResult& v1 = parsed->at("v1");
  EXPECT_EQ(v1.count, 5);
  EXPECT_DOUBLE_EQ(v1.sum_seconds, 1.2);
  EXPECT_EQ(v1.errors, 1);
  ASSERT_EQ(v1.buckets.size(), 3u);
  EXPECT_EQ(v1.buckets[1].count, 2);  // [0.1, 0.2] from both
  EXPECT_DOUBLE_EQ((*merged)["data"]["v1"]["DurationHistogram"]["Min"].get<double>(), 0.05);
  EXPECT_DOUBLE_EQ((*merged)["data"]["v1"]["DurationHistogram"]["Max"].get<double>(), 0.75);
  EXPECT_EQ((*merged)["data"]["v1"]["RetCodes"]["200"].get<double>(), 4);
  EXPECT_EQ(parsed->at("v2").count, 1);
  // Merging into nothing is the result itself.
  absl::StatusOr<api::Json> fresh = MergeFortioResults(nullptr, first);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ((*fresh)["data"], first["data"]);
  // Malformed input names the field.
  absl::StatusOr<api::Json> bad =
      MergeFortioResults(first, api::Json::parse(R"({"data": {"v1": {"DurationHistogram": {}}}})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("/data/v1/DurationHistogram/Count"), std::string::npos)
      << bad.status();
}

}  // namespace
}  // namespace iter8::analytics
