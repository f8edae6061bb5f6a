// iter8: metrics-driven experiments and progressive delivery for ML models.
#include <iostream>

#include "cli/cluster.h"
#include "cli/commands.h"
#include "cli/local.h"
#include "cli/serve.h"
#include "exe/cli_options.h"

int main(int argc, char** argv) {
  using namespace iter8::cli;
  CLI::App app{
      "iter8: metrics-driven experiments, progressive delivery and automated rollouts "
      "for ML models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(ITER8_VERSION));

  ValidateOptions validate;
  CLI::App* v = app.add_subcommand(
      "validate", "Load, default and validate Experiments and Metrics; print every problem");
  v->add_option("-f,--file", validate.files, "YAML or JSON file (repeatable; - for stdin)")
      ->required();

  DescribeOptions describe;
  CLI::App* d = app.add_subcommand("describe", "Same as `iter8ctl describe`");
  iter8::exe::AddExperimentSelector(d, &describe.file, &describe.name, &describe.namespace_,
                                    &describe.db);

  MetricGetOptions metric_get;
  CLI::App* metric = app.add_subcommand("metric", "Work with Metric definitions");
  metric->require_subcommand(1);
  CLI::App* mg = metric->add_subcommand(
      "get", "Evaluate a metric for one version as an experiment would, and show why");
  mg->add_option("-f,--file", metric_get.file, "Metric YAML or JSON file, or - for stdin")
      ->required();
  mg->add_option("--name", metric_get.name, "which Metric of the file (default: the first)");
  mg->add_option("--version", metric_get.version, "version name ($name)")->required();
  mg->add_option("--var", metric_get.vars, "version variable NAME=VALUE (repeatable)");
  mg->add_option("--start", metric_get.start,
                 "experiment start, RFC 3339 (default: --elapsed ago)");
  mg->add_option("--elapsed", metric_get.elapsed_seconds, "seconds since the start (default 60)")
      ->check(CLI::Range(0, 100000000));
  mg->add_flag("-v,--verbose", metric_get.verbose, "print the raw response");
  mg->add_flag("--insecure-skip-tls-verify", metric_get.insecure_skip_tls_verify,
               "do not verify the backend's TLS certificate");
  mg->add_option("--ca-file", metric_get.ca_file, "PEM CA bundle for the backend");
  mg->add_option("--prometheus-url", metric_get.prometheus_url,
                 "Prometheus base URL for v2alpha1 metrics without urlTemplate");
  mg->add_option("--timeout", metric_get.timeout_seconds, "request timeout in seconds (default 5)")
      ->check(CLI::Range(0.001, 3600.0));
  mg->add_option("--method", metric_get.method,
                 "for spec.counters: rate, mean, count or pNN (default: from the name)");
  RunOptions run;
  CLI::App* r = app.add_subcommand(
      "run", "Apply resources and run every experiment in them to completion (local mode)");
  r->add_option("-f,--file", run.files, "YAML or JSON file (repeatable; - for stdin)")->required();
  r->add_option("--db", run.db, "local store (default: $ITER8_DB, else ./iter8.db)");
  r->add_option("--seed", run.seed, "random seed of the analytics (default: from the clock)");
  r->add_flag("-q,--quiet", run.quiet, "print only the outcome");

  ApplyOptions apply;
  CLI::App* ap = app.add_subcommand("apply", "Create or update resources in the local store");
  ApplyOptions remove;
  remove.remove = true;
  CLI::App* del = app.add_subcommand("delete", "Delete resources from the local store");
  for (auto [cmd, opts] : {std::pair{ap, &apply}, std::pair{del, &remove}}) {
    cmd->add_option("-f,--file", opts->files, "YAML or JSON file (repeatable; - for stdin)")
        ->required();
    cmd->add_option("--db", opts->db, "local store (default: $ITER8_DB, else ./iter8.db)");
  }

  GetOptions get;
  CLI::App* g = app.add_subcommand("get", "List experiments, metrics or routes");
  g->add_option("what", get.what, "experiments | metrics | routes")->required();
  g->add_option("-n,--namespace", get.namespace_, "only this namespace");
  g->add_option("-o,--output", get.output, "yaml | json");
  g->add_option("--db", get.db, "local store (default: $ITER8_DB, else ./iter8.db)");

  ReportOptions report;
  CLI::App* rep = app.add_subcommand("report", "Print the decision records of an experiment");
  rep->add_option("name", report.name, "experiment name")->required();
  rep->add_option("-n,--namespace", report.namespace_, "namespace (default: default)");
  rep->add_option("-o,--output", report.output, "json");
  rep->add_option("--db", report.db, "local store (default: $ITER8_DB, else ./iter8.db)");

  ReplayOptions replay;
  CLI::App* rpl = app.add_subcommand(
      "replay", "Run an analytics engine again over an experiment's recorded metric values");
  rpl->add_option("name", replay.name, "experiment name")->required();
  rpl->add_option("-n,--namespace", replay.namespace_, "namespace (default: default)");
  rpl->add_option("--engine", replay.engine, "classic or sequential (default sequential)");
  rpl->add_option("--alpha", replay.alpha, "error budget of the sequential engine")
      ->check(CLI::Range(0.000001, 0.5));
  rpl->add_option("--seed", replay.seed, "random seed (classic weights, Thompson sampling)");
  rpl->add_option("-o,--output", replay.output, "json");
  rpl->add_option("--db", replay.db, "local store (default: $ITER8_DB, else ./iter8.db)");

  VerbOptions verb;
  std::vector<CLI::App*> verbs;
  for (const char* name : {"pause", "resume", "abort", "retry", "approve"}) {
    CLI::App* cmd = app.add_subcommand(
        name, std::string("Operator verb: ") + name + " an experiment (an annotation on it)");
    cmd->add_option("name", verb.name, "experiment name")->required();
    cmd->add_option("-n,--namespace", verb.namespace_, "namespace (default: default)");
    cmd->add_option("--db", verb.db, "local store (default: $ITER8_DB, else ./iter8.db)");
    verbs.push_back(cmd);
  }

  QuickstartOptions qs;
  CLI::App* q = app.add_subcommand(
      "quickstart",
      "Run a canary experiment end to end on this machine: two sample model servers, the "
      "proxy, a load generator and an experiment (about a minute)");
  q->add_option("--canary-latency-ms", qs.canary_latency_ms,
                "mean latency of the canary model (default 4; the default model has 5)")
      ->check(CLI::Range(0.0, 60000.0));
  q->add_option("--canary-error-rate", qs.canary_error_rate,
                "share of canary answers that fail with 500 (default 0)")
      ->check(CLI::Range(0.0, 1.0));
  q->add_option("--engine", qs.engine, "analytics engine: classic (default) or sequential");
  // --rate's default depends on --engine; 0 = not given.
  qs.rate = 0;
  q->add_option("--rate", qs.rate,
                "load in requests per second (default 40; 200 with --engine sequential, which "
                "needs about 750 error-free canary requests to certify error-rate <= 1 %)")
      ->check(CLI::Range(0.1, 100000.0));
  q->add_option("--interval", qs.interval_seconds, "seconds per iteration (default 5)")
      ->check(CLI::Range(1, 3600));
  q->add_option("--iterations", qs.iterations, "iterations (default 10)")
      ->check(CLI::Range(1, 1000));
  q->add_option("--db", qs.db, "keep the experiment in this store (default: a temporary one)");
  q->add_option("--seed", qs.seed, "random seed of the analytics");
  q->add_flag("-q,--quiet", qs.quiet, "print only the outcome and the report");

  ProxyOptions px;
  CLI::App* pc = app.add_subcommand("proxy", "Serve a Route: split traffic between versions");
  pc->add_option("-f,--file", px.file, "Route YAML or JSON (- for stdin)")->required();
  pc->add_option("--workers", px.workers, "worker threads (default: one per core)")
      ->check(CLI::Range(0, 256));

  ModelServerOptions ms;
  CLI::App* mc = app.add_subcommand("model-server",
                                    "Serve a sample model over KServe's V1 and V2 REST protocols");
  mc->add_option("--listen", ms.listen, "address (default 127.0.0.1:9001)");
  mc->add_option("--model", ms.model, "iris-v1 (default), iris-v2, or a model JSON file");
  mc->add_option("--name", ms.name, "model name in URLs (default iris)");
  mc->add_option("--latency-ms", ms.latency_ms, "added mean latency (default 0)")
      ->check(CLI::Range(0.0, 600000.0));
  mc->add_option("--latency-distribution", ms.distribution,
                 "constant (default), exponential or uniform");
  mc->add_option("--error-rate", ms.error_rate, "share of answers that fail with 500")
      ->check(CLI::Range(0.0, 1.0));
  mc->add_option("--threads", ms.threads, "threads (default 1)")->check(CLI::Range(1, 256));
  mc->add_option("--seed", ms.seed, "seed of the injected latency and errors");

  LoadCommandOptions lc;
  CLI::App* lg = app.add_subcommand(
      "load", "Send load to a URL and report throughput, errors and latency percentiles");
  lg->add_option("url", lc.url, "http://host:port/path")->required();
  lg->add_option("-X,--method", lc.method, "HTTP method (default GET; POST with a body)");
  lg->add_option("-H,--header", lc.headers, "header 'Name: value' (repeatable)")
      ->allow_extra_args(false);
  lg->add_option("-d,--data", lc.data, "request body");
  lg->add_option("--body-file", lc.body_file, "request body from a file (- for stdin)");
  lg->add_option("--rate", lc.rate,
                 "requests per second, scheduled (open loop); 0 = as fast as answers come")
      ->check(CLI::Range(0.0, 10000000.0));
  lg->add_option("--duration", lc.duration, "how long, e.g. 30s or 2m");
  lg->add_option("-n,--count", lc.count, "how many requests");
  lg->add_option("-c,--connections", lc.connections, "keep-alive connections (default 4)")
      ->check(CLI::Range(1, 10000));
  lg->add_option("--timeout", lc.timeout, "per request (default 10s)");
  lg->add_option("-o,--output", lc.output, "json")->check(CLI::IsMember({"json"}));

  ControllerCommandOptions ctl;
  CLI::App* cc = app.add_subcommand(
      "controller", "Cluster mode: run experiments on Kubernetes (KServe/KFServing and any kind)");
  cc->add_option("--kubeconfig", ctl.kubeconfig,
                 "kubeconfig file (default $KUBECONFIG, ~/.kube/config, else in-cluster)");
  cc->add_option("--context", ctl.context, "kubeconfig context (default: current)");
  cc->add_option("--namespace", ctl.namespace_, "watch experiments in this namespace only");
  cc->add_option("--iter8-namespace", ctl.iter8_namespace,
                 "namespace of the lease and actions' state (default $POD_NAMESPACE or "
                 "iter8-system)");
  cc->add_flag("--leader-elect", ctl.leader_elect, "elect a leader among replicas (a Lease)");
  cc->add_option("--lease-name", ctl.lease_name, "Lease name (default leader.iter8.tools)");
  cc->add_option("--lease-duration", ctl.lease_duration, "default 15s");
  cc->add_option("--renew-deadline", ctl.renew_deadline, "default 10s");
  cc->add_option("--retry-period", ctl.retry_period, "default 2s");
  cc->add_option("--identity", ctl.identity, "this replica's name (default $POD_NAME or host_pid)");
  cc->add_option("--workers", ctl.workers, "reconcile workers (default 2)");
  cc->add_option("--qps", ctl.qps, "Kubernetes API requests per second (default 50)");
  cc->add_option("--burst", ctl.burst, "Kubernetes API burst (default 100)");
  cc->add_option("--metrics-address", ctl.metrics_address,
                 "/metrics listener (default :8080; 0 = off)");
  cc->add_option("--health-address", ctl.health_address,
                 "/healthz and /readyz listener (default :8081; 0 = off)");
  cc->add_option("--log-format", ctl.log_format, "json (default) or text");
  cc->add_option("--task-timeout", ctl.task_timeout, "per task of an action (default 300s)");
  cc->add_option("--resync", ctl.resync, "full relist period of the caches (default 10m)");
  cc->add_option("--v2alpha1-handlers", ctl.v2alpha1_handlers,
                 "what v2alpha1 handler names run: builtin (default; kserve/start, "
                 "kserve/finish) or jobs (the iter8-handlers ConfigMap's Job templates first)");
  cc->add_flag("--log-records", ctl.log_records,
               "log each iteration's decision record (what was read, decided and why)");
  cc->add_option(
      "--webhook-address", ctl.webhook_address,
      "conversion webhook (HTTPS) listener (default :9443; HOST:0 any free port; 0 = off)");
  cc->add_option("--webhook-service", ctl.webhook_service,
                 "the webhook's Service, named in its certificate (default iter8-webhook)");
  cc->add_option("--webhook-secret", ctl.webhook_secret,
                 "Secret holding the self-managed CA and certificate (default "
                 "iter8-webhook-cert)");
  cc->add_option("--webhook-cert-dir", ctl.webhook_cert_dir,
                 "use tls.crt/tls.key from this directory (cert-manager) instead");
  cc->add_option("--webhook-check-interval", ctl.webhook_check,
                 "how often certificates are checked and renewed (default 10m)");
  cc->add_option("--prometheus-url", ctl.prometheus_url,
                 "Prometheus for v2alpha1 metrics without urlTemplate (default "
                 "http://prometheus-operated.kfserving-monitoring:9090, the original's)");

  if (int code = iter8::exe::Parse(app, argc, argv); code >= 0) return code;
  IoStreams io{std::cin, std::cout, std::cerr};
  if (r->parsed()) return RunRun(run, io);
  if (q->parsed()) return RunQuickstart(qs, io);
  if (cc->parsed()) return RunControllerCommand(ctl, io);
  if (pc->parsed()) return RunProxyCommand(px, io);
  if (mc->parsed()) return RunModelServerCommand(ms, io);
  if (lg->parsed()) {
    if (lc.duration.empty() && lc.count == 0) {
      io.err << "Error: give --duration or --count\n";
      return kExitUsage;
    }
    return RunLoadCommand(lc, io);
  }
  if (ap->parsed()) return RunApply(apply, io);
  if (del->parsed()) return RunApply(remove, io);
  if (g->parsed()) return RunGet(get, io);
  if (rep->parsed()) return RunReport(report, io);
  if (rpl->parsed()) return RunReplay(replay, io);
  for (CLI::App* cmd : verbs) {
    if (cmd->parsed()) {
      verb.verb = cmd->get_name();
      return RunVerb(verb, io);
    }
  }
  if (v->parsed()) return RunValidate(validate, io);
  if (mg->parsed()) return RunMetricGet(metric_get, io);
  return RunDescribe(describe, io);
}
