// File: api/conversion.h
//
// Conversion between the two served API versions of iter8's kinds, `iter8.tools/v2alpha1` and
// `iter8.tools/v2alpha2`, as a Kubernetes API server needs it for a CRD whose
// `spec.conversion.strategy` is `Webhook`: the controller's conversion webhook answers with it
// (k8s/webhook.h), the cluster store converts with it before it writes, and local mode reads
// v2alpha1 with the same decoder (api/convert.h).
//
// Lossless in both directions: Convert(Convert(x, other), own) == x for every object either
// version holds (JSON key order aside). What the other version cannot express travels in an
// annotation, the Kubernetes convention:
//   - `iter8.tools/v2alpha1` on the v2alpha2 form of an object written as v2alpha1:
//     {"form": how v2alpha1 spelled it (early or late form, tags, handlers, maxIterations, ...),
//      "metricForms": the same per status.metrics entry, "spec": a JSON merge patch that restores
//      anything else of the v2alpha1 spec}. Its presence also marks the object as a v2alpha1
//      experiment, which the controller runs with the original's v2alpha1 control flow
//      (handlers, recommendedBaseline, ...): LoadExperiment (api/load.h) reads such an object as
//      the v2alpha1 resource it was written as.
//   - `iter8.tools/v2alpha2` on the v2alpha1 form of an object written as v2alpha2: a JSON merge
//     patch of spec and status that restores the v2alpha2 object exactly (`{}` when nothing is
//     lost; present either way, it marks the object as a v2alpha2 one).
// The status of an object written as v2alpha1 is rendered from the record, not patched (the
// controller writes it later, through v2alpha2), in canonical form (quantities as Kubernetes
// writes them).
// An early-form v2alpha1 experiment (`strategy.type`) shows its status as etc3 v0.1.1-alpha wrote
// it whatever wrote it since: `recommendedBaseline`, `ExperimentCompleted`/`ExperimentFailed`,
// version `tags`, and the metrics used in `spec.metrics`.
//
// An object that cannot be represented (its fields do not decode) is an error naming each field
// by JSON pointer; nothing half-converted is returned.
//
// Pure functions; thread-safe.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "api/types.h"

namespace iter8::api {

inline constexpr char kV2alpha1Annotation[] = "iter8.tools/v2alpha1";
inline constexpr char kV2alpha2Annotation[] = "iter8.tools/v2alpha2";

// `object` (an Experiment or a Metric in either version) in `api_version`. The same version is
// returned unchanged.
absl::StatusOr<Json> ConvertResource(const Json& object, std::string_view api_version);

// Answers a ConversionReview (apiextensions.k8s.io/v1): converts every object in
// request.objects to request.desiredAPIVersion, or fails the whole review with a message that
// names the object and the field. Malformed reviews get a Failure result too (with the request's
// uid when it has one).
Json ReviewConversion(const Json& review);

// True for a v2alpha2 object that was written as v2alpha1 (it carries kV2alpha1Annotation).
bool WrittenAsV2alpha1(const Json& object);

// A JSON merge patch (RFC 7386) that turns `from` into `to`: merge_patch(from, result) == to
// for values without nulls. Objects are compared key by key whatever their order.
Json MergeDiff(const Json& from, const Json& to);

// JSON equality that ignores the order of object keys (ordered_json compares it).
bool SameJson(const Json& a, const Json& b);

}  // namespace iter8::api
