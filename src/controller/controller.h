// File: controller/controller.h
//
// The reconcile loop: watches the store's change feed, keeps a work queue keyed by
// namespace/name (one reconcile per key at a time, timers for "requeue after", failed
// reconciles retried with a per-key exponential backoff), and for each
// experiment gathers the observations the engine asks for, calls engine::Step, and applies the
// result: launches handlers (actions run in-process on their own thread, their state kept as
// `Handler` objects in the store so a restart knows about them), patches weights through the
// TrafficDriver, reads them back, writes status (refused when stale: the key is requeued),
// stores the iteration's decision record, and wakes the next experiment waiting on the target.
//
// Crash safety: everything an experiment needs to continue is in the store. After `kill -9`,
// a new Controller on the same database resumes every experiment from its stored status; an
// iteration whose status write did not commit is run again (its weights are absolute values
// computed from the stored distribution, so re-applying them is idempotent) and its decision
// record replaces the half-written one. Handlers that were running are started again.
//
// The same Controller serves both modes: local mode hands it a SqliteStore (resources and
// decision records); cluster mode (k8s/cluster_store.h) a store over the Kubernetes API with
// informer caches, a traffic driver that JSON-patches any kind, the kserve/* tasks, a Secret
// source and an event sink that writes Kubernetes Events.
//
// Threads: Start() runs one watcher thread, `workers` reconcile threads and one thread per
// running handler; Stop() (or the destructor) joins them all. Public methods are thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/random.h"
#include "engine/engine.h"
#include "engine/v2alpha1.h"
#include "metrics/builtin_provider.h"
#include "metrics/http_provider.h"
#include "metrics/secrets.h"
#include "store/sqlite_store.h"
#include "tasks/tasks.h"
#include "traffic/traffic.h"

namespace iter8::controller {

inline constexpr char kHandlerKind[] = "Handler";

struct ControllerOptions {
  int workers = 2;
  absl::Duration poll = absl::Milliseconds(100);  // change-feed polling interval
  uint64_t seed = 0;                              // 0: from the clock
  absl::Duration task_timeout = absl::Seconds(300);
  metrics::HttpProviderOptions http;
  const metrics::BuiltinSource* builtin = nullptr;  // proxy statistics, when local mode has them
  std::function<void(const std::string&)> log = [](const std::string&) {};

  // Cluster mode's parts; null/empty = local mode's (StoreTrafficDriver on the store, secrets
  // from the environment, no extra tasks, events only logged).
  traffic::TrafficDriver* traffic = nullptr;
  const metrics::SecretSource* secrets = nullptr;
  tasks::TaskRegistry extra_tasks;
  // Called for every engine event (condition changes, iteration completed, ...), after the
  // status write that carries it.
  std::function<void(const api::Experiment&, const engine::Event&)> on_event;
  // Without a RecordStore, decision records are logged when this is set (cluster mode's
  // --log-records), else dropped.
  bool log_records = true;
  // Called after every reconcile with how long it took and its result (operations metrics).
  std::function<void(absl::Duration, const absl::Status&)> on_reconcile;

  // v2alpha1 experiments' handlers (engine/v2alpha1.h): defaults, built-in handlers and Job
  // templates, asked for on every reconcile and action of a v2alpha1 experiment (cluster mode:
  // from the iter8-defaults and iter8-handlers ConfigMaps, cached). Null: the built-in defaults
  // and local mode's handlers (engine::LocalV2alpha1Handlers). An error fails the reconcile (it
  // is retried).
  std::function<absl::StatusOr<engine::V2alpha1Config>()> v2alpha1;
  // Where v2alpha1 experiments' metric references without a namespace are looked for when the
  // experiment's namespace has no such Metric (spec.md 1.9).
  std::string iter8_namespace = "iter8-system";
};

// What the controller reports about itself (cluster mode's /metrics).
struct ControllerStats {
  size_t queued = 0;      // keys waiting for a worker
  size_t processing = 0;  // keys being reconciled
  size_t timers = 0;      // keys waiting for their next iteration
  size_t handlers = 0;    // actions running
};

class Controller {
 public:
  Controller(store::SqliteStore& store, ControllerOptions options);
  // `records` may be null (records are then only logged).
  Controller(store::ResourceStore& store, store::RecordStore* records, ControllerOptions options);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts the watcher and workers and queues every stored experiment.
  void Start();
  void Stop();

  // One reconcile of the experiment at `key`, on the calling thread.
  absl::Status Reconcile(const store::ObjectKey& key);

  ControllerStats Stats();

 private:
  void Enqueue(const store::ObjectKey& key, absl::Duration after = absl::ZeroDuration());
  void Watch(int64_t seen);
  void Work();
  // Stores the handler's record (state Running); false when it exists already or the write
  // failed (nothing to start).
  bool CreateHandler(const api::Experiment& experiment, const std::string& handler_name, int type,
                     const std::string& action, int loop);
  void RunHandler(store::ObjectKey handler, store::ObjectKey experiment, int type,
                  std::string action);
  void ReadValues(const api::Experiment& experiment, absl::Time now, Random& random,
                  engine::Observations* observations) const;
  // A v2alpha1 experiment's handlers resolved into actions (engine/v2alpha1.h), in memory; a
  // name that resolves to nothing is returned as kInvalidArgument.
  absl::Status ResolveHandlers(api::Experiment* experiment) const;
  // The Metric a reference names, with v2alpha1's fallback to the iter8 namespace.
  absl::StatusOr<api::Json> GetMetric(const std::string& ref, const api::Experiment& e);
  // An experiment the controller cannot decode: a Failed condition and an Event saying why,
  // once (the stored status already saying so is left alone).
  absl::Status FailUndecodable(const api::Json& json, const absl::Status& why);
  // metrics/collect's results merged into the experiment's aggregatedBuiltinHists.
  absl::Status StoreBuiltinHists(const store::ObjectKey& experiment, const api::Json& hists);

  store::ResourceStore& store_;
  store::RecordStore* records_;
  ControllerOptions options_;
  traffic::StoreTrafficDriver store_traffic_;
  traffic::TrafficDriver& traffic_;  // options_.traffic, else store_traffic_
  metrics::EnvSecretSource env_secrets_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::set<store::ObjectKey> queued_;
  std::set<store::ObjectKey> processing_;
  std::set<store::ObjectKey> dirty_;  // changed while processing
  std::map<store::ObjectKey, absl::Time> timers_;
  std::map<store::ObjectKey, int> failures_;  // consecutive failed reconciles, for backoff
  std::vector<std::thread> threads_;
  struct HandlerThread {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  // Starts RunHandler on its own thread and joins those that have finished (mu_ held).
  void SpawnHandlerLocked(store::ObjectKey handler, store::ObjectKey experiment, int type,
                          std::string action);
  std::list<HandlerThread> handler_threads_;

  // Experiments by target (spec.target), so finding the contenders for a target reads only
  // them: kept from the initial list, every change seen and every reconcile.
  static std::string TargetOf(const api::Json& experiment);
  void IndexTarget(const store::ObjectKey& key, const std::string& target);
  std::string UnindexTarget(const store::ObjectKey& key);  // returns the target it had
  absl::StatusOr<std::vector<engine::Contender>> Contenders(const store::ObjectKey& self,
                                                            const std::string& target);
  std::mutex index_mu_;  // guards the two maps below
  std::map<store::ObjectKey, std::string> target_of_;
  std::map<std::string, std::set<store::ObjectKey>> by_target_;
  size_t running_handlers_ = 0;
  std::atomic<uint64_t> seed_{0};
  std::atomic<bool> cancel_tasks_{false};  // Stop(): running actions are killed
};

}  // namespace iter8::controller
