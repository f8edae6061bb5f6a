#include "cli/commands.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "api/codec.h"
#include "test/testing/process.h"
#include "test/testing/reference.h"

namespace iter8::cli {
namespace {

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

template <typename Options, typename Fn>
Outcome Call(Fn fn, const Options& options, const std::string& stdin_text = "") {
  std::istringstream in(stdin_text);
  std::ostringstream out, err;
  int code = fn(options, IoStreams{in, out, err});
  return {code, out.str(), err.str()};
}

const std::string kCompletedCanary = R"(
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: e, namespace: ns}
spec:
  target: t
  strategy: {testingPattern: Canary}
  versionInfo:
    baseline: {name: v1}
    candidates: [{name: v2}]
status:
  stage: Completed
  completedIterations: 3
  conditions:
  - {type: Completed, status: "True", reason: ExperimentCompleted}
  - {type: Failed, status: "False"}
  analysis:
    winnerAssessment:
      provenance: p
      data: {winnerFound: true, winner: v2}
)";

TEST(DescribeCommandTest, ReadsStdinAndPrintsReport) {
  Outcome r = Call(RunDescribe, DescribeOptions{"-", "", "", ""}, kCompletedCanary);
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("Winning version: v2\n"), std::string::npos) << r.out;
}

TEST(DescribeCommandTest, ErrorsExitNonZeroWithReason) {
  Outcome missing = Call(RunDescribe, DescribeOptions{});
  EXPECT_EQ(missing.code, kExitUsage);
  EXPECT_NE(missing.err.find("Missing experiment"), std::string::npos);

  Outcome empty = Call(RunDescribe, DescribeOptions{"-", "", "", ""}, "");
  EXPECT_EQ(empty.code, kExitFailure);
  EXPECT_NE(empty.err.find("<stdin>: empty input"), std::string::npos) << empty.err;

  Outcome bad = Call(RunDescribe, DescribeOptions{"-", "", "", ""}, "apiVersion: [\n");
  EXPECT_EQ(bad.code, kExitFailure);
  EXPECT_NE(bad.err.find("<stdin>:"), std::string::npos) << bad.err;

  Outcome nofile = Call(RunDescribe, DescribeOptions{"/nonexistent/x.yaml", "", "", ""});
  EXPECT_EQ(nofile.code, kExitFailure);
  EXPECT_NE(nofile.err.find("/nonexistent/x.yaml: cannot open"), std::string::npos) << nofile.err;

  testing::TempDir dir;
  const std::string db = (dir.path() / "iter8.db").string();
  Outcome byname = Call(RunDescribe, DescribeOptions{"", "myexp", "", db});
  EXPECT_EQ(byname.code, kExitFailure);
  EXPECT_NE(byname.err.find("experiment \"default/myexp\" not found in " + db), std::string::npos)
      << byname.err;

  Outcome metric = Call(RunDescribe, DescribeOptions{"-", "", "", ""},
                        "apiVersion: iter8.tools/v2alpha2\nkind: Metric\nmetadata: {name: m}\n");
  EXPECT_EQ(metric.code, kExitFailure);
  EXPECT_NE(metric.err.find("no Experiment in input"), std::string::npos) << metric.err;
}

// The original iter8ctl's argument errors, byte for byte (golden error-*.txt files).
TEST(Iter8ctlArgumentsTest, MatchOriginalErrorGoldens) {
  ITER8_REQUIRE_REFERENCE();
  struct Case {
    const char* golden;
    std::vector<std::string> args;
  };
  const std::vector<Case> cases = {
      {"error-invalid-subcommand.txt", {"invalid"}},
      {"error-no-flags.txt", {}},
      {"error-undefined-flag.txt", {"describe", "-name", "x"}},
  };
  for (const char* dir : {"iter8/iter8ctl/testdata", "iter8/iter8ctl--v0.1.0-alpha/testdata"}) {
    for (const auto& c : cases) {
      SCOPED_TRACE(std::string(dir) + "/" + c.golden);
      std::ostringstream err;
      EXPECT_EQ(Iter8ctlArgumentErrors(c.args, err), kExitUsage);
      EXPECT_EQ(err.str(),
                ::iter8::testing::ReadFileOrDie(::iter8::testing::ReferenceDir() / dir / c.golden));
    }
  }
}

TEST(Iter8ctlArgumentsTest, ValidArgumentsGoOnToTheParser) {
  std::ostringstream err;
  EXPECT_EQ(Iter8ctlArgumentErrors({"describe", "-f", "-"}, err), -1);
  EXPECT_EQ(Iter8ctlArgumentErrors({"describe", "--file=x.yaml", "-n", "ns"}, err), -1);
  EXPECT_EQ(Iter8ctlArgumentErrors({"assert", "-c", "completed", "-f", "x"}, err), -1);
  EXPECT_EQ(err.str(), "");
  EXPECT_EQ(Iter8ctlArgumentErrors({"describe"}, err), kExitUsage);
  EXPECT_EQ(err.str().rfind("Missing experiment\nUsage of describe:\n", 0), 0u);
}

TEST(AssertCommandTest, AllConditionsHold) {
  Outcome r =
      Call(RunAssert,
           AssertOptions{"-",
                         "",
                         "",
                         {"completed", "noFailure", "winnerFound", "candidateWon", "winnerIs=v2"},
                         ""},
           kCompletedCanary);
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "All conditions satisfied.\n");
}

TEST(AssertCommandTest, NamesTheFailingCondition) {
  std::string running = kCompletedCanary;
  running.replace(running.find("status: \"True\""), 14, "status: \"False\"");
  running.replace(running.find("stage: Completed"), 16, "stage: Running");
  Outcome r =
      Call(RunAssert, AssertOptions{"-", "", "", {"completed", "winnerIs=v1"}, ""}, running);
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_NE(r.err.find("completed: experiment has not completed (stage Running)"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("winnerIs=v1: the winner is v2"), std::string::npos) << r.err;
}

TEST(AssertCommandTest, UnknownConditionIsAUsageError) {
  Outcome r = Call(RunAssert, AssertOptions{"-", "", "", {"happy"}, ""}, kCompletedCanary);
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_NE(r.err.find("unknown condition \"happy\""), std::string::npos);
}

TEST(ValidateCommandTest, ReportsEveryProblemWithLocation) {
  const std::string text = R"(apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: e}
spec:
  target: t
  strategy:
    testingPattern: A/B/n
  duration:
    intervalSeconds: 0
---
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: f}
spec:
  target: t
  strategy: {testingPattern: Canary}
  duration:
    intervalSeconds: 0
---
apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata: {name: m}
spec: {type: Counter}
)";
  Outcome r = Call(RunValidate, ValidateOptions{{"-"}}, text);
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_NE(r.err.find("<stdin>:7:5: /spec/strategy/testingPattern: Unsupported value: \"A/B/n\""),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("<stdin>:18:5: /spec/duration/intervalSeconds: Invalid value: 0: should "
                       "be greater than or equal to 1"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("<stdin>:14:1: /spec/versionInfo: No versionInfo in experiment"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.out.find("Metric m: valid"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 resources checked, 3 problems"), std::string::npos) << r.out;
}

TEST(ValidateCommandTest, ReferenceSamplesAreValid) {
  ITER8_REQUIRE_REFERENCE();
  const auto dir = ::iter8::testing::ReferenceDir() / "iter8";
  Outcome r = Call(
      RunValidate,
      ValidateOptions{{(dir / "iter8/samples/kfserving/quickstart/experiment.yaml").string(),
                       (dir / "iter8/samples/kfserving/quickstart/metrics.yaml").string(),
                       (dir / "iter8-kfserving/samples/quickstart/experiment.yaml").string()}});
  EXPECT_EQ(r.code, kExitOk) << r.err << r.out;
  EXPECT_NE(r.out.find("skipped Namespace (v1 is not an iter8 API)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("8 resources checked, 0 problems"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace iter8::cli

namespace iter8::cli {
namespace {

TEST(MetricGetCommandTest, MockMetricValue) {
  const std::string metric =
      "apiVersion: iter8.tools/v2alpha2\nkind: Metric\nmetadata: {name: m}\n"
      "spec:\n  type: Counter\n  mock: [{name: v1, level: \"2.5\"}]\n";
  MetricGetOptions o;
  o.file = "-";
  o.version = "v1";
  o.elapsed_seconds = 10;
  Outcome r = Call(RunMetricGet, o, metric);
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("value: 25\n"), std::string::npos) << r.out;
  o.version = "v9";
  Outcome missing = Call(RunMetricGet, o, metric);
  EXPECT_EQ(missing.code, kExitFailure);
  EXPECT_NE(missing.out.find("unavailable: mock metric m has no level for version v9"),
            std::string::npos)
      << missing.out;
}

TEST(MetricGetCommandTest, HttpMetricShowsRequestResponseAndValue) {
  httplib::Server server;
  server.Get("/api/v1/query", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(R"({"status":"success","data":{"result":[{"value":[1,")" +
                        std::to_string(req.get_param_value("query").size()) + R"("]}]}})",
                    "application/json");
  });
  int port = server.bind_to_any_port("127.0.0.1");
  std::thread t([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const std::string metric =
      "apiVersion: iter8.tools/v2alpha2\nkind: Metric\nmetadata: {name: m}\nspec:\n"
      "  urlTemplate: http://127.0.0.1:" +
      std::to_string(port) +
      "/api/v1/query\n"
      "  jqExpression: .data.result[0].value[1] | tonumber\n"
      "  params: [{name: query, value: \"x{rev='$revision'}[${elapsedTime}s]\"}]\n";
  MetricGetOptions o;
  o.file = "-";
  o.version = "v1";
  o.vars = {"revision=r-1"};
  o.elapsed_seconds = 30;
  o.verbose = true;
  Outcome r = Call(RunMetricGet, o, metric);
  server.stop();
  t.join();
  EXPECT_EQ(r.code, kExitOk) << r.err << r.out;
  // x{rev='r-1'}[30s] is 17 characters: the server saw the rendered query.
  EXPECT_NE(r.out.find("request: GET http://127.0.0.1:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("response: {\"status\":\"success\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("value: 17\n"), std::string::npos) << r.out;
}

// spec.counters: one reading now differenced against one at --start (a stand-in Prometheus that
// answers instant vectors by time: 100 requests and 1 error at the start, 160 and 4 now).
TEST(MetricGetCommandTest, CounterMetricCountsSinceTheStart) {
  httplib::Server server;
  const int64_t start = 1700000000;
  server.Get("/api/v1/query", [&](const httplib::Request& req, httplib::Response& res) {
    const bool at_start = req.get_param_value("time") == std::to_string(start);
    const bool errors = req.get_param_value("query").find("5xx") != std::string::npos;
    const int value = errors ? (at_start ? 1 : 4) : (at_start ? 100 : 160);
    res.set_content(
        R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1,")" +
            std::to_string(value) + R"("]}]}})",
        "application/json");
  });
  int port = server.bind_to_any_port("127.0.0.1");
  std::thread t([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const std::string metric =
      "apiVersion: iter8.tools/v2alpha2\nkind: Metric\nmetadata: {name: error-rate}\nspec:\n"
      "  counters:\n    url: http://127.0.0.1:" +
      std::to_string(port) +
      "\n    lagSeconds: 0\n    total: n{rev='$revision'}\n"
      "    events: n{rev='$revision',code='5xx'}\n";
  MetricGetOptions o;
  o.file = "-";
  o.version = "v1";
  o.vars = {"revision=r-1"};
  o.start = api::FormatRfc3339(absl::FromUnixSeconds(start));
  Outcome r = Call(RunMetricGet, o, metric);
  EXPECT_EQ(r.code, kExitOk) << r.err << r.out;
  EXPECT_NE(r.out.find("request: total: n{rev='r-1'}; events: n{rev='r-1',code='5xx'} at "),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("value: 0.05\nsample size: 60\n"), std::string::npos) << r.out;
  // As a count the same reading is the 3 errors; a bad --method is refused.
  o.method = "count";
  r = Call(RunMetricGet, o, metric);
  EXPECT_NE(r.out.find("value: 3\n"), std::string::npos) << r.out;
  o.method = "median";
  EXPECT_EQ(Call(RunMetricGet, o, metric).code, kExitUsage);
  server.stop();
  t.join();
  // A problem in spec.counters is named by its pointer.
  o.method.clear();
  Outcome bad = Call(RunMetricGet, o,
                     "apiVersion: iter8.tools/v2alpha2\nkind: Metric\nmetadata: {name: m}\n"
                     "spec:\n  counters: {url: http://p:9090}\n");
  EXPECT_EQ(bad.code, kExitFailure);
  EXPECT_NE(bad.err.find("/spec/counters/total: Required value"), std::string::npos) << bad.err;
}

TEST(MetricGetCommandTest, BadFlags) {
  MetricGetOptions o;
  o.file = "-";
  o.version = "v1";
  o.vars = {"novalue"};
  EXPECT_EQ(Call(RunMetricGet, o, "").code, kExitUsage);
  o.vars.clear();
  o.start = "yesterday";
  Outcome r = Call(RunMetricGet, o,
                   "apiVersion: iter8.tools/v2alpha2\nkind: Metric\nmetadata: {name: m}\n");
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_NE(r.err.find("--start"), std::string::npos);
}

}  // namespace
}  // namespace iter8::cli
