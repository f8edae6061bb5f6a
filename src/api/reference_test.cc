// Compatibility with the original project's resources: every Experiment and Metric under
// ../shared/reference/iter8 loads, and YAML -> model -> YAML -> model (and JSON likewise) is the
// identity.
#include <gtest/gtest.h>

#include "api/document.h"
#include "api/load.h"
#include "api/validate.h"
#include "test/testing/reference.h"

namespace iter8::api {
namespace {

namespace fs = std::filesystem;
using ::iter8::testing::ReadFileOrDie;
using ::iter8::testing::ReferenceDir;

bool IsIter8Resource(const Json& j) {
  if (!j.is_object() || !j.contains("apiVersion") || !j["apiVersion"].is_string()) return false;
  std::string v = j["apiVersion"];
  std::string kind = j.value("kind", "");
  return v.rfind("iter8.tools/", 0) == 0 && (kind == "Experiment" || kind == "Metric");
}

// Fixtures the original's API server rejected (etc3 test/data/invalid*.yaml).
bool ExpectedInvalid(const fs::path& p) {
  return p.filename().string().rfind("invalid", 0) == 0 &&
         p.string().find("/etc3") != std::string::npos;
}

Json Encode(const Resource& r) {
  return std::visit([](const auto& x) { return EncodeResource(x); }, r);
}

absl::StatusOr<Resource> Reload(const std::string& text) {
  auto docs = ParseDocuments(text, "roundtrip");
  if (!docs.ok()) return docs.status();
  return LoadResource((*docs)[0]);
}

TEST(ReferenceTest, EveryExperimentAndMetricLoadsAndRoundTrips) {
  ITER8_REQUIRE_REFERENCE();
  int loaded = 0, rejected = 0, v2alpha1 = 0;
  for (const auto& path : ::iter8::testing::FilesUnder(ReferenceDir() / "iter8",
                                                       {".yaml", ".yml", ".json"})) {
    auto docs = ParseDocuments(ReadFileOrDie(path), path.string());
    if (!docs.ok()) continue;  // not every reference file is YAML we read (e.g. templates)
    for (const Document& doc : *docs) {
      if (!IsIter8Resource(doc.json)) continue;
      SCOPED_TRACE(doc.Locate(""));
      absl::StatusOr<Resource> r = LoadResource(doc);
      if (ExpectedInvalid(path)) {
        EXPECT_FALSE(r.ok()) << "the original rejected this fixture";
        if (!r.ok()) {
          // Problems are located in the file.
          EXPECT_NE(r.status().message().find(path.string() + ":"), std::string::npos)
              << r.status();
        }
        ++rejected;
        continue;
      }
      ASSERT_TRUE(r.ok()) << r.status();
      ++loaded;
      Json once = Encode(*r);
      if (once["apiVersion"] == kV2alpha1) ++v2alpha1;
      // YAML round trip.
      std::string yaml = ToYaml(once);
      absl::StatusOr<Resource> again = Reload(yaml);
      ASSERT_TRUE(again.ok()) << again.status() << "\n" << yaml;
      EXPECT_EQ(Encode(*again), once) << yaml;
      // JSON round trip.
      absl::StatusOr<Resource> from_json = Reload(once.dump(2));
      ASSERT_TRUE(from_json.ok()) << from_json.status();
      EXPECT_EQ(Encode(*from_json), once);
      // Unknown fields survive: the encoded form contains every key of the input's metadata.
      for (auto it = doc.json["metadata"].begin(); it != doc.json["metadata"].end(); ++it) {
        if (it.value().is_null()) continue;
        EXPECT_TRUE(once["metadata"].contains(it.key())) << it.key();
      }
      // Defaulting and validation never crash and defaulting is idempotent.
      if (auto* e = std::get_if<Experiment>(&*r)) {
        Experiment d1 = *e;
        ApplyDefaults(&d1);
        Experiment d2 = d1;
        ApplyDefaults(&d2);
        EXPECT_EQ(EncodeResource(d1), EncodeResource(d2));
        (void)Validate(d1);
      }
    }
  }
  EXPECT_GE(loaded, 80) << "too few reference resources found";
  EXPECT_GE(v2alpha1, 20);
  EXPECT_EQ(rejected, 14) << "etc3 invalid*.yaml fixtures (two tags x seven)";
}

TEST(ReferenceTest, AnalyticsRequestPayloadsDecodeAsExperiments) {
  ITER8_REQUIRE_REFERENCE();
  auto files = ::iter8::testing::FilesUnder(
      ReferenceDir() / "iter8/iter8-analytics/iter8_analytics/tests/integration/data/inputs",
      {".json"});
  ASSERT_EQ(files.size(), 5u);
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    auto docs = ParseDocuments(ReadFileOrDie(f), f.string());
    ASSERT_TRUE(docs.ok());
    Decoded<Experiment> d = DecodeExperiment((*docs)[0].json);
    EXPECT_TRUE(d.errors.empty()) << JoinErrors(d.errors);
    EXPECT_FALSE(d.value.status.metrics.empty());
  }
}

}  // namespace
}  // namespace iter8::api
