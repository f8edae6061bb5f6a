#include "api/conversion.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/codec.h"
#include "api/convert.h"

namespace iter8::api {
namespace {

using absl::StrCat;

std::string Str(const Json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

bool Flag(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

// Removes annotation `key` from `object` and returns its value parsed (null when absent or not
// JSON); an emptied annotations map is removed too.
Json TakeAnnotation(Json* object, const char* key) {
  if (!object->is_object() || !object->contains("metadata")) return nullptr;
  Json& meta = (*object)["metadata"];
  if (!meta.is_object() || !meta.contains("annotations")) return nullptr;
  Json& annotations = meta["annotations"];
  if (!annotations.is_object() || !annotations.contains(key)) return nullptr;
  Json value = nullptr;
  if (annotations[key].is_string()) {
    value = Json::parse(annotations[key].get<std::string>(), nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) value = nullptr;
  }
  annotations.erase(key);
  if (annotations.empty()) meta.erase("annotations");
  return value;
}

void PutAnnotation(Json* object, const char* key, const Json& value) {
  (*object)["metadata"]["annotations"][key] = value.dump();
}

// Metadata travels verbatim (the codec would re-render timestamps and drop nothing else).
Json WithMetadataOf(Json converted, const Json& original) {
  if (original.is_object() && original.contains("metadata")) {
    converted["metadata"] = original["metadata"];
  } else {
    converted.erase("metadata");
  }
  return converted;
}

Json FormToJson(const V2alpha1Fields& f) {
  Json j = Json::object();
  if (!f.strategy_type.empty()) j["strategyType"] = f.strategy_type;
  if (!f.handlers.is_null()) j["handlers"] = f.handlers;
  if (!f.algorithm.empty()) j["algorithm"] = f.algorithm;
  if (!f.weight_distribution.is_null()) j["weightDistribution"] = f.weight_distribution;
  if (!f.end_time.is_null()) j["endTime"] = f.end_time;
  const std::pair<const char*, bool> flags[] = {{"maxIterations", f.max_iterations},
                                                {"singleReward", f.single_reward},
                                                {"tags", f.tags},
                                                {"metricsInSpec", f.metrics_in_spec},
                                                {"recommendedBaseline", f.recommended_baseline},
                                                {"earlyConditionTypes", f.early_condition_types}};
  for (const auto& [name, on] : flags) {
    if (on) j[name] = true;
  }
  return j;
}

// The record read back; an early-form experiment (strategy.type) always shows etc3
// v0.1.1-alpha's status and version spelling.
V2alpha1Fields FormFromJson(const Json& j) {
  V2alpha1Fields f;
  if (!j.is_object()) return f;
  f.strategy_type = Str(j, "strategyType");
  f.handlers = j.value("handlers", Json());
  f.algorithm = Str(j, "algorithm");
  f.weight_distribution = j.value("weightDistribution", Json());
  f.end_time = j.value("endTime", Json());
  f.max_iterations = Flag(j, "maxIterations");
  f.single_reward = Flag(j, "singleReward");
  f.tags = Flag(j, "tags");
  f.metrics_in_spec = Flag(j, "metricsInSpec");
  f.recommended_baseline = Flag(j, "recommendedBaseline");
  f.early_condition_types = Flag(j, "earlyConditionTypes");
  if (!f.strategy_type.empty()) {
    f.tags = f.recommended_baseline = f.early_condition_types = f.metrics_in_spec = true;
  }
  return f;
}

Json MetricFormToJson(const V2alpha1MetricForm& f) {
  Json j = Json::object();
  if (f.params_map) j["paramsMap"] = true;
  if (f.sample_size_object) j["sampleSizeObject"] = true;
  if (!f.sample_size_key.empty()) j["sampleSizeKey"] = f.sample_size_key;
  if (f.lower_case_type) j["lowerCaseType"] = true;
  return j;
}

V2alpha1MetricForm MetricFormFromJson(const Json& j) {
  V2alpha1MetricForm f;
  if (!j.is_object()) return f;
  f.params_map = Flag(j, "paramsMap");
  f.sample_size_object = Flag(j, "sampleSizeObject");
  f.sample_size_key = Str(j, "sampleSizeKey");
  f.lower_case_type = Flag(j, "lowerCaseType");
  return f;
}

template <typename T>
absl::Status Representable(const Decoded<T>& d, const std::string& from, const std::string& to) {
  if (d.errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      StrCat("cannot convert from ", from, " to ", to, ": ", JoinErrors(d.errors)));
}

// Restores what the v2alpha1 form's spec had beyond the record (see the header).
Json PatchSpec(Json object, const Json& spec_patch) {
  if (spec_patch.is_object() && !spec_patch.empty() && object.contains("spec")) {
    object["spec"].merge_patch(spec_patch);
  }
  return object;
}

// The part of `to` (spec and status) that `from` lacks, as one merge patch (empty: none).
Json BodyDiff(const Json& from, const Json& to) {
  Json patch = Json::object();
  for (const char* key : {"spec", "status"}) {
    const Json a = from.value(key, Json());
    const Json b = to.value(key, Json());
    if (SameJson(a, b)) continue;
    patch[key] = b.is_null() ? Json() : (a.is_object() && b.is_object() ? MergeDiff(a, b) : b);
  }
  return patch;
}

// ----------------------------------------------------------------- Experiment

absl::StatusOr<Json> ExperimentUp(Json in) {
  const Json native = TakeAnnotation(&in, kV2alpha2Annotation);
  Decoded<Experiment> d = DecodeExperimentV2alpha1(in);
  if (absl::Status s = Representable(d, kV2alpha1, kV2alpha2); !s.ok()) return s;
  Experiment v2 = d.value;
  v2.api_version = kV2alpha2;
  for (MetricInfo& m : v2.status.metrics) m.metric_obj.api_version = kV2alpha2;
  Json up = WithMetadataOf(EncodeExperiment(v2), in);
  if (native.is_object()) {  // written as v2alpha2: restore it exactly
    up.merge_patch(native);
    return up;
  }
  Json record = {{"form", FormToJson(d.value.v2alpha1.value_or(V2alpha1Fields{}))}};
  Json forms = Json::array();
  for (const MetricInfo& m : d.value.status.metrics) {
    forms.push_back(MetricFormToJson(m.metric_obj.v2alpha1.value_or(V2alpha1MetricForm{})));
  }
  if (!forms.empty()) record["metricForms"] = forms;
  // What the record alone would render, against what was written.
  Experiment rendered = d.value;
  rendered.v2alpha1 = FormFromJson(record["form"]);
  const Json down = EncodeExperimentV2alpha1(rendered);
  const Json spec = in.value("spec", Json());
  if (!SameJson(down.value("spec", Json()), spec)) {
    record["spec"] = MergeDiff(down.value("spec", Json()), spec);
  }
  PutAnnotation(&up, kV2alpha1Annotation, record);
  return up;
}

absl::StatusOr<Json> ExperimentDown(Json in) {
  const Json record = TakeAnnotation(&in, kV2alpha1Annotation);
  Decoded<Experiment> d = DecodeExperiment(in);
  if (absl::Status s = Representable(d, kV2alpha2, kV2alpha1); !s.ok()) return s;
  if (record.is_object()) {  // written as v2alpha1: its own form again
    d.value.v2alpha1 = FormFromJson(record.value("form", Json()));
    const Json forms = record.value("metricForms", Json::array());
    for (size_t i = 0; i < d.value.status.metrics.size() && i < forms.size(); ++i) {
      d.value.status.metrics[i].metric_obj.v2alpha1 = MetricFormFromJson(forms[i]);
    }
    Json down = WithMetadataOf(EncodeExperimentV2alpha1(d.value), in);
    return PatchSpec(std::move(down), record.value("spec", Json()));
  }
  d.value.v2alpha1.reset();
  Json down = WithMetadataOf(EncodeExperimentV2alpha1(d.value), in);
  // What reading this form back would give, against the v2alpha2 object.
  Decoded<Experiment> back = DecodeExperimentV2alpha1(down);
  back.value.api_version = kV2alpha2;
  for (MetricInfo& m : back.value.status.metrics) m.metric_obj.api_version = kV2alpha2;
  const Json patch = BodyDiff(EncodeExperiment(back.value), in);
  PutAnnotation(&down, kV2alpha2Annotation, patch);  // also the mark of a v2alpha2 object
  return down;
}

// ----------------------------------------------------------------- Metric

absl::StatusOr<Json> MetricUp(Json in) {
  const Json native = TakeAnnotation(&in, kV2alpha2Annotation);
  Decoded<Metric> d = DecodeMetricV2alpha1(in);
  if (absl::Status s = Representable(d, kV2alpha1, kV2alpha2); !s.ok()) return s;
  Metric v2 = d.value;
  v2.api_version = kV2alpha2;
  Json up = WithMetadataOf(EncodeMetric(v2), in);
  if (native.is_object()) {
    up.merge_patch(native);
    return up;
  }
  Json record = {{"form", MetricFormToJson(d.value.v2alpha1.value_or(V2alpha1MetricForm{}))}};
  const Json down = EncodeMetricV2alpha1(d.value);
  const Json spec = in.value("spec", Json());
  if (!SameJson(down.value("spec", Json()), spec)) {
    record["spec"] = MergeDiff(down.value("spec", Json()), spec);
  }
  PutAnnotation(&up, kV2alpha1Annotation, record);
  return up;
}

absl::StatusOr<Json> MetricDown(Json in) {
  const Json record = TakeAnnotation(&in, kV2alpha1Annotation);
  Decoded<Metric> d = DecodeMetric(in);
  if (absl::Status s = Representable(d, kV2alpha2, kV2alpha1); !s.ok()) return s;
  if (record.is_object()) {
    d.value.v2alpha1 = MetricFormFromJson(record.value("form", Json()));
    Json down = WithMetadataOf(EncodeMetricV2alpha1(d.value), in);
    return PatchSpec(std::move(down), record.value("spec", Json()));
  }
  d.value.v2alpha1.reset();
  Json down = WithMetadataOf(EncodeMetricV2alpha1(d.value), in);
  Decoded<Metric> back = DecodeMetricV2alpha1(down);
  back.value.api_version = kV2alpha2;
  const Json patch = BodyDiff(EncodeMetric(back.value), in);
  PutAnnotation(&down, kV2alpha2Annotation, patch);  // also the mark of a v2alpha2 object
  return down;
}

Json ReviewFailure(const Json& uid, const std::string& message) {
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "ConversionReview"},
          {"response",
           {{"uid", uid.is_string() ? uid : Json("")},
            {"convertedObjects", Json::array()},
            {"result", {{"status", "Failure"}, {"message", message}}}}}};
}

}  // namespace

absl::StatusOr<Json> ConvertResource(const Json& object, std::string_view api_version) {
  if (!object.is_object()) return absl::InvalidArgumentError("the object is not a JSON object");
  const std::string from = Str(object, "apiVersion");
  const std::string kind = Str(object, "kind");
  if (api_version != kV2alpha1 && api_version != kV2alpha2) {
    return absl::InvalidArgumentError(StrCat("unsupported desired API version \"",
                                             std::string(api_version), "\": supported \"",
                                             kV2alpha1, "\", \"", kV2alpha2, "\""));
  }
  if (from != kV2alpha1 && from != kV2alpha2) {
    return absl::InvalidArgumentError(StrCat("/apiVersion: unsupported value \"", from, "\""));
  }
  if (kind != "Experiment" && kind != "Metric") {
    return absl::InvalidArgumentError(
        StrCat("/kind: unsupported value \"", kind, "\": supported \"Experiment\", \"Metric\""));
  }
  if (from == api_version) return object;
  const bool up = api_version == kV2alpha2;
  if (kind == "Experiment") return up ? ExperimentUp(object) : ExperimentDown(object);
  return up ? MetricUp(object) : MetricDown(object);
}

Json ReviewConversion(const Json& review) {
  if (!review.is_object() || !review.contains("request") || !review["request"].is_object()) {
    return ReviewFailure(nullptr, "the ConversionReview has no request");
  }
  const Json& request = review["request"];
  const Json uid = request.value("uid", Json());
  if (!uid.is_string() || uid.get<std::string>().empty()) {
    return ReviewFailure(uid, "the ConversionReview request has no uid");
  }
  const std::string desired = Str(request, "desiredAPIVersion");
  const Json objects = request.value("objects", Json());
  if (!objects.is_array()) return ReviewFailure(uid, "request.objects is not a list");
  Json converted = Json::array();
  for (const Json& object : objects) {
    absl::StatusOr<Json> c = ConvertResource(object, desired);
    if (!c.ok()) {
      const Json meta = object.is_object() ? object.value("metadata", Json::object()) : Json();
      return ReviewFailure(uid, StrCat(Str(object, "kind"), " ", Str(meta, "namespace"), "/",
                                       Str(meta, "name"), ": ", c.status().message()));
    }
    converted.push_back(*std::move(c));
  }
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "ConversionReview"},
          {"response",
           {{"uid", uid}, {"convertedObjects", converted}, {"result", {{"status", "Success"}}}}}};
}

bool WrittenAsV2alpha1(const Json& object) {
  if (!object.is_object() || Str(object, "apiVersion") != kV2alpha2) return false;
  const Json meta = object.value("metadata", Json::object());
  const Json annotations = meta.is_object() ? meta.value("annotations", Json()) : Json();
  return annotations.is_object() && annotations.contains(kV2alpha1Annotation);
}

Json MergeDiff(const Json& from, const Json& to) {
  if (!from.is_object() || !to.is_object()) return to;
  Json patch = Json::object();
  for (auto it = from.begin(); it != from.end(); ++it) {
    if (!to.contains(it.key())) patch[it.key()] = nullptr;
  }
  for (auto it = to.begin(); it != to.end(); ++it) {
    auto old = from.find(it.key());
    if (old == from.end()) {
      patch[it.key()] = it.value();
    } else if (!SameJson(*old, it.value())) {
      patch[it.key()] =
          old->is_object() && it.value().is_object() ? MergeDiff(*old, it.value()) : it.value();
    }
  }
  return patch;
}

bool SameJson(const Json& a, const Json& b) {
  if (a.is_object() && b.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto other = b.find(it.key());
      if (other == b.end() || !SameJson(it.value(), *other)) return false;
    }
    return true;
  }
  if (a.is_array() && b.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!SameJson(a[i], b[i])) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace iter8::api
