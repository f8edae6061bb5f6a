// File: net/http_server.h
//
// A small HTTP/1.1 server for iter8's own endpoints (the sample model server; tests): keep-alive,
// chunked request bodies, size limits and timeouts come from Beast; the handler sees a plain
// request and returns a plain response, so callers never include Beast. A response may ask to
// be sent after a delay: the server waits on a timer, never blocking its thread, so injected
// latency costs no throughput.
//
// Threads: Start() runs `threads` threads on one event loop; the handler is called from any of
// them concurrently and must be thread-safe. Stop() (and the destructor) closes everything and
// joins the threads; a server is started once.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "net/endpoint.h"

namespace iter8::net {

struct HttpRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::chrono::microseconds delay{0};  // wait this long before sending
  std::vector<std::pair<std::string, std::string>> headers;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  HttpServer(HttpHandler handler, int threads = 1);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  absl::Status Start(const HostPort& address);
  void Stop();
  HostPort Address() const;  // with the bound port

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace iter8::net
