// File: test/testing/cli.h
//
// Running the real `iter8` binary (ITER8_BIN, set by the test's CMake target) from integration
// tests: its exit code and combined output. Test-only; thread-compatible.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace iter8::testing {

struct CommandResult {
  int code = -1;
  std::string output;  // stdout and stderr
};

// Runs `iter8 <args>` through the shell (so `args` may quote), output captured in `dir`.
inline CommandResult RunIter8(const std::string& args, const std::filesystem::path& dir) {
  const std::string log = (dir / "out.log").string();
  const std::string cmd = std::string(ITER8_BIN) + " " + args + " > " + log + " 2>&1";
  const int status = std::system(cmd.c_str());
  CommandResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  r.output = ss.str();
  return r;
}

}  // namespace iter8::testing
