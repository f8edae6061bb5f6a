// File: k8s/leader.h
//
// Leader election with a coordination.k8s.io/v1 Lease (spec.md 5.1: `leader.iter8.tools` in the
// iter8 namespace), as client-go's leaderelection package does it:
//  - a replica takes the lease when it does not exist, when its holder is empty (released), or
//    when the lease has not changed for leaseDurationSeconds as measured on this replica's own
//    clock since it last saw it change (no clock-skew assumptions between replicas);
//  - every write carries the resourceVersion read, so two replicas never both win (409);
//  - the leader renews every retry period; if no renewal succeeds within the renew deadline it
//    has lost the lease and must stop working at once (on_lost);
//  - Release() clears holderIdentity on shutdown (SIGTERM), so a standby takes over at its
//    next retry instead of after a whole lease duration.
//
// Owns its renewal thread. Acquire blocks its caller; the other methods are thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "k8s/client.h"

namespace iter8::k8s {

struct LeaderElectionOptions {
  std::string namespace_ = "iter8-system";
  std::string name = "leader.iter8.tools";
  std::string identity;  // unique per replica (pod name, or host_pid)
  absl::Duration lease_duration = absl::Seconds(15);
  absl::Duration renew_deadline = absl::Seconds(10);
  absl::Duration retry_period = absl::Seconds(2);
  std::function<void(const std::string&)> log = [](const std::string&) {};
};

class LeaderElector {
 public:
  LeaderElector(Client& client, LeaderElectionOptions options);
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Tries every retry period until this replica holds the lease (true) or `*stop` (false).
  bool Acquire(const std::atomic<bool>* stop);
  // Renews on a thread until Release(); calls `on_lost` once if the lease is lost.
  void KeepRenewing(std::function<void()> on_lost);
  // Stops renewing and gives the lease up if this replica holds it.
  void Release();
  bool IsLeader() const { return leader_.load(); }

  // One attempt to take or renew the lease (exposed for tests).
  bool TryAcquireOrRenew();

 private:
  Client& client_;
  const LeaderElectionOptions options_;
  std::atomic<bool> leader_{false};
  // What this replica last saw of the lease, and when (its own clock).
  std::string observed_;
  absl::Time observed_at_ = absl::InfinitePast();

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread renewer_;
};

// RFC 3339 with microseconds (the Lease's MicroTime fields).
std::string FormatMicroTime(absl::Time t);

}  // namespace iter8::k8s
