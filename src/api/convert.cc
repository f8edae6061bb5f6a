#include "api/convert.h"

#include <string>

namespace iter8::api {
namespace {

// Moves j[from] to j[to] when present.
void Rename(Json& j, const char* from, const char* to) {
  if (!j.is_object() || !j.contains(from)) return;
  Json v = std::move(j[from]);
  j.erase(from);
  j[to] = std::move(v);
}

Json* Child(Json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

// j[key] when it is a string, else "" (malformed input is reported by the typed decoder).
std::string Str(const Json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

Json MetricUp(Json m, V2alpha1MetricForm* form) {
  if (m.is_object()) m["apiVersion"] = kV2alpha2;
  Json* spec = Child(m, "spec");
  if (!spec || !spec->is_object()) return m;
  if (Json* params = Child(*spec, "params"); params && params->is_object()) {
    form->params_map = true;
    Json list = Json::array();
    // Go marshals maps sorted by key.
    std::map<std::string, Json> sorted;
    for (auto it = params->begin(); it != params->end(); ++it) sorted[it.key()] = it.value();
    for (auto& [k, v] : sorted) list.push_back({{"name", k}, {"value", v}});
    *params = std::move(list);
  }
  for (const char* key : {"sample_size", "sampleSize"}) {
    Json* ss = Child(*spec, key);
    if (!ss) continue;
    form->sample_size_key = key;
    if (ss->is_object()) {
      form->sample_size_object = true;
      std::string name = Str(*ss, "name");
      std::string ns = Str(*ss, "namespace");
      *ss = ns.empty() ? name : ns + "/" + name;
    }
    Rename(*spec, key, "sampleSize");
  }
  if (Json* type = Child(*spec, "type"); type && type->is_string()) {
    std::string t = type->get<std::string>();
    if (t == "counter" || t == "gauge") {
      form->lower_case_type = true;
      *type = t == "counter" ? "Counter" : "Gauge";
    }
  }
  return m;
}

Json MetricDown(Json m, const V2alpha1MetricForm& form) {
  if (m.is_object()) m["apiVersion"] = kV2alpha1;
  Json* spec = Child(m, "spec");
  if (!spec) return m;
  if (Json* params = Child(*spec, "params"); params && form.params_map) {
    Json map = Json::object();
    for (const auto& p : *params) map[Str(p, "name")] = Str(p, "value");
    *params = std::move(map);
  }
  if (Json* ss = Child(*spec, "sampleSize")) {
    if (form.sample_size_object && ss->is_string()) {
      std::string ref = ss->get<std::string>();
      size_t slash = ref.find('/');
      *ss = slash == std::string::npos
                ? Json{{"name", ref}}
                : Json{{"namespace", ref.substr(0, slash)}, {"name", ref.substr(slash + 1)}};
    }
    if (!form.sample_size_key.empty()) Rename(*spec, "sampleSize", form.sample_size_key.c_str());
  }
  if (Json* type = Child(*spec, "type"); type && form.lower_case_type && type->is_string()) {
    *type = type->get<std::string>() == "Counter" ? "counter" : "gauge";
  }
  return m;
}

void VersionUp(Json& v, V2alpha1Fields* legacy) {
  Json* tags = Child(v, "tags");
  if (!tags || !tags->is_object()) return;
  legacy->tags = true;
  Json vars = Json::array();
  std::map<std::string, Json> sorted;
  for (auto it = tags->begin(); it != tags->end(); ++it) sorted[it.key()] = it.value();
  for (auto& [k, val] : sorted) vars.push_back({{"name", k}, {"value", val}});
  v.erase("tags");
  v["variables"] = std::move(vars);
}

void VersionDown(Json& v) {
  Json* vars = Child(v, "variables");
  if (!vars) return;
  Json tags = Json::object();
  for (const auto& nv : *vars) tags[Str(nv, "name")] = Str(nv, "value");
  v.erase("variables");
  v["tags"] = std::move(tags);
}

}  // namespace

Decoded<Experiment> DecodeExperimentV2alpha1(const Json& in) {
  Json j = in;
  V2alpha1Fields legacy;
  std::vector<V2alpha1MetricForm> forms;
  if (j.is_object()) {
    j["apiVersion"] = kV2alpha2;
    Json* spec = Child(j, "spec");
    if (spec && spec->is_object()) {
      if (Json* strategy = Child(*spec, "strategy"); strategy && strategy->is_object()) {
        if (Json* type = Child(*strategy, "type"); type && type->is_string()) {
          legacy.strategy_type = type->get<std::string>();
          std::string pattern = legacy.strategy_type;
          if (pattern == "Performance") pattern = "Conformance";
          if (pattern == "BlueGreen") {
            pattern = "Canary";
            (*strategy)["deploymentPattern"] = "BlueGreen";
          }
          strategy->erase("type");
          (*strategy)["testingPattern"] = pattern;
        }
        if (Json* handlers = Child(*strategy, "handlers")) {
          legacy.handlers = std::move(*handlers);
          strategy->erase("handlers");
        }
        if (Json* weights = Child(*strategy, "weights"); weights && weights->is_object()) {
          // Note: inserting into an ordered_json object moves its members, so every edit of
          // `weights` happens before `strategy` gains a key.
          if (Json* alg = Child(*weights, "algorithm"); alg && alg->is_string()) {
            legacy.algorithm = alg->get<std::string>();
            weights->erase("algorithm");
          }
          if (Json* wd = Child(*weights, "weightDistribution")) {
            legacy.weight_distribution = std::move(*wd);
            weights->erase("weightDistribution");
          }
          if (!legacy.algorithm.empty() && !strategy->contains("deploymentPattern")) {
            (*strategy)["deploymentPattern"] = legacy.algorithm;
          }
        }
      }
      if (Json* duration = Child(*spec, "duration");
          duration && duration->contains("maxIterations")) {
        legacy.max_iterations = true;
        Rename(*duration, "maxIterations", "iterationsPerLoop");
      }
      if (Json* criteria = Child(*spec, "criteria"); criteria && criteria->contains("reward")) {
        legacy.single_reward = true;
        Json reward = std::move((*criteria)["reward"]);
        criteria->erase("reward");
        (*criteria)["rewards"] = Json::array({std::move(reward)});
      }
      if (Json* vi = Child(*spec, "versionInfo"); vi && vi->is_object()) {
        if (Json* b = Child(*vi, "baseline")) VersionUp(*b, &legacy);
        if (Json* cs = Child(*vi, "candidates"); cs && cs->is_array()) {
          for (auto& c : *cs) VersionUp(c, &legacy);
        }
      }
      if (Json* metrics = Child(*spec, "metrics")) {
        legacy.metrics_in_spec = true;
        Json moved = std::move(*metrics);
        spec->erase("metrics");
        spec = nullptr;  // `j` gains "status" below, which may move `spec`
        if (moved.is_array()) {
          for (auto& info : moved) {
            V2alpha1MetricForm form;
            if (Json* obj = Child(info, "metricObj")) *obj = MetricUp(std::move(*obj), &form);
            forms.push_back(form);
          }
        }
        if (!j.contains("status") || !j["status"].is_object()) j["status"] = Json::object();
        j["status"]["metrics"] = std::move(moved);
      }
    }
    Json* status = Child(j, "status");
    if (status && status->is_object()) {
      if (status->contains("recommendedBaseline")) {
        legacy.recommended_baseline = true;
        Rename(*status, "recommendedBaseline", "versionRecommendedForPromotion");
      }
      if (Json* end = Child(*status, "endTime")) {
        legacy.end_time = std::move(*end);
        status->erase("endTime");
      }
      if (Json* conds = Child(*status, "conditions"); conds && conds->is_array()) {
        for (auto& c : *conds) {
          Json* type = Child(c, "type");
          if (!type || !type->is_string()) continue;
          if (*type == "ExperimentCompleted") {
            legacy.early_condition_types = true;
            *type = "Completed";
          } else if (*type == "ExperimentFailed") {
            legacy.early_condition_types = true;
            *type = "Failed";
          }
        }
      }
      if (!legacy.metrics_in_spec) {
        if (Json* metrics = Child(*status, "metrics"); metrics && metrics->is_array()) {
          for (auto& info : *metrics) {
            V2alpha1MetricForm form;
            if (Json* obj = Child(info, "metricObj")) *obj = MetricUp(std::move(*obj), &form);
            forms.push_back(form);
          }
        }
      }
    }
  }
  Decoded<Experiment> d = DecodeExperiment(j);
  d.value.api_version = kV2alpha1;
  d.value.v2alpha1 = std::move(legacy);
  for (size_t i = 0; i < forms.size() && i < d.value.status.metrics.size(); ++i) {
    d.value.status.metrics[i].metric_obj.v2alpha1 = forms[i];
    d.value.status.metrics[i].metric_obj.api_version = kV2alpha1;
  }
  return d;
}

Decoded<Metric> DecodeMetricV2alpha1(const Json& json) {
  V2alpha1MetricForm form;
  Decoded<Metric> d = DecodeMetric(MetricUp(json, &form));
  d.value.api_version = kV2alpha1;
  d.value.v2alpha1 = form;
  return d;
}

Json EncodeMetricV2alpha1(const Metric& metric) {
  return MetricDown(EncodeMetric(metric), metric.v2alpha1.value_or(V2alpha1MetricForm{}));
}

Json EncodeExperimentV2alpha1(const Experiment& e) {
  const V2alpha1Fields legacy = e.v2alpha1.value_or(V2alpha1Fields{});
  Json j = EncodeExperiment(e);
  j["apiVersion"] = kV2alpha1;
  Json& spec = j["spec"];
  Json& strategy = spec["strategy"];
  if (!legacy.strategy_type.empty()) {
    strategy.erase("testingPattern");
    if (legacy.strategy_type == "BlueGreen" || !legacy.algorithm.empty()) {
      strategy.erase("deploymentPattern");
    }
    strategy["type"] = legacy.strategy_type;
  }
  if (!legacy.handlers.is_null()) strategy["handlers"] = legacy.handlers;
  if (!legacy.algorithm.empty()) strategy["weights"]["algorithm"] = legacy.algorithm;
  if (!legacy.weight_distribution.is_null()) {
    strategy["weights"]["weightDistribution"] = legacy.weight_distribution;
  }
  if (Json* duration = Child(spec, "duration"); duration && legacy.max_iterations) {
    Rename(*duration, "iterationsPerLoop", "maxIterations");
  }
  if (Json* criteria = Child(spec, "criteria"); criteria && legacy.single_reward) {
    if (Json* rewards = Child(*criteria, "rewards"); rewards && !rewards->empty()) {
      (*criteria)["reward"] = (*rewards)[0];
    }
    criteria->erase("rewards");
  }
  if (legacy.tags) {
    if (Json* vi = Child(spec, "versionInfo")) {
      if (Json* b = Child(*vi, "baseline")) VersionDown(*b);
      if (Json* cs = Child(*vi, "candidates")) {
        for (auto& c : *cs) VersionDown(c);
      }
    }
  }
  Json metrics = Json::array();
  for (const auto& info : e.status.metrics) {
    Json m = {{"name", info.name}, {"metricObj", EncodeMetricV2alpha1(info.metric_obj)}};
    for (auto it = info.extra.begin(); it != info.extra.end(); ++it) m[it.key()] = it.value();
    metrics.push_back(std::move(m));
  }
  if (Json* status = Child(j, "status")) {
    if (!metrics.empty()) {
      if (legacy.metrics_in_spec) {
        status->erase("metrics");
      } else {
        (*status)["metrics"] = metrics;
      }
    }
    if (legacy.recommended_baseline) {
      Rename(*status, "versionRecommendedForPromotion", "recommendedBaseline");
    }
    if (!legacy.end_time.is_null()) (*status)["endTime"] = legacy.end_time;
    if (legacy.early_condition_types) {
      if (Json* conds = Child(*status, "conditions")) {
        for (auto& c : *conds) {
          if (c["type"] == "Completed") c["type"] = "ExperimentCompleted";
          if (c["type"] == "Failed") c["type"] = "ExperimentFailed";
        }
      }
    }
  }
  if (legacy.metrics_in_spec && !metrics.empty()) spec["metrics"] = std::move(metrics);
  return j;
}

}  // namespace iter8::api
