// File: api/validate.h
//
// Defaulting and validation of Experiments and Metrics.
//
// Defaulting is applied in memory (spec.md 1.1): the stored resource keeps the user's sparse
// spec, and every consumer (engine, analytics, describe) sees the defaulted one.
//
// Validation has two layers, both returning located problems with the original's messages:
//  - schema: what the CRD's OpenAPI schema enforces at the API server (minimums, maximums,
//    minLength, required metadata.name); types, enums and required fields are already checked
//    by the decoder (api/codec.h);
//  - controller: the rules the original controller checks before the first iteration
//    (spec.md 1.5: "Invalid number of candidates for Canary experiment", ...).
//
// Pure functions; thread-safe.
#pragma once

#include <vector>

#include "api/codec.h"
#include "api/types.h"

namespace iter8::api {

inline constexpr int32_t kDefaultIntervalSeconds = 20;
inline constexpr int32_t kDefaultIterationsPerLoop = 15;
inline constexpr int32_t kDefaultMaxLoops = 1;
inline constexpr int32_t kDefaultMaxCandidateWeight = 100;
inline constexpr int32_t kDefaultMaxCandidateWeightIncrement = 10;
inline constexpr char kDefaultRequestCountV2alpha1[] = "request-count";

// Fills every defaulted field that is absent. Idempotent.
void ApplyDefaults(Experiment* experiment);
void ApplyDefaults(Metric* metric);

// CRD schema rules not already enforced by decoding.
std::vector<FieldError> ValidateSchema(const Experiment& experiment);
std::vector<FieldError> ValidateSchema(const Metric& metric);

// The controller's rules on versionInfo (spec.md 1.5), in the order the original checks them;
// the original stops at the first, so callers that mimic it take errors[0].
std::vector<FieldError> ValidateVersionInfo(const Experiment& experiment);

// Everything `iter8 validate` reports: schema rules, then controller rules. A missing
// versionInfo is accepted when a start action exists (a start task fills it, spec.md 5.3).
std::vector<FieldError> Validate(const Experiment& experiment);
std::vector<FieldError> Validate(const Metric& metric);

}  // namespace iter8::api
