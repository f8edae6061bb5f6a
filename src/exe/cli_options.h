// File: exe/cli_options.h
//
// CLI11 declarations shared by the iter8 and iter8ctl executables (header-only, included by
// each main TU so CLI11 is compiled once per executable). Single-threaded use at start-up.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace iter8::exe {

// Flags and positional of `describe` and `assert`: -f FILE|-, NAME, -n NAMESPACE.
inline void AddExperimentSelector(CLI::App* cmd, std::string* file, std::string* name,
                                  std::string* ns, std::string* db) {
  cmd->add_option("-f,--file", *file,
                  "experiment YAML or JSON file, or - for console input (stdin)");
  cmd->add_option("name", *name,
                  "experiment name (within -f input, else read from the local store)");
  cmd->add_option("-n,--namespace", *ns, "namespace of the experiment (default: default)");
  cmd->add_option("--db", *db, "local store (default: $ITER8_DB, else ./iter8.db)");
}

// Parses; on a parse error (or --help/--version) prints CLI11's message and returns the exit
// code to use, else -1.
inline int Parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? cli::kExitOk : cli::kExitUsage;
  }
  return -1;
}

}  // namespace iter8::exe
