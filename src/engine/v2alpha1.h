// File: engine/v2alpha1.h
//
// The original's v2alpha1 handlers (spec.md 1.9, 5.3) as in-memory actions. A v2alpha1
// experiment names handlers per handler type (start, finish, rollback, failure) instead of
// listing actions: the names come from the defaults for its `strategy.type` (the `iter8-defaults`
// ConfigMap's `defaults.yaml`; built-in defaults identical to the original's file when there is
// none), overridden one by one by `spec.strategy.handlers`; `none` disables one. A name resolves
// to what runs:
//
//   1. a Job template `<name>.yaml` of the `iter8-handlers` ConfigMap, when the mode was given
//      templates (cluster mode with `--v2alpha1-handlers=jobs`): one `kubernetes/job` task with
//      the template's JobSpec, the Job named `<name>-handler-<exp>-<last UID segment>`;
//   2. else the mode's built-in handler of that name (cluster mode: `start` = kserve/start,
//      `finish` = kserve/finish; local mode: `start` = nothing to run, `finish` =
//      local/promote);
//   3. else nothing: the experiment fails (InvalidExperiment, the message names the handler).
//
// ResolveV2alpha1Handlers writes the result into the experiment in memory, as defaulting does
// (the stored spec is never changed): `spec.strategy.actions` start and finish (and rollback
// when the rollback handler differs from the finish handler), the names in
// `spec.strategy.extra[kFieldV2alpha1Handlers]` for the original's launch messages, and
// `criteria.requestCount` from the defaults' `metrics.requestCount` when the experiment has
// none. The engine reads nothing else of this (engine.h).
//
// Pure functions over values; thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api/types.h"

namespace iter8::engine {

// spec.strategy.extra key of the resolved handler names: {start, finish, rollback, failure:
// name}, only the handler types that run.
inline constexpr char kFieldV2alpha1Handlers[] = "v2alpha1Handlers";
// The handler name that disables a handler type.
inline constexpr char kV2alpha1NoHandler[] = "none";
// The ConfigMaps of the original's install (namePrefix iter8-), in the iter8 namespace.
inline constexpr char kV2alpha1DefaultsConfigMap[] = "iter8-defaults";
inline constexpr char kV2alpha1DefaultsKey[] = "defaults.yaml";
inline constexpr char kV2alpha1HandlersConfigMap[] = "iter8-handlers";

// Handler type ("start", "finish", "rollback", "failure") -> handler name.
using V2alpha1HandlerNames = std::map<std::string, std::string>;

// The content of the original's defaults.yaml.
struct V2alpha1Defaults {
  std::map<std::string, V2alpha1HandlerNames> handlers;  // by strategy type (Canary, ...)
  std::string request_count;                             // metrics.requestCount
};

// The original's defaults.yaml (iter8-kfserving v0.1.0-alpha): Canary, A/B and BlueGreen start
// with `start` and finish, roll back and fail with `finish`; Performance has `start` only;
// requestCount `request-count`.
V2alpha1Defaults BuiltinV2alpha1Defaults();

// Parses a defaults.yaml; errors name the field.
absl::StatusOr<V2alpha1Defaults> ParseV2alpha1Defaults(std::string_view yaml);

// Parses a handler Job template (a batch/v1 Job, as the original's start.yaml) and returns it
// as JSON; errors say what is missing.
absl::StatusOr<api::Json> ParseV2alpha1JobTemplate(std::string_view yaml);

// Everything resolution needs from the mode.
struct V2alpha1Config {
  V2alpha1Defaults defaults = BuiltinV2alpha1Defaults();
  // Built-in handlers: name -> tasks (an empty list: known, nothing to run in this mode).
  std::map<std::string, std::vector<api::TaskSpec>> builtin;
  // Job templates by handler name (key `<name>.yaml` without `.yaml`); empty unless the mode
  // runs the ConfigMap's templates.
  std::map<std::string, api::Json> job_templates;
  // For messages: where the templates come from ("iter8-system/iter8-handlers").
  std::string job_templates_source;
};

// Local mode's built-in handlers: `start` runs nothing (there is no InferenceService to read
// versions from; give spec.versionInfo), `finish` runs local/promote.
std::map<std::string, std::vector<api::TaskSpec>> LocalV2alpha1Handlers();

// The handler names an experiment runs with: the defaults of its strategy type overridden by
// spec.strategy.handlers, without the `none` ones. Experiments not read as v2alpha1: empty.
V2alpha1HandlerNames V2alpha1Handlers(const V2alpha1Defaults& defaults,
                                      const api::Experiment& experiment);

// The Job name of a v2alpha1 handler: "<handler>-handler-<exp>-<last UID segment>" (spec.md 1.9).
std::string V2alpha1JobName(const std::string& handler, const api::Experiment& experiment);

// Resolves a v2alpha1 experiment's handlers into actions (see above); other experiments are left
// alone. kInvalidArgument, naming the handler type and name, when a name resolves to nothing or
// spec.strategy.handlers is not a map of names.
absl::Status ResolveV2alpha1Handlers(const V2alpha1Config& config, api::Experiment* experiment);

}  // namespace iter8::engine
