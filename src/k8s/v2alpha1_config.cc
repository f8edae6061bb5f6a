#include "k8s/v2alpha1_config.h"

#include "absl/time/clock.h"
#include "common/strings.h"

namespace iter8::k8s {
namespace {

std::string Where(const V2alpha1ConfigOptions& options, const char* name) {
  return StrCat(options.namespace_, "/", name);
}

absl::Status Named(const std::string& where, const std::string& key, const absl::Status& s) {
  return absl::Status(s.code(), StrCat("ConfigMap ", where, " ", key, ": ", s.message()));
}

}  // namespace

std::map<std::string, std::vector<api::TaskSpec>> KServeV2alpha1Handlers() {
  api::TaskSpec start;
  start.task = "kserve/start";
  api::TaskSpec finish;
  finish.task = "kserve/finish";
  return {{"start", {start}}, {"finish", {finish}}};
}

absl::StatusOr<engine::V2alpha1Config> V2alpha1ConfigFrom(const Json& defaults,
                                                          const Json& handlers,
                                                          const V2alpha1ConfigOptions& options) {
  engine::V2alpha1Config config;
  config.builtin = KServeV2alpha1Handlers();
  const Json ddata = defaults.is_object() ? defaults.value("data", Json::object()) : Json();
  if (ddata.is_object() && ddata.contains(engine::kV2alpha1DefaultsKey)) {
    const Json& text = ddata[engine::kV2alpha1DefaultsKey];
    const std::string where = Where(options, engine::kV2alpha1DefaultsConfigMap);
    if (!text.is_string()) {
      return Named(where, engine::kV2alpha1DefaultsKey,
                   absl::InvalidArgumentError("must be a string"));
    }
    absl::StatusOr<engine::V2alpha1Defaults> parsed =
        engine::ParseV2alpha1Defaults(text.get<std::string>());
    if (!parsed.ok()) return Named(where, engine::kV2alpha1DefaultsKey, parsed.status());
    config.defaults = *std::move(parsed);
  }
  if (!options.jobs) return config;
  config.job_templates_source = Where(options, engine::kV2alpha1HandlersConfigMap);
  const Json hdata = handlers.is_object() ? handlers.value("data", Json::object()) : Json();
  if (!hdata.is_object()) return config;
  constexpr std::string_view kSuffix = ".yaml";
  for (const auto& [key, text] : hdata.items()) {
    if (key.size() <= kSuffix.size() || !key.ends_with(kSuffix) || !text.is_string()) continue;
    absl::StatusOr<Json> t = engine::ParseV2alpha1JobTemplate(text.get<std::string>());
    if (!t.ok()) return Named(config.job_templates_source, key, t.status());
    config.job_templates[key.substr(0, key.size() - kSuffix.size())] = *std::move(t);
  }
  return config;
}

V2alpha1ConfigSource::V2alpha1ConfigSource(Client& client, V2alpha1ConfigOptions options)
    : client_(client), options_(std::move(options)) {}

absl::StatusOr<Json> V2alpha1ConfigSource::ReadConfigMap(const std::string& name) {
  absl::StatusOr<Resource> config_maps = client_.Discover("v1", "ConfigMap");
  if (!config_maps.ok()) return config_maps.status();
  absl::StatusOr<Json> cm = client_.Get(*config_maps, options_.namespace_, name);
  if (absl::IsNotFound(cm.status())) return Json();
  if (!cm.ok()) {
    return absl::Status(cm.status().code(), StrCat("read ConfigMap ", options_.namespace_, "/",
                                                   name, ": ", cm.status().message()));
  }
  return cm;
}

absl::StatusOr<engine::V2alpha1Config> V2alpha1ConfigSource::Get() {
  std::lock_guard<std::mutex> l(mu_);  // one reading at a time; the others wait for it
  const absl::Time now = absl::Now();
  if (cached_ && now - read_at_ < options_.ttl) return *cached_;
  absl::StatusOr<Json> defaults = ReadConfigMap(engine::kV2alpha1DefaultsConfigMap);
  if (!defaults.ok()) return defaults.status();
  Json handlers;
  if (options_.jobs) {
    absl::StatusOr<Json> h = ReadConfigMap(engine::kV2alpha1HandlersConfigMap);
    if (!h.ok()) return h.status();
    handlers = *std::move(h);
  }
  absl::StatusOr<engine::V2alpha1Config> config = V2alpha1ConfigFrom(*defaults, handlers, options_);
  if (!config.ok()) return config.status();
  cached_ = *config;
  read_at_ = now;
  return config;
}

}  // namespace iter8::k8s
