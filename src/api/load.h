// File: api/load.h
//
// From a parsed Document to a typed resource: checks apiVersion and kind, decodes v2alpha2 or
// v2alpha1, and reports every problem located in the source text ("file:line:col: /pointer:
// message"). Also the inverse: the JSON of a resource in the API version it was read as.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "api/document.h"
#include "api/types.h"

namespace iter8::api {

using Resource = std::variant<Experiment, Metric>;

// Decodes any supported resource. On failure the status message lists every problem, one per
// line, each located in the document.
absl::StatusOr<Resource> LoadResource(const Document& doc);
absl::StatusOr<Experiment> LoadExperiment(const Document& doc);
absl::StatusOr<Metric> LoadMetric(const Document& doc);

// The same from JSON that did not come from a file (a store, an API server): either API
// version, problems located by JSON pointer and named after `source`. A v2alpha2 object that was
// written as v2alpha1 (it carries the conversion annotation, api/conversion.h) is read as the
// v2alpha1 resource it was written as, so the controller runs it as the original did.
// (codec.h's ExperimentFromJson decodes v2alpha2 only.)
absl::StatusOr<Experiment> LoadExperiment(const Json& json, std::string source = "store");
absl::StatusOr<Metric> LoadMetric(const Json& json, std::string source = "store");

// JSON in the resource's own API version (v2alpha1 resources are written back as v2alpha1).
Json EncodeResource(const Experiment& experiment);
Json EncodeResource(const Metric& metric);

}  // namespace iter8::api
