// File: k8s/events.h
//
// Kubernetes Events for experiments (spec.md 1.6): one core/v1 Event per engine event (stage
// advanced, condition changed, iteration completed, ...), involving the Experiment, so
// `kubectl describe experiment` and `kubectl get events` show what iter8 did. Reasons with
// "Fail", "Error" or "Invalid" in them are Warning events, the rest Normal.
//
// Borrows the Client (thread-safe); Record may be called from any thread. Failures to write an
// Event are logged and otherwise ignored: an Event is informational.
#pragma once

#include <functional>
#include <string>

#include "absl/time/time.h"
#include "api/types.h"
#include "engine/engine.h"
#include "k8s/client.h"

namespace iter8::k8s {

class EventRecorder {
 public:
  EventRecorder(Client& client, std::string component, std::string host,
                std::function<void(const std::string&)> log);
  void Record(const api::Experiment& experiment, const engine::Event& event);

 private:
  Client& client_;
  const std::string component_;
  const std::string host_;
  const std::function<void(const std::string&)> log_;
};

// The Event object Record writes (exposed for tests).
Json EventObject(const api::Experiment& experiment, const engine::Event& event,
                 const std::string& component, const std::string& host, absl::Time now);

}  // namespace iter8::k8s
