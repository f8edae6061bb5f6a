// iter8ctl: describe and assert Iter8 experiments (compatible with the original iter8ctl).
#include <CLI/CLI.hpp>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"

int main(int argc, char** argv) {
  using namespace iter8::cli;
  if (int code = Iter8ctlArgumentErrors(std::vector<std::string>(argv + 1, argv + argc), std::cerr);
      code >= 0) {
    return code;
  }
  CLI::App app{"iter8ctl: describe Iter8 experiments and assert conditions on them"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(ITER8_VERSION));

  DescribeOptions describe;
  CLI::App* d = app.add_subcommand("describe", "Describe an Iter8 experiment");
  d->add_option("-f,--file", describe.file,
                "experiment YAML or JSON file, or - for console input (stdin)");
  d->add_option("name", describe.name, "experiment name (selects it within -f input)");
  d->add_option("-n,--namespace", describe.namespace_, "namespace of the experiment");

  AssertOptions assert_opts;
  CLI::App* a = app.add_subcommand("assert", "Assert conditions for an Iter8 experiment");
  a->add_option("-c,--condition", assert_opts.conditions,
                "completed, noFailure, winnerFound, candidateWon, winnerIs=<version>, "
                "targetAcquired (repeatable)")
      ->delimiter(',');
  a->add_option("-f,--file", assert_opts.file, "experiment file, or - for stdin");
  a->add_option("name", assert_opts.name, "experiment name");
  a->add_option("-n,--namespace", assert_opts.namespace_, "namespace of the experiment");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  IoStreams io{std::cin, std::cout, std::cerr};
  if (d->parsed()) return RunDescribe(describe, io);
  return RunAssert(assert_opts, io);
}
