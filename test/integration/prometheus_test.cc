// The out-of-the-box KServe/KFServing metrics (deploy/metrics) evaluated through the http
// provider against a real Prometheus (Debian's `prometheus`, started by this test on loopback).
// The test writes Knative-style revision_app_request_latencies series with known rates,
// backfills them with `promtool tsdb create-blocks-from openmetrics`, and checks every metric's
// value against what it computes from the data it wrote.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "api/document.h"
#include "api/load.h"
#include "api/validate.h"
#include "metrics/counters.h"
#include "metrics/evidence.h"
#include "metrics/http_client.h"
#include "metrics/http_provider.h"
#include "metrics/mock_provider.h"
#include "test/testing/process.h"
#include "test/testing/reference.h"

namespace iter8 {
namespace {

namespace fs = std::filesystem;

constexpr double kLe[] = {25, 50, 100, 250};  // finite bucket bounds, then +Inf
constexpr int kStep = 10;                     // seconds between samples
constexpr int kWindow = 120;                  // elapsedTime of the queries

struct Traffic {
  std::string revision, ns;
  double rate_2xx, rate_5xx;       // requests per second
  double mean_ms;                  // mean latency of every request
  std::vector<double> cumulative;  // share of requests <= each finite bound
};

const std::vector<Traffic> kTraffic = {
    {"rev-1", "ns-1", 4.0, 0.1, 50.0, {0.1, 0.5, 0.9, 0.97}},
    {"rev-2", "ns-2", 2.0, 0.0, 40.0, {0.2, 0.6, 0.96, 0.99}},
    {"rev-3", "ns-3", 0.0, 0.0, 0.0, {0, 0, 0, 0}},  // deployed, no traffic
};

// Queries see the kWindow seconds before `end` (elapsedTime = kWindow).
metrics::QueryContext WindowEndingAt(int64_t end) {
  return {absl::FromUnixSeconds(end - kWindow), absl::FromUnixSeconds(end), false};
}

api::VersionDetail Version(const std::string& name, const std::string& var,
                           const std::string& value) {
  api::VersionDetail v;
  v.name = name;
  v.variables = {{var, value, {}}};
  return v;
}

// The p-quantile as Prometheus' histogram_quantile computes it from cumulative bucket shares.
double Quantile(const Traffic& t, double q) {
  double lower = 0, prev = 0;
  for (size_t i = 0; i < t.cumulative.size(); ++i) {
    if (t.cumulative[i] >= q) {
      return lower + (kLe[i] - lower) * (q - prev) / (t.cumulative[i] - prev);
    }
    lower = kLe[i];
    prev = t.cumulative[i];
  }
  return kLe[std::size(kLe) - 1];
}

std::string PodSeries(int64_t from, int64_t to);

// OpenMetrics text for all series from `from` to `to` (seconds), one point every kStep.
std::string OpenMetrics(int64_t from, int64_t to) {
  std::string out = "# TYPE revision_app_request_latencies histogram\n";
  for (const Traffic& t : kTraffic) {
    for (const char* cls : {"2xx", "5xx"}) {
      const double rate = std::string(cls) == "2xx" ? t.rate_2xx : t.rate_5xx;
      const std::string labels = "namespace_name=\"" + t.ns + "\",response_code_class=\"" + cls +
                                 "\",revision_name=\"" + t.revision + "\"";
      for (int64_t ts = from; ts <= to; ts += kStep) {
        const double count = 100 + rate * static_cast<double>(ts - from);
        const std::string at = " " + std::to_string(ts) + "\n";
        for (size_t i = 0; i < std::size(kLe); ++i) {
          char buf[64];
          snprintf(buf, sizeof(buf), "%g", kLe[i]);
          out += "revision_app_request_latencies_bucket{" + labels + ",le=\"" + buf + "\"} " +
                 std::to_string(count * t.cumulative[i]) + at;
        }
        out += "revision_app_request_latencies_bucket{" + labels + ",le=\"+Inf\"} " +
               std::to_string(count) + at;
        out += "revision_app_request_latencies_sum{" + labels + "} " +
               std::to_string(count * t.mean_ms) + at;
        out += "revision_app_request_latencies_count{" + labels + "} " + std::to_string(count) + at;
      }
    }
  }
  return out + PodSeries(from, to) + "# EOF\n";
}

// Two pods of revision rev-4 (statistics.md 3.2's counter reads): pod a serves 3 req/s 2xx and
// 0.5 req/s 5xx from `from` on; pod b serves 2 req/s, starts at 200 and restarts (its counters
// reset to 0) just after from + 300. Every request takes 20 % <= 25 ms, 70 % <= 50 ms, all
// <= 100 ms, 30 ms on average.
constexpr double kPodShares[] = {0.2, 0.7, 1.0, 1.0};
constexpr int64_t kResetAfter = 300;

std::string PodSeries(int64_t from, int64_t to) {
  std::string out;
  struct Pod {
    const char* pod;
    const char* cls;
  };
  for (Pod p : {Pod{"a", "2xx"}, Pod{"a", "5xx"}, Pod{"b", "2xx"}}) {
    const std::string labels = std::string("namespace_name=\"ns-4\",pod=\"") + p.pod +
                               "\",response_code_class=\"" + p.cls + "\",revision_name=\"rev-4\"";
    for (int64_t ts = from; ts <= to; ts += kStep) {
      const double age = static_cast<double>(ts - from);
      double count = std::string(p.pod) == "a" ? (std::string(p.cls) == "2xx" ? 3 : 0.5) * age
                     : ts - from < kResetAfter + kStep ? 200 + 2 * age
                                                       : 2 * (age - kResetAfter);
      const std::string at = " " + std::to_string(ts) + "\n";
      for (size_t i = 0; i < std::size(kLe); ++i) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%g", kLe[i]);
        out += "revision_app_request_latencies_bucket{" + labels + ",le=\"" + buf + "\"} " +
               std::to_string(count * kPodShares[i]) + at;
      }
      out += "revision_app_request_latencies_bucket{" + labels + ",le=\"+Inf\"} " +
             std::to_string(count) + at;
      out +=
          "revision_app_request_latencies_sum{" + labels + "} " + std::to_string(count * 30) + at;
      out += "revision_app_request_latencies_count{" + labels + "} " + std::to_string(count) + at;
    }
  }
  return out;
}

class PrometheusTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    const fs::path data = dir_->path() / "data";
    end_ = (static_cast<int64_t>(std::time(nullptr)) / 3600 - 2) * 3600;  // whole hour, past
    const int64_t start = end_ - 600;
    from_ = start;
    {
      std::ofstream om(dir_->path() / "series.om");
      om << OpenMetrics(start, end_);
    }
    const std::string promtool = "promtool tsdb create-blocks-from openmetrics " +
                                 (dir_->path() / "series.om").string() + " " + data.string() +
                                 " >" + (dir_->path() / "promtool.log").string() + " 2>&1";
    ASSERT_EQ(std::system(promtool.c_str()), 0)
        << "promtool failed (is the Debian package `prometheus` installed?): "
        << testing::ReadFileOrDie(dir_->path() / "promtool.log");
    {
      std::ofstream cfg(dir_->path() / "prometheus.yml");
      cfg << "global:\n  scrape_interval: 1h\n";
    }
    // A port can be taken between choosing and binding it: try a few.
    for (int attempt = 0; attempt < 3 && !ready_; ++attempt) {
      port_ = testing::FreePort();
      prometheus_ = new testing::ChildProcess(
          {"prometheus", "--config.file=" + (dir_->path() / "prometheus.yml").string(),
           "--storage.tsdb.path=" + data.string(), "--storage.tsdb.retention.time=100y",
           "--web.listen-address=127.0.0.1:" + std::to_string(port_)},
          (dir_->path() / "prometheus.log").string());
      ASSERT_TRUE(prometheus_->started()) << "cannot start prometheus";
      metrics::HttpClientOptions o;
      o.timeout = absl::Milliseconds(500);
      metrics::HttpClient client(o);
      for (int i = 0; i < 300 && prometheus_->Running(); ++i) {
        metrics::HttpRequest ready;
        ready.url = Url() + "/-/ready";
        auto r = client.Do(ready);
        if (r.ok() && r->status == 200) {
          ready_ = true;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (!ready_) {
        delete prometheus_;
        prometheus_ = nullptr;
      }
    }
    ASSERT_TRUE(ready_) << "prometheus did not become ready: "
                        << testing::ReadFileOrDie(dir_->path() / "prometheus.log");
  }
  static void TearDownTestSuite() {
    delete prometheus_;
    delete dir_;
  }

  static std::string Url() { return "http://127.0.0.1:" + std::to_string(port_); }

  // The shipped metrics, pointed at this Prometheus and evaluated at the end of the data.
  static std::map<std::string, api::Metric> Load(const std::string& file) {
    const fs::path path = fs::path(ITER8_SOURCE_DIR) / "deploy/metrics" / file;
    auto docs = api::ParseDocuments(testing::ReadFileOrDie(path), path.string());
    EXPECT_TRUE(docs.ok()) << docs.status();
    std::map<std::string, api::Metric> out;
    for (const auto& d : *docs) {
      auto m = api::LoadMetric(d);
      EXPECT_TRUE(m.ok()) << m.status();
      api::ApplyDefaults(&*m);
      m->spec.url_template = Url() + "/api/v1/query";
      m->spec.params.push_back({"time", std::to_string(end_), {}});
      out[m->metadata.name] = *m;
    }
    return out;
  }

  static testing::TempDir* dir_;
  static testing::ChildProcess* prometheus_;
  static int port_;
  static int64_t end_;
  static int64_t from_;  // the first sample
  static bool ready_;
};

testing::TempDir* PrometheusTest::dir_ = nullptr;
testing::ChildProcess* PrometheusTest::prometheus_ = nullptr;
int PrometheusTest::port_ = 0;
int64_t PrometheusTest::end_ = 0;
int64_t PrometheusTest::from_ = 0;
bool PrometheusTest::ready_ = false;

void CheckAll(const std::map<std::string, api::Metric>& metrics, int64_t end, bool by_namespace) {
  metrics::HttpProvider provider(metrics::HttpProviderOptions{}, nullptr);
  const metrics::QueryContext ctx = WindowEndingAt(end);
  ASSERT_EQ(metrics.size(), 5u);
  for (const Traffic& t : kTraffic) {
    const api::VersionDetail v = by_namespace ? Version(t.revision, "ns", t.ns)
                                              : Version(t.revision, "revision", t.revision);
    auto get = [&](const std::string& name) {
      metrics::MetricResult r = provider.Query(metrics.at(name), v, ctx);
      return r;
    };
    SCOPED_TRACE(t.revision);
    const double total = t.rate_2xx + t.rate_5xx;
    auto near = [](double want) { return 1e-6 * std::max(1.0, std::abs(want)); };

    auto count = get("request-count");
    ASSERT_TRUE(count.value) << count.unavailable << "\n" << count.request;
    EXPECT_NEAR(*count.value, total * kWindow, near(total * kWindow));
    auto errors = get("error-count");
    ASSERT_TRUE(errors.value) << errors.unavailable;
    EXPECT_NEAR(*errors.value, t.rate_5xx * kWindow, near(t.rate_5xx * kWindow));

    auto rate = get("error-rate");
    auto mean = get("mean-latency");
    auto p95 = get("95th-percentile-tail-latency");
    if (total == 0) {
      // 0/0: unavailable, never reported as a good value.
      EXPECT_FALSE(rate.value) << *rate.value;
      EXPECT_FALSE(mean.value) << *mean.value;
      EXPECT_FALSE(p95.value) << *p95.value;
      EXPECT_NE(mean.unavailable.find("not a finite number"), std::string::npos)
          << mean.unavailable;
      continue;
    }
    ASSERT_TRUE(rate.value) << rate.unavailable;
    EXPECT_NEAR(*rate.value, t.rate_5xx / total, 1e-9);
    ASSERT_TRUE(mean.value) << mean.unavailable;
    EXPECT_NEAR(*mean.value, t.mean_ms, near(t.mean_ms));
    ASSERT_TRUE(p95.value) << p95.unavailable;
    EXPECT_NEAR(*p95.value, Quantile(t, 0.95), near(Quantile(t, 0.95)));
  }
}

TEST_F(PrometheusTest, RevisionSelectorMetricsMatchTheServedData) {
  CheckAll(Load("kfserving-revision.yaml"), end_, /*by_namespace=*/false);
}

TEST_F(PrometheusTest, NamespaceSelectorMetricsMatchTheServedData) {
  CheckAll(Load("kfserving-namespace.yaml"), end_, /*by_namespace=*/true);
}

TEST_F(PrometheusTest, UnknownRevisionReadsZeroRequestsAndNoRatio) {
  auto metrics = Load("kfserving-revision.yaml");
  metrics::HttpProvider provider(metrics::HttpProviderOptions{}, nullptr);
  const metrics::QueryContext ctx = WindowEndingAt(end_);
  const api::VersionDetail v = Version("ghost", "revision", "does-not-exist");
  EXPECT_EQ(provider.Query(metrics.at("request-count"), v, ctx).value, 0.0);
  EXPECT_FALSE(provider.Query(metrics.at("error-rate"), v, ctx).value);
  // A PromQL syntax error: Prometheus answers 400 with a JSON error.
  api::Metric bad = metrics.at("request-count");
  bad.spec.params[0].value = "sum(";
  auto r = provider.Query(bad, v, ctx);
  EXPECT_FALSE(r.value);
  EXPECT_NE(r.unavailable.find("HTTP 400"), std::string::npos) << r.unavailable;
}

TEST_F(PrometheusTest, BucketCountsForQuantileObjectives) {
  metrics::HttpClient client;
  const Traffic& t = kTraffic[0];
  auto buckets =
      metrics::ReadPrometheusBuckets(client, Url(), "revision_app_request_latencies",
                                     "revision_name='" + t.revision + "'", kWindow, end_);
  ASSERT_TRUE(buckets.ok()) << buckets.status();
  ASSERT_EQ(buckets->upper_bounds.size(), std::size(kLe) + 1);
  const double total = (t.rate_2xx + t.rate_5xx) * kWindow;
  for (size_t i = 0; i < std::size(kLe); ++i) {
    EXPECT_EQ(buckets->upper_bounds[i], kLe[i]);
    EXPECT_NEAR(buckets->counts[i], total * t.cumulative[i], 1e-6 * total);
  }
  EXPECT_TRUE(std::isinf(buckets->upper_bounds.back()));
  EXPECT_NEAR(buckets->counts.back(), total, 1e-6 * total);
  auto none = metrics::ReadPrometheusBuckets(client, Url(), "revision_app_request_latencies",
                                             "revision_name='nope'", kWindow, end_);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound) << none.status();
}

TEST_F(PrometheusTest, ErrorRateComesWithItsRequestCount) {
  auto metrics = Load("kfserving-revision.yaml");
  metrics::HttpProvider provider(metrics::HttpProviderOptions{}, nullptr);
  const metrics::QueryContext ctx = WindowEndingAt(end_);
  const api::VersionDetail v = Version("rev-1", "revision", "rev-1");
  metrics::MetricResult r = metrics::QueryWithSampleSize(provider, metrics.at("error-rate"),
                                                         &metrics.at("request-count"), v, ctx);
  ASSERT_TRUE(r.value) << r.unavailable;
  ASSERT_TRUE(r.sample_size);
  EXPECT_NEAR(*r.sample_size, 4.1 * kWindow, 1e-6 * 4.1 * kWindow);
}

// Raw counter reads (spec.counters): iteration by iteration, differenced per pod with the reset
// of pod b handled, the counts are exactly what was served since the experiment's start, and the
// state survives a JSON round trip and a failed read.
TEST_F(PrometheusTest, CounterReadsCountExactlyAcrossPodsAndAReset) {
  auto docs = api::ParseDocuments(
      "apiVersion: iter8.tools/v2alpha2\nkind: Metric\n"
      "metadata: {name: error-rate, namespace: ns}\nspec:\n"
      "  counters:\n    url: " +
          Url() +
          "\n    lagSeconds: 0\n"
          "    total: revision_app_request_latencies_count{"
          "revision_name='$revision'}\n"
          "    events: revision_app_request_latencies_count{"
          "revision_name='$revision',response_code_class='5xx'}\n"
          "    sum: revision_app_request_latencies_sum{"
          "revision_name='$revision'}\n"
          "    buckets: revision_app_request_latencies_bucket{"
          "revision_name='$revision'}\n",
      "m.yaml");
  ASSERT_TRUE(docs.ok()) << docs.status();
  auto metric = api::LoadMetric(docs->front());
  ASSERT_TRUE(metric.ok()) << metric.status();
  std::vector<api::FieldError> errors;
  auto queries = api::ParseCounterQueries(*metric, &errors);
  ASSERT_TRUE(queries) << errors.front().message;
  const api::VersionDetail v = Version("canary", "revision", "rev-4");
  metrics::HttpClient client{metrics::HttpClientOptions{}};
  const int64_t start = from_ + 60;
  auto context = [&](int64_t now) -> metrics::QueryContext {
    return {absl::FromUnixSeconds(start), absl::FromUnixSeconds(now), false};
  };
  const api::TestMethod rate{api::TestMethod::kRate, 0};
  const api::TestMethod mean{api::TestMethod::kMean, 0};
  const api::TestMethod p95{api::TestMethod::kQuantile, 0.95};

  // At the start there is nothing to count yet: zero observations, not a failure.
  metrics::CounterRead first =
      metrics::ReadCounters(client, *queries, rate, v, context(start), api::Json());
  EXPECT_FALSE(first.result.value);
  EXPECT_EQ(first.result.sample_size, 0);

  api::Json state;
  for (int64_t now = start + 60; now <= from_ + 540; now += 60) {
    SCOPED_TRACE(now - from_);
    metrics::CounterRead r = metrics::ReadCounters(client, *queries, rate, v, context(now), state);
    ASSERT_TRUE(r.result.value) << r.result.unavailable << "\n" << r.result.request;
    const double served = 5.5 * static_cast<double>(now - start);
    EXPECT_NEAR(*r.result.sample_size, served, 1e-6);
    EXPECT_NEAR(*r.result.value, 0.5 / 5.5, 1e-9);
    ASSERT_TRUE(r.result.buckets);
    EXPECT_NEAR(r.result.buckets->counts[0], 0.2 * served, 1e-6);  // le 25
    EXPECT_NEAR(r.result.buckets->counts.back(), served, 1e-6);    // +Inf
    // The same totals answer a mean and a quantile objective.
    metrics::CounterRead m = metrics::ReadCounters(client, *queries, mean, v, context(now), state);
    ASSERT_TRUE(m.result.value) << m.result.unavailable;
    EXPECT_NEAR(*m.result.value, 30, 1e-9);
    metrics::CounterRead q = metrics::ReadCounters(client, *queries, p95, v, context(now), state);
    ASSERT_TRUE(q.result.value) << q.result.unavailable;
    EXPECT_NEAR(*q.result.value, 50 + 50 * (0.95 - 0.7) / 0.3, 1e-6);
    // A failed read (Prometheus unreachable) keeps the state: nothing lost, nothing twice.
    api::CounterQueries down = *queries;
    down.url = "http://127.0.0.1:1";
    metrics::CounterRead failed =
        metrics::ReadCounters(client, down, rate, v, context(now + 30), r.state);
    EXPECT_FALSE(failed.result.value);
    EXPECT_FALSE(failed.result.unavailable.empty());
    EXPECT_EQ(failed.state, r.state);
    state = api::Json::parse(r.state.dump());
  }
}

TEST_F(PrometheusTest, CounterReadsNameWhatIsMissing) {
  api::CounterQueries q;
  q.url = Url();
  q.lag_seconds = 0;
  q.total = "revision_app_request_latencies_count{revision_name='rev-4'}";
  const api::VersionDetail v = Version("canary", "revision", "rev-4");
  metrics::HttpClient client{metrics::HttpClientOptions{}};
  const metrics::QueryContext ctx{absl::FromUnixSeconds(from_ + 60),
                                  absl::FromUnixSeconds(from_ + 120), false};
  metrics::CounterRead r =
      metrics::ReadCounters(client, q, {api::TestMethod::kRate, 0}, v, ctx, api::Json());
  EXPECT_FALSE(r.result.value);
  EXPECT_EQ(r.result.unavailable, "counters.events is needed to test this metric as a rate");
  // A count needs only the total.
  r = metrics::ReadCounters(client, q, {api::TestMethod::kCount, 0}, v, ctx, api::Json());
  ASSERT_TRUE(r.result.value) << r.result.unavailable;
  EXPECT_NEAR(*r.result.value, 5.5 * 60, 1e-6);
  // A query Prometheus rejects is unavailable with Prometheus' reason.
  q.total = "rate(";
  r = metrics::ReadCounters(client, q, {api::TestMethod::kCount, 0}, v, ctx, api::Json());
  EXPECT_FALSE(r.result.value);
  EXPECT_NE(r.result.unavailable.find("HTTP 400"), std::string::npos) << r.result.unavailable;
}

}  // namespace
}  // namespace iter8
