#include "api/quantity.h"

#include <gtest/gtest.h>

namespace iter8::api {
namespace {

struct Case {
  const char* input;
  const char* canonical;
  // Short names in test listings (ctest shows the parameter).
  friend void PrintTo(const Case& c, std::ostream* os) { *os << c.input; }
};

class QuantityCanonicalTest : public ::testing::TestWithParam<Case> {};

TEST_P(QuantityCanonicalTest, ParsesAndPrintsAsKubernetes) {
  auto q = Quantity::Parse(GetParam().input);
  ASSERT_TRUE(q.ok()) << GetParam().input << ": " << q.status();
  EXPECT_EQ(q->ToString(), GetParam().canonical) << GetParam().input;
  // The canonical form parses back to the same value and prints the same.
  auto again = Quantity::Parse(q->ToString());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *q);
  EXPECT_EQ(again->ToString(), q->ToString());
}

INSTANTIATE_TEST_SUITE_P(
    Table, QuantityCanonicalTest,
    ::testing::Values(
        Case{"0", "0"}, Case{"0.0", "0"}, Case{"-0", "0"}, Case{"1000", "1k"}, Case{"1k", "1k"},
        Case{"10m", "10m"}, Case{"0.01", "10m"}, Case{"0.010", "10m"}, Case{"1", "1"},
        Case{"100", "100"}, Case{"1500", "1500"}, Case{"1.5k", "1500"},
        Case{"228419047620n", "228419047620n"}, Case{"228.41904762", "228419047620n"},
        Case{"228.41904761904762", "228419047620n"},  // rounded up at nano precision
        Case{"117.44444444444", "117444444445n"},     // spec.md 1.3
        Case{"-117.44444444444", "-117444444445n"},   // away from zero
        Case{"0.0000000001", "1n"}, Case{"1n", "1n"}, Case{"1u", "1u"}, Case{"1000n", "1u"},
        Case{"1e3", "1e3"}, Case{"1E3", "1e3"}, Case{"12e2", "1200"}, Case{"1e-3", "1e-3"},
        Case{"1.5e3", "1500"}, Case{"1M", "1M"}, Case{"1G", "1G"}, Case{"1T", "1T"},
        Case{"1P", "1P"}, Case{"1E", "1E"}, Case{"1Ki", "1Ki"}, Case{"1024", "1024"},
        Case{"1Mi", "1Mi"}, Case{"1536Ki", "1536Ki"}, Case{"1.5Ki", "1536"}, Case{"0.5Ki", "512"},
        Case{"1Gi", "1Gi"}, Case{"1024Ki", "1Mi"}, Case{"-1Mi", "-1Mi"}, Case{"+5", "5"},
        Case{".5", "500m"}, Case{"5.", "5"}, Case{"-5", "-5"}, Case{"-10m", "-10m"},
        Case{"100m", "100m"}, Case{"1234567", "1234567"}, Case{"12345678", "12345678"},
        Case{"5000000", "5M"}, Case{"1e21", "1e21"},
        Case{"123456789012345678901", "123456789012345678901"}));

TEST(QuantityTest, RejectsMalformedInputWithReason) {
  for (const char* bad : {"", "abc", "1.2.3", "1x", "--1", "1e", "e3", ".", "1 k", "1kk", "1Ki1",
                          "0x10", "1e1.5", "1e99999999"}) {
    auto q = Quantity::Parse(bad);
    EXPECT_FALSE(q.ok()) << "accepted \"" << bad << "\"";
    if (!q.ok()) {
      EXPECT_NE(q.status().message().find("invalid quantity"), std::string::npos);
    }
  }
}

TEST(QuantityTest, RejectsHugeMagnitudeInsteadOfLosingPrecision) {
  EXPECT_FALSE(Quantity::Parse("1e40").ok());
  EXPECT_FALSE(Quantity::Parse(std::string(60, '9')).ok());
  EXPECT_TRUE(Quantity::Parse("1e28").ok());
}

TEST(QuantityTest, CapsBinaryAtInt64LikeKubernetes) {
  auto q = Quantity::Parse("16Ei");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->ToString(), "9223372036854775807");
}

TEST(QuantityTest, ComparesByValueAcrossFormats) {
  auto a = *Quantity::Parse("1k");
  auto b = *Quantity::Parse("1000");
  auto c = *Quantity::Parse("1e3");
  EXPECT_EQ(a, b);
  EXPECT_EQ(b, c);
  EXPECT_LT(*Quantity::Parse("999m"), *Quantity::Parse("1"));
  EXPECT_GT(*Quantity::Parse("1Ki"), *Quantity::Parse("1k"));
  EXPECT_LT(*Quantity::Parse("-1"), *Quantity::Parse("0"));
}

TEST(QuantityTest, ArithmeticIsExact) {
  auto a = *Quantity::Parse("0.1");
  auto b = *Quantity::Parse("0.2");
  EXPECT_EQ((a + b).ToString(), "300m");
  EXPECT_EQ(a + b, *Quantity::Parse("0.3"));  // no float round trip
  EXPECT_EQ((a - b).ToString(), "-100m");
  EXPECT_EQ((-a).ToString(), "-100m");
  EXPECT_EQ((*Quantity::Parse("1n") + *Quantity::Parse("1")).ToString(), "1000000001n");
}

TEST(QuantityTest, FixedCeilMatchesIter8ctl) {
  EXPECT_EQ(Quantity::Parse("330681818182n")->ToFixedCeil(3), "330.682");
  EXPECT_EQ(Quantity::Parse("310319302313n")->ToFixedCeil(3), "310.320");
  EXPECT_EQ(Quantity::Parse("0")->ToFixedCeil(3), "0.000");
  EXPECT_EQ(Quantity::Parse("1k")->ToFixedCeil(3), "1000.000");
  EXPECT_EQ(Quantity::Parse("10m")->ToFixedCeil(3), "0.010");
  EXPECT_EQ(Quantity::Parse("1n")->ToFixedCeil(3), "0.001");  // ceiling, not nearest
  EXPECT_EQ(Quantity::Parse("-1500001u")->ToFixedCeil(3), "-1.500");
  EXPECT_EQ(Quantity::Parse("-1n")->ToFixedCeil(3), "0.000");
  EXPECT_EQ(Quantity::Parse("2.5")->ToFixedCeil(0), "3");
}

TEST(QuantityTest, ConvertsToAndFromDouble) {
  EXPECT_DOUBLE_EQ(Quantity::Parse("228419047620n")->ToDouble(), 228.41904762);
  EXPECT_DOUBLE_EQ(Quantity::Parse("10m")->ToDouble(), 0.01);
  EXPECT_DOUBLE_EQ(Quantity::Parse("-1Ki")->ToDouble(), -1024.0);
  EXPECT_EQ(Quantity::FromDouble(0.01)->ToString(), "10m");
  EXPECT_EQ(Quantity::FromDouble(228.41904761904762)->ToString(), "228419047620n");
  EXPECT_EQ(Quantity::FromDouble(1000.0)->ToString(), "1k");
  EXPECT_FALSE(Quantity::FromDouble(std::nan("")).ok());
  EXPECT_FALSE(Quantity::FromDouble(1.0 / 0.0).ok());
}

}  // namespace
}  // namespace iter8::api
