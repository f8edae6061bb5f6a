// The deploy manifests (deploy/): kustomize renders the base and both overlays, and the real
// kubectl applies them (client dry run, then for real) to the in-tree test API server (not
// Kubernetes); with the CRDs in place kubectl creates every sample Experiment and Metric.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "api/document.h"
#include "api/load.h"
#include "nlohmann/json.hpp"
#include "test/apiserver/test_apiserver.h"
#include "test/testing/process.h"

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
    const std::string out = (dir_.path() / "out.txt").string();
    const std::string cmd = "kubectl --kubeconfig " + kubeconfig_ + " --cache-dir " +
                            (dir_.path() / "cache").string() + " " + args + " > " + out + " 2>&1";
    const int rc = std::system(cmd.c_str());
    std::ifstream in(out);
    std::stringstream ss;
    ss << in.rdbuf();
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, ss.str()};
  }

  testing::TestApiServer server_;
  testing::TempDir dir_;
  std::string kubeconfig_;
};

TEST_F(DeployTest, OverlaysRenderAndApply) {
  // As on a cluster: the CRDs first (kinds they define cannot be mapped before they exist).
  auto crds = Kubectl("apply --validate=false -k " + (kSource / "deploy/crds").string());
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
    auto dry = Kubectl("apply --dry-run=client --validate=false -k " + path);
    EXPECT_EQ(dry.first, 0) << dry.second;
    EXPECT_NE(dry.second.find("deployment.apps/iter8-controller created (dry run)"),
              std::string::npos)
        << dry.second;
  }
  // For real, twice: the second apply changes nothing.
  const std::string kserve = (kSource / "deploy/overlays/kserve").string();
  auto first = Kubectl("apply --validate=false -k " + kserve);
  ASSERT_EQ(first.first, 0) << first.second;
  EXPECT_NE(first.second.find("customresourcedefinition.apiextensions.k8s.io/"
                              "experiments.iter8.tools unchanged"),
            std::string::npos)
      << first.second;
  EXPECT_NE(first.second.find("metric.iter8.tools/error-rate created"), std::string::npos)
      << first.second;
  auto second = Kubectl("apply --validate=false -k " + kserve);
  ASSERT_EQ(second.first, 0) << second.second;
  EXPECT_EQ(second.second.find("created"), std::string::npos) << second.second;
  EXPECT_NE(second.second.find("deployment.apps/iter8-controller unchanged"), std::string::npos)
      << second.second;
  auto metrics = Kubectl("get metrics -n iter8-kfserving -o name");
  EXPECT_EQ(std::count(metrics.second.begin(), metrics.second.end(), '\n'), 5) << metrics.second;
}

TEST_F(DeployTest, EverySampleExperimentAndMetricIsAcceptedThroughTheCrds) {
  auto crds = Kubectl("apply --validate=false -k " + (kSource / "deploy/crds").string());
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
        auto r = Kubectl("apply --validate=false -f " + file.string());
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

}  // namespace
}  // namespace iter8
