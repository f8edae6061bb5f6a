// File: modelserver/model_server_test.cc
#include "modelserver/model_server.h"

#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace iter8::modelserver {
namespace {

ModelServerOptions Options() {
  ModelServerOptions o;
  o.model = *LoadModel("iris-v2");
  return o;
}

net::HttpRequest Post(const std::string& target, const std::string& body) {
  return net::HttpRequest{"POST", target, {}, body};
}

TEST(ModelServerTest, V1Predict) {
  ModelServer s(Options());
  auto r = s.HandleRequest(Post("/v1/models/iris:predict",
                                R"({"instances": [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6, 2.5]]})"));
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(nlohmann::json::parse(r.body)["predictions"], nlohmann::json({0, 2}));
  auto ready = s.HandleRequest({"GET", "/v1/models/iris", {}, ""});
  EXPECT_EQ(ready.status, 200u);
  EXPECT_EQ(nlohmann::json::parse(ready.body)["ready"], true);
  EXPECT_EQ(s.Inferences(), 1u);
}

TEST(ModelServerTest, V2Infer) {
  ModelServer s(Options());
  auto r = s.HandleRequest(Post("/v2/models/iris/infer",
                                R"({"id": "42", "inputs": [{"name": "input-0", "shape": [2, 4],
                                    "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2, 6.3, 3.3, 6, 2.5]}]})"));
  ASSERT_EQ(r.status, 200u) << r.body;
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["model_name"], "iris");
  EXPECT_EQ(j["id"], "42");
  EXPECT_EQ(j["outputs"][0]["data"], nlohmann::json({0, 2}));
  EXPECT_EQ(j["outputs"][0]["shape"], nlohmann::json({2}));
  EXPECT_EQ(s.HandleRequest({"GET", "/v2/health/ready", {}, ""}).status, 200u);
  EXPECT_EQ(s.HandleRequest({"GET", "/v2/models/iris", {}, ""}).status, 200u);
  EXPECT_EQ(s.HandleRequest({"GET", "/v2/models/iris/ready", {}, ""}).status, 200u);
}

TEST(ModelServerTest, BadInputIs400WithAReason) {
  ModelServer s(Options());
  struct Case {
    std::string target, body, reason;
  };
  for (const Case& c : std::vector<Case>{
           {"/v1/models/iris:predict", "not json", "not a JSON object"},
           {"/v1/models/iris:predict", "{}", "\"instances\" must be a non-empty list"},
           {"/v1/models/iris:predict", R"({"instances": [[1, 2, 3]]})",
            "instances[0] must be a list of 4 numbers (sepal_length, sepal_width"},
           {"/v1/models/iris:predict", R"({"instances": [[1, 2, 3, "x"]]})", "instances[0]"},
           {"/v2/models/iris/infer", R"({"inputs": []})", "a list of one tensor"},
           {"/v2/models/iris/infer", R"({"inputs": [{"shape": [1, 3], "data": [1, 2, 3]}]})",
            "shape must be [N, 4]"},
           {"/v2/models/iris/infer", R"({"inputs": [{"shape": [2, 4], "data": [1, 2, 3, 4]}]})",
            "must hold 8 numbers"},
           {"/v2/models/iris/infer", R"({"inputs": [{"shape": [1, 4], "data": [1, 2, 3, null]}]})",
            "finite numbers"},
       }) {
    auto r = s.HandleRequest(Post(c.target, c.body));
    EXPECT_EQ(r.status, 400u) << c.body;
    std::string error = nlohmann::json::parse(r.body)["error"];
    EXPECT_NE(error.find(c.reason), std::string::npos) << c.body << " -> " << error;
  }
  EXPECT_EQ(s.HandleRequest(Post("/v1/models/other:predict", "{}")).status, 404u);
  EXPECT_EQ(s.HandleRequest({"GET", "/v1/models/iris:predict", {}, ""}).status, 405u);
  EXPECT_EQ(s.HandleRequest({"GET", "/", {}, ""}).status, 404u);
}

TEST(ModelServerTest, InjectedErrorsAndLatency) {
  auto o = Options();
  o.error_rate = 0.2;
  o.latency_ms = 10;
  o.distribution = LatencyDistribution::kUniform;
  ModelServer s(o);
  int errors = 0;
  double total_ms = 0;
  const std::string body = R"({"instances": [[5.1, 3.5, 1.4, 0.2]]})";
  for (int i = 0; i < 5000; ++i) {
    auto r = s.HandleRequest(Post("/v1/models/iris:predict", body));
    errors += r.status == 500;
    total_ms += r.delay.count() / 1000.0;
    EXPECT_LE(r.delay.count(), 20000);
  }
  EXPECT_NEAR(errors / 5000.0, 0.2, 0.03);
  EXPECT_NEAR(total_ms / 5000, 10, 0.5);
  EXPECT_FALSE(ParseLatencyDistribution("gaussian").ok());
  EXPECT_EQ(*ParseLatencyDistribution("exponential"), LatencyDistribution::kExponential);
}

TEST(ModelServerTest, ServesOverHttpWithDelay) {
  auto o = Options();
  o.latency_ms = 50;
  ModelServer s(o);
  ASSERT_TRUE(s.Start({"127.0.0.1", 0}).ok());
  httplib::Client c("127.0.0.1", s.Address().port);
  auto start = std::chrono::steady_clock::now();
  auto r = c.Post("/v1/models/iris:predict", R"({"instances": [[6.3, 3.3, 6, 2.5]]})",
                  "application/json");
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(nlohmann::json::parse(r->body)["predictions"][0], 2);
  EXPECT_GE(elapsed, std::chrono::milliseconds(50));
  auto bad = c.Post("/v1/models/iris:predict", "{", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  s.Stop();
}

}  // namespace
}  // namespace iter8::modelserver
