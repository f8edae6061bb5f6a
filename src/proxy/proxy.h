// File: proxy/proxy.h
//
// iter8's HTTP/1.1 traffic-splitting reverse proxy (local mode's data plane): serves one Route,
// sends each request to one version chosen by header match, sticky key or weight, and records
// per-version statistics. Run standalone by `iter8 proxy -f route.yaml`, embedded by `iter8 run`
// and `iter8 quickstart`.
//
// Threads: Start() creates N worker threads, each running its own event loop (io_context), and
// one control thread that accepts connections (handing each to a worker in turn, where it lives
// until closed) and serves the admin API. Request handling shares nothing mutable between
// workers: the route is published as an immutable snapshot (a new split applies to the next
// request on every worker, open connections are kept), balancer state and backend connection
// pools are per worker, statistics are per worker and merged when read.
//
// All public methods are thread-safe. Stop() (also run by the destructor) closes every
// connection and joins the threads.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "net/endpoint.h"
#include "proxy/route.h"
#include "proxy/stats.h"

namespace iter8::proxy {

struct ProxyOptions {
  int workers = 0;                   // 0: one per core
  uint64_t sticky_seed = 0x17e8;     // fixed, so sticky keys keep their version across restarts
  size_t max_idle_per_backend = 64;  // pooled keep-alive connections per backend per worker
  size_t max_connections = 100000;   // client connections; more are closed at once
  uint64_t response_limit = 256 * 1024 * 1024;  // backend response body bytes
};

class Proxy {
 public:
  explicit Proxy(ProxyOptions options = {});
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // Binds spec.listen (and spec.admin when set; port 0 picks a free port) and starts serving.
  // Fails, serving nothing, when the route has no listen address, an address cannot be bound or
  // a backend host does not resolve.
  absl::Status Start(const RouteSpec& route);
  void Stop();

  // Publishes a new route (weights, rules, backends). The listen and admin addresses cannot
  // change while running.
  absl::Status Update(const RouteSpec& route);
  absl::Status SetWeights(const std::map<std::string, int64_t>& weights);

  RouteSpec Route() const;
  net::HostPort ListenAddress() const;  // with the bound port
  std::optional<net::HostPort> AdminAddress() const;

  // Statistics of every version the proxy has served since Start, merged over workers.
  std::vector<VersionTraffic> Traffic() const;
  std::optional<VersionTraffic> Traffic(const std::string& version) const;
  // Requests refused before choosing a version (no version with weight).
  uint64_t Unrouted() const;
  std::string MetricsText() const;  // Prometheus text, see stats.h

  // Open client connections (for tests and the admin API).
  size_t Connections() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The admin API, separated from the socket so it can be tested directly. Endpoints:
//   GET /healthz            "ok"
//   GET /metrics            Prometheus text
//   GET /route              the route as JSON (versions, weights, backends)
//   GET /stats              per-version counts, errors, latency sums and buckets as JSON, plus
//                           "unrouted" requests and open client "connections"
//   PUT|POST /weights       body {"default": 90, "canary": 10} (or {"weights": {...}})
// With a token configured, every request needs "Authorization: Bearer <token>" (401 otherwise).
struct AdminReply {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
};
AdminReply HandleAdmin(Proxy& proxy, const std::string& method, const std::string& target,
                       const std::string& authorization, const std::string& body);

}  // namespace iter8::proxy
