// File: k8s/client.h
//
// A Kubernetes REST client over libcurl (http/http_client.h) and nlohmann/json, for the
// cluster-mode controller: discovery of any apiVersion/kind (so weightObjRef may point at any
// kind), get, list (all pages), create, update, JSON and merge patch, delete, the status
// subresource, and watch (a chunked stream of events, with bookmarks). Status objects come back
// as absl::Status with the server's message:
//   404 NotFound, 409 AlreadyExists / Aborted (conflict: re-read and retry),
//   410 OutOfRange (watch version expired: relist), 400/415/422 InvalidArgument,
//   401/403 PermissionDenied, 429/5xx and network errors Unavailable.
// 429, 5xx and network errors are retried with exponential backoff (up to `retries` times);
// requests are paced by a token bucket (qps, burst).
//
// Thread-safe: requests are serialised on one connection, except Watch, which opens its own
// and blocks the calling thread until the stream ends.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "http/http_client.h"
#include "k8s/config.h"
#include "nlohmann/json.hpp"

namespace iter8::k8s {

using Json = nlohmann::json;

// A resource type as discovery describes it.
struct Resource {
  std::string group;    // "" for the core group
  std::string version;  // v1, v2alpha2
  std::string plural;   // experiments
  std::string kind;     // Experiment
  bool namespaced = true;
};

struct ClientOptions {
  double qps = 50;
  int burst = 100;
  int retries = 4;
  absl::Duration backoff = absl::Milliseconds(50);  // doubled per retry, at most 2 s
  absl::Duration timeout = absl::Seconds(30);       // per request (not for watches)
};

enum class PatchType { kJson, kMerge };

class Client {
 public:
  explicit Client(ClusterConfig config, ClientOptions options = {});

  const ClusterConfig& Config() const { return config_; }

  // The resource for `api_version` ("v1", "iter8.tools/v2alpha2") and `kind`; discovery results
  // are cached (a kind unknown to the cache refreshes it once).
  absl::StatusOr<Resource> Discover(const std::string& api_version, const std::string& kind);

  absl::StatusOr<Json> Get(const Resource& r, const std::string& ns, const std::string& name);
  // Every item, following `continue` with pages of `page_size`; the list's resourceVersion is
  // in *resource_version when given (to start a watch from).
  absl::StatusOr<std::vector<Json>> List(const Resource& r, const std::string& ns,
                                         std::string* resource_version = nullptr,
                                         const std::string& label_selector = "",
                                         int page_size = 500);
  absl::StatusOr<Json> Create(const Resource& r, const std::string& ns, const Json& object);
  // PUT of the whole object (its metadata.resourceVersion is the precondition); `status`
  // writes the status subresource.
  absl::StatusOr<Json> Update(const Resource& r, const Json& object, bool status = false);
  absl::StatusOr<Json> Patch(const Resource& r, const std::string& ns, const std::string& name,
                             PatchType type, const Json& patch, bool status = false);
  absl::Status Delete(const Resource& r, const std::string& ns, const std::string& name);

  // Streams events after `resource_version` ("" = the current state first) until `on_event`
  // returns false, the server ends the stream (returns OK: watch again from the last version
  // seen) or `timeout_seconds` pass. An expired version is OutOfRange: list again. When
  // `*cancel` becomes true the watch ends within about a second (kCancelled).
  absl::Status Watch(
      const Resource& r, const std::string& ns, const std::string& resource_version,
      const std::function<bool(const std::string& type, const Json& object)>& on_event,
      int timeout_seconds = 300, const std::string& label_selector = "",
      const std::atomic<bool>* cancel = nullptr);

  // Requests sent so far (retries included), for tests and the capacity benchmark.
  int64_t Requests() const;
  // Answers other than 2xx and network errors so far (404s included), for /metrics.
  int64_t Errors() const;

 private:
  std::string Path(const Resource& r, const std::string& ns, const std::string& name = "",
                   bool status = false) const;
  absl::StatusOr<Json> Call(http::HttpRequest request);
  http::HttpRequest Request(const std::string& method, const std::string& path) const;
  void Pace();

  ClusterConfig config_;
  ClientOptions options_;
  mutable std::mutex mu_;  // guards everything below
  http::HttpClient http_;
  std::map<std::string, Resource> discovered_;  // "group/version/Kind" -> resource
  double tokens_;
  absl::Time refilled_;
  int64_t requests_ = 0;
  int64_t errors_ = 0;
};

// The absl::Status for an HTTP status code and a Kubernetes Status object (or any body).
absl::Status StatusFromResponse(long code, const std::string& body);

}  // namespace iter8::k8s
