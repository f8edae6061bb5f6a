#include "store/sqlite_store.h"

#include <gtest/gtest.h>

#include "test/testing/process.h"

namespace iter8::store {
namespace {

using api::Json;

Json Route(const std::string& name, int weight) {
  return Json::parse(R"({"apiVersion": "iter8.tools/v1alpha1", "kind": "Route",
    "metadata": {"name": ")" +
                     name + R"(", "namespace": "ns"},
    "spec": {"versions": [{"name": "default", "weight": )" +
                     std::to_string(weight) + "}]}}");
}

std::unique_ptr<SqliteStore> OpenOrDie(const std::string& path) {
  auto s = SqliteStore::Open(path);
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

TEST(SqliteStoreTest, CreateGetListDelete) {
  auto s = OpenOrDie(":memory:");
  auto created = s->Create(Route("a", 100));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["metadata"]["resourceVersion"], "1");
  EXPECT_FALSE((*created)["metadata"]["uid"].get<std::string>().empty());
  EXPECT_EQ(s->Create(Route("a", 1)).status().code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(s->Create(Route("b", 0)).ok());

  auto got = s->Get({"Route", "ns", "a"});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["spec"]["versions"][0]["weight"], 100);
  EXPECT_EQ(s->Get({"Route", "other", "a"}).status().code(), absl::StatusCode::kNotFound);

  auto all = s->List("Route", "");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[1]["metadata"]["name"], "b");
  EXPECT_TRUE(s->List("Route", "elsewhere")->empty());

  EXPECT_TRUE(s->Delete({"Route", "ns", "a"}).ok());
  EXPECT_EQ(s->Delete({"Route", "ns", "a"}).code(), absl::StatusCode::kNotFound);
  auto changes = s->Changes(0, 100);
  ASSERT_TRUE(changes.ok());
  ASSERT_EQ(changes->size(), 3u);
  EXPECT_EQ((*changes)[2].type, ChangeType::kDeleted);
  EXPECT_EQ((*changes)[2].key, (ObjectKey{"Route", "ns", "a"}));
  EXPECT_EQ(*s->Revision(), 3);
}

TEST(SqliteStoreTest, StaleWriteIsRefused) {
  auto s = OpenOrDie(":memory:");
  Json v1 = *s->Create(Route("a", 100));
  Json mine = v1;
  mine["spec"]["versions"][0]["weight"] = 50;
  Json v2 = *s->Update(mine);
  EXPECT_EQ(v2["metadata"]["resourceVersion"], "2");
  EXPECT_EQ(v2["metadata"]["generation"], 2);
  // Someone else still holds v1.
  Json theirs = v1;
  theirs["spec"]["versions"][0]["weight"] = 10;
  absl::StatusOr<Json> stale = s->Update(theirs);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_NE(stale.status().message().find(kConflictMessage), std::string::npos);
  EXPECT_EQ((*s->Get({"Route", "ns", "a"}))["spec"]["versions"][0]["weight"], 50);
  // Without a resourceVersion the update is unconditional.
  theirs["metadata"].erase("resourceVersion");
  EXPECT_TRUE(s->Update(theirs).ok());
}

TEST(SqliteStoreTest, StatusAndSpecAreWrittenSeparately) {
  auto s = OpenOrDie(":memory:");
  Json v1 = *s->Create(Route("a", 100));
  Json with_status = v1;
  with_status["status"] = {{"stage", "Running"}};
  with_status["spec"]["versions"][0]["weight"] = 1;  // ignored by UpdateStatus
  Json v2 = *s->UpdateStatus(with_status);
  EXPECT_EQ(v2["status"]["stage"], "Running");
  EXPECT_EQ(v2["spec"]["versions"][0]["weight"], 100);
  EXPECT_EQ(v2["metadata"]["generation"], 1);
  Json spec_update = v2;
  spec_update.erase("status");
  spec_update["spec"]["versions"][0]["weight"] = 7;
  Json v3 = *s->Update(spec_update);
  EXPECT_EQ(v3["status"]["stage"], "Running");  // kept
  EXPECT_EQ(v3["spec"]["versions"][0]["weight"], 7);
  // A no-op write makes no revision.
  const int64_t rev = *s->Revision();
  EXPECT_TRUE(s->Update(v3).ok());
  EXPECT_TRUE(s->UpdateStatus(v3).ok());
  EXPECT_EQ(*s->Revision(), rev);
}

TEST(SqliteStoreTest, MalformedObjectsAreRejected) {
  auto s = OpenOrDie(":memory:");
  EXPECT_EQ(s->Create(Json::parse(R"({"kind": "Route"})")).status().message(),
            "/metadata: required");
  EXPECT_EQ(s->Create(Json::parse(R"({"kind": "Route", "metadata": {}})")).status().message(),
            "/metadata/name: required");
  EXPECT_EQ(s->Create(Json::parse(R"({"metadata": {"name": "x"}})")).status().message(),
            "/kind: required");
  EXPECT_EQ(s->Create(Json::array()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->Update(Route("ghost", 1)).status().code(), absl::StatusCode::kNotFound);
}

TEST(SqliteStoreTest, SecondProcessSeesChangesAndDataSurvivesReopen) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "iter8.db").string();
  auto a = OpenOrDie(path);
  auto b = OpenOrDie(path);  // another connection, as another iter8 process would have
  ASSERT_TRUE(a->Create(Route("a", 100)).ok());
  auto seen = b->Changes(0, 10);
  ASSERT_TRUE(seen.ok());
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ((*seen)[0].type, ChangeType::kAdded);
  Json got = *b->Get({"Route", "ns", "a"});
  got["spec"]["versions"][0]["weight"] = 0;
  ASSERT_TRUE(b->Update(got).ok());
  EXPECT_EQ((*a->Get({"Route", "ns", "a"}))["spec"]["versions"][0]["weight"], 0);
  a.reset();
  b.reset();
  auto c = OpenOrDie(path);
  EXPECT_EQ((*c->Get({"Route", "ns", "a"}))["metadata"]["resourceVersion"], "2");
  EXPECT_EQ(*c->Revision(), 2);
}

TEST(SqliteStoreTest, RecordsKeepOnePerIterationOfTheLatestRun) {
  auto s = OpenOrDie(":memory:");
  ASSERT_TRUE(s->PutRecord("ns", "e", "run1", 1, {{"i", 1}}).ok());
  ASSERT_TRUE(s->PutRecord("ns", "e", "run1", 2, {{"i", 2}}).ok());
  ASSERT_TRUE(s->PutRecord("ns", "e", "run1", 2, {{"i", 22}}).ok());  // re-run after a crash
  auto r = s->Records("ns", "e");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1]["i"], 22);
  ASSERT_TRUE(s->PutRecord("ns", "e", "run2", 1, {{"i", 100}}).ok());  // retried experiment
  r = s->Records("ns", "e");
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0]["i"], 100);
  EXPECT_TRUE(s->Records("ns", "other")->empty());
}

TEST(SqliteStoreTest, UnopenableDatabaseIsAnError) {
  auto s = SqliteStore::Open("/nonexistent-dir/x/iter8.db");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("store:"), std::string::npos);
}

}  // namespace
}  // namespace iter8::store
