// File: k8s/certs.h
//
// X.509 for the controller's conversion webhook, with OpenSSL: a self-signed CA and a serving
// certificate it signs for the webhook Service's DNS names (what controller-runtime-based
// operators generate for themselves), and the checks that decide when to make new ones.
// Keys are ECDSA P-256; certificates and keys travel as PEM text.
//
// Stateless functions; thread-safe (OpenSSL 3 is).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace iter8::k8s {

struct CertKey {
  std::string cert_pem;
  std::string key_pem;
};

// A self-signed CA certificate (CN `common_name`) valid from `now` (less a minute for clock
// skew) for `validity`.
absl::StatusOr<CertKey> MakeCa(std::string_view common_name, absl::Time now,
                               absl::Duration validity);

// A serving certificate for `dns_names` (the first is also the CN), signed by `ca`.
absl::StatusOr<CertKey> MakeServingCert(const CertKey& ca,
                                        const std::vector<std::string>& dns_names, absl::Time now,
                                        absl::Duration validity);

// When `cert_pem` stops being valid.
absl::StatusOr<absl::Time> NotAfter(std::string_view cert_pem);

// True when `pair` is a certificate and its matching key, signed by `ca_pem`, naming every one of
// `dns_names`, and valid from `now` through `until`.
bool ServingCertUsable(const CertKey& pair, std::string_view ca_pem,
                       const std::vector<std::string>& dns_names, absl::Time now, absl::Time until);

// True when `pair` is a CA certificate and its key, valid from `now` through `until`.
bool CaUsable(const CertKey& pair, absl::Time now, absl::Time until);

// The DNS names a Service `name` in `ns` is reached by from the API server.
std::vector<std::string> ServiceDnsNames(const std::string& name, const std::string& ns);

}  // namespace iter8::k8s
