// iter8: metrics-driven experiments and progressive delivery for ML models.
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/commands.h"

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
  d->add_option("-f,--file", describe.file, "experiment file, or - for stdin");
  d->add_option("name", describe.name, "experiment name");
  d->add_option("-n,--namespace", describe.namespace_, "namespace of the experiment");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  IoStreams io{std::cin, std::cout, std::cerr};
  if (v->parsed()) return RunValidate(validate, io);
  return RunDescribe(describe, io);
}
