// File: common/random.h
//
// The randomness interface that pure modules (analytics, engine) take as a parameter instead of
// drawing numbers of their own, so that every decision is reproducible in tests and replays.
// Implementations: Mt19937Random (seeded, for production) and SequenceRandom (scripted, tests).
// An instance is not thread-safe; give each thread (or each call) its own.
#pragma once

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace iter8 {

class Random {
 public:
  virtual ~Random() = default;
  // A uniform draw from [0, 1).
  virtual double Uniform() = 0;
};

// Mersenne twister with an explicit seed.
class Mt19937Random final : public Random {
 public:
  explicit Mt19937Random(uint64_t seed) : engine_(seed) {}
  double Uniform() override { return dist_(engine_); }

 private:
  std::mt19937_64 engine_;
  std::uniform_real_distribution<double> dist_{0.0, 1.0};
};

// Returns the given values in order, cycling; tests script exact draws with it.
class SequenceRandom final : public Random {
 public:
  explicit SequenceRandom(std::vector<double> values) : values_(std::move(values)) {}
  double Uniform() override {
    if (values_.empty()) return 0.0;
    double v = values_[next_ % values_.size()];
    ++next_;
    return v;
  }
  size_t Draws() const { return next_; }

 private:
  std::vector<double> values_;
  size_t next_ = 0;
};

}  // namespace iter8
