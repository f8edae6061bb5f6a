#include "controller/controller.h"

#include "absl/time/clock.h"
#include "analytics/builtin_hists.h"
#include "api/codec.h"
#include "api/counters.h"
#include "api/load.h"
#include "api/strength.h"
#include "api/validate.h"
#include "common/strings.h"
#include "engine/engine.h"
#include "metrics/counters.h"
#include "metrics/mock_provider.h"
#include "metrics/secrets.h"
#include "tasks/tasks.h"

namespace iter8::controller {
namespace {

using api::Json;

// Builtin statistics of a version: what the metrics/collect task stored for it in
// aggregatedBuiltinHists, else what the local proxy saw.
class CollectedOrProxySource final : public metrics::BuiltinSource {
 public:
  CollectedOrProxySource(const Json& hists, const metrics::BuiltinSource* proxy) : proxy_(proxy) {
    if (hists.is_null()) return;
    // Malformed results are reported by the engine (aggregatedMetrics message); here they are
    // simply no statistics.
    absl::StatusOr<std::map<std::string, analytics::FortioResult>> parsed =
        analytics::ParseFortioResults(hists);
    if (!parsed.ok()) return;
    for (const auto& [version, r] : *parsed) {
      metrics::VersionStats& st = collected_[version];
      st.requests = static_cast<uint64_t>(r.count);
      st.errors = static_cast<uint64_t>(r.errors);
      st.latency_sum_ms = 1000.0 * r.sum_seconds;
      for (const analytics::FortioBucket& b : r.buckets) {
        st.upper_bounds_ms.push_back(1000.0 * b.end);
        st.bucket_counts.push_back(static_cast<uint64_t>(b.count));
      }
    }
  }
  std::optional<metrics::VersionStats> Stats(const std::string& version,
                                             const std::string& route) const override {
    auto it = collected_.find(version);
    if (it != collected_.end()) return it->second;
    return proxy_ != nullptr ? proxy_->Stats(version, route) : std::nullopt;
  }

 private:
  std::map<std::string, metrics::VersionStats> collected_;
  const metrics::BuiltinSource* proxy_;
};

// How the experiment tests `mi` (strength.methods, else inferred from the metric).
api::TestMethod MethodOf(const api::Experiment& e, const api::MetricInfo& mi) {
  std::vector<api::FieldError> ignored;  // validation reports them
  const api::Strength strength =
      api::ParseStrength(e.spec.criteria ? e.spec.criteria->strength : Json(), &ignored);
  auto it = strength.methods.find(mi.name);
  return it != strength.methods.end() ? it->second : api::InferTestMethod(mi.name, &mi.metric_obj);
}

store::ObjectKey MetricKey(const std::string& ref, const std::string& ns) {
  const std::string full = engine::ResolveMetricReference(ref, ns);
  const size_t slash = full.find('/');
  return {"Metric", full.substr(0, slash), full.substr(slash + 1)};
}

// A run identifier for decision records: a retried experiment is a new run.
std::string RunId(const api::Experiment& e) {
  return StrCat(e.metadata.uid, "/",
                e.status.init_time ? api::FormatRfc3339(*e.status.init_time) : "");
}

}  // namespace

Controller::Controller(store::SqliteStore& store, ControllerOptions options)
    : Controller(store, &store, std::move(options)) {}

Controller::Controller(store::ResourceStore& store, store::RecordStore* records,
                       ControllerOptions options)
    : store_(store),
      records_(records),
      options_(std::move(options)),
      store_traffic_(store),
      traffic_(options_.traffic != nullptr ? *options_.traffic : store_traffic_) {
  seed_ =
      options_.seed != 0 ? options_.seed : static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
}

Controller::~Controller() { Stop(); }

void Controller::Start() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = false;
  }
  cancel_tasks_ = false;
  // The feed position is taken before any reconcile can write, so no change is missed.
  absl::StatusOr<int64_t> rev = store_.Revision();
  const int64_t start_revision = rev.ok() ? *rev : 0;
  // Handlers that were running when a previous process died run again.
  absl::StatusOr<std::vector<Json>> handlers = store_.List(kHandlerKind, "");
  if (handlers.ok()) {
    for (const Json& h : *handlers) {
      const std::string state = h.value("status", Json::object()).value("state", "");
      if (state == "Complete" || state == "Failed") continue;
      const Json& spec = h["spec"];
      store::ObjectKey hk{kHandlerKind, h["metadata"]["namespace"], h["metadata"]["name"]};
      store::ObjectKey ek{"Experiment", h["metadata"]["namespace"],
                          spec.value("experiment", std::string())};
      options_.log(StrCat("restarting handler ", hk.name, " left running by a previous run"));
      std::lock_guard<std::mutex> l(mu_);
      SpawnHandlerLocked(hk, ek, spec.value("type", 0), spec.value("action", std::string()));
    }
  }
  absl::StatusOr<std::vector<Json>> all = store_.List("Experiment", "");
  if (all.ok()) {
    for (const Json& e : *all) {
      absl::StatusOr<store::ObjectKey> k = store::KeyOf(e);
      if (!k.ok()) continue;
      IndexTarget(*k, TargetOf(e));
      Enqueue(*k);
    }
  }
  std::lock_guard<std::mutex> l(mu_);
  threads_.emplace_back(&Controller::Watch, this, start_revision);
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    threads_.emplace_back(&Controller::Work, this);
  }
}

void Controller::Stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
    cancel_tasks_ = true;
    threads.swap(threads_);
    for (auto& t : handler_threads_) threads.push_back(std::move(t.thread));
    handler_threads_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads) {
    if (t.joinable()) t.join();
  }
}

void Controller::Enqueue(const store::ObjectKey& key, absl::Duration after) {
  std::lock_guard<std::mutex> l(mu_);
  if (after > absl::ZeroDuration()) {
    const absl::Time due = absl::Now() + after;
    auto it = timers_.find(key);
    if (it == timers_.end() || due < it->second) timers_[key] = due;
  } else if (processing_.count(key) > 0) {
    dirty_.insert(key);
  } else {
    queued_.insert(key);
  }
  cv_.notify_all();
}

void Controller::Watch(int64_t seen) {
  while (true) {
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, absl::ToChronoNanoseconds(options_.poll), [this] { return stopping_; });
      if (stopping_) return;
      const absl::Time now = absl::Now();
      for (auto it = timers_.begin(); it != timers_.end();) {
        if (it->second <= now) {
          if (processing_.count(it->first) > 0) {
            dirty_.insert(it->first);
          } else {
            queued_.insert(it->first);
          }
          it = timers_.erase(it);
        } else {
          ++it;
        }
      }
      cv_.notify_all();
    }
    absl::StatusOr<std::vector<store::Change>> changes = store_.Changes(seen, 1000);
    if (!changes.ok()) {
      options_.log(StrCat("watch: ", changes.status().message()));
      continue;
    }
    for (const store::Change& c : *changes) {
      seen = c.revision;
      if (c.key.kind == "Experiment") {
        Enqueue(c.key);
        absl::StatusOr<Json> now = c.type == store::ChangeType::kDeleted
                                       ? absl::NotFoundError("deleted")
                                       : store_.Get(c.key);
        if (now.ok()) {
          IndexTarget(c.key, TargetOf(*now));
        } else if (absl::IsNotFound(now.status())) {
          // The deleted experiment may have held its target: wake the others waiting on it.
          const std::string target = UnindexTarget(c.key);
          absl::StatusOr<std::vector<engine::Contender>> waiting = Contenders(c.key, target);
          if (waiting.ok()) {
            for (const engine::Contender& w : *waiting) {
              Enqueue({"Experiment", w.namespace_, w.name});
            }
          }
        }
      } else if (c.key.kind == kHandlerKind && c.type != store::ChangeType::kDeleted) {
        absl::StatusOr<Json> h = store_.Get(c.key);
        if (h.ok()) {
          Enqueue(
              {"Experiment", c.key.namespace_, (*h)["spec"].value("experiment", std::string())});
        }
      }
    }
  }
}

void Controller::Work() {
  while (true) {
    store::ObjectKey key;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return stopping_ || !queued_.empty(); });
      if (stopping_) return;
      key = *queued_.begin();
      queued_.erase(queued_.begin());
      processing_.insert(key);
    }
    const absl::Time began = absl::Now();
    absl::Status s = Reconcile(key);
    if (options_.on_reconcile) options_.on_reconcile(absl::Now() - began, s);
    if (!s.ok() && !absl::IsNotFound(s) && !absl::IsAborted(s)) {
      options_.log(StrCat(key.namespace_, "/", key.name, ": ", s.message(), " (retrying)"));
    }
    std::lock_guard<std::mutex> l(mu_);
    processing_.erase(key);
    if (dirty_.erase(key) > 0) queued_.insert(key);
    if (absl::IsAborted(s)) {
      queued_.insert(key);  // stale write: read again now
    } else if (!s.ok() && !absl::IsNotFound(s)) {
      // Any other failure (database busy, API server unavailable, ...) is retried with a
      // per-key exponential backoff (100 ms, doubling, at most 30 s); nothing is dropped.
      const int n = std::min(++failures_[key], 9);
      const absl::Time due =
          absl::Now() + std::min(absl::Milliseconds(100) * (1 << (n - 1)), absl::Seconds(30));
      auto it = timers_.find(key);
      if (it == timers_.end() || due < it->second) timers_[key] = due;
    } else {
      failures_.erase(key);
    }
    cv_.notify_all();
  }
}

absl::Status Controller::Reconcile(const store::ObjectKey& key) {
  absl::StatusOr<Json> json = store_.Get(key);
  if (!json.ok()) return json.status();
  absl::StatusOr<api::Experiment> loaded = api::LoadExperiment(*json);
  if (absl::IsInvalidArgument(loaded.status())) return FailUndecodable(*json, loaded.status());
  if (!loaded.ok()) return loaded.status();
  // `e` is what the engine sees (v2alpha1 handlers resolved in memory); `stored` is written
  // back with the new status.
  const api::Experiment stored = *loaded;
  api::Experiment e = *std::move(loaded);
  const absl::Time now = absl::Now();

  engine::Observations obs;
  if (absl::Status resolved = ResolveHandlers(&e); absl::IsInvalidArgument(resolved)) {
    obs.invalid = std::string(resolved.message());
  } else if (!resolved.ok()) {
    return resolved;
  }
  // Handlers of this experiment.
  // Handler names start with the experiment's name (engine::HandlerName).
  absl::StatusOr<std::vector<Json>> handlers =
      store_.ListPrefix(kHandlerKind, key.namespace_, StrCat(key.name, "-"));
  if (!handlers.ok()) return handlers.status();
  for (const Json& h : *handlers) {
    if (h["spec"].value("experiment", std::string()) != key.name) continue;
    const std::string state = h.value("status", Json::object()).value("state", "");
    obs.handlers[h["metadata"]["name"]] = state == "Complete" ? engine::HandlerState::kComplete
                                          : state == "Failed" ? engine::HandlerState::kFailed
                                                              : engine::HandlerState::kRunning;
  }
  IndexTarget(key, e.spec.target);
  // Contenders for the target: only needed until this experiment holds it (spec.md 5.4).
  bool have_contenders = false;
  if (!api::ConditionIsTrue(e.status, api::kConditionTargetAcquired)) {
    absl::StatusOr<std::vector<engine::Contender>> c = Contenders(key, e.spec.target);
    if (!c.ok()) return c.status();
    obs.contenders = *std::move(c);
    have_contenders = true;
  }

  Mt19937Random random(seed_.fetch_add(1));
  engine::StepResult r;
  for (int round = 0; round < 4; ++round) {
    r = engine::Step(e, obs, now, random);
    if (r.need == engine::Need::kNothing) break;
    if (r.need == engine::Need::kMetrics) {
      std::map<std::string, absl::StatusOr<api::Metric>> metrics;
      std::vector<std::string> todo = engine::MetricReferences(e.spec);
      while (!todo.empty()) {
        const std::string ref = todo.back();
        todo.pop_back();
        if (metrics.count(ref) > 0) continue;
        absl::StatusOr<Json> mj = GetMetric(ref, e);
        if (!mj.ok()) {
          metrics.emplace(ref, mj.status());
          continue;
        }
        absl::StatusOr<api::Metric> m = api::LoadMetric(*mj);
        if (m.ok() && !m->spec.sample_size.empty()) todo.push_back(m->spec.sample_size);
        metrics.emplace(ref, std::move(m));
      }
      obs.metrics = std::move(metrics);
    } else if (r.need == engine::Need::kWeights) {
      api::Experiment d = e;
      api::ApplyDefaults(&d);
      obs.weights = traffic::ReadWeights(traffic_, d);
      // A transient failure (API server busy or unreachable) is retried, not held against the
      // experiment; the original failed it (spec.md 5.2), which a restarting API server then did.
      if (absl::IsUnavailable(obs.weights->status())) return obs.weights->status();
    } else if (r.need == engine::Need::kValues) {
      ReadValues(e, now, random, &obs);
    }
  }
  if (r.need != engine::Need::kNothing) return absl::InternalError("engine kept asking");

  if (r.forget_handlers) {
    for (const Json& h : *handlers) {
      if (h["spec"].value("experiment", std::string()) != key.name) continue;
      absl::Status s = store_.Delete({kHandlerKind, key.namespace_, h["metadata"]["name"]});
      if (!s.ok() && !absl::IsNotFound(s)) return s;
    }
  }
  // The action's thread starts after the status write below (on every path out of here), so
  // it reads the status this step wrote (e.g. the version recommended for promotion).
  bool spawn = false;
  if (r.launch) {
    spawn = CreateHandler(e, r.launch->name, static_cast<int>(r.launch->type), r.launch->action,
                          r.launch->loop);
  }
  struct SpawnAtExit {
    Controller* c;
    const std::optional<engine::LaunchHandler>& launch;
    const bool& spawn;
    const store::ObjectKey& key;
    ~SpawnAtExit() {
      if (!spawn) return;
      std::lock_guard<std::mutex> l(c->mu_);
      if (c->stopping_) return;
      c->SpawnHandlerLocked({kHandlerKind, key.namespace_, launch->name}, key,
                            static_cast<int>(launch->type), launch->action);
    }
  } spawn_at_exit{this, r.launch, spawn, key};
  for (const engine::WeightPatch& p : r.patches) {
    // The original only logs patch errors; the read-back below decides.
    absl::Status s = traffic_.Apply(p);
    if (!s.ok()) options_.log(StrCat(key.namespace_, "/", key.name, ": patch: ", s.message()));
  }
  if (r.read_weights_after) {
    api::Experiment d = e;
    d.status = r.status;
    api::ApplyDefaults(&d);
    absl::StatusOr<std::map<std::string, int32_t>> after = traffic::ReadWeights(traffic_, d);
    // Transient: nothing of this iteration is written; it runs again (its weights are
    // absolute, so applying them twice is harmless).
    if (absl::IsUnavailable(after.status())) return after.status();
    engine::RecordWeights(e, after, now, &r);
  }
  if (r.record) {
    (*r.record)["weightsAfter"] = Json::object();
    for (const auto& w : r.status.current_weight_distribution) {
      (*r.record)["weightsAfter"][w.name] = w.value;
    }
    api::Experiment run = e;
    run.status = r.status;
    const int64_t iteration = (*r.record)["iteration"].get<int64_t>();
    if (records_ != nullptr) {
      absl::Status s =
          records_->PutRecord(key.namespace_, key.name, RunId(run), iteration, *r.record);
      if (!s.ok()) return s;
    } else if (options_.log_records) {
      options_.log(StrCat(key.namespace_, "/", key.name, ": decision record ", iteration, ": ",
                          r.record->dump()));
    }
  }
  for (const engine::Event& ev : r.events) {
    options_.log(StrCat(key.namespace_, "/", key.name, ": ", ev.reason,
                        ev.message.empty() ? "" : ": ", ev.message));
  }
  if (r.write_status) {
    api::Experiment out = stored;
    out.status = r.status;
    absl::StatusOr<Json> written = store_.UpdateStatus(api::EncodeResource(out));
    if (!written.ok()) return written.status();
  }
  if (options_.on_event) {
    for (const engine::Event& ev : r.events) options_.on_event(e, ev);
  }
  if (r.release_target) {
    if (!have_contenders) {
      absl::StatusOr<std::vector<engine::Contender>> c = Contenders(key, e.spec.target);
      if (c.ok()) obs.contenders = *std::move(c);
    }
    for (const engine::Contender& c : obs.contenders) {
      Enqueue({"Experiment", c.namespace_, c.name});
    }
  }
  if (r.requeue_after) Enqueue(key, *r.requeue_after);
  return absl::OkStatus();
}

absl::Status Controller::ResolveHandlers(api::Experiment* e) const {
  if (!e->v2alpha1) return absl::OkStatus();
  absl::StatusOr<engine::V2alpha1Config> config;
  if (options_.v2alpha1) {
    config = options_.v2alpha1();
  } else {
    config.emplace();
    config->builtin = engine::LocalV2alpha1Handlers();
  }
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        StrCat("v2alpha1 handlers: ", config.status().message()));
  }
  return engine::ResolveV2alpha1Handlers(*config, e);
}

absl::StatusOr<Json> Controller::GetMetric(const std::string& ref, const api::Experiment& e) {
  absl::StatusOr<Json> m = store_.Get(MetricKey(ref, e.metadata.namespace_));
  if (!e.v2alpha1 || !absl::IsNotFound(m.status()) || ref.find('/') != std::string::npos ||
      options_.iter8_namespace == e.metadata.namespace_) {
    return m;
  }
  // v2alpha1: the experiment's namespace, then iter8's (spec.md 1.9).
  return store_.Get(MetricKey(ref, options_.iter8_namespace));
}

absl::Status Controller::FailUndecodable(const Json& json, const absl::Status& why) {
  api::Experiment e;  // what identifies the object, for the Event
  const Json meta = json.value("metadata", Json::object());
  if (meta.is_object()) {
    e.metadata.name = meta.value("name", std::string());
    e.metadata.namespace_ = meta.value("namespace", std::string());
    e.metadata.uid = meta.value("uid", std::string());
  }
  e.api_version = json.value("apiVersion", std::string(api::kV2alpha2));
  // One line: the decoder reports each problem on a line of its own.
  const std::string message =
      StrReplaceAll(StrCat("Unable to read experiment: ", why.message()), {{"\n", "; "}});
  Json status = json.value("status", Json::object());
  if (!status.is_object()) status = Json::object();
  Json conditions = status.value("conditions", Json::array());
  if (!conditions.is_array()) conditions = Json::array();
  for (const Json& c : conditions) {
    if (c.is_object() && c.value("type", "") == api::kConditionFailed &&
        c.value("status", "") == "True" && c.value("message", "") == message) {
      return absl::OkStatus();  // said so already
    }
  }
  const std::string now = api::FormatRfc3339(absl::Now());
  auto set = [&](const char* type, const char* reason, const std::string& msg) {
    Json c = {{"type", type},
              {"status", "True"},
              {"lastTransitionTime", now},
              {"reason", reason},
              {"message", msg}};
    for (Json& old : conditions) {
      if (old.is_object() && old.value("type", "") == type) {
        old = c;
        return;
      }
    }
    conditions.push_back(c);
  };
  set(api::kConditionFailed, engine::kReasonInvalidExperiment, message);
  set(api::kConditionCompleted, engine::kReasonExperimentCompleted, "Experiment failed");
  status["conditions"] = conditions;
  status["stage"] = "Completed";
  status["message"] = StrCat(engine::kReasonExperimentCompleted, ": Experiment failed");
  Json out = json;
  out["status"] = status;
  absl::StatusOr<Json> written = store_.UpdateStatus(out);
  if (!written.ok()) return written.status();
  const engine::Event event{engine::kReasonInvalidExperiment, message};
  options_.log(
      StrCat(e.metadata.namespace_, "/", e.metadata.name, ": ", event.reason, ": ", event.message));
  if (options_.on_event) options_.on_event(e, event);
  return absl::OkStatus();
}

std::string Controller::TargetOf(const Json& experiment) {
  const Json spec = experiment.value("spec", Json::object());
  return spec.is_object() ? spec.value("target", std::string()) : "";
}

void Controller::IndexTarget(const store::ObjectKey& key, const std::string& target) {
  std::lock_guard<std::mutex> l(index_mu_);
  auto it = target_of_.find(key);
  if (it != target_of_.end()) {
    if (it->second == target) return;
    by_target_[it->second].erase(key);
    if (by_target_[it->second].empty()) by_target_.erase(it->second);
  }
  target_of_[key] = target;
  by_target_[target].insert(key);
}

std::string Controller::UnindexTarget(const store::ObjectKey& key) {
  std::lock_guard<std::mutex> l(index_mu_);
  auto it = target_of_.find(key);
  if (it == target_of_.end()) return "";
  const std::string target = it->second;
  by_target_[target].erase(key);
  if (by_target_[target].empty()) by_target_.erase(target);
  target_of_.erase(it);
  return target;
}

absl::StatusOr<std::vector<engine::Contender>> Controller::Contenders(const store::ObjectKey& self,
                                                                      const std::string& target) {
  std::vector<store::ObjectKey> keys;
  {
    std::lock_guard<std::mutex> l(index_mu_);
    auto it = by_target_.find(target);
    if (it != by_target_.end()) keys.assign(it->second.begin(), it->second.end());
  }
  std::vector<engine::Contender> out;
  for (const store::ObjectKey& k : keys) {
    if (k == self) continue;
    absl::StatusOr<Json> other = store_.Get(k);
    if (absl::IsNotFound(other.status())) continue;
    if (!other.ok()) return other.status();
    absl::StatusOr<api::Experiment> o = api::LoadExperiment(*other);
    if (!o.ok() || o->spec.target != target) continue;
    if (api::ConditionIsTrue(o->status, api::kConditionCompleted)) continue;
    out.push_back({o->metadata.namespace_, o->metadata.name, o->status.init_time,
                   api::ConditionIsTrue(o->status, api::kConditionTargetAcquired)});
  }
  return out;
}

ControllerStats Controller::Stats() {
  std::lock_guard<std::mutex> l(mu_);
  ControllerStats st;
  st.queued = queued_.size();
  st.processing = processing_.size();
  st.timers = timers_.size();
  st.handlers = running_handlers_;
  return st;
}

bool Controller::CreateHandler(const api::Experiment& e, const std::string& handler_name, int type,
                               const std::string& action, int loop) {
  Json h = Json::object();
  h["apiVersion"] = "iter8.tools/v1alpha1";
  h["kind"] = kHandlerKind;
  h["metadata"] = {{"name", handler_name}, {"namespace", e.metadata.namespace_}};
  h["spec"] = {{"experiment", e.metadata.name}, {"type", type}, {"action", action}, {"loop", loop}};
  absl::StatusOr<Json> created = store_.Create(h);
  if (!created.ok()) {
    // AlreadyExists: another reconcile (or replica) created it and runs it.
    if (!absl::IsAlreadyExists(created.status())) {
      options_.log(StrCat("handler ", handler_name, ": ", created.status().message()));
    }
    return false;
  }
  Json with_status = *created;
  with_status["status"] = {{"state", "Running"}};
  (void)store_.UpdateStatus(with_status);  // a handler without a state counts as running
  return true;
}

void Controller::SpawnHandlerLocked(store::ObjectKey handler, store::ObjectKey experiment, int type,
                                    std::string action) {
  for (auto it = handler_threads_.begin(); it != handler_threads_.end();) {
    if (it->done->load()) {
      it->thread.join();
      it = handler_threads_.erase(it);
    } else {
      ++it;
    }
  }
  auto done = std::make_shared<std::atomic<bool>>(false);
  ++running_handlers_;
  handler_threads_.push_back(
      {std::thread([this, handler = std::move(handler), experiment = std::move(experiment), type,
                    action = std::move(action), done] {
         RunHandler(handler, experiment, type, action);
         {
           std::lock_guard<std::mutex> l(mu_);
           --running_handlers_;
         }
         done->store(true);
       }),
       done});
}

// This iteration's value of every metric for every version: mock levels, raw counters
// (spec.counters, with their state handed back to the engine), builtin statistics (collected by
// metrics/collect, else the proxy's) or the REST provider.
void Controller::ReadValues(const api::Experiment& e, absl::Time now, Random& random,
                            engine::Observations* obs) const {
  metrics::HttpProvider http(options_.http,
                             options_.secrets != nullptr ? options_.secrets : &env_secrets_);
  metrics::MockProvider mock(random);
  std::optional<CollectedOrProxySource> source;
  std::optional<metrics::BuiltinProvider> builtin;
  if (e.status.analysis && e.status.analysis->aggregated_builtin_hists.is_object()) {
    source.emplace(e.status.analysis->aggregated_builtin_hists, options_.builtin);
  } else if (options_.builtin != nullptr) {
    source.emplace(Json(), options_.builtin);
  }
  if (source) builtin.emplace(*source);
  metrics::QueryContext ctx;
  ctx.start = e.status.start_time.value_or(now);
  ctx.now = now;
  ctx.v2alpha1 = e.v2alpha1.has_value();
  engine::MetricValues values;
  Json counters;  // null unless a metric has spec.counters
  const Json previous_counters =
      e.status.analysis ? e.status.analysis->extra.value(engine::kCountersStateKey, Json())
                        : Json();
  std::vector<api::FieldError> counter_errors;  // reported by validation; ignored here
  metrics::HttpClient counter_client(options_.http.http);
  for (const api::MetricInfo& mi : e.status.metrics) {
    for (const api::VersionDetail* v : api::AllVersions(e.spec)) {
      metrics::MetricResult res;
      if (!mi.metric_obj.spec.mock.empty()) {
        res = mock.Query(mi.metric_obj, *v, ctx);
      } else if (std::optional<api::CounterQueries> cq =
                     api::ParseCounterQueries(mi.metric_obj, &counter_errors)) {
        const Json previous = previous_counters.is_object() &&
                                      previous_counters.contains(mi.name) &&
                                      previous_counters[mi.name].is_object()
                                  ? previous_counters[mi.name].value(v->name, Json())
                                  : Json();
        metrics::CounterRead read =
            metrics::ReadCounters(counter_client, *cq, MethodOf(e, mi), *v, ctx, previous);
        res = std::move(read.result);
        counters[mi.name][v->name] = std::move(read.state);
      } else if (mi.metric_obj.spec.provider == "iter8") {
        res = builtin ? builtin->Query(mi.metric_obj, *v, ctx)
                      : metrics::MetricResult::Unavailable(
                            "builtin metric: no proxy statistics in this process");
      } else {
        res = http.Query(mi.metric_obj, *v, ctx);
      }
      engine::MetricValue& mv = values[mi.name][v->name];
      mv.value = res.value;
      mv.sample_size = res.sample_size;
      mv.error = res.unavailable;
      mv.request = res.request;
      if (res.buckets)
        mv.buckets = analytics::Buckets{res.buckets->upper_bounds, res.buckets->counts};
    }
  }
  obs->values = std::move(values);
  obs->counters = std::move(counters);
}

absl::Status Controller::StoreBuiltinHists(const store::ObjectKey& experiment, const Json& hists) {
  // Read, merge, write with the resourceVersion read: a concurrent status write by a reconcile
  // makes this one fail with a conflict, and it tries again on the newer status.
  constexpr int kAttempts = 20;
  absl::Status last;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    absl::StatusOr<Json> e = store_.Get(experiment);
    if (!e.ok()) return e.status();
    Json& status = (*e)["status"];
    if (!status.is_object()) status = Json::object();
    if (!status.contains("analysis") || !status["analysis"].is_object()) {
      status["analysis"] = Json::object();
    }
    const Json existing = status["analysis"].value("aggregatedBuiltinHists", Json());
    absl::StatusOr<Json> merged = analytics::MergeFortioResults(existing, hists);
    if (!merged.ok()) return merged.status();
    status["analysis"]["aggregatedBuiltinHists"] = *std::move(merged);
    absl::StatusOr<Json> written = store_.UpdateStatus(*e);
    if (written.ok()) {
      return absl::OkStatus();
    }
    last = written.status();
    if (!absl::IsAborted(last)) return last;
  }
  return last;
}

void Controller::RunHandler(store::ObjectKey handler, store::ObjectKey experiment, int type,
                            std::string action) {
  absl::Status result;
  absl::StatusOr<Json> ej = store_.Get(experiment);
  if (!ej.ok()) {
    result = ej.status();
  } else {
    absl::StatusOr<api::Experiment> e = api::LoadExperiment(*ej);
    if (e.ok()) {
      absl::Status resolved = ResolveHandlers(&*e);
      if (!resolved.ok()) e = resolved;
    }
    if (!e.ok()) {
      result = e.status();
    } else {
      api::ApplyDefaults(&*e);
      tasks::TaskEnv env;
      env.experiment = &*e;
      env.type = static_cast<engine::HandlerType>(type);
      env.handler = handler.name;
      env.traffic = &traffic_;
      env.extra = &options_.extra_tasks;
      env.timeout = options_.task_timeout;
      env.cancel = &cancel_tasks_;
      env.log = [&](const std::string& line) {
        options_.log(StrCat(experiment.namespace_, "/", experiment.name, " ", action, ": ", line));
      };
      env.store_builtin_hists = [&](const Json& hists) {
        return StoreBuiltinHists(experiment, hists);
      };
      auto it = e->spec.strategy.actions.find(action);
      if (it != e->spec.strategy.actions.end()) result = tasks::RunAction(it->second, env);
    }
  }
  if (absl::IsCancelled(result)) {
    // Shutting down: the handler stays Running in the store and runs again on restart.
    options_.log(StrCat(experiment.namespace_, "/", experiment.name, " ", action,
                        " interrupted; it runs again when iter8 restarts"));
    return;
  }
  if (!result.ok()) {
    options_.log(StrCat(experiment.namespace_, "/", experiment.name, " ", action,
                        " failed: ", result.message()));
  }
  // The outcome must reach the store, or the experiment would wait for this action forever:
  // conflicts and transient failures are retried (with the newest version) until stopping.
  absl::Duration backoff = absl::Milliseconds(50);
  while (true) {
    absl::StatusOr<Json> h = store_.Get(handler);
    if (!h.ok()) return;  // forgotten meanwhile
    (*h)["status"] = {{"state", result.ok() ? "Complete" : "Failed"},
                      {"message", std::string(result.message())}};
    absl::StatusOr<Json> written = store_.UpdateStatus(*h);
    if (written.ok() || absl::IsNotFound(written.status())) return;
    options_.log(StrCat(experiment.namespace_, "/", experiment.name, " ", action,
                        ": storing the outcome: ", written.status().message(), " (retrying)"));
    if (cancel_tasks_.load()) return;  // stays Running: runs again on restart
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(2));
  }
}

}  // namespace iter8::controller
