// The conversion webhook and its certificates (k8s/certs.h, k8s/webhook.h) against the in-tree
// test API server (test/apiserver; not Kubernetes), which calls conversion webhooks over HTTPS as
// the real one does (test/apiserver/conversion.h): iter8's own CRDs from deploy/crds, a v2alpha1
// Experiment written and read in both versions through get, list and watch, and the API server's
// errors when the webhook is down, slow or answers badly.
#include "k8s/webhook.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "api/document.h"
#include "k8s/certs.h"
#include "test/apiserver/test_apiserver.h"
#include "test/testing/wait.h"

namespace iter8::k8s {
namespace {

const Resource kV1Experiments{"iter8.tools", "v2alpha1", "experiments", "Experiment", true};
const Resource kV2Experiments{"iter8.tools", "v2alpha2", "experiments", "Experiment", true};
const Resource kCrdResource{"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                            "CustomResourceDefinition", false};
const Resource kEndpoints{"", "v1", "endpoints", "Endpoints", true};
const Resource kSecretsResource{"", "v1", "secrets", "Secret", true};

Json ReadYaml(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto docs = api::ParseDocuments(ss.str(), path);
  EXPECT_TRUE(docs.ok()) << path;
  return docs.ok() ? Json::parse((*docs)[0].json.dump()) : Json();
}

Json QuickstartV1() {
  return Json::parse(R"({"apiVersion": "iter8.tools/v2alpha1", "kind": "Experiment",
    "metadata": {"name": "experiment-1", "namespace": "default"},
    "spec": {"target": "default/my-model", "strategy": {"type": "Canary"},
      "criteria": {"indicators": ["95th-percentile-tail-latency"],
        "objectives": [{"metric": "mean-latency", "upperLimit": 1000},
                       {"metric": "error-rate", "upperLimit": "0.01"}]},
      "duration": {"intervalSeconds": 15, "maxIterations": 12}}})");
}

TEST(CertsTest, ServingCertificatesAreCheckedForNameKeyIssuerAndTime) {
  const absl::Time now = absl::Now();
  absl::StatusOr<CertKey> ca = MakeCa("test-ca", now, absl::Hours(48));
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_TRUE(CaUsable(*ca, now, now + absl::Hours(24)));
  EXPECT_FALSE(CaUsable(*ca, now, now + absl::Hours(72)));
  EXPECT_FALSE(CaUsable(*ca, now - absl::Hours(1), now));  // not yet valid
  const std::vector<std::string> names = ServiceDnsNames("iter8-webhook", "iter8-system");
  EXPECT_EQ(names[0], "iter8-webhook.iter8-system.svc");
  absl::StatusOr<CertKey> cert = MakeServingCert(*ca, names, now, absl::Hours(24));
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_TRUE(ServingCertUsable(*cert, ca->cert_pem, names, now, now + absl::Hours(1)));
  EXPECT_FALSE(ServingCertUsable(*cert, ca->cert_pem, names, now, now + absl::Hours(25)));
  EXPECT_FALSE(ServingCertUsable(*cert, ca->cert_pem, {"other.iter8-system.svc"}, now, now));
  EXPECT_FALSE(CaUsable(*cert, now, now));  // not a CA
  absl::StatusOr<CertKey> other_ca = MakeCa("other", now, absl::Hours(48));
  ASSERT_TRUE(other_ca.ok());
  EXPECT_FALSE(ServingCertUsable(*cert, other_ca->cert_pem, names, now, now));
  EXPECT_FALSE(
      ServingCertUsable({cert->cert_pem, other_ca->key_pem}, ca->cert_pem, names, now, now));
  absl::StatusOr<absl::Time> expiry = NotAfter(cert->cert_pem);
  ASSERT_TRUE(expiry.ok());
  EXPECT_LT(absl::AbsDuration(*expiry - (now + absl::Hours(24))), absl::Seconds(2));
  EXPECT_FALSE(NotAfter("garbage").ok());
  EXPECT_FALSE(MakeServingCert({"x", "y"}, names, now, absl::Hours(1)).ok());
}

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok());
    absl::StatusOr<ClusterConfig> config = ParseKubeconfig(server_.Kubeconfig(), "test");
    ASSERT_TRUE(config.ok());
    client_ = std::make_unique<Client>(*config);
    for (const char* f : {"experiments.yaml", "metrics.yaml"}) {
      ASSERT_TRUE(client_
                      ->Create(kCrdResource, "",
                               ReadYaml(std::string(ITER8_SOURCE_DIR) + "/deploy/crds/" + f))
                      .ok());
    }
  }

  WebhookOptions Options() {
    WebhookOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.check_every = absl::Hours(1);
    return o;
  }

  // Routes Service iter8-system/iter8-webhook to `port`, as kube-proxy would.
  void Route(int port) {
    const Json ep = {
        {"apiVersion", "v1"},
        {"kind", "Endpoints"},
        {"metadata", {{"name", "iter8-webhook"}, {"namespace", "iter8-system"}}},
        {"subsets", {{{"addresses", {{{"ip", "127.0.0.1"}}}}, {"ports", {{{"port", port}}}}}}}};
    absl::StatusOr<Json> got = client_->Get(kEndpoints, "iter8-system", "iter8-webhook");
    if (got.ok()) {
      Json next = ep;
      next["metadata"]["resourceVersion"] = (*got)["metadata"]["resourceVersion"];
      ASSERT_TRUE(client_->Update(kEndpoints, next).ok());
    } else {
      ASSERT_TRUE(client_->Create(kEndpoints, "iter8-system", ep).ok());
    }
  }

  std::string CaBundle(const std::string& crd) {
    absl::StatusOr<Json> got = client_->Get(kCrdResource, "", crd);
    if (!got.ok()) return "";
    std::string pem;
    absl::Base64Unescape(
        (*got)["spec"]["conversion"]["webhook"]["clientConfig"].value("caBundle", ""), &pem);
    return pem;
  }

  static testing::TestApiServerOptions ServerOptions() {
    testing::TestApiServerOptions o;
    o.conversion_timeout = absl::Seconds(2);
    return o;
  }

  testing::TestApiServer server_{ServerOptions()};
  std::unique_ptr<Client> client_;
};

TEST_F(WebhookTest, MakesItsCertificatesWritesTheCaBundleAndConvertsEveryRead) {
  ConversionWebhook webhook(*client_, Options());
  ASSERT_TRUE(webhook.Start().ok());
  Route(webhook.Port());
  absl::StatusOr<Json> secret =
      client_->Get(kSecretsResource, "iter8-system", "iter8-webhook-cert");
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ((*secret)["type"], "kubernetes.io/tls");
  EXPECT_NE(CaBundle("experiments.iter8.tools").find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_EQ(CaBundle("experiments.iter8.tools"), CaBundle("metrics.iter8.tools"));

  // Written as v2alpha1, stored as v2alpha2, read back in both.
  absl::StatusOr<Json> created = client_->Create(kV1Experiments, "default", QuickstartV1());
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["apiVersion"], "iter8.tools/v2alpha1");
  EXPECT_EQ((*created)["spec"]["strategy"]["type"], "Canary");
  absl::StatusOr<Json> v2 = client_->Get(kV2Experiments, "default", "experiment-1");
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ((*v2)["spec"]["strategy"]["testingPattern"], "Canary");
  EXPECT_EQ((*v2)["spec"]["duration"]["iterationsPerLoop"], 12);
  absl::StatusOr<Json> v1 = client_->Get(kV1Experiments, "default", "experiment-1");
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ((*v1)["spec"], QuickstartV1()["spec"]);
  EXPECT_FALSE((*v1)["metadata"].contains("annotations"));
  absl::StatusOr<std::vector<Json>> list = client_->List(kV1Experiments, "default");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0]["spec"]["duration"]["maxIterations"], 12);

  // A status written through v2alpha2 (as the controller does) reads in the original's words.
  Json with_status = *v2;
  with_status["status"] = {
      {"versionRecommendedForPromotion", "canary"},
      {"conditions",
       {{{"type", "Completed"}, {"status", "True"}}, {{"type", "Failed"}, {"status", "False"}}}}};
  ASSERT_TRUE(client_->Update(kV2Experiments, with_status, /*status=*/true).ok());
  v1 = client_->Get(kV1Experiments, "default", "experiment-1");
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ((*v1)["status"]["recommendedBaseline"], "canary");
  EXPECT_EQ((*v1)["status"]["conditions"][0]["type"], "ExperimentCompleted");

  // A merge patch in v2alpha1 applies to the v2alpha1 form.
  absl::StatusOr<Json> patched =
      client_->Patch(kV1Experiments, "default", "experiment-1", PatchType::kMerge,
                     {{"spec", {{"duration", {{"maxIterations", 5}}}}}});
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ((*patched)["spec"]["duration"]["maxIterations"], 5);
  v2 = client_->Get(kV2Experiments, "default", "experiment-1");
  EXPECT_EQ((*v2)["spec"]["duration"]["iterationsPerLoop"], 5);
}

TEST_F(WebhookTest, AnObjectTheConversionCannotRepresentIsRefusedNamingTheField) {
  ConversionWebhook webhook(*client_, Options());
  ASSERT_TRUE(webhook.Start().ok());
  Route(webhook.Port());
  Json bad = QuickstartV1();
  bad["spec"]["duration"]["intervalSeconds"] = "soon";
  absl::StatusOr<Json> created = client_->Create(kV1Experiments, "default", bad);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.status().message().find("/spec/duration/intervalSeconds"), std::string::npos)
      << created.status();
  EXPECT_FALSE(client_->Get(kV2Experiments, "default", "experiment-1").ok()) << "nothing stored";
}

TEST_F(WebhookTest, WatchesInV2alpha1SeeConvertedObjects) {
  ConversionWebhook webhook(*client_, Options());
  ASSERT_TRUE(webhook.Start().ok());
  Route(webhook.Port());
  std::atomic<bool> seen{false};
  std::thread watcher([&] {
    (void)client_->Watch(
        kV1Experiments, "default", "",
        [&](const std::string& type, const Json& object) {
          if (type == "ADDED" && object["spec"]["strategy"].value("type", "") == "Canary") {
            seen = true;
            return false;
          }
          return true;
        },
        10);
  });
  absl::SleepFor(absl::Milliseconds(200));
  ASSERT_TRUE(
      client_
          ->Create(kV2Experiments, "default", Json::parse(R"({"apiVersion": "iter8.tools/v2alpha2",
      "kind": "Experiment", "metadata": {"name": "native", "namespace": "default"},
      "spec": {"target": "t", "strategy": {"testingPattern": "Canary"}}})"))
          .ok());
  ASSERT_TRUE(client_->Create(kV1Experiments, "default", QuickstartV1()).ok());
  watcher.join();
  EXPECT_TRUE(seen);
}

TEST_F(WebhookTest, AReplicaUsesTheSecretAnotherWroteAndRenewsBeforeExpiry) {
  ConversionWebhook first(*client_, Options());
  ASSERT_TRUE(first.Start().ok());
  const std::string bundle = CaBundle("experiments.iter8.tools");
  ConversionWebhook second(*client_, Options());
  ASSERT_TRUE(second.Start().ok());
  EXPECT_EQ(second.ServingCertPem(), first.ServingCertPem());
  EXPECT_EQ(CaBundle("experiments.iter8.tools"), bundle);

  // Eleven months on, the serving certificate (one year) is renewed under the same CA.
  WebhookOptions later = Options();
  later.now = [] { return absl::Now() + absl::Hours(24 * 340); };
  ConversionWebhook third(*client_, later);
  ASSERT_TRUE(third.Check().ok());
  EXPECT_NE(third.ServingCertPem(), first.ServingCertPem());
  EXPECT_EQ(CaBundle("experiments.iter8.tools"), bundle);
  ConversionWebhook replica(*client_, later);  // a replica's next check loads it
  ASSERT_TRUE(replica.Check().ok());
  EXPECT_EQ(replica.ServingCertPem(), third.ServingCertPem());

  // Near the CA's end, a new CA signs; the bundle trusts both while the old one lasts.
  WebhookOptions much_later = Options();
  much_later.now = [] { return absl::Now() + absl::Hours(24 * (365 * 10 - 10)); };
  ConversionWebhook fourth(*client_, much_later);
  ASSERT_TRUE(fourth.Check().ok());
  const std::string rotated = CaBundle("experiments.iter8.tools");
  EXPECT_NE(rotated, bundle);
  EXPECT_NE(rotated.find(bundle.substr(0, bundle.size() - 1)), std::string::npos)
      << "the old CA stays in the bundle";
}

TEST_F(WebhookTest, WithCertManagerItServesTheMountedCertificateAndWritesItsCa) {
  const absl::Time now = absl::Now();
  absl::StatusOr<CertKey> ca = MakeCa("cert-manager-ca", now, absl::Hours(48));
  ASSERT_TRUE(ca.ok());
  absl::StatusOr<CertKey> cert =
      MakeServingCert(*ca, ServiceDnsNames("iter8-webhook", "iter8-system"), now, absl::Hours(24));
  ASSERT_TRUE(cert.ok());
  const std::string dir = ::testing::TempDir() + "/cert-manager";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/tls.crt") << cert->cert_pem;
  std::ofstream(dir + "/tls.key") << cert->key_pem;
  std::ofstream(dir + "/ca.crt") << ca->cert_pem;
  WebhookOptions o = Options();
  o.cert_dir = dir;
  ConversionWebhook webhook(*client_, o);
  ASSERT_TRUE(webhook.Start().ok());
  Route(webhook.Port());
  EXPECT_EQ(webhook.ServingCertPem(), cert->cert_pem);
  EXPECT_EQ(CaBundle("experiments.iter8.tools"), ca->cert_pem);
  EXPECT_FALSE(client_->Get(kSecretsResource, "iter8-system", "iter8-webhook-cert").ok());
  ASSERT_TRUE(client_->Create(kV1Experiments, "default", QuickstartV1()).ok());
  EXPECT_TRUE(client_->Get(kV1Experiments, "default", "experiment-1").ok());

  o.cert_dir = ::testing::TempDir() + "/nothing-here";
  ConversionWebhook missing(*client_, o);
  absl::Status s = missing.Start();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("--webhook-cert-dir"), std::string::npos) << s;
}

TEST_F(WebhookTest, TheApiServerFailsRequestsWhenTheWebhookIsDown) {
  auto webhook = std::make_unique<ConversionWebhook>(*client_, Options());
  ASSERT_TRUE(webhook->Start().ok());
  Route(webhook->Port());
  ASSERT_TRUE(client_->Create(kV1Experiments, "default", QuickstartV1()).ok());
  webhook.reset();
  absl::StatusOr<Json> v1 = client_->Get(kV1Experiments, "default", "experiment-1");
  ASSERT_FALSE(v1.ok());
  EXPECT_NE(v1.status().message().find("conversion webhook for iter8.tools/v2alpha2, "
                                       "Kind=Experiment failed"),
            std::string::npos)
      << v1.status();
  // The storage version needs no webhook.
  EXPECT_TRUE(client_->Get(kV2Experiments, "default", "experiment-1").ok());
  Json again = QuickstartV1();
  again["metadata"]["name"] = "experiment-2";
  EXPECT_FALSE(client_->Create(kV1Experiments, "default", again).ok());
  EXPECT_FALSE(client_->Get(kV2Experiments, "default", "experiment-2").ok()) << "nothing stored";
}

TEST_F(WebhookTest, TheApiServerRejectsWrongUidsFailuresAndSlowAnswers) {
  // Certificates from the real webhook, then it steps aside for a misbehaving one.
  auto real = std::make_unique<ConversionWebhook>(*client_, Options());
  ASSERT_TRUE(real->Start().ok());
  Route(real->Port());
  ASSERT_TRUE(client_->Create(kV1Experiments, "default", QuickstartV1()).ok());
  absl::StatusOr<Json> secret =
      client_->Get(kSecretsResource, "iter8-system", "iter8-webhook-cert");
  ASSERT_TRUE(secret.ok());
  std::string cert, key;
  absl::Base64Unescape((*secret)["data"]["tls.crt"].get<std::string>(), &cert);
  absl::Base64Unescape((*secret)["data"]["tls.key"].get<std::string>(), &key);
  real.reset();
  const std::string dir = ::testing::TempDir() + "/bad-webhook";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/tls.crt") << cert;
  std::ofstream(dir + "/tls.key") << key;

  struct Case {
    const char* what;
    std::function<void(Json*)> spoil;
    const char* message;
    bool slow = false;
  } cases[] = {
      {"wrong uid", [](Json* a) { (*a)["response"]["uid"] = "other"; }, "expected response uid"},
      {"failure",
       [](Json* a) {
         (*a)["response"]["result"] = {{"status", "Failure"}, {"message", "cannot convert"}};
       },
       "cannot convert"},
      {"count", [](Json* a) { (*a)["response"]["convertedObjects"] = Json::array(); },
       "returned 0 objects, expected 1"},
      {"version",
       [](Json* a) {
         for (Json& o : (*a)["response"]["convertedObjects"]) o["apiVersion"] = "iter8.tools/v9";
       },
       "invalid object at index 0"},
      {"slow", nullptr, "conversion webhook for iter8.tools/v2alpha2, Kind=Experiment failed",
       true},
  };
  for (const Case& c : cases) {
    httplib::SSLServer bad((dir + "/tls.crt").c_str(), (dir + "/tls.key").c_str());
    bad.Post("/convert", [&c](const httplib::Request& req, httplib::Response& res) {
      Json review = Json::parse(req.body);
      Json answer = {{"apiVersion", "apiextensions.k8s.io/v1"},
                     {"kind", "ConversionReview"},
                     {"response",
                      {{"uid", review["request"]["uid"]},
                       {"result", {{"status", "Success"}}},
                       {"convertedObjects", review["request"]["objects"]}}}};
      for (Json& o : answer["response"]["convertedObjects"]) {
        o["apiVersion"] = review["request"]["desiredAPIVersion"];
      }
      if (c.spoil) c.spoil(&answer);
      if (c.slow) absl::SleepFor(absl::Seconds(3));  // past the server's 2 s
      res.set_content(answer.dump(), "application/json");
    });
    const int port = bad.bind_to_any_port("127.0.0.1");
    std::thread t([&] { bad.listen_after_bind(); });
    Route(port);
    absl::StatusOr<Json> v1 = client_->Get(kV1Experiments, "default", "experiment-1");
    bad.stop();
    t.join();
    ASSERT_FALSE(v1.ok()) << c.what;
    EXPECT_NE(v1.status().message().find(c.message), std::string::npos)
        << c.what << ": " << v1.status();
  }
}

}  // namespace
}  // namespace iter8::k8s
