#include "api/load.h"

#include "api/conversion.h"
#include "api/convert.h"
#include "common/strings.h"

namespace iter8::api {
namespace {

struct Header {
  std::string api_version;
  std::string kind;
};

// Checks apiVersion and kind; appends problems.
Header ReadHeader(const Json& j, std::vector<FieldError>* errors) {
  Header h;
  if (!j.is_object()) {
    errors->push_back({"", StrCat("expected a resource (a mapping with apiVersion and kind), got ",
                                  j.is_array()    ? "a list"
                                  : j.is_string() ? "a string"
                                                  : "a scalar")});
    return h;
  }
  auto field = [&](const char* key, std::string* out) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      errors->push_back({StrCat("/", key), "Required value"});
    } else if (!it->is_string()) {
      errors->push_back({StrCat("/", key), "Invalid value: expected string"});
    } else {
      *out = it->get<std::string>();
    }
  };
  field("apiVersion", &h.api_version);
  field("kind", &h.kind);
  if (!h.api_version.empty() && h.api_version != kV2alpha2 && h.api_version != kV2alpha1) {
    errors->push_back(
        {"/apiVersion", StrCat("Unsupported value: \"", h.api_version, "\": supported values: \"",
                               kV2alpha2, "\", \"", kV2alpha1, "\"")});
  }
  if (!h.kind.empty() && h.kind != "Experiment" && h.kind != "Metric") {
    errors->push_back({"/kind", StrCat("Unsupported value: \"", h.kind,
                                       "\": supported values: \"Experiment\", \"Metric\"")});
  }
  return h;
}

absl::Status Failure(const Document& doc, const std::vector<FieldError>& errors) {
  std::vector<std::string> lines;
  for (const auto& e : errors) lines.push_back(doc.Describe(e));
  return absl::InvalidArgumentError(StrJoin(lines, "\n"));
}

template <typename T>
absl::StatusOr<Resource> Finish(const Document& doc, Decoded<T> d) {
  if (!d.errors.empty()) return Failure(doc, d.errors);
  return Resource(std::move(d.value));
}

}  // namespace

absl::StatusOr<Resource> LoadResource(const Document& doc) {
  std::vector<FieldError> errors;
  Header h = ReadHeader(doc.json, &errors);
  if (!errors.empty()) return Failure(doc, errors);
  const bool v1 = h.api_version == kV2alpha1;
  if (h.kind == "Experiment") {
    return Finish(doc, v1 ? DecodeExperimentV2alpha1(doc.json) : DecodeExperiment(doc.json));
  }
  return Finish(doc, v1 ? DecodeMetricV2alpha1(doc.json) : DecodeMetric(doc.json));
}

absl::StatusOr<Experiment> LoadExperiment(const Document& doc) {
  absl::StatusOr<Resource> r = LoadResource(doc);
  if (!r.ok()) return r.status();
  if (auto* e = std::get_if<Experiment>(&*r)) return std::move(*e);
  return absl::InvalidArgumentError(
      StrCat(doc.Locate("/kind"), ": /kind: expected an Experiment, got a Metric"));
}

absl::StatusOr<Experiment> LoadExperiment(const Json& json, std::string source) {
  if (!WrittenAsV2alpha1(json)) return LoadExperiment(Document{std::move(source), 0, json, {}});
  absl::StatusOr<Json> v1 = ConvertResource(json, kV2alpha1);
  if (!v1.ok()) return absl::InvalidArgumentError(StrCat(source, ": ", v1.status().message()));
  return LoadExperiment(Document{std::move(source), 0, *std::move(v1), {}});
}

absl::StatusOr<Metric> LoadMetric(const Json& json, std::string source) {
  if (!WrittenAsV2alpha1(json)) return LoadMetric(Document{std::move(source), 0, json, {}});
  absl::StatusOr<Json> v1 = ConvertResource(json, kV2alpha1);
  if (!v1.ok()) return absl::InvalidArgumentError(StrCat(source, ": ", v1.status().message()));
  return LoadMetric(Document{std::move(source), 0, *std::move(v1), {}});
}

absl::StatusOr<Metric> LoadMetric(const Document& doc) {
  absl::StatusOr<Resource> r = LoadResource(doc);
  if (!r.ok()) return r.status();
  if (auto* m = std::get_if<Metric>(&*r)) return std::move(*m);
  return absl::InvalidArgumentError(
      StrCat(doc.Locate("/kind"), ": /kind: expected a Metric, got an Experiment"));
}

Json EncodeResource(const Experiment& e) {
  return e.api_version == kV2alpha1 ? EncodeExperimentV2alpha1(e) : EncodeExperiment(e);
}

Json EncodeResource(const Metric& m) {
  return m.api_version == kV2alpha1 ? EncodeMetricV2alpha1(m) : EncodeMetric(m);
}

}  // namespace iter8::api
