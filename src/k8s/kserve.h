// File: k8s/kserve.h
//
// The KServe/KFServing start and finish tasks (spec.md 5.3), run in-process by cluster mode
// (no Job pods, so no scheduling delay), for `serving.kserve.io/v1beta1`,
// `serving.kubeflow.org/v1beta1` and `serving.kubeflow.org/v1alpha2`:
//
//   kserve/start   {target?, apiVersion?, canaryTrafficPercent=1 (v1alpha2: 0),
//                   timeoutSeconds=180}
//     the InferenceService `spec.target` (`namespace/name`) is waited for, its
//     canaryTrafficPercent set (JSON patch), its Ready condition waited for; then the
//     experiment's spec.versionInfo is written: baseline `default` (variable `revision` =
//     status.components.predictor.latestRolledoutRevision) and candidate `canary` (revision =
//     latestCreatedRevision, weightObjRef = the InferenceService's canaryTrafficPercent);
//     Conformance experiments get the baseline only. v1alpha2: /spec/canaryTrafficPercent and
//     the revisions of status.default / status.canary.
//   kserve/finish  {target?, apiVersion?, timeoutSeconds=180}
//     canaryTrafficPercent 100 when the canary is the version to promote, else 0 (roll back
//     to the rolled-out revision); then Ready is waited for. Conformance: nothing to do.
//     v1alpha2 (the original's shell handler): promotion copies spec.canary over spec.default;
//     either way spec.canary and spec.canaryTrafficPercent are removed.
//
// Without `apiVersion` the InferenceService is looked for in the groups above, in that order
// (those the cluster serves). Errors name the task's field or the object, e.g. the original's
// "invalid target specification; v1beta1 target needs to be of the form:
// 'inference-service-namespace/inference-service-name'".
//
// The tasks borrow the Client (thread-safe); they may run on any number of threads at once.
#pragma once

#include "absl/time/time.h"
#include "k8s/client.h"
#include "tasks/tasks.h"

namespace iter8::k8s {

struct KServeTaskOptions {
  absl::Duration poll = absl::Seconds(1);  // how often the InferenceService is read while waiting
};

tasks::TaskRegistry KServeTasks(Client& client, KServeTaskOptions options = {});

// InferenceService API versions tried, in order, when a task names none.
inline constexpr const char* kInferenceServiceApiVersions[] = {
    "serving.kserve.io/v1beta1", "serving.kubeflow.org/v1beta1", "serving.kubeflow.org/v1alpha2"};

}  // namespace iter8::k8s
