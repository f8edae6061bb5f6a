// File: proxy/stats.h
//
// Per-version traffic statistics of the proxy. Each worker thread owns a WorkerStats and is its
// only writer (plain relaxed stores, no locked instructions on the request path); readers on
// other threads load the same relaxed atomics and merge the workers into VersionTraffic values.
// A version's statistics live in a slot that is assigned to its name once and never reused, so
// counts survive weight and route changes.
//
// Latency buckets are Knative queue-proxy's (5 ms .. 100 s) with 1 and 2 ms added in front (a
// local model server answers in well under 5 ms); Prometheus' histogram_quantile and the
// original's PromQL work with the extra bounds unchanged.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace iter8::proxy {

inline constexpr std::array<double, 28> kLatencyBoundsMs = {
    1,   2,   5,   10,  20,  40,  60,  80,   100,  150,  200,   250,   300,   350,
    400, 450, 500, 600, 700, 800, 900, 1000, 2000, 5000, 10000, 20000, 50000, 100000};
inline constexpr int kMaxVersionSlots = 64;
inline constexpr int kCodeClasses = 5;  // 1xx .. 5xx

// Merged statistics of one response code class.
struct ClassTraffic {
  uint64_t count = 0;
  double latency_sum_ms = 0;
  // Not cumulative: buckets[i] counts latencies in (bound[i-1], bound[i]]; the last element
  // counts those above the last bound.
  std::vector<uint64_t> buckets = std::vector<uint64_t>(kLatencyBoundsMs.size() + 1, 0);
};

// Merged statistics of one version.
struct VersionTraffic {
  std::string name;
  std::array<ClassTraffic, kCodeClasses> classes;
  uint64_t request_bytes = 0;
  uint64_t response_bytes = 0;
  uint64_t backend_errors = 0;  // refused, reset, timed out or malformed backend exchanges

  uint64_t Requests() const;
  uint64_t Errors() const;  // responses with status >= 400
  double LatencySumMs() const;
  std::vector<uint64_t> Buckets() const;  // over all classes
};

// One worker's counters. Record() only from the owning worker thread; Add() from any thread.
class WorkerStats {
 public:
  void Record(int slot, unsigned status, double latency_ms, uint64_t request_bytes,
              uint64_t response_bytes, bool backend_error);
  // Adds this worker's counters for `slot` into `into`.
  void AddTo(int slot, VersionTraffic& into) const;

 private:
  struct Class {
    std::atomic<uint64_t> count{0};
    std::atomic<double> latency_sum_ms{0};
    std::array<std::atomic<uint64_t>, kLatencyBoundsMs.size() + 1> buckets{};
  };
  struct Slot {
    std::array<Class, kCodeClasses> classes;
    std::atomic<uint64_t> request_bytes{0};
    std::atomic<uint64_t> response_bytes{0};
    std::atomic<uint64_t> backend_errors{0};
  };
  std::array<Slot, kMaxVersionSlots> slots_;
};

// Index of the bucket for a latency (see ClassTraffic::buckets).
int LatencyBucket(double latency_ms);

struct PrometheusLabels {
  std::string namespace_;
  std::string route;  // written as configuration_name
};

// Prometheus text exposition (format 0.0.4) of the versions' statistics with Knative's series
// names (revision_app_request_latencies_{bucket,sum,count}; request counts are the _count
// series, as Knative's queries use them) and labels (namespace_name, configuration_name,
// revision_name, response_code_class), plus iter8's own iter8_proxy_* series (bytes, backend
// errors, weights). `promtool check metrics` passes it.
std::string PrometheusText(const PrometheusLabels& labels,
                           const std::vector<VersionTraffic>& versions,
                           const std::vector<std::pair<std::string, int64_t>>& weights);

}  // namespace iter8::proxy
