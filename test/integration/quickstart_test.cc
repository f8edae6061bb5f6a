// `iter8 quickstart` with the real binary: two sample model servers, the proxy, the load
// generator and the canary experiment on loopback, shortened to 4 one-second iterations. A good
// canary is promoted and takes all traffic; a canary that fails requests or is slow is not, and
// traffic returns to the default model. Also `iter8 model-server`, `iter8 proxy` and `iter8 load`
// as separate processes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "test/testing/cli.h"
#include "test/testing/process.h"
#include "test/testing/reference.h"

namespace iter8 {
namespace {

using Result = testing::CommandResult;

Result Iter8(const std::string& args, const std::filesystem::path& dir) {
  return testing::RunIter8(args, dir);
}

// The weights on the `kubectl get isvc`-like line: PREV (default) and LATEST (canary).
std::pair<int, int> FinalSplit(const std::string& output) {
  std::smatch m;
  static const std::regex kLine(R"(\niris +http://127\.0\.0\.1:\d+ +True +(\d+) +(\d+) )");
  if (!std::regex_search(output, m, kLine)) return {-1, -1};
  return {std::stoi(m[1]), std::stoi(m[2])};
}

constexpr char kShort[] = "quickstart --interval 1 --iterations 4 --seed 5 ";

TEST(QuickstartTest, GoodCanaryIsPromoted) {
  testing::TempDir dir;
  Result r = Iter8(kShort, dir.path());
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("default/quickstart: promoted (recommended version: canary"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(FinalSplit(r.output), std::make_pair(0, 100)) << r.output;
  EXPECT_NE(r.output.find("Winning version: canary"), std::string::npos);  // describe report
  EXPECT_NE(r.output.find("errors       0 (0.00 %)"), std::string::npos);  // load report
}

TEST(QuickstartTest, CanaryWithErrorsKeepsTheDefault) {
  testing::TempDir dir;
  Result r = Iter8(std::string(kShort) + "--canary-error-rate 0.5", dir.path());
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find("default/quickstart: baseline kept"), std::string::npos) << r.output;
  EXPECT_EQ(FinalSplit(r.output), std::make_pair(100, 0)) << r.output;
}

TEST(QuickstartTest, SlowCanaryKeepsTheDefault) {
  testing::TempDir dir;
  Result r = Iter8(std::string(kShort) + "--canary-latency-ms 1200", dir.path());
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find("| mean-latency <= 1000.000 | true    | false  |"), std::string::npos)
      << r.output;
  EXPECT_EQ(FinalSplit(r.output), std::make_pair(100, 0)) << r.output;
}

TEST(QuickstartTest, KeepsTheExperimentInANamedStore) {
  testing::TempDir dir;
  const std::string db = (dir.path() / "qs.db").string();
  Result r = Iter8(std::string(kShort) + "-q --db " + db, dir.path());
  EXPECT_EQ(r.code, 0) << r.output;
  Result report = Iter8("report quickstart --db " + db, dir.path());
  EXPECT_EQ(report.code, 0) << report.output;
  EXPECT_NE(report.output.find("shift traffic"), std::string::npos) << report.output;

  // Replaying the records with the engine that made them reproduces its winners; the
  // sequential engine, on 4 seconds of traffic, certifies nothing and says so.
  Result classic = Iter8("replay quickstart --engine classic -o json --db " + db, dir.path());
  ASSERT_EQ(classic.code, 0) << classic.output;
  const nlohmann::json rows = nlohmann::json::parse(classic.output);
  ASSERT_EQ(rows.size(), 4u) << classic.output;
  for (const nlohmann::json& row : rows) {
    EXPECT_EQ(row["recorded"]["winner"], row["replayed"]["winner"]) << row.dump();
  }
  classic = Iter8("replay quickstart --engine classic --db " + db, dir.path());
  EXPECT_NE(classic.output.find("recorded outcome: promoted after 4 iterations"), std::string::npos)
      << classic.output;
  EXPECT_NE(classic.output.find("classic would have decided at iteration 4: promote canary"),
            std::string::npos)
      << classic.output;
  Result sequential = Iter8("replay quickstart --db " + db, dir.path());
  EXPECT_EQ(sequential.code, 0) << sequential.output;
  EXPECT_NE(sequential.output.find("sequential: continue; undecided: canary"), std::string::npos)
      << sequential.output;
  EXPECT_NE(sequential.output.find("sequential would not have decided: inconclusive"),
            std::string::npos)
      << sequential.output;
  Result missing = Iter8("replay nosuch --db " + db, dir.path());
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.output.find("experiment \"default/nosuch\" not found"), std::string::npos)
      << missing.output;
}

// The sequential engine ends the experiment as soon as the outcome is certified: a good canary
// is promoted before the last iteration, a failing one rolled back within a few.
constexpr char kSequential[] =
    "quickstart --engine sequential --interval 1 --iterations 40 --rate 400 --seed 5 ";

TEST(QuickstartTest, SequentialEnginePromotesAGoodCanaryEarly) {
  testing::TempDir dir;
  Result r = Iter8(kSequential, dir.path());
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("certified: canary satisfies all objectives"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("default/quickstart: promoted (recommended version: canary"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("Completed 40/40"), std::string::npos) << r.output;
  EXPECT_EQ(FinalSplit(r.output), std::make_pair(0, 100)) << r.output;
}

TEST(QuickstartTest, SequentialEngineRollsBackAFailingCanaryEarly) {
  testing::TempDir dir;
  Result r = Iter8(std::string(kSequential) + "--canary-error-rate 0.2", dir.path());
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find("certified: canary violates error-rate"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("default/quickstart: rolled back"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Completed 40/40"), std::string::npos) << r.output;
  EXPECT_EQ(FinalSplit(r.output), std::make_pair(100, 0)) << r.output;
}

TEST(QuickstartTest, BadFlagsAreRefused) {
  testing::TempDir dir;
  Result r = Iter8("quickstart --engine bayesian", dir.path());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("/spec/criteria/strength/engine"), std::string::npos) << r.output;
  r = Iter8("quickstart --canary-error-rate 2", dir.path());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--canary-error-rate"), std::string::npos) << r.output;
}

// The data plane as separate processes, as a user would start them by hand.
TEST(DataPlaneCommandsTest, ModelServerProxyAndLoad) {
  testing::TempDir dir;
  const int m1 = testing::FreePort(), m2 = testing::FreePort(), px = testing::FreePort();
  testing::ChildProcess s1(
      {ITER8_BIN, "model-server", "--listen", "127.0.0.1:" + std::to_string(m1)},
      (dir.path() / "m1.log").string());
  testing::ChildProcess s2(
      {ITER8_BIN, "model-server", "--listen", "127.0.0.1:" + std::to_string(m2), "--model",
       "iris-v2", "--error-rate", "1"},
      (dir.path() / "m2.log").string());
  {
    std::ofstream route(dir.path() / "route.yaml");
    route << "apiVersion: iter8.tools/v1alpha1\nkind: Route\nmetadata: {name: iris}\nspec:\n"
          << "  listen: 127.0.0.1:" << px << "\n  versions:\n"
          << "  - {name: default, backend: \"http://127.0.0.1:" << m1 << "\", weight: 3}\n"
          << "  - {name: canary, backend: \"http://127.0.0.1:" << m2 << "\", weight: 1}\n";
  }
  testing::ChildProcess proxy({ITER8_BIN, "proxy", "-f", (dir.path() / "route.yaml").string()},
                              (dir.path() / "proxy.log").string());
  // Wait until all three serve.
  for (int i = 0; i < 100; ++i) {
    const std::string logs = testing::ReadFileOrDie(dir.path() / "proxy.log") +
                             testing::ReadFileOrDie(dir.path() / "m1.log") +
                             testing::ReadFileOrDie(dir.path() / "m2.log");
    if (std::count(logs.begin(), logs.end(), '\n') >= 9) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Result r = Iter8("load http://127.0.0.1:" + std::to_string(px) +
                       "/v1/models/iris:predict -d '{\"instances\": [[5.1, 3.5, 1.4, 0.2]]}' "
                       "-n 400 -c 1 -o json",
                   dir.path());
  ASSERT_EQ(r.code, 0) << r.output << testing::ReadFileOrDie(dir.path() / "proxy.log");
  // One connection, one proxy worker serving it: the 3:1 split is exact.
  EXPECT_NE(r.output.find("\"200\": 300"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"500\": 100"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"errors\": 100"), std::string::npos) << r.output;
  Result bad = Iter8("load http://127.0.0.1:1/ --duration soon", dir.path());
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.output.find("--duration: \"soon\" is not a duration"), std::string::npos)
      << bad.output;
}

}  // namespace
}  // namespace iter8
