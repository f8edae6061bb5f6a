#include "engine/v2alpha1.h"

#include "api/document.h"
#include "common/strings.h"
#include "engine/engine.h"

namespace iter8::engine {
namespace {

using api::Json;

constexpr const char* kHandlerTypes[] = {"start", "finish", "rollback", "failure"};

// "Start", "Finish", ... as the original's messages spell handler types.
std::string TypeTitle(const std::string& type) {
  std::string t = type;
  if (!t.empty()) t[0] = static_cast<char>(t[0] - 'a' + 'A');
  return t;
}

absl::StatusOr<Json> ParseOne(std::string_view yaml, std::string_view source) {
  absl::StatusOr<std::vector<api::Document>> docs = api::ParseDocuments(yaml, source);
  if (!docs.ok()) return docs.status();
  if (docs->size() != 1) {
    return absl::InvalidArgumentError(
        StrCat(source, ": expected one YAML document, found ", docs->size()));
  }
  return (*docs)[0].json;
}

absl::StatusOr<V2alpha1HandlerNames> ParseNames(const Json& handlers, const std::string& where) {
  if (!handlers.is_object()) {
    return absl::InvalidArgumentError(StrCat(where, ": must be a map of handler type to name"));
  }
  V2alpha1HandlerNames names;
  for (const auto& [type, name] : handlers.items()) {
    bool known = false;
    for (const char* t : kHandlerTypes) known = known || type == t;
    if (!known) {
      return absl::InvalidArgumentError(StrCat(where, ".", type,
                                               ": unknown handler type (start, finish, "
                                               "rollback, failure)"));
    }
    if (!name.is_string() || name.get<std::string>().empty()) {
      return absl::InvalidArgumentError(StrCat(where, ".", type, ": must be a handler name"));
    }
    names[type] = name.get<std::string>();
  }
  return names;
}

// The strategy type the defaults are keyed by: `strategy.type` as written (early form), else
// the testing pattern (late form).
std::string StrategyType(const api::Experiment& e) {
  if (e.v2alpha1 && !e.v2alpha1->strategy_type.empty()) return e.v2alpha1->strategy_type;
  return std::string(api::ToString(e.spec.strategy.testing_pattern));
}

absl::StatusOr<std::vector<api::TaskSpec>> Resolve(const V2alpha1Config& config,
                                                   const std::string& type, const std::string& name,
                                                   const api::Experiment& e) {
  auto tmpl = config.job_templates.find(name);
  if (tmpl != config.job_templates.end()) {
    api::TaskSpec job;
    job.task = "kubernetes/job";
    job.with = Json::object();
    job.with["spec"] = tmpl->second["spec"];
    job.with["jobName"] = V2alpha1JobName(name, e);
    const Json& deadline = tmpl->second["spec"].value("activeDeadlineSeconds", Json());
    // The Job's own deadline fails it first; the task waits a minute longer to see that.
    if (deadline.is_number_integer()) job.with["timeoutSeconds"] = deadline.get<int64_t>() + 60;
    return std::vector<api::TaskSpec>{job};
  }
  auto builtin = config.builtin.find(name);
  if (builtin != config.builtin.end()) return builtin->second;
  std::vector<std::string> known;
  for (const auto& [n, tasks] : config.builtin) known.push_back(n);
  std::string message =
      StrCat(TypeTitle(type), " handler '", name, "' not found: it is no built-in handler (",
             StrJoin(known, ", "), ")");
  message +=
      config.job_templates_source.empty()
          ? " and Job templates are not enabled (--v2alpha1-handlers=jobs)"
          : StrCat(" and ConfigMap ", config.job_templates_source, " has no ", name, ".yaml");
  return absl::InvalidArgumentError(message);
}

}  // namespace

V2alpha1Defaults BuiltinV2alpha1Defaults() {
  const V2alpha1HandlerNames full = {
      {"start", "start"}, {"finish", "finish"}, {"rollback", "finish"}, {"failure", "finish"}};
  V2alpha1Defaults d;
  d.handlers = {
      {"Canary", full}, {"A/B", full}, {"Performance", {{"start", "start"}}}, {"BlueGreen", full}};
  d.request_count = "request-count";
  return d;
}

absl::StatusOr<V2alpha1Defaults> ParseV2alpha1Defaults(std::string_view yaml) {
  absl::StatusOr<Json> j = ParseOne(yaml, kV2alpha1DefaultsKey);
  if (!j.ok()) return j.status();
  if (!j->is_object()) return absl::InvalidArgumentError("defaults.yaml: must be a map");
  V2alpha1Defaults d;
  const Json types = j->value("experimentTypes", Json::array());
  if (!types.is_array()) {
    return absl::InvalidArgumentError("defaults.yaml: experimentTypes: must be a list");
  }
  for (size_t i = 0; i < types.size(); ++i) {
    const std::string where = StrCat("defaults.yaml: experimentTypes[", i, "]");
    const Json& t = types[i];
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string()) {
      return absl::InvalidArgumentError(StrCat(where, ".name: required"));
    }
    absl::StatusOr<V2alpha1HandlerNames> names =
        ParseNames(t.value("handlers", Json::object()), StrCat(where, ".handlers"));
    if (!names.ok()) return names.status();
    d.handlers[t["name"].get<std::string>()] = *std::move(names);
  }
  const Json metrics = j->value("metrics", Json::object());
  if (metrics.is_object() && metrics.contains("requestCount")) {
    if (!metrics["requestCount"].is_string()) {
      return absl::InvalidArgumentError("defaults.yaml: metrics.requestCount: must be a string");
    }
    d.request_count = metrics["requestCount"].get<std::string>();
  }
  return d;
}

absl::StatusOr<Json> ParseV2alpha1JobTemplate(std::string_view yaml) {
  absl::StatusOr<Json> j = ParseOne(yaml, "handler template");
  if (!j.ok()) return j.status();
  const bool job = j->is_object() && j->value("kind", Json()) == "Job" &&
                   j->value("apiVersion", Json()) == "batch/v1";
  const Json* containers = nullptr;
  if (job && (*j)["spec"].is_object() && (*j)["spec"].value("template", Json()).is_object()) {
    const Json& pod = (*j)["spec"]["template"];
    if (pod.value("spec", Json()).is_object()) containers = &pod["spec"]["containers"];
  }
  if (!job || containers == nullptr || !containers->is_array() || containers->empty()) {
    return absl::InvalidArgumentError(
        "handler template: must be a batch/v1 Job with spec.template.spec.containers");
  }
  return *std::move(j);
}

std::map<std::string, std::vector<api::TaskSpec>> LocalV2alpha1Handlers() {
  api::TaskSpec promote;
  promote.task = "local/promote";
  return {{"start", {}}, {"finish", {promote}}};
}

V2alpha1HandlerNames V2alpha1Handlers(const V2alpha1Defaults& defaults, const api::Experiment& e) {
  V2alpha1HandlerNames names;
  if (!e.v2alpha1) return names;
  auto d = defaults.handlers.find(StrategyType(e));
  if (d != defaults.handlers.end()) names = d->second;
  if (e.v2alpha1->handlers.is_object()) {
    for (const auto& [type, name] : e.v2alpha1->handlers.items()) {
      if (name.is_string()) names[type] = name.get<std::string>();
    }
  }
  std::erase_if(names, [](const auto& kv) { return kv.second == kV2alpha1NoHandler; });
  return names;
}

std::string V2alpha1JobName(const std::string& handler, const api::Experiment& e) {
  const std::string& uid = e.metadata.uid;
  const size_t dash = uid.rfind('-');
  return StrCat(handler, "-handler-", e.metadata.name, "-",
                dash == std::string::npos ? uid : uid.substr(dash + 1));
}

absl::Status ResolveV2alpha1Handlers(const V2alpha1Config& config, api::Experiment* e) {
  if (!e->v2alpha1) return absl::OkStatus();
  if (!e->v2alpha1->handlers.is_null()) {
    absl::StatusOr<V2alpha1HandlerNames> given =
        ParseNames(e->v2alpha1->handlers, "spec.strategy.handlers");
    if (!given.ok()) return given.status();
  }
  const V2alpha1HandlerNames names = V2alpha1Handlers(config.defaults, *e);
  api::Strategy& strategy = e->spec.strategy;
  Json resolved = Json::object();
  for (const auto& [type, name] : names) {
    absl::StatusOr<std::vector<api::TaskSpec>> tasks = Resolve(config, type, name, *e);
    if (!tasks.ok()) return tasks.status();
    resolved[type] = name;
    // start and finish are action keys; rollback runs the finish action unless its handler
    // differs; failure runs nothing (etc3 since v0.1.23, as for v2alpha2).
    std::string key = type;
    if (type == "failure") continue;
    if (type == "rollback") {
      auto finish = names.find("finish");
      if (finish != names.end() && finish->second == name) continue;
    }
    if (strategy.actions.count(key) == 0) strategy.actions[key] = *std::move(tasks);
  }
  strategy.extra[kFieldV2alpha1Handlers] = std::move(resolved);
  if (e->spec.criteria && e->spec.criteria->request_count.empty()) {
    e->spec.criteria->request_count = config.defaults.request_count;
  }
  return absl::OkStatus();
}

}  // namespace iter8::engine
