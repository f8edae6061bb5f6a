#include "k8s/certs.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace iter8::k8s {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

absl::Status OpenSslError(const std::string& what) {
  char buf[256] = {0};
  ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
  return absl::InternalError(absl::StrCat(what, ": ", buf));
}

BioPtr ReadBio(std::string_view pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

CertPtr ParseCert(std::string_view pem) {
  BioPtr bio = ReadBio(pem);
  return CertPtr(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

KeyPtr ParseKey(std::string_view pem) {
  BioPtr bio = ReadBio(pem);
  return KeyPtr(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

absl::StatusOr<CertKey> ToPem(X509* cert, EVP_PKEY* key) {
  BioPtr c(BIO_new(BIO_s_mem())), k(BIO_new(BIO_s_mem()));
  if (!c || !k || PEM_write_bio_X509(c.get(), cert) != 1 ||
      PEM_write_bio_PrivateKey(k.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError("writing PEM");
  }
  return CertKey{BioText(c.get()), BioText(k.get())};
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return OpenSslError(absl::StrCat("extension ", value));
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1 ? absl::OkStatus() : OpenSslError("adding an extension");
}

// A certificate for `key` named `common_name`, valid from now - 1 min for `validity`, issued by
// `issuer` (itself when null). Extensions and the signature are added by the caller.
absl::StatusOr<CertPtr> NewCert(EVP_PKEY* key, std::string_view common_name, X509* issuer,
                                absl::Time now, absl::Duration validity) {
  CertPtr cert(X509_new());
  if (!cert) return OpenSslError("X509_new");
  X509_set_version(cert.get(), 2);  // v3
  std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>> serial(BN_new());
  if (!serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return OpenSslError("serial number");
  }
  const time_t from = absl::ToTimeT(now - absl::Minutes(1));
  const time_t to = absl::ToTimeT(now + validity);
  if (ASN1_TIME_set(X509_getm_notBefore(cert.get()), from) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), to) == nullptr) {
    return OpenSslError("validity");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  const std::string cn(common_name);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  if (X509_set_pubkey(cert.get(), key) != 1) return OpenSslError("public key");
  return cert;
}

absl::Status Sign(X509* cert, EVP_PKEY* key) {
  return X509_sign(cert, key, EVP_sha256()) > 0 ? absl::OkStatus() : OpenSslError("signing");
}

bool KeyMatches(X509* cert, std::string_view key_pem) {
  KeyPtr key = ParseKey(key_pem);
  return key && X509_check_private_key(cert, key.get()) == 1;
}

// Valid from `now` (or earlier) through `until`.
bool ValidBetween(X509* cert, absl::Time now, absl::Time until) {
  time_t from = absl::ToTimeT(now), to = absl::ToTimeT(until);
  return X509_cmp_time(X509_get0_notBefore(cert), &from) < 0 &&
         X509_cmp_time(X509_get0_notAfter(cert), &to) > 0;
}

}  // namespace

absl::StatusOr<CertKey> MakeCa(std::string_view common_name, absl::Time now,
                               absl::Duration validity) {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return OpenSslError("generating a key");
  absl::StatusOr<CertPtr> cert = NewCert(key.get(), common_name, nullptr, now, validity);
  if (!cert.ok()) return cert.status();
  X509* c = cert->get();
  for (const auto& [nid, value] :
       {std::pair<int, std::string>{NID_basic_constraints, "critical,CA:TRUE"},
        {NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"},
        {NID_subject_key_identifier, "hash"}}) {
    if (absl::Status s = AddExtension(c, c, nid, value); !s.ok()) return s;
  }
  if (absl::Status s = Sign(c, key.get()); !s.ok()) return s;
  return ToPem(c, key.get());
}

absl::StatusOr<CertKey> MakeServingCert(const CertKey& ca,
                                        const std::vector<std::string>& dns_names, absl::Time now,
                                        absl::Duration validity) {
  if (dns_names.empty()) return absl::InvalidArgumentError("a serving certificate needs a name");
  CertPtr ca_cert = ParseCert(ca.cert_pem);
  KeyPtr ca_key = ParseKey(ca.key_pem);
  if (!ca_cert || !ca_key)
    return absl::InvalidArgumentError("the CA certificate or key is not PEM");
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return OpenSslError("generating a key");
  absl::StatusOr<CertPtr> cert = NewCert(key.get(), dns_names[0], ca_cert.get(), now, validity);
  if (!cert.ok()) return cert.status();
  X509* c = cert->get();
  std::vector<std::string> alt;
  for (const std::string& n : dns_names) alt.push_back(absl::StrCat("DNS:", n));
  for (const auto& [nid, value] :
       {std::pair<int, std::string>{NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
        {NID_ext_key_usage, "serverAuth"},
        {NID_authority_key_identifier, "keyid:always"},
        {NID_subject_alt_name, absl::StrJoin(alt, ",")}}) {
    if (absl::Status s = AddExtension(c, ca_cert.get(), nid, value); !s.ok()) return s;
  }
  if (absl::Status s = Sign(c, ca_key.get()); !s.ok()) return s;
  return ToPem(c, key.get());
}

absl::StatusOr<absl::Time> NotAfter(std::string_view cert_pem) {
  CertPtr cert = ParseCert(cert_pem);
  if (!cert) return absl::InvalidArgumentError("not a PEM certificate");
  struct tm tm = {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) != 1) {
    return absl::InvalidArgumentError("unreadable notAfter");
  }
  return absl::FromTimeT(timegm(&tm));
}

bool CaUsable(const CertKey& pair, absl::Time now, absl::Time until) {
  CertPtr cert = ParseCert(pair.cert_pem);
  return cert && X509_check_ca(cert.get()) == 1 && KeyMatches(cert.get(), pair.key_pem) &&
         ValidBetween(cert.get(), now, until);
}

bool ServingCertUsable(const CertKey& pair, std::string_view ca_pem,
                       const std::vector<std::string>& dns_names, absl::Time now,
                       absl::Time until) {
  CertPtr cert = ParseCert(pair.cert_pem);
  CertPtr ca = ParseCert(ca_pem);
  if (!cert || !ca || !KeyMatches(cert.get(), pair.key_pem) ||
      !ValidBetween(cert.get(), now, until)) {
    return false;
  }
  std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>> ca_key(X509_get_pubkey(ca.get()));
  if (!ca_key || X509_verify(cert.get(), ca_key.get()) != 1) return false;
  for (const std::string& n : dns_names) {
    if (X509_check_host(cert.get(), n.data(), n.size(), 0, nullptr) != 1) return false;
  }
  return true;
}

std::vector<std::string> ServiceDnsNames(const std::string& name, const std::string& ns) {
  return {absl::StrCat(name, ".", ns, ".svc"), name, absl::StrCat(name, ".", ns),
          absl::StrCat(name, ".", ns, ".svc.cluster.local")};
}

}  // namespace iter8::k8s
