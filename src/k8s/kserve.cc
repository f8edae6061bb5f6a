#include "k8s/kserve.h"

#include <algorithm>

#include "absl/time/clock.h"
#include "common/strings.h"
#include "k8s/task_util.h"

namespace iter8::k8s {
namespace {

constexpr char kTargetError[] =
    "invalid target specification; v1beta1 target needs to be of the form: "
    "'inference-service-namespace/inference-service-name'";

struct Isvc {
  Resource resource;
  std::string ns;
  std::string name;
  Json object;
  bool IsV1alpha2() const { return resource.version == "v1alpha2"; }
  std::string TrafficPointer() const {
    return IsV1alpha2() ? "/spec/canaryTrafficPercent" : "/spec/predictor/canaryTrafficPercent";
  }
  // The same field as a v2alpha2 fieldPath (which must start with '.').
  std::string TrafficFieldPath() const {
    return IsV1alpha2() ? ".spec.canaryTrafficPercent" : ".spec.predictor.canaryTrafficPercent";
  }
};

using task_util::OptionalInt;
using task_util::OptionalString;
using task_util::Sleep;

class KServeTask {
 public:
  KServeTask(Client& client, KServeTaskOptions options) : client_(client), options_(options) {}

  absl::Status Start(const Json& with, const tasks::TaskEnv& env) {
    absl::StatusOr<int64_t> given = OptionalInt(with, "canaryTrafficPercent", -1, 0, 100);
    if (!given.ok()) return given.status();
    absl::StatusOr<Isvc> isvc = Find(with, env);
    if (!isvc.ok()) return isvc.status();
    // The original's defaults: 1 for v1beta1 (Go handler), 0 for v1alpha2 (shell handler).
    const int64_t percent = *given >= 0 ? *given : isvc->IsV1alpha2() ? 0 : 1;
    const Json ops =
        Json::array({{{"op", "add"}, {"path", isvc->TrafficPointer()}, {"value", percent}}});
    absl::StatusOr<Json> patched =
        client_.Patch(isvc->resource, isvc->ns, isvc->name, PatchType::kJson, ops);
    if (!patched.ok()) return Named(*isvc, patched.status());
    absl::Status ready = WaitReady(&*isvc, with, env);
    if (!ready.ok()) return ready;

    // The revisions the versions stand for.
    std::string rolled_out, created;
    const Json status = isvc->object.value("status", Json::object());
    if (isvc->IsV1alpha2()) {
      rolled_out = Text(status, "/default/predictor/name");
      created = Text(status, "/canary/predictor/name");
    } else {
      rolled_out = Text(status, "/components/predictor/latestRolledoutRevision");
      created = Text(status, "/components/predictor/latestCreatedRevision");
    }
    const api::Experiment& e = *env.experiment;
    // The experiment is patched in the version it was read as: v2alpha1 spells variables as a
    // `tags` map, as the original's start handler wrote them.
    const bool v2alpha1 = e.api_version == api::kV2alpha1;
    const char* vars = v2alpha1 ? "tags" : "variables";
    Json version_info = {
        {"baseline", {{"name", "default"}, {vars, Variables(rolled_out, v2alpha1)}}}};
    if (e.spec.strategy.testing_pattern != api::TestingPattern::kConformance) {
      version_info["candidates"] = Json::array(
          {{{"name", "canary"},
            {vars, Variables(created, v2alpha1)},
            {"weightObjRef",
             {{"apiVersion", GroupVersion(isvc->resource)},
              {"kind", isvc->resource.kind},
              {"namespace", isvc->ns},
              {"name", isvc->name},
              {"fieldPath", e.v2alpha1 ? isvc->TrafficPointer() : isvc->TrafficFieldPath()}}}}});
    } else {
      version_info["candidates"] = Json::array();
    }
    absl::StatusOr<Resource> experiments = client_.Discover(e.api_version, "Experiment");
    if (!experiments.ok()) return experiments.status();
    const Json patch =
        Json::array({{{"op", "add"}, {"path", "/spec/versionInfo"}, {"value", version_info}}});
    absl::StatusOr<Json> written = client_.Patch(*experiments, e.metadata.namespace_,
                                                 e.metadata.name, PatchType::kJson, patch);
    if (!written.ok()) {
      return absl::Status(written.status().code(),
                          StrCat("set versionInfo of Experiment ", e.metadata.namespace_, "/",
                                 e.metadata.name, ": ", written.status().message()));
    }
    env.log(StrCat("InferenceService ", isvc->ns, "/", isvc->name, " ready; baseline revision '",
                   rolled_out, "', candidate revision '", created, "'"));
    return absl::OkStatus();
  }

  absl::Status Finish(const Json& with, const tasks::TaskEnv& env) {
    const api::Experiment& e = *env.experiment;
    if (e.spec.strategy.testing_pattern == api::TestingPattern::kConformance) {
      return absl::OkStatus();  // the original's finish did nothing for Performance
    }
    absl::StatusOr<Isvc> isvc = Find(with, env);
    if (!isvc.ok()) return isvc.status();
    const std::string winner = tasks::TemplateValues(e, env.type)["name"];
    const bool promote = winner == "canary";
    Json ops = Json::array(
        {{{"op", "add"}, {"path", isvc->TrafficPointer()}, {"value", promote ? 100 : 0}}});
    if (isvc->IsV1alpha2()) {
      // The original's v1alpha2 finish rewrote the InferenceService: the winning predictor
      // becomes spec.default, and spec.canary and canaryTrafficPercent go.
      const Json spec = isvc->object.value("spec", Json::object());
      ops = Json::array();
      if (promote && spec.contains("canary")) {
        ops.push_back({{"op", "add"}, {"path", "/spec/default"}, {"value", spec["canary"]}});
      }
      if (spec.contains("canary")) ops.push_back({{"op", "remove"}, {"path", "/spec/canary"}});
      if (spec.contains("canaryTrafficPercent")) {
        ops.push_back({{"op", "remove"}, {"path", "/spec/canaryTrafficPercent"}});
      }
      if (ops.empty()) return WaitReady(&*isvc, with, env);
    }
    absl::StatusOr<Json> patched =
        client_.Patch(isvc->resource, isvc->ns, isvc->name, PatchType::kJson, ops);
    if (!patched.ok()) return Named(*isvc, patched.status());
    if (isvc->IsV1alpha2()) {
      env.log(StrCat("InferenceService ", isvc->ns, "/", isvc->name, ": ",
                     promote ? "canary promoted to default" : "canary removed (rolled back)"));
    } else {
      env.log(StrCat("InferenceService ", isvc->ns, "/", isvc->name, ": canaryTrafficPercent ",
                     promote ? "100 (canary promoted)" : "0 (rolled back)"));
    }
    return WaitReady(&*isvc, with, env);
  }

 private:
  static std::string GroupVersion(const Resource& r) {
    return r.group.empty() ? r.version : StrCat(r.group, "/", r.version);
  }
  static Json Variables(const std::string& revision, bool tags) {
    if (tags) return Json{{"revision", revision}};
    return Json::array({{{"name", "revision"}, {"value", revision}}});
  }
  static std::string Text(const Json& object, const char* pointer) {
    const Json::json_pointer p(pointer);
    return object.contains(p) && object[p].is_string() ? object[p].get<std::string>() : "";
  }
  static absl::Status Named(const Isvc& isvc, const absl::Status& s) {
    return absl::Status(s.code(),
                        StrCat("InferenceService ", isvc.ns, "/", isvc.name, ": ", s.message()));
  }
  absl::Time Deadline(const Json& with, const tasks::TaskEnv& env, absl::Status* bad) const {
    absl::StatusOr<int64_t> seconds = OptionalInt(with, "timeoutSeconds", 180, 1, 86400);
    if (!seconds.ok()) *bad = seconds.status();
    return absl::Now() + std::min(absl::Seconds(seconds.value_or(180)), env.timeout);
  }

  // The InferenceService named by with.target or spec.target, waited for until it exists.
  absl::StatusOr<Isvc> Find(const Json& with, const tasks::TaskEnv& env) {
    absl::StatusOr<std::string> target = OptionalString(with, "target");
    if (!target.ok()) return target.status();
    std::string t = target->empty() ? env.experiment->spec.target : *target;
    const size_t slash = t.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == t.size() ||
        t.find('/', slash + 1) != std::string::npos) {
      return absl::InvalidArgumentError(kTargetError);
    }
    absl::StatusOr<std::string> api_version = OptionalString(with, "apiVersion");
    if (!api_version.ok()) return api_version.status();
    std::vector<std::string> versions;
    if (!api_version->empty()) {
      versions.push_back(*api_version);
    } else {
      for (const char* v : kInferenceServiceApiVersions) versions.emplace_back(v);
    }
    absl::Status bad;
    const absl::Time deadline = Deadline(with, env, &bad);
    if (!bad.ok()) return bad;
    Isvc isvc;
    isvc.ns = t.substr(0, slash);
    isvc.name = t.substr(slash + 1);
    absl::Status last = absl::NotFoundError("no InferenceService API is served");
    while (true) {
      for (const std::string& v : versions) {
        absl::StatusOr<Resource> r = client_.Discover(v, "InferenceService");
        if (!r.ok()) {
          if (!absl::IsNotFound(r.status())) last = r.status();
          continue;
        }
        absl::StatusOr<Json> o = client_.Get(*r, isvc.ns, isvc.name);
        if (o.ok()) {
          isvc.resource = *r;
          isvc.object = *std::move(o);
          return isvc;
        }
        last = o.status();
        if (!absl::IsNotFound(last) && !absl::IsUnavailable(last)) {
          return absl::Status(last.code(), StrCat("InferenceService ", t, ": ", last.message()));
        }
      }
      if (absl::Now() + options_.poll > deadline) {
        return absl::DeadlineExceededError(
            StrCat("InferenceService ", t, " not found: ", last.message()));
      }
      if (!Sleep(options_.poll, env)) return absl::CancelledError("iter8 is stopping");
    }
  }

  absl::Status WaitReady(Isvc* isvc, const Json& with, const tasks::TaskEnv& env) {
    absl::Status bad;
    const absl::Time deadline = Deadline(with, env, &bad);
    while (true) {
      absl::StatusOr<Json> o = client_.Get(isvc->resource, isvc->ns, isvc->name);
      if (o.ok()) {
        isvc->object = *std::move(o);
        if (Ready(isvc->object)) return absl::OkStatus();
      } else if (!absl::IsUnavailable(o.status())) {
        return Named(*isvc, o.status());
      }
      if (absl::Now() + options_.poll > deadline) {
        return absl::DeadlineExceededError(
            StrCat("InferenceService ", isvc->ns, "/", isvc->name, " did not become Ready"));
      }
      if (!Sleep(options_.poll, env)) return absl::CancelledError("iter8 is stopping");
    }
  }

  static bool Ready(const Json& isvc) { return task_util::TrueCondition(isvc, "Ready") != nullptr; }

  Client& client_;
  KServeTaskOptions options_;
};

}  // namespace

tasks::TaskRegistry KServeTasks(Client& client, KServeTaskOptions options) {
  auto task = std::make_shared<KServeTask>(client, options);
  tasks::TaskRegistry registry;
  registry["kserve/start"] = [task](const Json& with, const tasks::TaskEnv& env) {
    return task->Start(with, env);
  };
  registry["kserve/finish"] = [task](const Json& with, const tasks::TaskEnv& env) {
    return task->Finish(with, env);
  };
  return registry;
}

}  // namespace iter8::k8s
