#include "cli/describe.h"

#include <gtest/gtest.h>

#include "api/document.h"
#include "api/load.h"
#include "test/testing/reference.h"

namespace iter8::cli {
namespace {

namespace fs = std::filesystem;
using ::iter8::testing::ReadFileOrDie;
using ::iter8::testing::ReferenceDir;

api::Experiment LoadExperimentFile(const fs::path& p) {
  auto docs = api::ParseDocuments(ReadFileOrDie(p), p.string());
  EXPECT_TRUE(docs.ok()) << docs.status();
  if (!docs.ok()) return {};
  auto e = api::LoadExperiment((*docs)[0]);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? *e : api::Experiment{};
}

// Every experimentN.yaml with its experimentN.out in one iter8ctl testdata folder.
void CheckGoldens(const fs::path& dir, DescribeFormat format, int expected_count) {
  int checked = 0;
  for (const auto& yaml : ::iter8::testing::FilesUnder(dir, {".yaml"})) {
    fs::path golden = yaml;
    golden.replace_extension(".out");
    if (!fs::exists(golden)) continue;
    SCOPED_TRACE(yaml.string());
    api::Experiment e = LoadExperimentFile(yaml);
    EXPECT_EQ(DescribeFormatFor(e), format);
    std::string want = ReadFileOrDie(golden);
    if (yaml.filename() == "experiment12.yaml" && format == DescribeFormat::kV2alpha2) {
      // iter8ctl v0.1.4 ships this golden with a corrupted first heading ("****** X Overview
      // ******"), which no input can produce; its own test used it as a must-not-match case.
      // Everything after that heading must match byte for byte.
      const std::string corrupted = "\n****** X Overview ******\n";
      ASSERT_EQ(want.rfind(corrupted, 0), 0u) << "golden changed; revisit this exception";
      want.replace(0, corrupted.size(), "\n****** Overview ******\n");
      EXPECT_NE(Describe(e, format), ReadFileOrDie(golden));
    }
    EXPECT_EQ(Describe(e, format), want);
    ++checked;
  }
  EXPECT_EQ(checked, expected_count) << "golden files found under " << dir;
}

TEST(DescribeTest, MatchesIter8ctlV014GoldenOutputs) {
  ITER8_REQUIRE_REFERENCE();
  CheckGoldens(ReferenceDir() / "iter8/iter8ctl/testdata", DescribeFormat::kV2alpha2, 12);
}

TEST(DescribeTest, MatchesIter8ctlV010AlphaGoldenOutputs) {
  ITER8_REQUIRE_REFERENCE();
  CheckGoldens(ReferenceDir() / "iter8/iter8ctl--v0.1.0-alpha/testdata", DescribeFormat::kV2alpha1,
               10);
}

TEST(DescribeTest, NotStartedExperimentShowsOnlyOverviewAndProgress) {
  api::Experiment e;
  e.metadata.name = "x";
  e.metadata.namespace_ = "ns";
  e.spec.target = "t";
  e.spec.strategy.testing_pattern = api::TestingPattern::kABN;
  EXPECT_EQ(Describe(e, DescribeFormat::kV2alpha2),
            "\n****** Overview ******\n"
            "Experiment name: x\nExperiment namespace: ns\nTarget: t\n"
            "Testing pattern: A/B/N\nDeployment pattern: Progressive\n"
            "\n****** Progress Summary ******\nNumber of completed iterations: 0\n\n");
}

TEST(DescribeTest, RewardTableMarksBestAndUnavailable) {
  api::Experiment e;
  e.spec.strategy.testing_pattern = api::TestingPattern::kABN;
  e.spec.version_info = api::VersionInfo{};
  e.spec.version_info->baseline.name = "a";
  e.spec.version_info->candidates.resize(2);
  e.spec.version_info->candidates[0].name = "b";
  e.spec.version_info->candidates[1].name = "c";
  e.spec.criteria = api::Criteria{};
  e.spec.criteria->rewards.push_back({"cost", api::PreferredDirection::kLow, {}});
  e.status.completed_iterations = 1;
  e.status.analysis = api::Analysis{};
  e.status.analysis->version_assessments = api::VersionAssessmentAnalysis{};
  e.status.analysis->aggregated_metrics = api::AggregatedMetricsAnalysis{};
  auto& data = e.status.analysis->aggregated_metrics->data["cost"].data;
  data["a"].value = *api::Quantity::Parse("5");
  data["c"].value = *api::Quantity::Parse("2");
  std::string out = Describe(e, DescribeFormat::kV2alpha2);
  EXPECT_NE(out.find("| cost (lower better) | 5.000 | unavailable | 2.000 * |"), std::string::npos)
      << out;
}

}  // namespace
}  // namespace iter8::cli
