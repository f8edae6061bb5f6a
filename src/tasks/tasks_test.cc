#include "tasks/tasks.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <thread>

#include "api/document.h"
#include "api/load.h"
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

}  // namespace
}  // namespace iter8::tasks
