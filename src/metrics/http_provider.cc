#include "metrics/http_provider.h"

#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "metrics/jq.h"
#include "metrics/template.h"

namespace iter8::metrics {
namespace {

constexpr size_t kResponseSnippet = 200;

std::string Snippet(const std::string& body) {
  return body.size() <= kResponseSnippet ? body : body.substr(0, kResponseSnippet) + "...";
}

}  // namespace

absl::StatusOr<HttpRequest> HttpProvider::Render(const api::Metric& metric,
                                                 const api::VersionDetail& version,
                                                 const QueryContext& context,
                                                 std::string* jq) const {
  const api::MetricSpec& spec = metric.spec;
  const Variables vars = QueryVariables(version, context.start, context.now, context.v2alpha1);
  SecretData secret;
  if (!spec.secret.empty()) {
    if (!secrets_) {
      return absl::FailedPreconditionError(StrCat("metric ", metric.metadata.name, " needs secret ",
                                                  spec.secret,
                                                  " but no secret source is configured"));
    }
    const std::string ns =
        options_.secret_namespace.empty() ? metric.metadata.namespace_ : options_.secret_namespace;
    absl::StatusOr<SecretData> s = secrets_->Get(spec.secret, ns);
    if (!s.ok())
      return absl::FailedPreconditionError(StrCat("missing secret: ", s.status().message()));
    secret = *s;
  }
  HttpRequest req;
  req.method =
      spec.method.value_or(api::HttpMethod::kGet) == api::HttpMethod::kPost ? "POST" : "GET";
  *jq = spec.jq_expression;
  const bool fixed_prometheus =
      context.v2alpha1 && spec.url_template.empty() && spec.provider == "prometheus";
  if (fixed_prometheus) {
    if (options_.prometheus_url.empty()) {
      return absl::FailedPreconditionError(
          "v2alpha1 Prometheus metric needs the Prometheus URL (--prometheus-url)");
    }
    req.url = StrCat(options_.prometheus_url, "/api/v1/query");
    *jq = kPrometheusJq;
  } else if (spec.url_template.empty()) {
    return absl::InvalidArgumentError(
        StrCat("metric ", metric.metadata.name, " has no urlTemplate"));
  } else {
    req.url = spec.secret.empty() ? spec.url_template : SafeSubstitute(spec.url_template, secret);
  }
  if (jq->empty()) {
    return absl::InvalidArgumentError(
        StrCat("metric ", metric.metadata.name, " has no jqExpression"));
  }
  for (const auto& p : spec.params) {
    if (context.v2alpha1) {
      absl::StatusOr<std::string> v = Substitute(p.value, vars);
      if (!v.ok()) return v.status();
      req.query.emplace_back(p.name, *v);
    } else {
      req.query.emplace_back(p.name, SafeSubstitute(p.value, vars));
    }
  }
  const bool header_secrets = !spec.secret.empty() && (spec.auth_type == api::AuthType::kBearer ||
                                                       spec.auth_type == api::AuthType::kAPIKey);
  for (const auto& h : spec.header_templates) {
    req.headers.emplace_back(h.name, header_secrets ? SafeSubstitute(h.value, secret) : h.value);
  }
  if (spec.auth_type == api::AuthType::kBasic) {
    auto u = secret.find("username");
    auto pw = secret.find("password");
    if (spec.secret.empty() || u == secret.end() || pw == secret.end()) {
      return absl::FailedPreconditionError(
          StrCat("metric ", metric.metadata.name,
                 " uses Basic auth but its secret has no username and password"));
    }
    req.basic_user = u->second;
    req.basic_password = pw->second;
  }
  if (!spec.body.empty()) {
    req.body = SafeSubstitute(spec.body, vars);
    if (!nlohmann::json::accept(req.body)) {
      return absl::InvalidArgumentError(
          StrCat("body of metric ", metric.metadata.name,
                 " is not JSON after substitution: ", Snippet(req.body)));
    }
  }
  return req;
}

MetricResult HttpProvider::Query(const api::Metric& metric, const api::VersionDetail& version,
                                 const QueryContext& context) {
  std::string jq;
  absl::StatusOr<HttpRequest> req = Render(metric, version, context, &jq);
  if (!req.ok()) return MetricResult::Unavailable(std::string(req.status().message()));
  MetricResult result;
  result.request = req->Describe();
  absl::StatusOr<HttpResponse> resp = client_.Do(*req);
  if (!resp.ok()) {
    result.unavailable = std::string(resp.status().message());
    return result;
  }
  result.response = Snippet(resp->body);
  if (resp->status >= 400) {
    result.unavailable =
        StrCat("HTTP ", resp->status, " from ", req->url, ": ", Snippet(resp->body));
    return result;
  }
  absl::StatusOr<double> v = JqFirstNumber(jq, resp->body);
  if (!v.ok()) {
    result.unavailable = std::string(v.status().message());
    return result;
  }
  result.value = *v;
  return result;
}

}  // namespace iter8::metrics
