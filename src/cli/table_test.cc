#include "cli/table.h"

#include <gtest/gtest.h>

namespace iter8::cli {
namespace {

TEST(TableTest, WrapsLongCellsAndAlignsNumbersRight) {
  Table t({"Metric", "v1"});
  t.AddRow({"95th-percentile-tail-latency (milliseconds)", "330.682"});
  t.AddRow({"error-rate", "unavailable"});
  EXPECT_EQ(t.Render(),
            "+--------------------------------+-------------+\n"
            "|             METRIC             |     V1      |\n"
            "+--------------------------------+-------------+\n"
            "| 95th-percentile-tail-latency   |     330.682 |\n"
            "| (milliseconds)                 |             |\n"
            "+--------------------------------+-------------+\n"
            "| error-rate                     | unavailable |\n"
            "+--------------------------------+-------------+\n");
}

TEST(TableTest, HeaderTitleRules) {
  Table t({"a_b", "x.y", "1.5"});
  std::string out = t.Render();
  EXPECT_NE(out.find("| A B | X Y | 1.5 |"), std::string::npos) << out;
}

TEST(WrapWordsTest, MinimumRaggedness) {
  EXPECT_EQ(WrapWords("iter8-knative/mean-latency <= 50.000", 30),
            (std::vector<std::string>{"iter8-knative/mean-latency <=", "50.000"}));
  // A word longer than the limit raises the limit.
  EXPECT_EQ(WrapWords("iter8-knative/95th-percentile-tail-latency <= 100.000", 30),
            (std::vector<std::string>{"iter8-knative/95th-percentile-tail-latency", "<= 100.000"}));
  EXPECT_EQ(WrapWords("short", 30), (std::vector<std::string>{"short"}));
  EXPECT_EQ(WrapWords("", 30), (std::vector<std::string>{""}));
}

}  // namespace
}  // namespace iter8::cli

namespace iter8::cli {
namespace {

TEST(TableTest, NumbersAlignRightEverythingElseLeft) {
  Table t({"h"});
  for (const char* cell : {"1", "-2.5", "1,234", "12,345.67", "1234567", "007", "1,23", "1.", ".5",
                           "24.454 *", "true", "1,2345", "--1"}) {
    t.AddRow({cell});
  }
  EXPECT_EQ(t.Render(),
            "+-----------+\n|     H     |\n+-----------+\n"
            "|         1 |\n+-----------+\n|      -2.5 |\n+-----------+\n"
            "|     1,234 |\n+-----------+\n| 12,345.67 |\n+-----------+\n"
            "|   1234567 |\n+-----------+\n|       007 |\n+-----------+\n"
            "| 1,23      |\n+-----------+\n| 1.        |\n+-----------+\n"
            "| .5        |\n+-----------+\n| 24.454 *  |\n+-----------+\n"
            "| true      |\n+-----------+\n| 1,2345    |\n+-----------+\n"
            "| --1       |\n+-----------+\n");
}

}  // namespace
}  // namespace iter8::cli
