// File: k8s/config.h
//
// Where the Kubernetes API is and how to authenticate to it: a kubeconfig (clusters, users,
// contexts, current-context; certificate authority and client certificate/key as files or
// base64 data; bearer token or token file; insecure-skip-tls-verify) or the in-cluster service
// account (KUBERNETES_SERVICE_HOST/PORT, the mounted token, CA and namespace). A token file is
// re-read for every request, so a rotated service-account token is picked up.
//
// Pure value types and parsing; LoadConfig reads files and the environment.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "http/http_client.h"

namespace iter8::k8s {

struct ClusterConfig {
  std::string server;  // https://host:port (no trailing slash)
  std::string namespace_ = "default";
  http::HttpClientOptions http;  // TLS: CA, client certificate, verification
  std::string token;             // bearer token, or
  std::string token_file;        // a file holding it (re-read on every request)
};

// Parses kubeconfig text; `context` empty = current-context. Errors name the file and the
// missing or bad entry.
absl::StatusOr<ClusterConfig> ParseKubeconfig(std::string_view text, std::string_view source,
                                              const std::string& context = "");

// The in-cluster configuration from `env` (KUBERNETES_SERVICE_HOST/PORT) and the service
// account directory (token, ca.crt, namespace).
absl::StatusOr<ClusterConfig> InClusterConfig(const std::map<std::string, std::string>& env,
                                              const std::string& service_account_dir);

// `kubeconfig_path` if given, else $KUBECONFIG, else ~/.kube/config if it exists, else the
// in-cluster configuration.
absl::StatusOr<ClusterConfig> LoadConfig(const std::string& kubeconfig_path,
                                         const std::string& context = "");

}  // namespace iter8::k8s
