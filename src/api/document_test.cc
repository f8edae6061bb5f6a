#include "api/document.h"

#include <gtest/gtest.h>

namespace iter8::api {
namespace {

TEST(DocumentTest, TypesScalarsLikeKubernetes) {
  auto docs = ParseDocuments(
      "a: 0.01\nb: \"0.01\"\nc: 1000\nd: yes\ne: ~\nf: 1e3\ng: '15'\nh: 0x1f\ni: text\n"
      "j: 9223372036854775808\nk: -9223372036854775808\nl: 1_000\n",
      "t.yaml");
  ASSERT_TRUE(docs.ok()) << docs.status();
  const Json& j = (*docs)[0].json;
  EXPECT_TRUE(j["a"].is_number_float());
  EXPECT_EQ(j["b"], "0.01");
  EXPECT_EQ(j["c"], 1000);
  EXPECT_EQ(j["d"], true);
  EXPECT_TRUE(j["e"].is_null());
  EXPECT_DOUBLE_EQ(j["f"].get<double>(), 1000.0);
  EXPECT_EQ(j["g"], "15");
  EXPECT_EQ(j["h"], 31);
  EXPECT_EQ(j["i"], "text");
  EXPECT_TRUE(j["j"].is_number_unsigned());
  EXPECT_EQ(j["k"].get<int64_t>(), INT64_MIN);
  EXPECT_EQ(j["l"], 1000);
}

TEST(DocumentTest, SplitsMultiDocumentStreamsAndRecordsLocations) {
  auto docs = ParseDocuments("---\na: 1\n---\nb:\n  c: [1, 2]\n", "s.yaml");
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 2u);
  const Document& d = (*docs)[1];
  EXPECT_EQ(d.index, 1);
  EXPECT_EQ(d.Locate("/b/c/1"), "s.yaml:5:10");
  EXPECT_EQ(d.Locate("/b/c"), "s.yaml:5:3");  // mapping values are located at their key
  // Unknown pointers fall back to the nearest ancestor.
  EXPECT_EQ(d.Locate("/b/missing"), "s.yaml:4:1");
}

TEST(DocumentTest, ParsesJsonText) {
  auto docs = ParseDocuments(" {\"a\": [1, {\"b\": \"x\"}]}", "x.json");
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ((*docs)[0].json["a"][1]["b"], "x");
}

struct Bad {
  std::string text;
  std::string expect;  // substring of the error
  friend void PrintTo(const Bad& c, std::ostream* os) { *os << c.expect; }
};

class DocumentBadInputTest : public ::testing::TestWithParam<Bad> {};

TEST_P(DocumentBadInputTest, FailsWithLocatedError) {
  auto docs = ParseDocuments(GetParam().text, "bad.yaml");
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.status().message().find(GetParam().expect), std::string::npos)
      << docs.status().message();
  EXPECT_NE(docs.status().message().find("bad.yaml"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Table, DocumentBadInputTest,
    ::testing::Values(Bad{"", "empty input"}, Bad{"   \n\n", "empty input"},
                      Bad{"a: [1, 2\n", "bad.yaml:"}, Bad{"a:\n\tb: 1\n", "bad.yaml:2:"},
                      Bad{"a: 1\na: 2\n", "duplicate key \"a\""},
                      Bad{"{\"a\": 1,}", "invalid JSON"}, Bad{"{\"a\": ", "invalid JSON"},
                      Bad{std::string(10000, '[') + std::string(10000, ']'), "deeper than"},
                      Bad{"a: .inf\n", "cannot be represented"},
                      Bad{"? [a]\n: 1\n", "keys must be strings"},
                      Bad{"a: \"\xff\xfe\"\n", "bad.yaml:"},
                      Bad{"a: &a [1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                          "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                          "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                          "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                          "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                          "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                          "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n",
                          "alias bomb"}));

TEST(DocumentTest, DeepBlockNestingIsAnErrorNotACrash) {
  std::string deep;
  for (int i = 0; i < 10000; ++i) deep += std::string(i, ' ') + "- \n";
  auto docs = ParseDocuments(deep, "deep.yaml");
  EXPECT_FALSE(docs.ok());
}

TEST(DocumentTest, YamlWriterRoundTripsTrickyStrings) {
  Json j = {{"plain", "hello world"},
            {"numeric", "0.01"},
            {"boolish", "yes"},
            {"nullish", "null"},
            {"empty", ""},
            {"colon", "a: b"},
            {"hash", "a #b"},
            {"lead", "-x"},
            {"multi", "line1\nline2\n"},
            {"multi_nonl", "line1\nline2"},
            {"trailing", "x\n\n"},
            {"ctrl", std::string("a\x01") + "b"},
            {"unicode", "grüße"},
            {"list", {1, "2", nullptr, true, 1.5, Json::object(), Json::array()}},
            {"nested", {{"a", {{"b", {1, {{"c", "d"}, {"e", "f"}}}}}}}},
            {"seqseq", {{1, 2}, {3}}},
            {"weird key: x", 1},
            {"123", "key is numeric"}};
  std::string yaml = ToYaml(j);
  auto back = ParseDocuments(yaml, "rt.yaml");
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << yaml;
  EXPECT_EQ((*back)[0].json, j) << yaml;
}

}  // namespace
}  // namespace iter8::api

namespace iter8::api {
namespace {

// Found by the loader fuzzer: bytes that are not well-formed UTF-8 reached the JSON writer.
TEST(DocumentTest, RejectsEveryIllFormedUtf8Form) {
  for (const char* bad : {"\xf5\x80\x80\x80", "\xc0\xaf", "\xc1\xbf", "\xed\xa0\x80",
                          "\xf4\x90\x80\x80", "\xe0\x80\xaf", "\x80", "\xe2\x82", "\xf0\x9f\x98"}) {
    auto docs = ParseDocuments(std::string("a: \"x") + bad + "\"\n", "u.yaml");
    EXPECT_FALSE(docs.ok()) << "accepted bytes of \"" << bad << "\"";
  }
  for (const char* good : {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf"}) {
    auto docs = ParseDocuments(std::string("a: \"x") + good + "\"\n", "u.yaml");
    ASSERT_TRUE(docs.ok()) << docs.status();
    EXPECT_NO_THROW((void)(*docs)[0].json.dump());
  }
}

}  // namespace
}  // namespace iter8::api

namespace iter8::api {
namespace {

// Found by the loader fuzzer: yaml-cpp 0.7 loops forever on these inputs, which is why the
// YAML front end is built on libyaml.
TEST(DocumentTest, InputsThatHungYamlCppFailFast) {
  for (const char* text : {",\"\n", ",{\"\n", ",\"k\":{\"\n"}) {
    auto docs = ParseDocuments(text, "hang.yaml");
    EXPECT_FALSE(docs.ok()) << text;
  }
}

}  // namespace
}  // namespace iter8::api
