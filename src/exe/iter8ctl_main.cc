// iter8ctl: describe and assert Iter8 experiments (compatible with the original iter8ctl).
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "exe/cli_options.h"

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
  iter8::exe::AddExperimentSelector(d, &describe.file, &describe.name, &describe.namespace_,
                                    &describe.db);

  AssertOptions assert_opts;
  CLI::App* a = app.add_subcommand("assert", "Assert conditions for an Iter8 experiment");
  a->add_option("-c,--condition", assert_opts.conditions,
                "completed, noFailure, winnerFound, candidateWon, winnerIs=<version>, "
                "targetAcquired (repeatable)")
      ->allow_extra_args(false)  // one value per -c, so a NAME after it stays positional
      ->delimiter(',');
  iter8::exe::AddExperimentSelector(a, &assert_opts.file, &assert_opts.name,
                                    &assert_opts.namespace_, &assert_opts.db);
  if (int code = iter8::exe::Parse(app, argc, argv); code >= 0) return code;
  IoStreams io{std::cin, std::cout, std::cerr};
  if (d->parsed()) return RunDescribe(describe, io);
  return RunAssert(assert_opts, io);
}
