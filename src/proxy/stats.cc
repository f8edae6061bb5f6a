// File: proxy/stats.cc
#include "proxy/stats.h"

#include <algorithm>
#include <cstdio>

#include "common/strings.h"

namespace iter8::proxy {
namespace {

// The single writer of a counter adds without a locked instruction.
inline void Bump(std::atomic<uint64_t>& a, uint64_t v) {
  a.store(a.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
}

std::string FormatDouble(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// Prometheus label values escape backslash, double quote and newline.
std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

uint64_t VersionTraffic::Requests() const {
  uint64_t n = 0;
  for (const auto& c : classes) n += c.count;
  return n;
}

uint64_t VersionTraffic::Errors() const { return classes[3].count + classes[4].count; }

double VersionTraffic::LatencySumMs() const {
  double s = 0;
  for (const auto& c : classes) s += c.latency_sum_ms;
  return s;
}

std::vector<uint64_t> VersionTraffic::Buckets() const {
  std::vector<uint64_t> out(kLatencyBoundsMs.size() + 1, 0);
  for (const auto& c : classes) {
    for (size_t i = 0; i < out.size(); ++i) out[i] += c.buckets[i];
  }
  return out;
}

int LatencyBucket(double latency_ms) {
  auto it = std::lower_bound(kLatencyBoundsMs.begin(), kLatencyBoundsMs.end(), latency_ms);
  return static_cast<int>(it - kLatencyBoundsMs.begin());
}

void WorkerStats::Record(int slot, unsigned status, double latency_ms, uint64_t request_bytes,
                         uint64_t response_bytes, bool backend_error) {
  if (slot < 0 || slot >= kMaxVersionSlots) return;
  Slot& s = slots_[static_cast<size_t>(slot)];
  int cls = std::clamp(static_cast<int>(status / 100) - 1, 0, kCodeClasses - 1);
  Class& c = s.classes[static_cast<size_t>(cls)];
  Bump(c.count, 1);
  c.latency_sum_ms.store(c.latency_sum_ms.load(std::memory_order_relaxed) + latency_ms,
                         std::memory_order_relaxed);
  Bump(c.buckets[static_cast<size_t>(LatencyBucket(latency_ms))], 1);
  Bump(s.request_bytes, request_bytes);
  Bump(s.response_bytes, response_bytes);
  if (backend_error) Bump(s.backend_errors, 1);
}

void WorkerStats::AddTo(int slot, VersionTraffic& into) const {
  if (slot < 0 || slot >= kMaxVersionSlots) return;
  const Slot& s = slots_[static_cast<size_t>(slot)];
  for (size_t k = 0; k < kCodeClasses; ++k) {
    const Class& c = s.classes[k];
    into.classes[k].count += c.count.load(std::memory_order_relaxed);
    into.classes[k].latency_sum_ms += c.latency_sum_ms.load(std::memory_order_relaxed);
    for (size_t i = 0; i < c.buckets.size(); ++i) {
      into.classes[k].buckets[i] += c.buckets[i].load(std::memory_order_relaxed);
    }
  }
  into.request_bytes += s.request_bytes.load(std::memory_order_relaxed);
  into.response_bytes += s.response_bytes.load(std::memory_order_relaxed);
  into.backend_errors += s.backend_errors.load(std::memory_order_relaxed);
}

std::string PrometheusText(const PrometheusLabels& labels,
                           const std::vector<VersionTraffic>& versions,
                           const std::vector<std::pair<std::string, int64_t>>& weights) {
  std::string out;
  out.reserve(4096 + versions.size() * 8192);
  auto base = [&](const std::string& version) {
    return StrCat("namespace_name=\"", Escape(labels.namespace_), "\",configuration_name=\"",
                  Escape(labels.route), "\",revision_name=\"", Escape(version), "\"");
  };
  out += "# HELP revision_app_request_latencies The response time in millisecond\n";
  out += "# TYPE revision_app_request_latencies histogram\n";
  for (const auto& v : versions) {
    for (size_t k = 0; k < kCodeClasses; ++k) {
      const ClassTraffic& c = v.classes[k];
      if (c.count == 0) continue;
      std::string l =
          StrCat(base(v.name), ",response_code_class=\"", std::to_string(k + 1), "xx\"");
      uint64_t cumulative = 0;
      for (size_t i = 0; i < kLatencyBoundsMs.size(); ++i) {
        cumulative += c.buckets[i];
        out += StrCat("revision_app_request_latencies_bucket{", l, ",le=\"",
                      FormatDouble(kLatencyBoundsMs[i]), "\"} ", std::to_string(cumulative), "\n");
      }
      out += StrCat("revision_app_request_latencies_bucket{", l, ",le=\"+Inf\"} ",
                    std::to_string(c.count), "\n");
      out += StrCat("revision_app_request_latencies_sum{", l, "} ", FormatDouble(c.latency_sum_ms),
                    "\n");
      out +=
          StrCat("revision_app_request_latencies_count{", l, "} ", std::to_string(c.count), "\n");
    }
  }
  out += "# HELP iter8_proxy_request_bytes_total Request body bytes received from clients\n";
  out += "# TYPE iter8_proxy_request_bytes_total counter\n";
  for (const auto& v : versions) {
    out += StrCat("iter8_proxy_request_bytes_total{", base(v.name), "} ",
                  std::to_string(v.request_bytes), "\n");
  }
  out += "# HELP iter8_proxy_response_bytes_total Response body bytes sent to clients\n";
  out += "# TYPE iter8_proxy_response_bytes_total counter\n";
  for (const auto& v : versions) {
    out += StrCat("iter8_proxy_response_bytes_total{", base(v.name), "} ",
                  std::to_string(v.response_bytes), "\n");
  }
  out += "# HELP iter8_proxy_backend_errors_total Failed exchanges with the version's backends\n";
  out += "# TYPE iter8_proxy_backend_errors_total counter\n";
  for (const auto& v : versions) {
    out += StrCat("iter8_proxy_backend_errors_total{", base(v.name), "} ",
                  std::to_string(v.backend_errors), "\n");
  }
  out += "# HELP iter8_proxy_route_weight The version's current traffic weight\n";
  out += "# TYPE iter8_proxy_route_weight gauge\n";
  for (const auto& [name, w] : weights) {
    out += StrCat("iter8_proxy_route_weight{", base(name), "} ", std::to_string(w), "\n");
  }
  return out;
}

}  // namespace iter8::proxy
