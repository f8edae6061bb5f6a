// File: tasks/tasks.h
//
// The built-in task library that runs an experiment's actions (`spec.strategy.actions`:
// start, finish, loop; spec.md 5.3) in-process, each task with a timeout. An action's tasks run
// in order and the first failure fails the action (the engine then records HandlerFailed with
// the original's "<Type> actions failed").
//
//   common/exec          {cmd, args[], disableInterpolation}  argv, no shell
//   common/bash          {script}                              /bin/bash -c script
//   common/readiness     {url, initialDelaySeconds=5, numRetries=12, intervalSeconds=5}
//   notification/http    {url, method=POST, headers{}, body}   default body: JSON summary
//   notification/slack   {url, channel}                        Slack incoming webhook
//   local/promote        {}                                    winner (or baseline) -> 100 %
//   metrics/collect      {time, versions[{name, url, qps}], payloadStr, ...}  see collect.h
//
// A mode adds its own tasks through TaskEnv::extra (cluster mode: kserve/start and
// kserve/finish, k8s/kserve.h, and kubernetes/job, k8s/job_task.h); a name there takes
// precedence over a built-in one.
//
// Templates: `{{ .name }}` and `{{ .<variable> }}` of the version recommended for promotion are
// replaced in exec args, bash scripts, URLs and bodies. Unlike the original (Go html/template)
// values are inserted verbatim, not HTML-escaped: `&`, `<`, `>`, quotes reach the command as
// written. An unknown placeholder is an error naming it.
//
// Thread-compatible: RunAction may run concurrently for different experiments; a TaskEnv is
// owned by the caller for the duration of the call.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "api/types.h"
#include "engine/engine.h"
#include "traffic/traffic.h"

namespace iter8::tasks {

struct TaskEnv;
// A task: its `with` (an object; {} when absent) and the environment of the action.
using TaskFn = std::function<absl::Status(const api::Json& with, const TaskEnv& env)>;
using TaskRegistry = std::map<std::string, TaskFn>;

struct TaskEnv {
  const api::Experiment* experiment = nullptr;  // defaulted, with current status
  engine::HandlerType type = engine::HandlerType::kStart;
  traffic::TrafficDriver* traffic = nullptr;    // for local/promote
  absl::Duration timeout = absl::Seconds(300);  // per task (the original's Job deadline)
  // Set by another thread to stop the action now (the process is shutting down): a running
  // command's process group is killed and the action returns kCancelled.
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(const std::string&)> log = [](const std::string&) {};
  // Adds Fortio results (`{data: {version: result}}`) to the experiment's
  // `status.analysis.aggregatedBuiltinHists` (metrics/collect); set by the controller.
  std::function<absl::Status(const api::Json&)> store_builtin_hists;
  const TaskRegistry* extra = nullptr;  // the mode's own tasks, by `library/name`
  // The handler running the action ("<exp>-start", "<exp>-loop-3"; engine::HandlerName) and
  // the task's index in it (set by RunAction): a task that creates objects names them from
  // these, so that running the action again (after a restart) finds what it created.
  std::string handler;
  size_t task_index = 0;
};

// Runs the tasks in order; the first failure is returned, naming the task and its index.
absl::Status RunAction(const std::vector<api::TaskSpec>& tasks, const TaskEnv& env);

// Renders `{{ .key }}` placeholders from `values`.
absl::StatusOr<std::string> RenderTemplate(const std::string& text,
                                           const std::map<std::string, std::string>& values);

// The template values: the recommended version's name and variables (the baseline's on a
// rollback or when no version is recommended).
std::map<std::string, std::string> TemplateValues(const api::Experiment& experiment,
                                                  engine::HandlerType type);

}  // namespace iter8::tasks
