// File: cli/dataplane.cc
#include "cli/dataplane.h"

#include <chrono>

#include "common/strings.h"
#include "proxy/route.h"

namespace iter8::cli {

metrics::VersionStats ToVersionStats(const proxy::VersionTraffic& t) {
  metrics::VersionStats s;
  s.requests = t.Requests();
  s.errors = t.Errors();
  s.latency_sum_ms = t.LatencySumMs();
  s.upper_bounds_ms.assign(proxy::kLatencyBoundsMs.begin(), proxy::kLatencyBoundsMs.end());
  std::vector<uint64_t> buckets = t.Buckets();
  s.overflow = buckets.back();
  buckets.pop_back();
  s.bucket_counts = std::move(buckets);
  return s;
}

LocalDataPlane::LocalDataPlane(store::ResourceStore& store, Log log)
    : store_(store), log_(std::move(log)) {}

LocalDataPlane::~LocalDataPlane() { Stop(); }

absl::Status LocalDataPlane::Start(const std::vector<store::ObjectKey>& routes) {
  for (const store::ObjectKey& key : routes) {
    absl::StatusOr<api::Json> j = store_.Get(key);
    if (!j.ok()) {
      Stop();
      return j.status();
    }
    absl::StatusOr<proxy::RouteSpec> spec = proxy::ParseRoute(*j);
    if (!spec.ok()) {
      Stop();
      return spec.status();
    }
    if (!spec->listen) continue;
    auto p = std::make_unique<proxy::Proxy>();
    if (absl::Status st = p->Start(*spec); !st.ok()) {
      Stop();
      return absl::Status(st.code(), StrCat("route ", key.namespace_, "/", key.name, ": ",
                                            std::string(st.message())));
    }
    if (log_) {
      std::string line = StrCat("Route ", key.namespace_, "/", key.name, " serving on http://",
                                p->ListenAddress().String());
      if (p->AdminAddress()) {
        line += StrCat(" (admin http://", p->AdminAddress()->String(), ")");
      }
      log_(line);
    }
    served_.push_back(Served{key, (*j)["metadata"].value("resourceVersion", ""), std::move(p)});
  }
  stop_ = false;
  if (!served_.empty()) watcher_ = std::thread([this] { Watch(); });
  return absl::OkStatus();
}

void LocalDataPlane::Stop() {
  stop_ = true;
  if (watcher_.joinable()) watcher_.join();
  for (Served& s : served_) s.proxy->Stop();
}

void LocalDataPlane::Watch() {
  while (!stop_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Sync();
  }
}

void LocalDataPlane::Sync() {
  std::lock_guard<std::mutex> lock(sync_mu_);
  for (Served& s : served_) {
    absl::StatusOr<api::Json> j = store_.Get(s.key);
    if (!j.ok()) continue;  // deleted: keep serving the last split
    std::string rv = (*j)["metadata"].value("resourceVersion", "");
    if (rv == s.resource_version) continue;
    s.resource_version = rv;
    absl::StatusOr<proxy::RouteSpec> spec = proxy::ParseRoute(*j);
    absl::Status st = spec.ok() ? s.proxy->Update(*spec) : spec.status();
    if (!log_) continue;
    if (!st.ok()) {
      log_(StrCat("Route ", s.key.namespace_, "/", s.key.name,
                  ": change not applied: ", std::string(st.message())));
      continue;
    }
    std::string weights;
    for (const auto& v : spec->versions) {
      weights += StrCat(weights.empty() ? "" : ", ", v.name, " ", std::to_string(v.weight));
    }
    log_(StrCat("Route ", s.key.namespace_, "/", s.key.name, ": traffic ", weights));
  }
}

proxy::Proxy* LocalDataPlane::Find(const std::string& ns, const std::string& name) const {
  for (const Served& s : served_) {
    if (s.key.name == name && (ns.empty() || s.key.namespace_ == ns)) return s.proxy.get();
  }
  return nullptr;
}

std::optional<metrics::VersionStats> LocalDataPlane::Stats(const std::string& version,
                                                           const std::string& route) const {
  for (const Served& s : served_) {
    if (!route.empty() && s.key.name != route) continue;
    if (auto t = s.proxy->Traffic(version)) return ToVersionStats(*t);
  }
  return std::nullopt;
}

}  // namespace iter8::cli
