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
#include <tuple>

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
  auto created = run("create -f " + (dir.path() / "widget.yaml").string());
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
  auto conflict = run("create -f " + (dir.path() / "widget.yaml").string());
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

// A kind with a structural schema: spec.size, spec.parts[].name; status.phase.
constexpr char kGadgetCrd[] = R"({"apiVersion": "apiextensions.k8s.io/v1",
  "kind": "CustomResourceDefinition", "metadata": {"name": "gadgets.example.com"},
  "spec": {"group": "example.com", "scope": "Namespaced",
    "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
    "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
      "schema": {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"size": {"type": "integer"},
          "parts": {"type": "array", "items": {"type": "object",
                                               "properties": {"name": {"type": "string"}}}}}},
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}}}]}})";

const std::string kGadgets = "/apis/example.com/v1/namespaces/default/gadgets";

class FieldValidationTest : public TestApiServerTest {
 protected:
  void SetUp() override {
    TestApiServerTest::SetUp();
    auto r = Send("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", kGadgetCrd);
    ASSERT_EQ(r.first, 201) << r.second;
  }
  // (status, body, Warning header values)
  std::tuple<int, Json, std::vector<std::string>> Write(const std::string& method,
                                                        const std::string& path,
                                                        const std::string& body,
                                                        const std::string& type) {
    httplib::Result r = method == "POST"  ? client_->Post(path.c_str(), body, type.c_str())
                        : method == "PUT" ? client_->Put(path.c_str(), body, type.c_str())
                                          : client_->Patch(path.c_str(), body, type.c_str());
    if (!r) return {-1, Json(), {}};
    std::vector<std::string> warnings;
    auto [from, to] = r->headers.equal_range("Warning");
    for (auto it = from; it != to; ++it) warnings.push_back(it->second);
    return {r->status, Json::parse(r->body, nullptr, false), warnings};
  }
};

constexpr char kMisspelt[] = R"({"apiVersion": "example.com/v1", "kind": "Gadget",
  "metadata": {"name": "g"}, "spec": {"size": 1, "size": 2, "parts": [{"name": "a", "nmae": "b"}]}})";

TEST_F(FieldValidationTest, StrictRejectsUnknownAndDuplicateFields) {
  auto [code, body, warnings] =
      Write("POST", kGadgets + "?fieldValidation=Strict", kMisspelt, "application/json");
  EXPECT_EQ(code, 400) << body;
  EXPECT_EQ(body["kind"], "Status");
  EXPECT_EQ(body["reason"], "BadRequest");
  EXPECT_EQ(body["message"],
            "Gadget in version \"v1\" cannot be handled as a Gadget: strict decoding error: "
            "duplicate field \"spec.size\", unknown field \"spec.parts[0].nmae\"");
  EXPECT_EQ(Send("GET", kGadgets + "/g").first, 404);  // nothing stored
  auto bad = Write("POST", kGadgets + "?fieldValidation=strict", kMisspelt, "application/json");
  EXPECT_EQ(std::get<0>(bad), 422) << std::get<1>(bad);
}

TEST_F(FieldValidationTest, WarnIsTheDefaultAndPrunes) {
  auto [code, body, warnings] = Write("POST", kGadgets, kMisspelt, "application/json");
  ASSERT_EQ(code, 201) << body;
  EXPECT_EQ(warnings,
            (std::vector<std::string>{"299 - \"duplicate field \\\"spec.size\\\"\"",
                                      "299 - \"unknown field \\\"spec.parts[0].nmae\\\"\""}));
  EXPECT_EQ(body["spec"], Json::parse(R"({"size": 2, "parts": [{"name": "a"}]})"));
  EXPECT_EQ(Send("GET", kGadgets + "/g").second["spec"], body["spec"]);
  // Updates and status writes are pruned too.
  Json next = body;
  next["spec"]["colour"] = "red";
  next["status"] = {{"phase", "Ready"}, {"phsae", "x"}};
  auto [put_code, put_body, put_warnings] =
      Write("PUT", kGadgets + "/g/status?fieldValidation=Warn", next.dump(), "application/json");
  ASSERT_EQ(put_code, 200) << put_body;
  EXPECT_EQ(put_warnings.size(), 2u);
  EXPECT_EQ(put_body["status"], Json::parse(R"({"phase": "Ready"})"));
  EXPECT_FALSE(put_body["spec"].contains("colour"));
}

TEST_F(FieldValidationTest, IgnoreDropsSilently) {
  auto [code, body, warnings] =
      Write("POST", kGadgets + "?fieldValidation=Ignore", kMisspelt, "application/json");
  ASSERT_EQ(code, 201) << body;
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(body["spec"], Json::parse(R"({"size": 2, "parts": [{"name": "a"}]})"));
}

TEST_F(FieldValidationTest, PatchesAreCheckedOnThePatchedObject) {
  ASSERT_EQ(std::get<0>(Write("POST", kGadgets, R"({"metadata": {"name": "g"}, "spec": {}})",
                              "application/json")),
            201);
  auto [code, body, warnings] = Write("PATCH", kGadgets + "/g?fieldValidation=Strict",
                                      R"({"spec": {"sise": 3}})", "application/merge-patch+json");
  EXPECT_EQ(code, 422) << body;
  EXPECT_EQ(body["reason"], "Invalid");
  EXPECT_NE(
      body["message"].get<std::string>().find("strict decoding error: unknown field \"spec.sise\""),
      std::string::npos)
      << body;
  auto json_patch =
      Write("PATCH", kGadgets + "/g", R"([{"op": "add", "path": "/spec/sise", "value": 3}])",
            "application/json-patch+json");
  EXPECT_EQ(std::get<0>(json_patch), 200) << std::get<1>(json_patch);
  EXPECT_EQ(std::get<2>(json_patch),
            std::vector<std::string>{"299 - \"unknown field \\\"spec.sise\\\"\""});
  EXPECT_EQ(std::get<1>(json_patch)["spec"], Json::object());
}

TEST_F(FieldValidationTest, PreservedFieldsAreKept) {
  Json w = CreateWidget("w", 1);  // widgets: x-kubernetes-preserve-unknown-fields at the root
  auto [code, body, warnings] =
      Write("POST", kWidgets + "?fieldValidation=Strict",
            R"({"metadata": {"name": "x"}, "spec": {"anything": {"at": "all"}}, "more": 1})",
            "application/json");
  ASSERT_EQ(code, 201) << body;
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(body["spec"]["anything"]["at"], "all");
  EXPECT_EQ(body["more"], 1);
  auto meta = Write("POST", kWidgets + "?fieldValidation=Strict",
                    R"({"metadata": {"name": "y", "lables": {}}})", "application/json");
  EXPECT_EQ(std::get<0>(meta), 400);
  EXPECT_NE(
      std::get<1>(meta)["message"].get<std::string>().find("unknown field \"metadata.lables\""),
      std::string::npos);
}

TEST_F(FieldValidationTest, OpenApiDocumentsAreServed) {
  auto discovery = Send("GET", "/openapi/v3");
  ASSERT_EQ(discovery.first, 200);
  for (const char* gv : {"api/v1", "apis/example.com/v1", "apis/apps/v1"}) {
    EXPECT_TRUE(discovery.second["paths"].contains(gv)) << gv << discovery.second;
  }
  const std::string url = discovery.second["paths"]["apis/example.com/v1"]["serverRelativeURL"];
  httplib::Result doc = client_->Get(url.c_str(), {{"Accept", "application/json"}});
  ASSERT_TRUE(doc);
  ASSERT_EQ(doc->status, 200);
  EXPECT_EQ(doc->get_header_value("Cache-Control"), "public, immutable");
  Json v3 = Json::parse(doc->body);
  EXPECT_EQ(
      v3["components"]["schemas"]["com.example.v1.Gadget"]["properties"]["spec"],
      Json::parse(
          kGadgetCrd)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]);
  EXPECT_TRUE(v3["paths"]["/apis/example.com/v1/namespaces/{namespace}/gadgets/{name}"]["patch"]
                  .is_object());
  // A changed CRD changes the hash: the old URL redirects to the new one.
  ASSERT_EQ(Send("DELETE",
                 "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                 "widgets.example.com")
                .first,
            200);
  httplib::Result stale = client_->Get(url.c_str());
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 301);
  EXPECT_EQ(client_->Get("/openapi/v3/apis/nothing.example.com/v1")->status, 404);
  // Swagger 2.0 as JSON; protobuf only (client-go's request) is not acceptable.
  httplib::Result v2 = client_->Get("/openapi/v2", {{"Accept", "application/json"}});
  ASSERT_TRUE(v2);
  EXPECT_EQ(Json::parse(v2->body)["swagger"], "2.0");
  httplib::Result pb = client_->Get(
      "/openapi/v2", {{"Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"}});
  ASSERT_TRUE(pb);
  EXPECT_EQ(pb->status, 406);
}

// kubectl's default validation (strict) through the server: a misspelt field is named and
// rejected on create and on apply to an existing object; --validate=warn warns and prunes.
TEST_F(FieldValidationTest, KubectlValidatesOnTheServer) {
  TempDir dir;
  const std::string kubeconfig = (dir.path() / "kubeconfig").string();
  std::ofstream(kubeconfig) << server_->Kubeconfig();
  auto run = [&](const std::string& args) {
    const std::string out = (dir.path() / "out.txt").string();
    const int rc =
        std::system(("kubectl --kubeconfig " + kubeconfig + " --cache-dir " +
                     (dir.path() / "cache").string() + " " + args + " > " + out + " 2>&1")
                        .c_str());
    std::ifstream in(out);
    std::stringstream ss;
    ss << in.rdbuf();
    return std::pair<int, std::string>{WEXITSTATUS(rc), ss.str()};
  };
  const std::string file = (dir.path() / "gadget.yaml").string();
  auto write = [&](const std::string& spec) {
    std::ofstream(file) << "apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: k\n"
                        << "spec:\n"
                        << spec;
  };
  write("  size: 1\n  sise: 2\n");
  auto rejected = run("apply -f " + file);
  EXPECT_NE(rejected.first, 0) << rejected.second;
  EXPECT_NE(rejected.second.find("strict decoding error: unknown field \"spec.sise\""),
            std::string::npos)
      << rejected.second;
  write("  size: 1\n");
  auto created = run("apply -f " + file);
  ASSERT_EQ(created.first, 0) << created.second;
  EXPECT_EQ(created.second, "gadget.example.com/k created\n");
  write("  size: 2\n  parts:\n  - nmae: a\n");
  auto patch_rejected = run("apply -f " + file);
  EXPECT_NE(patch_rejected.first, 0) << patch_rejected.second;
  EXPECT_NE(patch_rejected.second.find("unknown field \"spec.parts[0].nmae\""), std::string::npos)
      << patch_rejected.second;
  EXPECT_EQ(run("get gadget k -o jsonpath={.spec.size}").second, "1");
  auto warned = run("apply --validate=warn -f " + file);
  EXPECT_EQ(warned.first, 0) << warned.second;
  EXPECT_NE(warned.second.find("Warning: unknown field \"spec.parts[0].nmae\""), std::string::npos)
      << warned.second;
  EXPECT_EQ(run("get gadget k -o jsonpath={.spec}").second, R"({"parts":[{}],"size":2})");
  write("  size: 3\n");
  auto patched = run("apply -f " + file);
  EXPECT_EQ(patched.first, 0) << patched.second;
  EXPECT_EQ(patched.second, "gadget.example.com/k configured\n");
  // Built-in kinds are validated on the server as well, and applying a changed Deployment
  // (a strategic merge patch, computed from kubectl's own types) prints no warning.
  std::ofstream(file) << "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n"
                      << "  template:\n    spec:\n      containers: [{name: c, image: a}]\n";
  ASSERT_EQ(run("apply -f " + file).first, 0);
  std::ofstream(file) << "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n"
                      << "  template:\n    spec:\n      containers: [{name: c, image: b}]\n";
  auto deploy = run("apply -f " + file);
  EXPECT_EQ(deploy.first, 0) << deploy.second;
  EXPECT_EQ(deploy.second, "deployment.apps/d configured\n");
  std::ofstream(file) << "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n";
  auto cm = run("apply -f " + file);
  EXPECT_EQ(cm.first, 0) << cm.second;
  std::ofstream(file) << "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\ndatas:\n  a: b\n";
  auto bad_cm = run("apply -f " + file);
  EXPECT_NE(bad_cm.first, 0) << bad_cm.second;
  EXPECT_NE(bad_cm.second.find("unknown field \"datas\""), std::string::npos) << bad_cm.second;
}

}  // namespace
}  // namespace iter8::testing
