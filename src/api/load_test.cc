// Bad input never crashes and never passes silently: each case must fail with a message that
// names the source and what is wrong.
#include "api/load.h"

#include <gtest/gtest.h>

#include <random>

namespace iter8::api {
namespace {

constexpr char kHeader[] =
    "apiVersion: iter8.tools/v2alpha2\nkind: Experiment\nmetadata:\n  name: e\n";

absl::Status LoadText(const std::string& text) {
  auto docs = ParseDocuments(text, "in.yaml");
  if (!docs.ok()) return docs.status();
  for (const auto& d : *docs) {
    auto r = LoadResource(d);
    if (!r.ok()) return r.status();
  }
  return absl::OkStatus();
}

struct BadCase {
  std::string name;
  std::string text;
  std::string expect;  // substring of the error message
  friend void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }
};

class BadInputTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadInputTest, FailsWithAClearLocatedMessage) {
  absl::Status s = LoadText(GetParam().text);
  ASSERT_FALSE(s.ok()) << "accepted:\n" << GetParam().text;
  std::string msg(s.message());
  EXPECT_NE(msg.find(GetParam().expect), std::string::npos) << msg;
  EXPECT_EQ(msg.rfind("in.yaml", 0), 0u) << "message does not start with the source: " << msg;
}

std::string Deep(int n) {
  std::string s = std::string(kHeader) +
                  "spec:\n  target: t\n  strategy: {testingPattern: Canary}\n"
                  "  criteria:\n    strength: ";
  s += std::string(n, '[') + std::string(n, ']') + "\n";
  return s;
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadInputTest,
    ::testing::Values(
        BadCase{"Empty", "", "empty input"}, BadCase{"OnlyComments", "# nothing\n", "no documents"},
        BadCase{"Truncated", std::string(kHeader) + "spec:\n  target: \"unterminated\n",
                "in.yaml:"},
        BadCase{"TabIndentation", std::string(kHeader) + "spec:\n\ttarget: t\n", "in.yaml:6:"},
        BadCase{"WrongType", std::string(kHeader) + "spec:\n  target: [a]\n",
                "/spec/target: Invalid value: expected string, got array"},
        BadCase{"UnknownEnumCase",
                std::string(kHeader) + "spec:\n  target: t\n  strategy: {testingPattern: A/B/n}\n",
                "Unsupported value: \"A/B/n\""},
        BadCase{"HugeInteger",
                std::string(kHeader) +
                    "spec:\n  target: t\n  strategy: {testingPattern: Canary}\n"
                    "  duration: {intervalSeconds: 123456789012345678901234567890}\n",
                "/spec/duration/intervalSeconds"},
        BadCase{"NegativeOutOfRange",
                std::string(kHeader) + "spec:\n  target: t\n  strategy: {testingPattern: Canary}\n"
                                       "  duration: {maxLoops: -3000000000}\n",
                "out of range for a 32-bit integer"},
        BadCase{"HugeQuantity",
                std::string(kHeader) +
                    "spec:\n  target: t\n  strategy: {testingPattern: Canary}\n"
                    "  criteria: {objectives: [{metric: m, upperLimit: 1e300}]}\n",
                "/spec/criteria/objectives/0/upperLimit"},
        BadCase{"Deep10000", Deep(10000), "deeper than"},
        BadCase{"BinaryGarbage", std::string("\x00\x01\x02\xff\xfe garbage \x7f", 15), "in.yaml"},
        BadCase{"NotAResource", "- a\n- b\n", "expected a resource"},
        BadCase{"MissingKind", "apiVersion: iter8.tools/v2alpha2\nmetadata: {name: x}\n",
                "/kind: Required value"},
        BadCase{"OtherApi", "apiVersion: iter8.tools/v1\nkind: Experiment\n",
                "/apiVersion: Unsupported value: \"iter8.tools/v1\""},
        BadCase{"SecondDocumentBad",
                std::string(kHeader) + "spec: {target: t, strategy: {testingPattern: Canary}}\n"
                                       "---\napiVersion: iter8.tools/v2alpha2\nkind: Metric\n"
                                       "metadata: {name: m}\nspec: {type: gauge}\n",
                "in.yaml:10:"},
        BadCase{"JsonTrailingGarbage", "{\"apiVersion\": \"iter8.tools/v2alpha2\"} x",
                "invalid JSON"},
        BadCase{"JsonWrongTypeNamesPointer",
                "{\"apiVersion\": \"iter8.tools/v2alpha2\", \"kind\": \"Metric\", "
                "\"metadata\": {\"name\": \"m\"}, \"spec\": {\"mock\": [{\"name\": 1}]}}",
                "in.yaml: /spec/mock/0/name: Invalid value: expected string, got integer"}),
    [](const auto& info) { return info.param.name; });

TEST(BadInputTest, RandomBytesNeverCrash) {
  std::mt19937 rng(17);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 256, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 256);
    (void)LoadText(s);
    (void)LoadText(std::string(kHeader) + s);
  }
}

}  // namespace
}  // namespace iter8::api
