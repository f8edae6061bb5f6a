// File: api/convert.h
//
// `iter8.tools/v2alpha1` <-> the v2alpha2 model (spec.md 1.9 and 2.7). Reading maps the early
// (Jan 2021, iter8-kfserving v0.1.0-alpha) and late (Feb 2021) v2alpha1 forms onto v2alpha2
// fields and records what only v2alpha1 has in `Experiment::v2alpha1` /
// `Metric::v2alpha1`; writing uses those records to produce the v2alpha1 form again.
//
//   strategy.type Canary|A/B|A/B/N      -> testingPattern (same)
//   strategy.type Performance           -> testingPattern Conformance
//   strategy.type BlueGreen             -> testingPattern Canary, deploymentPattern BlueGreen
//   strategy.weights.algorithm          -> deploymentPattern
//   duration.maxIterations              -> duration.iterationsPerLoop (maxLoops 1)
//   criteria.reward                     -> criteria.rewards[0]
//   versionInfo.*.tags {k: v}           -> variables [{name: k, value: v}] (sorted by k)
//   spec.metrics                        -> status.metrics
//   status.recommendedBaseline          -> status.versionRecommendedForPromotion
//   conditions ExperimentCompleted/Failed -> Completed/Failed
//   Metric params {k: v}, sample_size {namespace, name}, type counter|gauge
//                                       -> params list, sampleSize "ns/name", Counter|Gauge
//
// Pure functions; thread-safe.
#pragma once

#include <vector>

#include "api/codec.h"
#include "api/types.h"

namespace iter8::api {

// v2alpha1 Experiment JSON -> decoded model (api_version stays "iter8.tools/v2alpha1").
Decoded<Experiment> DecodeExperimentV2alpha1(const Json& json);
Decoded<Metric> DecodeMetricV2alpha1(const Json& json);

// Model -> v2alpha1 JSON, using the recorded v2alpha1 forms where present.
Json EncodeExperimentV2alpha1(const Experiment& experiment);
Json EncodeMetricV2alpha1(const Metric& metric);

}  // namespace iter8::api
