#include "k8s/webhook.h"

#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "api/conversion.h"

namespace iter8::k8s {
namespace {

using absl::StrCat;

const Resource kSecrets{"", "v1", "secrets", "Secret", true};
const Resource kCrds{"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                     "CustomResourceDefinition", false};

std::string SecretField(const Json& secret, const char* key) {
  const Json data = secret.value("data", Json::object());
  std::string out;
  if (data.is_object() && data.contains(key) && data[key].is_string()) {
    absl::Base64Unescape(data[key].get<std::string>(), &out);
  }
  return out;
}

// The first PEM certificate of a bundle (the CA that signs now).
std::string FirstCert(const std::string& bundle) {
  const std::string end = "-----END CERTIFICATE-----";
  const size_t at = bundle.find(end);
  return at == std::string::npos ? bundle : bundle.substr(0, at + end.size()) + "\n";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return in ? ss.str() : "";
}

Json SecretObject(const WebhookOptions& o, const CertKey& ca, const CertKey& serving) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata",
           {{"name", o.secret},
            {"namespace", o.iter8_namespace},
            {"labels", {{"app.kubernetes.io/part-of", "iter8"}}}}},
          {"type", "kubernetes.io/tls"},
          {"data",
           {{"ca.crt", absl::Base64Escape(ca.cert_pem)},
            {"ca.key", absl::Base64Escape(ca.key_pem)},
            {"tls.crt", absl::Base64Escape(serving.cert_pem)},
            {"tls.key", absl::Base64Escape(serving.key_pem)}}}};
}

}  // namespace

// The certificate and key handed to each TLS handshake (SSL_CTX_set_cert_cb).
struct ConversionWebhook::Tls {
  std::mutex mu;
  std::shared_ptr<X509> cert;     // guarded by mu
  std::shared_ptr<EVP_PKEY> key;  // guarded by mu
  std::string pem;                // guarded by mu
  std::unique_ptr<httplib::SSLServer> server;

  static int OnHandshake(SSL* ssl, void* arg) {
    Tls* self = static_cast<Tls*>(arg);
    std::lock_guard<std::mutex> lock(self->mu);
    if (!self->cert || !self->key) return 0;
    return SSL_use_certificate(ssl, self->cert.get()) == 1 &&
                   SSL_use_PrivateKey(ssl, self->key.get()) == 1
               ? 1
               : 0;
  }
};

ConversionWebhook::ConversionWebhook(Client& client, WebhookOptions options)
    : client_(client), options_(std::move(options)), tls_(std::make_unique<Tls>()) {}

ConversionWebhook::~ConversionWebhook() { Stop(); }

absl::Status ConversionWebhook::Install(const CertKey& serving) {
  BIO* cb = BIO_new_mem_buf(serving.cert_pem.data(), static_cast<int>(serving.cert_pem.size()));
  BIO* kb = BIO_new_mem_buf(serving.key_pem.data(), static_cast<int>(serving.key_pem.size()));
  std::shared_ptr<X509> cert(cb ? PEM_read_bio_X509(cb, nullptr, nullptr, nullptr) : nullptr,
                             X509_free);
  std::shared_ptr<EVP_PKEY> key(
      kb ? PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr) : nullptr, EVP_PKEY_free);
  BIO_free(cb);
  BIO_free(kb);
  if (!cert || !key) return absl::InvalidArgumentError("the serving certificate is not PEM");
  std::lock_guard<std::mutex> lock(tls_->mu);
  if (tls_->pem != serving.cert_pem) options_.log("conversion webhook: serving a new certificate");
  tls_->cert = std::move(cert);
  tls_->key = std::move(key);
  tls_->pem = serving.cert_pem;
  return absl::OkStatus();
}

std::string ConversionWebhook::ServingCertPem() const {
  std::lock_guard<std::mutex> lock(tls_->mu);
  return tls_->pem;
}

absl::StatusOr<CertKey> ConversionWebhook::ReadCertDir() const {
  CertKey pair{ReadFile(StrCat(options_.cert_dir, "/tls.crt")),
               ReadFile(StrCat(options_.cert_dir, "/tls.key"))};
  if (pair.cert_pem.empty() || pair.key_pem.empty()) {
    return absl::NotFoundError(
        StrCat("no tls.crt and tls.key in ", options_.cert_dir, " (--webhook-cert-dir)"));
  }
  return pair;
}

absl::StatusOr<CertKey> ConversionWebhook::EnsureSecret(absl::Time now) {
  const std::vector<std::string> names =
      ServiceDnsNames(options_.service, options_.iter8_namespace);
  const absl::Time until = now + options_.renew_before;
  for (int attempt = 0; attempt < 5; ++attempt) {
    absl::StatusOr<Json> got = client_.Get(kSecrets, options_.iter8_namespace, options_.secret);
    if (!got.ok() && !absl::IsNotFound(got.status())) return got.status();
    const Json secret = got.ok() ? *got : Json();
    CertKey ca{got.ok() ? SecretField(secret, "ca.crt") : "",
               got.ok() ? SecretField(secret, "ca.key") : ""};
    CertKey serving{got.ok() ? SecretField(secret, "tls.crt") : "",
                    got.ok() ? SecretField(secret, "tls.key") : ""};
    const CertKey signing{FirstCert(ca.cert_pem), ca.key_pem};
    const bool ca_ok = CaUsable(signing, now, until);
    if (ca_ok && ServingCertUsable(serving, signing.cert_pem, names, now, until)) return serving;
    if (!ca_ok) {
      absl::StatusOr<CertKey> fresh = MakeCa("iter8-webhook-ca", now, options_.ca_validity);
      if (!fresh.ok()) return fresh.status();
      // The old CA stays trusted beside the new one while it is valid.
      const bool keep_old = CaUsable(signing, now, now);
      ca = {fresh->cert_pem + (keep_old ? signing.cert_pem : ""), fresh->key_pem};
    }
    absl::StatusOr<CertKey> made = MakeServingCert({FirstCert(ca.cert_pem), ca.key_pem}, names, now,
                                                   options_.serving_validity);
    if (!made.ok()) return made.status();
    Json next = SecretObject(options_, ca, *made);
    absl::StatusOr<Json> written;
    if (got.ok()) {
      next["metadata"]["resourceVersion"] = secret["metadata"]["resourceVersion"];
      written = client_.Update(kSecrets, next);
    } else {
      written = client_.Create(kSecrets, options_.iter8_namespace, next);
    }
    if (written.ok()) {
      options_.log(StrCat("conversion webhook: ", ca_ok ? "renewed" : "created",
                          " certificates in Secret ", options_.iter8_namespace, "/",
                          options_.secret));
      return *made;
    }
    // Another replica wrote first: use what it wrote.
    if (!absl::IsAborted(written.status()) && !absl::IsAlreadyExists(written.status())) {
      return written.status();
    }
  }
  return absl::AbortedError("the webhook Secret kept changing under this replica");
}

absl::Status ConversionWebhook::InjectCaBundle(const std::string& ca_pem) {
  const std::string bundle = absl::Base64Escape(ca_pem);
  for (const std::string& name : options_.crds) {
    absl::StatusOr<Json> crd = client_.Get(kCrds, "", name);
    if (absl::IsNotFound(crd.status())) continue;  // not installed (yet): the next check
    if (!crd.ok()) return crd.status();
    const Json conversion = crd->value("spec", Json::object()).value("conversion", Json::object());
    if (conversion.value("strategy", std::string()) != "Webhook") continue;
    const Json config =
        conversion.value("webhook", Json::object()).value("clientConfig", Json::object());
    // A Service reference points at this controller's (a Helm release in another namespace
    // cannot template the CRDs it installs).
    Json want = {{"caBundle", bundle}};
    if (config.contains("service")) {
      Json service = config["service"];
      service["namespace"] = options_.iter8_namespace;
      service["name"] = options_.service;
      want["service"] = service;
    }
    if (config.value("caBundle", std::string()) == bundle &&
        (!want.contains("service") || want["service"] == config["service"])) {
      continue;
    }
    const Json patch = {{"spec", {{"conversion", {{"webhook", {{"clientConfig", want}}}}}}}};
    absl::StatusOr<Json> done = client_.Patch(kCrds, "", name, PatchType::kMerge, patch);
    if (!done.ok()) return done.status();
    options_.log(StrCat("conversion webhook: CA bundle written into CRD ", name));
  }
  return absl::OkStatus();
}

absl::Status ConversionWebhook::Check() {
  if (!options_.cert_dir.empty()) {
    absl::StatusOr<CertKey> files = ReadCertDir();
    if (!files.ok()) return files.status();
    if (absl::Status s = Install(*files); !s.ok()) return s;
    // cert-manager's Secret carries its issuer's CA: written into the CRDs like ours (its
    // cainjector, where installed, writes the same).
    const std::string ca = ReadFile(StrCat(options_.cert_dir, "/ca.crt"));
    return ca.empty() ? absl::OkStatus() : InjectCaBundle(ca);
  }
  absl::StatusOr<CertKey> serving = EnsureSecret(options_.now());
  if (!serving.ok()) return serving.status();
  if (absl::Status s = Install(*serving); !s.ok()) return s;
  absl::StatusOr<Json> secret = client_.Get(kSecrets, options_.iter8_namespace, options_.secret);
  if (!secret.ok()) return secret.status();
  return InjectCaBundle(SecretField(*secret, "ca.crt"));
}

absl::Status ConversionWebhook::Serve() {
  Tls* tls = tls_.get();
  tls->server = std::make_unique<httplib::SSLServer>([tls](SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    SSL_CTX_set_cert_cb(&ctx, &Tls::OnHandshake, tls);
    return true;
  });
  httplib::SSLServer& server = *tls->server;
  server.set_payload_max_length(64 << 20);
  server.Post("/convert", [](const httplib::Request& req, httplib::Response& res) {
    const api::Json review = api::Json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (review.is_discarded()) {
      res.status = 400;
      res.set_content("the body is not a JSON ConversionReview\n", "text/plain");
      return;
    }
    res.set_content(api::ReviewConversion(review).dump(), "application/json");
  });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  port_ = options_.port == 0
              ? server.bind_to_any_port(options_.host)
              : (server.bind_to_port(options_.host, options_.port) ? options_.port : -1);
  if (port_ <= 0) {
    return absl::UnavailableError(
        StrCat("conversion webhook: cannot listen on ", options_.host, ":", options_.port));
  }
  server_thread_ = std::thread([&server] { server.listen_after_bind(); });
  return absl::OkStatus();
}

absl::Status ConversionWebhook::Start() {
  if (absl::Status s = Check(); !s.ok()) {
    return absl::Status(s.code(), StrCat("conversion webhook certificates: ", s.message()));
  }
  if (absl::Status s = Serve(); !s.ok()) return s;
  options_.log(StrCat("conversion webhook serving on ", options_.host, ":", port_));
  check_thread_ = std::thread([this] { CheckLoop(); });
  return absl::OkStatus();
}

void ConversionWebhook::CheckLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_cv_.wait_for(lock, absl::ToChronoMilliseconds(options_.check_every),
                            [this] { return stopping_; })) {
    lock.unlock();
    if (absl::Status s = Check(); !s.ok()) {
      options_.log(StrCat("conversion webhook check failed (retrying): ", s.message()));
    }
    lock.lock();
  }
}

void ConversionWebhook::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (check_thread_.joinable()) check_thread_.join();
  if (tls_->server) tls_->server->stop();
  if (server_thread_.joinable()) server_thread_.join();
}

}  // namespace iter8::k8s
