// The deploy manifests (deploy/): kustomize renders the base and both overlays, and the real
// kubectl applies them (client dry run, then for real) to the in-tree test API server (not
// Kubernetes); with the CRDs in place kubectl creates every sample Experiment and Metric. The
// Helm chart (deploy/helm/iter8) is rendered by test/helm/render.go, Helm's template engine
// (Go text/template + sprig; helm itself has no Debian or npm package), compared with the
// kustomize objects, checked for each value, and applied the same way.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "api/document.h"
#include "api/load.h"
#include "nlohmann/json.hpp"
#include "test/apiserver/test_apiserver.h"
#include "test/testing/process.h"
#include "test/testing/reference.h"

namespace iter8 {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = ITER8_SOURCE_DIR;

class DeployTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok());
    kubeconfig_ = (dir_.path() / "kubeconfig").string();
    std::ofstream(kubeconfig_) << server_.Kubeconfig();
  }
  // (exit code, output) of `kubectl <args>` against the test API server.
  std::pair<int, std::string> Kubectl(const std::string& args) {
    return Shell("kubectl --kubeconfig " + kubeconfig_ + " --cache-dir " +
                 (dir_.path() / "cache").string() + " " + args);
  }
  // (exit code, combined output) of a shell command.
  std::pair<int, std::string> Shell(const std::string& cmd) {
    const std::string out = (dir_.path() / "shell.txt").string();
    const int rc = std::system((cmd + " > " + out + " 2>&1").c_str());
    std::ifstream in(out);
    std::stringstream ss;
    ss << in.rdbuf();
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, ss.str()};
  }

  testing::TestApiServer server_;
  testing::TempDir dir_;
  std::string kubeconfig_;
};

// "Kind namespace/name" -> object, for every object of a YAML stream.
std::map<std::string, nlohmann::json> Objects(const std::string& yaml) {
  std::map<std::string, nlohmann::json> out;
  auto docs = api::ParseDocuments(yaml, "rendered");
  EXPECT_TRUE(docs.ok()) << docs.status();
  if (!docs.ok()) return out;
  for (const api::Document& d : *docs) {
    nlohmann::json j = d.json;
    if (!j.is_object()) continue;
    out[j.value("kind", "") + " " + j["metadata"].value("namespace", "") + "/" +
        j["metadata"].value("name", "")] = j;
  }
  return out;
}

std::string Yaml(const std::map<std::string, nlohmann::json>& objects, bool crds) {
  std::string out;
  for (const auto& [key, j] : objects) {
    if ((j.value("kind", "") == "CustomResourceDefinition") == crds) out += j.dump() + "\n";
  }
  return out;  // JSON documents, one per line, are a YAML stream kubectl reads
}

TEST_F(DeployTest, OverlaysRenderAndApply) {
  // As on a cluster: the CRDs first (kinds they define cannot be mapped before they exist).
  auto crds = Kubectl("apply -k " + (kSource / "deploy/crds").string());
  ASSERT_EQ(crds.first, 0) << crds.second;
  EXPECT_NE(crds.second.find("customresourcedefinition.apiextensions.k8s.io/"
                             "experiments.iter8.tools created"),
            std::string::npos)
      << crds.second;
  for (const char* overlay : {"kserve", "kfserving"}) {
    SCOPED_TRACE(overlay);
    const std::string path = (kSource / "deploy/overlays" / overlay).string();
    auto rendered = Kubectl("kustomize " + path);
    ASSERT_EQ(rendered.first, 0) << rendered.second;
    for (const char* want :
         {"name: experiments.iter8.tools", "name: metrics.iter8.tools", "kind: Deployment",
          "name: iter8-controller", "kind: ClusterRole", "kind: Role",
          overlay == std::string("kserve") ? "serving.kserve.io" : "serving.kubeflow.org",
          "name: 95th-percentile-tail-latency", "runAsNonRoot: true"}) {
      EXPECT_NE(rendered.second.find(want), std::string::npos) << want;
    }
    auto dry = Kubectl("apply --dry-run=client -k " + path);
    EXPECT_EQ(dry.first, 0) << dry.second;
    EXPECT_NE(dry.second.find("deployment.apps/iter8-controller created (dry run)"),
              std::string::npos)
        << dry.second;
  }
  // For real, twice: the second apply changes nothing.
  const std::string kserve = (kSource / "deploy/overlays/kserve").string();
  auto first = Kubectl("apply -k " + kserve);
  ASSERT_EQ(first.first, 0) << first.second;
  EXPECT_NE(first.second.find("customresourcedefinition.apiextensions.k8s.io/"
                              "experiments.iter8.tools unchanged"),
            std::string::npos)
      << first.second;
  EXPECT_NE(first.second.find("metric.iter8.tools/error-rate created"), std::string::npos)
      << first.second;
  auto second = Kubectl("apply -k " + kserve);
  ASSERT_EQ(second.first, 0) << second.second;
  EXPECT_EQ(second.second.find("created"), std::string::npos) << second.second;
  EXPECT_NE(second.second.find("deployment.apps/iter8-controller unchanged"), std::string::npos)
      << second.second;
  auto metrics = Kubectl("get metrics -n iter8-kfserving -o name");
  EXPECT_EQ(std::count(metrics.second.begin(), metrics.second.end(), '\n'), 5) << metrics.second;
}

TEST_F(DeployTest, EverySampleExperimentAndMetricIsAcceptedThroughTheCrds) {
  auto crds = Kubectl("apply -k " + (kSource / "deploy/crds").string());
  ASSERT_EQ(crds.first, 0) << crds.second;
  int written = 0;
  std::set<std::string> distinct;  // samples share some metrics (same namespace and name)
  for (const char* dir : {"samples/local", "samples/quickstart", "deploy/metrics"}) {
    for (const auto& entry : fs::directory_iterator(kSource / dir)) {
      if (entry.path().extension() != ".yaml" || entry.path().filename() == "kustomization.yaml") {
        continue;
      }
      std::ifstream in(entry.path());
      std::stringstream ss;
      ss << in.rdbuf();
      auto docs = api::ParseDocuments(ss.str(), entry.path().string());
      ASSERT_TRUE(docs.ok()) << docs.status();
      for (const api::Document& d : *docs) {
        const std::string kind = api::StringField(d.json, "kind");
        if (kind != "Experiment" && kind != "Metric") continue;
        nlohmann::json j = d.json;
        const std::string ns = j["metadata"].value("namespace", std::string("default"));
        distinct.insert(kind + " " + ns + "/" + j["metadata"].value("name", std::string()));
        Kubectl("create namespace " + ns);  // may exist already
        const fs::path file = dir_.path() / ("doc" + std::to_string(written++) + ".json");
        std::ofstream(file) << j.dump();
        auto r = Kubectl("apply -f " + file.string());
        EXPECT_EQ(r.first, 0) << entry.path() << ": " << r.second;
      }
    }
  }
  EXPECT_GE(written, 15);
  auto listed = Kubectl("get experiments -A -o name");
  auto metrics = Kubectl("get metrics -A -o name");
  const auto lines = [](const std::string& s) { return std::count(s.begin(), s.end(), '\n'); };
  EXPECT_EQ(lines(listed.second) + lines(metrics.second),
            static_cast<std::ptrdiff_t>(distinct.size()))
      << listed.second << metrics.second;
}

// Plain `kubectl apply` (kubectl's default, strict validation, done by the server): an
// Experiment with a misspelt field is rejected with the field named; the sample is accepted.
TEST_F(DeployTest, KubectlRejectsAMisspeltExperimentField) {
  auto crds = Kubectl("apply -k " + (kSource / "deploy/crds").string());
  ASSERT_EQ(crds.first, 0) << crds.second;
  std::ifstream in(kSource / "samples/cluster/quickstart/experiment.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string good = ss.str();
  std::string bad = good;
  const size_t at = bad.find("upperLimit: 1000");
  ASSERT_NE(at, std::string::npos);
  bad.replace(at, std::string("upperLimit").size(), "upperLimt");
  std::ofstream(dir_.path() / "bad.yaml") << bad;
  std::ofstream(dir_.path() / "good.yaml") << good;
  auto rejected = Kubectl("apply -f " + (dir_.path() / "bad.yaml").string());
  EXPECT_NE(rejected.first, 0) << rejected.second;
  EXPECT_NE(rejected.second.find("Experiment in version \"v2alpha2\" cannot be handled as a "
                                 "Experiment: strict decoding error: unknown field "
                                 "\"spec.criteria.objectives[0].upperLimt\""),
            std::string::npos)
      << rejected.second;
  EXPECT_EQ(Kubectl("get experiment quickstart-exp").first, 1);  // nothing stored
  auto accepted = Kubectl("apply -f " + (dir_.path() / "good.yaml").string());
  EXPECT_EQ(accepted.first, 0) << accepted.second;
  EXPECT_EQ(accepted.second, "experiment.iter8.tools/quickstart-exp created\n");
  // The same misspelling in an apply to the existing object (a merge patch) is rejected too.
  auto patch = Kubectl("apply -f " + (dir_.path() / "bad.yaml").string());
  EXPECT_NE(patch.first, 0) << patch.second;
  EXPECT_NE(patch.second.find("unknown field \"spec.criteria.objectives[0].upperLimt\""),
            std::string::npos)
      << patch.second;
}

// The cert-manager overlay: cert-manager issues the conversion webhook's certificate, the
// controller serves the mounted Secret and the CRDs ask cert-manager's cainjector for the CA.
TEST_F(DeployTest, CertManagerOverlayMountsTheCertificateAndAnnotatesTheCrds) {
  auto rendered = Kubectl("kustomize " + (kSource / "deploy/overlays/cert-manager").string());
  ASSERT_EQ(rendered.first, 0) << rendered.second;
  for (const char* want :
       {"kind: Certificate", "kind: Issuer", "- iter8-webhook.iter8-system.svc",
        "cert-manager.io/inject-ca-from: iter8-system/iter8-webhook",
        "--webhook-cert-dir=/webhook-certs", "secretName: iter8-webhook-cert-manager",
        "mountPath: /webhook-certs", "name: iter8-webhook"}) {
    EXPECT_NE(rendered.second.find(want), std::string::npos) << want;
  }
  size_t annotated = 0;
  for (size_t at = 0; (at = rendered.second.find("inject-ca-from", at)) != std::string::npos;
       ++at) {
    ++annotated;
  }
  EXPECT_EQ(annotated, 2u) << "both CRDs";
}

TEST_F(DeployTest, HelmChartRendersTheOverlaysObjectsAndApplies) {
  // Build the renderer (Go, GOPATH mode against Debian's packaged sprig and yaml.v2).
  const std::string renderer = std::string(ITER8_BINARY_DIR) + "/helm-render";
  auto built =
      Shell("GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=" + std::string(ITER8_BINARY_DIR) +
            "/go-cache go build -o " + renderer + " " + (kSource / "test/helm/render.go").string());
  ASSERT_EQ(built.first, 0) << "building test/helm/render.go (scripts/setup.sh --test installs "
                               "Go and sprig): "
                            << built.second;
  auto render = [&](const std::string& args) {
    return Shell(renderer + " " + (kSource / "deploy/helm/iter8").string() +
                 " --namespace iter8-system " + args);
  };
  auto chart = render("");
  ASSERT_EQ(chart.first, 0) << chart.second;
  auto objects = Objects(chart.second);
  auto kustomized = Kubectl("kustomize " + (kSource / "deploy/overlays/kserve").string());
  ASSERT_EQ(kustomized.first, 0) << kustomized.second;
  auto reference = Objects(kustomized.second);

  // The CRDs and the out-of-the-box Metrics are the kustomize install's, object for object.
  int same = 0;
  for (const auto& [key, want] : reference) {
    const std::string kind = want.value("kind", "");
    if (kind != "CustomResourceDefinition" && kind != "Metric" && kind != "ConfigMap") continue;
    ASSERT_EQ(objects.count(key), 1u) << key;
    EXPECT_EQ(objects[key], want) << key;
    ++same;
  }
  EXPECT_EQ(same, 8);  // 2 CRDs + 5 Metrics + the v2alpha1 defaults ConfigMap
  // That ConfigMap holds the original's defaults.yaml unchanged.
  ITER8_REQUIRE_REFERENCE();
  std::string original = testing::ReadFileOrDie(
      testing::ReferenceDir() /
      "iter8/iter8-kfserving/install/iter8-controller/configmaps/defaults/defaults.yaml");
  while (!original.empty() && original.back() == '\n') original.pop_back();
  EXPECT_EQ(objects["ConfigMap iter8-system/iter8-defaults"]["data"]["defaults.yaml"],
            original + "\n");
  EXPECT_EQ(Objects(render("--set v2alpha1.installDefaults=false").second)
                .count("ConfigMap iter8-system/iter8-defaults"),
            0u);
  EXPECT_NE(render("--set v2alpha1.handlers=jobs").second.find("--v2alpha1-handlers=jobs"),
            std::string::npos);
  EXPECT_NE(render("--set v2alpha1.handlers=pods").first, 0);
  for (const char* key :
       {"ServiceAccount iter8-system/iter8-controller", "ClusterRoleBinding /iter8-controller",
        "Role iter8-system/iter8-leader-election", "RoleBinding iter8-system/iter8-leader-election",
        "Namespace /iter8-kfserving"}) {
    EXPECT_EQ(objects.count(key), 1u) << key;
  }
  // The controller as in deploy/base, with the chart's explicit defaults among its flags.
  const auto& deployment = objects["Deployment iter8-system/iter8-controller"];
  const auto& want_deployment = reference["Deployment iter8-system/iter8-controller"];
  ASSERT_TRUE(deployment.is_object());
  const auto& pod = deployment["spec"]["template"]["spec"];
  const auto& want_pod = want_deployment["spec"]["template"]["spec"];
  EXPECT_EQ(pod["securityContext"], want_pod["securityContext"]);
  EXPECT_EQ(pod["serviceAccountName"], want_pod["serviceAccountName"]);
  EXPECT_EQ(deployment["spec"]["replicas"], 2);
  const auto& container = pod["containers"][0];
  const auto& want_container = want_pod["containers"][0];
  for (const char* field : {"image", "env", "ports", "livenessProbe", "readinessProbe", "resources",
                            "securityContext"}) {
    EXPECT_EQ(container[field], want_container[field]) << field;
  }
  for (const auto& arg : want_container["args"]) {
    EXPECT_NE(std::find(container["args"].begin(), container["args"].end(), arg),
              container["args"].end())
        << arg;
  }
  // One ClusterRole with the base rules and the KServe overlay's.
  const auto& rules = objects["ClusterRole /iter8-controller"]["rules"];
  for (const char* role :
       {"ClusterRole /iter8-controller", "ClusterRole /iter8-controller-kserve"}) {
    for (const auto& rule : reference[role]["rules"]) {
      EXPECT_NE(std::find(rules.begin(), rules.end(), rule), rules.end()) << rule;
    }
  }

  // Installed as Helm installs: the CRDs first, then the templates (dry run, then for real).
  std::ofstream(dir_.path() / "crds.yaml") << Yaml(objects, true);
  std::ofstream(dir_.path() / "rest.yaml")
      << nlohmann::json{{"apiVersion", "v1"},
                        {"kind", "Namespace"},
                        {"metadata", {{"name", "iter8-system"}}}}
             .dump()
      << "\n"
      << Yaml(objects, false);
  auto crds = Kubectl("apply -f " + (dir_.path() / "crds.yaml").string());
  ASSERT_EQ(crds.first, 0) << crds.second;
  auto dry = Kubectl("apply --dry-run=client -f " + (dir_.path() / "rest.yaml").string());
  EXPECT_EQ(dry.first, 0) << dry.second;
  auto applied = Kubectl("apply -f " + (dir_.path() / "rest.yaml").string());
  ASSERT_EQ(applied.first, 0) << applied.second;
  for (const char* want : {"deployment.apps/iter8-controller created",
                           "clusterrole.rbac.authorization.k8s.io/iter8-controller created",
                           "metric.iter8.tools/error-rate created"}) {
    EXPECT_NE(applied.second.find(want), std::string::npos) << want << "\n" << applied.second;
  }

  // Values.
  auto kfserving = Objects(render("--set 'platforms={kfserving}'").second);
  const std::string kf_rules = kfserving["ClusterRole /iter8-controller"]["rules"].dump();
  EXPECT_NE(kf_rules.find("serving.kubeflow.org"), std::string::npos) << kf_rules;
  EXPECT_EQ(kf_rules.find("serving.kserve.io"), std::string::npos) << kf_rules;
  auto no_metrics = Objects(render("--set metrics.install=false").second);
  for (const auto& [key, j] : no_metrics) {
    EXPECT_NE(j.value("kind", ""), "Metric") << key;
    EXPECT_NE(key, "Namespace /iter8-kfserving");
  }
  EXPECT_EQ(no_metrics.count("Deployment iter8-system/iter8-controller"), 1u);
  auto by_namespace = Objects(render("--set metrics.form=namespace").second);
  std::ifstream ns_file(kSource / "deploy/metrics/kfserving-namespace.yaml");
  std::stringstream ns_yaml;
  ns_yaml << ns_file.rdbuf();
  for (const auto& [key, want] : Objects(ns_yaml.str())) {
    EXPECT_EQ(by_namespace[key], want) << key;
  }
  auto prometheus = Objects(
      render("--set metrics.prometheusURL=http://prom.monitoring:9090/api/v1/query").second);
  int urls = 0;
  for (const auto& [key, j] : prometheus) {
    if (j.value("kind", "") != "Metric") continue;
    EXPECT_EQ(j["spec"]["urlTemplate"], "http://prom.monitoring:9090/api/v1/query") << key;
    ++urls;
  }
  EXPECT_EQ(urls, 5);
  auto single = Objects(render("--set replicas=1 --set leaderElection=false").second);
  const auto args = single["Deployment iter8-system/iter8-controller"]["spec"]["template"]["spec"]
                          ["containers"][0]["args"];
  EXPECT_EQ(std::find(args.begin(), args.end(), "--leader-elect"), args.end()) << args;

  // Bad values are refused, naming the value.
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"--set 'platforms={istio}'", "platforms: \"istio\" is not a serving platform"},
           {"--set controller.logFormat=xml", "controller.logFormat: \"xml\" must be json or text"},
           {"--set leaderElection=false", "replicas > 1 needs leaderElection: true"},
           {"--set metrics.form=pods", "metrics.form: \"pods\" must be revision or namespace"}}) {
    auto bad = render(args);
    EXPECT_NE(bad.first, 0) << args;
    EXPECT_NE(bad.second.find(message), std::string::npos) << args << ": " << bad.second;
  }
}

}  // namespace
}  // namespace iter8
