#include "test/apiserver/simulated_kserve.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace iter8::testing {

using k8s::Json;

SimulatedKServe::SimulatedKServe(k8s::Client& client, SimulatedKServeOptions options)
    : client_(client), options_(std::move(options)) {}

SimulatedKServe::~SimulatedKServe() { Stop(); }

absl::Status SimulatedKServe::Start() {
  absl::StatusOr<k8s::Resource> r = client_.Discover(options_.api_version, "InferenceService");
  if (!r.ok()) return r.status();
  k8s::InformerOptions o;
  o.retry = absl::Milliseconds(200);
  informer_ = std::make_unique<k8s::Informer>(client_, *r, o,
                                              [this](store::ChangeType type, const Json& isvc) {
                                                if (type != store::ChangeType::kDeleted)
                                                  OnChange(isvc);
                                              });
  return informer_->Start();
}

void SimulatedKServe::Stop() {
  if (informer_) informer_->Stop();
}

void SimulatedKServe::OnChange(const Json& isvc) {
  const std::string ns = isvc["metadata"].value("namespace", std::string());
  const std::string name = isvc["metadata"].value("name", std::string());
  const std::string key = absl::StrCat(ns, "/", name);
  Json predictor = isvc.value("spec", Json::object()).value("predictor", Json::object());
  int percent = 100;
  if (predictor.is_object() && predictor.contains("canaryTrafficPercent") &&
      predictor["canaryTrafficPercent"].is_number_integer()) {
    percent = std::clamp(predictor["canaryTrafficPercent"].get<int>(), 0, 100);
  }
  if (predictor.is_object()) predictor.erase("canaryTrafficPercent");
  std::map<std::string, int> split;
  bool changed_split = false;
  Json status;
  {
    std::lock_guard<std::mutex> l(mu_);
    Service& s = services_[key];
    if (s.revisions == 0 || predictor.dump() != s.last_predictor) {
      ++s.revisions;
      char suffix[16];
      std::snprintf(suffix, sizeof(suffix), "%05d", s.revisions);
      s.created = absl::StrCat(name, "-predictor-default-", suffix);
      s.last_predictor = predictor.dump();
      if (s.rolled_out.empty()) s.rolled_out = s.created;
    }
    if (percent == 100) s.rolled_out = s.created;  // promoted (or no canary)
    Json traffic = Json::array();
    if (s.rolled_out == s.created) {
      split = {{s.created, 100}};
      traffic.push_back({{"revisionName", s.created},
                         {"percent", 100},
                         {"latestRevision", true},
                         {"tag", "latest"}});
    } else {
      split = {{s.rolled_out, 100 - percent}, {s.created, percent}};
      traffic.push_back({{"revisionName", s.rolled_out},
                         {"percent", 100 - percent},
                         {"latestRevision", false},
                         {"tag", "prev"}});
      traffic.push_back({{"revisionName", s.created},
                         {"percent", percent},
                         {"latestRevision", true},
                         {"tag", "latest"}});
    }
    changed_split = split != s.split;
    s.split = split;
    status = {{"url", absl::StrCat("http://", name, ".", ns, ".example.com")},
              {"observedGeneration", isvc["metadata"].value("generation", 1)},
              {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}},
                                          {{"type", "PredictorReady"}, {"status", "True"}}})},
              {"components",
               {{"predictor",
                 {{"latestCreatedRevision", s.created},
                  {"latestReadyRevision", s.created},
                  {"latestRolledoutRevision", s.rolled_out},
                  {"traffic", traffic}}}}}};
  }
  if (changed_split && options_.on_split) options_.on_split(key, split);
  if (isvc.value("status", Json()) == status) return;  // nothing new: no write, no loop
  if (options_.ready_delay > absl::ZeroDuration()) absl::SleepFor(options_.ready_delay);
  Json updated = isvc;
  updated["status"] = status;
  // A conflict means a newer spec arrived: its own event recomputes the status.
  (void)client_.Update(informer_->GetResource(), updated, /*status=*/true);
}

}  // namespace iter8::testing
