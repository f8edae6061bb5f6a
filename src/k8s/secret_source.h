// File: k8s/secret_source.h
//
// Metric authentication data (spec.secret) from Kubernetes Secrets, for cluster mode: the
// metrics::SecretSource behind the http provider. `name` or `namespace/name`; the Secret's
// `data` values are base64-decoded. Reads the API on every call (no cache), so a rotated Secret
// is used at the next iteration.
//
// Borrows the Client (thread-safe), so it may be used from any thread.
#pragma once

#include "k8s/client.h"
#include "metrics/secrets.h"

namespace iter8::k8s {

class KubernetesSecretSource final : public metrics::SecretSource {
 public:
  explicit KubernetesSecretSource(Client& client) : client_(client) {}
  absl::StatusOr<metrics::SecretData> Get(const std::string& ref,
                                          const std::string& default_namespace) const override;

 private:
  Client& client_;
};

}  // namespace iter8::k8s
