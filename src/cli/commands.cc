#include "cli/commands.h"

#include <algorithm>
#include <cctype>

#include "api/counters.h"
#include "api/load.h"
#include "api/strength.h"
#include "api/validate.h"
#include "cli/describe.h"
#include "cli/input.h"
#include "cli/local.h"
#include "common/random.h"
#include "common/strings.h"
#include "metrics/counters.h"
#include "metrics/http_provider.h"
#include "metrics/mock_provider.h"

namespace iter8::cli {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The experiment named by -f (first Experiment document) or NAME.
absl::StatusOr<api::Experiment> ResolveExperiment(const std::string& file, const std::string& name,
                                                  const std::string& ns, const std::string& db,
                                                  std::istream& in) {
  if (file.empty()) return LoadStoredExperiment(db, ns, name);
  absl::StatusOr<std::vector<api::Document>> docs = ReadDocuments(file, in);
  if (!docs.ok()) return docs.status();
  for (const api::Document& doc : *docs) {
    if (api::StringField(doc.json, "kind") == "Metric") continue;
    absl::StatusOr<api::Experiment> e = api::LoadExperiment(doc);
    if (!e.ok()) return e.status();
    if (!name.empty() && e->metadata.name != name) continue;
    return e;
  }
  return absl::NotFoundError(name.empty()
                                 ? StrCat(file, ": no Experiment in input")
                                 : StrCat(file, ": no Experiment named \"", name, "\" in input"));
}

// Resolves the experiment a command names, reporting problems on `err`. Returns the exit code
// to end with, or -1 with `*out` set. Naming no experiment at all is a usage error.
int SelectExperiment(const std::string& file, const std::string& name, const std::string& ns,
                     const std::string& db, IoStreams io, api::Experiment* out) {
  if (file.empty() && name.empty()) {
    io.err << "Error: Missing experiment: give -f FILE (or -f - to read standard input)\n";
    return kExitUsage;
  }
  absl::StatusOr<api::Experiment> e = ResolveExperiment(file, name, ns, db, io.in);
  if (!e.ok()) {
    io.err << "Error: " << e.status().message() << "\n";
    return kExitFailure;
  }
  *out = *std::move(e);
  return -1;
}

constexpr char kIter8ctlUsage[] =
    "Usage of describe:\n"
    "  -f string\n"
    "    \tabsolute path to experiment yaml file, or - for console input (stdin)\n";

}  // namespace

int Iter8ctlArgumentErrors(const std::vector<std::string>& args, std::ostream& err) {
  static const std::vector<std::string> kCommands = {"describe", "assert", "help",
                                                     "--help",   "-h",     "--version"};
  if (args.empty() || std::find(kCommands.begin(), kCommands.end(), args[0]) == kCommands.end()) {
    err << "expected 'describe' subcommand\n" << kIter8ctlUsage;
    return kExitUsage;
  }
  if (args[0] != "describe") return -1;
  if (args.size() == 1) {
    err << "Missing experiment\n" << kIter8ctlUsage;
    return kExitUsage;
  }
  static const std::vector<std::string> kFlags = {"f", "file", "n", "namespace", "db", "h", "help"};
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() < 2 || a[0] != '-') continue;
    size_t start = a.find_first_not_of('-');
    if (start == std::string::npos) continue;  // "--" ends the flags
    std::string name =
        a.substr(start, a.find('=') == std::string::npos ? std::string::npos : a.find('=') - start);
    if (std::find(kFlags.begin(), kFlags.end(), name) == kFlags.end()) {
      err << "flag provided but not defined: -" << name << "\n" << kIter8ctlUsage;
      return kExitUsage;
    }
  }
  return -1;
}

int RunDescribe(const DescribeOptions& options, IoStreams io) {
  api::Experiment e;
  if (int code =
          SelectExperiment(options.file, options.name, options.namespace_, options.db, io, &e);
      code >= 0)
    return code;
  io.out << Describe(e, DescribeFormatFor(e));
  return kExitOk;
}

int RunAssert(const AssertOptions& options, IoStreams io) {
  static const std::vector<std::string> kSupported = {"completed",          "noFailure",
                                                      "winnerFound",        "candidateWon",
                                                      "winnerIs=<version>", "targetAcquired"};
  if (options.conditions.empty()) {
    io.err << "Error: no condition given; use -c with one of: " << StrJoin(kSupported, ", ")
           << "\n";
    return kExitUsage;
  }
  for (const auto& c : options.conditions) {
    std::string l = Lower(c);
    if (l != "completed" && l != "nofailure" && l != "winnerfound" && l != "candidatewon" &&
        l != "targetacquired" && l.rfind("winneris=", 0) != 0) {
      io.err << "Error: unknown condition \"" << c << "\"; supported: " << StrJoin(kSupported, ", ")
             << "\n";
      return kExitUsage;
    }
  }
  api::Experiment experiment;
  if (int code = SelectExperiment(options.file, options.name, options.namespace_, options.db, io,
                                  &experiment);
      code >= 0) {
    return code;
  }
  const api::Experiment* e = &experiment;
  const auto& analysis = e->status.analysis;
  const bool winner_found =
      analysis && analysis->winner_assessment && analysis->winner_assessment->data.winner_found;
  const std::string winner = winner_found ? analysis->winner_assessment->data.winner : "";
  std::vector<std::string> failures;
  for (const auto& c : options.conditions) {
    std::string l = Lower(c);
    if (l == "completed") {
      if (!api::ConditionIsTrue(e->status, api::kConditionCompleted)) {
        failures.push_back(StrCat(
            "completed: experiment has not completed (stage ",
            e->status.stage ? std::string(api::ToString(*e->status.stage)) : "unknown", ")"));
      }
    } else if (l == "nofailure") {
      if (api::ConditionIsTrue(e->status, api::kConditionFailed)) {
        std::string why;
        for (const auto& cond : e->status.conditions) {
          if (cond.type == api::kConditionFailed) why = cond.reason + ": " + cond.message;
        }
        failures.push_back(StrCat("noFailure: experiment failed (", why, ")"));
      }
    } else if (l == "winnerfound") {
      if (!winner_found) failures.push_back("winnerFound: no winner found");
    } else if (l == "candidatewon") {
      bool candidate = false;
      if (winner_found && e->spec.version_info) {
        for (const auto& v : e->spec.version_info->candidates) candidate |= v.name == winner;
      }
      if (!candidate) {
        failures.push_back(winner_found
                               ? StrCat("candidateWon: the winner is the baseline (", winner, ")")
                               : "candidateWon: no winner found");
      }
    } else if (l == "targetacquired") {
      if (!api::ConditionIsTrue(e->status, api::kConditionTargetAcquired)) {
        failures.push_back("targetAcquired: experiment has not acquired its target");
      }
    } else {
      std::string want = c.substr(c.find('=') + 1);
      if (winner != want) {
        failures.push_back(
            StrCat("winnerIs=", want, ": the winner is ", winner_found ? winner : "not found"));
      }
    }
  }
  if (failures.empty()) {
    io.out << "All conditions satisfied.\n";
    return kExitOk;
  }
  for (const auto& f : failures) io.err << "Condition not satisfied: " << f << "\n";
  return kExitFailure;
}

int RunValidate(const ValidateOptions& options, IoStreams io) {
  if (options.files.empty()) {
    io.err << "Error: no input; give -f FILE (repeatable, - for standard input)\n";
    return kExitUsage;
  }
  int resources = 0, problems = 0;
  for (const std::string& file : options.files) {
    absl::StatusOr<std::vector<api::Document>> docs = ReadDocuments(file, io.in);
    if (!docs.ok()) {
      io.err << docs.status().message() << "\n";
      ++problems;
      continue;
    }
    for (const api::Document& doc : *docs) {
      const api::Json& j = doc.json;
      if (j.is_object() && j.contains("apiVersion") && j["apiVersion"].is_string() &&
          j["apiVersion"].get<std::string>().rfind(api::kGroup, 0) != 0) {
        const std::string kind = api::StringField(j, "kind");
        io.out << doc.Locate("") << ": skipped " << (kind.empty() ? "resource" : kind) << " ("
               << j["apiVersion"].get<std::string>() << " is not an iter8 API)\n";
        continue;
      }
      ++resources;
      absl::StatusOr<api::Resource> r = api::LoadResource(doc);
      if (!r.ok()) {
        for (const auto& line : StrSplit(std::string(r.status().message()), '\n')) {
          io.err << line << "\n";
          ++problems;
        }
        continue;
      }
      std::vector<api::FieldError> errors;
      std::string what;
      std::visit(
          [&](auto& res) {
            using T = std::decay_t<decltype(res)>;
            api::ApplyDefaults(&res);
            errors = api::Validate(res);
            what = StrCat(std::is_same_v<T, api::Experiment> ? "Experiment " : "Metric ",
                          res.metadata.namespace_.empty() ? "" : res.metadata.namespace_ + "/",
                          res.metadata.name);
          },
          *r);
      for (const auto& e : errors) io.err << doc.Describe(e) << "\n";
      problems += static_cast<int>(errors.size());
      if (errors.empty()) io.out << doc.Locate("") << ": " << what << ": valid\n";
    }
  }
  io.out << resources << " resource" << (resources == 1 ? "" : "s") << " checked, " << problems
         << " problem" << (problems == 1 ? "" : "s") << "\n";
  return problems == 0 ? kExitOk : kExitFailure;
}

int RunMetricGet(const MetricGetOptions& options, IoStreams io) {
  if (options.file.empty() || options.version.empty()) {
    io.err << "Error: give the metric with -f FILE and the version with --version NAME\n";
    return kExitUsage;
  }
  api::VersionDetail version;
  version.name = options.version;
  for (const auto& kv : options.vars) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      io.err << "Error: --var expects NAME=VALUE, got \"" << kv << "\"\n";
      return kExitUsage;
    }
    version.variables.push_back({kv.substr(0, eq), kv.substr(eq + 1), {}});
  }
  absl::StatusOr<std::vector<api::Document>> docs = ReadDocuments(options.file, io.in);
  if (!docs.ok()) {
    io.err << "Error: " << docs.status().message() << "\n";
    return kExitFailure;
  }
  std::optional<api::Metric> metric;
  for (const api::Document& doc : *docs) {
    if (api::StringField(doc.json, "kind") != "Metric") continue;
    absl::StatusOr<api::Metric> m = api::LoadMetric(doc);
    if (!m.ok()) {
      io.err << "Error: " << m.status().message() << "\n";
      return kExitFailure;
    }
    if (options.name.empty() || m->metadata.name == options.name) {
      metric = *m;
      break;
    }
  }
  if (!metric) {
    io.err << "Error: " << options.file << ": no Metric"
           << (options.name.empty() ? "" : " named \"" + options.name + "\"") << " in input\n";
    return kExitFailure;
  }
  api::ApplyDefaults(&*metric);
  const absl::Time now = absl::Now();
  metrics::QueryContext ctx{now - absl::Seconds(options.elapsed_seconds), now,
                            metric->api_version == api::kV2alpha1};
  if (!options.start.empty()) {
    absl::StatusOr<absl::Time> start = api::ParseRfc3339(options.start);
    if (!start.ok()) {
      io.err << "Error: --start: " << start.status().message() << "\n";
      return kExitUsage;
    }
    ctx.start = *start;
  }
  metrics::MetricResult result;
  if (!metric->spec.mock.empty()) {
    Mt19937Random random(static_cast<uint64_t>(absl::ToUnixNanos(now)));
    result = metrics::MockProvider(random).Query(*metric, version, ctx);
  } else if (std::vector<api::FieldError> bad; std::optional<api::CounterQueries> counters =
                                                   api::ParseCounterQueries(*metric, &bad)) {
    api::TestMethod method = api::InferTestMethod(metric->metadata.name, &*metric);
    if (!options.method.empty()) {
      std::optional<api::TestMethod> m = api::ParseTestMethod(options.method);
      if (!m) {
        io.err << "Error: --method: expected rate, mean, count or pNN, got \"" << options.method
               << "\"\n";
        return kExitUsage;
      }
      method = *m;
    }
    metrics::HttpClientOptions ho;
    ho.verify_tls = !options.insecure_skip_tls_verify;
    ho.ca_file = options.ca_file;
    ho.timeout = absl::Seconds(options.timeout_seconds);
    metrics::HttpClient client(ho);
    // One reading, differenced against the start: the counts an experiment started at --start
    // would have at its first iteration now.
    result = metrics::ReadCounters(client, *counters, method, version, ctx, api::Json()).result;
  } else if (!bad.empty()) {
    io.err << "Error: " << options.file << ": " << bad.front().pointer << ": "
           << bad.front().message << "\n";
    return kExitFailure;
  } else if (metric->spec.provider == "iter8") {
    result = metrics::MetricResult::Unavailable(
        "builtin metric: its values come from the traffic iter8 collects during an experiment");
  } else {
    metrics::HttpProviderOptions po;
    po.http.verify_tls = !options.insecure_skip_tls_verify;
    po.http.ca_file = options.ca_file;
    po.http.timeout = absl::Seconds(options.timeout_seconds);
    po.prometheus_url = options.prometheus_url;
    metrics::EnvSecretSource secrets;
    result = metrics::HttpProvider(po, &secrets).Query(*metric, version, ctx);
  }
  if (!result.request.empty()) io.out << "request: " << result.request << "\n";
  if (options.verbose && !result.response.empty())
    io.out << "response: " << result.response << "\n";
  if (!result.value) {
    io.out << "unavailable: " << result.unavailable << "\n";
    return kExitFailure;
  }
  io.out << "value: " << StrCat(*result.value) << "\n";
  if (result.sample_size) io.out << "sample size: " << StrCat(*result.sample_size) << "\n";
  return kExitOk;
}

}  // namespace iter8::cli
