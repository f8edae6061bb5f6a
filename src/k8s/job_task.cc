#include "k8s/job_task.h"

#include <cctype>
#include <cstdint>
#include <cstdio>

#include "common/strings.h"
#include "engine/engine.h"
#include "k8s/task_util.h"

namespace iter8::k8s {
namespace {

using task_util::OptionalInt;
using task_util::OptionalString;
using task_util::Sleep;
using task_util::TrueCondition;

constexpr size_t kMaxName = 63;

// A JSON array of strings from `with[key]`, each rendered as a template.
absl::StatusOr<Json> Strings(const Json& with, const char* key,
                             const std::map<std::string, std::string>& values) {
  Json out = Json::array();
  if (!with.contains(key)) return out;
  if (!with[key].is_array()) {
    return absl::InvalidArgumentError(StrCat("with.", key, ": must be a list of strings"));
  }
  for (size_t i = 0; i < with[key].size(); ++i) {
    const Json& item = with[key][i];
    if (!item.is_string()) {
      return absl::InvalidArgumentError(StrCat("with.", key, "[", i, "]: must be a string"));
    }
    absl::StatusOr<std::string> r = tasks::RenderTemplate(item.get<std::string>(), values);
    if (!r.ok()) {
      return absl::InvalidArgumentError(StrCat("with.", key, "[", i, "]: ", r.status().message()));
    }
    out.push_back(*r);
  }
  return out;
}

class JobTask {
 public:
  JobTask(Client& client, JobTaskOptions options) : client_(client), options_(options) {}

  absl::Status Run(const Json& with, const tasks::TaskEnv& env) {
    const api::Experiment& e = *env.experiment;
    absl::StatusOr<int64_t> timeout = OptionalInt(with, "timeoutSeconds", 300, 1, 86400);
    if (!timeout.ok()) return timeout.status();
    absl::StatusOr<Json> spec = Spec(with, env);
    if (!spec.ok()) return spec.status();
    absl::StatusOr<Resource> jobs = client_.Discover("batch/v1", "Job");
    if (!jobs.ok()) return jobs.status();

    const std::string action = engine::ActionKey(env.type);
    absl::StatusOr<std::string> given = OptionalString(with, "jobName");
    if (!given.ok()) return given.status();
    const std::string name =
        !given->empty()
            ? JobName(*given)
            : JobName(env.handler.empty() ? e.metadata.name + "-" + action : env.handler,
                      env.task_index);
    const Json labels = {{"iter8/experimentName", e.metadata.name},
                         {"iter8/experimentNamespace", e.metadata.namespace_},
                         {"iter8/experimentUID", e.metadata.uid},
                         {"iter8/action", action}};
    Json& pod = (*spec)["template"];
    for (const auto& [k, v] : labels.items()) pod["metadata"]["labels"][k] = v;
    const Json env_vars =
        Json::array({{{"name", "EXPERIMENT_NAME"}, {"value", e.metadata.name}},
                     {{"name", "EXPERIMENT_NAMESPACE"}, {"value", e.metadata.namespace_}},
                     {{"name", "ACTION"}, {"value", action}}});
    for (Json& c : pod["spec"]["containers"]) {
      if (!c.contains("env") || !c["env"].is_array()) c["env"] = Json::array();
      // A template's own entries of these names (the original's EXPERIMENT_NAME_VALUE
      // placeholders) are replaced: the container sees each name once.
      Json kept = Json::array();
      for (const Json& v : c["env"]) {
        const bool ours = v.is_object() && (v.value("name", "") == "EXPERIMENT_NAME" ||
                                            v.value("name", "") == "EXPERIMENT_NAMESPACE" ||
                                            v.value("name", "") == "ACTION");
        if (!ours) kept.push_back(v);
      }
      for (const Json& v : env_vars) kept.push_back(v);
      c["env"] = std::move(kept);
    }
    const Json job = {
        {"apiVersion", "batch/v1"},
        {"kind", "Job"},
        {"metadata", {{"name", name}, {"namespace", options_.namespace_}, {"labels", labels}}},
        {"spec", *spec}};
    const std::string where = StrCat("Job ", options_.namespace_, "/", name);

    absl::Status created = Create(*jobs, job, e.metadata.uid, where, env);
    if (!created.ok()) return created;
    const absl::Time deadline = absl::Now() + absl::Seconds(*timeout);
    for (;;) {
      absl::StatusOr<Json> current = client_.Get(*jobs, options_.namespace_, name);
      if (!current.ok()) {
        return absl::Status(current.status().code(),
                            StrCat(where, ": ", current.status().message()));
      }
      if (TrueCondition(*current, "Complete") != nullptr) {
        env.log(StrCat(where, " complete"));
        return absl::OkStatus();
      }
      if (const Json* failed = TrueCondition(*current, "Failed")) {
        return absl::AbortedError(StrCat(where, " failed: ", failed->value("reason", "Failed"),
                                         ": ", failed->value("message", "")));
      }
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError(
            StrCat(where, " did not finish within with.timeoutSeconds (", *timeout, " s)"));
      }
      if (!Sleep(options_.poll, env)) return absl::CancelledError("iter8 is stopping");
    }
  }

 private:
  // The JobSpec: `with.spec` as given, or built from the shorthand.
  absl::StatusOr<Json> Spec(const Json& with, const tasks::TaskEnv& env) {
    const bool has_spec = with.contains("spec");
    const bool has_image = with.contains("image");
    if (has_spec == has_image) {
      return absl::InvalidArgumentError("with: give either image (and command, args, env) or spec");
    }
    if (has_spec) {
      const Json& s = with["spec"];
      if (!s.is_object() || !s.contains("template") || !s["template"].is_object() ||
          !s["template"].contains("spec") || !s["template"]["spec"].is_object() ||
          !s["template"]["spec"].contains("containers") ||
          !s["template"]["spec"]["containers"].is_array() ||
          s["template"]["spec"]["containers"].empty()) {
        return absl::InvalidArgumentError(
            "with.spec: must be a batch/v1 JobSpec with template.spec.containers");
      }
      return s;
    }
    absl::StatusOr<std::string> image = OptionalString(with, "image");
    if (!image.ok()) return image.status();
    if (image->empty()) return absl::InvalidArgumentError("with.image: must not be empty");
    absl::StatusOr<std::string> account = OptionalString(with, "serviceAccountName");
    if (!account.ok()) return account.status();
    absl::StatusOr<int64_t> backoff = OptionalInt(with, "backoffLimit", 1, 0, 100);
    if (!backoff.ok()) return backoff.status();
    absl::StatusOr<int64_t> active = OptionalInt(with, "activeDeadlineSeconds", 300, 1, 86400);
    if (!active.ok()) return active.status();
    const auto values = tasks::TemplateValues(*env.experiment, env.type);
    absl::StatusOr<Json> command = Strings(with, "command", values);
    if (!command.ok()) return command.status();
    absl::StatusOr<Json> args = Strings(with, "args", values);
    if (!args.ok()) return args.status();
    Json container = {{"name", "task"}, {"image", *image}};
    if (!command->empty()) container["command"] = *command;
    if (!args->empty()) container["args"] = *args;
    if (with.contains("env")) {
      const Json& env_list = with["env"];
      bool ok = env_list.is_array();
      for (size_t i = 0; ok && i < env_list.size(); ++i) {
        ok = env_list[i].is_object() && env_list[i].contains("name") &&
             env_list[i]["name"].is_string() &&
             (!env_list[i].contains("value") || env_list[i]["value"].is_string());
      }
      if (!ok) {
        return absl::InvalidArgumentError(
            "with.env: must be a list of {name: string, value: string}");
      }
      container["env"] = env_list;
    }
    return Json{{"backoffLimit", *backoff},
                {"activeDeadlineSeconds", *active},
                {"template",
                 {{"metadata", Json::object()},
                  {"spec",
                   {{"restartPolicy", "Never"},
                    {"serviceAccountName", account->empty() ? "iter8-handlers" : *account},
                    {"containers", Json::array({container})}}}}}};
  }

  // Creates the Job, or adopts the one of this experiment that a previous run created.
  absl::Status Create(const Resource& jobs, const Json& job, const std::string& uid,
                      const std::string& where, const tasks::TaskEnv& env) {
    const std::string name = job["metadata"]["name"];
    for (int attempt = 0; attempt < 30; ++attempt) {
      absl::StatusOr<Json> created = client_.Create(jobs, options_.namespace_, job);
      if (created.ok()) {
        env.log(StrCat(where, " created"));
        return absl::OkStatus();
      }
      if (!absl::IsAlreadyExists(created.status())) {
        return absl::Status(created.status().code(),
                            StrCat("create ", where, ": ", created.status().message()));
      }
      absl::StatusOr<Json> existing = client_.Get(jobs, options_.namespace_, name);
      if (absl::IsNotFound(existing.status())) continue;  // deleted meanwhile: create again
      if (!existing.ok()) return existing.status();
      const Json labels =
          existing->value("metadata", Json::object()).value("labels", Json::object());
      if (labels.value("iter8/experimentUID", "") == uid) {
        env.log(StrCat(where, " exists (started before): waiting for it"));
        return absl::OkStatus();
      }
      // Left by an earlier experiment of the same name: replace it.
      env.log(StrCat(where, " belongs to another experiment (uid '",
                     labels.value("iter8/experimentUID", ""), "'): deleting it"));
      absl::Status deleted = client_.Delete(jobs, options_.namespace_, name);
      if (!deleted.ok() && !absl::IsNotFound(deleted)) return deleted;
      if (!Sleep(options_.poll, env)) return absl::CancelledError("iter8 is stopping");
    }
    return absl::UnavailableError(StrCat(where, ": could not be replaced"));
  }

  Client& client_;
  JobTaskOptions options_;
};

}  // namespace

std::string JobName(const std::string& handler, size_t task_index) {
  return JobName(StrCat(handler, "-", task_index));
}

std::string JobName(std::string name) {
  for (char& c : name) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '-';
  }
  if (name.size() <= kMaxName) return name;
  uint32_t fnv = 2166136261u;  // FNV-1a: the same name from every build and run
  for (unsigned char c : name) fnv = (fnv ^ c) * 16777619u;
  char hash[9];
  std::snprintf(hash, sizeof hash, "%08x", fnv);
  return StrCat(name.substr(0, kMaxName - 9), "-", hash);
}

tasks::TaskRegistry JobTasks(Client& client, JobTaskOptions options) {
  auto task = std::make_shared<JobTask>(client, std::move(options));
  return {{"kubernetes/job",
           [task](const Json& with, const tasks::TaskEnv& env) { return task->Run(with, env); }}};
}

}  // namespace iter8::k8s
