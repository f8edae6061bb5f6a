// File: k8s/job_task.h
//
// Job-based actions, as the original ran every action: a task that runs a container as a
// Kubernetes Job and waits for it, for custom tasks that need their own image (iter8's own
// tasks run in-process, without a pod's scheduling delay).
//
//   kubernetes/job {image, command[], args[], env[{name, value}], serviceAccountName,
//                   backoffLimit=1, activeDeadlineSeconds=300, timeoutSeconds=300, jobName?}
//               or {spec: <a batch/v1 JobSpec>, timeoutSeconds=300, jobName?}
//
// The Job goes into the controller's namespace (JobTaskOptions::namespace_), named `jobName`
// when given (v2alpha1 handler Jobs: "<handler>-handler-<exp>-<last UID segment>",
// engine/v2alpha1.h), else "<handler>-<task index>" (e.g. "quickstart-exp-start-0"); longer
// names are shortened with a hash. It is labelled iter8/experimentName, iter8/experimentNamespace,
// iter8/experimentUID and iter8/action on the Job and its pods, with env EXPERIMENT_NAME,
// EXPERIMENT_NAMESPACE and ACTION (start|finish|loop) on every container (replacing entries of
// those names), as the original's handler Jobs. The shorthand builds restartPolicy Never,
// serviceAccountName iter8-handlers, backoffLimit 1 and activeDeadlineSeconds 300 (the original's
// template); `{{ .name }}`-style placeholders in args are rendered as in common/exec. The task
// waits until the Job's Complete condition (ok) or Failed condition (the task fails with the Job's
// reason and message), at most timeoutSeconds.
//
// Running the action again (a restarted or new leader) finds the Job by its name and waits for
// it instead of starting a second one; a Job of that name left by an earlier experiment (another
// uid) is deleted first. Thread-safe: the task borrows the Client (thread-safe).
#pragma once

#include <string>

#include "absl/time/time.h"
#include "k8s/client.h"
#include "tasks/tasks.h"

namespace iter8::k8s {

struct JobTaskOptions {
  std::string namespace_ = "iter8-system";  // where the Jobs go (the controller's namespace)
  absl::Duration poll = absl::Seconds(1);   // how often the Job is read while waiting
};

tasks::TaskRegistry JobTasks(Client& client, JobTaskOptions options = {});

// The Job's name for a handler's task: "<handler>-<index>", at most 63 characters.
std::string JobName(const std::string& handler, size_t task_index);
// `name` as a Job name: lower case, [a-z0-9-] only, shortened with a hash beyond 63 characters.
std::string JobName(std::string name);

}  // namespace iter8::k8s
