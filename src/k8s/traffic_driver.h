// File: k8s/traffic_driver.h
//
// Cluster mode's TrafficDriver (spec.md 5.2): each weight patch is one JSON Patch
// (`application/json-patch+json`, op `add`) on the object its weightObjRef names, of any kind
// (the resource is found by discovery; cluster-scoped kinds are patched without a namespace),
// and weights are read back with a GET of the object.
//
// Borrows the Client (thread-safe), so it may be used from any thread.
#pragma once

#include "k8s/client.h"
#include "traffic/traffic.h"

namespace iter8::k8s {

class KubernetesTrafficDriver final : public traffic::TrafficDriver {
 public:
  explicit KubernetesTrafficDriver(Client& client) : client_(client) {}
  absl::Status Apply(const engine::WeightPatch& patch) override;
  absl::StatusOr<int32_t> Read(const api::ObjectReference& ref) override;

 private:
  Client& client_;
};

}  // namespace iter8::k8s
