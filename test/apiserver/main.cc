// File: test/apiserver/main.cc
//
// `test_apiserver [--port N] [--kubeconfig FILE]`: runs the in-tree TEST API server (not
// Kubernetes; see test_apiserver.h) until killed, for trying kubectl or the controller by hand.
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <thread>

#include "test/apiserver/test_apiserver.h"

int main(int argc, char** argv) {
  iter8::testing::TestApiServerOptions options;
  std::string kubeconfig;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      options.port = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--kubeconfig") == 0 && i + 1 < argc) {
      kubeconfig = argv[++i];
    } else {
      std::cerr << "usage: test_apiserver [--port N] [--kubeconfig FILE]\n";
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
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  server.Stop();
  return 0;
}
