// File: k8s/v2alpha1_config.h
//
// Cluster mode's configuration of v2alpha1 handlers (engine/v2alpha1.h), as the original
// controller mounted it: the `iter8-defaults` ConfigMap (key `defaults.yaml`: handler names per
// strategy type, metrics.requestCount) and the `iter8-handlers` ConfigMap (keys `<name>.yaml`:
// handler Job templates), both in the iter8 namespace.
//
//   - No iter8-defaults ConfigMap (or no defaults.yaml key): the built-in defaults, identical to
//     the original's file.
//   - Built-in handlers: `start` = kserve/start, `finish` = kserve/finish (in-process).
//   - Job templates only with V2alpha1ConfigOptions::jobs (`iter8 controller
//     --v2alpha1-handlers=jobs`): then a name with a `<name>.yaml` in iter8-handlers runs that
//     template as a Job, before any built-in of that name. Without the flag the ConfigMap is not
//     read: the original's templates name an image (iter8/iter8-kfserving-handler) a user of
//     ours does not have.
//
// The ConfigMaps are read with GET (RBAC: configmaps get in the iter8 namespace) and kept for
// `ttl`, so a reconcile costs no request most of the time and an edit takes effect within
// `ttl`. A ConfigMap whose content cannot be parsed is an error naming it and the key (the
// controller retries; fix the ConfigMap). Thread-safe; borrows the Client (thread-safe).
#pragma once

#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/v2alpha1.h"
#include "k8s/client.h"

namespace iter8::k8s {

struct V2alpha1ConfigOptions {
  std::string namespace_ = "iter8-system";  // the iter8 namespace
  bool jobs = false;                        // run iter8-handlers' Job templates
  absl::Duration ttl = absl::Seconds(10);   // how long a reading is used
};

// What the built-in handler names run in cluster mode.
std::map<std::string, std::vector<api::TaskSpec>> KServeV2alpha1Handlers();

// The ConfigMaps' content as engine::V2alpha1Config (exposed for tests): `defaults` and
// `handlers` are the ConfigMaps (null = absent).
absl::StatusOr<engine::V2alpha1Config> V2alpha1ConfigFrom(const Json& defaults,
                                                          const Json& handlers,
                                                          const V2alpha1ConfigOptions& options);

class V2alpha1ConfigSource {
 public:
  V2alpha1ConfigSource(Client& client, V2alpha1ConfigOptions options);

  // The configuration, read again when the last reading is older than the ttl.
  absl::StatusOr<engine::V2alpha1Config> Get();

 private:
  absl::StatusOr<Json> ReadConfigMap(const std::string& name);

  Client& client_;
  const V2alpha1ConfigOptions options_;
  std::mutex mu_;  // guards the two members below
  std::optional<engine::V2alpha1Config> cached_;
  absl::Time read_at_;
};

}  // namespace iter8::k8s
