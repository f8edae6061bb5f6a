// File: test/apiserver/main.cc
//
// `test_apiserver [--port N] [--kubeconfig FILE] [--simulate-kserve [--traffic-admin URL]]`:
// runs the in-tree TEST API server (not Kubernetes; see test_apiserver.h) until killed, for
// trying kubectl or the controller by hand. --simulate-kserve also runs the SIMULATED KServe
// controller (simulated_kserve.h) once the InferenceService CRDs are applied
// (test/apiserver/kserve-crds.yaml); with --traffic-admin it routes real traffic the way
// Knative would: each traffic split it computes is sent to an iter8 proxy's admin API
// (`PUT URL/weights`, revision name -> percent), whose versions are named after the revisions.
#include <httplib.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "k8s/client.h"
#include "k8s/config.h"
#include "test/apiserver/simulated_kserve.h"
#include "test/apiserver/test_apiserver.h"

int main(int argc, char** argv) {
  iter8::testing::TestApiServerOptions options;
  std::string kubeconfig;
  bool simulate_kserve = false;
  std::string traffic_admin;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      options.port = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--kubeconfig") == 0 && i + 1 < argc) {
      kubeconfig = argv[++i];
    } else if (std::strcmp(argv[i], "--simulate-kserve") == 0) {
      simulate_kserve = true;
    } else if (std::strcmp(argv[i], "--traffic-admin") == 0 && i + 1 < argc) {
      traffic_admin = argv[++i];
    } else {
      std::cerr << "usage: test_apiserver [--port N] [--kubeconfig FILE] [--simulate-kserve "
                   "[--traffic-admin URL]]\n";
      return 2;
    }
  }
  iter8::testing::TestApiServer server(options);
  if (absl::Status s = server.Start(); !s.ok()) {
    std::cerr << s.message() << "\n";
    return 1;
  }
  if (!kubeconfig.empty()) std::ofstream(kubeconfig) << server.Kubeconfig();
  std::cout << "test API server (not Kubernetes) at " << server.Url() << std::endl;
  std::unique_ptr<iter8::k8s::Client> client;
  std::vector<std::unique_ptr<iter8::testing::SimulatedKServe>> kserve;
  std::atomic<bool> stopping{false};
  std::thread starter;
  if (simulate_kserve) {
    absl::StatusOr<iter8::k8s::ClusterConfig> config =
        iter8::k8s::ParseKubeconfig(server.Kubeconfig(), "test API server");
    if (!config.ok()) {
      std::cerr << config.status().message() << "\n";
      return 1;
    }
    client = std::make_unique<iter8::k8s::Client>(*config);
    for (const char* group : {"serving.kserve.io/v1beta1", "serving.kubeflow.org/v1beta1"}) {
      iter8::testing::SimulatedKServeOptions o;
      o.api_version = group;
      if (!traffic_admin.empty()) {
        o.on_split = [traffic_admin](const std::string& isvc,
                                     const std::map<std::string, int>& split) {
          nlohmann::json weights = nlohmann::json::object();
          for (const auto& [revision, percent] : split) weights[revision] = percent;
          httplib::Client admin(traffic_admin);
          httplib::Result r = admin.Put("/weights", weights.dump(), "application/json");
          std::cout << "simulated KServe: " << isvc << " split " << weights.dump() << " -> "
                    << (r ? std::to_string(r->status) : httplib::to_string(r.error())) << std::endl;
        };
      }
      kserve.push_back(std::make_unique<iter8::testing::SimulatedKServe>(*client, o));
    }
    // Like KServe's controller, each waits for its CRD.
    starter = std::thread([&] {
      std::vector<bool> started(kserve.size(), false);
      while (!stopping) {
        bool all = true;
        for (size_t i = 0; i < kserve.size(); ++i) {
          if (!started[i] && kserve[i]->Start().ok()) {
            started[i] = true;
            std::cout << "simulated KServe (not KServe) watching "
                      << (i == 0 ? "serving.kserve.io" : "serving.kubeflow.org")
                      << " InferenceServices" << std::endl;
          }
          all = all && started[i];
        }
        if (all) return;
        absl::SleepFor(absl::Milliseconds(500));
      }
    });
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  stopping = true;
  if (starter.joinable()) starter.join();
  for (auto& k : kserve) k->Stop();
  server.Stop();
  return 0;
}
