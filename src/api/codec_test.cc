#include "api/codec.h"

#include <gtest/gtest.h>

#include "api/document.h"

namespace iter8::api {
namespace {

Json Yaml(const std::string& text) {
  auto docs = ParseDocuments(text, "test.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  return docs.ok() ? (*docs)[0].json : Json();
}

constexpr char kMinimal[] = R"(
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: e1
  namespace: ns
spec:
  target: t
  strategy:
    testingPattern: A/B
    actions:
      start:
      - task: common/exec
        with:
          cmd: echo
          args: [a, b]
  criteria:
    strength: {engine: sequential, alpha: 0.05}
    objectives:
    - metric: mean-latency
      upperLimit: 1000
      rollback_on_failure: true
    - metric: error-rate
      upperLimit: "0.01"
      somethingNew: kept
    rewards:
    - metric: user-engagement
      preferredDirection: High
  versionInfo:
    baseline:
      name: v1
    candidates:
    - name: v2
      variables:
      - name: ns
        value: x
)";

TEST(CodecTest, DecodesTypedFieldsAndKeepsUnknownOnes) {
  auto d = DecodeExperiment(Yaml(kMinimal));
  ASSERT_TRUE(d.errors.empty()) << JoinErrors(d.errors);
  const Experiment& e = d.value;
  EXPECT_EQ(e.metadata.name, "e1");
  EXPECT_EQ(e.spec.strategy.testing_pattern, TestingPattern::kAB);
  ASSERT_EQ(e.spec.criteria->objectives.size(), 2u);
  EXPECT_EQ(e.spec.criteria->objectives[0].upper_limit->ToString(), "1k");
  EXPECT_EQ(e.spec.criteria->objectives[0].rollback_on_failure, true);
  EXPECT_EQ(e.spec.criteria->objectives[1].upper_limit->ToString(), "10m");
  EXPECT_EQ(e.spec.criteria->objectives[1].extra["somethingNew"], "kept");
  EXPECT_EQ(e.spec.criteria->strength["engine"], "sequential");
  EXPECT_EQ(e.spec.strategy.actions.at("start")[0].with["args"][1], "b");
  EXPECT_EQ(e.spec.version_info->candidates[0].variables[0].value, "x");
}

TEST(CodecTest, EncodeThenDecodeIsIdentity) {
  Json in = Yaml(kMinimal);
  auto d1 = DecodeExperiment(in);
  ASSERT_TRUE(d1.errors.empty());
  Json out = EncodeExperiment(d1.value);
  EXPECT_EQ(out["spec"]["criteria"]["objectives"][1]["somethingNew"], "kept");
  EXPECT_EQ(out["spec"]["criteria"]["objectives"][1]["upperLimit"], "10m");
  auto d2 = DecodeExperiment(out);
  ASSERT_TRUE(d2.errors.empty());
  EXPECT_EQ(EncodeExperiment(d2.value), out);
}

TEST(CodecTest, CollectsEveryProblemWithItsPointer) {
  Json j = Yaml(R"(
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: e1
spec:
  strategy:
    testingPattern: A/B/n
    weights:
      maxCandidateWeight: "50"
  criteria:
    objectives:
    - upperLimit: 1x
  duration:
    intervalSeconds: 99999999999
)");
  auto d = DecodeExperiment(j);
  std::vector<FieldError> want = {
      {"/spec/target", "Required value"},
      {"/spec/strategy/testingPattern",
       "Unsupported value: \"A/B/n\": supported values: \"Canary\", \"A/B\", \"A/B/N\", "
       "\"Conformance\""},
      {"/spec/strategy/weights/maxCandidateWeight", "Invalid value: expected integer, got string"},
      {"/spec/criteria/objectives/0/metric", "Required value"},
      {"/spec/criteria/objectives/0/upperLimit",
       "Invalid value: invalid quantity \"1x\": unknown suffix \"x\" (expected a number with an "
       "optional suffix such as 10m, 1k, 1Mi, 1e3)"},
      {"/spec/duration/intervalSeconds",
       "Invalid value: 99999999999: out of range for a 32-bit integer"},
  };
  EXPECT_EQ(d.errors, want) << JoinErrors(d.errors);
}

TEST(CodecTest, WrongTopLevelTypeIsAnError) {
  EXPECT_FALSE(DecodeExperiment(Json("just a string")).errors.empty());
  EXPECT_FALSE(DecodeMetric(Json::array()).errors.empty());
}

TEST(CodecTest, TimesAreRfc3339Seconds) {
  auto t = ParseRfc3339("2020-12-28T18:33:34Z");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(FormatRfc3339(*t), "2020-12-28T18:33:34Z");
  EXPECT_EQ(FormatRfc3339(*ParseRfc3339("2020-12-28T19:33:34+01:00")), "2020-12-28T18:33:34Z");
  EXPECT_FALSE(ParseRfc3339("yesterday").ok());
}

}  // namespace
}  // namespace iter8::api
