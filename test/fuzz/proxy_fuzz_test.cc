// libFuzzer target for the proxy's request path: each input is written as raw bytes to a real
// iter8 proxy on loopback (two workers, a real backend behind it), the write side is closed and
// the answer read until the proxy closes. Any crash or sanitizer report in the proxy (parsing,
// limits, Expect, chunked bodies, routing, forwarding, statistics) is a bug; so is a hang (the
// read gives up after 5 s and aborts).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "api/document.h"
#include "net/http_server.h"
#include "proxy/proxy.h"

namespace {

struct World {
  std::unique_ptr<iter8::net::HttpServer> backend;
  std::unique_ptr<iter8::proxy::Proxy> proxy;
  int port = 0;
};

World& TheWorld() {
  static World* w = [] {
    auto* world = new World;
    world->backend = std::make_unique<iter8::net::HttpServer>(
        [](const iter8::net::HttpRequest& r) {
          iter8::net::HttpResponse res;
          res.body = r.method + " " + r.target + " " + std::to_string(r.body.size());
          return res;
        },
        1);
    if (!world->backend->Start({"127.0.0.1", 0}).ok()) std::abort();
    const std::string b = "http://" + world->backend->Address().String();
    auto docs = iter8::api::ParseDocuments(
        "apiVersion: iter8.tools/v1alpha1\nkind: Route\nmetadata: {name: fuzz}\nspec:\n"
        "  listen: 127.0.0.1:0\n  versions:\n"
        "  - {name: default, backend: \"" +
            b +
            "\", weight: 3}\n"
            "  - {name: canary, backend: \"" +
            b +
            "\", weight: 1}\n"
            "  sticky: {cookie: session}\n"
            "  match: [{header: x-model-version, value: canary, version: canary}]\n"
            "  mirror: {version: canary, percent: 10}\n"
            "  timeouts: {header: 200ms, idle: 200ms, request: 1s}\n"
            "  limits: {headerBytes: 2048, bodyBytes: 4096}\n",
        "fuzz-route");
    auto route = iter8::proxy::ParseRoute(docs->front().json);
    if (!route.ok()) std::abort();
    world->proxy = std::make_unique<iter8::proxy::Proxy>(iter8::proxy::ProxyOptions{.workers = 2});
    if (!world->proxy->Start(*route).ok()) std::abort();
    world->port = world->proxy->ListenAddress().port;
    return world;
  }();
  return *w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = TheWorld();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(w.port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) std::abort();
  size_t off = 0;
  while (off < size) {
    ssize_t n = ::send(fd, data + off, size - off, MSG_NOSIGNAL);
    if (n <= 0) break;  // the proxy may close early (e.g. after a 400): fine
    off += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  char buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, 5000);
    if (ready == 0) std::abort();  // the proxy neither answered nor closed: a hang
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
  }
  ::close(fd);
  return 0;
}
