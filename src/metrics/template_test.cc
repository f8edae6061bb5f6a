#include "metrics/template.h"

#include <gtest/gtest.h>

namespace iter8::metrics {
namespace {

struct Case {
  const char* text;
  const char* want;
  // Short names in test listings (ctest shows the parameter).
  friend void PrintTo(const Case& c, std::ostream* os) { *os << c.text; }
};

class SafeSubstituteTest : public ::testing::TestWithParam<Case> {};

TEST_P(SafeSubstituteTest, BehavesLikePythonTemplate) {
  Variables vars = {
      {"name", "v1"}, {"ns", "prod"}, {"elapsedTime", "42"}, {"x", "X"}, {"_a1", "A"}};
  EXPECT_EQ(SafeSubstitute(GetParam().text, vars), GetParam().want) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    Table, SafeSubstituteTest,
    ::testing::Values(
        Case{"", ""}, Case{"plain", "plain"}, Case{"$name", "v1"}, Case{"${name}", "v1"},
        Case{"$$", "$"}, Case{"$$name", "$name"}, Case{"$$$name", "$v1"},
        Case{"[${elapsedTime}s]", "[42s]"}, Case{"[$elapsedTimes]", "[$elapsedTimes]"},
        Case{"ns='$ns'", "ns='prod'"}, Case{"$unknown and ${unknown}", "$unknown and ${unknown}"},
        Case{"$", "$"}, Case{"a$", "a$"}, Case{"$1", "$1"}, Case{"${", "${"},
        Case{"${name", "${name"}, Case{"${ name}", "${ name}"}, Case{"${1x}", "${1x}"},
        Case{"$x.y", "X.y"}, Case{"$_a1-b", "A-b"}, Case{"$name$ns", "v1prod"},
        Case{"sum(increase(m{revision_name='$name'}[${elapsedTime}s])) or on() vector(0)",
             "sum(increase(m{revision_name='v1'}[42s])) or on() vector(0)"}));

TEST(SubstituteTest, StrictModeNamesTheMissingPlaceholder) {
  Variables vars = {{"name", "v1"}};
  EXPECT_EQ(*Substitute("$name $$", vars), "v1 $");
  auto r = Substitute("rate(x[$interval])", vars);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("$interval"), absl::string_view::npos);
}

TEST(SubstituteTest, ValuesAreInsertedVerbatim) {
  // Documented: no escaping for the query language, as in the original.
  EXPECT_EQ(SafeSubstitute("rev='$r'", {{"r", "a' or x='b"}}), "rev='a' or x='b'");
  // Values are not re-expanded.
  EXPECT_EQ(SafeSubstitute("$a", {{"a", "$b"}, {"b", "no"}}), "$b");
}

TEST(QueryVariablesTest, PrecedenceAndElapsedTime) {
  api::VersionDetail v;
  v.name = "canary";
  v.variables = {{"ns", "prod", {}}, {"name", "override", {}}, {"elapsedTime", "99", {}}};
  absl::Time start = absl::FromUnixSeconds(1000);
  Variables vars = QueryVariables(v, start, start + absl::Milliseconds(12500));
  EXPECT_EQ(vars.at("name"), "override");   // a variable called `name` overrides the name
  EXPECT_EQ(vars.at("elapsedTime"), "12");  // the time variable overrides a variable
  EXPECT_EQ(vars.at("ns"), "prod");
  EXPECT_EQ(QueryVariables(v, start, start).at("elapsedTime"), "1");  // at least 1
  Variables old = QueryVariables(v, start, start, /*v2alpha1=*/true);
  EXPECT_EQ(old.at("interval"), "0s");      // v2alpha1 did not clamp
  EXPECT_EQ(old.count("elapsedTime"), 1u);  // only the user's variable
  EXPECT_EQ(old.at("elapsedTime"), "99");
}

}  // namespace
}  // namespace iter8::metrics
