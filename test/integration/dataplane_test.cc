// Local mode's data plane end to end on loopback: the load generator sends through the proxy to
// two sample model servers while the split changes (90/10, 50/50, 0/100) with zero failed
// requests; the proxy's counts equal what the load generator sent; its /metrics text passes
// `promtool check metrics`; and a real Prometheus (Debian package) scraping it answers
// Knative-style PromQL with the same counts.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "api/document.h"
#include "api/load.h"
#include "api/validate.h"
#include "httplib.h"
#include "loadgen/loadgen.h"
#include "metrics/http_client.h"
#include "metrics/http_provider.h"
#include "modelserver/model_server.h"
#include "proxy/proxy.h"
#include "test/testing/process.h"
#include "test/testing/prometheus.h"
#include "test/testing/reference.h"

namespace iter8 {
namespace {

using std::chrono::milliseconds;

class DataPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* model : {"iris-v1", "iris-v2"}) {
      modelserver::ModelServerOptions o;
      o.model = *modelserver::LoadModel(model);
      o.threads = 2;
      servers_.push_back(std::make_unique<modelserver::ModelServer>(o));
      ASSERT_TRUE(servers_.back()->Start({"127.0.0.1", 0}).ok());
    }
    auto docs = api::ParseDocuments(
        "apiVersion: iter8.tools/v1alpha1\nkind: Route\nmetadata: {name: iris, namespace: models}\n"
        "spec:\n  listen: 127.0.0.1:0\n  admin: 127.0.0.1:0\n  versions:\n"
        "  - {name: default, backend: \"http://" +
            servers_[0]->Address().String() +
            "\", weight: 90}\n"
            "  - {name: canary, backend: \"http://" +
            servers_[1]->Address().String() + "\", weight: 10}\n",
        "route.yaml");
    ASSERT_TRUE(docs.ok());
    auto route = proxy::ParseRoute(docs->front().json);
    ASSERT_TRUE(route.ok()) << route.status();
    proxy_ = std::make_unique<proxy::Proxy>(proxy::ProxyOptions{.workers = 2});
    ASSERT_TRUE(proxy_->Start(*route).ok());
  }

  std::string Admin(const std::string& path) {
    httplib::Client c("127.0.0.1", proxy_->AdminAddress()->port);
    auto r = c.Get(path);
    return r && r->status == 200 ? r->body : "";
  }

  std::vector<std::unique_ptr<modelserver::ModelServer>> servers_;
  std::unique_ptr<proxy::Proxy> proxy_;
};

TEST_F(DataPlaneTest, SplitChangesMidLoadWithoutAFailedRequest) {
  loadgen::LoadOptions lo;
  lo.url = "http://" + proxy_->ListenAddress().String() + "/v1/models/iris:predict";
  lo.method = "POST";
  lo.headers = {{"Content-Type", "application/json"}};
  lo.body = R"({"instances": [[6.8, 2.8, 4.8, 1.4]]})";
  lo.rate = 1000;
  lo.duration = milliseconds(2000);
  lo.connections = 16;
  absl::StatusOr<loadgen::LoadReport> report;
  std::thread load([&] { report = loadgen::RunLoad(lo); });
  const std::vector<std::pair<int, int>> splits = {{50, 50}, {0, 100}, {90, 10}, {0, 100}};
  for (const auto& [a, b] : splits) {
    std::this_thread::sleep_for(milliseconds(400));
    ASSERT_TRUE(proxy_->SetWeights({{"default", a}, {"canary", b}}).ok());
  }
  load.join();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->requests, 2000u);
  EXPECT_EQ(report->errors, 0u) << report->Table();
  const uint64_t d = proxy_->Traffic("default")->Requests();
  const uint64_t c = proxy_->Traffic("canary")->Requests();
  EXPECT_EQ(d + c, report->requests);
  EXPECT_EQ(servers_[0]->Inferences(), d);
  EXPECT_EQ(servers_[1]->Inferences(), c);
  EXPECT_GT(c, d / 2);  // the canary had 100 % for about half of the run

  // After the last change every request goes to the canary.
  httplib::Client client("127.0.0.1", proxy_->ListenAddress().port);
  for (int i = 0; i < 20; ++i) {
    auto r = client.Post("/v1/models/iris:predict", lo.body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(proxy_->Traffic("canary")->Requests(), c + 20);
}

TEST_F(DataPlaneTest, MetricsPassPromtoolAndARealPrometheusReadsThem) {
  loadgen::LoadOptions lo;
  lo.url = "http://" + proxy_->ListenAddress().String() + "/v1/models/iris:predict";
  lo.method = "POST";
  lo.body = R"({"instances": [[5.1, 3.5, 1.4, 0.2]]})";
  lo.count = 300;
  auto sent = loadgen::RunLoad(lo);
  ASSERT_TRUE(sent.ok());
  // 4xx answers, all to the canary: counted as its errors.
  ASSERT_TRUE(proxy_->SetWeights({{"default", 0}, {"canary", 100}}).ok());
  lo.body = "not json";
  lo.count = 10;
  ASSERT_TRUE(loadgen::RunLoad(lo).ok());

  testing::TempDir dir;
  const std::string text = Admin("/metrics");
  ASSERT_FALSE(text.empty());
  {
    std::ofstream out(dir.path() / "metrics.txt");
    out << text;
  }
  const std::string check = "promtool check metrics < " + (dir.path() / "metrics.txt").string() +
                            " > " + (dir.path() / "promtool.log").string() + " 2>&1";
  EXPECT_EQ(std::system(check.c_str()), 0) << testing::ReadFileOrDie(dir.path() / "promtool.log");

  // A real Prometheus scrapes the admin listener.
  testing::RunningPrometheus prometheus = testing::StartPrometheus(
      dir.path(),
      "global:\n  scrape_interval: 1s\nscrape_configs:\n- job_name: iter8-proxy\n"
      "  static_configs:\n  - targets: ['" +
          proxy_->AdminAddress()->String() + "']\n");
  const int port = prometheus.port;
  api::Metric metric;
  metric.metadata.name = "requests";
  metric.spec.jq_expression = ".data.result[0].value[1] | tonumber";
  auto query = [&](const std::string& promql) {
    api::Metric m = metric;
    m.spec.url_template = "http://127.0.0.1:" + std::to_string(port) + "/api/v1/query";
    m.spec.params = {{"query", promql, {}}};
    metrics::HttpProvider provider(metrics::HttpProviderOptions{}, nullptr);
    api::VersionDetail v;
    v.name = "canary";
    return provider.Query(m, v, {absl::Now() - absl::Seconds(60), absl::Now(), false});
  };
  ASSERT_TRUE(prometheus.process) << "prometheus did not start: "
                                  << testing::ReadFileOrDie(dir.path() / "prometheus.log");
  const uint64_t canary = proxy_->Traffic("canary")->Requests();
  const uint64_t canary_errors = proxy_->Traffic("canary")->Errors();
  ASSERT_GT(canary, 10u);
  ASSERT_EQ(canary_errors, 10u);
  metrics::MetricResult got;
  for (int i = 0; i < 100; ++i) {  // until the first scrape lands
    got = query("sum(revision_app_request_latencies_count{revision_name='$name'})");
    if (got.value) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  ASSERT_TRUE(got.value) << got.unavailable;
  EXPECT_EQ(*got.value, static_cast<double>(canary));
  auto errors = query(
      "sum(revision_app_request_latencies_count{revision_name='$name',response_code_class!='2xx'}"
      ")");
  ASSERT_TRUE(errors.value) << errors.unavailable;
  EXPECT_EQ(*errors.value, static_cast<double>(canary_errors));
  auto mean = query(
      "sum(revision_app_request_latencies_sum{revision_name='$name'}) / "
      "sum(revision_app_request_latencies_count{revision_name='$name'})");
  ASSERT_TRUE(mean.value) << mean.unavailable;
  EXPECT_NEAR(*mean.value, proxy_->Traffic("canary")->LatencySumMs() / canary, 1e-6);
  // The buckets are well formed: histogram_quantile over the cumulative counts gives a finite
  // latency within the histogram's range.
  auto p95 = query(
      "histogram_quantile(0.95, sum(revision_app_request_latencies_bucket{revision_name='$name'}) "
      "by (le))");
  ASSERT_TRUE(p95.value) << p95.unavailable;
  EXPECT_GT(*p95.value, 0);
  EXPECT_LE(*p95.value, 100000);
}

}  // namespace
}  // namespace iter8
