#include "cli/cluster.h"

#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/time/clock.h"
#include "api/codec.h"
#include "common/strings.h"
#include "controller/controller.h"
#include "k8s/client.h"
#include "k8s/cluster_store.h"
#include "k8s/config.h"
#include "k8s/events.h"
#include "k8s/job_task.h"
#include "k8s/kserve.h"
#include "k8s/leader.h"
#include "k8s/secret_source.h"
#include "k8s/traffic_driver.h"
#include "k8s/v2alpha1_config.h"
#include "k8s/webhook.h"
#include "proxy/route.h"

namespace iter8::cli {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void OnControllerSignal(int) { g_stop = true; }

// Reconcile counts and a latency histogram, for /metrics.
class OpsStats {
 public:
  void Reconciled(absl::Duration d, const absl::Status& s) {
    std::lock_guard<std::mutex> l(mu_);
    ++(s.ok() ? ok_ : failed_);
    const double seconds = absl::ToDoubleSeconds(d);
    sum_ += seconds;
    for (size_t i = 0; i < kBounds.size(); ++i) {
      if (seconds <= kBounds[i]) ++buckets_[i];
    }
  }
  std::string Text() const {
    std::lock_guard<std::mutex> l(mu_);
    std::string out =
        "# HELP iter8_controller_reconciles_total Reconciles of experiments, by result.\n"
        "# TYPE iter8_controller_reconciles_total counter\n";
    out += StrCat("iter8_controller_reconciles_total{result=\"success\"} ", ok_, "\n");
    out += StrCat("iter8_controller_reconciles_total{result=\"error\"} ", failed_, "\n");
    out +=
        "# HELP iter8_controller_reconcile_duration_seconds Time of one reconcile.\n"
        "# TYPE iter8_controller_reconcile_duration_seconds histogram\n";
    for (size_t i = 0; i < kBounds.size(); ++i) {
      out += StrCat("iter8_controller_reconcile_duration_seconds_bucket{le=\"", kBounds[i], "\"} ",
                    buckets_[i], "\n");
    }
    out += StrCat("iter8_controller_reconcile_duration_seconds_bucket{le=\"+Inf\"} ", ok_ + failed_,
                  "\n");
    out += StrCat("iter8_controller_reconcile_duration_seconds_sum ", sum_, "\n");
    out += StrCat("iter8_controller_reconcile_duration_seconds_count ", ok_ + failed_, "\n");
    return out;
  }

 private:
  static constexpr std::array<double, 10> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                                     0.05,  0.1,    0.25,  1,    5};
  mutable std::mutex mu_;
  int64_t ok_ = 0, failed_ = 0;
  double sum_ = 0;
  std::array<int64_t, kBounds.size()> buckets_{};
};

std::string JsonEscape(const std::string& s) { return api::Json(s).dump(); }

struct Address {
  std::string host;
  int port = 0;
};

absl::StatusOr<std::optional<Address>> ParseAddress(const std::string& flag,
                                                    const std::string& text) {
  if (text == "0" || text.empty()) return std::optional<Address>();
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(StrCat(flag, ": '", text, "' is not [HOST]:PORT or 0"));
  }
  Address a;
  a.host = colon == 0 ? "0.0.0.0" : text.substr(0, colon);
  char* end = nullptr;
  const long port = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 1 || port > 65535 || colon + 1 == text.size()) {
    return absl::InvalidArgumentError(StrCat(flag, ": '", text, "' has no port in 1..65535"));
  }
  a.port = static_cast<int>(port);
  return std::optional<Address>(a);
}

absl::StatusOr<absl::Duration> ParseFlagDuration(const std::string& flag, const std::string& text) {
  absl::StatusOr<std::chrono::milliseconds> d = proxy::ParseDuration(text);
  if (!d.ok()) return absl::InvalidArgumentError(StrCat(flag, ": ", d.status().message()));
  if (d->count() <= 0) return absl::InvalidArgumentError(StrCat(flag, ": must be positive"));
  return absl::FromChrono(*d);
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

// The conversion webhook, started before leader election (every replica serves it); null
// when --webhook-address is 0.
absl::StatusOr<std::unique_ptr<k8s::ConversionWebhook>> StartWebhook(
    const ControllerCommandOptions& options, k8s::Client& client,
    const std::string& iter8_namespace, std::function<void(const std::string&)> log) {
  // HOST:0 takes any free port (tests read it from the log).
  const std::string text = options.webhook_address;
  const bool any_port = text.size() > 2 && text.compare(text.size() - 2, 2, ":0") == 0;
  absl::StatusOr<std::optional<Address>> address =
      ParseAddress("--webhook-address", any_port ? text.substr(0, text.size() - 1) + "1" : text);
  if (!address.ok()) return address.status();
  if (any_port && *address) (*address)->port = 0;
  if (!*address) return std::unique_ptr<k8s::ConversionWebhook>();
  absl::StatusOr<absl::Duration> check =
      ParseFlagDuration("--webhook-check-interval", options.webhook_check);
  if (!check.ok()) return check.status();
  k8s::WebhookOptions wo;
  wo.iter8_namespace = iter8_namespace;
  wo.service = options.webhook_service;
  wo.secret = options.webhook_secret;
  wo.cert_dir = options.webhook_cert_dir;
  wo.host = (*address)->host;
  wo.port = (*address)->port;
  wo.check_every = *check;
  wo.log = std::move(log);
  auto webhook = std::make_unique<k8s::ConversionWebhook>(client, wo);
  if (absl::Status s = webhook->Start(); !s.ok()) return s;
  return webhook;
}

}  // namespace

int RunControllerCommand(const ControllerCommandOptions& options, IoStreams io) {
  // Flags first: every mistake is reported before anything starts.
  absl::StatusOr<std::optional<Address>> metrics_address =
      ParseAddress("--metrics-address", options.metrics_address);
  absl::StatusOr<std::optional<Address>> health_address =
      ParseAddress("--health-address", options.health_address);
  absl::StatusOr<absl::Duration> lease_duration =
      ParseFlagDuration("--lease-duration", options.lease_duration);
  absl::StatusOr<absl::Duration> renew_deadline =
      ParseFlagDuration("--renew-deadline", options.renew_deadline);
  absl::StatusOr<absl::Duration> retry_period =
      ParseFlagDuration("--retry-period", options.retry_period);
  absl::StatusOr<absl::Duration> task_timeout =
      ParseFlagDuration("--task-timeout", options.task_timeout);
  absl::StatusOr<absl::Duration> resync = ParseFlagDuration("--resync", options.resync);
  for (const absl::Status& s :
       {metrics_address.status(), health_address.status(), lease_duration.status(),
        renew_deadline.status(), retry_period.status(), task_timeout.status(), resync.status()}) {
    if (!s.ok()) {
      io.err << "error: " << s.message() << "\n";
      return kExitUsage;
    }
  }
  if (options.log_format != "json" && options.log_format != "text") {
    io.err << "error: --log-format: '" << options.log_format << "' is not json or text\n";
    return kExitUsage;
  }
  if (options.workers < 1 || options.workers > 256) {
    io.err << "error: --workers: must be in 1..256\n";
    return kExitUsage;
  }
  if (options.qps <= 0 || options.burst < 1) {
    io.err << "error: --qps and --burst must be positive\n";
    return kExitUsage;
  }
  if (options.v2alpha1_handlers != "builtin" && options.v2alpha1_handlers != "jobs") {
    io.err << "error: --v2alpha1-handlers: '" << options.v2alpha1_handlers
           << "' is not builtin or jobs\n";
    return kExitUsage;
  }
  if (options.leader_elect && *renew_deadline >= *lease_duration) {
    io.err << "error: --renew-deadline must be shorter than --lease-duration\n";
    return kExitUsage;
  }

  std::mutex log_mu;
  const bool json_logs = options.log_format == "json";
  auto log = [&io, &log_mu, json_logs](const std::string& line) {
    const bool warn =
        line.find("fail") != std::string::npos || line.find("error") != std::string::npos ||
        line.find("retrying") != std::string::npos || line.find("lost") != std::string::npos;
    std::lock_guard<std::mutex> l(log_mu);
    if (json_logs) {
      io.err << "{\"ts\":\"" << k8s::FormatMicroTime(absl::Now()) << "\",\"level\":\""
             << (warn ? "warning" : "info") << "\",\"msg\":" << JsonEscape(line) << "}\n";
    } else {
      io.err << absl::FormatTime("%H:%M:%S ", absl::Now(), absl::LocalTimeZone()) << line << "\n";
    }
    io.err.flush();
  };

  absl::StatusOr<k8s::ClusterConfig> config = k8s::LoadConfig(options.kubeconfig, options.context);
  if (!config.ok()) {
    io.err << "error: " << config.status().message() << "\n";
    return kExitFailure;
  }
  k8s::ClientOptions client_options;
  client_options.qps = options.qps;
  client_options.burst = options.burst;
  k8s::Client client(*config, client_options);

  std::string iter8_namespace = options.iter8_namespace;
  if (iter8_namespace.empty()) iter8_namespace = Env("POD_NAMESPACE");
  if (iter8_namespace.empty()) iter8_namespace = "iter8-system";
  std::string identity = options.identity;
  if (identity.empty()) identity = Env("POD_NAME");
  if (identity.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    identity = StrCat(host, "_", getpid());
  }

  // Operations listener (health and metrics may share a port).
  OpsStats stats;
  std::atomic<bool> ready{false};
  std::atomic<bool> leading{false};
  std::mutex parts_mu;  // guards the two pointers below while /metrics reads them
  k8s::ClusterStore* live_store = nullptr;
  controller::Controller* live_controller = nullptr;
  std::vector<std::unique_ptr<httplib::Server>> servers;
  std::vector<std::thread> server_threads;
  auto metrics_text = [&]() {
    std::string out = stats.Text();
    out += StrCat(
        "# HELP iter8_controller_api_requests_total Requests sent to the Kubernetes API.\n"
        "# TYPE iter8_controller_api_requests_total counter\n"
        "iter8_controller_api_requests_total ",
        client.Requests(),
        "\n# HELP iter8_controller_api_errors_total Kubernetes API answers other than 2xx and "
        "network errors.\n# TYPE iter8_controller_api_errors_total counter\n"
        "iter8_controller_api_errors_total ",
        client.Errors(),
        "\n# HELP iter8_controller_leader 1 while this replica holds the lease.\n"
        "# TYPE iter8_controller_leader gauge\niter8_controller_leader ",
        leading.load() ? 1 : 0, "\n");
    std::lock_guard<std::mutex> l(parts_mu);
    if (live_controller != nullptr) {
      const controller::ControllerStats cs = live_controller->Stats();
      out += StrCat(
          "# HELP iter8_controller_queue_depth Experiments waiting for a worker.\n"
          "# TYPE iter8_controller_queue_depth gauge\niter8_controller_queue_depth ",
          cs.queued,
          "\n# HELP iter8_controller_scheduled Experiments waiting for their next iteration.\n"
          "# TYPE iter8_controller_scheduled gauge\niter8_controller_scheduled ",
          cs.timers,
          "\n# HELP iter8_controller_running_actions Actions (start, loop, finish) running.\n"
          "# TYPE iter8_controller_running_actions gauge\niter8_controller_running_actions ",
          cs.handlers, "\n");
    }
    if (live_store != nullptr) {
      std::map<std::string, int> by_stage;
      for (const char* s : {"Waiting", "Initializing", "Running", "Finishing", "Completed"}) {
        by_stage[s] = 0;
      }
      absl::StatusOr<std::vector<api::Json>> all = live_store->List("Experiment", "");
      if (all.ok()) {
        for (const api::Json& e : *all) {
          const api::Json st = e.value("status", api::Json::object());
          const std::string stage =
              st.is_object() ? st.value("stage", std::string("Waiting")) : "Waiting";
          ++by_stage[stage];
        }
      }
      out +=
          "# HELP iter8_controller_experiments Experiments seen, by stage.\n"
          "# TYPE iter8_controller_experiments gauge\n";
      for (const auto& [stage, n] : by_stage) {
        out += StrCat("iter8_controller_experiments{stage=", JsonEscape(stage), "} ", n, "\n");
      }
      const k8s::ClusterStoreStats ss = live_store->Stats();
      out += StrCat(
          "# HELP iter8_controller_watch_restarts_total Experiment watches resumed after 410 "
          "Gone or a failure.\n# TYPE iter8_controller_watch_restarts_total counter\n"
          "iter8_controller_watch_restarts_total ",
          ss.experiment_informer.expired + ss.experiment_informer.failures, "\n");
    }
    return out;
  };
  std::map<std::pair<std::string, int>, httplib::Server*> by_address;
  for (const auto& [address, what] :
       {std::pair{*metrics_address, "metrics"}, std::pair{*health_address, "health"}}) {
    if (!address) continue;
    httplib::Server*& server = by_address[{address->host, address->port}];
    if (server == nullptr) {
      servers.push_back(std::make_unique<httplib::Server>());
      server = servers.back().get();
      if (!server->bind_to_port(address->host, address->port)) {
        io.err << "error: cannot listen on " << address->host << ":" << address->port << "\n";
        return kExitFailure;
      }
    }
    if (std::string(what) == "metrics") {
      server->Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
        res.set_content(metrics_text(), "text/plain; version=0.0.4");
      });
    } else {
      server->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
        res.set_content("ok\n", "text/plain");
      });
      server->Get("/readyz", [&ready](const httplib::Request&, httplib::Response& res) {
        res.status = ready ? 200 : 503;
        res.set_content(ready ? "ok\n" : "caches not synced\n", "text/plain");
      });
    }
  }
  for (auto& s : servers) {
    server_threads.emplace_back([server = s.get()] { server->listen_after_bind(); });
  }
  auto stop_servers = [&] {
    for (auto& s : servers) s->stop();
    for (auto& t : server_threads) t.join();
  };

  absl::StatusOr<std::unique_ptr<k8s::ConversionWebhook>> webhook =
      StartWebhook(options, client, iter8_namespace, log);
  if (!webhook.ok()) {
    io.err << "error: " << webhook.status().message() << "\n";
    stop_servers();
    return kExitFailure;
  }

  g_stop = false;
  auto previous_int = std::signal(SIGINT, OnControllerSignal);
  auto previous_term = std::signal(SIGTERM, OnControllerSignal);
  auto restore_signals = [&] {
    std::signal(SIGINT, previous_int);
    std::signal(SIGTERM, previous_term);
  };

  std::unique_ptr<k8s::LeaderElector> elector;
  std::atomic<bool> lost{false};
  if (options.leader_elect) {
    k8s::LeaderElectionOptions lo;
    lo.namespace_ = iter8_namespace;
    lo.name = options.lease_name;
    lo.identity = identity;
    lo.lease_duration = *lease_duration;
    lo.renew_deadline = *renew_deadline;
    lo.retry_period = *retry_period;
    lo.log = log;
    elector = std::make_unique<k8s::LeaderElector>(client, lo);
    ready = true;  // a standby is ready: it serves nothing yet
    log(StrCat(identity, " waiting for lease ", iter8_namespace, "/", options.lease_name));
    if (!elector->Acquire(&g_stop)) {
      restore_signals();
      if (*webhook) (*webhook)->Stop();
      stop_servers();
      return kExitOk;
    }
    leading = true;
    ready = false;
    elector->KeepRenewing([&] {
      lost = true;
      g_stop = true;
    });
  } else {
    leading = true;
  }

  k8s::ClusterStoreOptions so;
  so.namespace_ = options.namespace_;
  so.iter8_namespace = iter8_namespace;
  so.informer.resync = *resync;
  so.informer.log = log;
  absl::StatusOr<std::unique_ptr<k8s::ClusterStore>> store = k8s::ClusterStore::Open(client, so);
  if (!store.ok()) {
    log(StrCat("error: ", store.status().message()));
    if (elector) elector->Release();
    restore_signals();
    if (*webhook) (*webhook)->Stop();
    stop_servers();
    return kExitFailure;
  }

  k8s::KubernetesTrafficDriver traffic(client);
  k8s::KubernetesSecretSource secrets(client);
  k8s::EventRecorder events(client, "iter8-controller", identity, log);
  controller::ControllerOptions co;
  co.workers = options.workers;
  co.task_timeout = *task_timeout;
  co.log = log;
  co.log_records = options.log_records;
  co.http.prometheus_url = options.prometheus_url;
  co.traffic = &traffic;
  co.secrets = &secrets;
  co.extra_tasks = k8s::KServeTasks(client);
  co.extra_tasks.merge(k8s::JobTasks(client, {iter8_namespace, absl::Seconds(1)}));
  co.on_event = [&events](const api::Experiment& e, const engine::Event& ev) {
    events.Record(e, ev);
  };
  co.on_reconcile = [&stats](absl::Duration d, const absl::Status& s) { stats.Reconciled(d, s); };
  co.iter8_namespace = iter8_namespace;
  k8s::V2alpha1ConfigSource v2alpha1(
      client, {iter8_namespace, options.v2alpha1_handlers == "jobs", absl::Seconds(10)});
  co.v2alpha1 = [&v2alpha1] { return v2alpha1.Get(); };
  auto ctl = std::make_unique<controller::Controller>(**store, nullptr, co);
  ctl->Start();
  {
    std::lock_guard<std::mutex> l(parts_mu);
    live_store = store->get();
    live_controller = ctl.get();
  }
  ready = true;
  log(StrCat("iter8 controller ", identity, " running: experiments in ",
             options.namespace_.empty() ? "every namespace" : options.namespace_,
             ", actions' state in ", iter8_namespace));

  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));

  log(lost ? "lease lost: stopping at once" : "stopping");
  ready = false;
  {
    std::lock_guard<std::mutex> l(parts_mu);
    live_store = nullptr;
    live_controller = nullptr;
  }
  ctl->Stop();
  ctl.reset();
  (*store)->Stop();
  leading = false;
  if (elector && !lost) elector->Release();
  restore_signals();
  if (*webhook) (*webhook)->Stop();
  stop_servers();
  return lost ? kExitFailure : kExitOk;
}

}  // namespace iter8::cli
