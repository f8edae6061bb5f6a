// File: proxy/proxy_test.cc
//
// The proxy on loopback with real backends (cpp-httplib servers, and raw sockets where the test
// needs a misbehaving backend or client).
#include "proxy/proxy.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "api/document.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "test/testing/process.h"
#include "test/testing/raw_http.h"

namespace iter8::proxy {
namespace {

using std::chrono::milliseconds;

// A backend that answers with its version name and what it saw.
class Backend {
 public:
  explicit Backend(std::string name) : name_(std::move(name)) {
    server_.set_tcp_nodelay(true);
    server_.Get("/slow", [this](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(milliseconds(400));
      res.set_content(name_, "text/plain");
    });
    auto echo = [this](const httplib::Request& req, httplib::Response& res) {
      ++requests_;
      nlohmann::json j = {{"version", name_},
                          {"method", req.method},
                          {"path", req.path},
                          {"body", req.body},
                          {"xff", req.get_header_value("X-Forwarded-For")},
                          {"host", req.get_header_value("Host")},
                          {"custom", req.get_header_value("X-Custom")},
                          {"hop", req.get_header_value("X-Hop")},
                          {"te", req.get_header_value("Transfer-Encoding")}};
      res.set_header("X-Backend", name_);
      res.set_content(j.dump(), "application/json");
    };
    server_.Get(".*", echo);
    server_.Post(".*", echo);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(milliseconds(1));
  }
  ~Backend() {
    server_.stop();
    thread_.join();
  }
  int Port() const { return port_; }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int Requests() const { return requests_; }

 private:
  std::string name_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> requests_{0};
};

RouteSpec MakeRoute(const std::string& yaml) {
  auto docs = api::ParseDocuments(yaml, "route.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  auto r = ParseRoute(docs->front().json);
  EXPECT_TRUE(r.ok()) << r.status();
  return *r;
}

std::string TwoVersions(const Backend& a, const Backend& b, int wa, int wb,
                        const std::string& extra = "") {
  return "apiVersion: iter8.tools/v1alpha1\nkind: Route\nmetadata: {name: iris}\nspec:\n"
         "  listen: 127.0.0.1:0\n  admin: 127.0.0.1:0\n  versions:\n"
         "  - {name: default, backend: \"" +
         a.Url() + "\", weight: " + std::to_string(wa) +
         "}\n"
         "  - {name: canary, backend: \"" +
         b.Url() + "\", weight: " + std::to_string(wb) + "}\n" + extra;
}

class ProxyTest : public ::testing::Test {
 protected:
  void Start(const std::string& yaml, int workers = 1) {
    proxy_ = std::make_unique<Proxy>(ProxyOptions{.workers = workers});
    auto st = proxy_->Start(MakeRoute(yaml));
    ASSERT_TRUE(st.ok()) << st;
    client_ = std::make_unique<httplib::Client>("127.0.0.1", proxy_->ListenAddress().port);
    client_->set_tcp_nodelay(true);
    client_->set_keep_alive(true);
  }
  nlohmann::json GetJson(const std::string& path, httplib::Headers headers = {}) {
    auto res = client_->Get(path, headers);
    if (!res || res->status != 200) return nullptr;
    return nlohmann::json::parse(res->body, nullptr, false);
  }
  std::string Admin(const std::string& path) {
    httplib::Client admin("127.0.0.1", proxy_->AdminAddress()->port);
    auto res = admin.Get(path);
    return res ? res->body : "";
  }

  Backend default_{"default"};
  Backend canary_{"canary"};
  std::unique_ptr<Proxy> proxy_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ProxyTest, SplitsExactlyByWeightOverKeepAlive) {
  Start(TwoVersions(default_, canary_, 90, 10));
  std::map<std::string, int> seen;
  for (int i = 0; i < 1000; ++i) {
    auto j = GetJson("/v1/models/iris");
    ASSERT_TRUE(j.is_object()) << i;
    ++seen[j["version"]];
  }
  EXPECT_EQ(seen["default"], 900);
  EXPECT_EQ(seen["canary"], 100);
  auto d = proxy_->Traffic("default");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->Requests(), 900u);
  EXPECT_EQ(d->Errors(), 0u);
  EXPECT_EQ(proxy_->Traffic("canary")->classes[1].count, 100u);
  EXPECT_GT(d->LatencySumMs(), 0);
}

TEST_F(ProxyTest, NewWeightsApplyToTheNextRequestOnOpenConnections) {
  Start(TwoVersions(default_, canary_, 100, 0), 2);
  ASSERT_EQ(GetJson("/")["version"], "default");
  ASSERT_TRUE(proxy_->SetWeights({{"default", 0}, {"canary", 100}}).ok());
  for (int i = 0; i < 20; ++i) EXPECT_EQ(GetJson("/")["version"], "canary") << i;
  EXPECT_EQ(proxy_->Route().Weights().at("canary"), 100);
  EXPECT_FALSE(proxy_->SetWeights({{"nope", 1}}).ok());
}

TEST_F(ProxyTest, HeaderMatchAndStickyKeys) {
  Start(TwoVersions(default_, canary_, 50, 50,
                    "  sticky: {header: x-user}\n"
                    "  match: [{header: x-model-version, value: canary, version: canary}]\n"));
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(GetJson("/", {{"X-Model-Version", "canary"}})["version"], "canary");
  }
  std::map<std::string, std::string> first;
  for (int u = 0; u < 50; ++u) {
    std::string user = "user-" + std::to_string(u);
    first[user] = GetJson("/", {{"X-User", user}})["version"];
  }
  int canary = 0;
  for (int round = 0; round < 3; ++round) {
    for (auto& [user, version] : first) {
      EXPECT_EQ(GetJson("/", {{"X-User", user}})["version"], version) << user;
    }
  }
  for (auto& [user, version] : first) canary += version == "canary";
  EXPECT_GT(canary, 10);  // both versions get users at 50/50
  EXPECT_LT(canary, 40);
}

TEST_F(ProxyTest, StickyCookie) {
  Start(TwoVersions(default_, canary_, 50, 50, "  sticky: {cookie: session}\n"));
  std::string v = GetJson("/", {{"Cookie", "a=1; session=abc; b=2"}})["version"];
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(GetJson("/", {{"Cookie", "session=abc"}})["version"], v);
  }
}

TEST_F(ProxyTest, ForwardsHeadersAndBodiesAndDropsHopByHop) {
  Start(TwoVersions(default_, canary_, 100, 0));
  httplib::Headers h = {{"X-Custom", "kept"},
                        {"X-Hop", "dropped"},
                        {"Connection", "keep-alive, X-Hop"},
                        {"X-Forwarded-For", "10.0.0.1"}};
  auto res = client_->Post("/v1/models/iris:predict", h, R"({"instances":[[1,2,3,4]]})",
                           "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  auto j = nlohmann::json::parse(res->body);
  EXPECT_EQ(j["path"], "/v1/models/iris:predict");
  EXPECT_EQ(j["body"], R"({"instances":[[1,2,3,4]]})");
  EXPECT_EQ(j["custom"], "kept");
  EXPECT_EQ(j["hop"], "");
  EXPECT_EQ(j["xff"], "10.0.0.1, 127.0.0.1");
  EXPECT_EQ(j["host"], "127.0.0.1:" + std::to_string(proxy_->ListenAddress().port));
  EXPECT_EQ(res->get_header_value("X-Backend"), "default");
}

TEST_F(ProxyTest, HostRewrite) {
  Start(TwoVersions(default_, canary_, 100, 0, "  hostRewrite: true\n"));
  EXPECT_EQ(GetJson("/")["host"], "127.0.0.1:" + std::to_string(default_.Port()));
}

TEST_F(ProxyTest, ChunkedRequestAndExpectContinue) {
  Start(TwoVersions(default_, canary_, 100, 0));
  testing::RawConnection c(proxy_->ListenAddress().port);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(
      c.Send("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  std::string r = c.Read(milliseconds(3000), "}");
  EXPECT_NE(r.find("HTTP/1.1 200"), std::string::npos) << r;
  EXPECT_NE(r.find("\"body\":\"hello world\""), std::string::npos) << r;
  EXPECT_NE(r.find("\"te\":\"\""), std::string::npos) << r;  // re-framed with Content-Length

  testing::RawConnection e(proxy_->ListenAddress().port);
  ASSERT_TRUE(
      e.Send("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
             "Expect: 100-continue\r\n\r\n"));
  std::string cont = e.Read(milliseconds(3000), "\r\n\r\n");
  EXPECT_EQ(cont.rfind("HTTP/1.1 100 Continue\r\n", 0), 0u) << cont;
  ASSERT_TRUE(e.Send("ping"));
  std::string body = e.Read(milliseconds(3000), "}");
  EXPECT_NE(body.find("\"body\":\"ping\""), std::string::npos) << body;
}

TEST_F(ProxyTest, LimitsAndMalformedRequests) {
  Start(TwoVersions(default_, canary_, 100, 0,
                    "  limits: {headerBytes: 2048, bodyBytes: 4096}\n"
                    "  timeouts: {header: 300ms}\n"));
  const int port = proxy_->ListenAddress().port;
  {
    testing::RawConnection c(port);
    c.Send("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(4000, 'x') + "\r\n\r\n");
    EXPECT_NE(c.Read(milliseconds(3000)).find("HTTP/1.1 431"), std::string::npos);
  }
  {
    testing::RawConnection c(port);
    c.Send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n");
    std::string r = c.Read(milliseconds(3000));
    EXPECT_NE(r.find("HTTP/1.1 413"), std::string::npos) << r;
  }
  {
    testing::RawConnection c(port);  // chunked beyond the limit
    c.Send("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n" +
           std::string(5000, 'y') + "\r\n0\r\n\r\n");
    std::string r = c.Read(milliseconds(3000));
    EXPECT_NE(r.find("HTTP/1.1 413"), std::string::npos) << r;
  }
  {
    testing::RawConnection c(port);
    c.Send("GARBAGE\r\n\r\n");
    std::string r = c.Read(milliseconds(3000));
    EXPECT_NE(r.find("HTTP/1.1 400"), std::string::npos) << r;
    EXPECT_TRUE(c.closed());
  }
  {
    testing::RawConnection c(port);  // a slow client never finishing its headers
    c.Send("GET / HTTP/1.1\r\nHost: a\r\n");
    auto begin = std::chrono::steady_clock::now();
    std::string r = c.Read(milliseconds(3000));
    EXPECT_TRUE(c.closed());  // dropped after timeouts.header (300 ms), not kept forever
    EXPECT_LT(std::chrono::steady_clock::now() - begin, milliseconds(2000));
    EXPECT_EQ(r, "");
  }
  {
    testing::RawConnection c(port);  // a header flood: many small headers
    std::string req = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 500; ++i) req += "X-H" + std::to_string(i) + ": v\r\n";
    c.Send(req + "\r\n");
    EXPECT_NE(c.Read(milliseconds(3000)).find("HTTP/1.1 431"), std::string::npos);
  }
  {
    testing::RawConnection c(port);  // truncated chunked body, then the client goes away
    c.Send("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc");
  }
  // The proxy still serves after all that.
  EXPECT_EQ(GetJson("/")["version"], "default");
  EXPECT_EQ(default_.Requests(), 1);
}

TEST_F(ProxyTest, BackendDownGives503AndCountsTheVersionsError) {
  int dead_port;
  {
    Backend gone("gone");
    dead_port = gone.Port();
  }
  Start(
      "apiVersion: iter8.tools/v1alpha1\nkind: Route\nmetadata: {name: iris}\nspec:\n"
      "  listen: 127.0.0.1:0\n  versions:\n"
      "  - {name: default, backend: \"http://127.0.0.1:" +
      std::to_string(dead_port) + "\", weight: 100}\n");
  auto res = client_->Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_NE(res->body.find("backend 127.0.0.1:" + std::to_string(dead_port) + " unavailable"),
            std::string::npos);
  auto t = proxy_->Traffic("default");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->Errors(), 1u);
  EXPECT_EQ(t->backend_errors, 1u);
}

TEST_F(ProxyTest, BackendDyingMidResponseGives502) {
  // A raw backend that sends half a response and closes.
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::listen(lfd, 16);
  socklen_t len = sizeof addr;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  std::thread backend([lfd] {
    int c = ::accept(lfd, nullptr, nullptr);
    char buf[4096];
    (void)::recv(c, buf, sizeof buf, 0);
    std::string half = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part";
    (void)::send(c, half.data(), half.size(), MSG_NOSIGNAL);
    ::close(c);
  });
  Start(
      "apiVersion: iter8.tools/v1alpha1\nkind: Route\nmetadata: {name: iris}\nspec:\n"
      "  listen: 127.0.0.1:0\n  versions:\n"
      "  - {name: default, backend: \"http://127.0.0.1:" +
      std::to_string(port) + "\", weight: 100}\n");
  auto res = client_->Get("/");
  backend.join();
  ::close(lfd);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 502);
  EXPECT_EQ(proxy_->Traffic("default")->backend_errors, 1u);
}

std::string OneVersion(int port) {
  return "apiVersion: iter8.tools/v1alpha1\nkind: Route\nmetadata: {name: iris}\nspec:\n"
         "  listen: 127.0.0.1:0\n  versions:\n"
         "  - {name: default, backend: \"http://127.0.0.1:" +
         std::to_string(port) + "\", weight: 100}\n";
}

// A body longer than the proxy holds (64 KiB) goes on to the backend while the client is still
// sending it: the backend sees 128 KiB of a 1 MiB body before the client has sent more than a
// quarter; the body arrives whole and byte-exact, framed with the client's Content-Length.
TEST_F(ProxyTest, LargeRequestBodyIsStreamedToTheBackend) {
  testing::RawListener listener;
  ASSERT_GT(listener.port(), 0);
  Start(OneVersion(listener.port()));
  constexpr size_t kBody = 1 << 20;
  testing::RawConnection c(proxy_->ListenAddress().port);
  ASSERT_TRUE(c.Send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: " +
                     std::to_string(kBody) + "\r\n\r\n" + std::string(kBody / 4, 'a')));
  testing::RawConnection b = listener.Accept(milliseconds(3000));
  ASSERT_TRUE(b.ok());
  std::string got = b.Read(milliseconds(3000), "\r\n\r\n");
  const size_t head_end = got.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << got;
  const std::string head = got.substr(0, head_end + 4);
  EXPECT_NE(head.find("Content-Length: 1048576"), std::string::npos) << head;
  EXPECT_EQ(head.find("Transfer-Encoding"), std::string::npos) << head;
  std::string body = got.substr(head_end + 4);
  body += b.ReadAtLeast(128 * 1024 - std::min(body.size(), size_t{128 * 1024}), milliseconds(3000));
  ASSERT_GE(body.size(), 128u * 1024) << "the proxy held the body back";
  ASSERT_TRUE(c.Send(std::string(kBody - kBody / 4, 'b')));
  body += b.ReadAtLeast(kBody - body.size(), milliseconds(5000));
  ASSERT_EQ(body.size(), kBody);
  EXPECT_EQ(body, std::string(kBody / 4, 'a') + std::string(kBody - kBody / 4, 'b'));
  ASSERT_TRUE(b.Send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nthanx"));
  std::string answer = c.Read(milliseconds(3000), "thanx");
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  auto t = proxy_->Traffic("default");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->Requests(), 1u);
  EXPECT_EQ(t->request_bytes, kBody);
  EXPECT_EQ(t->Errors(), 0u);
}

// A chunked body of unknown length over 64 KiB goes upstream chunked (a real HTTP server decodes
// it to the same bytes), and the echo, a response over 64 KiB with a Content-Length, comes back
// streamed with its length on a connection that stays usable.
TEST_F(ProxyTest, LargeChunkedRequestAndLargeResponse) {
  Start(TwoVersions(default_, canary_, 100, 0));
  std::string body;
  std::string framed;
  for (int i = 0; i < 4; ++i) {
    std::string piece(50000, static_cast<char>('p' + i));
    body += piece;
    std::ostringstream size;
    size << std::hex << piece.size();
    framed += size.str() + "\r\n" + piece + "\r\n";
  }
  framed += "0\r\n\r\n";
  testing::RawConnection c(proxy_->ListenAddress().port);
  ASSERT_TRUE(
      c.Send("POST /big HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + framed));
  std::string r = c.Read(milliseconds(5000), "\r\n\r\n");
  const size_t head_end = r.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << r.substr(0, 200);
  const std::string head = r.substr(0, head_end);
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  const size_t cl = head.find("Content-Length: ");
  ASSERT_NE(cl, std::string::npos) << head;
  const size_t length = std::stoul(head.substr(cl + 16));
  std::string json = r.substr(head_end + 4);
  json += c.ReadAtLeast(length - json.size(), milliseconds(5000));
  ASSERT_EQ(json.size(), length);
  auto j = nlohmann::json::parse(json);
  EXPECT_EQ(j["te"], "chunked");
  EXPECT_EQ(j["body"], body);
  // The same connection serves the next request.
  ASSERT_TRUE(c.Send("GET /again HTTP/1.1\r\nHost: a\r\n\r\n"));
  std::string again = c.Read(milliseconds(3000), "}");
  EXPECT_NE(again.find("\"path\":\"/again\""), std::string::npos) << again;
  auto t = proxy_->Traffic("default");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->Requests(), 2u);
  EXPECT_EQ(t->request_bytes, body.size());
}

// A response longer than 64 KiB reaches the client as it arrives: 128 KiB of a 1 MiB body are at
// the client before the backend has sent more than a quarter. A body without a length goes to an
// HTTP/1.1 client chunked. A backend dying mid-body closes the client's connection (the only way
// to tell it) and charges the version an error.
TEST_F(ProxyTest, LargeResponseIsStreamedToTheClient) {
  testing::RawListener listener;
  Start(OneVersion(listener.port()));
  constexpr size_t kBody = 1 << 20;
  testing::RawConnection c(proxy_->ListenAddress().port);
  ASSERT_TRUE(c.Send("GET /model HTTP/1.1\r\nHost: a\r\n\r\n"));
  testing::RawConnection b = listener.Accept(milliseconds(3000));
  ASSERT_TRUE(b.ok());
  EXPECT_NE(b.Read(milliseconds(3000), "\r\n\r\n").find("GET /model"), std::string::npos);
  ASSERT_TRUE(b.Send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kBody) + "\r\n\r\n" +
                     std::string(kBody / 4, 'x')));
  std::string got = c.ReadAtLeast(128 * 1024, milliseconds(3000));
  ASSERT_GE(got.size(), 128u * 1024) << "the proxy held the response back";
  EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(got.find("Content-Length: 1048576\r\n"), std::string::npos);
  ASSERT_TRUE(b.Send(std::string(kBody - kBody / 4, 'y')));
  const size_t head_size = got.find("\r\n\r\n") + 4;
  got += c.ReadAtLeast(head_size + kBody - got.size(), milliseconds(5000));
  ASSERT_EQ(got.size(), head_size + kBody);
  EXPECT_EQ(got.substr(head_size),
            std::string(kBody / 4, 'x') + std::string(kBody - kBody / 4, 'y'));

  // Kept alive: the next request reuses the pooled backend connection; this answer has no
  // length, so the client gets it chunked, then the backend closes (end of body).
  ASSERT_TRUE(c.Send("GET /stream HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_NE(b.Read(milliseconds(3000), "\r\n\r\n").find("GET /stream"), std::string::npos);
  ASSERT_TRUE(b.Send("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + std::string(100000, 'z')));
  b.Close();
  std::string chunked = c.Read(milliseconds(5000), "\r\n0\r\n\r\n");
  EXPECT_NE(chunked.find("Transfer-Encoding: chunked\r\n"), std::string::npos)
      << chunked.substr(0, 300);
  std::string decoded;
  size_t pos = chunked.find("\r\n\r\n") + 4;
  for (;;) {
    size_t eol = chunked.find("\r\n", pos);
    ASSERT_NE(eol, std::string::npos);
    size_t n = std::stoul(chunked.substr(pos, eol - pos), nullptr, 16);
    if (n == 0) break;
    decoded += chunked.substr(eol + 2, n);
    pos = eol + 2 + n + 2;
  }
  EXPECT_EQ(decoded, std::string(100000, 'z'));

  // A backend that dies after a quarter of the body.
  ASSERT_TRUE(c.Send("GET /dies HTTP/1.1\r\nHost: a\r\n\r\n"));
  testing::RawConnection d = listener.Accept(milliseconds(3000));
  ASSERT_TRUE(d.ok());
  d.Read(milliseconds(3000), "\r\n\r\n");
  ASSERT_TRUE(d.Send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kBody) + "\r\n\r\n" +
                     std::string(kBody / 4, 'q')));
  d.Close();
  std::string partial = c.ReadAtLeast(2 * kBody, milliseconds(5000));
  EXPECT_TRUE(c.closed());
  EXPECT_LT(partial.size(), kBody);
  auto t = proxy_->Traffic("default");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->Requests(), 3u);
  EXPECT_EQ(t->Errors(), 1u);
  EXPECT_EQ(t->backend_errors, 1u);
  EXPECT_EQ(t->response_bytes, kBody + 100000 + kBody / 4);
}

TEST_F(ProxyTest, BackendTimeoutGives504) {
  Start(TwoVersions(default_, canary_, 100, 0, "  timeouts: {request: 100ms}\n"));
  auto res = client_->Get("/slow");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 504);
  // The next request uses a fresh backend connection and succeeds.
  EXPECT_EQ(GetJson("/")["version"], "default");
}

// The header and idle timeouts govern waiting for the client, never the backend exchange: a
// 400 ms answer goes through with a 100 ms header timeout and a generous request timeout, on a
// fresh and on a kept-alive connection.
TEST_F(ProxyTest, SlowBackendWithinRequestTimeoutIsServed) {
  Start(TwoVersions(default_, canary_, 100, 0,
                    "  timeouts: {header: 100ms, idle: 100ms, request: 5s}\n"));
  for (int i = 0; i < 2; ++i) {
    auto res = client_->Get("/slow");
    ASSERT_TRUE(res) << i;
    EXPECT_EQ(res->status, 200) << i;
  }
  EXPECT_EQ(proxy_->Traffic("default")->Errors(), 0u);
}

TEST_F(ProxyTest, AllWeightsZeroGives503) {
  Start(TwoVersions(default_, canary_, 0, 0));
  auto res = client_->Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(proxy_->Unrouted(), 1u);
}

TEST_F(ProxyTest, MirrorCopiesAShareAndMeasuresIt) {
  Backend shadow("shadow");
  Start(
      "apiVersion: iter8.tools/v1alpha1\nkind: Route\nmetadata: {name: iris}\nspec:\n"
      "  listen: 127.0.0.1:0\n  versions:\n"
      "  - {name: default, backend: \"" +
      default_.Url() +
      "\", weight: 100}\n"
      "  - {name: shadow, backend: \"" +
      shadow.Url() +
      "\", weight: 0}\n"
      "  mirror: {version: shadow, percent: 25}\n");
  for (int i = 0; i < 40; ++i) EXPECT_EQ(GetJson("/")["version"], "default");
  for (int i = 0; i < 100 && shadow.Requests() < 10; ++i)
    std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(shadow.Requests(), 10);
  for (int i = 0; i < 100; ++i) {
    auto t = proxy_->Traffic("shadow");
    if (t && t->Requests() == 10) break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(proxy_->Traffic("shadow")->Requests(), 10u);
  EXPECT_EQ(proxy_->Traffic("default")->Requests(), 40u);
}

TEST_F(ProxyTest, AdminApi) {
  Start(TwoVersions(default_, canary_, 90, 10));
  for (int i = 0; i < 10; ++i) GetJson("/");
  std::string metrics = Admin("/metrics");
  EXPECT_NE(metrics.find("revision_app_request_latencies_count{namespace_name=\"default\","
                         "configuration_name=\"iris\",revision_name=\"default\","
                         "response_code_class=\"2xx\"} 9\n"),
            std::string::npos)
      << metrics;
  auto route = nlohmann::json::parse(Admin("/route"));
  EXPECT_EQ(route["versions"][1]["weight"], 10);
  auto stats = nlohmann::json::parse(Admin("/stats"));
  EXPECT_EQ(stats["canary"]["requests"], 1);

  httplib::Client admin("127.0.0.1", proxy_->AdminAddress()->port);
  auto put = admin.Put("/weights", R"({"default": 20, "canary": 80})", "application/json");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 200) << put->body;
  EXPECT_EQ(proxy_->Route().Weights().at("canary"), 80);
  auto bad = admin.Put("/weights", "{not json", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("not JSON"), std::string::npos);
  auto unknown = admin.Put("/weights", R"({"blue": 1})", "application/json");
  EXPECT_EQ(unknown->status, 400);
  EXPECT_NE(unknown->body.find("no version \\\"blue\\\""), std::string::npos) << unknown->body;
  EXPECT_EQ(admin.Get("/nothing")->status, 404);
  EXPECT_EQ(admin.Delete("/weights")->status, 405);
}

TEST_F(ProxyTest, AdminToken) {
  Start(TwoVersions(default_, canary_, 90, 10, "  adminToken: s3cret\n"));
  AdminReply no = HandleAdmin(*proxy_, "GET", "/route", "", "");
  EXPECT_EQ(no.status, 401);
  AdminReply yes = HandleAdmin(*proxy_, "GET", "/route", "Bearer s3cret", "");
  EXPECT_EQ(yes.status, 200);
}

// spec.adminSocket: the same admin API on a Unix socket that only this user may open; the
// socket file goes with the proxy, a stale one is replaced, anything else is left alone.
TEST_F(ProxyTest, AdminApiOnAUnixSocket) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "admin.sock").string();
  Start(TwoVersions(default_, canary_, 90, 10,
                    "  adminSocket: " + path + "\n  adminToken: s3cret\n"));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600);
  httplib::Client admin(path);
  admin.set_address_family(AF_UNIX);
  auto denied = admin.Get("/route");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  httplib::Headers auth = {{"Authorization", "Bearer s3cret"}};
  auto put = admin.Put("/weights", auth, R"({"default": 30, "canary": 70})", "application/json");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 200) << put->body;
  EXPECT_EQ(proxy_->Route().Weights().at("canary"), 70);
  auto bad = admin.Put("/weights", auth, "{", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  proxy_->Stop();
  EXPECT_NE(::stat(path.c_str(), &st), 0);  // removed

  // A stale socket file (a crashed run) is replaced; a regular file is an error, untouched.
  {
    Proxy first(ProxyOptions{.workers = 1});
    ASSERT_TRUE(first
                    .Start(MakeRoute(
                        TwoVersions(default_, canary_, 90, 10, "  adminSocket: " + path + "\n")))
                    .ok());
    ::link(path.c_str(), (path + ".stale").c_str());  // keep the inode past Stop's unlink
    first.Stop();
    ::rename((path + ".stale").c_str(), path.c_str());
  }
  Proxy again(ProxyOptions{.workers = 1});
  EXPECT_TRUE(
      again
          .Start(MakeRoute(TwoVersions(default_, canary_, 90, 10, "  adminSocket: " + path + "\n")))
          .ok());
  again.Stop();
  const std::string regular = (dir.path() / "file").string();
  std::ofstream(regular) << "keep me";
  Proxy refused(ProxyOptions{.workers = 1});
  absl::Status s = refused.Start(
      MakeRoute(TwoVersions(default_, canary_, 90, 10, "  adminSocket: " + regular + "\n")));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("exists and is not a socket"), std::string::npos) << s;
  std::ifstream kept(regular);
  std::string text;
  std::getline(kept, text);
  EXPECT_EQ(text, "keep me");
}

TEST_F(ProxyTest, ConcurrentClientsWhileWeightsChange) {
  Start(TwoVersions(default_, canary_, 90, 10), 2);
  std::atomic<int> failures{0}, done{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      httplib::Client c("127.0.0.1", proxy_->ListenAddress().port);
      c.set_keep_alive(true);
      for (int i = 0; i < 300; ++i) {
        auto r = c.Get("/");
        if (!r || r->status != 200) ++failures;
        ++done;
      }
    });
  }
  const std::vector<std::pair<int, int>> splits = {{50, 50}, {0, 100}, {90, 10}, {100, 0}};
  for (int i = 0; done < 1200; ++i) {
    auto [a, b] = splits[static_cast<size_t>(i) % splits.size()];
    ASSERT_TRUE(proxy_->SetWeights({{"default", a}, {"canary", b}}).ok());
    std::this_thread::sleep_for(milliseconds(5));
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(proxy_->Traffic("default")->Requests() + proxy_->Traffic("canary")->Requests(), 1200u);
}

TEST_F(ProxyTest, ThousandsOfIdleConnectionsAreHeldThenDropped) {
  Start(TwoVersions(default_, canary_, 100, 0, "  timeouts: {idle: 1s, header: 1s}\n"), 2);
  constexpr int kIdle = 2000;
  std::vector<std::unique_ptr<testing::RawConnection>> idle;
  for (int i = 0; i < kIdle; ++i) {
    idle.push_back(std::make_unique<testing::RawConnection>(proxy_->ListenAddress().port));
    ASSERT_TRUE(idle.back()->ok()) << i;
  }
  for (int i = 0; i < 100 && proxy_->Connections() < static_cast<size_t>(kIdle); ++i) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(proxy_->Connections(), static_cast<size_t>(kIdle));
  // Requests are still served at once while they wait.
  EXPECT_EQ(GetJson("/")["version"], "default");
  // After timeouts.header (the first request never came) every idle connection is closed.
  for (int i = 0; i < 200 && proxy_->Connections() > 1; ++i) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_LE(proxy_->Connections(), 1u);  // only the test client's own keep-alive connection
  EXPECT_EQ(idle.front()->Read(milliseconds(1000)), "");
  EXPECT_TRUE(idle.front()->closed());
}

TEST(ProxyStartTest, ErrorsAreClear) {
  Proxy p;
  RouteSpec no_listen = MakeRoute(
      "apiVersion: iter8.tools/v1alpha1\nkind: Route\nmetadata: {name: r}\nspec:\n"
      "  versions: [{name: a, backend: \"http://127.0.0.1:1\"}]\n");
  EXPECT_NE(p.Start(no_listen).message().find("no spec.listen"), std::string::npos);
  Proxy q;
  RouteSpec unresolvable = MakeRoute(
      "apiVersion: iter8.tools/v1alpha1\nkind: Route\nmetadata: {name: r}\nspec:\n"
      "  listen: 127.0.0.1:0\n  versions: [{name: a, backend: "
      "\"http://no-such-host.invalid:1\"}]\n");
  EXPECT_NE(q.Start(unresolvable).message().find("cannot resolve backend"), std::string::npos);
  Proxy first;
  RouteSpec ok = MakeRoute(
      "apiVersion: iter8.tools/v1alpha1\nkind: Route\nmetadata: {name: r}\nspec:\n"
      "  listen: 127.0.0.1:0\n  versions: [{name: a, backend: \"http://127.0.0.1:1\"}]\n");
  ASSERT_TRUE(first.Start(ok).ok());
  RouteSpec taken = ok;
  taken.listen->port = first.ListenAddress().port;
  Proxy second;
  EXPECT_NE(second.Start(taken).message().find("cannot listen on"), std::string::npos);
}

}  // namespace
}  // namespace iter8::proxy
