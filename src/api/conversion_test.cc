// Conversion between v2alpha1 and v2alpha2 (api/conversion.h): lossless round trips over every
// Experiment and Metric of the original project in both directions, the v2alpha1 quickstart's
// stored form, the early form's status spelling, ConversionReview answers and bad input.
#include "api/conversion.h"

#include <gtest/gtest.h>

#include "api/document.h"
#include "api/load.h"
#include "test/testing/reference.h"

namespace iter8::api {
namespace {

using ::iter8::testing::ReadFileOrDie;
using ::iter8::testing::ReferenceDir;

Json Yaml(const std::string& text) {
  auto docs = ParseDocuments(text, "test");
  EXPECT_TRUE(docs.ok()) << docs.status();
  return docs.ok() && !docs->empty() ? (*docs)[0].json : Json();
}

Json Convert(const Json& in, std::string_view to) {
  absl::StatusOr<Json> out = ConvertResource(in, to);
  EXPECT_TRUE(out.ok()) << out.status() << "\n" << in.dump(2);
  return out.ok() ? *out : Json();
}

// The API server drops null values of fields that are not nullable before anything is stored,
// so the fixtures' `loop: null` never reaches a conversion.
Json WithoutNulls(Json j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end();) {
      if (it->is_null()) {
        it = j.erase(it);
      } else {
        *it = WithoutNulls(*it);
        ++it;
      }
    }
  } else if (j.is_array()) {
    for (Json& e : j) e = WithoutNulls(e);
  }
  return j;
}

std::string Other(const std::string& v) { return v == kV2alpha1 ? kV2alpha2 : kV2alpha1; }

bool IsIter8Resource(const Json& j) {
  if (!j.is_object() || !j.value("apiVersion", Json()).is_string()) return false;
  const std::string v = j["apiVersion"];
  const std::string kind = j.value("kind", "");
  return (v == kV2alpha1 || v == kV2alpha2) && (kind == "Experiment" || kind == "Metric");
}

constexpr char kQuickstart[] = R"(apiVersion: iter8.tools/v2alpha1
kind: Experiment
metadata:
  name: experiment-1
  namespace: default
spec:
  target: default/my-model
  strategy:
    type: Canary
  criteria:
    indicators:
    - 95th-percentile-tail-latency
    objectives:
    - metric: mean-latency
      upperLimit: 1000
    - metric: error-rate
      upperLimit: "0.01"
  duration:
    intervalSeconds: 15
    maxIterations: 12
)";

TEST(ConversionTest, EveryReferenceResourceRoundTripsThroughTheOtherVersion) {
  ITER8_REQUIRE_REFERENCE();
  int converted = 0;
  for (const auto& path :
       ::iter8::testing::FilesUnder(ReferenceDir() / "iter8", {".yaml", ".yml", ".json"})) {
    auto docs = ParseDocuments(ReadFileOrDie(path), path.string());
    if (!docs.ok()) continue;
    for (const Document& doc : *docs) {
      if (!IsIter8Resource(doc.json)) continue;
      const std::string own = doc.json["apiVersion"];
      const Json original = WithoutNulls(doc.json);
      absl::StatusOr<Json> there = ConvertResource(original, Other(own));
      if (!there.ok()) continue;  // fixtures the codec rejects (checked by reference_test)
      absl::StatusOr<Json> back = ConvertResource(*there, own);
      ASSERT_TRUE(back.ok()) << path << ": " << back.status();
      // The status of a v2alpha1 object is rendered, not restored (conversion.h).
      Json want = original, got = *back;
      if (own == kV2alpha1) {
        want.erase("status");
        got.erase("status");
      }
      EXPECT_TRUE(SameJson(got, want)) << path << "\nwas:  " << original.dump()
                                       << "\nback: " << back->dump() << "\nvia:  " << there->dump();
      EXPECT_EQ((*there)["apiVersion"], Other(own));
      ++converted;
    }
  }
  EXPECT_GT(converted, 100);
}

TEST(ConversionTest, TheOriginalQuickstartIsStoredAsV2alpha2WithItsFormInAnAnnotation) {
  const Json v1 = Yaml(kQuickstart);
  const Json v2 = Convert(v1, kV2alpha2);
  EXPECT_EQ(v2["apiVersion"], kV2alpha2);
  EXPECT_EQ(v2["spec"]["strategy"]["testingPattern"], "Canary");
  EXPECT_FALSE(v2["spec"]["strategy"].contains("type"));
  EXPECT_EQ(v2["spec"]["duration"]["iterationsPerLoop"], 12);
  EXPECT_FALSE(v2["spec"]["duration"].contains("maxIterations"));
  EXPECT_TRUE(WrittenAsV2alpha1(v2));
  const Json record =
      Json::parse(v2["metadata"]["annotations"][kV2alpha1Annotation].get<std::string>());
  EXPECT_EQ(record["form"]["strategyType"], "Canary");
  EXPECT_TRUE(SameJson(Convert(v2, kV2alpha1), v1));
  EXPECT_FALSE(WrittenAsV2alpha1(v1));
}

TEST(ConversionTest, TheControllerReadsTheStoredFormAsTheV2alpha1ExperimentItWas) {
  const Json v2 = Convert(Yaml(kQuickstart), kV2alpha2);
  absl::StatusOr<Experiment> e = LoadExperiment(v2, "cluster");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->api_version, kV2alpha1);
  ASSERT_TRUE(e->v2alpha1.has_value());
  EXPECT_EQ(e->v2alpha1->strategy_type, "Canary");
  EXPECT_TRUE(e->v2alpha1->max_iterations);
  EXPECT_EQ(e->spec.duration->iterations_per_loop, 12);
  // Written back through the model, then stored again: the same v2alpha2 object.
  const Json again = Convert(EncodeResource(*e), kV2alpha2);
  EXPECT_TRUE(SameJson(again["spec"], v2["spec"])) << again.dump() << "\n" << v2.dump();
  EXPECT_TRUE(WrittenAsV2alpha1(again));
}

TEST(ConversionTest, AnEarlyFormExperimentShowsTheOriginalStatusSpelling) {
  Json v2 = Convert(Yaml(kQuickstart), kV2alpha2);
  // What the controller writes (v2alpha2 status) after a promotion.
  v2["spec"]["versionInfo"] = Yaml(R"(baseline:
  name: default
  variables: [{name: revision, value: my-model-predictor-default-00001}]
candidates:
- name: canary
  variables: [{name: revision, value: my-model-predictor-default-00002}]
)");
  v2["status"] = Yaml(R"(completedIterations: 12
versionRecommendedForPromotion: canary
conditions:
- {type: Completed, status: "True", reason: ExperimentCompleted, message: Experiment completed}
- {type: Failed, status: "False"}
metrics:
- name: mean-latency
  metricObj:
    apiVersion: iter8.tools/v2alpha2
    kind: Metric
    metadata: {name: mean-latency}
    spec: {params: [{name: query, value: q}], provider: prometheus, type: Gauge}
)");
  const Json v1 = Convert(v2, kV2alpha1);
  EXPECT_EQ(v1["status"]["recommendedBaseline"], "canary");
  EXPECT_FALSE(v1["status"].contains("versionRecommendedForPromotion"));
  EXPECT_EQ(v1["status"]["conditions"][0]["type"], "ExperimentCompleted");
  EXPECT_EQ(v1["status"]["conditions"][1]["type"], "ExperimentFailed");
  EXPECT_EQ(v1["spec"]["versionInfo"]["candidates"][0]["tags"]["revision"],
            "my-model-predictor-default-00002");
  ASSERT_TRUE(v1["spec"].contains("metrics")) << v1.dump(2);
  EXPECT_EQ(v1["spec"]["metrics"][0]["name"], "mean-latency");
  EXPECT_EQ(v1["spec"]["strategy"]["type"], "Canary");
  EXPECT_EQ(v1["spec"]["duration"]["maxIterations"], 12);
}

TEST(ConversionTest, AV2alpha2ExperimentKeepsWhatV2alpha1CannotSayInAnAnnotation) {
  const Json v2 = Yaml(R"(apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: e, namespace: ns, annotations: {team: a}}
spec:
  target: t
  strategy: {testingPattern: A/B, deploymentPattern: Progressive}
  criteria:
    rewards:
    - {metric: revenue, preferredDirection: High}
    - {metric: clicks, preferredDirection: High}
    strength: {engine: sequential, alpha: 0.05}
  duration: {intervalSeconds: 10, iterationsPerLoop: 5, maxLoops: 3}
status:
  stage: Running
  completedIterations: 3
)");
  const Json v1 = Convert(v2, kV2alpha1);
  EXPECT_EQ(v1["apiVersion"], kV2alpha1);
  EXPECT_TRUE(v1["metadata"]["annotations"].contains(kV2alpha2Annotation)) << v1.dump(2);
  EXPECT_EQ(v1["metadata"]["annotations"]["team"], "a");
  const Json back = Convert(v1, kV2alpha2);
  EXPECT_TRUE(SameJson(back, v2)) << back.dump(2);
  EXPECT_FALSE(WrittenAsV2alpha1(back));
}

TEST(ConversionTest, TheOriginalMetricsRoundTripAndKeepTheirEarlyForm) {
  const Json v1 = Yaml(R"(apiVersion: iter8.tools/v2alpha1
kind: Metric
metadata: {name: mean-latency, namespace: iter8-system}
spec:
  description: Mean latency
  units: milliseconds
  params:
    query: sum(x{revision_name='$revision'}[$interval])
  type: gauge
  sample_size:
    name: request-count
  provider: prometheus
)");
  const Json v2 = Convert(v1, kV2alpha2);
  EXPECT_EQ(v2["spec"]["type"], "Gauge");
  EXPECT_EQ(v2["spec"]["sampleSize"], "request-count");
  EXPECT_EQ(v2["spec"]["params"][0]["name"], "query");
  EXPECT_TRUE(WrittenAsV2alpha1(v2));
  EXPECT_TRUE(SameJson(Convert(v2, kV2alpha1), v1));
  absl::StatusOr<Metric> m = LoadMetric(v2, "cluster");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->api_version, kV2alpha1);
}

TEST(ConversionTest, ObjectsThatCannotBeRepresentedAreErrorsNamingTheField) {
  Json bad = Yaml(kQuickstart);
  bad["spec"]["duration"]["intervalSeconds"] = "soon";
  absl::StatusOr<Json> out = ConvertResource(bad, kV2alpha2);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("/spec/duration/intervalSeconds"), std::string::npos)
      << out.status();
  EXPECT_FALSE(ConvertResource(Json::array(), kV2alpha2).ok());
  Json other = Yaml(kQuickstart);
  other["apiVersion"] = "iter8.tools/v1";
  EXPECT_FALSE(ConvertResource(other, kV2alpha2).ok());
  EXPECT_FALSE(ConvertResource(Yaml(kQuickstart), "iter8.tools/v3").ok());
  other = Yaml(kQuickstart);
  other["kind"] = "Route";
  EXPECT_FALSE(ConvertResource(other, kV2alpha2).ok());
}

TEST(ConversionTest, ReviewConvertsEveryObjectOrFailsTheWholeReview) {
  Json review = {{"apiVersion", "apiextensions.k8s.io/v1"},
                 {"kind", "ConversionReview"},
                 {"request",
                  {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
                   {"desiredAPIVersion", kV2alpha2},
                   {"objects", Json::array({Yaml(kQuickstart)})}}}};
  Json answer = ReviewConversion(review);
  EXPECT_EQ(answer["kind"], "ConversionReview");
  EXPECT_EQ(answer["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
  EXPECT_EQ(answer["response"]["result"]["status"], "Success");
  ASSERT_EQ(answer["response"]["convertedObjects"].size(), 1u);
  EXPECT_EQ(answer["response"]["convertedObjects"][0]["apiVersion"], kV2alpha2);

  Json bad = Yaml(kQuickstart);
  bad["spec"]["duration"]["maxIterations"] = "many";
  review["request"]["objects"].push_back(bad);
  answer = ReviewConversion(review);
  EXPECT_EQ(answer["response"]["result"]["status"], "Failure");
  EXPECT_TRUE(answer["response"]["convertedObjects"].empty());
  const std::string message = answer["response"]["result"]["message"];
  EXPECT_NE(message.find("experiment-1"), std::string::npos) << message;
  EXPECT_NE(message.find("/spec/duration"), std::string::npos) << message;

  EXPECT_EQ(ReviewConversion(Json::object())["response"]["result"]["status"], "Failure");
  Json no_uid = review;
  no_uid["request"].erase("uid");
  EXPECT_EQ(ReviewConversion(no_uid)["response"]["result"]["status"], "Failure");
}

TEST(ConversionTest, MergeDiffRestoresTheTarget) {
  const Json from = Json::parse(R"({"a": 1, "b": {"c": [1, 2], "d": "x"}, "e": true})");
  const Json to = Json::parse(R"({"b": {"d": "x", "c": [2], "f": {"g": 1}}, "a": 2})");
  Json patched = from;
  patched.merge_patch(MergeDiff(from, to));
  EXPECT_TRUE(SameJson(patched, to)) << patched.dump();
  EXPECT_TRUE(MergeDiff(to, to).empty());
  EXPECT_FALSE(SameJson(Json::parse("[1, 2]"), Json::parse("[2, 1]")));
  EXPECT_TRUE(SameJson(Json::parse(R"({"x": 1, "y": 2})"), Json::parse(R"({"y": 2, "x": 1})")));
}

}  // namespace
}  // namespace iter8::api
