#include "traffic/traffic.h"

#include <gtest/gtest.h>

#include "store/sqlite_store.h"

namespace iter8::traffic {
namespace {

using api::Json;

class TrafficTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = *store::SqliteStore::Open(":memory:");
    ASSERT_TRUE(store_
                    ->Create(Json::parse(R"({"kind": "Route", "metadata": {"name": "r",
      "namespace": "ns"}, "spec": {"versions": [{"name": "a", "weight": 100},
      {"name": "b", "weight": 0, "label": "x"}]}})"))
                    .ok());
  }
  api::ObjectReference Ref(const std::string& path) {
    api::ObjectReference r;
    r.kind = "Route";
    r.namespace_ = "ns";
    r.name = "r";
    r.field_path = path;
    return r;
  }
  std::unique_ptr<store::SqliteStore> store_;
};

TEST_F(TrafficTest, PatchesAllOpsInOneWriteAndReadsBack) {
  StoreTrafficDriver d(*store_);
  engine::WeightPatch p{
      Ref(""), {{"a", "/spec/versions/0/weight", 70}, {"b", "/spec/versions/1/weight", 30}}};
  const int64_t before = *store_->Revision();
  ASSERT_TRUE(d.Apply(p).ok());
  EXPECT_EQ(*store_->Revision(), before + 1);
  EXPECT_EQ(*d.Read(Ref(".spec.versions[0].weight")), 70);
  EXPECT_EQ(*d.Read(Ref(".spec.versions[1].weight")), 30);
  EXPECT_EQ(*d.Read(Ref("/spec/versions/1/weight")), 30);  // v2alpha1 pointer form
}

TEST_F(TrafficTest, ReadErrorsNameTheObjectAndField) {
  StoreTrafficDriver d(*store_);
  auto missing = d.Read(Ref(".spec.versions[5].weight"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "Route ns/r: no field .spec.versions[5].weight");
  auto not_int = d.Read(Ref(".spec.versions[1].label"));
  EXPECT_EQ(not_int.status().message(),
            "Route ns/r: .spec.versions[1].label is not an integer: \"x\"");
  api::ObjectReference gone = Ref(".spec.w");
  gone.name = "gone";
  EXPECT_EQ(d.Read(gone).status().code(), absl::StatusCode::kNotFound);
  engine::WeightPatch bad{Ref(""), {{"a", "/spec/nothing/here", 1}}};
  EXPECT_EQ(d.Apply(bad).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace iter8::traffic
