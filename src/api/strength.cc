#include "api/strength.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "common/strings.h"

namespace iter8::api {
namespace {

constexpr char kBase[] = "/spec/criteria/strength/";

// Reads number `key` into `out` when present; appends an error unless it lies in [lo, hi]
// (exclusive at `lo` when `open_lo`).
void Number(const Json& st, const char* key, double lo, double hi, bool open_lo, double* out,
            std::vector<FieldError>* errors) {
  if (!st.contains(key)) return;
  const Json& v = st[key];
  const bool ok = v.is_number() && std::isfinite(v.get<double>()) &&
                  (open_lo ? v.get<double>() > lo : v.get<double>() >= lo) && v.get<double>() <= hi;
  if (!ok) {
    errors->push_back(
        {StrCat(kBase, key), StrCat("Invalid value: ", v.dump(), ": must be a number in ",
                                    open_lo ? "(" : "[", lo, ", ", hi, "]")});
    return;
  }
  *out = v.get<double>();
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The number right before "th"/"st"/"nd"/"rd" of an ordinal, or after a "p" token.
std::optional<double> QuantileFromName(const std::string& name) {
  // pNN tokens: start of name or after a separator, then digits (and an optional fraction).
  for (size_t i = 0; i + 1 < name.size(); ++i) {
    if (name[i] != 'p' || (i > 0 && std::isalnum(static_cast<unsigned char>(name[i - 1])))) {
      continue;
    }
    size_t j = i + 1;
    while (j < name.size() &&
           (std::isdigit(static_cast<unsigned char>(name[j])) || name[j] == '.')) {
      ++j;
    }
    if (j == i + 1 || (j < name.size() && std::isalpha(static_cast<unsigned char>(name[j])))) {
      continue;
    }
    if (std::optional<TestMethod> m = ParseTestMethod(name.substr(i, j - i))) return m->quantile;
  }
  if (name.find("percentile") == std::string::npos) return std::nullopt;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) continue;
    size_t j = i;
    while (j < name.size() &&
           (std::isdigit(static_cast<unsigned char>(name[j])) || name[j] == '.')) {
      ++j;
    }
    const double pct = std::strtod(name.substr(i, j - i).c_str(), nullptr);
    if (pct > 0 && pct < 100) return pct / 100.0;
    i = j;
  }
  return std::nullopt;
}

// Reads the boolean `key` of `st` into *out when present; anything else is an error naming it.
void Bool(const Json& st, const char* key, bool* out, std::vector<FieldError>* errors) {
  if (!st.contains(key)) return;
  if (st[key].is_boolean()) {
    *out = st[key].get<bool>();
  } else {
    errors->push_back(
        {StrCat(kBase, key), StrCat("Invalid value: ", st[key].dump(), ": must be true or false")});
  }
}

}  // namespace

std::optional<TestMethod> ParseTestMethod(const std::string& text) {
  if (text == "rate") return TestMethod{TestMethod::kRate, 0};
  if (text == "mean") return TestMethod{TestMethod::kMean, 0};
  if (text == "count") return TestMethod{TestMethod::kCount, 0};
  if (text.size() >= 2 && text[0] == 'p') {
    const std::string digits = text.substr(1);
    if (digits.find_first_not_of("0123456789.") != std::string::npos) return std::nullopt;
    if (std::count(digits.begin(), digits.end(), '.') > 1 || digits.front() == '.' ||
        digits.back() == '.') {
      return std::nullopt;
    }
    const double pct = std::strtod(digits.c_str(), nullptr);
    if (pct > 0 && pct < 100) return TestMethod{TestMethod::kQuantile, pct / 100.0};
  }
  return std::nullopt;
}

TestMethod InferTestMethod(const std::string& reference, const Metric* metric) {
  if (metric != nullptr && metric->spec.type == MetricType::kCounter) {
    return {TestMethod::kCount, 0};
  }
  std::string name = reference;
  if (size_t slash = name.rfind('/'); slash != std::string::npos) name = name.substr(slash + 1);
  name = Lower(name);
  if (std::optional<double> q = QuantileFromName(name)) return {TestMethod::kQuantile, *q};
  for (const char* word : {"rate", "ratio", "fraction"}) {
    if (name.find(word) != std::string::npos) return {TestMethod::kRate, 0};
  }
  return {TestMethod::kMean, 0};
}

Strength ParseStrength(const Json& st, std::vector<FieldError>* errors) {
  Strength out;
  if (st.is_null()) return out;
  if (!st.is_object()) {
    // The original accepted anything here; we only give objects a meaning.
    return out;
  }
  if (st.contains("engine")) {
    const Json& engine = st["engine"];
    if (engine == "classic") {
      out.engine = EngineKind::kClassic;
    } else if (engine == "sequential") {
      out.engine = EngineKind::kSequential;
    } else {
      errors->push_back(
          {StrCat(kBase, "engine"), StrCat("Unsupported value: ", engine.dump(),
                                           ": supported values: \"classic\", \"sequential\"")});
    }
  }
  Number(st, "alpha", 0, 0.5, true, &out.alpha, errors);
  Number(st, "concentration", 1, 1e6, false, &out.concentration, errors);
  Number(st, "nOpt", 1, 1e12, false, &out.n_opt, errors);
  Number(st, "harmBudget", 0, 10, true, &out.harm_budget, errors);
  Number(st, "minWeight", 0, 100, false, &out.min_weight, errors);
  Number(st, "undecidedMaxWeight", 0, 100, false, &out.undecided_max_weight, errors);
  if (out.min_weight > out.undecided_max_weight) {
    errors->push_back({StrCat(kBase, "minWeight"), StrCat("Invalid value: ", out.min_weight,
                                                          ": must not exceed undecidedMaxWeight (",
                                                          out.undecided_max_weight, ")")});
  }
  if (st.contains("equivalenceMargin")) {
    double m = 0;
    Number(st, "equivalenceMargin", 0, 1e300, true, &m, errors);
    if (m > 0) out.equivalence_margin = m;
  }
  if (st.contains("maxLatency")) {
    double m = 0;
    Number(st, "maxLatency", 0, 1e300, true, &m, errors);
    if (m > 0) out.max_latency = m;
  }
  Bool(st, "stopEarly", &out.stop_early, errors);
  Bool(st, "sampleRatioCheck", &out.sample_ratio_check, errors);
  if (st.contains("burstyErrors")) {
    const Json& b = st["burstyErrors"];
    if (b == "promotion") {
      out.bursty_errors = Strength::Bursts::kPromotion;
    } else if (b == "all" || b == true) {
      out.bursty_errors = Strength::Bursts::kAll;
    } else if (b == "none" || b == false) {
      out.bursty_errors = Strength::Bursts::kNone;
    } else {
      errors->push_back({StrCat(kBase, "burstyErrors"),
                         StrCat("Unsupported value: ", b.dump(),
                                ": supported values: \"promotion\", \"all\", \"none\"")});
    }
  }
  if (st.contains("strict")) {
    Bool(st, "strict", &out.strict, errors);
    if (out.strict && !out.max_latency) {
      errors->push_back({StrCat(kBase, "maxLatency"),
                         "Required value: strict means need maxLatency, the request timeout that "
                         "bounds every latency (in the metric's unit)"});
    }
  }
  if (st.contains("methods")) {
    const Json& methods = st["methods"];
    if (!methods.is_object()) {
      errors->push_back({StrCat(kBase, "methods"),
                         StrCat("Invalid value: ", methods.dump(),
                                ": must be a map from metric name to rate, mean, count or pNN")});
    } else {
      for (const auto& [metric, m] : methods.items()) {
        std::optional<TestMethod> method =
            m.is_string() ? ParseTestMethod(m.get<std::string>()) : std::nullopt;
        if (!method) {
          errors->push_back({StrCat(kBase, "methods/", metric),
                             StrCat("Unsupported value: ", m.dump(),
                                    ": supported values: \"rate\", \"mean\", \"count\", \"pNN\" "
                                    "(a quantile such as p95 or p99.9)")});
          continue;
        }
        out.methods[metric] = *method;
      }
    }
  }
  return out;
}

}  // namespace iter8::api
