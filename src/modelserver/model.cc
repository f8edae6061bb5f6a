// File: modelserver/model.cc
#include "modelserver/model.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "common/strings.h"
#include "nlohmann/json.hpp"

namespace iter8::modelserver {

int LinearModel::Predict(std::span<const double> instance) const {
  int best = 0;
  double best_score = -INFINITY;
  for (size_t c = 0; c < classes.size(); ++c) {
    double z = bias[c];
    for (size_t j = 0; j < features.size(); ++j) {
      z += weights[c][j] * (instance[j] - mean[j]) / scale[j];
    }
    if (z > best_score) {
      best_score = z;
      best = static_cast<int>(c);
    }
  }
  return best;
}

absl::StatusOr<LinearModel> ParseModel(std::string_view json_text) {
  auto j = nlohmann::json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return absl::InvalidArgumentError("model: not a JSON object");
  LinearModel m;
  auto strings = [&](const char* field, std::vector<std::string>& into) -> absl::Status {
    if (!j.contains(field) || !j[field].is_array() || j[field].empty()) {
      return absl::InvalidArgumentError(StrCat("model: ", field, " must be a non-empty list"));
    }
    for (const auto& v : j[field]) {
      if (!v.is_string())
        return absl::InvalidArgumentError(StrCat("model: ", field, " must hold strings"));
      into.push_back(v.get<std::string>());
    }
    return absl::OkStatus();
  };
  auto numbers = [&](const nlohmann::json& a, size_t n, const std::string& field,
                     std::vector<double>& into) -> absl::Status {
    if (!a.is_array() || a.size() != n) {
      return absl::InvalidArgumentError(
          StrCat("model: ", field, " must be a list of ", std::to_string(n), " numbers"));
    }
    for (const auto& v : a) {
      if (!v.is_number() || !std::isfinite(v.get<double>())) {
        return absl::InvalidArgumentError(StrCat("model: ", field, " must hold finite numbers"));
      }
      into.push_back(v.get<double>());
    }
    return absl::OkStatus();
  };
  m.name = j.contains("name") && j["name"].is_string() ? j["name"].get<std::string>() : "model";
  if (auto s = strings("features", m.features); !s.ok()) return s;
  if (auto s = strings("classes", m.classes); !s.ok()) return s;
  size_t d = m.features.size(), k = m.classes.size();
  if (auto s = numbers(j.contains("mean") ? j["mean"] : nlohmann::json(), d, "mean", m.mean);
      !s.ok())
    return s;
  if (auto s = numbers(j.contains("scale") ? j["scale"] : nlohmann::json(), d, "scale", m.scale);
      !s.ok())
    return s;
  for (double s : m.scale) {
    if (s <= 0) return absl::InvalidArgumentError("model: scale must be positive");
  }
  if (auto s = numbers(j.contains("bias") ? j["bias"] : nlohmann::json(), k, "bias", m.bias);
      !s.ok())
    return s;
  const nlohmann::json w = j.contains("weights") ? j["weights"] : nlohmann::json();
  if (!w.is_array() || w.size() != k) {
    return absl::InvalidArgumentError(
        StrCat("model: weights must be a list of ", std::to_string(k), " rows"));
  }
  for (size_t c = 0; c < k; ++c) {
    m.weights.emplace_back();
    if (auto s = numbers(w[c], d, StrCat("weights[", std::to_string(c), "]"), m.weights.back());
        !s.ok()) {
      return s;
    }
  }
  return m;
}

absl::StatusOr<LinearModel> LoadModel(const std::string& path_or_name) {
  std::ifstream in(path_or_name);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    auto m = ParseModel(ss.str());
    if (!m.ok())
      return absl::InvalidArgumentError(StrCat(path_or_name, ": ", m.status().message()));
    return m;
  }
  if (auto text = EmbeddedModel(path_or_name)) return ParseModel(*text);
  return absl::NotFoundError(StrCat(
      "model \"", path_or_name, "\": no such file, and not a built-in model (iris-v1, iris-v2)"));
}

}  // namespace iter8::modelserver
