// File: proxy/balancer_test.cc
#include "proxy/balancer.h"

#include <cmath>
#include <map>

#include "gtest/gtest.h"

namespace iter8::proxy {
namespace {

TEST(SmoothWeightedPickerTest, MillionPicksWithinATenthOfAPercent) {
  const std::vector<int64_t> weights = {90, 7, 3};
  SmoothWeightedPicker picker(weights);
  std::vector<int64_t> counts(3, 0);
  constexpr int kPicks = 1'000'000;
  for (int i = 0; i < kPicks; ++i) ++counts[static_cast<size_t>(picker.Pick())];
  for (size_t i = 0; i < weights.size(); ++i) {
    double share = static_cast<double>(counts[i]) / kPicks;
    EXPECT_NEAR(share, weights[i] / 100.0, 0.001) << i;
  }
}

TEST(SmoothWeightedPickerTest, ExactOverEveryWindowOfTotalWeight) {
  SmoothWeightedPicker picker({5, 1, 1});
  for (int round = 0; round < 50; ++round) {
    std::vector<int> counts(3, 0);
    for (int i = 0; i < 7; ++i) ++counts[static_cast<size_t>(picker.Pick())];
    EXPECT_EQ(counts, (std::vector<int>{5, 1, 1})) << round;
  }
}

TEST(SmoothWeightedPickerTest, SpreadsPicksOut) {
  // nginx's example: weights 5,1,1 give a a b a c a a (never five a's in a row).
  SmoothWeightedPicker picker({5, 1, 1});
  std::string seq;
  for (int i = 0; i < 7; ++i) seq += static_cast<char>('a' + picker.Pick());
  EXPECT_EQ(seq, "aabacaa");
}

TEST(SmoothWeightedPickerTest, ZeroWeights) {
  SmoothWeightedPicker none({0, 0});
  EXPECT_EQ(none.Pick(), -1);
  SmoothWeightedPicker only({0, 100});
  for (int i = 0; i < 10; ++i) EXPECT_EQ(only.Pick(), 1);
  SmoothWeightedPicker empty;
  EXPECT_EQ(empty.Pick(), -1);
}

TEST(RendezvousTest, StableAcrossProcessesAndRuns) {
  // The hash is part of the contract: a user keeps their version after a restart or an upgrade.
  EXPECT_EQ(StableHash("user-1", "canary", 0x17e8), StableHash("user-1", "canary", 0x17e8));
  EXPECT_NE(StableHash("user-1", "canary", 0x17e8), StableHash("user-1", "default", 0x17e8));
  EXPECT_NE(StableHash("ab", "c", 1), StableHash("a", "bc", 1));
  EXPECT_EQ(StableHash("user-1", "canary", 0x17e8), 0x2d4987701041a18cULL)
      << std::hex << StableHash("user-1", "canary", 0x17e8);
}

TEST(RendezvousTest, ShareOfKeysMatchesWeights) {
  const std::vector<std::string> names = {"default", "canary"};
  const std::vector<int64_t> weights = {80, 20};
  int canary = 0;
  constexpr int kKeys = 200'000;
  for (int k = 0; k < kKeys; ++k) {
    canary += RendezvousPick("user-" + std::to_string(k), names, weights, 7) == 1;
  }
  EXPECT_NEAR(static_cast<double>(canary) / kKeys, 0.20, 0.005);
}

// Counts keys whose version differs between two weightings, and checks every moved key went to
// `gainer`.
int MovedKeys(const std::vector<std::string>& names, const std::vector<int64_t>& before,
              const std::vector<int64_t>& after, int gainer) {
  int moved = 0;
  for (int k = 0; k < 100'000; ++k) {
    std::string key = "k" + std::to_string(k);
    int b = RendezvousPick(key, names, before, 1);
    int a = RendezvousPick(key, names, after, 1);
    if (a == b) continue;
    ++moved;
    EXPECT_EQ(a, gainer) << key;
  }
  return moved;
}

TEST(RendezvousTest, CanaryStepMovesOnlyTheKeysThatMust) {
  // 90/10 -> 70/30: exactly the keys needed (about 20 % of them) move, all to the canary.
  int moved = MovedKeys({"default", "canary"}, {90, 10}, {70, 30}, 1);
  EXPECT_NEAR(moved / 100'000.0, 0.20, 0.01);
}

TEST(RendezvousTest, GrowingOneVersionOnlyMovesKeysToIt) {
  // Three versions, only the canary's weight grows: no key moves between the other two.
  int moved = MovedKeys({"default", "canary", "shadow"}, {70, 20, 10}, {70, 40, 10}, 1);
  // The canary's share goes from 20 % to 33.3 %.
  EXPECT_NEAR(moved / 100'000.0, 40.0 / 120 - 0.2, 0.01);
}

TEST(RendezvousTest, ZeroWeightNeverChosen) {
  const std::vector<std::string> names = {"a", "b"};
  for (int k = 0; k < 1000; ++k) {
    EXPECT_EQ(RendezvousPick(std::to_string(k), names, {0, 5}, 3), 1);
  }
  EXPECT_EQ(RendezvousPick("x", names, {0, 0}, 3), -1);
}

}  // namespace
}  // namespace iter8::proxy
