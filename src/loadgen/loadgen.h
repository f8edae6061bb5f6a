// File: loadgen/loadgen.h
//
// The load generator behind `iter8 load` and the `metrics/collect` task: plays the users of a
// model by sending HTTP/1.1 requests over keep-alive connections.
//  - Open loop (rate > 0): request i is due at start + i / rate whatever happened before it, and
//    its latency is measured from when it was due, so a slow server cannot hide its queueing
//    (no coordinated omission). When every connection is busy, due requests wait and that wait
//    counts.
//  - Closed loop (rate = 0): each connection sends its next request as soon as the previous one
//    is answered (maximum throughput); latency from send to answer.
// Stops after `count` requests, after `duration`, or when `cancel` becomes true, whichever is
// first. Runs on the calling thread (one event loop); RunLoad is reentrant.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "net/histogram.h"

namespace iter8::loadgen {

struct LoadReport {
  uint64_t requests = 0;  // answered or failed
  uint64_t errors = 0;    // status >= 400, or no answer
  // "200", "503", ... and "connect error", "timeout", "connection error" for no answer.
  std::map<std::string, uint64_t> codes;
  double seconds = 0;
  net::LatencyHistogram latency;  // microseconds

  double Throughput() const { return seconds > 0 ? requests / seconds : 0; }
  // The human table `iter8 load` prints.
  std::string Table() const;
  // The same as JSON (`iter8 load -o json`): latencies in milliseconds.
  std::string Json() const;
  // The report as a Fortio result (`DurationHistogram` with latencies in seconds and buckets,
  // `RetCodes` with -1 for requests without an answer), the form the metrics/collect task
  // stores in `status.analysis.aggregatedBuiltinHists` (spec.md 2.6).
  std::string FortioResult() const;
};

struct LoadOptions {
  std::string url;  // http://host:port/path
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  double rate = 0;                        // requests per second; 0: closed loop
  std::chrono::milliseconds duration{0};  // 0: until count
  uint64_t count = 0;                     // 0: until duration
  int connections = 4;
  std::chrono::milliseconds timeout{10000};  // per request
  // Called about every `progress_every` with the report so far (from the load thread).
  std::function<void(const LoadReport&)> progress;
  std::chrono::milliseconds progress_every{1000};
  const std::atomic<bool>* cancel = nullptr;
};

// Checks the options (URL, method, a stop condition, positive numbers) and runs the load.
absl::StatusOr<LoadReport> RunLoad(const LoadOptions& options);

}  // namespace iter8::loadgen
