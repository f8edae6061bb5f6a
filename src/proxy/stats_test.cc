// File: proxy/stats_test.cc
#include "proxy/stats.h"

#include <thread>

#include "gtest/gtest.h"

namespace iter8::proxy {
namespace {

TEST(StatsTest, BucketsFollowPrometheusLeSemantics) {
  EXPECT_EQ(LatencyBucket(0.3), 0);
  EXPECT_EQ(LatencyBucket(1.0), 0);  // le="1" includes 1
  EXPECT_EQ(LatencyBucket(1.01), 1);
  EXPECT_EQ(LatencyBucket(100000), static_cast<int>(kLatencyBoundsMs.size()) - 1);
  EXPECT_EQ(LatencyBucket(1e9), static_cast<int>(kLatencyBoundsMs.size()));
}

TEST(StatsTest, RecordAndMergeAcrossWorkers) {
  WorkerStats a, b;
  a.Record(0, 200, 3.0, 10, 100, false);
  a.Record(0, 503, 1.0, 0, 20, true);
  b.Record(0, 404, 7.0, 5, 5, false);
  b.Record(1, 200, 1.0, 0, 0, false);
  VersionTraffic v;
  a.AddTo(0, v);
  b.AddTo(0, v);
  EXPECT_EQ(v.Requests(), 3u);
  EXPECT_EQ(v.Errors(), 2u);
  EXPECT_EQ(v.classes[1].count, 1u);
  EXPECT_DOUBLE_EQ(v.LatencySumMs(), 11.0);
  EXPECT_EQ(v.request_bytes, 15u);
  EXPECT_EQ(v.response_bytes, 125u);
  EXPECT_EQ(v.backend_errors, 1u);
  auto buckets = v.Buckets();
  EXPECT_EQ(buckets[0], 1u);  // 1 ms
  EXPECT_EQ(buckets[2], 1u);  // 3 ms in (2, 5]
  EXPECT_EQ(buckets[3], 1u);  // 7 ms in (5, 10]
}

TEST(StatsTest, ReadWhileWritingIsRaceFree) {
  WorkerStats s;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 200000; ++i) s.Record(2, 200, 1.5, 1, 1, false);
    done = true;
  });
  uint64_t last = 0;
  while (!done) {
    VersionTraffic v;
    s.AddTo(2, v);
    EXPECT_GE(v.Requests(), last);  // monotone as seen by a reader
    last = v.Requests();
  }
  writer.join();
  VersionTraffic v;
  s.AddTo(2, v);
  EXPECT_EQ(v.Requests(), 200000u);
}

TEST(StatsTest, PrometheusTextHasKnativeSeries) {
  VersionTraffic v;
  v.name = "canary";
  v.classes[1].count = 3;
  v.classes[1].latency_sum_ms = 12.5;
  v.classes[1].buckets[0] = 1;
  v.classes[1].buckets[3] = 2;
  std::string text = PrometheusText({"ns", "iris"}, {v}, {{"canary", 10}});
  const std::string l =
      "namespace_name=\"ns\",configuration_name=\"iris\",revision_name=\"canary\","
      "response_code_class=\"2xx\"";
  EXPECT_NE(text.find("# TYPE revision_app_request_latencies histogram"), std::string::npos);
  EXPECT_NE(text.find("revision_app_request_latencies_bucket{" + l + ",le=\"1\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("revision_app_request_latencies_bucket{" + l + ",le=\"5\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("revision_app_request_latencies_bucket{" + l + ",le=\"10\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("revision_app_request_latencies_bucket{" + l + ",le=\"+Inf\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("revision_app_request_latencies_sum{" + l + "} 12.5\n"), std::string::npos);
  EXPECT_NE(text.find("revision_app_request_latencies_count{" + l + "} 3\n"), std::string::npos);
  EXPECT_NE(text.find("iter8_proxy_route_weight{namespace_name=\"ns\",configuration_name=\"iris\","
                      "revision_name=\"canary\"} 10\n"),
            std::string::npos);
  EXPECT_EQ(text.find("4xx"), std::string::npos);  // empty classes are not written
}

}  // namespace
}  // namespace iter8::proxy
