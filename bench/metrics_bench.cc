// Metric evaluation cost.
//   BM_RenderAndExtract: one evaluation without the network: render the query (template
//     substitution) and extract the value from a typical Prometheus reply with jq.
//   BM_HttpEvaluation: full evaluations per second one thread sustains against a local HTTP
//     server (cpp-httplib on loopback, keep-alive) answering like Prometheus.
// Run: cmake --preset release && cmake --build --preset release --target metrics_bench &&
//      build/release/bench/metrics_bench
#include <benchmark/benchmark.h>
#include <httplib.h>

#include <thread>

#include "metrics/http_provider.h"
#include "metrics/jq.h"
#include "metrics/template.h"

namespace iter8::metrics {
namespace {

constexpr char kReply[] =
    R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1617108000.123,"228.41904761904762"]}]}})";
constexpr char kQuery[] =
    "(sum(increase(revision_app_request_latencies_sum{revision_name='$revision'}[${elapsedTime}s]))"
    " or on() vector(0)) / (sum(increase(revision_app_request_latencies_count{revision_name="
    "'$revision'}[${elapsedTime}s])) or on() vector(0))";

void BM_RenderAndExtract(benchmark::State& state) {
  api::VersionDetail v;
  v.name = "canary";
  v.variables = {{"revision", "sklearn-iris-predictor-default-00002", {}}};
  const absl::Time start = absl::FromUnixSeconds(1'600'000'000);
  for (auto _ : state) {
    Variables vars = QueryVariables(v, start, start + absl::Seconds(120));
    std::string q = SafeSubstitute(kQuery, vars);
    benchmark::DoNotOptimize(q);
    auto value = JqFirstNumber(kPrometheusJq, kReply);
    benchmark::DoNotOptimize(value);
  }
}
BENCHMARK(BM_RenderAndExtract);

void BM_HttpEvaluation(benchmark::State& state) {
  httplib::Server server;
  server.Get("/api/v1/query", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kReply, "application/json");
  });
  server.set_tcp_nodelay(true);  // cpp-httplib's default (Nagle) stalls small replies ~40 ms
  int port = server.bind_to_any_port("127.0.0.1");
  std::thread t([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  api::Metric m;
  m.metadata.name = "mean-latency";
  m.spec.url_template = "http://127.0.0.1:" + std::to_string(port) + "/api/v1/query";
  m.spec.jq_expression = kPrometheusJq;
  m.spec.params = {{"query", kQuery, {}}};
  api::VersionDetail v;
  v.name = "canary";
  v.variables = {{"revision", "sklearn-iris-predictor-default-00002", {}}};
  const absl::Time start = absl::FromUnixSeconds(1'600'000'000);
  QueryContext ctx{start, start + absl::Seconds(120), false};
  HttpProvider provider(HttpProviderOptions{}, nullptr);
  int64_t failures = 0;
  for (auto _ : state) {
    MetricResult r = provider.Query(m, v, ctx);
    failures += !r.value.has_value();
  }
  state.counters["evaluations/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["failures"] = static_cast<double>(failures);
  server.stop();
  t.join();
}
BENCHMARK(BM_HttpEvaluation)->UseRealTime();

}  // namespace
}  // namespace iter8::metrics

BENCHMARK_MAIN();
