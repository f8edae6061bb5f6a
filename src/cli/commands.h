// File: cli/commands.h
//
// The behaviour of the `iter8ctl` and `iter8` subcommands, separated from argument parsing
// (exe/) so tests can run them in-process. Each returns the process exit code and writes to the
// given streams. Unlike the original iter8ctl (which exited 0 on errors), every error exits
// non-zero: 1 for a failed check or bad input, 2 for usage errors.
//
// Thread-compatible: a command uses only the streams it is given.
#pragma once

#include <istream>
#include <ostream>
#include <string>
#include <vector>

namespace iter8::cli {

struct IoStreams {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
};

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// The original iter8ctl's argument errors, reproduced byte for byte on `err` (its golden
// error-*.txt outputs): no or unknown subcommand, an undefined flag of `describe`, `describe`
// without arguments. Returns kExitUsage when one of them applies (the original exited 0), or
// -1 when the arguments should go on to the regular parser. `args` excludes the program name.
int Iter8ctlArgumentErrors(const std::vector<std::string>& args, std::ostream& err);

struct DescribeOptions {
  std::string file;        // -f: path or "-"
  std::string name;        // positional NAME, read from the local store (cli/local.h)
  std::string namespace_;  // -n
  std::string db;          // --db (cli/local.h DatabasePath)
};
int RunDescribe(const DescribeOptions& options, IoStreams io);

// Conditions, case-insensitive: completed, noFailure, winnerFound, candidateWon,
// winnerIs=<version>, targetAcquired.
struct AssertOptions {
  std::string file;
  std::string name;
  std::string namespace_;
  std::vector<std::string> conditions;
  std::string db;
};
int RunAssert(const AssertOptions& options, IoStreams io);

// `iter8 validate -f FILE...`: loads, defaults and validates every Experiment and Metric in
// every file and prints every problem with its location.
struct ValidateOptions {
  std::vector<std::string> files;
};
int RunValidate(const ValidateOptions& options, IoStreams io);

// `iter8 metric get`: evaluates one metric for one version as an experiment would and prints
// the rendered request, the raw response (verbose), and the value or why it is unavailable
// (exit 1). Secrets come from the environment (metrics/secrets.h).
struct MetricGetOptions {
  std::string file;
  std::string name;               // which Metric in the file (default: the first)
  std::string version;            // version name ($name)
  std::vector<std::string> vars;  // k=v version variables
  std::string start;              // RFC 3339; default: `elapsed_seconds` before now
  int elapsed_seconds = 60;
  bool verbose = false;
  bool insecure_skip_tls_verify = false;
  std::string ca_file;
  std::string prometheus_url;  // v2alpha1 metrics without urlTemplate
  double timeout_seconds = 5;
  std::string method;  // spec.counters metrics: rate|mean|count|pNN (default: inferred)
};
int RunMetricGet(const MetricGetOptions& options, IoStreams io);

}  // namespace iter8::cli
