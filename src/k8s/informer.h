// File: k8s/informer.h
//
// An informer: a local copy of every object of one resource (in one namespace or all, optionally
// narrowed by a label selector), kept current by list + watch, with a callback per change.
//
//  - Start() lists every page, so the cache is complete when it returns, then a thread watches
//    from the list's resourceVersion;
//  - a stream the server ends or drops is resumed from the last resourceVersion seen (bookmarks
//    move it on too); 410 Gone (the version was compacted) relists and reports the difference
//    as changes, so no add, update or delete is missed; other errors retry after `retry`;
//  - every `resync` the whole list is read again the same way (a safety net, like client-go's);
//  - Observe() puts a write's answer in the cache at once, so a reader sees its own writes
//    before the watch event arrives; an older version never replaces a newer one (resource
//    versions compared as integers when both are, as every real API server issues them).
//
// Owns its watch thread. Thread-safe: Get/List/Observe may be called from any thread; the
// change callback runs on the watch thread (or the caller of Start) without the cache lock.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "k8s/client.h"
#include "store/store.h"

namespace iter8::k8s {

struct InformerOptions {
  std::string ns;              // "" = every namespace
  std::string label_selector;  // k=v[,k=v]
  absl::Duration resync = absl::Minutes(10);
  absl::Duration retry = absl::Seconds(1);
  int watch_timeout_seconds = 300;
  std::function<void(const std::string&)> log = [](const std::string&) {};
};

struct InformerStats {
  int64_t lists = 0;     // full lists (the first, 410 relists, resyncs)
  int64_t watches = 0;   // watch requests
  int64_t events = 0;    // watch events applied
  int64_t expired = 0;   // 410 Gone answers
  int64_t failures = 0;  // other watch failures (retried)
};

class Informer {
 public:
  using OnChange = std::function<void(store::ChangeType, const Json& object)>;

  Informer(Client& client, Resource resource, InformerOptions options, OnChange on_change);
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Lists (reporting every object as added) and starts watching.
  absl::Status Start();
  void Stop();

  std::optional<Json> Get(const std::string& ns, const std::string& name) const;
  // Objects in `ns` ("" = all), ordered by namespace, name.
  std::vector<Json> List(const std::string& ns) const;
  // Objects in `ns` whose name starts with `prefix` (an ordered-index lookup).
  std::vector<Json> ListPrefix(const std::string& ns, const std::string& prefix) const;
  size_t Size() const;
  // A write's answer (create, update, patch): cached unless the cache holds a newer version.
  void Observe(const Json& object);
  void Forget(const std::string& ns, const std::string& name);

  const Resource& GetResource() const { return resource_; }
  InformerStats Stats() const;

 private:
  using Key = std::pair<std::string, std::string>;  // namespace, name
  absl::Status Relist();
  void Run();
  // Applies one object to the cache; returns the change to report, if any (mu_ held).
  std::optional<store::ChangeType> ApplyLocked(const std::string& type, const Json& object);

  Client& client_;
  const Resource resource_;
  const InformerOptions options_;
  const OnChange on_change_;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::map<Key, Json> cache_;
  std::string resource_version_;  // where the watch resumes
  InformerStats stats_;
  bool stopping_ = false;
  std::atomic<bool> cancel_{false};
  std::thread thread_;
};

// metadata.resourceVersion of `a` is newer than that of `b` (integers compared numerically; a
// version that is not an integer counts as newer, so it is never ignored).
bool NewerVersion(const Json& a, const Json& b);

}  // namespace iter8::k8s
