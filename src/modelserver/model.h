// File: modelserver/model.h
//
// The sample model server's model: a multinomial logistic regression over standardised
// features (samples/models/train_iris.py trains it on the iris data set and writes it as JSON).
// Pure and immutable after parsing; thread-safe.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace iter8::modelserver {

struct LinearModel {
  std::string name;
  std::vector<std::string> features;
  std::vector<std::string> classes;
  std::vector<double> mean;
  std::vector<double> scale;
  std::vector<std::vector<double>> weights;  // [class][feature]
  std::vector<double> bias;                  // [class]

  // The most likely class index for one instance (features.size() values).
  int Predict(std::span<const double> instance) const;
};

// Parses a model file's JSON text; errors name the field.
absl::StatusOr<LinearModel> ParseModel(std::string_view json_text);

// The JSON text of a model compiled into the binary ("iris-v1", "iris-v2"), or nullopt.
std::optional<std::string_view> EmbeddedModel(std::string_view name);

// A model by file path, or by embedded name when no such file exists.
absl::StatusOr<LinearModel> LoadModel(const std::string& path_or_name);

}  // namespace iter8::modelserver
