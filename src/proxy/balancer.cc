// File: proxy/balancer.cc
#include "proxy/balancer.h"

#include <cmath>

namespace iter8::proxy {

void SmoothWeightedPicker::Reset(std::vector<int64_t> weights) {
  weights_ = std::move(weights);
  current_.assign(weights_.size(), 0);
  total_ = 0;
  for (int64_t w : weights_) total_ += w;
}

int SmoothWeightedPicker::Pick() {
  if (total_ <= 0) return -1;
  int best = -1;
  for (size_t i = 0; i < weights_.size(); ++i) {
    current_[i] += weights_[i];
    if (weights_[i] > 0 && (best < 0 || current_[i] > current_[static_cast<size_t>(best)])) {
      best = static_cast<int>(i);
    }
  }
  current_[static_cast<size_t>(best)] -= total_;
  return best;
}

uint64_t StableHash(std::string_view key, std::string_view salt, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ULL ^ seed;  // FNV-1a 64
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 0x100000001b3ULL;
    }
  };
  mix(key);
  h ^= 0xff;  // separator that cannot occur inside UTF-8 text
  h *= 0x100000001b3ULL;
  mix(salt);
  // splitmix64 finaliser: FNV alone has weak low bits.
  h += 0x9e3779b97f4a7c15ULL;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

int RendezvousPick(std::string_view key, const std::vector<std::string>& names,
                   const std::vector<int64_t>& weights, uint64_t seed) {
  int best = -1;
  double best_score = 0;
  for (size_t i = 0; i < names.size() && i < weights.size(); ++i) {
    if (weights[i] <= 0) continue;
    // u in (0, 1): 53 random bits, never 0 or 1.
    double u =
        (static_cast<double>(StableHash(key, names[i], seed) >> 11) + 0.5) / 9007199254740992.0;
    double score = static_cast<double>(weights[i]) / -std::log(u);
    if (best < 0 || score > best_score) {
      best = static_cast<int>(i);
      best_score = score;
    }
  }
  return best;
}

}  // namespace iter8::proxy
