#include "api/validate.h"

#include <set>

#include "api/counters.h"
#include "api/strength.h"
#include "common/strings.h"

namespace iter8::api {
namespace {

void Minimum(std::vector<FieldError>* errors, const std::string& pointer,
             const std::optional<int32_t>& v, int32_t min) {
  if (v && *v < min) {
    errors->push_back(
        {pointer, StrCat("Invalid value: ", *v, ": should be greater than or equal to ", min)});
  }
}

void Maximum(std::vector<FieldError>* errors, const std::string& pointer,
             const std::optional<int32_t>& v, int32_t max) {
  if (v && *v > max) {
    errors->push_back(
        {pointer, StrCat("Invalid value: ", *v, ": should be less than or equal to ", max)});
  }
}

void ValidateMeta(const ObjectMeta& meta, std::vector<FieldError>* errors) {
  if (meta.name.empty() && meta.generate_name.empty()) {
    errors->push_back({"/metadata/name", "Required value: name or generateName is required"});
  }
}

}  // namespace

void ApplyDefaults(Experiment* e) {
  ExperimentSpec& spec = e->spec;
  if (!spec.strategy.deployment_pattern) {
    spec.strategy.deployment_pattern = DeploymentPattern::kProgressive;
  }
  if (!spec.strategy.weights) spec.strategy.weights = Weights{};
  Weights& w = *spec.strategy.weights;
  if (!w.max_candidate_weight) w.max_candidate_weight = kDefaultMaxCandidateWeight;
  if (!w.max_candidate_weight_increment) {
    w.max_candidate_weight_increment = kDefaultMaxCandidateWeightIncrement;
  }
  if (!spec.duration) spec.duration = Duration{};
  Duration& d = *spec.duration;
  if (!d.interval_seconds) d.interval_seconds = kDefaultIntervalSeconds;
  if (!d.iterations_per_loop) d.iterations_per_loop = kDefaultIterationsPerLoop;
  if (!d.max_loops) d.max_loops = kDefaultMaxLoops;
  if (spec.criteria) {
    const bool blue_green = spec.strategy.deployment_pattern == DeploymentPattern::kBlueGreen;
    for (Objective& o : spec.criteria->objectives) {
      if (!o.rollback_on_failure) o.rollback_on_failure = blue_green;
    }
    if (e->v2alpha1 && spec.criteria->request_count.empty()) {
      spec.criteria->request_count = kDefaultRequestCountV2alpha1;
    }
  }
  for (MetricInfo& m : e->status.metrics) ApplyDefaults(&m.metric_obj);
}

void ApplyDefaults(Metric* m) {
  if (!m->spec.type) m->spec.type = MetricType::kGauge;
  if (!m->spec.method) m->spec.method = HttpMethod::kGet;
}

std::vector<FieldError> ValidateSchema(const Experiment& e) {
  std::vector<FieldError> errors;
  ValidateMeta(e.metadata, &errors);
  if (e.spec.target.empty()) {
    errors.push_back({"/spec/target", "Invalid value: \"\": should be at least 1 chars long"});
  }
  if (const auto& w = e.spec.strategy.weights) {
    const std::string p = "/spec/strategy/weights/";
    Minimum(&errors, p + "maxCandidateWeight", w->max_candidate_weight, 0);
    Maximum(&errors, p + "maxCandidateWeight", w->max_candidate_weight, 100);
    Minimum(&errors, p + "maxCandidateWeightIncrement", w->max_candidate_weight_increment, 0);
    Maximum(&errors, p + "maxCandidateWeightIncrement", w->max_candidate_weight_increment, 100);
  }
  if (const auto& d = e.spec.duration) {
    Minimum(&errors, "/spec/duration/intervalSeconds", d->interval_seconds, 1);
    Minimum(&errors, "/spec/duration/iterationsPerLoop", d->iterations_per_loop, 1);
    Minimum(&errors, "/spec/duration/maxLoops", d->max_loops, 1);
  }
  // Our extensions (docs/user-guide.md). `strength` was free-form in the original, so only the
  // keys we give a meaning are checked; anything else in it is ignored, as it was.
  if (e.spec.criteria) ParseStrength(e.spec.criteria->strength, &errors);
  for (const char* flag : {"requireApproval", "dryRun"}) {
    if (e.spec.strategy.extra.contains(flag) && !e.spec.strategy.extra[flag].is_boolean()) {
      errors.push_back({StrCat("/spec/strategy/", flag),
                        StrCat("Invalid value: ", e.spec.strategy.extra[flag].dump(),
                               ": must be true or false")});
    }
  }
  for (const auto& [name, tasks] : e.spec.strategy.actions) {
    for (size_t i = 0; i < tasks.size(); ++i) {
      if (tasks[i].task.empty() && tasks[i].run.empty()) {
        errors.push_back({StrCat("/spec/strategy/actions/", name, "/", i, "/task"),
                          "Required value: a task (library/name) or run is required"});
      }
    }
  }
  if (!e.v2alpha1) {
    for (size_t i = 0; i < e.status.conditions.size(); ++i) {
      const std::string& t = e.status.conditions[i].type;
      if (t != kConditionCompleted && t != kConditionFailed && t != kConditionTargetAcquired) {
        errors.push_back({StrCat("/status/conditions/", i, "/type"),
                          StrCat("Unsupported value: \"", t,
                                 "\": supported values: \"Completed\", \"Failed\", "
                                 "\"TargetAcquired\"")});
      }
    }
  }
  for (size_t i = 0; i < e.status.metrics.size(); ++i) {
    for (FieldError& err : ValidateSchema(e.status.metrics[i].metric_obj)) {
      if (err.pointer == "/metadata/name") continue;  // embedded copies may be trimmed
      err.pointer = StrCat("/status/metrics/", i, "/metricObj", err.pointer);
      errors.push_back(std::move(err));
    }
  }
  return errors;
}

std::vector<FieldError> ValidateSchema(const Metric& m) {
  std::vector<FieldError> errors;
  ValidateMeta(m.metadata, &errors);
  ParseCounterQueries(m, &errors);  // ours: spec.counters
  if (m.v2alpha1) {
    // The early v2alpha1 CRD: provider required with minLength 1; sample_size.name required.
    if (m.spec.provider.empty()) {
      errors.push_back({"/spec/provider", "Required value: a non-empty provider is required"});
    }
    const V2alpha1MetricForm& form = *m.v2alpha1;
    const std::string& ss = m.spec.sample_size;
    if (form.sample_size_object && (ss.empty() || ss.back() == '/')) {
      errors.push_back({StrCat("/spec/", form.sample_size_key, "/name"),
                        "Required value: a non-empty name is required"});
    }
  }
  return errors;
}

std::vector<FieldError> ValidateVersionInfo(const Experiment& e) {
  std::vector<FieldError> errors;
  const ExperimentSpec& spec = e.spec;
  if (!spec.version_info) {
    errors.push_back({"/spec/versionInfo", "No versionInfo in experiment"});
    return errors;
  }
  const TestingPattern pattern = spec.strategy.testing_pattern;
  const std::string pattern_name(ToString(pattern));
  const size_t candidates = spec.version_info->candidates.size();
  bool candidates_ok = true;
  switch (pattern) {
    case TestingPattern::kConformance:
      candidates_ok = candidates == 0;
      break;
    case TestingPattern::kCanary:
    case TestingPattern::kAB:
      candidates_ok = candidates == 1;
      break;
    case TestingPattern::kABN:
      candidates_ok = candidates >= 1;
      break;
  }
  if (!candidates_ok) {
    errors.push_back({"/spec/versionInfo/candidates",
                      StrCat("Invalid number of candidates for ", pattern_name, " experiment")});
  }
  std::set<std::string> names;
  for (const VersionDetail* v : AllVersions(spec)) {
    if (!names.insert(v->name).second) {
      errors.push_back({"/spec/versionInfo", "Version names are not unique"});
      break;
    }
  }
  const size_t rewards = spec.criteria ? spec.criteria->rewards.size() : 0;
  const bool needs_reward = pattern == TestingPattern::kAB || pattern == TestingPattern::kABN;
  if (needs_reward ? rewards != 1 : rewards != 0) {
    errors.push_back({"/spec/criteria/rewards",
                      StrCat("Invalid number of rewards for ", pattern_name, " experiment")});
  }
  if (!e.v2alpha1) {  // v2alpha1 field paths are JSON pointers ("/spec/...")
    std::vector<const VersionDetail*> versions = AllVersions(spec);
    for (size_t i = 0; i < versions.size(); ++i) {
      const auto& ref = versions[i]->weight_obj_ref;
      if (ref && !ref->field_path.empty() && ref->field_path[0] != '.') {
        std::string p =
            i == 0 ? "/spec/versionInfo/baseline" : StrCat("/spec/versionInfo/candidates/", i - 1);
        errors.push_back({p + "/weightObjRef/fieldPath", "Fieldpaths must start with '.'"});
        break;
      }
    }
  }
  int without_ref = 0;
  for (const VersionDetail* v : AllVersions(spec)) {
    if (!v->weight_obj_ref || v->weight_obj_ref->field_path.empty()) ++without_ref;
  }
  const bool weights_read = spec.strategy.deployment_pattern.value_or(
                                DeploymentPattern::kProgressive) != DeploymentPattern::kFixedSplit;
  if (without_ref > 1 && weights_read) {
    errors.push_back({"/spec/versionInfo",
                      "Unable to read version weights; insufficient number of weightObjectRef "
                      "specified"});
  }
  return errors;
}

std::vector<FieldError> Validate(const Experiment& e) {
  std::vector<FieldError> errors = ValidateSchema(e);
  // v2alpha1 always had a start handler unless set to "none" (iter8-defaults ConfigMap).
  const bool v2alpha1_start =
      e.v2alpha1 && !(e.v2alpha1->handlers.is_object() &&
                      e.v2alpha1->handlers.value("start", Json()) == Json("none"));
  const bool has_start = e.spec.strategy.actions.count("start") > 0 || v2alpha1_start;
  if (!e.spec.version_info && has_start) return errors;
  for (auto& err : ValidateVersionInfo(e)) errors.push_back(std::move(err));
  return errors;
}

std::vector<FieldError> Validate(const Metric& m) { return ValidateSchema(m); }

}  // namespace iter8::api
