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
  if (int code = iter8::exe::Parse(app, argc, argv); code >= 0) return code;
  IoStreams io{std::cin, std::cout, std::cerr};
  if (v->parsed()) return RunValidate(validate, io);
  return RunDescribe(describe, io);
}
