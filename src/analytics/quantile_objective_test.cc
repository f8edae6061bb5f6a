#include "analytics/quantile_objective.h"

#include <gtest/gtest.h>

#include <limits>

namespace iter8::analytics {
namespace {

const double kInf = std::numeric_limits<double>::infinity();
const std::vector<double> kBounds = {50, 100, 250, 500, kInf};

// Cumulative counts of N requests from shares <= each finite bound.
std::vector<double> Counts(double n, std::vector<double> shares) {
  std::vector<double> c;
  for (double s : shares) c.push_back(n * s);
  c.push_back(n);
  return c;
}

TEST(QuantileObjectiveTest, ExactAtABucketBound) {
  // p95 <= 250 ms; 97 % of 10,000 requests are <= 250: exceedance 3 % < 5 %.
  auto good = AssessQuantile(kBounds, Counts(10000, {0.5, 0.9, 0.97, 0.99}), {0.95, 250}, 0.05);
  EXPECT_TRUE(good.exact);
  EXPECT_EQ(good.verdict, Verdict::kSatisfies);
  // Only 90 % <= 250: exceedance 10 % > 5 %.
  auto bad = AssessQuantile(kBounds, Counts(10000, {0.5, 0.7, 0.9, 0.99}), {0.95, 250}, 0.05);
  EXPECT_EQ(bad.verdict, Verdict::kViolates);
}

TEST(QuantileObjectiveTest, NotEnoughEvidenceIsUndecided) {
  auto r = AssessQuantile(kBounds, Counts(40, {0.5, 0.9, 0.95, 0.99}), {0.95, 250}, 0.05);
  EXPECT_EQ(r.verdict, Verdict::kUndecided);
  auto none = AssessQuantile(kBounds, Counts(0, {0, 0, 0, 0}), {0.95, 250}, 0.05);
  EXPECT_EQ(none.verdict, Verdict::kUndecided);
  EXPECT_EQ(none.log_e_satisfies, 0);
}

TEST(QuantileObjectiveTest, LimitBetweenBoundsUsesTheSafeSideOrAdmitsResolution) {
  // X = 200 lies in (100, 250]. 99 % <= 100: certified below X through b- = 100.
  auto clear = AssessQuantile(kBounds, Counts(10000, {0.6, 0.99, 0.995, 0.999}), {0.95, 200}, 0.05);
  EXPECT_FALSE(clear.exact);
  EXPECT_EQ(clear.verdict, Verdict::kSatisfies);
  // 80 % <= 250: certified above X through b+ = 250.
  auto over = AssessQuantile(kBounds, Counts(10000, {0.3, 0.6, 0.8, 0.9}), {0.95, 200}, 0.05);
  EXPECT_EQ(over.verdict, Verdict::kViolates);
  // 90 % <= 100 and 99 % <= 250: the p95 is in (100, 250], which the buckets cannot place
  // relative to 200.
  auto gap = AssessQuantile(kBounds, Counts(10000, {0.5, 0.9, 0.99, 0.999}), {0.95, 200}, 0.05);
  EXPECT_EQ(gap.verdict, Verdict::kResolutionLimited);
}

TEST(QuantileObjectiveTest, MalformedInputGivesNoVerdict) {
  EXPECT_EQ(AssessQuantile({}, {}, {0.95, 1}, 0.05).verdict, Verdict::kUndecided);
  EXPECT_EQ(AssessQuantile(kBounds, {1, 2}, {0.95, 1}, 0.05).verdict, Verdict::kUndecided);
  EXPECT_EQ(
      AssessQuantile(kBounds, Counts(10000, {0.5, 0.9, 0.97, 0.99}), {1.5, 250}, 0.05).verdict,
      Verdict::kUndecided);
  // Non-monotone counts from an inexact backend are clamped, never crash.
  (void)AssessQuantile(kBounds, {9000, 8000, 12000, -5, 10000}, {0.95, 250}, 0.05);
}

}  // namespace
}  // namespace iter8::analytics
