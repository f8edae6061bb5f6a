// File: traffic/traffic.h
//
// Moving traffic between versions: apply the engine's weight patches to the objects that hold
// the weights, and read a version's weight back through its weightObjRef (spec.md 5.2).
// `StoreTrafficDriver` does it on resources in a ResourceStore (local mode: the Route a proxy
// serves; the same code path the cluster-mode driver takes against the Kubernetes API).
//
// A StoreTrafficDriver borrows its store and is as thread-safe as the store.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "api/types.h"
#include "engine/engine.h"
#include "store/store.h"

namespace iter8::traffic {

class TrafficDriver {
 public:
  virtual ~TrafficDriver() = default;
  // Applies one patch (all ops on one object) atomically.
  virtual absl::Status Apply(const engine::WeightPatch& patch) = 0;
  // The integer at `ref.fieldPath` of the referenced object (namespace already resolved).
  virtual absl::StatusOr<int32_t> Read(const api::ObjectReference& ref) = 0;
};

class StoreTrafficDriver final : public TrafficDriver {
 public:
  explicit StoreTrafficDriver(store::ResourceStore& store) : store_(store) {}
  absl::Status Apply(const engine::WeightPatch& patch) override;
  absl::StatusOr<int32_t> Read(const api::ObjectReference& ref) override;

 private:
  store::ResourceStore& store_;
};

// The integer at `ref.fieldPath` (a field path or a JSON pointer) of `object`: kNotFound when
// absent, kInvalidArgument when not an int32 (a numeric string counts, as the original's
// JSONPath read did).
absl::StatusOr<int32_t> WeightAt(const api::Json& object, const api::ObjectReference& ref);

// Reads every version's weight of `experiment` (versions without a weightObjRef are absent),
// as engine::Observations::weights wants it. `v2alpha1` field paths are pointers already.
absl::StatusOr<std::map<std::string, int32_t>> ReadWeights(TrafficDriver& driver,
                                                           const api::Experiment& experiment);

}  // namespace iter8::traffic
