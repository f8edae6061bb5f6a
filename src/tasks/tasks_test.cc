#include "tasks/tasks.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <thread>

#include "analytics/builtin_hists.h"
#include "api/document.h"
#include "api/load.h"
#include "modelserver/model_server.h"
#include "store/sqlite_store.h"
#include "test/testing/process.h"

namespace iter8::tasks {
namespace {

using api::Json;

api::Experiment Exp() {
  auto docs = api::ParseDocuments(R"(
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata: {name: e, namespace: ns}
spec:
  target: t
  strategy: {testingPattern: Canary}
  versionInfo:
    baseline:
      name: default
      variables: [{name: revision, value: r1}]
      weightObjRef: {kind: Route, name: r, fieldPath: ".spec.versions[0].weight"}
    candidates:
    - name: canary
      variables: [{name: revision, value: "r2&<x>"}]
      weightObjRef: {kind: Route, name: r, fieldPath: ".spec.versions[1].weight"}
status:
  versionRecommendedForPromotion: canary
)",
                                  "e.yaml");
  return *api::LoadExperiment(docs->front());
}

api::TaskSpec Task(const std::string& name, const std::string& with_json) {
  api::TaskSpec t;
  t.task = name;
  t.with = Json::parse(with_json);
  return t;
}

TEST(TasksTest, TemplatesUseTheRecommendedVersionVerbatim) {
  api::Experiment e = Exp();
  auto values = TemplateValues(e, engine::HandlerType::kFinish);
  EXPECT_EQ(*RenderTemplate("{{ .name }}:{{.revision}}", values), "canary:r2&<x>");
  EXPECT_EQ(TemplateValues(e, engine::HandlerType::kRollback).at("name"), "default");
  EXPECT_EQ(RenderTemplate("{{ .nope }}", values).status().message(), "no value for '{{ .nope }}'");
  EXPECT_EQ(RenderTemplate("a {{ .name", values).status().message(),
            "unterminated '{{' at offset 2");
  EXPECT_FALSE(RenderTemplate("{{ range }}", values).ok());
}

TEST(TasksTest, ExecRunsArgvWithoutAShellAndReportsFailures) {
  testing::TempDir dir;
  api::Experiment e = Exp();
  std::string log;
  TaskEnv env;
  env.experiment = &e;
  env.type = engine::HandlerType::kFinish;
  env.log = [&log](const std::string& s) { log += s; };
  const std::string out = (dir.path() / "out").string();
  // exec: the value reaches the program as one argv element, verbatim (no HTML escaping).
  ASSERT_TRUE(RunAction({Task("common/exec", R"({"cmd": "bash", "args": ["-c",
                            "printf '%s\\n' \"$1\" > )" +
                                                 out + R"(", "_", "{{ .revision }}"]})"),
                         Task("common/bash",
                              R"({"script": "echo '{{ .name }}' >> )" + out + R"(; echo $0"})")},
                        env)
                  .ok())
      << log;
  std::ifstream f(out);
  std::string line;
  std::getline(f, line);
  EXPECT_EQ(line, "r2&<x>");
  std::getline(f, line);
  EXPECT_EQ(line, "canary");
  EXPECT_NE(log.find("/bin/bash"), std::string::npos);

  absl::Status s = RunAction({Task("common/exec", R"({"cmd": "false"})")}, env);
  EXPECT_EQ(s.message(), "task 0 (common/exec): false: exit status 1");
  s = RunAction({Task("common/exec", R"({"cmd": "/no/such/binary"})")}, env);
  EXPECT_NE(s.message().find("cannot run /no/such/binary"), std::string::npos);
  env.timeout = absl::Milliseconds(300);
  s = RunAction({Task("common/bash", R"({"script": "sleep 30"})")}, env);
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  s = RunAction({Task("common/exec", R"({"args": ["x"]})")}, env);
  EXPECT_EQ(s.message(), "task 0 (common/exec): with.cmd: required");
  s = RunAction({Task("no/such", "{}")}, env);
  EXPECT_EQ(s.message(), "task 0 (no/such): unknown task 'no/such'");
}

TEST(TasksTest, NotificationsPostToARealServer) {
  httplib::Server server;
  std::vector<std::string> bodies;
  std::mutex mu;
  server.Post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> l(mu);
    bodies.push_back(req.body);
    res.set_content("ok", "text/plain");
  });
  server.Post("/fail", [](const httplib::Request&, httplib::Response& res) { res.status = 500; });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread t([&] { server.listen_after_bind(); });
  const std::string base = "http://127.0.0.1:" + std::to_string(port);

  api::Experiment e = Exp();
  TaskEnv env;
  env.experiment = &e;
  env.type = engine::HandlerType::kFinish;
  EXPECT_TRUE(RunAction({Task("notification/http", R"({"url": ")" + base + R"(/hook"})"),
                         Task("notification/slack",
                              R"({"url": ")" + base + R"(/hook", "channel": "#ml"})")},
                        env)
                  .ok());
  absl::Status s =
      RunAction({Task("notification/http", R"({"url": ")" + base + R"(/fail"})")}, env);
  EXPECT_NE(s.message().find("HTTP 500"), std::string::npos);
  server.stop();
  t.join();
  ASSERT_EQ(bodies.size(), 2u);
  Json summary = Json::parse(bodies[0]);
  EXPECT_EQ(summary["experiment"], "ns/e");
  EXPECT_EQ(summary["versionRecommendedForPromotion"], "canary");
  Json slack = Json::parse(bodies[1]);
  EXPECT_EQ(slack["channel"], "#ml");
  EXPECT_NE(slack["text"].get<std::string>().find("recommended version: canary"),
            std::string::npos);
}

TEST(TasksTest, PromoteMovesAllTrafficToTheWinnerOrBackToTheBaseline) {
  auto store = *store::SqliteStore::Open(":memory:");
  ASSERT_TRUE(store
                  ->Create(Json::parse(R"({"kind": "Route", "metadata": {"name": "r",
    "namespace": "ns"}, "spec": {"versions": [{"name": "default", "weight": 60},
    {"name": "canary", "weight": 40}]}})"))
                  .ok());
  traffic::StoreTrafficDriver driver(*store);
  api::Experiment e = Exp();
  TaskEnv env;
  env.experiment = &e;
  env.traffic = &driver;
  env.type = engine::HandlerType::kFinish;
  ASSERT_TRUE(RunAction({Task("local/promote", "{}")}, env).ok());
  Json r = *store->Get({"Route", "ns", "r"});
  EXPECT_EQ(r["spec"]["versions"][0]["weight"], 0);
  EXPECT_EQ(r["spec"]["versions"][1]["weight"], 100);
  env.type = engine::HandlerType::kRollback;
  ASSERT_TRUE(RunAction({Task("local/promote", "{}")}, env).ok());
  r = *store->Get({"Route", "ns", "r"});
  EXPECT_EQ(r["spec"]["versions"][0]["weight"], 100);
  EXPECT_EQ(r["spec"]["versions"][1]["weight"], 0);
}

// metrics/collect against two real sample model servers on loopback: the canary answers half of
// its requests with 500 and is 20 ms slower; the stored Fortio results say so.
class CollectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto [latency, errors] : {std::pair{0.0, 0.0}, std::pair{20.0, 0.5}}) {
      modelserver::ModelServerOptions o;
      o.model = *modelserver::LoadModel("iris-v1");
      o.latency_ms = latency;
      o.error_rate = errors;
      o.seed = 7;
      servers_.push_back(std::make_unique<modelserver::ModelServer>(o));
      ASSERT_TRUE(servers_.back()->Start({"127.0.0.1", 0}).ok());
    }
    env_.experiment = &e_;
    env_.type = engine::HandlerType::kStart;
    env_.log = [this](const std::string& s) { log_ += s + "\n"; };
    env_.store_builtin_hists = [this](const Json& h) {
      stored_.push_back(h);
      return absl::OkStatus();
    };
  }
  std::string Url(int i) {
    return "http://" + servers_[i]->Address().String() + "/v1/models/iris:predict";
  }
  std::string Versions(double qps) {
    return R"("versions": [{"name": "default", "url": ")" + Url(0) + R"(", "qps": )" +
           std::to_string(qps) + R"(}, {"name": "canary", "url": ")" + Url(1) + R"(", "qps": )" +
           std::to_string(qps) + "}]";
  }

  api::Experiment e_ = Exp();
  TaskEnv env_;
  std::string log_;
  std::vector<Json> stored_;
  std::vector<std::unique_ptr<modelserver::ModelServer>> servers_;
};

TEST_F(CollectTest, LoadsEveryVersionAtOnceAndStoresFortioResults) {
  const auto start = std::chrono::steady_clock::now();
  absl::Status s = RunAction({Task("metrics/collect",
                                   R"({"time": "1s", "contentType": "application/json",
                "payloadStr": "{\"instances\": [[6.8, 2.8, 4.8, 1.4]]}", )" +
                                       Versions(50) + "}")},
                             env_);
  ASSERT_TRUE(s.ok()) << s << log_;
  // Both versions were loaded at the same time, not one after the other.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1900));
  ASSERT_EQ(stored_.size(), 1u);
  auto results = analytics::ParseFortioResults(stored_[0]);
  ASSERT_TRUE(results.ok()) << results.status() << stored_[0].dump();
  const analytics::FortioResult& d = results->at("default");
  const analytics::FortioResult& c = results->at("canary");
  // 50 req/s for 1 s, open loop: 50 requests each (the last may be cut at the deadline).
  EXPECT_NEAR(static_cast<double>(d.count), 50, 2);
  EXPECT_NEAR(static_cast<double>(c.count), 50, 2);
  EXPECT_EQ(d.errors, 0);  // POST with the payload is a valid prediction
  EXPECT_GT(c.errors, 10);
  EXPECT_LT(c.errors, 40);
  EXPECT_GT(c.sum_seconds / static_cast<double>(c.count), 0.018);
  EXPECT_LT(d.sum_seconds / static_cast<double>(d.count), 0.010);
  // The builtin metrics read the same.
  auto metrics = analytics::BuiltinMetrics(stored_[0]);
  ASSERT_TRUE(metrics.ok());
  EXPECT_GT(metrics->data.at("iter8-system/mean-latency").data.at("canary").value->ToDouble(), 18);
  EXPECT_NE(log_.find("canary: "), std::string::npos) << log_;
}

TEST_F(CollectTest, LoadOnlyStoresNothingAndGetWithoutPayload) {
  // Without a payload the requests are GETs: the V2 health endpoint answers them with 200.
  const std::string ready = "http://" + servers_[0]->Address().String() + "/v2/health/ready";
  ASSERT_TRUE(RunAction({Task("metrics/collect",
                              R"({"time": "200ms", "loadOnly": true, "versions": [{"name":
                                  "default", "url": ")" +
                                  ready + R"(", "qps": 50}]})")},
                        env_)
                  .ok())
      << log_;
  EXPECT_TRUE(stored_.empty());
  EXPECT_NE(log_.find(" requests to " + ready + ", 0 errors"), std::string::npos) << log_;
}

TEST_F(CollectTest, BadParametersAreNamedAndNothingIsSent) {
  auto run = [&](const std::string& with) {
    return RunAction({Task("metrics/collect", with)}, env_);
  };
  EXPECT_EQ(run(R"({"time": "soon", )" + Versions(1) + "}").message(),
            "task 0 (metrics/collect): with.time: must be a positive duration such as \"5s\", "
            "\"500ms\" or \"1m30s\"");
  EXPECT_EQ(run(R"({"versions": []})").message(),
            "task 0 (metrics/collect): with.versions: required: a list of {name, url}");
  EXPECT_EQ(run(R"({"versions": [{"name": "nope", "url": "http://127.0.0.1:1/"}]})").message(),
            "task 0 (metrics/collect): with.versions[0].name: 'nope' is not a version of the "
            "experiment");
  EXPECT_EQ(run(R"({"versions": [{"name": "canary", "url": "http://127.0.0.1:1/", "qps": -1}]})")
                .message(),
            "task 0 (metrics/collect): with.versions[0].qps: must be a number in [0, 1000000]");
  EXPECT_EQ(run(R"({"payloadStr": "a", "payloadFile": "b", )" + Versions(1) + "}").message(),
            "task 0 (metrics/collect): with.payloadStr: give one of payloadStr, payloadFile and "
            "payloadURL");
  EXPECT_EQ(run(R"({"payloadFile": "/nonexistent/body.json", )" + Versions(1) + "}").message(),
            "task 0 (metrics/collect): with.payloadFile: cannot read '/nonexistent/body.json'");
  env_.timeout = absl::Seconds(2);
  EXPECT_EQ(run(R"({"time": "1m", )" + Versions(1) + "}").message(),
            "task 0 (metrics/collect): with.time: is not shorter than the task timeout (2s)");
  EXPECT_TRUE(stored_.empty());
}

TEST_F(CollectTest, AnUnreachableVersionIsAllErrorsNotAFailure) {
  const int port = servers_[1]->Address().port;
  servers_[1]->Stop();
  ASSERT_TRUE(RunAction({Task("metrics/collect",
                              R"({"time": "300ms", "versions": [{"name": "canary", "url":
                                  "http://127.0.0.1:)" +
                                  std::to_string(port) + R"(/", "qps": 20}]})")},
                        env_)
                  .ok())
      << log_;
  ASSERT_EQ(stored_.size(), 1u);
  auto results = analytics::ParseFortioResults(stored_[0]);
  ASSERT_TRUE(results.ok());
  EXPECT_GT(results->at("canary").count, 0);
  EXPECT_EQ(results->at("canary").errors, results->at("canary").count);
}

TEST_F(CollectTest, CancelStopsTheLoadAtOnce) {
  std::atomic<bool> cancel{false};
  env_.cancel = &cancel;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel = true;
  });
  const auto start = std::chrono::steady_clock::now();
  absl::Status s =
      RunAction({Task("metrics/collect", R"({"time": "30s", )" + Versions(10) + "}")}, env_);
  stopper.join();
  EXPECT_TRUE(absl::IsCancelled(s)) << s;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(stored_.empty());
}

}  // namespace
}  // namespace iter8::tasks
