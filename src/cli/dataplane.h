// File: cli/dataplane.h
//
// Local mode's data plane inside `iter8 run` and `iter8 quickstart`: one proxy (proxy/proxy.h)
// for each Route of the store that has `spec.listen`, kept in step with the stored Route (the
// engine writes weights into the Route through weightObjRef; a watcher thread polls the store
// every 100 ms and publishes a changed Route to its proxy), and the proxies' per-version
// statistics offered to the builtin metric provider (metrics::BuiltinSource).
//
// Statistics count what a proxy served since it started in this process.
//
// Threads: Start/Stop from one thread; Stats() and Sync() from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "metrics/builtin_provider.h"
#include "proxy/proxy.h"
#include "store/store.h"

namespace iter8::cli {

class LocalDataPlane final : public metrics::BuiltinSource {
 public:
  using Log = std::function<void(const std::string&)>;
  explicit LocalDataPlane(store::ResourceStore& store, Log log = nullptr);
  ~LocalDataPlane() override;

  // Serves every listed Route that has spec.listen (others are weight holders only). On error
  // nothing is left serving.
  absl::Status Start(const std::vector<store::ObjectKey>& routes);
  void Stop();

  // Publishes the stored Routes to their proxies now (what the watcher does every 100 ms), so a
  // caller that has just seen an experiment end reads the final split from the proxy.
  void Sync();

  // The proxy serving the named Route (namespace "" matches any), or nullptr.
  proxy::Proxy* Find(const std::string& ns, const std::string& name) const;

  // metrics::BuiltinSource
  std::optional<metrics::VersionStats> Stats(const std::string& version,
                                             const std::string& route) const override;

 private:
  struct Served {
    store::ObjectKey key;
    std::string resource_version;
    std::unique_ptr<proxy::Proxy> proxy;
  };
  void Watch();

  store::ResourceStore& store_;
  std::mutex sync_mu_;  // one publication pass at a time (the watcher's and Sync's)
  Log log_;
  std::vector<Served> served_;  // fixed after Start
  std::atomic<bool> stop_{false};
  std::thread watcher_;
};

// A proxy's statistics of one version in the builtin provider's shape.
metrics::VersionStats ToVersionStats(const proxy::VersionTraffic& traffic);

}  // namespace iter8::cli
