// File: net/endpoint_test.cc
#include "net/endpoint.h"

#include "gtest/gtest.h"

namespace iter8::net {
namespace {

TEST(EndpointTest, HostPort) {
  auto a = ParseHostPort("127.0.0.1:8080");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  auto b = ParseHostPort(":0");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "127.0.0.1");
  auto c = ParseHostPort("[::1]:9");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->String(), "[::1]:9");
}

TEST(EndpointTest, BadHostPortNamesTheProblem) {
  EXPECT_NE(ParseHostPort("localhost").status().message().find("expected host:port"),
            std::string::npos);
  EXPECT_NE(ParseHostPort("a:70000").status().message().find("port \"70000\""), std::string::npos);
  EXPECT_NE(ParseHostPort("a:x1").status().message().find("port \"x1\""), std::string::npos);
  EXPECT_NE(ParseHostPort("::1:80").status().message().find("brackets"), std::string::npos);
}

TEST(EndpointTest, HttpUrl) {
  auto u = ParseHttpUrl("http://127.0.0.1:9001/v1/models/iris:predict?x=1");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->address.port, 9001);
  EXPECT_EQ(u->target, "/v1/models/iris:predict?x=1");
  EXPECT_EQ(u->Origin(), "http://127.0.0.1:9001");
  auto d = ParseHttpUrl("http://example.com");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->address.port, 80);
  EXPECT_EQ(d->target, "/");
  auto v6 = ParseHttpUrl("http://[::1]/x");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->address.host, "::1");
  EXPECT_EQ(v6->address.port, 80);
}

TEST(EndpointTest, BadUrls) {
  EXPECT_NE(ParseHttpUrl("https://a:1").status().message().find("https backends"),
            std::string::npos);
  EXPECT_NE(ParseHttpUrl("ftp://a").status().message().find("expected an http://"),
            std::string::npos);
  EXPECT_NE(ParseHttpUrl("http://").status().message().find("no host"), std::string::npos);
  EXPECT_FALSE(ParseHttpUrl("http://u@h:1/").ok());
  EXPECT_FALSE(ParseHttpUrl("http://h:1/a b").ok());
}

}  // namespace
}  // namespace iter8::net
