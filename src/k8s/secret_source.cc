// File: k8s/secret_source.cc
#include "k8s/secret_source.h"

#include "absl/strings/escaping.h"
#include "common/strings.h"

namespace iter8::k8s {

absl::StatusOr<metrics::SecretData> KubernetesSecretSource::Get(
    const std::string& ref, const std::string& default_namespace) const {
  const size_t slash = ref.find('/');
  const std::string ns = slash == std::string::npos ? default_namespace : ref.substr(0, slash);
  const std::string name = slash == std::string::npos ? ref : ref.substr(slash + 1);
  const Resource secrets{"", "v1", "secrets", "Secret", true};
  absl::StatusOr<Json> secret = client_.Get(secrets, ns, name);
  if (!secret.ok()) {
    if (absl::IsNotFound(secret.status())) {
      return absl::NotFoundError(StrCat("secret ", ns, "/", name, " not found"));
    }
    return absl::Status(secret.status().code(),
                        StrCat("secret ", ns, "/", name, ": ", secret.status().message()));
  }
  metrics::SecretData out;
  if (secret->contains("data") && (*secret)["data"].is_object()) {
    for (const auto& [key, value] : (*secret)["data"].items()) {
      std::string decoded;
      if (!value.is_string() || !absl::Base64Unescape(value.get<std::string>(), &decoded)) {
        return absl::InvalidArgumentError(
            StrCat("secret ", ns, "/", name, ": data.", key, " is not base64"));
      }
      out[key] = decoded;
    }
  }
  return out;
}

}  // namespace iter8::k8s
