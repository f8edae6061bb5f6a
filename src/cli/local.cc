#include "cli/local.h"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iomanip>
#include <set>

#include "absl/time/clock.h"
#include "analytics/sequential.h"
#include "api/load.h"
#include "api/validate.h"
#include "cli/dataplane.h"
#include "cli/input.h"
#include "common/strings.h"
#include "controller/controller.h"
#include "engine/engine.h"
#include "proxy/route.h"
#include "store/sqlite_store.h"

namespace iter8::cli {
namespace {

using api::Json;

std::atomic<bool> g_interrupted{false};
extern "C" void OnInterrupt(int) { g_interrupted = true; }

absl::StatusOr<std::unique_ptr<store::SqliteStore>> OpenStore(const std::string& flag) {
  return store::SqliteStore::Open(DatabasePath(flag));
}

std::string Ns(const std::string& ns) { return ns.empty() ? "default" : ns; }

// The store, or nullptr after reporting why it cannot be opened.
std::unique_ptr<store::SqliteStore> OpenOrReport(const std::string& db, IoStreams io) {
  absl::StatusOr<std::unique_ptr<store::SqliteStore>> s = OpenStore(db);
  if (!s.ok()) {
    io.err << "Error: " << s.status().message() << "\n";
    return nullptr;
  }
  return *std::move(s);
}

// Every document of every file, validated; problems are printed and make the result empty.
bool LoadAll(const std::vector<std::string>& files, IoStreams io, std::vector<Json>* out) {
  bool ok = true;
  for (const std::string& file : files) {
    absl::StatusOr<std::vector<api::Document>> docs = ReadDocuments(file, io.in);
    if (!docs.ok()) {
      io.err << "Error: " << docs.status().message() << "\n";
      ok = false;
      continue;
    }
    for (const api::Document& doc : *docs) {
      const std::string kind = api::StringField(doc.json, "kind");
      if (kind == "Experiment" || kind == "Metric") {
        absl::StatusOr<api::Resource> r = api::LoadResource(doc);
        if (!r.ok()) {
          io.err << "Error: " << r.status().message() << "\n";
          ok = false;
          continue;
        }
        std::vector<api::FieldError> problems =
            std::visit([](const auto& res) { return api::Validate(res); }, *r);
        for (const api::FieldError& p : problems) {
          io.err << "Error: " << doc.Describe(p) << "\n";
          ok = false;
        }
      } else if (kind == proxy::kRouteKind) {
        absl::StatusOr<proxy::RouteSpec> route = proxy::ParseRoute(doc.json);
        if (!route.ok()) {
          io.err << "Error: " << doc.Locate("") << ": " << route.status().message() << "\n";
          ok = false;
          continue;
        }
      } else {
        absl::StatusOr<store::ObjectKey> key = store::KeyOf(doc.json);
        if (!key.ok()) {
          io.err << "Error: " << doc.Locate("") << ": " << key.status().message() << "\n";
          ok = false;
          continue;
        }
      }
      out->push_back(doc.json);
    }
  }
  return ok;
}

// Creates the object or replaces its spec (keeping status).
absl::StatusOr<Json> ApplyOne(store::ResourceStore& s, Json object) {
  absl::StatusOr<store::ObjectKey> key = store::KeyOf(object);
  if (!key.ok()) return key.status();
  object.erase("status");
  object["metadata"].erase("resourceVersion");
  absl::StatusOr<Json> created = s.Create(object);
  if (created.ok() || !absl::IsAlreadyExists(created.status())) return created;
  // Like `kubectl apply`, annotations and labels the file does not mention are kept (operator
  // verbs are annotations set by other commands).
  absl::StatusOr<Json> stored = s.Get(*key);
  if (stored.ok()) {
    for (const char* field : {"annotations", "labels"}) {
      const Json& old = (*stored)["metadata"].value(field, Json::object());
      if (!old.is_object()) continue;
      Json merged = old;
      const Json& mine = object["metadata"].value(field, Json::object());
      if (mine.is_object()) {
        for (const auto& [k, v] : mine.items()) merged[k] = v;
      }
      if (!merged.empty()) object["metadata"][field] = merged;
    }
  }
  return s.Update(object);
}

std::string Outcome(const api::Experiment& e) {
  return std::string(engine::ToString(engine::ExperimentOutcome(e)));
}

std::string Weights(const api::Experiment& e) {
  std::vector<std::string> parts;
  for (const auto& w : e.status.current_weight_distribution) {
    parts.push_back(StrCat(w.name, "=", w.value));
  }
  return StrJoin(parts, " ");
}

// "ns/name: Running 3/5, weights default=70 canary=30, objectives default=ok,ok
// canary=ok,FAIL, winner canary".
std::string ProgressLine(const api::Experiment& e) {
  api::Experiment d = e;
  api::ApplyDefaults(&d);
  const int32_t total =
      d.spec.duration->iterations_per_loop.value_or(1) * d.spec.duration->max_loops.value_or(1);
  std::string line = StrCat(e.metadata.namespace_, "/", e.metadata.name, ": ",
                            e.status.stage ? api::ToString(*e.status.stage) : "New", " ",
                            e.status.completed_iterations.value_or(0), "/", total);
  if (!e.status.current_weight_distribution.empty()) line += ", weights " + Weights(e);
  if (e.status.analysis && e.status.analysis->version_assessments &&
      !e.status.analysis->version_assessments->data.empty()) {
    // The sequential engine's verdicts have three values: ok (certified), FAIL (violation
    // certified), ? (undecided).
    const Json* seq = e.status.analysis->extra.contains(analytics::kSequentialStateKey)
                          ? &e.status.analysis->extra[analytics::kSequentialStateKey]
                          : nullptr;
    std::vector<std::string> parts;
    for (const std::string& v : api::VersionNames(e.spec)) {
      auto it = e.status.analysis->version_assessments->data.find(v);
      if (it == e.status.analysis->version_assessments->data.end()) continue;
      std::vector<std::string> marks;
      for (size_t i = 0; i < it->second.size(); ++i) {
        std::string mark = it->second[i] ? "ok" : "FAIL";
        if (seq != nullptr && !it->second[i]) {
          const Json& objs = (*seq)["objectives"];
          const bool violates =
              objs.is_array() && i < objs.size() && objs[i]["versions"][v]["verdict"] == "VIOLATES";
          mark = violates ? "FAIL" : "?";
        }
        marks.push_back(mark);
      }
      parts.push_back(StrCat(v, "=", StrJoin(marks, ",")));
    }
    line += ", objectives " + StrJoin(parts, " ");
    if (seq != nullptr && (*seq)["reason"].is_string()) {
      line += ", " + (*seq)["reason"].get<std::string>();
      return line;
    }
  }
  if (e.status.analysis && e.status.analysis->winner_assessment) {
    const auto& w = e.status.analysis->winner_assessment->data;
    line += w.winner_found ? StrCat(", winner ", w.winner) : std::string(", no winner yet");
  }
  if (e.status.extra.contains(engine::kStatusMetricsUnavailable)) {
    line += ", metrics unavailable (traffic held)";
  }
  return line;
}

}  // namespace

std::string DatabasePath(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("ITER8_DB"); env != nullptr && *env != '\0') return env;
  return "iter8.db";
}

absl::StatusOr<api::Experiment> LoadStoredExperiment(const std::string& db, const std::string& ns,
                                                     const std::string& name) {
  absl::StatusOr<std::unique_ptr<store::SqliteStore>> s = OpenStore(db);
  if (!s.ok()) return s.status();
  absl::StatusOr<Json> j = (*s)->Get({"Experiment", Ns(ns), name});
  if (absl::IsNotFound(j.status())) {
    return absl::NotFoundError(
        StrCat("experiment \"", Ns(ns), "/", name, "\" not found in ", DatabasePath(db)));
  }
  if (!j.ok()) return j.status();
  return api::LoadExperiment(*j);
}

int RunRun(const RunOptions& options, IoStreams io) {
  std::vector<Json> objects;
  if (!LoadAll(options.files, io, &objects)) {
    io.err << "Error: nothing was started\n";
    return kExitFailure;
  }
  return RunObjects(objects, options, io, RunHooks{});
}

bool LoadFiles(const std::vector<std::string>& files, IoStreams io, std::vector<Json>* out) {
  return LoadAll(files, io, out);
}

int RunObjects(const std::vector<Json>& objects, const RunOptions& options, IoStreams io,
               const RunHooks& hooks) {
  std::unique_ptr<store::SqliteStore> s = OpenOrReport(options.db, io);
  if (!s) return kExitFailure;
  std::vector<store::ObjectKey> experiments;
  std::vector<store::ObjectKey> routes;
  for (const Json& o : objects) {
    absl::StatusOr<Json> applied = ApplyOne(*s, o);
    if (!applied.ok()) {
      io.err << "Error: " << applied.status().message() << "\n";
      return kExitFailure;
    }
    store::ObjectKey key = *store::KeyOf(*applied);
    if (key.kind == "Experiment") experiments.push_back(key);
    if (key.kind == proxy::kRouteKind) routes.push_back(key);
    io.out << key.kind << " " << key.namespace_ << "/" << key.name << " applied\n";
  }
  if (experiments.empty()) {
    io.err << "Error: no Experiment in the input; nothing to run\n";
    return kExitFailure;
  }

  std::mutex out_mu;
  controller::ControllerOptions copts;
  copts.seed = options.seed;
  copts.log = [&](const std::string& line) {
    if (options.quiet) return;
    std::lock_guard<std::mutex> l(out_mu);
    io.out << absl::FormatTime("%H:%M:%S ", absl::Now(), absl::LocalTimeZone()) << line << "\n";
    io.out.flush();
  };
  LocalDataPlane data_plane(*s, copts.log);
  if (absl::Status st = data_plane.Start(routes); !st.ok()) {
    io.err << "Error: " << st.message() << "\n";
    return kExitFailure;
  }
  copts.builtin = &data_plane;
  if (hooks.serving) {
    if (absl::Status st = hooks.serving(data_plane); !st.ok()) {
      io.err << "Error: " << st.message() << "\n";
      return kExitFailure;
    }
  }
  controller::Controller c(*s, copts);
  g_interrupted = false;
  auto previous_int = std::signal(SIGINT, OnInterrupt);
  auto previous_term = std::signal(SIGTERM, OnInterrupt);
  c.Start();
  std::map<store::ObjectKey, std::string> last_line;
  std::vector<api::Experiment> finished;
  while (!g_interrupted) {
    finished.clear();
    for (const store::ObjectKey& key : experiments) {
      absl::StatusOr<Json> j = s->Get(key);
      if (!j.ok()) continue;
      absl::StatusOr<api::Experiment> e = api::LoadExperiment(*j);
      if (!e.ok()) continue;
      const std::string line = ProgressLine(*e);
      if (!options.quiet && last_line[key] != line) {
        std::lock_guard<std::mutex> l(out_mu);
        io.out << absl::FormatTime("%H:%M:%S ", absl::Now(), absl::LocalTimeZone()) << line << "\n";
        last_line[key] = line;
      }
      // A retry requested but not yet picked up by the controller is not finished.
      auto retry = e->metadata.annotations.find(engine::kAnnotationRetry);
      const bool retry_pending =
          retry != e->metadata.annotations.end() &&
          e->status.extra.value(engine::kStatusRetry, std::string()) != retry->second;
      if (e->status.stage == api::Stage::kCompleted && !retry_pending) finished.push_back(*e);
    }
    if (finished.size() == experiments.size()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  c.Stop();
  if (hooks.finished) hooks.finished();
  data_plane.Stop();
  std::signal(SIGINT, previous_int);
  std::signal(SIGTERM, previous_term);
  if (g_interrupted) {
    io.err << "interrupted: experiments keep their state in " << DatabasePath(options.db)
           << "; `iter8 run` again resumes them\n";
    return 130;
  }
  int code = kExitOk;
  for (const api::Experiment& e : finished) {
    const engine::Outcome o = engine::ExperimentOutcome(e);
    io.out << e.metadata.namespace_ << "/" << e.metadata.name << ": " << Outcome(e)
           << " (recommended version: " << e.status.version_recommended_for_promotion << "; "
           << e.status.message << ")\n";
    if (o == engine::Outcome::kFailed) {
      code = kExitFailure;
    } else if (o != engine::Outcome::kPromoted && code == kExitOk &&
               !(e.spec.version_info && e.spec.version_info->candidates.empty())) {
      code = kExitRolledBack;
    }
  }
  return code;
}

int RunApply(const ApplyOptions& options, IoStreams io) {
  std::vector<Json> objects;
  if (!LoadAll(options.files, io, &objects)) return kExitFailure;
  std::unique_ptr<store::SqliteStore> s = OpenOrReport(options.db, io);
  if (!s) return kExitFailure;
  int code = kExitOk;
  for (const Json& o : objects) {
    store::ObjectKey key = *store::KeyOf(o);
    absl::Status st = options.remove ? s->Delete(key) : ApplyOne(*s, o).status();
    if (!st.ok()) {
      io.err << "Error: " << st.message() << "\n";
      code = kExitFailure;
      continue;
    }
    io.out << key.kind << " " << key.namespace_ << "/" << key.name
           << (options.remove ? " deleted\n" : " applied\n");
  }
  return code;
}

int RunGet(const GetOptions& options, IoStreams io) {
  std::string kind;
  std::string what = options.what;
  if (what == "experiments" || what == "experiment" || what == "exp") kind = "Experiment";
  if (what == "metrics" || what == "metric") kind = "Metric";
  if (what == "routes" || what == "route") kind = "Route";
  if (kind.empty()) {
    io.err << "Error: unknown resource type \"" << what
           << "\"; use experiments, metrics or routes\n";
    return kExitUsage;
  }
  if (!options.output.empty() && options.output != "yaml" && options.output != "json") {
    io.err << "Error: -o must be yaml or json, not \"" << options.output << "\"\n";
    return kExitUsage;
  }
  std::unique_ptr<store::SqliteStore> s = OpenOrReport(options.db, io);
  if (!s) return kExitFailure;
  absl::StatusOr<std::vector<Json>> list = s->List(kind, options.namespace_);
  if (!list.ok()) {
    io.err << "Error: " << list.status().message() << "\n";
    return kExitFailure;
  }
  if (options.output == "json") {
    Json items = Json::array();
    for (auto& o : *list) items.push_back(o);
    io.out << Json{{"apiVersion", "v1"}, {"kind", "List"}, {"items", items}}.dump(2) << "\n";
    return kExitOk;
  }
  if (options.output == "yaml") {
    for (const auto& o : *list) io.out << "---\n" << api::ToYaml(o);
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  if (kind == "Experiment") {
    rows.push_back(
        {"NAMESPACE", "NAME", "TYPE", "TARGET", "STAGE", "COMPLETED ITERATIONS", "MESSAGE"});
    for (const auto& o : *list) {
      absl::StatusOr<api::Experiment> e = api::LoadExperiment(o);
      if (!e.ok()) continue;
      rows.push_back({e->metadata.namespace_, e->metadata.name,
                      std::string(api::ToString(e->spec.strategy.testing_pattern)), e->spec.target,
                      e->status.stage ? std::string(api::ToString(*e->status.stage)) : "",
                      StrCat(e->status.completed_iterations.value_or(0)), e->status.message});
    }
  } else {
    rows.push_back({"NAMESPACE", "NAME", "RESOURCE VERSION"});
    for (const auto& o : *list) {
      rows.push_back({o["metadata"].value("namespace", ""), o["metadata"].value("name", ""),
                      o["metadata"].value("resourceVersion", "")});
    }
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) widths[i] = std::max(widths[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(widths[i] - r[i].size() + 3, ' ');
    }
    io.out << line << "\n";
  }
  return kExitOk;
}

int RunReport(const ReportOptions& options, IoStreams io) {
  if (!options.output.empty() && options.output != "json") {
    io.err << "Error: -o must be json, not \"" << options.output << "\"\n";
    return kExitUsage;
  }
  std::unique_ptr<store::SqliteStore> s = OpenOrReport(options.db, io);
  if (!s) return kExitFailure;
  const std::string ns = Ns(options.namespace_);
  if (!s->Get({"Experiment", ns, options.name}).ok()) {
    io.err << "Error: experiment \"" << ns << "/" << options.name << "\" not found in "
           << DatabasePath(options.db) << "\n";
    return kExitFailure;
  }
  absl::StatusOr<std::vector<Json>> records = s->Records(ns, options.name);
  if (!records.ok()) {
    io.err << "Error: " << records.status().message() << "\n";
    return kExitFailure;
  }
  if (options.output == "json") {
    Json all = Json::array();
    for (auto& r : *records) all.push_back(r);
    io.out << all.dump(2) << "\n";
    return kExitOk;
  }
  io.out << "Decision records of " << ns << "/" << options.name << " (" << records->size()
         << " iterations)\n";
  for (const Json& r : *records) {
    std::string before, after;
    const Json weights_before = r.value("weightsBefore", Json::object());
    const Json weights_after = r.value("weightsAfter", Json::object());
    const Json values = r.value("values", Json::object());
    for (const auto& [k, v] : weights_before.items()) before += StrCat(k, "=", v.dump(), " ");
    for (const auto& [k, v] : weights_after.items()) after += StrCat(k, "=", v.dump(), " ");
    io.out << "iteration " << r.value("iteration", 0) << " at " << r.value("time", "") << ": "
           << r.value("decision", "") << "; " << r.value("why", "") << "\n";
    io.out << "  weights " << before << "-> " << after << "\n";
    for (const auto& [metric, versions] : values.items()) {
      io.out << "  " << metric << ":";
      for (const auto& [version, v] : versions.items()) {
        io.out << " " << version << "="
               << (v.contains("value") ? v["value"].dump()
                                       : StrCat("unavailable(", v.value("error", ""), ")"));
      }
      io.out << "\n";
    }
  }
  return kExitOk;
}

int RunReplay(const ReplayOptions& options, IoStreams io) {
  if (!options.output.empty() && options.output != "json") {
    io.err << "Error: -o must be json, not \"" << options.output << "\"\n";
    return kExitUsage;
  }
  if (options.engine != "classic" && options.engine != "sequential") {
    io.err << "Error: --engine must be classic or sequential, not \"" << options.engine << "\"\n";
    return kExitUsage;
  }
  if (options.alpha < 0 || options.alpha > 0.5) {
    io.err << "Error: --alpha must be in (0, 0.5]\n";
    return kExitUsage;
  }
  std::unique_ptr<store::SqliteStore> s = OpenOrReport(options.db, io);
  if (!s) return kExitFailure;
  const std::string ns = Ns(options.namespace_);
  absl::StatusOr<Json> stored = s->Get({"Experiment", ns, options.name});
  if (!stored.ok()) {
    io.err << "Error: experiment \"" << ns << "/" << options.name << "\" not found in "
           << DatabasePath(options.db) << "\n";
    return kExitFailure;
  }
  absl::StatusOr<api::Experiment> loaded = api::LoadExperiment(*stored, "store");
  if (!loaded.ok()) {
    io.err << "Error: " << loaded.status().message() << "\n";
    return kExitFailure;
  }
  absl::StatusOr<std::vector<Json>> records = s->Records(ns, options.name);
  if (!records.ok()) {
    io.err << "Error: " << records.status().message() << "\n";
    return kExitFailure;
  }
  if (records->empty()) {
    io.err << "Error: " << ns << "/" << options.name << " has no decision records to replay\n";
    return kExitFailure;
  }
  // The experiment as it started (metrics resolved, no analysis), with the chosen engine.
  api::Experiment e = *loaded;
  api::ApplyDefaults(&e);
  if (!e.spec.criteria) e.spec.criteria.emplace();
  Json& strength = e.spec.criteria->strength;
  if (!strength.is_object()) strength = Json::object();
  strength["engine"] = options.engine;
  if (options.alpha > 0) strength["alpha"] = options.alpha;
  api::ExperimentStatus fresh;
  fresh.metrics = e.status.metrics;
  e.status = std::move(fresh);
  const analytics::Engine& engine = engine::SelectEngine(e);
  Mt19937Random random(options.seed);

  Json out = Json::array();
  std::string first_decision;
  int decided_at = 0;
  for (const Json& r : *records) {
    absl::StatusOr<engine::MetricValues> values = engine::ValuesFromRecord(r);
    if (!values.ok()) {
      io.err << "Error: iteration " << r.value("iteration", 0) << ": " << values.status().message()
             << "\n";
      return kExitFailure;
    }
    // The split that was really in place during this iteration.
    e.status.current_weight_distribution.clear();
    const Json before = r.value("weightsBefore", Json::object());
    for (const auto& [v, w] : before.items()) {
      if (w.is_number_integer())
        e.status.current_weight_distribution.push_back({v, w.get<int32_t>(), {}});
    }
    const analytics::EvidenceMap evidence = engine::EvidenceFromValues(e, *values);
    const api::AggregatedMetricsAnalysis agg = analytics::AggregatedFromEvidence(evidence);
    analytics::AnalyticsOutput a = engine.Analyze({e, agg, &evidence}, random);
    if (!e.status.analysis) e.status.analysis.emplace();
    if (!a.state.is_null()) e.status.analysis->extra[analytics::kSequentialStateKey] = a.state;
    const std::string decision(analytics::ToString(a.decision));
    const auto& w = a.winner_assessment.data;
    std::string reason = a.reason;
    if (reason.empty()) reason = w.winner_found ? StrCat("winner ", w.winner) : "no winner yet";
    Json weights = Json::object();
    for (const auto& v : a.weights.data) weights[v.name] = v.value;
    const int iteration = r.value("iteration", 0);
    if (first_decision.empty() && a.decision != analytics::Decision::kContinue) {
      first_decision = StrCat(decision, " (", reason, ")");
      decided_at = iteration;
    }
    // The classic engine decides by rollback_on_failure at any iteration, else by the winner of
    // the last one.
    if (options.engine == "classic" && first_decision.empty()) {
      if (std::optional<std::string> unmet =
              engine::UnmetRollbackObjective(e, a.version_assessments)) {
        first_decision = StrCat("rollback (", *unmet, ")");
        decided_at = iteration;
      } else if (&r == &records->back()) {
        const std::string baseline = e.spec.version_info ? e.spec.version_info->baseline.name : "";
        first_decision = w.winner_found && w.winner != baseline
                             ? StrCat("promote ", w.winner, " (winner at the last iteration)")
                             : "keep the baseline (no other winner at the last iteration)";
        decided_at = iteration;
      }
    }
    Json row = {{"iteration", iteration},
                {"recorded",
                 {{"decision", r.value("decision", "")},
                  {"why", r.value("why", "")},
                  {"winner", r.value("winner", Json(nullptr))}}},
                {"replayed",
                 {{"engine", options.engine},
                  {"decision", decision},
                  {"why", reason},
                  {"winner", w.winner_found ? Json(w.winner) : Json(nullptr)},
                  {"weights", weights}}}};
    if (!a.state.is_null()) row["replayed"]["verdicts"] = a.state.value("versions", Json::object());
    out.push_back(std::move(row));
  }
  if (options.output == "json") {
    io.out << out.dump(2) << "\n";
    return kExitOk;
  }
  io.out << "Replay of " << ns << "/" << options.name << " with the " << options.engine
         << " engine over " << records->size() << " recorded iterations\n";
  for (const Json& row : out) {
    const Json& rec = row["recorded"];
    const Json& rep = row["replayed"];
    io.out << "iteration " << row["iteration"].get<int>() << "\n"
           << "  recorded: " << rec["decision"].get<std::string>() << "; "
           << rec["why"].get<std::string>() << "\n"
           << "  " << options.engine << ": " << rep["decision"].get<std::string>() << "; "
           << rep["why"].get<std::string>();
    std::string w;
    for (const auto& [v, x] : rep["weights"].items()) w += StrCat(" ", v, "=", x.dump());
    if (!w.empty()) io.out << "; weights" << w;
    io.out << "\n";
  }
  const engine::Outcome outcome = engine::ExperimentOutcome(*loaded);
  io.out << "recorded outcome: " << engine::ToString(outcome) << " after "
         << loaded->status.completed_iterations.value_or(0) << " iterations\n";
  if (decided_at > 0) {
    io.out << options.engine << " would have decided at iteration " << decided_at << ": "
           << first_decision << "\n";
  } else {
    io.out << options.engine << " would not have decided: inconclusive on this evidence "
           << "(the baseline is kept)\n";
  }
  return kExitOk;
}

int RunVerb(const VerbOptions& options, IoStreams io) {
  static const std::map<std::string, std::pair<const char*, const char*>> kVerbs = {
      {"pause", {engine::kAnnotationPause, "true"}},
      {"resume", {engine::kAnnotationPause, nullptr}},
      {"abort", {engine::kAnnotationAbort, "true"}},
      {"retry", {engine::kAnnotationRetry, ""}},
      {"approve", {engine::kAnnotationApprove, "true"}},
  };
  auto verb = kVerbs.find(options.verb);
  if (verb == kVerbs.end()) {
    io.err << "Error: unknown verb \"" << options.verb << "\"\n";
    return kExitUsage;
  }
  std::unique_ptr<store::SqliteStore> s = OpenOrReport(options.db, io);
  if (!s) return kExitFailure;
  const std::string ns = Ns(options.namespace_);
  for (int attempt = 0; attempt < 5; ++attempt) {
    absl::StatusOr<Json> j = s->Get({"Experiment", ns, options.name});
    if (!j.ok()) {
      io.err << "Error: experiment \"" << ns << "/" << options.name << "\" not found in "
             << DatabasePath(options.db) << "\n";
      return kExitFailure;
    }
    Json& annotations = (*j)["metadata"]["annotations"];
    if (!annotations.is_object()) annotations = Json::object();
    const auto& [key, value] = verb->second;
    if (value == nullptr) {
      annotations.erase(key);
    } else if (*value == '\0') {
      annotations[key] = StrCat(absl::ToUnixMillis(absl::Now()));  // a fresh retry token
      for (const char* stale :
           {engine::kAnnotationAbort, engine::kAnnotationApprove, engine::kAnnotationPause}) {
        annotations.erase(stale);
      }
    } else {
      annotations[key] = value;
    }
    absl::StatusOr<Json> written = s->Update(*j);
    if (written.ok()) {
      io.out << "experiment " << ns << "/" << options.name << ": " << options.verb
             << " requested\n";
      return kExitOk;
    }
    if (!absl::IsAborted(written.status())) {
      io.err << "Error: " << written.status().message() << "\n";
      return kExitFailure;
    }
  }
  io.err << "Error: experiment kept changing; try again\n";
  return kExitFailure;
}

}  // namespace iter8::cli
