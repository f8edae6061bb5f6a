// File: cli/cluster.h
//
// `iter8 controller`: cluster mode. Runs the shared controller (controller/controller.h) against
// the Kubernetes API: Experiments and Metrics from informer caches (k8s/cluster_store.h),
// weights patched on any kind (k8s/traffic_driver.h), the kserve/* tasks in-process
// (k8s/kserve.h), metric Secrets from the API, a Kubernetes Event per engine event, leader
// election on a Lease (k8s/leader.h), and an operations listener:
//
//   /metrics  Prometheus text: reconciles by result and their durations, queue depth, running
//             actions, experiments by stage, API requests and errors, watch restarts, leader
//   /healthz  200 while the process runs
//   /readyz   200 once the caches are synced (or while waiting as a standby replica), else 503
//
// and, on every replica, the conversion webhook that lets the API server serve Experiments and
// Metrics as iter8.tools/v2alpha1 and v2alpha2 (k8s/webhook.h; its certificates are made,
// stored, renewed and injected into the CRDs without manual steps).
//
// Logs are JSON lines on stderr ({"ts", "level", "msg"}), or plain text with --log-format text.
// SIGTERM/SIGINT: running actions are interrupted (they run again under the next leader), the
// lease is released, exit 0. Losing the lease exits 1 at once, as controller-runtime does.
//
// Thread-compatible, like cli/commands.h: one command per process.
#pragma once

#include <string>

#include "cli/commands.h"

namespace iter8::cli {

struct ControllerCommandOptions {
  std::string kubeconfig;       // "" = $KUBECONFIG, ~/.kube/config, else in-cluster
  std::string context;          // kubeconfig context ("" = current)
  std::string namespace_;       // experiments watched ("" = every namespace)
  std::string iter8_namespace;  // "" = $POD_NAMESPACE, else iter8-system
  bool leader_elect = false;
  std::string lease_name = "leader.iter8.tools";
  std::string lease_duration = "15s";
  std::string renew_deadline = "10s";
  std::string retry_period = "2s";
  std::string identity;  // "" = $POD_NAME, else host_pid
  int workers = 2;
  double qps = 50;
  int burst = 100;
  std::string metrics_address = ":8080";  // "0" = off
  std::string health_address = ":8081";   // "0" = off
  std::string log_format = "json";        // json | text
  std::string task_timeout = "300s";
  std::string resync = "10m";
  bool log_records = false;  // each iteration's decision record as a log line
  // The conversion webhook (k8s/webhook.h), served by every replica.
  std::string webhook_address = ":9443";  // "0" = off
  std::string webhook_service = "iter8-webhook";
  std::string webhook_secret = "iter8-webhook-cert";
  std::string webhook_cert_dir;  // cert-manager's mounted certificate; "" = self-managed
  std::string webhook_check = "10m";
  // v2alpha1 metrics without urlTemplate query this Prometheus (the original's analytics
  // config, metricsBackend.url, in iter8-kfserving v0.1.0-alpha).
  std::string prometheus_url = "http://prometheus-operated.kfserving-monitoring:9090";
  // What v2alpha1 handler names run (k8s/v2alpha1_config.h): "builtin" (kserve/start,
  // kserve/finish in-process) or "jobs" (the iter8-handlers ConfigMap's Job templates first).
  std::string v2alpha1_handlers = "builtin";
};

int RunControllerCommand(const ControllerCommandOptions& options, IoStreams io);

}  // namespace iter8::cli
