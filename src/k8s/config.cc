// File: k8s/config.cc
#include "k8s/config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "api/document.h"
#include "common/strings.h"

namespace iter8::k8s {
namespace {

using api::Json;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat("cannot read ", path));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The entry named `name` of a kubeconfig list (clusters, users, contexts), or null.
const Json* Named(const Json& config, const char* list, const std::string& name) {
  if (!config.contains(list) || !config[list].is_array()) return nullptr;
  for (const Json& e : config[list]) {
    if (e.is_object() && e.value("name", std::string()) == name) return &e;
  }
  return nullptr;
}

std::string Str(const Json& obj, const char* key) {
  return obj.is_object() && obj.contains(key) && obj[key].is_string() ? obj[key].get<std::string>()
                                                                      : std::string();
}

absl::StatusOr<std::string> Base64(const std::string& data, const std::string& where) {
  std::string out;
  if (!absl::Base64Unescape(data, &out)) {
    return absl::InvalidArgumentError(StrCat(where, ": not valid base64"));
  }
  return out;
}

}  // namespace

absl::StatusOr<ClusterConfig> ParseKubeconfig(std::string_view text, std::string_view source,
                                              const std::string& context) {
  absl::StatusOr<std::vector<api::Document>> docs = api::ParseDocuments(text, source);
  if (!docs.ok()) return docs.status();
  if (docs->empty() || !docs->front().json.is_object()) {
    return absl::InvalidArgumentError(StrCat(source, ": not a kubeconfig"));
  }
  const Json& config = docs->front().json;
  const std::string context_name = context.empty() ? Str(config, "current-context") : context;
  if (context_name.empty()) {
    return absl::InvalidArgumentError(StrCat(source, ": no current-context and no --context"));
  }
  const Json* ctx = Named(config, "contexts", context_name);
  if (ctx == nullptr || !ctx->contains("context")) {
    return absl::NotFoundError(StrCat(source, ": context \"", context_name, "\" not found"));
  }
  const Json& c = (*ctx)["context"];
  const Json* cluster = Named(config, "clusters", Str(c, "cluster"));
  if (cluster == nullptr || !cluster->contains("cluster")) {
    return absl::NotFoundError(StrCat(source, ": cluster \"", Str(c, "cluster"), "\" of context \"",
                                      context_name, "\" not found"));
  }
  ClusterConfig out;
  const Json& cl = (*cluster)["cluster"];
  out.server = Str(cl, "server");
  while (!out.server.empty() && out.server.back() == '/') out.server.pop_back();
  if (out.server.empty()) {
    return absl::InvalidArgumentError(
        StrCat(source, ": cluster \"", Str(c, "cluster"), "\" has no server"));
  }
  if (!Str(c, "namespace").empty()) out.namespace_ = Str(c, "namespace");
  out.http.ca_file = Str(cl, "certificate-authority");
  if (!Str(cl, "certificate-authority-data").empty()) {
    absl::StatusOr<std::string> ca = Base64(Str(cl, "certificate-authority-data"),
                                            StrCat(source, ": certificate-authority-data"));
    if (!ca.ok()) return ca.status();
    out.http.ca_pem = *ca;
  }
  if (cl.is_object() && cl.value("insecure-skip-tls-verify", false)) out.http.verify_tls = false;
  const std::string user_name = Str(c, "user");
  if (!user_name.empty()) {
    const Json* user = Named(config, "users", user_name);
    if (user == nullptr) {
      return absl::NotFoundError(StrCat(source, ": user \"", user_name, "\" not found"));
    }
    const Json& u = user->value("user", Json::object());
    out.http.client_cert_file = Str(u, "client-certificate");
    out.http.client_key_file = Str(u, "client-key");
    for (const auto& [key, field] : {std::pair<const char*, std::string*>{
                                         "client-certificate-data", &out.http.client_cert_pem},
                                     {"client-key-data", &out.http.client_key_pem}}) {
      if (Str(u, key).empty()) continue;
      absl::StatusOr<std::string> pem = Base64(Str(u, key), StrCat(source, ": ", key));
      if (!pem.ok()) return pem.status();
      *field = *pem;
    }
    out.token = Str(u, "token");
    out.token_file = Str(u, "tokenFile");
  }
  return out;
}

absl::StatusOr<ClusterConfig> InClusterConfig(const std::map<std::string, std::string>& env,
                                              const std::string& service_account_dir) {
  auto host = env.find("KUBERNETES_SERVICE_HOST");
  auto port = env.find("KUBERNETES_SERVICE_PORT");
  if (host == env.end() || port == env.end() || host->second.empty()) {
    return absl::FailedPreconditionError(
        "not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no kubeconfig");
  }
  ClusterConfig out;
  const bool ipv6 = host->second.find(':') != std::string::npos;
  out.server =
      StrCat("https://", ipv6 ? "[" : "", host->second, ipv6 ? "]" : "", ":", port->second);
  out.token_file = StrCat(service_account_dir, "/token");
  if (!std::filesystem::exists(out.token_file)) {
    return absl::NotFoundError(StrCat("service account token ", out.token_file, " not found"));
  }
  out.http.ca_file = StrCat(service_account_dir, "/ca.crt");
  absl::StatusOr<std::string> ns = ReadFile(StrCat(service_account_dir, "/namespace"));
  if (ns.ok() && !ns->empty()) {
    out.namespace_ = *ns;
    while (!out.namespace_.empty() && isspace(static_cast<unsigned char>(out.namespace_.back()))) {
      out.namespace_.pop_back();
    }
  }
  return out;
}

absl::StatusOr<ClusterConfig> LoadConfig(const std::string& kubeconfig_path,
                                         const std::string& context) {
  std::string path = kubeconfig_path;
  if (path.empty()) {
    if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
      path = env;
      path = path.substr(0, path.find(':'));  // the first file of a list
    } else if (const char* home = std::getenv("HOME"); home != nullptr) {
      const std::string def = StrCat(home, "/.kube/config");
      if (std::filesystem::exists(def)) path = def;
    }
  }
  if (!path.empty()) {
    absl::StatusOr<std::string> text = ReadFile(path);
    if (!text.ok()) return text.status();
    return ParseKubeconfig(*text, path, context);
  }
  std::map<std::string, std::string> env;
  for (const char* key : {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"}) {
    if (const char* v = std::getenv(key)) env[key] = v;
  }
  return InClusterConfig(env, "/var/run/secrets/kubernetes.io/serviceaccount");
}

}  // namespace iter8::k8s
