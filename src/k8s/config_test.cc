#include "k8s/config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "absl/strings/escaping.h"
#include "test/testing/process.h"

namespace iter8::k8s {
namespace {

TEST(KubeconfigTest, CurrentContextWithDataFieldsAndToken) {
  const std::string ca = absl::Base64Escape("-----BEGIN CERTIFICATE-----\nCA\n");
  const std::string cert = absl::Base64Escape("CERT");
  const std::string key = absl::Base64Escape("KEY");
  const std::string text = R"(apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: dev
  cluster: {server: "http://127.0.0.1:8080", insecure-skip-tls-verify: true}
- name: prod
  cluster:
    server: https://k8s.example.com:6443/
    certificate-authority-data: )" +
                           ca + R"(
users:
- name: admin
  user:
    client-certificate-data: )" +
                           cert + R"(
    client-key-data: )" + key +
                           R"(
- name: robot
  user: {token: s3cret}
contexts:
- name: dev
  context: {cluster: dev, user: robot}
- name: prod
  context: {cluster: prod, user: admin, namespace: models}
)";
  absl::StatusOr<ClusterConfig> prod = ParseKubeconfig(text, "kubeconfig");
  ASSERT_TRUE(prod.ok()) << prod.status();
  EXPECT_EQ(prod->server, "https://k8s.example.com:6443");
  EXPECT_EQ(prod->namespace_, "models");
  EXPECT_EQ(prod->http.ca_pem, "-----BEGIN CERTIFICATE-----\nCA\n");
  EXPECT_EQ(prod->http.client_cert_pem, "CERT");
  EXPECT_EQ(prod->http.client_key_pem, "KEY");
  EXPECT_TRUE(prod->http.verify_tls);
  absl::StatusOr<ClusterConfig> dev = ParseKubeconfig(text, "kubeconfig", "dev");
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_EQ(dev->server, "http://127.0.0.1:8080");
  EXPECT_EQ(dev->token, "s3cret");
  EXPECT_EQ(dev->namespace_, "default");
  EXPECT_FALSE(dev->http.verify_tls);
}

TEST(KubeconfigTest, ProblemsAreNamed) {
  EXPECT_EQ(ParseKubeconfig("apiVersion: v1\nkind: Config\n", "kc").status().message(),
            "kc: no current-context and no --context");
  EXPECT_EQ(ParseKubeconfig("current-context: x\ncontexts: []\n", "kc").status().message(),
            "kc: context \"x\" not found");
  EXPECT_EQ(
      ParseKubeconfig("current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n", "kc")
          .status()
          .message(),
      "kc: cluster \"c\" of context \"x\" not found");
  EXPECT_EQ(ParseKubeconfig("current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
                            "clusters: [{name: c, cluster: {server: h, "
                            "certificate-authority-data: \"%%%\"}}]\n",
                            "kc")
                .status()
                .message(),
            "kc: certificate-authority-data: not valid base64");
}

TEST(InClusterTest, ServiceAccountFiles) {
  testing::TempDir dir;
  std::ofstream(dir.path() / "token") << "tok\n";
  std::ofstream(dir.path() / "ca.crt") << "CA";
  std::ofstream(dir.path() / "namespace") << "iter8-system";
  absl::StatusOr<ClusterConfig> c =
      InClusterConfig({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}},
                      dir.path().string());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "https://10.0.0.1:443");
  EXPECT_EQ(c->namespace_, "iter8-system");
  EXPECT_EQ(c->token_file, (dir.path() / "token").string());
  EXPECT_EQ(c->http.ca_file, (dir.path() / "ca.crt").string());
  EXPECT_EQ(
      InClusterConfig({{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "443"}},
                      dir.path().string())
          ->server,
      "https://[fd00::1]:443");
  EXPECT_TRUE(absl::IsFailedPrecondition(InClusterConfig({}, dir.path().string()).status()));
}

}  // namespace
}  // namespace iter8::k8s
