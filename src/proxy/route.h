// File: proxy/route.h
//
// The `Route` resource (apiVersion iter8.tools/v1alpha1, kind Route): our own kind describing
// how the local-mode proxy splits traffic between model versions. Experiments change its weights
// through `weightObjRef.fieldPath` (".spec.versions[i].weight") exactly as they change an
// InferenceService's in cluster mode. Schema (docs/user-guide.md, "Routes"):
//
//   spec:
//     listen: 127.0.0.1:8080        # where the proxy serves; a Route without it is not served
//     admin: 127.0.0.1:0            # admin API (/metrics, /route, /stats, /weights); optional
//     adminSocket: /run/iter8.sock  # the admin API on a Unix socket (mode 0600); optional
//     adminToken: secret            # optional bearer token for the admin API
//     versions:
//     - name: default
//       backend: http://127.0.0.1:9001     # or backends: [url, ...] (round robin)
//       weight: 100                 # integer >= 0; versions without weights: first gets 100
//     canaryTrafficPercent: 10      # KServe style for two versions: weights 90/10
//     sticky: {header: x-user-id}   # or {cookie: session}: a key keeps its version
//     match:                        # first matching rule wins, before weights
//     - {header: x-model-version, value: canary, version: canary}
//     mirror: {version: shadow, percent: 10}   # copies; responses discarded but measured
//     hostRewrite: true             # send the backend's host:port as Host
//     timeouts: {connect: 2s, header: 10s, idle: 60s, request: 30s}
//     limits: {headerBytes: 16384, bodyBytes: 10485760}
//
// ParseRoute validates everything and reports every problem with its JSON pointer. Pure;
// thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "api/types.h"
#include "net/endpoint.h"

namespace iter8::proxy {

inline constexpr char kRouteApiVersion[] = "iter8.tools/v1alpha1";
inline constexpr char kRouteKind[] = "Route";

struct RouteVersion {
  std::string name;
  std::vector<net::HttpUrl> backends;
  int64_t weight = 0;
};

struct MatchRule {
  std::string header;  // lower case
  std::string value;   // exact match
  std::string version;
};

struct Timeouts {
  std::chrono::milliseconds connect{2000};
  std::chrono::milliseconds header{10000};   // first byte to end of request headers
  std::chrono::milliseconds idle{60000};     // between requests on a kept-alive connection
  std::chrono::milliseconds request{30000};  // request body, backend exchange and response
};

struct RouteSpec {
  std::string namespace_ = "default";
  std::string name;
  std::optional<net::HostPort> listen;
  std::optional<net::HostPort> admin;
  std::string admin_socket;  // absolute path; "" = none
  std::string admin_token;
  std::vector<RouteVersion> versions;
  std::string sticky_header;  // lower case; at most one of header/cookie
  std::string sticky_cookie;
  std::vector<MatchRule> match;
  std::string mirror_version;
  int mirror_percent = 0;
  bool host_rewrite = false;
  Timeouts timeouts;
  size_t header_limit = 16 * 1024;
  uint64_t body_limit = 10 * 1024 * 1024;

  // Index of the version named `name`, or -1.
  int IndexOf(const std::string& name) const;
  std::map<std::string, int64_t> Weights() const;
};

// Decodes and validates a Route resource (the whole object, with apiVersion and kind).
absl::StatusOr<RouteSpec> ParseRoute(const api::Json& object);

// A copy of `spec` with new weights for the named versions (others unchanged). Unknown names,
// and negative weights are errors naming the version. All weights zero is allowed (the proxy
// then answers 503).
absl::StatusOr<RouteSpec> WithWeights(const RouteSpec& spec,
                                      const std::map<std::string, int64_t>& weights);

// Parses a duration as Kubernetes/Go writes short ones: "250ms", "2s", "1m", "1h".
absl::StatusOr<std::chrono::milliseconds> ParseDuration(const std::string& text);

}  // namespace iter8::proxy
