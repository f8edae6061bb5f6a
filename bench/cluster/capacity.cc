// Capacity of cluster mode: how many concurrent experiments one `iter8 controller` runs.
//
//   build/release/bench/capacity --iter8 build/release/bin/iter8 --experiments 1000
//       [--interval 10] [--measure 60] [--workers 4] [--qps 20000] [--burst 40000]
//
// The in-tree TEST API server (not Kubernetes) runs in this process; the controller is the real
// binary in its own process, so its CPU time and memory (from /proc) exclude the server's.
// N InferenceServices and N Canary experiments with mock metrics are created (each experiment's
// candidate weight is its InferenceService's canaryTrafficPercent; no start/finish actions, so
// what is measured is the iterations), the controller is started, and once every experiment has
// completed an iteration, a window of --measure seconds is timed:
//   iterations/s done (and expected: N / interval), controller CPU per iteration, resident
//   memory per experiment (above the controller's with no experiments), reconcile latency
//   (mean, and p99 from the controller's own histogram), Kubernetes API requests per iteration.
// Prints one Markdown table row (docs/cluster-mode.md keeps the results).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "k8s/client.h"
#include "k8s/config.h"
#include "test/apiserver/crd.h"
#include "test/apiserver/test_apiserver.h"
#include "test/testing/process.h"

namespace {

using iter8::k8s::Json;

struct Options {
  std::string iter8;
  int experiments = 1000;
  int interval = 10;
  int measure = 60;
  int workers = 4;
  int qps = 20000;
  int burst = 40000;
};

// utime + stime of `pid` in seconds, and its resident set in KiB.
std::pair<double, long> CpuAndRss(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  std::getline(stat, line);
  const size_t close = line.rfind(')');
  std::istringstream rest(line.substr(close + 2));
  std::vector<std::string> f;
  std::string x;
  while (rest >> x) f.push_back(x);
  // Fields after the command: state(0) ... utime(11) stime(12) ... rss(21) in pages.
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double cpu = (std::stod(f[11]) + std::stod(f[12])) / ticks;
  const long rss_kib = std::stol(f[21]) * (sysconf(_SC_PAGESIZE) / 1024);
  return {cpu, rss_kib};
}

std::string Fetch(int port) {
  iter8::testing::TempDir dir;
  const std::string out = (dir.path() / "m").string();
  if (std::system(absl::StrCat("curl -s http://127.0.0.1:", port, "/metrics > ", out).c_str()) !=
      0) {
    return "";
  }
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The value of the sample line that starts with `name` (including labels) in Prometheus text.
double Sample(const std::string& text, const std::string& name) {
  const size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return 0;
  return std::stod(text.substr(at + name.size() + 2));
}

Json Metric(const std::string& name, const std::string& type, const std::string& level) {
  return {{"apiVersion", "iter8.tools/v2alpha2"},
          {"kind", "Metric"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec",
           {{"type", type},
            {"mock", Json::array({{{"name", "default"}, {"level", level}},
                                  {{"name", "canary"}, {"level", level}}})}}}};
}

int64_t TotalIterations(iter8::k8s::Client& client, const iter8::k8s::Resource& r, int* running) {
  absl::StatusOr<std::vector<Json>> all = client.List(r, "default");
  int64_t total = 0;
  *running = 0;
  if (!all.ok()) return -1;
  for (const Json& e : *all) {
    const int64_t n = e.value("status", Json::object()).value("completedIterations", int64_t{0});
    total += n;
    if (n > 0) ++*running;
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--iter8") {
      o.iter8 = value;
    } else if (flag == "--experiments") {
      o.experiments = std::stoi(value);
    } else if (flag == "--interval") {
      o.interval = std::stoi(value);
    } else if (flag == "--measure") {
      o.measure = std::stoi(value);
    } else if (flag == "--workers") {
      o.workers = std::stoi(value);
    } else if (flag == "--qps") {
      o.qps = std::stoi(value);
    } else if (flag == "--burst") {
      o.burst = std::stoi(value);
    } else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (o.iter8.empty()) {
    std::cerr << "usage: capacity --iter8 PATH [--experiments N] [--interval S] [--measure S]\n";
    return 2;
  }
  iter8::testing::TestApiServerOptions so;
  so.history = 50000;
  iter8::testing::TestApiServer server(so);
  if (!server.Start().ok()) return 1;
  iter8::testing::TempDir dir;
  const std::string kubeconfig = (dir.path() / "kubeconfig").string();
  std::ofstream(kubeconfig) << server.Kubeconfig();
  iter8::k8s::ClientOptions co;
  co.qps = 1e6;
  co.burst = 1000000;
  iter8::k8s::Client client(*iter8::k8s::ParseKubeconfig(server.Kubeconfig(), "bench"), co);
  auto crds = *client.Discover("apiextensions.k8s.io/v1", "CustomResourceDefinition");
  for (const Json& crd :
       {iter8::testing::CrdJson("iter8.tools", "experiments", "Experiment", "v2alpha2", true),
        iter8::testing::CrdJson("iter8.tools", "metrics", "Metric", "v2alpha2", false),
        iter8::testing::CrdJson("serving.kserve.io", "inferenceservices", "InferenceService",
                                "v1beta1", true)}) {
    (void)client.Create(crds, "", crd);
  }
  const auto experiments = *client.Discover("iter8.tools/v2alpha2", "Experiment");
  const auto metrics = *client.Discover("iter8.tools/v2alpha2", "Metric");
  const auto isvcs = *client.Discover("serving.kserve.io/v1beta1", "InferenceService");
  for (const Json& m : {Metric("mean-latency", "Gauge", "50"), Metric("error-rate", "Counter", "0"),
                        Metric("request-count", "Counter", "40")}) {
    (void)client.Create(metrics, "default", m);
  }

  // The controller first, empty, for its baseline memory.
  const int metrics_port = iter8::testing::FreePort();
  iter8::testing::ChildProcess controller(
      {o.iter8, "controller", "--kubeconfig", kubeconfig, "--log-format", "text",
       "--metrics-address", absl::StrCat("127.0.0.1:", metrics_port), "--health-address", "0",
       "--webhook-address", "0", "--workers", std::to_string(o.workers), "--qps",
       std::to_string(o.qps), "--burst", std::to_string(o.burst)},
      (dir.path() / "controller.log").string());
  if (!iter8::testing::WaitForPort(metrics_port)) {
    std::cerr << "the controller did not start\n";
    return 1;
  }
  absl::SleepFor(absl::Seconds(1));
  const long rss_empty = CpuAndRss(controller.pid()).second;

  const absl::Time created_from = absl::Now();
  for (int i = 0; i < o.experiments; ++i) {
    const std::string name = absl::StrCat("m-", i);
    Json isvc = {{"apiVersion", "serving.kserve.io/v1beta1"},
                 {"kind", "InferenceService"},
                 {"metadata", {{"name", name}, {"namespace", "default"}}},
                 {"spec", {{"predictor", {{"canaryTrafficPercent", 0}}}}}};
    if (!client.Create(isvcs, "default", isvc).ok()) return 1;
    Json e = {
        {"apiVersion", "iter8.tools/v2alpha2"},
        {"kind", "Experiment"},
        {"metadata", {{"name", absl::StrCat("e-", i)}, {"namespace", "default"}}},
        {"spec",
         {{"target", absl::StrCat("default/", name)},
          {"strategy", {{"testingPattern", "Canary"}, {"deploymentPattern", "Progressive"}}},
          {"criteria",
           {{"requestCount", "request-count"},
            {"objectives", Json::array({{{"metric", "mean-latency"}, {"upperLimit", 1000}},
                                        {{"metric", "error-rate"}, {"upperLimit", "0.01"}}})}}},
          {"duration", {{"intervalSeconds", o.interval}, {"iterationsPerLoop", 100000}}},
          {"versionInfo",
           {{"baseline", {{"name", "default"}}},
            {"candidates",
             Json::array({{{"name", "canary"},
                           {"weightObjRef",
                            {{"apiVersion", "serving.kserve.io/v1beta1"},
                             {"kind", "InferenceService"},
                             {"namespace", "default"},
                             {"name", name},
                             {"fieldPath", ".spec.predictor.canaryTrafficPercent"}}}}})}}}}}};
    if (!client.Create(experiments, "default", e).ok()) return 1;
  }
  const absl::Duration create_time = absl::Now() - created_from;

  // Every experiment under way.
  int running = 0;
  // Polled rarely: listing every experiment is work for the (shared) API server.
  const absl::Time deadline = absl::Now() + absl::Seconds(1800);
  while (absl::Now() < deadline) {
    TotalIterations(client, experiments, &running);
    if (running == o.experiments) break;
    absl::SleepFor(absl::Seconds(std::max(1, o.experiments / 1000)));
  }
  const absl::Duration all_running = absl::Now() - created_from;
  if (running != o.experiments) {
    std::cerr << "only " << running << " of " << o.experiments << " experiments started\n";
    return 1;
  }
  absl::SleepFor(absl::Seconds(o.interval));  // past the start-up burst

  const std::string m0 = Fetch(metrics_port);
  const auto [cpu0, rss0] = CpuAndRss(controller.pid());
  int ignored = 0;
  const int64_t it0 = TotalIterations(client, experiments, &ignored);
  const absl::Time t0 = absl::Now();
  absl::SleepFor(absl::Seconds(o.measure));
  const std::string m1 = Fetch(metrics_port);
  const auto [cpu1, rss1] = CpuAndRss(controller.pid());
  const int64_t it1 = TotalIterations(client, experiments, &ignored);
  const double seconds = absl::ToDoubleSeconds(absl::Now() - t0);

  const double iterations = static_cast<double>(it1 - it0);
  const double count = Sample(m1, "iter8_controller_reconcile_duration_seconds_count") -
                       Sample(m0, "iter8_controller_reconcile_duration_seconds_count");
  const double sum = Sample(m1, "iter8_controller_reconcile_duration_seconds_sum") -
                     Sample(m0, "iter8_controller_reconcile_duration_seconds_sum");
  const double requests = Sample(m1, "iter8_controller_api_requests_total") -
                          Sample(m0, "iter8_controller_api_requests_total");
  // p99 from the cumulative buckets (upper bound of the bucket that holds it).
  std::string p99 = "> 5 s";
  for (const char* le :
       {"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "1", "5"}) {
    const std::string b =
        absl::StrCat("iter8_controller_reconcile_duration_seconds_bucket{le=\"", le, "\"}");
    if (Sample(m1, b) - Sample(m0, b) >= 0.99 * count) {
      p99 = absl::StrCat("<= ", std::stod(le) * 1000, " ms");
      break;
    }
  }
  std::printf(
      "| experiments | interval | created in | all running after | iterations/s (expected) | "
      "CPU per iteration | memory per experiment | reconcile mean | reconcile p99 | "
      "API requests per iteration |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  std::printf(
      "| %d | %d s | %.1f s | %.1f s | %.1f (%.1f) | %.3f ms | %.1f KiB | %.2f ms | %s | %.2f |\n",
      o.experiments, o.interval, absl::ToDoubleSeconds(create_time),
      absl::ToDoubleSeconds(all_running), iterations / seconds,
      static_cast<double>(o.experiments) / o.interval,
      iterations > 0 ? 1000.0 * (cpu1 - cpu0) / iterations : 0.0,
      static_cast<double>(rss1 - rss_empty) / o.experiments, count > 0 ? 1000.0 * sum / count : 0.0,
      p99.c_str(), iterations > 0 ? requests / iterations : 0.0);
  (void)rss0;
  controller.Stop();
  return 0;
}
