// File: modelserver/model_server.h
//
// The sample model server that plays a model version in local mode and tests: KServe's V1 and
// V2 (Open Inference) REST protocols over a LinearModel, with injectable latency and errors so
// that good and bad canaries can be played.
//   V1: GET  /v1/models/NAME             {"name": NAME, "ready": true}
//       POST /v1/models/NAME:predict     {"instances": [[...], ...]} -> {"predictions": [...]}
//   V2: GET  /v2/health/live, /v2/health/ready, /v2/models/NAME, /v2/models/NAME/ready
//       POST /v2/models/NAME/infer       {"inputs": [{"name", "shape": [N, F], "datatype",
//                                          "data": [...]}]} -> {"model_name", "outputs": [...]}
// Invalid input is answered 400 with the reason; an unknown model 404.
//
// Threads: HandleRequest is thread-safe (its random source is per thread, seeded from the
// options' seed and the thread); ModelServer runs it on its HttpServer's threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "modelserver/model.h"
#include "net/endpoint.h"
#include "net/http_server.h"

namespace iter8::modelserver {

enum class LatencyDistribution { kConstant, kExponential, kUniform };

struct ModelServerOptions {
  std::string model_name = "iris";  // the name in URLs
  LinearModel model;
  double error_rate = 0;  // share of inference requests answered 500
  double latency_ms = 0;  // mean added latency of inference requests
  // constant: exactly latency_ms; exponential: mean latency_ms; uniform: 0 .. 2 * latency_ms.
  LatencyDistribution distribution = LatencyDistribution::kConstant;
  uint64_t seed = 1;
  int threads = 1;
};

absl::StatusOr<LatencyDistribution> ParseLatencyDistribution(const std::string& text);

class ModelServer {
 public:
  explicit ModelServer(ModelServerOptions options);
  absl::Status Start(const net::HostPort& address);
  void Stop();
  net::HostPort Address() const;

  net::HttpResponse HandleRequest(const net::HttpRequest& request);
  uint64_t Inferences() const { return inferences_.load(std::memory_order_relaxed); }

 private:
  net::HttpResponse Infer(const net::HttpRequest& request, bool v2);
  std::chrono::microseconds DrawLatency();
  bool DrawError();

  ModelServerOptions options_;
  std::atomic<uint64_t> inferences_{0};
  std::atomic<uint64_t> thread_seq_{0};
  std::unique_ptr<net::HttpServer> server_;
};

}  // namespace iter8::modelserver
