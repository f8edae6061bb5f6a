#include "k8s/leader.h"

#include "absl/time/clock.h"
#include "common/strings.h"

namespace iter8::k8s {

std::string FormatMicroTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

LeaderElector::LeaderElector(Client& client, LeaderElectionOptions options)
    : client_(client), options_(std::move(options)) {}

LeaderElector::~LeaderElector() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (renewer_.joinable()) renewer_.join();
}

bool LeaderElector::TryAcquireOrRenew() {
  absl::StatusOr<Resource> leases = client_.Discover("coordination.k8s.io/v1", "Lease");
  if (!leases.ok()) {
    options_.log(StrCat("leader election: ", leases.status().message()));
    return false;
  }
  const absl::Time now = absl::Now();
  const int64_t duration_s = absl::ToInt64Seconds(options_.lease_duration);
  absl::StatusOr<Json> lease = client_.Get(*leases, options_.namespace_, options_.name);
  if (absl::IsNotFound(lease.status())) {
    Json fresh = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", options_.name}, {"namespace", options_.namespace_}}},
                  {"spec",
                   {{"holderIdentity", options_.identity},
                    {"leaseDurationSeconds", duration_s},
                    {"acquireTime", FormatMicroTime(now)},
                    {"renewTime", FormatMicroTime(now)},
                    {"leaseTransitions", 0}}}};
    absl::StatusOr<Json> created = client_.Create(*leases, options_.namespace_, fresh);
    leader_ = created.ok();
    if (created.ok()) observed_.clear();
    return created.ok();
  }
  if (!lease.ok()) {
    options_.log(StrCat("leader election: ", lease.status().message()));
    return false;
  }
  Json spec = lease->value("spec", Json::object());
  if (!spec.is_object()) spec = Json::object();
  const std::string seen = spec.dump();
  if (seen != observed_) {
    observed_ = seen;
    observed_at_ = now;
  }
  const std::string holder = spec.value("holderIdentity", std::string());
  const int64_t held_for =
      spec.contains("leaseDurationSeconds") && spec["leaseDurationSeconds"].is_number_integer()
          ? spec["leaseDurationSeconds"].get<int64_t>()
          : duration_s;
  if (!holder.empty() && holder != options_.identity &&
      now < observed_at_ + absl::Seconds(held_for)) {
    leader_ = false;
    return false;  // another replica holds a live lease
  }
  if (holder != options_.identity) {
    spec["acquireTime"] = FormatMicroTime(now);
    spec["leaseTransitions"] = spec.value("leaseTransitions", 0) + 1;
  }
  spec["holderIdentity"] = options_.identity;
  spec["leaseDurationSeconds"] = duration_s;
  spec["renewTime"] = FormatMicroTime(now);
  Json updated = *lease;
  updated["spec"] = spec;
  absl::StatusOr<Json> written = client_.Update(*leases, updated);
  if (!written.ok()) {
    if (absl::IsAborted(written.status())) {
      leader_ = false;  // another replica wrote the lease first
    } else {
      // A transient failure: the renewal loop tries again until the renew deadline.
      options_.log(StrCat("leader election: ", written.status().message()));
    }
    return false;
  }
  if (holder != options_.identity) {
    options_.log(StrCat("leader election: ", options_.identity, " took lease ", options_.namespace_,
                        "/", options_.name, holder.empty() ? "" : StrCat(" from ", holder)));
  }
  observed_ = spec.dump();
  observed_at_ = now;
  leader_ = true;
  return true;
}

bool LeaderElector::Acquire(const std::atomic<bool>* stop) {
  while (stop == nullptr || !stop->load()) {
    if (TryAcquireOrRenew()) return true;
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, absl::ToChronoNanoseconds(options_.retry_period),
                 [&] { return stopping_ || (stop != nullptr && stop->load()); });
    if (stopping_) return false;
  }
  return false;
}

void LeaderElector::KeepRenewing(std::function<void()> on_lost) {
  renewer_ = std::thread([this, on_lost = std::move(on_lost)] {
    absl::Time renewed = absl::Now();
    while (true) {
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait_for(l, absl::ToChronoNanoseconds(options_.retry_period),
                     [this] { return stopping_; });
        if (stopping_) return;
      }
      if (TryAcquireOrRenew()) {
        renewed = absl::Now();
      } else if (absl::Now() - renewed > options_.renew_deadline || !leader_) {
        leader_ = false;
        options_.log(
            StrCat("leader election: lost lease ", options_.namespace_, "/", options_.name));
        if (on_lost) on_lost();
        return;
      }
    }
  });
}

void LeaderElector::Release() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (renewer_.joinable()) renewer_.join();
  if (!leader_) return;
  leader_ = false;
  absl::StatusOr<Resource> leases = client_.Discover("coordination.k8s.io/v1", "Lease");
  if (!leases.ok()) return;
  absl::StatusOr<Json> lease = client_.Get(*leases, options_.namespace_, options_.name);
  if (!lease.ok() || (*lease)["spec"].value("holderIdentity", std::string()) != options_.identity) {
    return;
  }
  (*lease)["spec"]["holderIdentity"] = "";
  (*lease)["spec"]["leaseDurationSeconds"] = 1;
  (*lease)["spec"]["renewTime"] = FormatMicroTime(absl::Now());
  absl::Status s = client_.Update(*leases, *lease).status();
  options_.log(
      s.ok() ? StrCat("leader election: released lease ", options_.namespace_, "/", options_.name)
             : StrCat("leader election: release failed: ", s.message()));
}

}  // namespace iter8::k8s
