// The in-tree test API server against an HTTP client (the semantics the controller relies on)
// and against the real kubectl on this machine (the check that it speaks the real protocol).
#include "test/apiserver/test_apiserver.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <thread>

#include "nlohmann/json.hpp"
#include "test/testing/process.h"

namespace iter8::testing {
namespace {

using Json = nlohmann::json;

constexpr char kCrd[] = R"({"apiVersion": "apiextensions.k8s.io/v1",
  "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
  "spec": {"group": "example.com", "scope": "Namespaced",
    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
    "versions": [{"name": "v1", "served": true, "storage": true,
      "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
      "subresources": {"status": {}}}]}})";

const std::string kWidgets = "/apis/example.com/v1/namespaces/default/widgets";

class TestApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestApiServerOptions o;
    o.bookmark_interval_ms = 200;
    server_ = std::make_unique<TestApiServer>(o);
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    auto r = Send("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", kCrd);
    ASSERT_EQ(r.first, 201) << r.second;
  }
  // (status, body)
  std::pair<int, Json> Send(const std::string& method, const std::string& path,
                            const std::string& body = "",
                            const std::string& type = "application/json") {
    httplib::Result r = method == "GET"     ? client_->Get(path.c_str())
                        : method == "POST"  ? client_->Post(path.c_str(), body, type.c_str())
                        : method == "PUT"   ? client_->Put(path.c_str(), body, type.c_str())
                        : method == "PATCH" ? client_->Patch(path.c_str(), body, type.c_str())
                                            : client_->Delete(path.c_str());
    if (!r) return {-1, Json()};
    return {r->status, Json::parse(r->body, nullptr, false)};
  }
  Json CreateWidget(const std::string& name, int size) {
    auto r = Send("POST", kWidgets,
                  Json{{"apiVersion", "example.com/v1"},
                       {"kind", "Widget"},
                       {"metadata", {{"name", name}}},
                       {"spec", {{"size", size}}},
                       {"status", {{"phase", "ignored on create"}}}}
                      .dump());
    EXPECT_EQ(r.first, 201) << r.second;
    return r.second;
  }

  std::unique_ptr<TestApiServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(TestApiServerTest, DiscoveryListsBuiltInsAndCrdKinds) {
  auto groups = Send("GET", "/apis");
  ASSERT_EQ(groups.first, 200);
  bool found = false;
  for (const Json& g : groups.second["groups"]) found = found || g["name"] == "example.com";
  EXPECT_TRUE(found) << groups.second;
  auto resources = Send("GET", "/apis/example.com/v1");
  ASSERT_EQ(resources.first, 200);
  EXPECT_EQ(resources.second["resources"][0]["name"], "widgets");
  EXPECT_EQ(resources.second["resources"][0]["namespaced"], true);
  EXPECT_EQ(resources.second["resources"][1]["name"], "widgets/status");
  EXPECT_EQ(Send("GET", "/api/v1").second["groupVersion"], "v1");
  EXPECT_EQ(Send("GET", "/apis/nothing.example.com/v1").first, 404);
}

TEST_F(TestApiServerTest, CreateGetAndTheirErrorsAsStatusObjects) {
  Json w = CreateWidget("w", 1);
  EXPECT_EQ(w["metadata"]["generation"], 1);
  EXPECT_FALSE(w["metadata"]["uid"].get<std::string>().empty());
  EXPECT_FALSE(w.contains("status"));  // status subresource: ignored on create
  auto again = Send("POST", kWidgets, R"({"metadata": {"name": "w"}, "spec": {}})");
  EXPECT_EQ(again.first, 409);
  EXPECT_EQ(again.second["kind"], "Status");
  EXPECT_EQ(again.second["reason"], "AlreadyExists");
  EXPECT_EQ(again.second["message"], "widgets.example.com \"w\" already exists");
  auto missing = Send("GET", kWidgets + "/nope");
  EXPECT_EQ(missing.first, 404);
  EXPECT_EQ(missing.second["reason"], "NotFound");
  EXPECT_EQ(missing.second["message"], "widgets.example.com \"nope\" not found");
  auto nameless = Send("POST", kWidgets, R"({"metadata": {}})");
  EXPECT_EQ(nameless.first, 422);
  EXPECT_EQ(nameless.second["reason"], "Invalid");
  EXPECT_EQ(Send("POST", kWidgets, "{not json").first, 400);
  auto wrong_ns = Send("POST", kWidgets, R"({"metadata": {"name": "x", "namespace": "other"}})");
  EXPECT_EQ(wrong_ns.first, 400);
}

TEST_F(TestApiServerTest, UpdatesNeedTheCurrentResourceVersion) {
  Json w = CreateWidget("w", 1);
  const std::string rv = w["metadata"]["resourceVersion"];
  Json next = w;
  next["spec"]["size"] = 2;
  next["metadata"].erase("resourceVersion");
  auto no_rv = Send("PUT", kWidgets + "/w", next.dump());
  EXPECT_EQ(no_rv.first, 422) << no_rv.second;
  next["metadata"]["resourceVersion"] = rv;
  next["status"] = {{"phase", "not through the main resource"}};
  auto ok = Send("PUT", kWidgets + "/w", next.dump());
  ASSERT_EQ(ok.first, 200) << ok.second;
  EXPECT_EQ(ok.second["spec"]["size"], 2);
  EXPECT_EQ(ok.second["metadata"]["generation"], 2);
  EXPECT_FALSE(ok.second.contains("status"));
  EXPECT_NE(ok.second["metadata"]["resourceVersion"], rv);
  // The same write again carries the old resourceVersion: stale, refused.
  auto stale = Send("PUT", kWidgets + "/w", next.dump());
  EXPECT_EQ(stale.first, 409);
  EXPECT_EQ(stale.second["reason"], "Conflict");
  EXPECT_EQ(stale.second["message"],
            "Operation cannot be fulfilled on widgets.example.com \"w\": the object has been "
            "modified; please apply your changes to the latest version and try again");
}

TEST_F(TestApiServerTest, StatusSubresourceChangesOnlyStatus) {
  Json w = CreateWidget("w", 1);
  Json next = w;
  next["spec"]["size"] = 9;
  next["status"] = {{"phase", "Ready"}};
  auto r = Send("PUT", kWidgets + "/w/status", next.dump());
  ASSERT_EQ(r.first, 200) << r.second;
  EXPECT_EQ(r.second["status"]["phase"], "Ready");
  EXPECT_EQ(r.second["spec"]["size"], 1);
  EXPECT_EQ(r.second["metadata"]["generation"], 1);
  auto patched = Send("PATCH", kWidgets + "/w/status", R"({"status": {"phase": "Done"}})",
                      "application/merge-patch+json");
  EXPECT_EQ(patched.second["status"]["phase"], "Done");
  EXPECT_EQ(Send("GET", kWidgets + "/w").second["status"]["phase"], "Done");
}

TEST_F(TestApiServerTest, JsonPatchAndMergePatchWithTheirErrors) {
  CreateWidget("w", 1);
  auto add =
      Send("PATCH", kWidgets + "/w", R"([{"op": "add", "path": "/spec/weight", "value": 40}])",
           "application/json-patch+json");
  ASSERT_EQ(add.first, 200) << add.second;
  EXPECT_EQ(add.second["spec"]["weight"], 40);
  auto failed_test =
      Send("PATCH", kWidgets + "/w", R"([{"op": "test", "path": "/spec/weight", "value": 7}])",
           "application/json-patch+json");
  EXPECT_EQ(failed_test.first, 422) << failed_test.second;
  auto bad_path = Send("PATCH", kWidgets + "/w",
                       R"([{"op": "replace", "path": "/spec/nothing/deeper", "value": 1}])",
                       "application/json-patch+json");
  EXPECT_EQ(bad_path.first, 422);
  auto merge = Send("PATCH", kWidgets + "/w", R"({"spec": {"size": null, "color": "red"}})",
                    "application/merge-patch+json");
  EXPECT_EQ(merge.second["spec"], (Json{{"weight", 40}, {"color", "red"}}));
  EXPECT_EQ(Send("PATCH", kWidgets + "/w", "{}", "application/strategic-merge-patch+json").first,
            415);
  // A resourceVersion in a patch is a precondition.
  auto stale = Send("PATCH", kWidgets + "/w", R"({"metadata": {"resourceVersion": "1"}})",
                    "application/merge-patch+json");
  EXPECT_EQ(stale.first, 409);
}

TEST_F(TestApiServerTest, ListPagesWithLimitAndContinue) {
  for (int i = 0; i < 5; ++i) CreateWidget("w" + std::to_string(i), i);
  std::vector<std::string> names;
  std::string next;
  int pages = 0;
  do {
    auto r = Send("GET", kWidgets + "?limit=2" + (next.empty() ? "" : "&continue=" + next));
    ASSERT_EQ(r.first, 200);
    for (const Json& item : r.second["items"]) names.push_back(item["metadata"]["name"]);
    next = r.second["metadata"].value("continue", "");
    ++pages;
  } while (!next.empty());
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(names, (std::vector<std::string>{"w0", "w1", "w2", "w3", "w4"}));
}

// Reads a watch stream until `lines` events arrived or the stream ends.
std::vector<Json> Watch(int port, const std::string& path, size_t lines) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(10, 0);
  std::vector<Json> events;
  std::string buffer;
  c.Get(path.c_str(), [&](const char* data, size_t n) {
    buffer.append(data, n);
    for (size_t nl = buffer.find('\n'); nl != std::string::npos; nl = buffer.find('\n')) {
      events.push_back(Json::parse(buffer.substr(0, nl)));
      buffer.erase(0, nl + 1);
    }
    return events.size() < lines;
  });
  return events;
}

TEST_F(TestApiServerTest, WatchStreamsChangesBookmarksAndExpires) {
  Json w = CreateWidget("w", 1);
  const std::string from = w["metadata"]["resourceVersion"];
  std::vector<Json> events;
  std::thread watcher([&] {
    events = Watch(server_->port(),
                   kWidgets + "?watch=true&allowWatchBookmarks=true&resourceVersion=" + from, 4);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Send("PATCH", kWidgets + "/w", R"({"spec": {"size": 2}})", "application/merge-patch+json");
  CreateWidget("v", 5);
  Send("DELETE", kWidgets + "/v");
  watcher.join();
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[0]["type"], "MODIFIED");
  EXPECT_EQ(events[0]["object"]["spec"]["size"], 2);
  EXPECT_EQ(events[1]["type"], "ADDED");
  EXPECT_EQ(events[2]["type"], "DELETED");
  // Idle: bookmarks carry the current resourceVersion.
  std::vector<Json> idle =
      Watch(server_->port(),
            kWidgets + "?watch=1&allowWatchBookmarks=true&resourceVersion=" +
                events[2]["object"]["metadata"]["resourceVersion"].get<std::string>(),
            1);
  ASSERT_EQ(idle.size(), 1u);
  EXPECT_EQ(idle[0]["type"], "BOOKMARK");
  // Without a resourceVersion the stream starts with the current state.
  std::vector<Json> state = Watch(server_->port(), kWidgets + "?watch=true", 1);
  ASSERT_EQ(state.size(), 1u);
  EXPECT_EQ(state[0]["type"], "ADDED");
  EXPECT_EQ(state[0]["object"]["metadata"]["name"], "w");
  // After compaction an old version is gone: 410 Expired in an ERROR event, then the end.
  server_->CompactHistory();
  std::vector<Json> expired =
      Watch(server_->port(), kWidgets + "?watch=true&resourceVersion=" + from, 5);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0]["type"], "ERROR");
  EXPECT_EQ(expired[0]["object"]["code"], 410);
  EXPECT_EQ(expired[0]["object"]["reason"], "Expired");
}

TEST_F(TestApiServerTest, DroppedWatchesEndAndInjectedFailuresAreStatusObjects) {
  std::vector<Json> events;
  std::thread watcher([&] { events = Watch(server_->port(), kWidgets + "?watch=true", 100); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  server_->DropWatches();
  watcher.join();  // returns: the server ended the stream
  EXPECT_TRUE(events.empty());
  server_->FailNextRequests(2, 500);
  EXPECT_EQ(Send("GET", kWidgets).first, 500);
  auto second = Send("GET", kWidgets);
  EXPECT_EQ(second.first, 500);
  EXPECT_EQ(second.second["kind"], "Status");
  EXPECT_EQ(Send("GET", kWidgets).first, 200);
}

// The real kubectl creates, gets, patches, watches and deletes custom resources through it.
TEST_F(TestApiServerTest, KubectlSpeaksToIt) {
  TempDir dir;
  const std::string kubeconfig = (dir.path() / "kubeconfig").string();
  std::ofstream(kubeconfig) << server_->Kubeconfig();
  std::ofstream(dir.path() / "widget.yaml")
      << "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: k\nspec:\n  size: 1\n";
  const std::string kubectl = "kubectl --kubeconfig " + kubeconfig + " --cache-dir " +
                              (dir.path() / "cache").string() + " ";
  auto run = [&](const std::string& args) {
    const std::string out = (dir.path() / "out.txt").string();
    const int rc = std::system((kubectl + args + " > " + out + " 2>&1").c_str());
    std::ifstream in(out);
    std::stringstream ss;
    ss << in.rdbuf();
    return std::pair<int, std::string>{WEXITSTATUS(rc), ss.str()};
  };
  auto created = run("create --validate=false -f " + (dir.path() / "widget.yaml").string());
  ASSERT_EQ(created.first, 0) << created.second;
  EXPECT_NE(created.second.find("widget.example.com/k created"), std::string::npos)
      << created.second;
  // A watch in the background sees the patch below.
  const std::string watch_out = (dir.path() / "watch.txt").string();
  ChildProcess watch(
      {"sh", "-c", "exec " + kubectl + "get widgets --watch --output-watch-events -o json"},
      watch_out);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto patched = run("patch widget k --type merge -p '{\"spec\":{\"size\":3}}'");
  ASSERT_EQ(patched.first, 0) << patched.second;
  EXPECT_NE(patched.second.find("widget.example.com/k patched"), std::string::npos);
  auto got = run("get wd k -o jsonpath={.spec.size}");
  EXPECT_EQ(got.second, "3") << got.second;
  auto listed = run("get widgets");
  EXPECT_NE(listed.second.find("k "), std::string::npos) << listed.second;
  auto conflict = run("create --validate=false -f " + (dir.path() / "widget.yaml").string());
  EXPECT_NE(conflict.first, 0);
  EXPECT_NE(conflict.second.find("AlreadyExists"), std::string::npos) << conflict.second;
  std::string seen;
  for (int i = 0; i < 50 && seen.find("\"size\":3") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::ifstream in(watch_out);
    std::stringstream ss;
    ss << in.rdbuf();
    seen = ss.str();
    seen.erase(std::remove_if(seen.begin(), seen.end(), ::isspace), seen.end());
  }
  EXPECT_NE(seen.find("\"type\":\"MODIFIED\""), std::string::npos) << seen;
  EXPECT_NE(seen.find("\"size\":3"), std::string::npos) << seen;
  watch.Stop();
  auto deleted = run("delete widget k");
  EXPECT_EQ(deleted.first, 0) << deleted.second;
  EXPECT_EQ(run("get widget k").first, 1);
}

}  // namespace
}  // namespace iter8::testing
