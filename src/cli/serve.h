// File: cli/serve.h
//
// Data-plane commands of local mode:
//
//   iter8 proxy -f route.yaml [--workers N]     serve one Route until Ctrl-C
//   iter8 model-server [--port P] [--model iris-v1|FILE] [--name iris]
//                      [--latency-ms MS] [--latency-distribution constant|exponential|uniform]
//                      [--error-rate R]          a sample model server (KServe V1/V2 REST)
//   iter8 load URL [-X METHOD] [-H 'Name: value']... [-d BODY | --body-file F]
//                  [--rate QPS] [--duration 10s | -n COUNT] [-c CONNECTIONS] [-o json]
//   iter8 quickstart [--canary-latency-ms MS] [--canary-error-rate R] [--engine E] ...
//
// `iter8 quickstart` is the newcomer's first job: two sample model servers (default: iris-v1,
// canary: iris-v2) on free loopback ports, the proxy with the samples/quickstart Route at
// 100/0, a load generator at a modest rate through the proxy, and the samples/quickstart canary
// experiment, run to its end with progress lines; then the describe report and a
// `kubectl get isvc`-like line. Everything runs inside this process, so Ctrl-C (or any exit)
// leaves nothing behind.
//
// Thread-compatible, like cli/commands.h.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"

namespace iter8::cli {

struct ProxyOptions {
  std::string file;
  int workers = 0;
};
int RunProxyCommand(const ProxyOptions& options, IoStreams io);

struct ModelServerOptions {
  std::string listen = "127.0.0.1:9001";
  std::string model = "iris-v1";  // built-in name or JSON file
  std::string name = "iris";      // model name in URLs
  double latency_ms = 0;
  std::string distribution = "constant";
  double error_rate = 0;
  int threads = 1;
  uint64_t seed = 1;
};
int RunModelServerCommand(const ModelServerOptions& options, IoStreams io);

struct LoadCommandOptions {
  std::string url;
  std::string method = "GET";
  std::vector<std::string> headers;  // "Name: value"
  std::string data;
  std::string body_file;
  double rate = 0;
  std::string duration;  // "10s"; empty with count
  uint64_t count = 0;
  int connections = 4;
  std::string timeout = "10s";
  std::string output;    // "" or json
  bool progress = true;  // a progress line when stderr is a terminal
};
int RunLoadCommand(const LoadCommandOptions& options, IoStreams io);

struct QuickstartOptions {
  double canary_latency_ms = 4;    // mean latency of the canary (exponential); default 5 ms
  double canary_error_rate = 0;    // share of canary answers that are 500
  std::string engine = "classic";  // spec.criteria.strength.engine
  double rate = 40;  // load, requests per second; 0 = 40, or 200 with the sequential engine
  int interval_seconds = 5;
  int iterations = 10;
  std::string db;  // default: a temporary file, removed at the end
  uint64_t seed = 0;
  bool quiet = false;
};
int RunQuickstart(const QuickstartOptions& options, IoStreams io);

// The samples/quickstart YAML compiled into the binary: "route.yaml", "metrics.yaml",
// "experiment.yaml" ("" for other names).
std::string_view QuickstartSample(std::string_view name);

}  // namespace iter8::cli
