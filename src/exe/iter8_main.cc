// iter8: metrics-driven experiments and progressive delivery for ML models.
#include <iostream>

#include "cli/commands.h"
#include "cli/local.h"
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

  if (int code = iter8::exe::Parse(app, argc, argv); code >= 0) return code;
  IoStreams io{std::cin, std::cout, std::cerr};
  if (r->parsed()) return RunRun(run, io);
  if (ap->parsed()) return RunApply(apply, io);
  if (del->parsed()) return RunApply(remove, io);
  if (g->parsed()) return RunGet(get, io);
  if (rep->parsed()) return RunReport(report, io);
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
