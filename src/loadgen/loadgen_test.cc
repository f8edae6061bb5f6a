// File: loadgen/loadgen_test.cc
//
// The load generator against a real sample model server on loopback.
#include "loadgen/loadgen.h"

#include <thread>

#include "gtest/gtest.h"
#include "modelserver/model_server.h"
#include "nlohmann/json.hpp"

namespace iter8::loadgen {
namespace {

using std::chrono::milliseconds;

class LoadTest : public ::testing::Test {
 protected:
  void Serve(double latency_ms = 0, double error_rate = 0) {
    modelserver::ModelServerOptions o;
    o.model = *modelserver::LoadModel("iris-v1");
    o.latency_ms = latency_ms;
    o.error_rate = error_rate;
    server_ = std::make_unique<modelserver::ModelServer>(o);
    ASSERT_TRUE(server_->Start({"127.0.0.1", 0}).ok());
  }
  LoadOptions Predict() {
    LoadOptions o;
    o.url =
        "http://127.0.0.1:" + std::to_string(server_->Address().port) + "/v1/models/iris:predict";
    o.method = "POST";
    o.headers = {{"Content-Type", "application/json"}};
    o.body = R"({"instances": [[5.1, 3.5, 1.4, 0.2]]})";
    return o;
  }
  std::unique_ptr<modelserver::ModelServer> server_;
};

TEST_F(LoadTest, ClosedLoopCount) {
  Serve();
  auto o = Predict();
  o.count = 500;
  o.connections = 4;
  auto r = RunLoad(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->requests, 500u);
  EXPECT_EQ(r->errors, 0u);
  EXPECT_EQ(r->codes.at("200"), 500u);
  EXPECT_EQ(server_->Inferences(), 500u);
  EXPECT_EQ(r->latency.Count(), 500u);
  EXPECT_GT(r->Throughput(), 0);
}

TEST_F(LoadTest, OpenLoopRateForADuration) {
  Serve();
  auto o = Predict();
  o.rate = 200;
  o.duration = milliseconds(1000);
  auto begin = std::chrono::steady_clock::now();
  auto r = RunLoad(o);
  auto took = std::chrono::steady_clock::now() - begin;
  ASSERT_TRUE(r.ok()) << r.status();
  // Requests due in [0, 1 s) at 5 ms spacing: exactly 200.
  EXPECT_EQ(r->requests, 200u);
  EXPECT_GE(took, milliseconds(990));
  EXPECT_LT(took, milliseconds(2000));
}

TEST_F(LoadTest, OpenLoopLatencyIncludesQueueing) {
  Serve(/*latency_ms=*/20);
  auto o = Predict();
  o.connections = 1;
  o.count = 20;
  o.rate = 100;  // one request every 10 ms against a 20 ms server: the queue grows
  auto open = RunLoad(o);
  ASSERT_TRUE(open.ok());
  o.rate = 0;
  auto closed = RunLoad(o);
  ASSERT_TRUE(closed.ok());
  // Closed loop sees only the service time; open loop sees the wait of requests that were due.
  EXPECT_LT(closed->latency.Percentile(0.5), 40'000u);
  EXPECT_GT(open->latency.Percentile(0.5), 80'000u);
  EXPECT_GT(open->latency.Max(), 150'000u);
}

TEST_F(LoadTest, ErrorsAreCountedByCode) {
  Serve(0, /*error_rate=*/1.0);
  auto o = Predict();
  o.count = 50;
  auto r = RunLoad(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->errors, 50u);
  EXPECT_EQ(r->codes.at("500"), 50u);
  auto j = nlohmann::json::parse(r->Json());
  EXPECT_EQ(j["codes"]["500"], 50);
  EXPECT_NE(r->Table().find("500: 50"), std::string::npos) << r->Table();
}

// Also: as a Fortio result (metrics/collect), requests without an answer are code -1.
TEST_F(LoadTest, ClosedPortIsAConnectErrorNotAHang) {
  Serve();
  int port = server_->Address().port;
  server_->Stop();
  LoadOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  o.count = 20;
  o.connections = 2;
  auto r = RunLoad(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->requests, 20u);
  EXPECT_EQ(r->codes.at("connect error"), 20u);
  auto j = nlohmann::json::parse(r->FortioResult());
  EXPECT_EQ(j["RetCodes"]["-1"], 20);
  EXPECT_EQ(j["DurationHistogram"]["Count"], 20);
}

TEST_F(LoadTest, FortioResultHoldsEveryRequestInBucketsInSeconds) {
  Serve(/*latency_ms=*/20);
  auto o = Predict();
  o.count = 40;
  auto r = RunLoad(o);
  ASSERT_TRUE(r.ok());
  auto j = nlohmann::json::parse(r->FortioResult());
  const auto& dh = j["DurationHistogram"];
  EXPECT_EQ(dh["Count"], 40);
  EXPECT_EQ(j["RetCodes"]["200"], 40);
  EXPECT_NEAR(dh["Sum"].get<double>() / 40, 0.020, 0.015);
  EXPECT_GE(dh["Min"].get<double>(), 0.019);
  uint64_t in_buckets = 0;
  double previous_end = 0;
  for (const auto& b : dh["Data"]) {
    EXPECT_GE(b["Start"].get<double>(), previous_end);
    EXPECT_GT(b["End"].get<double>(), b["Start"].get<double>());
    EXPECT_LE(b["Start"].get<double>(), dh["Max"].get<double>());
    previous_end = b["End"].get<double>();
    in_buckets += b["Count"].get<uint64_t>();
  }
  EXPECT_EQ(in_buckets, 40u);
}

TEST_F(LoadTest, CancelStopsAtOnce) {
  Serve();
  auto o = Predict();
  o.rate = 50;
  o.duration = milliseconds(60000);
  std::atomic<bool> cancel{false};
  o.cancel = &cancel;
  int progress_calls = 0;
  o.progress = [&](const LoadReport&) { ++progress_calls; };
  o.progress_every = milliseconds(100);
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(500));
    cancel = true;
  });
  auto begin = std::chrono::steady_clock::now();
  auto r = RunLoad(o);
  stopper.join();
  ASSERT_TRUE(r.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - begin, milliseconds(3000));
  EXPECT_GT(r->requests, 10u);
  EXPECT_LT(r->requests, 60u);
  EXPECT_GE(progress_calls, 2);
}

TEST(LoadOptionsTest, BadOptionsAreNamed) {
  LoadOptions o;
  o.url = "https://x";
  EXPECT_NE(RunLoad(o).status().message().find("https"), std::string::npos);
  o.url = "http://127.0.0.1:1/";
  EXPECT_NE(RunLoad(o).status().message().find("duration or a request count"), std::string::npos);
  o.count = 1;
  o.connections = 0;
  EXPECT_NE(RunLoad(o).status().message().find("connections"), std::string::npos);
  o.connections = 1;
  o.method = "FETCH";
  EXPECT_NE(RunLoad(o).status().message().find("unknown HTTP method \"FETCH\""), std::string::npos);
  o.method = "GET";
  o.headers = {{"Bad Name", "v"}};
  EXPECT_NE(RunLoad(o).status().message().find("invalid header"), std::string::npos);
}

}  // namespace
}  // namespace iter8::loadgen
