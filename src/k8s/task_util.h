// File: k8s/task_util.h
//
// Small helpers shared by cluster mode's in-process tasks (kserve.h, job_task.h): reading
// optional `with` fields with errors that name them, sleeping in steps that notice a cancelled
// action, and reading an object's status conditions. Pure functions; any thread.
#pragma once

#include <algorithm>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/strings.h"
#include "nlohmann/json.hpp"
#include "tasks/tasks.h"

namespace iter8::k8s::task_util {

inline bool Cancelled(const tasks::TaskEnv& env) {
  return env.cancel != nullptr && env.cancel->load();
}

// Sleeps `d` in short steps; false when the action is cancelled meanwhile.
inline bool Sleep(absl::Duration d, const tasks::TaskEnv& env) {
  const absl::Time until = absl::Now() + d;
  while (absl::Now() < until) {
    if (Cancelled(env)) return false;
    absl::SleepFor(std::min(absl::Milliseconds(100), until - absl::Now()));
  }
  return !Cancelled(env);
}

inline absl::StatusOr<std::string> OptionalString(const nlohmann::json& with, const char* key) {
  if (!with.contains(key)) return std::string();
  if (!with[key].is_string()) {
    return absl::InvalidArgumentError(StrCat("with.", key, ": must be a string"));
  }
  return with[key].get<std::string>();
}

inline absl::StatusOr<int64_t> OptionalInt(const nlohmann::json& with, const char* key,
                                           int64_t fallback, int64_t lo, int64_t hi) {
  if (!with.contains(key)) return fallback;
  if (!with[key].is_number_integer() || with[key].get<int64_t>() < lo ||
      with[key].get<int64_t>() > hi) {
    return absl::InvalidArgumentError(
        StrCat("with.", key, ": must be an integer in [", lo, ", ", hi, "]"));
  }
  return with[key].get<int64_t>();
}

// The condition of `type` whose status is "True" in `object`'s status.conditions, or null.
inline const nlohmann::json* TrueCondition(const nlohmann::json& object, const std::string& type) {
  if (!object.is_object() || !object.contains("status")) return nullptr;
  const nlohmann::json& status = object["status"];
  if (!status.is_object() || !status.contains("conditions") || !status["conditions"].is_array()) {
    return nullptr;
  }
  for (const nlohmann::json& c : status["conditions"]) {
    if (c.is_object() && c.value("type", std::string()) == type &&
        c.value("status", std::string()) == "True") {
      return &c;
    }
  }
  return nullptr;
}

}  // namespace iter8::k8s::task_util
