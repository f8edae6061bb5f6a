// `iter8 quickstart` with the real binary: two sample model servers, the proxy, the load
// generator and the canary experiment on loopback, shortened to 4 one-second iterations. A good
// canary is promoted and takes all traffic; a canary that fails requests or is slow is not, and
// traffic returns to the default model. Also `iter8 model-server`, `iter8 proxy` and `iter8 load`
// as separate processes.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "test/testing/cli.h"
#include "test/testing/process.h"
#include "test/testing/raw_http.h"
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

// Hostile input at scale against the real `iter8 proxy` process: 10,000 clients connect and
// send nothing. The proxy holds them all with bounded memory, keeps serving real requests at
// once, and closes every one of them after timeouts.header; then it serves as before.
TEST(DataPlaneCommandsTest, TenThousandIdleConnections) {
  constexpr int kIdle = 10000;
  rlimit files{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &files), 0);
  files.rlim_cur = files.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &files), 0);
  ASSERT_GE(files.rlim_max, static_cast<rlim_t>(kIdle + 512))
      << "this test needs an open-files limit (ulimit -Hn) above " << kIdle + 512;
  testing::TempDir dir;
  const int m1 = testing::FreePort(), px = testing::FreePort(), admin = testing::FreePort();
  testing::ChildProcess server(
      {ITER8_BIN, "model-server", "--listen", "127.0.0.1:" + std::to_string(m1)},
      (dir.path() / "m1.log").string());
  {
    std::ofstream route(dir.path() / "route.yaml");
    route << "apiVersion: iter8.tools/v1alpha1\nkind: Route\nmetadata: {name: iris}\nspec:\n"
          << "  listen: 127.0.0.1:" << px << "\n  admin: 127.0.0.1:" << admin
          << "\n  timeouts: {header: 4s, idle: 4s}\n  versions:\n"
          << "  - {name: default, backend: \"http://127.0.0.1:" << m1 << "\"}\n";
  }
  testing::ChildProcess proxy(
      {ITER8_BIN, "proxy", "-f", (dir.path() / "route.yaml").string(), "--workers", "2"},
      (dir.path() / "proxy.log").string());
  ASSERT_TRUE(testing::WaitForPort(px)) << testing::ReadFileOrDie(dir.path() / "proxy.log");
  ASSERT_TRUE(testing::WaitForPort(m1));
  auto rss_kib = [&] {
    std::ifstream status("/proc/" + std::to_string(proxy.pid()) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1L;
  };
  auto connections = [&]() -> long {  // the admin API's count of open client connections
    testing::RawConnection c(admin);
    if (!c.Send("GET /stats HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")) return -1;
    std::string reply = c.Read(std::chrono::milliseconds(3000));
    auto body = reply.find("\r\n\r\n");
    if (body == std::string::npos) return -1;
    auto j = nlohmann::json::parse(reply.substr(body + 4), nullptr, false);
    return j.is_object() ? j.value("connections", -1L) : -1;
  };
  const long before = rss_kib();
  std::vector<int> idle;
  for (int i = 0; i < kIdle; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(px));
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << i;
    idle.push_back(fd);
  }
  long held = 0;
  for (int i = 0; i < 200 && held < kIdle; ++i) {
    held = connections();
    if (held < kIdle) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(held, kIdle);  // every idle client is held
  const long after = rss_kib();
  // Bounded memory: measured 12.5 KiB per idle connection in a release build; the bound leaves
  // room for the sanitizer build's redzones.
  EXPECT_LT(after - before, 64L * kIdle) << before << " KiB -> " << after << " KiB";
  // Real requests are served at once while they wait.
  Result r = Iter8("load http://127.0.0.1:" + std::to_string(px) +
                       "/v1/models/iris:predict -d '{\"instances\": [[5.1, 3.5, 1.4, 0.2]]}' "
                       "-n 50 -c 2 -o json",
                   dir.path());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("\"200\": 50"), std::string::npos) << r.output;
  // After timeouts.header every idle client sees its connection closed, with no answer.
  size_t closed = 0, answered = 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int fd : idle) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<long>(left.count(), 0))) == 1) {
      char c;
      ssize_t n = ::recv(fd, &c, 1, 0);
      if (n == 0) ++closed;
      if (n > 0) ++answered;
    }
    ::close(fd);
  }
  EXPECT_EQ(closed, static_cast<size_t>(kIdle));
  EXPECT_EQ(answered, 0u);
  EXPECT_EQ(connections(), 0);  // admin requests are not client connections
  EXPECT_TRUE(proxy.Running());
  Result again = Iter8("load http://127.0.0.1:" + std::to_string(px) +
                           "/v1/models/iris:predict -d '{\"instances\": [[5.1, 3.5, 1.4, 0.2]]}' "
                           "-n 10 -o json",
                       dir.path());
  EXPECT_NE(again.output.find("\"200\": 10"), std::string::npos) << again.output;
}

}  // namespace
}  // namespace iter8
