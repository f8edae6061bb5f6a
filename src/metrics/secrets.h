// File: metrics/secrets.h
//
// Where metric authentication data comes from. A Metric's `secret` names a Kubernetes-style
// Secret (`name` or `namespace/name`); its data (username, password, token, or any key used as
// a placeholder in `urlTemplate` and `headerTemplates`) is looked up through a SecretSource.
// Cluster mode will read real Secrets; local mode reads files or the environment:
//
//   EnvSecretSource: ITER8_SECRET_<NAME>_<KEY>=value, where NAME and KEY are upper-cased and
//     every character other than A-Z and 0-9 becomes `_` (namespace ignored);
//   MapSecretSource: an in-memory map (tests, and files loaded by the CLI).
//
// Implementations here are immutable after construction and thread-safe.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace iter8::metrics {

using SecretData = std::map<std::string, std::string>;

class SecretSource {
 public:
  virtual ~SecretSource() = default;
  // `ref` is `name` or `namespace/name`; `default_namespace` applies to a bare name.
  virtual absl::StatusOr<SecretData> Get(const std::string& ref,
                                         const std::string& default_namespace) const = 0;
};

class MapSecretSource final : public SecretSource {
 public:
  // Keys are "namespace/name".
  explicit MapSecretSource(std::map<std::string, SecretData> secrets)
      : secrets_(std::move(secrets)) {}
  absl::StatusOr<SecretData> Get(const std::string& ref,
                                 const std::string& default_namespace) const override;

 private:
  std::map<std::string, SecretData> secrets_;
};

class EnvSecretSource final : public SecretSource {
 public:
  // `environ`-style entries; the default reads the process environment once.
  EnvSecretSource();
  explicit EnvSecretSource(const std::map<std::string, std::string>& environment);
  absl::StatusOr<SecretData> Get(const std::string& ref,
                                 const std::string& default_namespace) const override;

 private:
  std::map<std::string, std::string> env_;
};

}  // namespace iter8::metrics
