// `iter8 run` end to end: the real binary, a real SQLite file, every local sample to its
// expected outcome, bad input refused before anything starts, and kill -9 in the middle of an
// experiment followed by a restart that completes it with the right iteration count.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "api/document.h"
#include "api/load.h"
#include "store/sqlite_store.h"
#include "test/testing/cli.h"
#include "test/testing/process.h"

namespace iter8 {
namespace {

using api::Json;

const std::string kSamples = std::string(ITER8_SOURCE_DIR) + "/samples/local/";

using Result = testing::CommandResult;

Result Iter8(const std::string& args, const std::filesystem::path& dir) {
  return testing::RunIter8(args, dir);
}

Json Get(const std::string& db, const std::string& kind, const std::string& name) {
  auto s = store::SqliteStore::Open(db);
  EXPECT_TRUE(s.ok());
  auto j = (*s)->Get({kind, "default", name});
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? *j : Json();
}

struct Sample {
  std::string file, experiment, route;
  int exit_code;
  std::string outcome;
  std::vector<int> final_weights;
  int iterations;
  friend void PrintTo(const Sample& s, std::ostream* os) { *os << s.file; }
};

class SampleTest : public ::testing::TestWithParam<Sample> {};

TEST_P(SampleTest, RunsToItsExpectedOutcome) {
  const Sample& s = GetParam();
  testing::TempDir dir;
  const std::string db = (dir.path() / "iter8.db").string();
  Result r =
      Iter8("run --seed 3 -f " + kSamples + "metrics.yaml -f " + kSamples + s.file + " --db " + db,
            dir.path());
  EXPECT_EQ(r.code, s.exit_code) << r.output;
  EXPECT_NE(r.output.find("default/" + s.experiment + ": " + s.outcome), std::string::npos)
      << r.output;
  Json route = Get(db, "Route", s.route);
  for (size_t i = 0; i < s.final_weights.size(); ++i) {
    EXPECT_EQ(route["spec"]["versions"][i]["weight"], s.final_weights[i]) << i;
  }
  Json e = Get(db, "Experiment", s.experiment);
  EXPECT_EQ(e["status"]["completedIterations"], s.iterations);
  Result report = Iter8("report " + s.experiment + " -o json --db " + db, dir.path());
  ASSERT_EQ(report.code, 0) << report.output;
  Json records = Json::parse(report.output);
  EXPECT_EQ(records.size(), static_cast<size_t>(std::max(1, s.iterations)));
}

INSTANTIATE_TEST_SUITE_P(
    Samples, SampleTest,
    ::testing::Values(
        Sample{"canary.yaml", "canary-sample", "canary-route", 0, "promoted", {0, 100}, 5},
        Sample{
            "bluegreen.yaml", "bluegreen-sample", "bluegreen-route", 3, "rolled back", {100, 0}, 0},
        Sample{"ab.yaml", "ab-sample", "ab-route", 0, "promoted", {0, 100}, 4},
        Sample{"abn.yaml", "abn-sample", "abn-route", 0, "promoted", {0, 100, 0}, 4},
        Sample{"fixedsplit.yaml",
               "fixedsplit-sample",
               "fixedsplit-route",
               0,
               "promoted",
               {0, 100},
               3}));

// samples/local/collect.yaml: the metrics/collect start task loads two real model servers
// (separate `iter8 model-server` processes) and the builtin metrics come from what it collected.
class CollectSampleTest : public ::testing::TestWithParam<double> {};

TEST_P(CollectSampleTest, LoadsEachVersionAndDecidesOnWhatItCollected) {
  const double canary_error_rate = GetParam();
  testing::TempDir dir;
  const int ports[2] = {testing::FreePort(), testing::FreePort()};
  const std::string log = (dir.path() / "servers.log").string();
  testing::ChildProcess v1({ITER8_BIN, "model-server", "--listen",
                            "127.0.0.1:" + std::to_string(ports[0]), "--model", "iris-v1"},
                           log);
  testing::ChildProcess v2(
      {ITER8_BIN, "model-server", "--listen", "127.0.0.1:" + std::to_string(ports[1]), "--model",
       "iris-v2", "--error-rate", std::to_string(canary_error_rate), "--seed", "5"},
      log);
  for (int port : ports) ASSERT_TRUE(testing::WaitForPort(port)) << port;
  std::ifstream in(kSamples + "collect.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string sample = ss.str();
  for (auto [from, to] : {std::pair<std::string, std::string>{
                              "127.0.0.1:9001", "127.0.0.1:" + std::to_string(ports[0])},
                          {"127.0.0.1:9002", "127.0.0.1:" + std::to_string(ports[1])},
                          {"time: 5s", "time: 2s"}}) {
    ASSERT_NE(sample.find(from), std::string::npos) << from;
    for (size_t at = sample.find(from); at != std::string::npos; at = sample.find(from, at)) {
      sample.replace(at, from.size(), to);
      at += to.size();
    }
  }
  const std::string file = (dir.path() / "collect.yaml").string();
  std::ofstream(file) << sample;
  const std::string db = (dir.path() / "iter8.db").string();
  Result r = Iter8("run -f " + std::string(ITER8_SOURCE_DIR) +
                       "/samples/quickstart/metrics.yaml -f " + file + " --db " + db,
                   dir.path());
  const bool good = canary_error_rate == 0;
  EXPECT_EQ(r.code, good ? 0 : 3) << r.output;
  EXPECT_NE(r.output.find(good ? "default/collect-sample: promoted"
                               : "default/collect-sample: baseline kept"),
            std::string::npos)
      << r.output;
  Json e = Get(db, "Experiment", "collect-sample");
  const Json& analysis = e["status"]["analysis"];
  // 20 req/s for 2 s to each version, open loop.
  for (const char* v : {"default", "canary"}) {
    EXPECT_NEAR(
        analysis["aggregatedBuiltinHists"]["data"][v]["DurationHistogram"]["Count"].get<double>(),
        40, 2)
        << v;
  }
  const double canary_errors =
      std::stod(analysis["aggregatedMetrics"]["data"]["error-rate"]["data"]["canary"]["value"]
                    .get<std::string>());
  if (good) {
    EXPECT_EQ(canary_errors, 0);
    EXPECT_EQ(e["status"]["versionRecommendedForPromotion"], "canary");
  } else {
    EXPECT_GT(canary_errors, 0.1);
    EXPECT_EQ(e["status"]["versionRecommendedForPromotion"], "default");
  }
}

INSTANTIATE_TEST_SUITE_P(CanaryErrorRate, CollectSampleTest, ::testing::Values(0.0, 0.3));

TEST(RunTest, FixedSplitKeepsTheSplitWhileRunning) {
  testing::TempDir dir;
  const std::string db = (dir.path() / "iter8.db").string();
  ASSERT_EQ(Iter8("run -q --seed 1 -f " + kSamples + "metrics.yaml -f " + kSamples +
                      "fixedsplit.yaml --db " + db,
                  dir.path())
                .code,
            0);
  Result report = Iter8("report fixedsplit-sample -o json --db " + db, dir.path());
  for (const Json& r : Json::parse(report.output)) {
    EXPECT_EQ(r["weightsAfter"]["default"], 80);
    EXPECT_EQ(r["weightsAfter"]["canary"], 20);
    EXPECT_EQ(r["decision"], "keep split");
  }
}

TEST(RunTest, MalformedExperimentStartsNothing) {
  testing::TempDir dir;
  const std::string db = (dir.path() / "iter8.db").string();
  const std::string bad = (dir.path() / "bad.yaml").string();
  std::ofstream(bad) << "apiVersion: iter8.tools/v2alpha2\nkind: Experiment\n"
                        "metadata: {name: e}\nspec:\n  target: t\n  strategy: {testingPattern: "
                        "Canary}\n  duration: {intervalSeconds: 0}\n";
  Result r = Iter8("run -f " + kSamples + "canary.yaml -f " + bad + " --db " + db, dir.path());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("bad.yaml:7:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("/spec/duration/intervalSeconds"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nothing was started"), std::string::npos) << r.output;
  Result list = Iter8("get experiments --db " + db, dir.path());
  EXPECT_EQ(list.code, 0);
  EXPECT_EQ(list.output.find("canary-sample"), std::string::npos) << list.output;
}

TEST(RunTest, KillNineThenRunAgainCompletesWithTheRightIterationCount) {
  testing::TempDir dir;
  const std::string db = (dir.path() / "iter8.db").string();
  const std::string files = "-f " + kSamples + "metrics.yaml -f " + kSamples + "canary.yaml";
  {
    testing::ChildProcess run({ITER8_BIN, "run", "--db", db, "-f", kSamples + "metrics.yaml", "-f",
                               kSamples + "canary.yaml"},
                              (dir.path() / "first.log").string());
    ASSERT_TRUE(run.started());
    bool mid = false;
    for (int i = 0; i < 300 && !mid; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      auto s = store::SqliteStore::Open(db);
      if (!s.ok()) continue;
      auto e = (*s)->Get({"Experiment", "default", "canary-sample"});
      mid = e.ok() && e->value("status", Json::object()).value("completedIterations", 0) >= 2;
    }
    ASSERT_TRUE(mid);
    run.Kill();
  }
  Json e = Get(db, "Experiment", "canary-sample");
  EXPECT_LT(e["status"].value("completedIterations", 0), 5);
  Result r = Iter8("run " + files + " --db " + db, dir.path());
  EXPECT_EQ(r.code, 0) << r.output;
  e = Get(db, "Experiment", "canary-sample");
  EXPECT_EQ(e["status"]["completedIterations"], 5);
  Result report = Iter8("report canary-sample -o json --db " + db, dir.path());
  Json records = Json::parse(report.output);
  ASSERT_EQ(records.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(records[i]["iteration"], i + 1);
  Json route = Get(db, "Route", "canary-route");
  EXPECT_EQ(route["spec"]["versions"][1]["weight"], 100);
}

// Interrupted with Ctrl-C (true) or kill -9 (false).
class InterruptTest : public ::testing::TestWithParam<bool> {};

TEST_P(InterruptTest, RunningActionsDieWithIter8AndRunAgainNextTime) {
  testing::TempDir dir;
  const std::string db = (dir.path() / "iter8.db").string();
  const std::string pidfile = (dir.path() / "action.pid").string();
  std::ifstream in(kSamples + "canary.yaml");
  std::stringstream yaml;
  yaml << in.rdbuf();
  std::string text = yaml.str();
  const std::string anchor = "    actions:\n";
  text.insert(text.find(anchor) + anchor.size(),
              "      start:\n      - task: common/bash\n        with:\n          script: "
              "\"if [ ! -f " +
                  pidfile + " ]; then echo $$ > " + pidfile + "; exec sleep 60; fi\"\n");
  const std::string exp = (dir.path() / "exp.yaml").string();
  std::ofstream(exp) << text;
  testing::ChildProcess run(
      {ITER8_BIN, "run", "--db", db, "-f", kSamples + "metrics.yaml", "-f", exp},
      (dir.path() / "run.log").string());
  ASSERT_TRUE(run.started());
  pid_t action = 0;
  for (int i = 0; i < 200 && action == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream p(pidfile);
    p >> action;
  }
  ASSERT_GT(action, 0) << "the start action never ran";
  ASSERT_EQ(::kill(action, 0), 0);
  const auto before = std::chrono::steady_clock::now();
  if (GetParam()) {
    run.Signal(SIGINT);
    EXPECT_EQ(run.WaitForExit(std::chrono::milliseconds(10000)), 130);
    EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(5));
    EXPECT_NE(::kill(action, 0), 0) << "the action's process outlived iter8";
  } else {
    run.Kill();  // kill -9: no clean-up in iter8; the kernel kills the action (PDEATHSIG)
    bool gone = false;
    for (int i = 0; i < 100 && !gone; ++i) {
      gone = ::kill(action, 0) != 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(gone) << "the action's process outlived iter8";
  }
  Json handler = Get(db, "Handler", "canary-sample-start");
  EXPECT_EQ(handler["status"]["state"], "Running");
  // The next `iter8 run` runs the interrupted action again (this time it returns at once) and
  // the experiment goes on to the end.
  Result again =
      Iter8("run -q --db " + db + " -f " + kSamples + "metrics.yaml -f " + exp, dir.path());
  EXPECT_EQ(again.code, 0) << again.output;
  EXPECT_EQ(Get(db, "Handler", "canary-sample-start")["status"]["state"], "Complete");
  EXPECT_EQ(Get(db, "Experiment", "canary-sample")["status"]["completedIterations"], 5);
}

INSTANTIATE_TEST_SUITE_P(CtrlCAndKill9, InterruptTest, ::testing::Bool());

// Verbs given from another process reach a running `iter8 run` through the store.
TEST(RunTest, PauseResumeAndApproveFromAnotherProcess) {
  testing::TempDir dir;
  const std::string db = (dir.path() / "iter8.db").string();
  std::ifstream in(kSamples + "canary.yaml");
  std::stringstream yaml;
  yaml << in.rdbuf();
  std::string text = yaml.str();
  const std::string anchor = "    deploymentPattern: Progressive\n";
  text.insert(text.find(anchor) + anchor.size(), "    requireApproval: true\n");
  const std::string exp = (dir.path() / "exp.yaml").string();
  std::ofstream(exp) << text;
  testing::ChildProcess run(
      {ITER8_BIN, "run", "--db", db, "-f", kSamples + "metrics.yaml", "-f", exp},
      (dir.path() / "run.log").string());
  auto iterations = [&] {
    auto s = store::SqliteStore::Open(db);
    if (!s.ok()) return -1;
    auto e = (*s)->Get({"Experiment", "default", "canary-sample"});
    return e.ok() ? e->value("status", Json::object()).value("completedIterations", 0) : -1;
  };
  auto message = [&] {
    auto s = store::SqliteStore::Open(db);
    auto e = (*s)->Get({"Experiment", "default", "canary-sample"});
    return e.ok() ? e->value("status", Json::object()).value("message", std::string()) : "";
  };
  auto wait = [](const std::function<bool()>& done) {
    for (int i = 0; i < 400; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  ASSERT_TRUE(wait([&] { return iterations() >= 1; }));
  ASSERT_EQ(Iter8("pause canary-sample --db " + db, dir.path()).code, 0);
  ASSERT_TRUE(wait([&] { return message().rfind("ExperimentPaused", 0) == 0; }));
  const int paused_at = iterations();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // > 2 intervals
  EXPECT_EQ(iterations(), paused_at) << "iterated while paused";
  ASSERT_EQ(Iter8("resume canary-sample --db " + db, dir.path()).code, 0);
  ASSERT_TRUE(wait([&] { return message().rfind("AwaitingApproval", 0) == 0; })) << message();
  EXPECT_TRUE(run.Running());  // waits for approval
  ASSERT_EQ(Iter8("approve canary-sample --db " + db, dir.path()).code, 0);
  EXPECT_EQ(run.WaitForExit(std::chrono::milliseconds(20000)), 0);
  Json e = Get(db, "Experiment", "canary-sample");
  EXPECT_EQ(e["status"]["completedIterations"], 5);
  EXPECT_GE(e["status"]["pausedSeconds"].get<int>(), 2);
  EXPECT_EQ(Get(db, "Route", "canary-route")["spec"]["versions"][1]["weight"], 100);
}

TEST(RunTest, OperatorVerbsAndDescribeByName) {
  testing::TempDir dir;
  const std::string db = (dir.path() / "iter8.db").string();
  ASSERT_EQ(
      Iter8("run -q -f " + kSamples + "metrics.yaml -f " + kSamples + "canary.yaml --db " + db,
            dir.path())
          .code,
      0);
  Result d = Iter8("describe canary-sample --db " + db, dir.path());
  EXPECT_EQ(d.code, 0);
  EXPECT_NE(d.output.find("Version recommended for promotion: canary"), std::string::npos)
      << d.output;
  Result missing = Iter8("pause nope --db " + db, dir.path());
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.output.find("experiment \"default/nope\" not found"), std::string::npos);
  // retry: the completed experiment runs again from the start.
  Result retry = Iter8("retry canary-sample --db " + db, dir.path());
  EXPECT_EQ(retry.code, 0) << retry.output;
  Result again =
      Iter8("run -q -f " + kSamples + "metrics.yaml -f " + kSamples + "canary.yaml --db " + db,
            dir.path());
  EXPECT_EQ(again.code, 0) << again.output;
  Json e = Get(db, "Experiment", "canary-sample");
  EXPECT_EQ(e["status"]["completedIterations"], 5);
  EXPECT_TRUE(e["status"].contains("retry"));
}

}  // namespace
}  // namespace iter8
