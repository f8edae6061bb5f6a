// File: test/testing/prometheus.h
//
// Starts a real Prometheus (Debian package `prometheus`) on a free loopback port with the given
// configuration, for tests: tries a few ports (one can be taken between choosing and binding
// it) and waits until /-/ready answers 200. Test-only; the handle is owned by one test.
#pragma once

#include <curl/curl.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "test/testing/process.h"

namespace iter8::testing {

struct RunningPrometheus {
  std::unique_ptr<ChildProcess> process;
  int port = 0;
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

inline bool HttpOk(const std::string& url) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return false;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 500L);
  curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  long code = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(curl);
  return code == 200;
}

// `config` is prometheus.yml's text; data and logs go under `dir`. process is null (and the log
// in dir/prometheus.log says why) when it did not become ready.
inline RunningPrometheus StartPrometheus(const std::filesystem::path& dir,
                                         const std::string& config,
                                         const std::vector<std::string>& extra_flags = {}) {
  std::ofstream(dir / "prometheus.yml") << config;
  RunningPrometheus p;
  for (int attempt = 0; attempt < 3 && !p.process; ++attempt) {
    p.port = FreePort();
    std::vector<std::string> argv = {"prometheus",
                                     "--config.file=" + (dir / "prometheus.yml").string(),
                                     "--storage.tsdb.path=" + (dir / "data").string(),
                                     "--web.listen-address=127.0.0.1:" + std::to_string(p.port)};
    argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
    p.process = std::make_unique<ChildProcess>(argv, (dir / "prometheus.log").string());
    bool ready = false;
    for (int i = 0; i < 300 && p.process->Running() && !ready; ++i) {
      ready = HttpOk(p.Url() + "/-/ready");
      if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!ready) p.process.reset();
  }
  return p;
}

}  // namespace iter8::testing
