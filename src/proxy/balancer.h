// File: proxy/balancer.h
//
// How the proxy chooses a version for a request.
//  - SmoothWeightedPicker: nginx's smooth weighted round robin. Over every window of
//    sum(weights) consecutive picks each version is picked exactly `weight` times, and picks of
//    one version are spread out (no bursts). One per worker thread, so workers never share it.
//  - RendezvousPick: weighted rendezvous (highest random weight) hashing for sticky keys. A key
//    keeps its version across restarts (the hash is stable: FNV-1a and a fixed mix, no
//    per-process seed), the share of keys per version matches the weights, and when weights
//    change only keys that must move do move (a version whose weight grows only gains keys).
//
// Pure; a picker is not thread-safe, the free functions are.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace iter8::proxy {

class SmoothWeightedPicker {
 public:
  SmoothWeightedPicker() = default;
  explicit SmoothWeightedPicker(std::vector<int64_t> weights) { Reset(std::move(weights)); }

  // New weights; the sequence starts afresh.
  void Reset(std::vector<int64_t> weights);
  // The next index, or -1 when every weight is 0.
  int Pick();

 private:
  std::vector<int64_t> weights_;
  std::vector<int64_t> current_;
  int64_t total_ = 0;
};

// A stable 64-bit hash of `key` and `salt` (independent of process, platform endianness aside).
uint64_t StableHash(std::string_view key, std::string_view salt, uint64_t seed);

// The version for a sticky key: the index maximising weight_i / -ln(u_i), where u_i in (0, 1) is
// the stable hash of (key, names[i]). -1 when every weight is 0.
int RendezvousPick(std::string_view key, const std::vector<std::string>& names,
                   const std::vector<int64_t>& weights, uint64_t seed);

}  // namespace iter8::proxy
