// File: metrics/http_provider.h
//
// The original's generic REST metric provider (spec.md 2.2): render the request from the
// Metric (urlTemplate, params, method, body, headerTemplates, authType with secret data), send
// it, and extract the value from the JSON reply with the metric's jqExpression.
//
// Differences from the original, all in the direction of "never a wrong number":
//  - TLS certificates are verified unless HttpClientOptions::verify_tls is off (the original
//    never verified);
//  - an HTTP status >= 400 is reported as unavailable even if the body would pass jq;
//  - the reply is bounded in size (HttpClientOptions::max_response_bytes).
// v2alpha1 metrics without a urlTemplate use the original's fixed Prometheus mode: GET
// `<prometheus_url>/api/v1/query` with the params, strict `$interval` substitution and the jq
// `.data.result[0].value[1] | tonumber`.
//
// Owns an HttpClient, so an HttpProvider is not thread-safe: use one per thread. The
// SecretSource is borrowed and must outlive the provider.
#pragma once

#include <string>

#include "metrics/http_client.h"
#include "metrics/provider.h"
#include "metrics/secrets.h"

namespace iter8::metrics {

struct HttpProviderOptions {
  HttpClientOptions http;
  std::string prometheus_url;    // v2alpha1 fixed Prometheus mode
  std::string secret_namespace;  // namespace of bare secret names (the original: iter8-system)
};

inline constexpr char kPrometheusJq[] = ".data.result[0].value[1] | tonumber";

class HttpProvider final : public MetricProvider {
 public:
  HttpProvider(HttpProviderOptions options, const SecretSource* secrets)
      : options_(std::move(options)), client_(options_.http), secrets_(secrets) {}

  MetricResult Query(const api::Metric& metric, const api::VersionDetail& version,
                     const QueryContext& context) override;

  // The request this provider would send (no I/O), or why it cannot be built.
  absl::StatusOr<HttpRequest> Render(const api::Metric& metric, const api::VersionDetail& version,
                                     const QueryContext& context, std::string* jq) const;

 private:
  HttpProviderOptions options_;
  HttpClient client_;
  const SecretSource* secrets_;
};

}  // namespace iter8::metrics
