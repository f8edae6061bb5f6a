#include "metrics/secrets.h"

#include <cctype>

#include "common/strings.h"

extern char** environ;

namespace iter8::metrics {
namespace {

std::string EnvToken(const std::string& s) {
  std::string out;
  for (unsigned char c : s)
    out.push_back(std::isalnum(c) ? static_cast<char>(std::toupper(c)) : '_');
  return out;
}

std::string Qualified(const std::string& ref, const std::string& default_namespace) {
  return ref.find('/') == std::string::npos ? StrCat(default_namespace, "/", ref) : ref;
}

}  // namespace

absl::StatusOr<SecretData> MapSecretSource::Get(const std::string& ref,
                                                const std::string& default_namespace) const {
  const std::string key = Qualified(ref, default_namespace);
  auto it = secrets_.find(key);
  if (it == secrets_.end()) return absl::NotFoundError(StrCat("secret ", key, " not found"));
  return it->second;
}

EnvSecretSource::EnvSecretSource() {
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq != std::string::npos) env_[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
}

EnvSecretSource::EnvSecretSource(const std::map<std::string, std::string>& environment)
    : env_(environment) {}

absl::StatusOr<SecretData> EnvSecretSource::Get(const std::string& ref,
                                                const std::string& /*default_namespace*/) const {
  const std::string name = ref.substr(ref.find('/') == std::string::npos ? 0 : ref.find('/') + 1);
  const std::string prefix = StrCat("ITER8_SECRET_", EnvToken(name), "_");
  SecretData data;
  for (auto it = env_.lower_bound(prefix); it != env_.end() && it->first.rfind(prefix, 0) == 0;
       ++it) {
    std::string key = it->first.substr(prefix.size());
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    data[key] = it->second;
  }
  if (data.empty()) {
    return absl::NotFoundError(
        StrCat("secret ", ref, " not found (set ", prefix, "<KEY> in the environment)"));
  }
  return data;
}

}  // namespace iter8::metrics
