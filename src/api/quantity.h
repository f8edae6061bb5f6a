// File: api/quantity.h
//
// Kubernetes resource.Quantity, as the Experiment and Metric resources use it for objective
// limits, metric values and mock levels. Parses every form Kubernetes accepts ("10m", "1k",
// "1Mi", "1e3", "0.01", "228419047620n", "-5"), keeps the value exactly in nano units (values
// with more than nine decimals are rounded away from zero, as Kubernetes does), and prints the
// canonical form Kubernetes writes ("117444444445n", "1k", "10m", "0").
//
// Range: |value| < 1.7e29 (the value in nano units must fit in 128 bits); larger inputs are
// rejected with a clear error rather than silently losing precision.
//
// A Quantity is a small value type; it is immutable apart from assignment and safe to share
// between threads like any const value.
#pragma once

#include <compare>
#include <string>
#include <string_view>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"

namespace iter8::api {

class Quantity {
 public:
  // The notation a quantity was written in; it decides the canonical output (Kubernetes keeps
  // the format of the parsed suffix).
  enum class Format { kDecimalSI, kBinarySI, kDecimalExponent };

  Quantity() = default;

  // Parses a quantity string. Errors name the offending text and what was expected.
  static absl::StatusOr<Quantity> Parse(std::string_view text);
  // Converts a finite double to a quantity (shortest decimal form of the double, DecimalSI).
  static absl::StatusOr<Quantity> FromDouble(double value);
  static Quantity FromInt(int64_t value) { return Quantity(absl::int128(value) * kNanoPerUnit); }
  // Value given in nano units (1 == 1n).
  static Quantity FromNano(absl::int128 nanos, Format format = Format::kDecimalSI) {
    return Quantity(nanos, format);
  }

  // Canonical string as Kubernetes writes it (what `kubectl get -o yaml` shows).
  std::string ToString() const;
  // The value rounded towards +infinity to `decimals` places (0..9), always printed with that
  // many decimals, e.g. "330.682" for 330681818182n with 3. This is iter8ctl's number format.
  std::string ToFixedCeil(int decimals) const;

  double ToDouble() const;
  absl::int128 Nanos() const { return nanos_; }
  Format GetFormat() const { return format_; }
  bool IsZero() const { return nanos_ == 0; }

  // Arithmetic is exact; results use the left operand's format. Overflow is checked by the
  // caller through the range documented above (sums of in-range values stay in range of int128
  // unless both are near the limit).
  Quantity operator+(const Quantity& o) const { return Quantity(nanos_ + o.nanos_, format_); }
  Quantity operator-(const Quantity& o) const { return Quantity(nanos_ - o.nanos_, format_); }
  Quantity operator-() const { return Quantity(-nanos_, format_); }

  // Comparison is by value only (1k == 1000 == 1e3).
  friend bool operator==(const Quantity& a, const Quantity& b) { return a.nanos_ == b.nanos_; }
  friend std::strong_ordering operator<=>(const Quantity& a, const Quantity& b) {
    return a.nanos_ < b.nanos_   ? std::strong_ordering::less
           : a.nanos_ > b.nanos_ ? std::strong_ordering::greater
                                 : std::strong_ordering::equal;
  }

  static constexpr int64_t kNanoPerUnit = 1'000'000'000;

 private:
  explicit Quantity(absl::int128 nanos, Format format = Format::kDecimalSI)
      : nanos_(nanos), format_(format) {}

  absl::int128 nanos_ = 0;
  Format format_ = Format::kDecimalSI;
};

}  // namespace iter8::api
