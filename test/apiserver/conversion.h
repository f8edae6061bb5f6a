// File: test/apiserver/conversion.h
//
// CRD version conversion for the in-tree TEST API server (a stand-in for Kubernetes, tests
// only), as the real API server does it for a CRD with several versions:
//   - objects are stored in the CRD's storage version; a request in another served version has
//     its body converted to the storage version before it is stored, and every object it reads
//     (get, list, watch, the answer to a write) converted to the request's version;
//   - strategy `None` only rewrites apiVersion; strategy `Webhook` POSTs a ConversionReview
//     (apiextensions.k8s.io/v1) to `spec.conversion.webhook.clientConfig`: a `url`, or a
//     `service` {namespace, name, port (443), path}, over HTTPS, verifying the server's
//     certificate with the CA bundle `caBundle` for the name `<service>.<namespace>.svc`;
//   - a webhook that is down, slow (past the timeout), answers with another uid, another number
//     of objects, objects of another apiVersion, or a Failure result fails the request with 500
//     InternalError and the real server's message ("conversion webhook for <group>/<version>,
//     Kind=<kind> failed: ...").
// The stand-in's networking: a Service resolves to the first address and port of the Endpoints
// object of the same namespace and name (tests write it), as kube-proxy would route it.
//
// Stateless functions; thread-safe. Called without the server's lock held.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace iter8::testing {

struct ConversionSettings {
  std::string strategy = "None";  // None | Webhook
  std::string storage_version;
  nlohmann::json client_config;  // spec.conversion.webhook.clientConfig
};

// A CRD spec's conversion settings, or the API server's validation error for them.
absl::StatusOr<ConversionSettings> ReadConversion(const nlohmann::json& crd_spec);

// host (an IP) and port that Service `ns`/`name` port `port` routes to.
using ServiceResolver = std::function<absl::StatusOr<std::pair<std::string, int>>(
    const std::string& ns, const std::string& name, int port)>;

// `objects` (of `group`'s `kind`, each in some version of it) in `desired_api_version`.
absl::StatusOr<std::vector<nlohmann::json>> ConvertObjects(
    const ConversionSettings& settings, const std::string& kind,
    const std::vector<nlohmann::json>& objects, const std::string& desired_api_version,
    const ServiceResolver& resolve, absl::Duration timeout);

}  // namespace iter8::testing
