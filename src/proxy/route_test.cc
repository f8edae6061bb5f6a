// File: proxy/route_test.cc
#include "proxy/route.h"

#include "api/document.h"
#include "gtest/gtest.h"

namespace iter8::proxy {
namespace {

absl::StatusOr<RouteSpec> Parse(const std::string& yaml) {
  auto docs = api::ParseDocuments(yaml, "route.yaml");
  if (!docs.ok()) return docs.status();
  return ParseRoute(docs->front().json);
}

constexpr char kHeader[] = R"(apiVersion: iter8.tools/v1alpha1
kind: Route
metadata: {name: iris, namespace: models}
)";

TEST(RouteTest, FullRoute) {
  auto r = Parse(std::string(kHeader) + R"(spec:
  listen: 127.0.0.1:0
  admin: 127.0.0.1:9090
  adminToken: t0ken
  versions:
  - {name: default, backend: "http://127.0.0.1:9001", weight: 90}
  - {name: canary, backends: ["http://127.0.0.1:9002", "http://localhost:9003/base"], weight: 10}
  sticky: {header: X-User}
  match: [{header: X-Model-Version, value: canary, version: canary}]
  mirror: {version: canary, percent: 5}
  hostRewrite: true
  timeouts: {connect: 250ms, idle: 2m}
  limits: {headerBytes: 8192, bodyBytes: 2048}
)");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->namespace_, "models");
  EXPECT_EQ(r->name, "iris");
  EXPECT_EQ(r->listen->port, 0);
  EXPECT_EQ(r->admin->port, 9090);
  EXPECT_EQ(r->admin_token, "t0ken");
  ASSERT_EQ(r->versions.size(), 2u);
  EXPECT_EQ(r->versions[1].backends.size(), 2u);
  EXPECT_EQ(r->versions[1].backends[1].target, "/base");
  EXPECT_EQ(r->Weights(), (std::map<std::string, int64_t>{{"default", 90}, {"canary", 10}}));
  EXPECT_EQ(r->sticky_header, "x-user");
  EXPECT_EQ(r->match[0].header, "x-model-version");
  EXPECT_EQ(r->mirror_percent, 5);
  EXPECT_TRUE(r->host_rewrite);
  EXPECT_EQ(r->timeouts.connect.count(), 250);
  EXPECT_EQ(r->timeouts.idle.count(), 120000);
  EXPECT_EQ(r->timeouts.header.count(), 10000);
  EXPECT_EQ(r->header_limit, 8192u);
  EXPECT_EQ(r->body_limit, 2048u);
}

TEST(RouteTest, DefaultsAndCanaryTrafficPercent) {
  auto r = Parse(std::string(kHeader) + R"(spec:
  versions:
  - {name: a, backend: "http://h:1"}
  - {name: b, backend: "http://h:2"}
)");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->listen.has_value());
  EXPECT_EQ(r->Weights(), (std::map<std::string, int64_t>{{"a", 100}, {"b", 0}}));
  auto k = Parse(std::string(kHeader) + R"(spec:
  canaryTrafficPercent: 25
  versions:
  - {name: a, backend: "http://h:1"}
  - {name: b, backend: "http://h:2"}
)");
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->Weights(), (std::map<std::string, int64_t>{{"a", 75}, {"b", 25}}));
}

TEST(RouteTest, EveryProblemIsNamedWithItsPointer) {
  auto r = Parse(std::string(kHeader) + R"(spec:
  listen: "nowhere"
  adminSocket: relative.sock
  colour: blue
  canaryTrafficPercent: 120
  versions:
  - {name: a, backend: "https://h:1", weight: -1}
  - {name: a, weight: 1.5}
  - 7
  sticky: {header: a, cookie: b}
  match: [{header: x, value: v1, version: nope}]
  mirror: {version: a}
  timeouts: {connect: soon, forever: 1s}
  limits: {bodyBytes: 10}
)");
  ASSERT_FALSE(r.ok());
  std::string m(r.status().message());
  for (const char* want : {
           "invalid Route models/iris:",
           "/spec/listen: \"nowhere\": expected host:port",
           "/spec/adminSocket: must be an absolute path",
           "/spec/colour: unknown field",
           "/spec/canaryTrafficPercent: must be an integer from 0 to 100",
           "/spec/versions/0/backend: \"https://h:1\": https backends are not supported",
           "/spec/versions/0/weight: must be an integer >= 0",
           "/spec/versions/1/name: duplicate version \"a\"",
           "/spec/versions/1/backend: required",
           "/spec/versions/1/weight: must be an integer >= 0",
           "/spec/versions/2: must be an object",
           "/spec/sticky: must be {header: NAME} or {cookie: NAME}",
           "/spec/match/0/version: no version named \"nope\"",
           "/spec/mirror: must be {version: NAME, percent: 0..100}",
           "/spec/timeouts/connect: \"soon\" is not a duration",
           "/spec/timeouts/forever: unknown field",
           "/spec/limits/bodyBytes: must be an integer >= 1024",
       }) {
    EXPECT_NE(m.find(want), std::string::npos) << "missing: " << want << "\nin:\n" << m;
  }
}

TEST(RouteTest, WrongKindAndMissingSpec) {
  auto docs = api::ParseDocuments("apiVersion: v1\nkind: Service\nmetadata: {name: x}\n", "x");
  ASSERT_TRUE(docs.ok());
  auto r = ParseRoute(docs->front().json);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/apiVersion: must be iter8.tools/v1alpha1"),
            std::string::npos);
  EXPECT_NE(r.status().message().find("/kind: must be Route"), std::string::npos);
  EXPECT_NE(r.status().message().find("/spec: required object"), std::string::npos);
}

TEST(RouteTest, WrongTypesAreErrorsNotExceptions) {
  // Found by the loader fuzzer: `kind: {}` threw from nlohmann's value().
  for (const char* yaml : {"apiVersion: {}\nkind: []\nmetadata: {name: {}}\nspec: {}\n",
                           "kind: {a: 1}\n", "[1, 2]\n", "apiVersion: 1\nkind: Route\n"}) {
    auto docs = api::ParseDocuments(yaml, "x");
    ASSERT_TRUE(docs.ok()) << yaml;
    auto r = ParseRoute(docs->front().json);
    EXPECT_FALSE(r.ok()) << yaml;
  }
}

TEST(RouteTest, WithWeights) {
  auto r = Parse(std::string(kHeader) + R"(spec:
  versions:
  - {name: a, backend: "http://h:1", weight: 100}
  - {name: b, backend: "http://h:2", weight: 0}
)");
  ASSERT_TRUE(r.ok());
  auto w = WithWeights(*r, {{"b", 30}, {"a", 70}});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->Weights(), (std::map<std::string, int64_t>{{"a", 70}, {"b", 30}}));
  EXPECT_NE(WithWeights(*r, {{"c", 1}}).status().message().find("no version \"c\""),
            std::string::npos);
  EXPECT_FALSE(WithWeights(*r, {{"a", -1}}).ok());
}

TEST(RouteTest, Durations) {
  EXPECT_EQ(ParseDuration("250ms")->count(), 250);
  EXPECT_EQ(ParseDuration("3s")->count(), 3000);
  EXPECT_EQ(ParseDuration("1h")->count(), 3600000);
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("s").ok());
  EXPECT_FALSE(ParseDuration("1.5s").ok());
  EXPECT_FALSE(ParseDuration("99999999999999999999s").ok());
}

}  // namespace
}  // namespace iter8::proxy
