#include "test/apiserver/conversion.h"

#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <atomic>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace iter8::testing {
namespace {

using Json = nlohmann::json;
using absl::StrCat;

std::string Str(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

std::string NewUid() {
  static std::atomic<uint64_t> n{0};
  return StrCat("6b1f1c2e-0000-4000-8000-", 100000000000 + n.fetch_add(1));
}

// Where the review goes: the name the certificate must carry, the address, the path.
struct Target {
  std::string host;  // name verified in the certificate
  std::string ip;
  int port = 443;
  std::string path;
  std::string url;  // for messages
};

absl::StatusOr<Target> Resolve(const Json& config, const ServiceResolver& resolve) {
  Target t;
  if (const std::string url = Str(config, "url"); !url.empty()) {
    if (url.rfind("https://", 0) != 0) return absl::InvalidArgumentError("url must be https");
    const std::string rest = url.substr(8);
    const size_t slash = rest.find('/');
    const std::string authority = rest.substr(0, slash);
    t.path = slash == std::string::npos ? "/" : rest.substr(slash);
    const size_t colon = authority.rfind(':');
    t.host = authority.substr(0, colon);
    if (colon != std::string::npos) t.port = std::atoi(authority.c_str() + colon + 1);
    t.ip = t.host == "localhost" ? "127.0.0.1" : t.host;
    t.url = url;
    return t;
  }
  const Json service = config.value("service", Json::object());
  const std::string ns = Str(service, "namespace"), name = Str(service, "name");
  t.port = service.value("port", 443);
  t.path = service.contains("path") ? Str(service, "path") : "/";
  t.host = StrCat(name, ".", ns, ".svc");
  t.url = StrCat("https://", t.host, ":", t.port, t.path, "?timeout=30s");
  absl::StatusOr<std::pair<std::string, int>> at = resolve(ns, name, t.port);
  if (!at.ok()) return absl::UnavailableError(StrCat("service \"", name, "\" not found"));
  t.ip = at->first;
  t.port = at->second;
  return t;
}

X509_STORE* CaStore(const std::string& bundle_b64) {
  std::string pem;
  if (!absl::Base64Unescape(bundle_b64, &pem) || pem.empty()) return nullptr;
  X509_STORE* store = X509_STORE_new();
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);
    X509_free(cert);
  }
  BIO_free(bio);
  return store;
}

absl::StatusOr<Json> Post(const Target& t, const std::string& ca_bundle, const Json& review,
                          absl::Duration timeout) {
  httplib::SSLClient client(t.host, t.port);
  client.set_hostname_addr_map({{t.host, t.ip}});
  if (X509_STORE* store = CaStore(ca_bundle)) client.set_ca_cert_store(store);
  client.enable_server_certificate_verification(true);
  const auto us = absl::ToInt64Microseconds(timeout);
  client.set_connection_timeout(us / 1000000, us % 1000000);
  client.set_read_timeout(us / 1000000, us % 1000000);
  client.set_write_timeout(us / 1000000, us % 1000000);
  httplib::Result res = client.Post(t.path.c_str(), review.dump(), "application/json");
  if (!res) {
    std::string why = httplib::to_string(res.error());
    if (client.get_openssl_verify_result() != X509_V_OK) {
      why = StrCat("x509: ", X509_verify_cert_error_string(client.get_openssl_verify_result()));
    }
    return absl::UnavailableError(StrCat("Post \"", t.url, "\": ", why));
  }
  if (res->status != 200) {
    return absl::UnavailableError(StrCat("the server responded with the status code ", res->status,
                                         " but did not return more information"));
  }
  Json body = Json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return absl::UnavailableError("the response is not JSON");
  return body;
}

// The checks the real server makes on a review's answer.
absl::StatusOr<std::vector<Json>> ReadAnswer(const Json& answer, const std::string& uid,
                                             const std::vector<Json>& sent,
                                             const std::string& desired) {
  const Json response = answer.value("response", Json());
  if (!response.is_object()) return absl::InternalError("no response in the ConversionReview");
  if (Str(response, "uid") != uid) {
    return absl::InternalError(
        StrCat("expected response uid \"", uid, "\", got \"", Str(response, "uid"), "\""));
  }
  const Json result = response.value("result", Json::object());
  if (Str(result, "status") != "Success") return absl::InternalError(Str(result, "message"));
  const Json objects = response.value("convertedObjects", Json());
  if (!objects.is_array() || objects.size() != sent.size()) {
    return absl::InternalError(StrCat("returned ", objects.is_array() ? objects.size() : 0,
                                      " objects, expected ", sent.size()));
  }
  std::vector<Json> out;
  for (size_t i = 0; i < sent.size(); ++i) {
    const Json& o = objects[i];
    const Json before = sent[i].value("metadata", Json::object());
    const Json after = o.is_object() ? o.value("metadata", Json::object()) : Json::object();
    if (Str(o, "apiVersion") != desired || Str(o, "kind") != Str(sent[i], "kind") ||
        Str(after, "name") != Str(before, "name") ||
        Str(after, "namespace") != Str(before, "namespace") ||
        Str(after, "uid") != Str(before, "uid")) {
      return absl::InternalError(StrCat("returned invalid object at index ", i, ": expected ",
                                        desired, " ", Str(sent[i], "kind"),
                                        " with the same name, namespace and uid"));
    }
    out.push_back(o);
  }
  return out;
}

}  // namespace

absl::StatusOr<ConversionSettings> ReadConversion(const Json& spec) {
  ConversionSettings s;
  for (const Json& v : spec.value("versions", Json::array())) {
    if (v.is_object() && v.value("storage", false)) s.storage_version = Str(v, "name");
  }
  const Json conversion = spec.value("conversion", Json::object());
  if (!conversion.is_object()) return s;
  s.strategy = conversion.value("strategy", std::string("None"));
  if (s.strategy == "None") return s;
  if (s.strategy != "Webhook") {
    return absl::InvalidArgumentError(StrCat("spec.conversion.strategy: Unsupported value: \"",
                                             s.strategy,
                                             "\": supported values: \"None\", "
                                             "\"Webhook\""));
  }
  const Json webhook = conversion.value("webhook", Json::object());
  s.client_config = webhook.is_object() ? webhook.value("clientConfig", Json()) : Json();
  const Json review_versions =
      webhook.is_object() ? webhook.value("conversionReviewVersions", Json()) : Json();
  if (!s.client_config.is_object() ||
      (Str(s.client_config, "url").empty() && !s.client_config.contains("service"))) {
    return absl::InvalidArgumentError(
        "spec.conversion.webhook.clientConfig: Required value: required when strategy is set "
        "to Webhook");
  }
  if (!review_versions.is_array() || std::find(review_versions.begin(), review_versions.end(),
                                               Json("v1")) == review_versions.end()) {
    return absl::InvalidArgumentError(
        "spec.conversion.webhook.conversionReviewVersions: Invalid value: must include at "
        "least one of v1, v1beta1");
  }
  return s;
}

absl::StatusOr<std::vector<Json>> ConvertObjects(
    const ConversionSettings& settings, const std::string& kind, const std::vector<Json>& objects,
    const std::string& desired, const ServiceResolver& resolve, absl::Duration timeout) {
  std::vector<Json> out = objects;
  std::vector<size_t> todo;
  for (size_t i = 0; i < objects.size(); ++i) {
    if (Str(objects[i], "apiVersion") != desired) todo.push_back(i);
  }
  if (todo.empty()) return out;
  if (settings.strategy != "Webhook") {
    for (size_t i : todo) out[i]["apiVersion"] = desired;
    return out;
  }
  const std::string from = StrCat(Str(objects[todo[0]], "apiVersion"), ", Kind=", kind);
  auto failed = [&from](const absl::Status& why) {
    return absl::InternalError(StrCat("conversion webhook for ", from, " failed: ", why.message()));
  };
  absl::StatusOr<Target> target = Resolve(settings.client_config, resolve);
  if (!target.ok()) return failed(target.status());
  std::vector<Json> sent;
  for (size_t i : todo) sent.push_back(objects[i]);
  const std::string uid = NewUid();
  const Json review = {
      {"apiVersion", "apiextensions.k8s.io/v1"},
      {"kind", "ConversionReview"},
      {"request", {{"uid", uid}, {"desiredAPIVersion", desired}, {"objects", sent}}}};
  absl::StatusOr<Json> answer =
      Post(*target, Str(settings.client_config, "caBundle"), review, timeout);
  if (!answer.ok()) return failed(answer.status());
  absl::StatusOr<std::vector<Json>> converted = ReadAnswer(*answer, uid, sent, desired);
  if (!converted.ok()) return failed(converted.status());
  for (size_t k = 0; k < todo.size(); ++k) out[todo[k]] = (*converted)[k];
  return out;
}

}  // namespace iter8::testing
