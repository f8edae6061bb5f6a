// File: k8s/cluster_store.h
//
// Cluster mode's ResourceStore: the controller's view of the Kubernetes API, so the same
// controller (controller/controller.h) that runs local mode on SQLite runs here.
//
//   Experiment  iter8.tools/v2alpha2 experiments (every namespace, or one), informer-cached
//   Metric      iter8.tools/v2alpha2 metrics (every namespace), informer-cached
//   Handler     the state of an action run in-process (the original ran Jobs): a ConfigMap
//               `<experiment-namespace>.<handler-name>` in the iter8 namespace, labelled
//               iter8.tools/handler=true, data {namespace, name, spec, status} (JSON); a second
//               replica that takes over the lease sees which actions ran and which did not
//
// Reads (Get, List) are answered from the informers' caches, as controller-runtime's cached
// client does: reconciling 10,000 experiments does not list them from the server. Writes go to
// the API server (status through the status subresource, with the resourceVersion read as the
// precondition: a stale write is kAborted, the controller reads again and retries) and their
// answers go into the cache at once. Every change seen (the watch's and this process's writes)
// is appended to an in-memory change feed that the controller follows (`Changes`).
//
// Owns its informers (one watch thread each). Thread-safe.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "k8s/client.h"
#include "k8s/informer.h"
#include "store/store.h"

namespace iter8::k8s {

inline constexpr char kHandlerLabel[] = "iter8.tools/handler";

struct ClusterStoreOptions {
  std::string namespace_;                        // experiments watched; "" = every namespace
  std::string iter8_namespace = "iter8-system";  // where Handler ConfigMaps live
  InformerOptions informer;                      // resync, retry, log (ns/selector are set here)
};

struct ClusterStoreStats {
  size_t experiments = 0;
  size_t metrics = 0;
  size_t handlers = 0;
  InformerStats experiment_informer;
};

class ClusterStore final : public store::ResourceStore {
 public:
  // Discovers the resources, lists them (the caches are complete when this returns) and starts
  // watching. Fails when iter8's CRDs are not installed.
  static absl::StatusOr<std::unique_ptr<ClusterStore>> Open(Client& client,
                                                            ClusterStoreOptions options);
  ~ClusterStore() override;

  absl::StatusOr<api::Json> Get(const store::ObjectKey& key) override;
  absl::StatusOr<std::vector<api::Json>> List(const std::string& kind,
                                              const std::string& ns) override;
  absl::StatusOr<std::vector<api::Json>> ListPrefix(const std::string& kind, const std::string& ns,
                                                    const std::string& prefix) override;
  absl::StatusOr<api::Json> Create(const api::Json& object) override;
  absl::StatusOr<api::Json> Update(const api::Json& object) override;
  absl::StatusOr<api::Json> UpdateStatus(const api::Json& object) override;
  absl::Status Delete(const store::ObjectKey& key) override;
  absl::StatusOr<std::vector<store::Change>> Changes(int64_t after, int limit) override;
  absl::StatusOr<int64_t> Revision() override;

  ClusterStoreStats Stats() const;
  void Stop();

 private:
  ClusterStore(Client& client, ClusterStoreOptions options);
  // The informer that keeps `kind` (Experiment, Metric), else kInvalidArgument.
  absl::StatusOr<Informer*> InformerFor(const std::string& kind);
  // A write's answer into `informer`'s cache, returned in the store's shape (a Handler for
  // the handlers' ConfigMaps).
  absl::StatusOr<api::Json> Cache(Informer& informer, absl::StatusOr<Json> written);
  void Record(store::ChangeType type, const std::string& kind, const Json& object);
  absl::StatusOr<api::Json> WriteHandler(const Json& handler, bool status);
  std::string HandlerObjectName(const std::string& ns, const std::string& name) const;

  Client& client_;
  const ClusterStoreOptions options_;
  std::unique_ptr<Informer> experiments_;
  std::unique_ptr<Informer> metrics_;
  std::unique_ptr<Informer> handlers_;  // ConfigMaps

  mutable std::mutex mu_;  // guards the change feed
  std::deque<store::Change> feed_;
  int64_t revision_ = 0;
};

// A Handler (kind Handler, metadata {namespace, name}, spec, status) as the ConfigMap that holds
// it, and back; exposed for tests.
Json HandlerToConfigMap(const Json& handler, const std::string& iter8_namespace);
absl::StatusOr<Json> HandlerFromConfigMap(const Json& config_map);

}  // namespace iter8::k8s
