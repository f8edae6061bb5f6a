// Compatibility with the original project's resources: every Experiment and Metric under
// ../shared/reference/iter8 loads, and YAML -> model -> YAML -> model (and JSON likewise) is the
// identity.
#include "test/testing/reference.h"

#include <gtest/gtest.h>

#include "api/convert.h"
#include "api/document.h"
#include "api/load.h"
#include "api/validate.h"

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

// Fixtures the original's API server rejected (etc3 test/data/invalid*.yaml). One exception:
// the v2alpha1 "invalid-extra-field" metric is only an unknown field, which iter8 keeps (the
// API server would prune it) because reading and writing a resource must lose nothing.
// Also the handler's fixtures for malformed experiments, which the CRD schema does not admit
// either: a task `23` (experiment3), `actions: 42` (experiment5), `start: "..."` (experiment9)
// and testingPattern `A/B/n` (notification/slack3).
bool ExpectedInvalid(const fs::path& p) {
  const std::string s = p.string();
  for (const char* bad :
       {"handler/testdata/experiment3.yaml", "handler/testdata/experiment5.yaml",
        "handler/testdata/experiment9.yaml", "handler/testdata/notification/slack3.yaml"}) {
    const std::string b = bad;
    if (s.size() >= b.size() && s.compare(s.size() - b.size(), b.size(), b) == 0) return true;
  }
  return p.filename().string().rfind("invalid", 0) == 0 && s.find("/etc3") != std::string::npos &&
         s.find("etc3--v0.1.1-alpha/test/data/invalid7.yaml") == std::string::npos;
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
  for (const auto& path :
       ::iter8::testing::FilesUnder(ReferenceDir() / "iter8", {".yaml", ".yml", ".json"})) {
    auto docs = ParseDocuments(ReadFileOrDie(path), path.string());
    if (!docs.ok()) continue;  // not every reference file is YAML we read (e.g. templates)
    for (const Document& doc : *docs) {
      if (!IsIter8Resource(doc.json)) continue;
      SCOPED_TRACE(doc.Locate(""));
      absl::StatusOr<Resource> r = LoadResource(doc);
      if (ExpectedInvalid(path)) {
        // Rejected when loading (types, enums, required fields) or by validation (schema).
        std::vector<FieldError> problems;
        if (r.ok()) {
          problems = std::visit([](auto& x) { return Validate(x); }, *r);
        }
        EXPECT_TRUE(!r.ok() || !problems.empty()) << "the original rejected this fixture";
        if (!r.ok()) {
          // Problems are located in the file.
          EXPECT_NE(r.status().message().find(path.string() + ":"), std::string::npos)
              << r.status();
        }
        ++rejected;
        continue;
      }
      EXPECT_TRUE(r.ok()) << r.status();
      if (!r.ok()) continue;
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
  EXPECT_EQ(rejected, 17) << "etc3 invalid*.yaml (2 x 7, less one) and four handler fixtures";
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
    // These are bodies of requests to the analytics service: no apiVersion, kind or target,
    // and metrics in the v2alpha1 spelling (type: counter). Everything else must decode.
    Decoded<Experiment> d = DecodeExperimentV2alpha1((*docs)[0].json);
    EXPECT_EQ(d.errors, (std::vector<FieldError>{{"/spec/target", "Required value"}}))
        << JoinErrors(d.errors);
    EXPECT_FALSE(d.value.status.metrics.empty());
    EXPECT_TRUE(d.value.spec.version_info.has_value());
    EXPECT_TRUE(d.value.status.start_time.has_value());
  }
}

}  // namespace
}  // namespace iter8::api
