// File: tasks/collect.h
//
// The `metrics/collect` task (the original's Fortio-based load task, spec.md 2.6 and 5.3): sends
// load to each listed version's URL for a while, all versions at once, and stores one Fortio
// result per version in `status.analysis.aggregatedBuiltinHists`, from which the builtin metrics
// (request-count, error-count, error-rate, mean-latency, latency percentiles) are computed.
//
//   with:
//     time: "5s"                  how long to send (Go/absl duration: 500ms, 5s, 1m30s)
//     versions:                   one entry per version to load
//     - name: canary              a version of the experiment
//       url: http://host:port/v1/models/iris:predict
//       qps: 8                    requests per second (open loop); 0: as fast as possible
//       connections: 4            keep-alive connections
//       headers: {k: v}
//     payloadStr: '{"instances": [[6.8, 2.8, 4.8, 1.4]]}'   request body (POST); or
//     payloadFile: path/to/body.json                          (ours), or
//     payloadURL: http://...                                   fetched once before the load
//     contentType: application/json   (Fortio's default with a payload: application/octet-stream)
//     loadOnly: false             true: send the load, store nothing
//
// Without a payload requests are GETs. A second run (e.g. as a loop action) adds to what is
// stored. Runs on the handler's thread and one thread per version; stops at once when the
// action is cancelled.
#pragma once

#include "absl/status/status.h"
#include "api/types.h"
#include "tasks/tasks.h"

namespace iter8::tasks {

absl::Status CollectMetrics(const api::Json& with, const TaskEnv& env);

}  // namespace iter8::tasks
