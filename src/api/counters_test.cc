#include "api/counters.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "api/document.h"
#include "api/load.h"
#include "api/validate.h"

namespace iter8::api {
namespace {

Metric Load(const std::string& counters_yaml) {
  auto docs = ParseDocuments(
      "apiVersion: iter8.tools/v2alpha2\nkind: Metric\nmetadata: {name: m, namespace: ns}\n"
      "spec:\n  urlTemplate: http://p:9090/api/v1/query\n" +
          counters_yaml,
      "m.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  auto m = LoadMetric(docs->front());
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

TEST(CountersTest, AbsentIsNothing) {
  std::vector<FieldError> errors;
  EXPECT_FALSE(ParseCounterQueries(Load(""), &errors));
  EXPECT_TRUE(errors.empty());
}

TEST(CountersTest, EveryFieldIsRead) {
  std::vector<FieldError> errors;
  auto q = ParseCounterQueries(Load(R"(  counters:
    url: http://p:9090
    lagSeconds: 45
    total: a_count{revision_name='$revision'}
    events: a_count{revision_name='$revision',code=~'5..'}
    sum: a_sum{revision_name='$revision'}
    buckets: a_bucket{revision_name='$revision'}
    scale: 1000
)"),
                               &errors);
  ASSERT_TRUE(q) << errors[0].pointer << " " << errors[0].message;
  EXPECT_EQ(q->url, "http://p:9090");
  EXPECT_EQ(q->lag_seconds, 45);
  EXPECT_EQ(q->total, "a_count{revision_name='$revision'}");
  EXPECT_EQ(q->events, "a_count{revision_name='$revision',code=~'5..'}");
  EXPECT_EQ(q->sum, "a_sum{revision_name='$revision'}");
  EXPECT_EQ(q->buckets, "a_bucket{revision_name='$revision'}");
  EXPECT_EQ(q->scale, 1000);
}

TEST(CountersTest, ProblemsAreNamedByPointerAndReportedByValidate) {
  const Metric m = Load(R"(  counters:
    lagSeconds: -1
    scale: 0
    events: ""
    totl: x
)");
  std::vector<FieldError> errors;
  EXPECT_FALSE(ParseCounterQueries(m, &errors));
  const std::vector<FieldError> want = {
      {"/spec/counters/events", "must be a non-empty string"},
      {"/spec/counters/lagSeconds", "must be an integer in [0, 3600]"},
      {"/spec/counters/scale", "must be a number > 0"},
      {"/spec/counters/totl",
       "unknown field (url, lagSeconds, total, events, sum, buckets, scale)"},
      {"/spec/counters/url", "Required value: the Prometheus base URL"},
      {"/spec/counters/total", "Required value: the requests counter"},
  };
  // Validate reports the same problems; compared in pointer order.
  std::vector<FieldError> validated = Validate(m);
  auto by_pointer = [](const FieldError& a, const FieldError& b) { return a.pointer < b.pointer; };
  std::vector<FieldError> sorted = want;
  for (auto* v : {&errors, &validated, &sorted}) std::sort(v->begin(), v->end(), by_pointer);
  EXPECT_EQ(errors, sorted);
  EXPECT_EQ(validated, sorted);
}

}  // namespace
}  // namespace iter8::api
