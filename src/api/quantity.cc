#include "api/quantity.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include "common/strings.h"

namespace iter8::api {
namespace {

using Int128 = __int128;

constexpr Int128 kNano = Quantity::kNanoPerUnit;

// 10^n for 0 <= n <= 38, the largest power that fits.
Int128 Pow10(int n) {
  Int128 r = 1;
  for (int i = 0; i < n; ++i) r *= 10;
  return r;
}

bool MulOverflows(Int128 a, Int128 b, Int128* out) { return __builtin_mul_overflow(a, b, out); }
bool AddOverflows(Int128 a, Int128 b, Int128* out) { return __builtin_add_overflow(a, b, out); }

std::string I128ToString(Int128 v) {
  if (v == 0) return "0";
  bool neg = v < 0;
  // Work on the negative magnitude so the minimum value does not overflow.
  std::string digits;
  Int128 x = neg ? v : -v;
  while (x != 0) {
    digits.push_back(static_cast<char>('0' - static_cast<int>(x % 10)));
    x /= 10;
  }
  if (neg) digits.push_back('-');
  return std::string(digits.rbegin(), digits.rend());
}

struct Suffix {
  int base = 10;  // 10 or 2
  int exponent = 0;
  Quantity::Format format = Quantity::Format::kDecimalSI;
};

bool InterpretSuffix(std::string_view s, Suffix* out) {
  static constexpr struct {
    std::string_view text;
    int base;
    int exponent;
  } kTable[] = {
      {"", 10, 0},   {"n", 10, -9}, {"u", 10, -6}, {"m", 10, -3}, {"k", 10, 3},  {"M", 10, 6},
      {"G", 10, 9},  {"T", 10, 12}, {"P", 10, 15}, {"E", 10, 18}, {"Ki", 2, 10}, {"Mi", 2, 20},
      {"Gi", 2, 30}, {"Ti", 2, 40}, {"Pi", 2, 50}, {"Ei", 2, 60},
  };
  for (const auto& e : kTable) {
    if (s == e.text) {
      out->base = e.base;
      out->exponent = e.exponent;
      out->format = e.base == 2 ? Quantity::Format::kBinarySI : Quantity::Format::kDecimalSI;
      return true;
    }
  }
  if (s.size() >= 2 && (s[0] == 'e' || s[0] == 'E')) {
    std::string_view rest = s.substr(1);
    size_t i = 0;
    if (rest[0] == '+' || rest[0] == '-') i = 1;
    if (i == rest.size() || rest.size() - i > 6) return false;  // |exponent| < 10^6
    for (size_t j = i; j < rest.size(); ++j) {
      if (rest[j] < '0' || rest[j] > '9') return false;
    }
    int exp = 0;
    std::from_chars(rest.data() + i, rest.data() + rest.size(), exp);
    out->base = 10;
    out->exponent = rest[0] == '-' ? -exp : exp;
    out->format = Quantity::Format::kDecimalExponent;
    return true;
  }
  return false;
}

// Multiplies the digit string `digits` (no leading zeros) by 10^power and rounds the result
// away from zero to an integer. Returns false on overflow.
bool ScaleDigits(std::string_view digits, int power, Int128* out) {
  if (digits.empty()) {
    *out = 0;
    return true;
  }
  int keep = static_cast<int>(digits.size()) + power;  // digits left of the point
  if (power >= 0) {
    if (keep > 39) return false;
    Int128 v = 0;
    for (char c : digits) {
      if (MulOverflows(v, 10, &v) || AddOverflows(v, c - '0', &v)) return false;
    }
    Int128 scale = Pow10(power);
    return !MulOverflows(v, scale, out);
  }
  // Drop -power digits; any non-zero dropped digit rounds the magnitude up.
  bool dropped_nonzero = false;
  Int128 v = 0;
  if (keep > 39) return false;
  for (int i = 0; i < static_cast<int>(digits.size()); ++i) {
    if (i < keep) {
      if (MulOverflows(v, 10, &v) || AddOverflows(v, digits[i] - '0', &v)) return false;
    } else if (digits[i] != '0') {
      dropped_nonzero = true;
    }
  }
  if (dropped_nonzero && AddOverflows(v, 1, &v)) return false;
  *out = v;
  return true;
}

}  // namespace

absl::StatusOr<Quantity> Quantity::Parse(std::string_view text) {
  auto fail = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        StrCat("invalid quantity \"", text, "\": ", why,
               " (expected a number with an optional suffix such as 10m, 1k, 1Mi, 1e3)"));
  };
  if (text.empty()) return fail("empty string");
  if (text.size() > 256) return fail("longer than 256 characters");
  size_t pos = 0;
  bool negative = false;
  if (text[pos] == '+' || text[pos] == '-') {
    negative = text[pos] == '-';
    ++pos;
  }
  std::string digits;
  int fraction_len = 0;
  bool seen_digit = false;
  bool seen_point = false;
  for (; pos < text.size(); ++pos) {
    char c = text[pos];
    if (c >= '0' && c <= '9') {
      seen_digit = true;
      if (!(digits.empty() && c == '0')) digits.push_back(c);
      if (seen_point) ++fraction_len;
    } else if (c == '.' && !seen_point) {
      seen_point = true;
    } else {
      break;
    }
  }
  if (!seen_digit) return fail("no digits");
  // Keep leading zeros of the fraction out of `digits` but count them in fraction_len; the
  // digit string then represents the unscaled integer exactly.
  Suffix suffix;
  if (!InterpretSuffix(text.substr(pos), &suffix)) {
    return fail(StrCat("unknown suffix \"", text.substr(pos), "\""));
  }
  Int128 nanos = 0;
  bool ok = true;
  if (suffix.base == 10) {
    ok = ScaleDigits(digits, suffix.exponent - fraction_len + 9, &nanos);
  } else {
    Int128 factor = static_cast<Int128>(1) << suffix.exponent;
    // value = digits * 2^e * 10^(9 - fraction_len)
    Int128 scaled = 0;
    ok = ScaleDigits(digits, 0, &scaled) && !MulOverflows(scaled, factor, &scaled);
    if (ok) ok = ScaleDigits(I128ToString(scaled), 9 - fraction_len, &nanos);
    if (ok) {
      // Kubernetes caps binary-suffixed quantities at the largest int64.
      Int128 max_allowed = static_cast<Int128>(INT64_MAX) * kNano;
      if (nanos > max_allowed) nanos = max_allowed;
      if (nanos > 0 && nanos < kNano) suffix.format = Format::kDecimalSI;
    }
  }
  if (!ok) return fail("magnitude out of range (|value| must be below 1.7e29)");
  return Quantity(absl::int128(negative ? -nanos : nanos), suffix.format);
}

absl::StatusOr<Quantity> Quantity::FromDouble(double value) {
  if (!std::isfinite(value)) {
    return absl::InvalidArgumentError("invalid quantity: not a finite number");
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), value);
  std::string s(buf, res.ptr);
  // to_chars may use exponent notation ("1e+30"); Parse accepts e+NN.
  absl::StatusOr<Quantity> q = Parse(s);
  if (q.ok()) q->format_ = Format::kDecimalSI;
  return q;
}

std::string Quantity::ToString() const {
  Int128 v = static_cast<Int128>(nanos_);
  if (v == 0) return "0";
  Format format = format_;
  if (format == Format::kBinarySI) {
    Int128 abs = v < 0 ? -v : v;
    if (abs < 1024 * kNano || v % kNano != 0) {
      format = Format::kDecimalSI;
    } else {
      Int128 units = v / kNano;
      int exp = 0;
      while (exp < 6 && units % 1024 == 0) {
        units /= 1024;
        ++exp;
      }
      static constexpr std::string_view kBin[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
      return StrCat(I128ToString(units), kBin[exp]);
    }
  }
  Int128 mantissa = v;
  int exp = -9;
  while (mantissa % 10 == 0) {
    mantissa /= 10;
    ++exp;
  }
  // Lower the exponent to a multiple of three (removed zeros make room for this).
  int r = ((exp % 3) + 3) % 3;
  for (int i = 0; i < r; ++i) mantissa *= 10;
  exp -= r;
  std::string number = I128ToString(mantissa);
  if (format == Format::kDecimalExponent) {
    return exp == 0 ? number : StrCat(number, "e", exp);
  }
  switch (exp) {
    case -9:
      return number + "n";
    case -6:
      return number + "u";
    case -3:
      return number + "m";
    case 0:
      return number;
    case 3:
      return number + "k";
    case 6:
      return number + "M";
    case 9:
      return number + "G";
    case 12:
      return number + "T";
    case 15:
      return number + "P";
    case 18:
      return number + "E";
    default:
      return StrCat(number, "e", exp);
  }
}

std::string Quantity::ToFixedCeil(int decimals) const {
  if (decimals < 0) decimals = 0;
  if (decimals > 9) decimals = 9;
  Int128 v = static_cast<Int128>(nanos_);
  Int128 q = Pow10(9 - decimals);
  // Ceiling division: C++ truncates toward zero, which is the ceiling for negative values.
  Int128 scaled = v >= 0 ? (v / q + (v % q != 0 ? 1 : 0)) : v / q;
  bool negative = scaled < 0;
  Int128 abs = negative ? -scaled : scaled;
  Int128 unit = Pow10(decimals);
  std::string out = negative ? "-" : "";
  out += I128ToString(abs / unit);
  if (decimals > 0) {
    std::string frac = I128ToString(abs % unit);
    out += "." + std::string(decimals - frac.size(), '0') + frac;
  }
  return out;
}

double Quantity::ToDouble() const {
  Int128 v = static_cast<Int128>(nanos_);
  bool negative = v < 0;
  Int128 abs = negative ? -v : v;
  std::string frac = I128ToString(abs % kNano);
  std::string text = StrCat(negative ? "-" : "", I128ToString(abs / kNano), ".",
                            std::string(9 - frac.size(), '0'), frac);
  return std::strtod(text.c_str(), nullptr);
}

}  // namespace iter8::api
