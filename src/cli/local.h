// File: cli/local.h
//
// Local-mode commands over the SQLite store (store/sqlite_store.h):
//
//   iter8 run -f FILE... [--db PATH]        apply, run the controller until every experiment
//                                           in the files completes; exit code = outcome
//   iter8 apply|delete -f FILE... [--db]    create or update / delete resources
//   iter8 get experiments|metrics|routes    table, or -o yaml|json
//   iter8 report NAME [-o json]             decision records of the latest run
//   iter8 pause|resume|abort|retry|approve NAME   operator verbs (annotations, engine/engine.h)
//
// The database is `--db`, else $ITER8_DB, else `iter8.db` in the working directory.
//
// Thread-compatible, like cli/commands.h.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "api/types.h"
#include "cli/commands.h"

namespace iter8::cli {

// Exit codes of `iter8 run` beyond kExitOk (every experiment promoted its winner or completed
// without candidates) and kExitFailure (some experiment failed, or bad input).
inline constexpr int kExitRolledBack =
    3;  // some experiment rolled back, aborted or kept the baseline

std::string DatabasePath(const std::string& flag);

// An experiment from the store by name ("default" namespace when `ns` is empty).
absl::StatusOr<api::Experiment> LoadStoredExperiment(const std::string& db, const std::string& ns,
                                                     const std::string& name);

struct RunOptions {
  std::vector<std::string> files;
  std::string db;
  uint64_t seed = 0;
  bool quiet = false;
};
int RunRun(const RunOptions& options, IoStreams io);

class LocalDataPlane;
// What `iter8 quickstart` adds around a run: `serving` once the Routes' proxies serve (before
// the first reconcile; an error stops the run), `finished` when the experiments are done or the
// run is interrupted (before the proxies stop).
struct RunHooks {
  std::function<absl::Status(LocalDataPlane&)> serving;
  std::function<void()> finished;
};
// Reads and validates files (Experiment, Metric, Route, other kinds by key); problems printed.
bool LoadFiles(const std::vector<std::string>& files, IoStreams io, std::vector<api::Json>* out);
// `iter8 run` after loading: apply, serve Routes with spec.listen, run to completion.
int RunObjects(const std::vector<api::Json>& objects, const RunOptions& options, IoStreams io,
               const RunHooks& hooks);

struct ApplyOptions {
  std::vector<std::string> files;
  std::string db;
  bool remove = false;  // `iter8 delete`
};
int RunApply(const ApplyOptions& options, IoStreams io);

struct GetOptions {
  std::string what;  // experiments | metrics | routes (singular accepted)
  std::string namespace_;
  std::string output;  // "", yaml, json
  std::string db;
};
int RunGet(const GetOptions& options, IoStreams io);

struct ReportOptions {
  std::string name;
  std::string namespace_;
  std::string output;  // "" or json
  std::string db;
};
int RunReport(const ReportOptions& options, IoStreams io);

// `iter8 replay NAME --engine classic|sequential [--alpha A]`: runs an analytics engine again
// over the values a finished (or running) experiment recorded, iteration by iteration, and
// shows what it would have decided next to what was decided. The traffic that produced the
// values cannot be replayed, so each iteration sees the split that was really in place; the
// engine's own weights are shown, not applied. Exit 0; 1 when the experiment or its records
// cannot be read.
struct ReplayOptions {
  std::string name;
  std::string namespace_;
  std::string engine = "sequential";
  double alpha = 0;    // 0: the experiment's (or the default)
  std::string output;  // "" or json
  std::string db;
  uint64_t seed = 0;
};
int RunReplay(const ReplayOptions& options, IoStreams io);

struct VerbOptions {
  std::string verb;  // pause | resume | abort | retry | approve
  std::string name;
  std::string namespace_;
  std::string db;
};
int RunVerb(const VerbOptions& options, IoStreams io);

}  // namespace iter8::cli
