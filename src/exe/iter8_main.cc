// iter8: metrics-driven experiments and progressive delivery for ML models.
#include <iostream>

#include "cli/commands.h"
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
  iter8::exe::AddExperimentSelector(d, &describe.file, &describe.name, &describe.namespace_);

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
  if (int code = iter8::exe::Parse(app, argc, argv); code >= 0) return code;
  IoStreams io{std::cin, std::cout, std::cerr};
  if (v->parsed()) return RunValidate(validate, io);
  if (mg->parsed()) return RunMetricGet(metric_get, io);
  return RunDescribe(describe, io);
}
