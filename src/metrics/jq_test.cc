#include "metrics/jq.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "test/testing/reference.h"

namespace iter8::metrics {
namespace {

constexpr char kPrometheus[] =
    R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1617108000.5,"228.41904761904762"]}]}})";
constexpr char kExtract[] = ".data.result[0].value[1] | tonumber";

TEST(JqTest, ExtractsThePrometheusValue) {
  auto v = JqFirstNumber(kExtract, kPrometheus);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_DOUBLE_EQ(*v, 228.41904761904762);
}

TEST(JqTest, ReasonsForNoValue) {
  struct Case {
    std::string expr, input, reason;
  };
  for (const auto& c : std::vector<Case>{
           {kExtract, R"({"status":"success","data":{"resultType":"vector","result":[]}})",
            "jq error"},  // null | tonumber
           {".data.result[]", R"({"data":{"result":[]}})", "produced no output"},
           {kExtract, "<html>502 Bad Gateway</html>", "response is not JSON"},
           {kExtract, "", "response is not JSON"},
           {".a", R"({"a":"text"})", "not a number"},
           {".a | tonumber", R"({"a":"NaN"})", "not a finite number"},
           {".a", R"({"a":null})", "not a number"},
           {".a[", "{}", "does not compile"},
           {"error(\"boom\")", "{}", "jq error: boom"},
       }) {
    auto v = JqFirstNumber(c.expr, c.input);
    ASSERT_FALSE(v.ok()) << c.expr << " on " << c.input;
    EXPECT_NE(v.status().message().find(c.reason), absl::string_view::npos)
        << c.expr << ": " << v.status().message();
  }
}

TEST(JqTest, FirstOutputWinsAndProgramsAreCachedPerThread) {
  EXPECT_EQ(*JqFirstNumber(".[]", "[3, 4]"), 3);
  size_t before = JqCachedProgramsForTest();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(JqFirstNumber(".[]", "[1]").ok());
  EXPECT_EQ(JqCachedProgramsForTest(), before);
}

TEST(JqTest, ThreadsUseTheirOwnStates) {
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &ok] {
      for (int i = 0; i < 200; ++i) {
        auto v = JqFirstNumber(kExtract, kPrometheus);
        ok[t] += v.ok() && *v > 228 && *v < 229;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, (std::vector<int>{200, 200, 200, 200}));
}

TEST(JqTest, OriginalSampleResponses) {
  ITER8_REQUIRE_REFERENCE();
  const auto dir =
      ::iter8::testing::ReferenceDir() / "iter8/iter8-analytics/iter8_analytics/tests/unit/v2/data";
  auto prom = JqFirstNumber(kExtract, ::iter8::testing::ReadFileOrDie(
                                          dir / "prom_responses/prometheus_sample_response.json"));
  ASSERT_TRUE(prom.ok()) << prom.status();
  EXPECT_GT(*prom, 0);
  auto empty = JqFirstNumber(
      kExtract,
      ::iter8::testing::ReadFileOrDie(dir / "prom_responses/prometheus_sample_no_response.json"));
  EXPECT_FALSE(empty.ok());
  auto nr = JqFirstNumber(
      ".results[0].count | tonumber",
      ::iter8::testing::ReadFileOrDie(dir / "newrelic_responses/newrelic_sample_response.json"));
  ASSERT_TRUE(nr.ok()) << nr.status();
}

}  // namespace
}  // namespace iter8::metrics
