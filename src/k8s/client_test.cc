// The Kubernetes client against the in-tree test API server (test/apiserver; not Kubernetes,
// a stand-in that enforces the API semantics the client relies on).
#include "k8s/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "test/apiserver/test_apiserver.h"

namespace iter8::k8s {
namespace {

constexpr char kCrd[] = R"({"apiVersion": "apiextensions.k8s.io/v1",
  "kind": "CustomResourceDefinition", "metadata": {"name": "experiments.iter8.tools"},
  "spec": {"group": "iter8.tools", "scope": "Namespaced",
    "names": {"plural": "experiments", "singular": "experiment", "kind": "Experiment"},
    "versions": [{"name": "v2alpha2", "served": true, "storage": true,
                  "subresources": {"status": {}}}]}})";

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok());
    absl::StatusOr<ClusterConfig> config = ParseKubeconfig(server_.Kubeconfig(), "test");
    ASSERT_TRUE(config.ok()) << config.status();
    ClientOptions o;
    o.backoff = absl::Milliseconds(5);
    client_ = std::make_unique<Client>(*config, o);
    auto crds = client_->Discover("apiextensions.k8s.io/v1", "CustomResourceDefinition");
    ASSERT_TRUE(crds.ok()) << crds.status();
    ASSERT_TRUE(client_->Create(*crds, "", Json::parse(kCrd)).ok());
    auto exp = client_->Discover("iter8.tools/v2alpha2", "Experiment");
    ASSERT_TRUE(exp.ok()) << exp.status();
    experiments_ = *exp;
  }
  Json Experiment(const std::string& name) {
    return {{"apiVersion", "iter8.tools/v2alpha2"},
            {"kind", "Experiment"},
            {"metadata", {{"name", name}, {"namespace", "default"}}},
            {"spec", {{"target", "t"}}}};
  }

  testing::TestApiServer server_;
  std::unique_ptr<Client> client_;
  Resource experiments_;
};

TEST_F(ClientTest, DiscoveryMapsKindsToResources) {
  EXPECT_EQ(experiments_.plural, "experiments");
  EXPECT_TRUE(experiments_.namespaced);
  auto ns = client_->Discover("v1", "Namespace");
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(ns->plural, "namespaces");
  EXPECT_FALSE(ns->namespaced);
  EXPECT_TRUE(absl::IsNotFound(client_->Discover("v1", "Nothing").status()));
  EXPECT_EQ(client_->Discover("example.com/v9", "Widget").status().message(),
            "the server has no API example.com/v9");
}

TEST_F(ClientTest, CrudWithConflictsAndTheStatusSubresource) {
  auto created = client_->Create(experiments_, "default", Experiment("e"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(
      absl::IsAlreadyExists(client_->Create(experiments_, "default", Experiment("e")).status()));
  Json stale = *created;
  Json next = *created;
  next["spec"]["target"] = "u";
  auto updated = client_->Update(experiments_, next);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ((*updated)["spec"]["target"], "u");
  // The old version is stale: a conflict, to be re-read and retried by the caller.
  stale["spec"]["target"] = "v";
  absl::Status conflict = client_->Update(experiments_, stale).status();
  EXPECT_TRUE(absl::IsAborted(conflict)) << conflict;
  EXPECT_NE(conflict.message().find("the object has been modified"), std::string::npos);
  // Status subresource.
  Json with_status = *updated;
  with_status["status"] = {{"stage", "Running"}};
  auto st = client_->Update(experiments_, with_status, /*status=*/true);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ((*st)["status"]["stage"], "Running");
  // Patches: JSON patch add (the weight patches' op) and merge patch.
  auto jp = client_->Patch(experiments_, "default", "e", PatchType::kJson,
                           Json::parse(R"([{"op": "add", "path": "/spec/duration",
                                           "value": {"intervalSeconds": 5}}])"));
  ASSERT_TRUE(jp.ok()) << jp.status();
  EXPECT_EQ((*jp)["spec"]["duration"]["intervalSeconds"], 5);
  auto bad = client_->Patch(experiments_, "default", "e", PatchType::kJson,
                            Json::parse(R"([{"op": "replace", "path": "/spec/x/y", "value": 1}])"));
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status())) << bad.status();
  auto mp = client_->Patch(experiments_, "default", "e", PatchType::kMerge,
                           Json::parse(R"({"status": {"stage": "Completed"}})"), /*status=*/true);
  ASSERT_TRUE(mp.ok());
  EXPECT_EQ((*client_->Get(experiments_, "default", "e"))["status"]["stage"], "Completed");
  ASSERT_TRUE(client_->Delete(experiments_, "default", "e").ok());
  EXPECT_TRUE(absl::IsNotFound(client_->Get(experiments_, "default", "e").status()));
  EXPECT_TRUE(absl::IsNotFound(client_->Delete(experiments_, "default", "e")));
}

TEST_F(ClientTest, ListFollowsEveryPage) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(client_->Create(experiments_, "default", Experiment("e" + std::to_string(i))).ok());
  }
  std::string rv;
  const int64_t before = client_->Requests();
  auto items = client_->List(experiments_, "default", &rv, "", /*page_size=*/3);
  ASSERT_TRUE(items.ok()) << items.status();
  EXPECT_EQ(items->size(), 7u);
  EXPECT_EQ(client_->Requests() - before, 3);  // 3 + 3 + 1
  EXPECT_FALSE(rv.empty());
}

TEST_F(ClientTest, RetriesServerErrorsWithBackoffThenGivesUp) {
  ASSERT_TRUE(client_->Create(experiments_, "default", Experiment("e")).ok());
  server_.FailNextRequests(3, 503);
  auto got = client_->Get(experiments_, "default", "e");
  EXPECT_TRUE(got.ok()) << got.status();  // 3 failures, the 4th attempt succeeds
  server_.FailNextRequests(10, 500);
  absl::Status down = client_->Get(experiments_, "default", "e").status();
  EXPECT_TRUE(absl::IsUnavailable(down)) << down;
  EXPECT_EQ(down.message(), "HTTP 500 InternalError: injected failure");
  server_.FailNextRequests(0, 500);
  server_.FailNextRequests(1, 404);  // not retried
  EXPECT_TRUE(absl::IsNotFound(client_->Get(experiments_, "default", "e").status()));
}

TEST_F(ClientTest, WatchStreamsEventsAndReportsAnExpiredVersion) {
  auto created = client_->Create(experiments_, "default", Experiment("e"));
  ASSERT_TRUE(created.ok());
  const std::string from = (*created)["metadata"]["resourceVersion"];
  std::vector<std::string> seen;
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    (void)client_->Patch(experiments_, "default", "e", PatchType::kMerge,
                         Json::parse(R"({"spec": {"target": "w"}})"));
    (void)client_->Delete(experiments_, "default", "e");
  });
  absl::Status s = client_->Watch(
      experiments_, "default", from,
      [&](const std::string& type, const Json& object) {
        if (type != "BOOKMARK") {
          seen.push_back(type + " " + object["metadata"]["name"].get<std::string>());
        }
        return seen.size() < 2;
      },
      10);
  writer.join();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(seen, (std::vector<std::string>{"MODIFIED e", "DELETED e"}));
  // A dropped stream ends the call without an error: the caller watches again.
  std::atomic<bool> done{false};
  std::thread dropper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    server_.DropWatches();
    done = true;
  });
  s = client_->Watch(
      experiments_, "default", "", [](const std::string&, const Json&) { return true; }, 10);
  dropper.join();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_TRUE(done);
  // After compaction the old version is gone: OutOfRange, so the caller relists.
  server_.CompactHistory();
  s = client_->Watch(
      experiments_, "default", from, [](const std::string&, const Json&) { return true; }, 10);
  EXPECT_TRUE(absl::IsOutOfRange(s)) << s;
}

TEST(StatusFromResponseTest, CodesAndMessagesFromStatusObjects) {
  auto status = [](int code, const std::string& reason) {
    return Json{{"kind", "Status"}, {"code", code}, {"reason", reason}, {"message", "why"}}.dump();
  };
  EXPECT_TRUE(absl::IsAlreadyExists(StatusFromResponse(409, status(409, "AlreadyExists"))));
  EXPECT_TRUE(absl::IsAborted(StatusFromResponse(409, status(409, "Conflict"))));
  EXPECT_TRUE(absl::IsOutOfRange(StatusFromResponse(410, status(410, "Expired"))));
  EXPECT_TRUE(
      absl::IsInvalidArgument(StatusFromResponse(415, status(415, "UnsupportedMediaType"))));
  EXPECT_TRUE(absl::IsPermissionDenied(StatusFromResponse(403, status(403, "Forbidden"))));
  EXPECT_TRUE(absl::IsUnavailable(StatusFromResponse(429, status(429, "TooManyRequests"))));
  EXPECT_EQ(StatusFromResponse(422, status(422, "Invalid")).message(), "HTTP 422 Invalid: why");
  // Not a Status object (a proxy in the way): the body itself.
  EXPECT_EQ(StatusFromResponse(502, "<html>bad gateway</html>").message(),
            "HTTP 502: <html>bad gateway</html>");
}

}  // namespace
}  // namespace iter8::k8s
