// File: k8s/webhook.h
//
// The controller's conversion webhook: serves `POST /convert` (a ConversionReview,
// apiextensions.k8s.io/v1, answered by api::ReviewConversion) over TLS for the CRDs whose
// `spec.conversion.strategy` is `Webhook`, so the API server serves Experiments and Metrics in
// `iter8.tools/v2alpha1` and `v2alpha2` alike. Every replica serves it, leader or not.
//
// Certificates without manual steps, as controller-runtime-based operators manage them:
//   - self-managed (default): a CA and a serving certificate for the webhook Service's DNS names
//     are kept in a Secret in iter8's namespace (`ca.crt`, `ca.key`, `tls.crt`, `tls.key`),
//     created by the first replica that finds none (a replica that loses the race reads the
//     winner's), renewed `renew_before` ahead of expiry (a new CA alongside the old one in
//     `ca.crt` while both are valid, so replicas still serving the old certificate stay
//     trusted), checked every `check_every` by every replica, which also reloads what another
//     replica wrote; the CA bundle is written into each CRD's
//     `spec.conversion.webhook.clientConfig.caBundle` where it differs.
//   - cert-manager: with `cert_dir`, the serving certificate is read from `tls.crt` and
//     `tls.key` in that directory (a mounted Secret that cert-manager renews) at every check,
//     and its `ca.crt`, when present, is written into the CRDs as above (cert-manager's
//     cainjector may write the same); no Secret is written.
// A new certificate is used from the next TLS handshake on; nothing restarts.
//
// Thread-safe: Start and Stop from the owning thread; requests are served on the server's pool;
// the check runs on a thread of its own.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "k8s/certs.h"
#include "k8s/client.h"

namespace iter8::k8s {

struct WebhookOptions {
  std::string iter8_namespace = "iter8-system";
  std::string service = "iter8-webhook";      // the Service the CRDs name
  std::string secret = "iter8-webhook-cert";  // self-managed certificates
  std::vector<std::string> crds = {"experiments.iter8.tools", "metrics.iter8.tools"};
  std::string host = "0.0.0.0";
  int port = 9443;       // 0: any free port (tests)
  std::string cert_dir;  // set: cert-manager's files, no Secret and no caBundle writes
  absl::Duration check_every = absl::Minutes(10);
  absl::Duration ca_validity = absl::Hours(24 * 365 * 10);
  absl::Duration serving_validity = absl::Hours(24 * 365);
  absl::Duration renew_before = absl::Hours(24 * 30);
  std::function<absl::Time()> now = [] { return absl::Now(); };
  std::function<void(const std::string&)> log = [](const std::string&) {};
};

class ConversionWebhook {
 public:
  ConversionWebhook(Client& client, WebhookOptions options);
  ~ConversionWebhook();
  ConversionWebhook(const ConversionWebhook&) = delete;
  ConversionWebhook& operator=(const ConversionWebhook&) = delete;

  // Gets certificates (creating them if needed), writes the CA bundle, starts serving and the
  // periodic check. Fails when no certificate can be had or the port cannot be bound.
  absl::Status Start();
  void Stop();
  int Port() const { return port_; }

  // One check now: renew or reload the certificate, rewrite the CA bundles that differ.
  absl::Status Check();

  // The certificate served now (PEM), for tests.
  std::string ServingCertPem() const;

 private:
  struct Tls;
  absl::StatusOr<CertKey> EnsureSecret(absl::Time now);
  absl::StatusOr<CertKey> ReadCertDir() const;
  absl::Status InjectCaBundle(const std::string& ca_pem);
  absl::Status Install(const CertKey& serving);
  absl::Status Serve();
  void CheckLoop();

  Client& client_;
  const WebhookOptions options_;
  std::unique_ptr<Tls> tls_;
  int port_ = 0;
  std::thread server_thread_, check_thread_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by mu_
};

}  // namespace iter8::k8s
