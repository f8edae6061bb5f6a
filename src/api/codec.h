// File: api/codec.h
//
// JSON <-> model conversion for Experiment and Metric (v2alpha2 field names), plus the JSON
// text and YAML text front ends. Decoding is strict about types and enum values and collects
// *every* problem with the JSON pointer of the offending field; unknown fields are kept in the
// `extra` members, so encode(decode(x)) loses nothing.
//
// Text front ends (document.h) attach a source map so that a pointer can be reported as
// `file:line:column` for YAML input.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "api/types.h"

namespace iter8::api {

// One problem found while decoding or validating, located by JSON pointer
// ("/spec/strategy/testingPattern"); "" is the document root.
struct FieldError {
  std::string pointer;
  std::string message;
  friend bool operator==(const FieldError&, const FieldError&) = default;
};

template <typename T>
struct Decoded {
  T value;
  std::vector<FieldError> errors;  // empty when the input was well formed
};

Decoded<Experiment> DecodeExperiment(const Json& json);
Decoded<Metric> DecodeMetric(const Json& json);

Json EncodeExperiment(const Experiment& experiment);
Json EncodeMetric(const Metric& metric);

// Convenience: decode, failing with all problems joined into one InvalidArgument message.
absl::StatusOr<Experiment> ExperimentFromJson(const Json& json);
absl::StatusOr<Metric> MetricFromJson(const Json& json);

// RFC 3339 time as Kubernetes writes metav1.Time ("2020-12-28T18:33:34Z", UTC, seconds).
std::string FormatRfc3339(absl::Time t);
absl::StatusOr<absl::Time> ParseRfc3339(std::string_view text);

// Joins problems as "<pointer>: <message>" lines.
std::string JoinErrors(const std::vector<FieldError>& errors);

}  // namespace iter8::api
