// The http provider against real HTTP(S) servers on loopback (cpp-httplib, started by the test).
#include "metrics/http_provider.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

namespace iter8::metrics {
namespace {

constexpr char kVector[] =
    R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"%s"]}]}})";

std::string PromReply(const std::string& value) {
  std::string s = kVector;
  s.replace(s.find("%s"), 2, value);
  return s;
}

// A test HTTP server on 127.0.0.1 with a free port, served from a background thread.
class TestServer {
 public:
  explicit TestServer(std::unique_ptr<httplib::Server> server = std::make_unique<httplib::Server>())
      : server_(std::move(server)) {}
  httplib::Server& operator*() { return *server_; }
  httplib::Server* operator->() { return server_.get(); }
  void Start() {
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~TestServer() {
    server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  std::string Url(const std::string& scheme = "http") const {
    return scheme + "://127.0.0.1:" + std::to_string(port_);
  }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

api::Metric PromMetric(const std::string& url) {
  api::Metric m;
  m.metadata.name = "mean-latency";
  m.metadata.namespace_ = "ns";
  m.spec.url_template = url + "/api/v1/query";
  m.spec.jq_expression = ".data.result[0].value[1] | tonumber";
  m.spec.params = {
      {"query",
       "sum(increase(x{revision_name='$revision'}[${elapsedTime}s])) or on() vector(0)",
       {}}};
  return m;
}

api::VersionDetail Canary() {
  api::VersionDetail v;
  v.name = "canary";
  v.variables = {{"revision", "rev-2", {}}};
  return v;
}

QueryContext Ctx() {
  absl::Time start = absl::FromUnixSeconds(1'600'000'000);
  return {start, start + absl::Seconds(30), false};
}

HttpProviderOptions Fast() {
  HttpProviderOptions o;
  o.http.timeout = absl::Milliseconds(500);
  o.http.connect_timeout = absl::Milliseconds(500);
  return o;
}

TEST(HttpProviderTest, RendersTheQueryAndExtractsTheValue) {
  TestServer server;
  std::string seen;
  server->Get("/api/v1/query", [&](const httplib::Request& req, httplib::Response& res) {
    seen = req.get_param_value("query");
    res.set_content(PromReply("228.41904761904762"), "application/json");
  });
  server.Start();
  HttpProvider p(Fast(), nullptr);
  MetricResult r = p.Query(PromMetric(server.Url()), Canary(), Ctx());
  ASSERT_TRUE(r.value.has_value()) << r.unavailable;
  EXPECT_DOUBLE_EQ(*r.value, 228.41904761904762);
  EXPECT_EQ(seen, "sum(increase(x{revision_name='rev-2'}[30s])) or on() vector(0)");
  EXPECT_NE(r.request.find("GET " + server.Url() + "/api/v1/query?query=sum("), std::string::npos)
      << r.request;
}

TEST(HttpProviderTest, PostBodyHeadersAndBearerSecret) {
  TestServer server;
  std::string body, auth, content_type;
  server->Post("/q", [&](const httplib::Request& req, httplib::Response& res) {
    body = req.body;
    auth = req.get_header_value("Authorization");
    content_type = req.get_header_value("Content-Type");
    res.set_content(R"({"results":[{"count":"7"}]})", "application/json");
  });
  server.Start();
  api::Metric m;
  m.metadata.name = "nr";
  m.spec.url_template = server.Url() + "/q";
  m.spec.method = api::HttpMethod::kPost;
  m.spec.body = R"({"nrql": "SELECT count(*) WHERE v='$name' SINCE $elapsedTime sec ago"})";
  m.spec.jq_expression = ".results[0].count | tonumber";
  m.spec.auth_type = api::AuthType::kBearer;
  m.spec.secret = "creds";
  m.spec.header_templates = {{"Authorization", "Bearer ${token}", {}}};
  MapSecretSource secrets({{"ns/creds", {{"token", "s3cr3t"}}}});
  HttpProviderOptions o = Fast();
  o.secret_namespace = "ns";
  HttpProvider p(o, &secrets);
  MetricResult r = p.Query(m, Canary(), Ctx());
  ASSERT_TRUE(r.value.has_value()) << r.unavailable;
  EXPECT_EQ(*r.value, 7);
  EXPECT_EQ(body, R"({"nrql": "SELECT count(*) WHERE v='canary' SINCE 30 sec ago"})");
  EXPECT_EQ(auth, "Bearer s3cr3t");
  EXPECT_EQ(content_type, "application/json");
}

TEST(HttpProviderTest, BasicAuthFromSecret) {
  TestServer server;
  std::string auth;
  server->Get("/api/v1/query", [&](const httplib::Request& req, httplib::Response& res) {
    auth = req.get_header_value("Authorization");
    res.set_content(PromReply("1"), "application/json");
  });
  server.Start();
  api::Metric m = PromMetric(server.Url());
  m.spec.auth_type = api::AuthType::kBasic;
  m.spec.secret = "ns/basic";
  MapSecretSource secrets({{"ns/basic", {{"username", "u"}, {"password", "p"}}}});
  HttpProvider p(Fast(), &secrets);
  EXPECT_TRUE(p.Query(m, Canary(), Ctx()).value.has_value());
  EXPECT_EQ(auth, "Basic dTpw");  // base64("u:p")
}

TEST(HttpProviderTest, EnvironmentSecrets) {
  EnvSecretSource env({{"ITER8_SECRET_PROM_CREDS_USERNAME", "u"},
                       {"ITER8_SECRET_PROM_CREDS_PASSWORD", "p"},
                       {"OTHER", "x"}});
  auto data = env.Get("ns/prom-creds", "ns");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(*data, (SecretData{{"password", "p"}, {"username", "u"}}));
  EXPECT_FALSE(env.Get("missing", "ns").ok());
}

struct Fault {
  std::string name;
  std::function<void(httplib::Server&)> serve;
  std::string reason;  // substring of MetricResult::unavailable
  friend void PrintTo(const Fault& c, std::ostream* os) { *os << c.name; }
};

class HttpFaultTest : public ::testing::TestWithParam<Fault> {};

TEST_P(HttpFaultTest, IsUnavailableWithTheRightReason) {
  TestServer server;
  GetParam().serve(*server);
  server.Start();
  HttpProviderOptions o = Fast();
  o.http.max_response_bytes = 1 << 20;
  HttpProvider p(o, nullptr);
  auto begin = std::chrono::steady_clock::now();
  MetricResult r = p.Query(PromMetric(server.Url()), Canary(), Ctx());
  auto took = std::chrono::steady_clock::now() - begin;
  EXPECT_FALSE(r.value.has_value()) << "value " << *r.value;
  EXPECT_NE(r.unavailable.find(GetParam().reason), std::string::npos) << r.unavailable;
  EXPECT_LT(took, std::chrono::seconds(3)) << "no hang";
}

void Reply(httplib::Server& s, int status, std::string body) {
  s.Get("/api/v1/query", [status, body](const httplib::Request&, httplib::Response& res) {
    res.status = status;
    res.set_content(body, "application/json");
  });
}

INSTANTIATE_TEST_SUITE_P(
    Faults, HttpFaultTest,
    ::testing::Values(
        Fault{"Slow",
              [](httplib::Server& s) {
                s.Get("/api/v1/query", [](const httplib::Request&, httplib::Response& res) {
                  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
                  res.set_content(PromReply("1"), "application/json");
                });
              },
              "timed out"},
        Fault{"Http500WithJson",
              [](httplib::Server& s) { Reply(s, 500, R"({"status":"error","error":"boom"})"); },
              "HTTP 500"},
        Fault{"NotJson", [](httplib::Server& s) { Reply(s, 200, "<html>oops</html>"); },
              "response is not JSON"},
        Fault{"EmptyVector",
              [](httplib::Server& s) {
                Reply(s, 200, R"({"status":"success","data":{"resultType":"vector","result":[]}})");
              },
              "jq error"},
        Fault{"NaN", [](httplib::Server& s) { Reply(s, 200, PromReply("NaN")); },
              "not a finite number"},
        Fault{"Huge", [](httplib::Server& s) { Reply(s, 200, std::string(5 << 20, ' ')); },
              "larger than"},
        Fault{"NotFound", [](httplib::Server&) {}, "HTTP 404"}),
    [](const auto& info) { return info.param.name; });

TEST(HttpProviderTest, ConnectionRefused) {
  int port;
  {
    TestServer server;  // bind a free port, then close it
    server.Start();
    port = std::stoi(server.Url().substr(server.Url().rfind(':') + 1));
  }
  HttpProvider p(Fast(), nullptr);
  MetricResult r = p.Query(PromMetric("http://127.0.0.1:" + std::to_string(port)), Canary(), Ctx());
  EXPECT_FALSE(r.value.has_value());
  EXPECT_NE(r.unavailable.find("cannot connect"), std::string::npos) << r.unavailable;
}

TEST(HttpProviderTest, ConfigurationProblemsAreUnavailableBeforeAnyRequest) {
  HttpProvider p(Fast(), nullptr);
  api::Metric no_url = PromMetric("");
  no_url.spec.url_template.clear();
  EXPECT_NE(p.Query(no_url, Canary(), Ctx()).unavailable.find("has no urlTemplate"),
            std::string::npos);
  api::Metric secret = PromMetric("http://127.0.0.1:9");
  secret.spec.secret = "s";
  EXPECT_NE(p.Query(secret, Canary(), Ctx()).unavailable.find("no secret source"),
            std::string::npos);
  MapSecretSource empty({});
  HttpProvider q(Fast(), &empty);
  EXPECT_NE(q.Query(secret, Canary(), Ctx()).unavailable.find("missing secret"), std::string::npos);
  api::Metric body = PromMetric("http://127.0.0.1:9");
  body.spec.body = "{\"a\": $name}";  // becomes {"a": canary}: not JSON
  EXPECT_NE(p.Query(body, Canary(), Ctx()).unavailable.find("not JSON after substitution"),
            std::string::npos);
  api::Metric basic = PromMetric("http://127.0.0.1:9");
  basic.spec.auth_type = api::AuthType::kBasic;
  EXPECT_NE(p.Query(basic, Canary(), Ctx()).unavailable.find("Basic auth"), std::string::npos);
}

TEST(HttpProviderTest, V2alpha1FixedPrometheusModeWithInterval) {
  TestServer server;
  std::string seen;
  server->Get("/api/v1/query", [&](const httplib::Request& req, httplib::Response& res) {
    seen = req.get_param_value("query");
    res.set_content(PromReply("3"), "application/json");
  });
  server.Start();
  api::Metric m;
  m.metadata.name = "request-count";
  m.spec.provider = "prometheus";
  m.spec.params = {{"query", "sum(increase(x{service_name=~'.*$name'}[$interval]))", {}}};
  HttpProviderOptions o = Fast();
  o.prometheus_url = server.Url();
  HttpProvider p(o, nullptr);
  QueryContext ctx = Ctx();
  ctx.v2alpha1 = true;
  MetricResult r = p.Query(m, Canary(), ctx);
  ASSERT_TRUE(r.value.has_value()) << r.unavailable;
  EXPECT_EQ(seen, "sum(increase(x{service_name=~'.*canary'}[30s]))");
  // Strict substitution: an unknown placeholder fails as the original's did.
  m.spec.params[0].value = "x[$nope]";
  EXPECT_NE(p.Query(m, Canary(), ctx).unavailable.find("$nope"), std::string::npos);
}

// A TLS server with a self-signed certificate made for this test: rejected by default, accepted
// with the certificate as CA bundle or with verification off.
TEST(HttpProviderTest, TlsVerification) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("iter8-tls-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  const std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl is needed to make a test certificate";
  TestServer server(std::make_unique<httplib::SSLServer>(cert.c_str(), key.c_str()));
  server->Get("/api/v1/query", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(PromReply("5"), "application/json");
  });
  server.Start();
  const api::Metric m = PromMetric(server.Url("https"));

  HttpProvider strict(Fast(), nullptr);
  MetricResult r = strict.Query(m, Canary(), Ctx());
  EXPECT_FALSE(r.value.has_value());
  EXPECT_NE(r.unavailable.find("TLS verification failed"), std::string::npos) << r.unavailable;

  HttpProviderOptions with_ca = Fast();
  with_ca.http.ca_file = cert;
  HttpProvider trusted(with_ca, nullptr);
  EXPECT_EQ(trusted.Query(m, Canary(), Ctx()).value, 5.0);

  HttpProviderOptions insecure = Fast();
  insecure.http.verify_tls = false;
  HttpProvider lax(insecure, nullptr);
  EXPECT_EQ(lax.Query(m, Canary(), Ctx()).value, 5.0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace iter8::metrics
