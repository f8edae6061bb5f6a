// Metric secrets from Kubernetes Secrets (through the test API server, a stand-in for
// Kubernetes), used by the http provider for a Bearer-authenticated metric backend.
#include "k8s/secret_source.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

#include "absl/strings/escaping.h"
#include "metrics/http_provider.h"
#include "test/apiserver/test_apiserver.h"

namespace iter8::k8s {
namespace {

TEST(KubernetesSecretSourceTest, DecodesDataAndAuthenticatesAMetric) {
  testing::TestApiServer api;
  ASSERT_TRUE(api.Start().ok());
  Client client(*ParseKubeconfig(api.Kubeconfig(), "test"));
  const Resource secrets{"", "v1", "secrets", "Secret", true};
  ASSERT_TRUE(client
                  .Create(secrets, "models",
                          {{"apiVersion", "v1"},
                           {"kind", "Secret"},
                           {"metadata", {{"name", "prom-token"}, {"namespace", "models"}}},
                           {"data", {{"token", absl::Base64Escape("s3cr3t")}}}})
                  .ok());
  KubernetesSecretSource source(client);
  auto data = source.Get("prom-token", "models");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->at("token"), "s3cr3t");
  EXPECT_EQ(source.Get("models/prom-token", "other")->at("token"), "s3cr3t");
  EXPECT_EQ(source.Get("nope", "models").status().message(), "secret models/nope not found");
  ASSERT_TRUE(client
                  .Create(secrets, "models",
                          {{"metadata", {{"name", "bad"}, {"namespace", "models"}}},
                           {"data", {{"token", "%%%"}}}})
                  .ok());
  EXPECT_EQ(source.Get("bad", "models").status().message(),
            "secret models/bad: data.token is not base64");

  // The http provider sends the Secret's token to a backend that checks it.
  httplib::Server backend;
  backend.Get("/api/v1/query", [](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") != "Bearer s3cr3t") {
      res.status = 401;
      return;
    }
    res.set_content(R"({"status":"success","data":{"resultType":"vector","result":[)"
                    R"({"metric":{},"value":[1,"42"]}]}})",
                    "application/json");
  });
  const int port = backend.bind_to_any_port("127.0.0.1");
  std::thread t([&] { backend.listen_after_bind(); });
  while (!backend.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  api::Metric m;
  m.metadata.name = "m";
  m.metadata.namespace_ = "models";
  m.spec.url_template = "http://127.0.0.1:" + std::to_string(port) + "/api/v1/query";
  m.spec.params = {{"query", "up", {}}};
  m.spec.jq_expression = ".data.result[0].value[1] | tonumber";
  m.spec.auth_type = api::AuthType::kBearer;
  m.spec.secret = "prom-token";
  m.spec.header_templates = {{"Authorization", "Bearer ${token}", {}}};
  api::VersionDetail v;
  v.name = "canary";
  metrics::MetricResult r;
  {
    // Destroyed before the backend stops: its keep-alive connection would hold the stop up.
    metrics::HttpProvider provider(metrics::HttpProviderOptions{}, &source);
    r = provider.Query(m, v, {absl::Now() - absl::Seconds(30), absl::Now(), false});
  }
  backend.stop();
  t.join();
  ASSERT_TRUE(r.value) << r.unavailable;
  EXPECT_EQ(*r.value, 42);
}

}  // namespace
}  // namespace iter8::k8s
