#include "api/strength.h"

#include <gtest/gtest.h>

namespace iter8::api {
namespace {

Strength Parse(const char* json, std::vector<FieldError>* errors) {
  return ParseStrength(Json::parse(json), errors);
}

TEST(StrengthTest, DefaultsWhenAbsent) {
  std::vector<FieldError> errors;
  Strength s = ParseStrength(nullptr, &errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(s.engine, EngineKind::kClassic);
  EXPECT_EQ(s.alpha, 0.05);
  EXPECT_TRUE(s.stop_early);
  EXPECT_TRUE(s.sample_ratio_check);
  EXPECT_EQ(s.bursty_errors, Strength::Bursts::kPromotion);
  EXPECT_EQ(s.min_weight, 10);
  EXPECT_EQ(s.undecided_max_weight, 50);
  EXPECT_FALSE(s.equivalence_margin);
  // The original accepted anything in `strength`: a string is not our object, and not an error.
  ParseStrength("strong", &errors);
  EXPECT_TRUE(errors.empty());
}

TEST(StrengthTest, EveryKeyIsRead) {
  std::vector<FieldError> errors;
  Strength s = Parse(R"({"engine": "sequential", "alpha": 0.01, "stopEarly": false,
      "concentration": 100, "nOpt": 5000, "harmBudget": 0.2, "minWeight": 5,
      "undecidedMaxWeight": 40, "equivalenceMargin": 0.002, "maxLatency": 30000,
      "sampleRatioCheck": false, "burstyErrors": "all",
      "methods": {"conv": "rate", "lat": "p99.9", "n": "count", "m": "mean"}})",
                     &errors);
  ASSERT_TRUE(errors.empty()) << errors[0].pointer << " " << errors[0].message;
  EXPECT_EQ(s.engine, EngineKind::kSequential);
  EXPECT_EQ(s.alpha, 0.01);
  EXPECT_FALSE(s.stop_early);
  EXPECT_EQ(s.concentration, 100);
  EXPECT_EQ(s.n_opt, 5000);
  EXPECT_EQ(s.harm_budget, 0.2);
  EXPECT_EQ(s.min_weight, 5);
  EXPECT_EQ(s.undecided_max_weight, 40);
  EXPECT_EQ(*s.equivalence_margin, 0.002);
  EXPECT_EQ(*s.max_latency, 30000);
  EXPECT_FALSE(s.sample_ratio_check);
  EXPECT_EQ(s.bursty_errors, Strength::Bursts::kAll);
  EXPECT_EQ(Parse(R"({"burstyErrors": "none"})", &errors).bursty_errors, Strength::Bursts::kNone);
  EXPECT_EQ(Parse(R"({"burstyErrors": false})", &errors).bursty_errors, Strength::Bursts::kNone);
  EXPECT_EQ(Parse(R"({"burstyErrors": true})", &errors).bursty_errors, Strength::Bursts::kAll);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(s.methods.at("conv").kind, TestMethod::kRate);
  EXPECT_EQ(s.methods.at("lat").kind, TestMethod::kQuantile);
  EXPECT_DOUBLE_EQ(s.methods.at("lat").quantile, 0.999);
  EXPECT_EQ(s.methods.at("n").kind, TestMethod::kCount);
  EXPECT_EQ(s.methods.at("m").kind, TestMethod::kMean);
}

TEST(StrengthTest, EachBadKeyIsNamed) {
  std::vector<FieldError> errors;
  Parse(R"({"engine": 1, "alpha": 0.9, "concentration": 0, "nOpt": "x", "harmBudget": 0,
      "minWeight": 101, "undecidedMaxWeight": -1, "equivalenceMargin": -1, "stopEarly": "yes",
      "sampleRatioCheck": 1, "burstyErrors": "sometimes",
      "methods": {"a": "median", "b": 7, "c": "p0", "d": "p100", "e": "p9.9.9"}})",
        &errors);
  std::vector<std::string> pointers;
  for (const FieldError& e : errors) pointers.push_back(e.pointer);
  const std::string b = "/spec/criteria/strength/";
  EXPECT_EQ(pointers,
            (std::vector<std::string>{
                b + "engine", b + "alpha", b + "concentration", b + "nOpt", b + "harmBudget",
                b + "minWeight", b + "undecidedMaxWeight", b + "equivalenceMargin", b + "stopEarly",
                b + "sampleRatioCheck", b + "burstyErrors", b + "methods/a", b + "methods/b",
                b + "methods/c", b + "methods/d", b + "methods/e"}));
  EXPECT_EQ(errors[1].message, "Invalid value: 0.9: must be a number in (0, 0.5]");
  EXPECT_EQ(errors[10].message,
            "Unsupported value: \"sometimes\": supported values: \"promotion\", \"all\", "
            "\"none\"");
  errors.clear();
  Parse(R"({"minWeight": 60, "undecidedMaxWeight": 50})", &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "Invalid value: 60: must not exceed undecidedMaxWeight (50)");
}

TEST(StrengthTest, MethodsAreInferredFromNamesAndTypes) {
  auto kind = [](const char* name) { return InferTestMethod(name, nullptr); };
  EXPECT_EQ(kind("iter8-system/error-rate").kind, TestMethod::kRate);
  EXPECT_EQ(kind("conversion-ratio").kind, TestMethod::kRate);
  EXPECT_EQ(kind("mean-latency").kind, TestMethod::kMean);
  EXPECT_EQ(kind("user-engagement").kind, TestMethod::kMean);
  EXPECT_EQ(kind("latency-95th-percentile").kind, TestMethod::kQuantile);
  EXPECT_DOUBLE_EQ(kind("latency-95th-percentile").quantile, 0.95);
  EXPECT_DOUBLE_EQ(kind("iter8-kfserving/95th-percentile-tail-latency").quantile, 0.95);
  EXPECT_DOUBLE_EQ(kind("p99-latency").quantile, 0.99);
  EXPECT_DOUBLE_EQ(kind("latency_p99.9").quantile, 0.999);
  // "p" inside a word is not a quantile token.
  EXPECT_EQ(kind("top10-rate").kind, TestMethod::kRate);
  Metric counter;
  counter.spec.type = MetricType::kCounter;
  EXPECT_EQ(InferTestMethod("error-rate", &counter).kind, TestMethod::kCount);
}

}  // namespace
}  // namespace iter8::api
