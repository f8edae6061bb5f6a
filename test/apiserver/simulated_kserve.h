// File: test/apiserver/simulated_kserve.h
//
// A SIMULATED KServe controller for tests (there is no Kubernetes or KServe on these machines):
// it watches InferenceServices (serving.kserve.io/v1beta1 or serving.kubeflow.org/v1beta1)
// through the Kubernetes API, like KServe's controller, and writes their status the way KServe
// does for a canary rollout:
//  - every change of spec.predictor other than canaryTrafficPercent creates a revision
//    `<name>-predictor-default-0000N` (status.components.predictor.latestCreatedRevision);
//  - the first revision, and a new one while canaryTrafficPercent is absent or 100, is rolled
//    out (latestRolledoutRevision, 100 % of traffic); otherwise canaryTrafficPercent % goes to
//    the latest created revision and the rest to the rolled-out one
//    (status.components.predictor.traffic), and 100 promotes the latest;
//  - the Ready condition is True (after `ready_delay`), observedGeneration is the spec's.
// `on_split` is called with the traffic split whenever it changes, so a test can drive a real
// proxy's weights in front of real model servers (revision name -> percent).
//
// Owns one watch thread. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "k8s/client.h"
#include "k8s/informer.h"

namespace iter8::testing {

struct SimulatedKServeOptions {
  std::string api_version = "serving.kserve.io/v1beta1";
  absl::Duration ready_delay = absl::ZeroDuration();
  // (namespace/name, revision -> percent)
  std::function<void(const std::string&, const std::map<std::string, int>&)> on_split;
};

class SimulatedKServe {
 public:
  SimulatedKServe(k8s::Client& client, SimulatedKServeOptions options);
  ~SimulatedKServe();
  // Starts watching; the InferenceService CRD must be installed.
  absl::Status Start();
  void Stop();

 private:
  struct Service {
    int revisions = 0;
    std::string last_predictor;  // spec.predictor without canaryTrafficPercent
    std::string rolled_out, created;
    std::map<std::string, int> split;
  };
  void OnChange(const k8s::Json& isvc);

  k8s::Client& client_;
  const SimulatedKServeOptions options_;
  std::unique_ptr<k8s::Informer> informer_;
  std::mutex mu_;
  std::map<std::string, Service> services_;
};

// The InferenceService CRDs the simulation needs are in test/apiserver/kserve-crds.yaml.

}  // namespace iter8::testing
