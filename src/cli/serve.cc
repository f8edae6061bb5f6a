// File: cli/serve.cc
#include "cli/serve.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "absl/strings/ascii.h"
#include "api/document.h"
#include "api/load.h"
#include "api/validate.h"
#include "cli/dataplane.h"
#include "cli/input.h"
#include "cli/local.h"
#include "common/strings.h"
#include "loadgen/loadgen.h"
#include "modelserver/model_server.h"
#include "proxy/route.h"

namespace iter8::cli {
namespace {

using api::Json;

std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop = true; }

// Blocks until SIGINT or SIGTERM.
void WaitForSignal() {
  g_stop = false;
  auto previous_int = std::signal(SIGINT, OnStopSignal);
  auto previous_term = std::signal(SIGTERM, OnStopSignal);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::signal(SIGINT, previous_int);
  std::signal(SIGTERM, previous_term);
}

absl::StatusOr<std::chrono::milliseconds> Duration(const std::string& flag,
                                                   const std::string& text) {
  auto d = proxy::ParseDuration(text);
  if (!d.ok()) return absl::InvalidArgumentError(StrCat(flag, ": ", d.status().message()));
  return *d;
}

const char kIrisInstance[] = R"({"instances": [[6.8, 2.8, 4.8, 1.4]]})";

}  // namespace

int RunProxyCommand(const ProxyOptions& options, IoStreams io) {
  absl::StatusOr<std::vector<api::Document>> docs = ReadDocuments(options.file, io.in);
  if (!docs.ok()) {
    io.err << "Error: " << docs.status().message() << "\n";
    return kExitFailure;
  }
  const api::Document* route_doc = nullptr;
  for (const api::Document& d : *docs) {
    if (api::StringField(d.json, "kind") == proxy::kRouteKind) {
      if (route_doc != nullptr) {
        io.err << "Error: " << options.file << ": more than one Route; give one per proxy\n";
        return kExitFailure;
      }
      route_doc = &d;
    }
  }
  if (route_doc == nullptr) {
    io.err << "Error: " << options.file << ": no Route (apiVersion " << proxy::kRouteApiVersion
           << ", kind Route)\n";
    return kExitFailure;
  }
  absl::StatusOr<proxy::RouteSpec> spec = proxy::ParseRoute(route_doc->json);
  if (!spec.ok()) {
    io.err << "Error: " << route_doc->Locate("") << ": " << spec.status().message() << "\n";
    return kExitFailure;
  }
  proxy::Proxy p(proxy::ProxyOptions{.workers = options.workers});
  if (absl::Status st = p.Start(*spec); !st.ok()) {
    io.err << "Error: " << st.message() << "\n";
    return kExitFailure;
  }
  io.out << "Route " << spec->namespace_ << "/" << spec->name << " serving on http://"
         << p.ListenAddress().String();
  if (p.AdminAddress()) io.out << " (admin http://" << p.AdminAddress()->String() << ")";
  io.out << "\n";
  for (const auto& v : spec->versions) {
    io.out << "  " << v.name << " " << v.weight << " % -> " << v.backends.front().Origin()
           << v.backends.front().target << "\n";
  }
  io.out.flush();
  WaitForSignal();
  p.Stop();
  return kExitOk;
}

int RunModelServerCommand(const ModelServerOptions& options, IoStreams io) {
  absl::StatusOr<net::HostPort> address = net::ParseHostPort(options.listen);
  if (!address.ok()) {
    io.err << "Error: --listen: " << address.status().message() << "\n";
    return kExitFailure;
  }
  absl::StatusOr<modelserver::LinearModel> model = modelserver::LoadModel(options.model);
  if (!model.ok()) {
    io.err << "Error: --model: " << model.status().message() << "\n";
    return kExitFailure;
  }
  absl::StatusOr<modelserver::LatencyDistribution> dist =
      modelserver::ParseLatencyDistribution(options.distribution);
  if (!dist.ok()) {
    io.err << "Error: --latency-distribution: " << dist.status().message() << "\n";
    return kExitFailure;
  }
  modelserver::ModelServerOptions mo;
  mo.model_name = options.name;
  mo.model = *model;
  mo.latency_ms = options.latency_ms;
  mo.distribution = *dist;
  mo.error_rate = options.error_rate;
  mo.threads = options.threads;
  mo.seed = options.seed;
  modelserver::ModelServer server(mo);
  if (absl::Status st = server.Start(*address); !st.ok()) {
    io.err << "Error: " << st.message() << "\n";
    return kExitFailure;
  }
  const std::string base = StrCat("http://", server.Address().String());
  io.out << "model " << options.name << " (" << model->name << ") serving on " << base << "\n"
         << "  POST " << base << "/v1/models/" << options.name << ":predict\n"
         << "  POST " << base << "/v2/models/" << options.name << "/infer\n";
  io.out.flush();
  WaitForSignal();
  server.Stop();
  return kExitOk;
}

int RunLoadCommand(const LoadCommandOptions& options, IoStreams io) {
  loadgen::LoadOptions lo;
  lo.url = options.url;
  lo.method = options.method;
  for (const std::string& h : options.headers) {
    size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0) {
      io.err << "Error: -H \"" << h << "\": expected 'Name: value'\n";
      return kExitFailure;
    }
    std::string value = h.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    lo.headers.emplace_back(h.substr(0, colon), value);
  }
  if (!options.data.empty() && !options.body_file.empty()) {
    io.err << "Error: give -d or --body-file, not both\n";
    return kExitFailure;
  }
  lo.body = options.data;
  if (!options.body_file.empty()) {
    absl::StatusOr<std::string> body = ReadInput(options.body_file, io.in);
    if (!body.ok()) {
      io.err << "Error: --body-file: " << body.status().message() << "\n";
      return kExitFailure;
    }
    lo.body = *body;
  }
  if (!lo.body.empty() && lo.method == "GET") lo.method = "POST";
  bool has_type = false;
  for (const auto& [k, v] : lo.headers) has_type |= absl::AsciiStrToLower(k) == "content-type";
  if (!lo.body.empty() && !has_type) lo.headers.emplace_back("Content-Type", "application/json");
  if (!options.duration.empty()) {
    auto d = Duration("--duration", options.duration);
    if (!d.ok()) {
      io.err << "Error: " << d.status().message() << "\n";
      return kExitFailure;
    }
    lo.duration = *d;
  }
  auto t = Duration("--timeout", options.timeout);
  if (!t.ok()) {
    io.err << "Error: " << t.status().message() << "\n";
    return kExitFailure;
  }
  lo.timeout = *t;
  lo.count = options.count;
  lo.rate = options.rate;
  lo.connections = options.connections;
  const bool terminal = options.progress && ::isatty(STDERR_FILENO) == 1;
  std::atomic<bool> cancel{false};
  lo.cancel = &cancel;
  if (terminal) {
    lo.progress = [&io](const loadgen::LoadReport& r) {
      char line[160];
      std::snprintf(line, sizeof line, "\r%6.1f s  %8llu requests  %8.1f req/s  %llu errors   ",
                    r.seconds, static_cast<unsigned long long>(r.requests), r.Throughput(),
                    static_cast<unsigned long long>(r.errors));
      io.err << line << std::flush;
    };
  }
  g_stop = false;
  auto previous_int = std::signal(SIGINT, OnStopSignal);
  std::thread watcher([&] {
    while (!cancel) {
      if (g_stop) cancel = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  absl::StatusOr<loadgen::LoadReport> report = loadgen::RunLoad(lo);
  bool interrupted = g_stop;
  cancel = true;
  watcher.join();
  std::signal(SIGINT, previous_int);
  if (terminal) io.err << "\n";
  if (!report.ok()) {
    io.err << "Error: " << report.status().message() << "\n";
    return kExitFailure;
  }
  io.out << (options.output == "json" ? report->Json() : report->Table());
  return interrupted ? 130 : kExitOk;
}

int RunQuickstart(const QuickstartOptions& given, IoStreams io) {
  QuickstartOptions options = given;
  if (options.rate == 0) options.rate = options.engine == "sequential" ? 200 : 40;
  if (options.rate <= 0 || options.interval_seconds < 1 || options.iterations < 1 ||
      options.canary_error_rate < 0 || options.canary_error_rate > 1 ||
      options.canary_latency_ms < 0) {
    io.err << "Error: --rate, --interval and --iterations must be positive, "
              "--canary-error-rate in [0, 1], --canary-latency-ms >= 0\n";
    return kExitFailure;
  }
  // The two versions of the model.
  auto start_server = [&](const char* model, double latency_ms, double error_rate, uint64_t seed,
                          modelserver::LatencyDistribution distribution)
      -> std::unique_ptr<modelserver::ModelServer> {
    modelserver::ModelServerOptions mo;
    mo.model = *modelserver::LoadModel(model);
    mo.latency_ms = latency_ms;
    mo.distribution = distribution;
    mo.error_rate = error_rate;
    mo.threads = 2;
    mo.seed = seed;
    auto s = std::make_unique<modelserver::ModelServer>(mo);
    if (absl::Status st = s->Start({"127.0.0.1", 0}); !st.ok()) {
      io.err << "Error: model server: " << st.message() << "\n";
      return nullptr;
    }
    return s;
  };
  // A latency the user asks for is constant: with a long-tailed distribution the slow answers
  // of a short run would still be in flight at its end, and a bad canary could look good.
  const bool slow_canary = options.canary_latency_ms != QuickstartOptions().canary_latency_ms;
  std::unique_ptr<modelserver::ModelServer> baseline =
      start_server("iris-v1", 5, 0, 1, modelserver::LatencyDistribution::kExponential);
  std::unique_ptr<modelserver::ModelServer> canary =
      start_server("iris-v2", options.canary_latency_ms, options.canary_error_rate, 2,
                   slow_canary ? modelserver::LatencyDistribution::kConstant
                               : modelserver::LatencyDistribution::kExponential);
  if (!baseline || !canary) return kExitFailure;

  // The samples with this run's ports and settings.
  std::vector<Json> objects;
  for (const char* name : {"route.yaml", "metrics.yaml", "experiment.yaml"}) {
    auto docs = api::ParseDocuments(QuickstartSample(name), StrCat("samples/quickstart/", name));
    if (!docs.ok()) {
      io.err << "Error: " << docs.status().message() << "\n";
      return kExitFailure;
    }
    for (const api::Document& d : *docs) objects.push_back(d.json);
  }
  for (Json& o : objects) {
    if (o["kind"] == proxy::kRouteKind) {
      o["spec"]["listen"] = "127.0.0.1:0";
      o["spec"]["admin"] = "127.0.0.1:0";
      o["spec"]["versions"][0]["backend"] = StrCat("http://", baseline->Address().String());
      o["spec"]["versions"][1]["backend"] = StrCat("http://", canary->Address().String());
    } else if (o["kind"] == "Experiment") {
      o["spec"]["duration"]["intervalSeconds"] = options.interval_seconds;
      o["spec"]["duration"]["iterationsPerLoop"] = options.iterations;
      if (options.engine != "classic") {
        o["spec"]["criteria"]["strength"] = Json{{"engine", options.engine}};
      }
      absl::StatusOr<api::Experiment> e =
          api::LoadExperiment(o, "samples/quickstart/experiment.yaml");
      if (!e.ok()) {
        io.err << "Error: " << e.status().message() << "\n";
        return kExitFailure;
      }
      std::vector<api::FieldError> problems = api::Validate(*e);
      for (const api::FieldError& p : problems) {
        io.err << "Error: experiment.yaml: " << p.pointer << ": " << p.message << "\n";
      }
      if (!problems.empty()) return kExitFailure;
    }
  }

  // A fresh store unless the user names one.
  std::filesystem::path temp_dir;
  RunOptions run;
  run.seed = options.seed;
  run.quiet = options.quiet;
  run.db = options.db;
  if (run.db.empty()) {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "iter8-quickstart-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      io.err << "Error: cannot create a temporary directory\n";
      return kExitFailure;
    }
    temp_dir = tmpl;
    run.db = (temp_dir / "iter8.db").string();
  }
  struct Cleanup {
    std::filesystem::path dir;
    ~Cleanup() {
      std::error_code ec;
      if (!dir.empty()) std::filesystem::remove_all(dir, ec);
    }
  } cleanup{temp_dir};

  io.out << "iter8 quickstart: a canary experiment on live traffic\n"
         << "  default model (iris-v1) at http://" << baseline->Address().String() << "\n"
         << "  canary model  (iris-v2) at http://" << canary->Address().String();
  if (options.canary_error_rate > 0 || slow_canary) {
    io.out << " (mean latency " << options.canary_latency_ms << " ms, error rate "
           << options.canary_error_rate << ")";
  }
  io.out << "\n  objectives: mean-latency <= 1000 ms, error-rate <= 0.01; " << options.iterations
         << " iterations of " << options.interval_seconds << " s\n";

  std::atomic<bool> stop_load{false};
  std::thread load;
  std::string url, final_line;
  absl::StatusOr<loadgen::LoadReport> load_report = absl::UnknownError("load did not run");
  proxy::Proxy* served = nullptr;
  LocalDataPlane* plane = nullptr;
  RunHooks hooks;
  hooks.serving = [&](LocalDataPlane& dp) -> absl::Status {
    plane = &dp;
    served = dp.Find("default", "iris");
    if (served == nullptr) return absl::InternalError("the quickstart Route is not served");
    url = StrCat("http://", served->ListenAddress().String(), "/v1/models/iris:predict");
    io.out << "  load: " << options.rate << " requests/s to POST " << url << "\n";
    io.out.flush();
    load = std::thread([&] {
      loadgen::LoadOptions lo;
      lo.url = url;
      lo.method = "POST";
      lo.headers = {{"Content-Type", "application/json"}};
      lo.body = kIrisInstance;
      lo.rate = options.rate;
      lo.duration = std::chrono::hours(24);
      lo.connections = 32;
      lo.cancel = &stop_load;
      load_report = loadgen::RunLoad(lo);
    });
    return absl::OkStatus();
  };
  hooks.finished = [&] {
    stop_load = true;
    if (load.joinable()) load.join();
    if (served == nullptr) return;
    plane->Sync();  // the finish action's last weights, not the watcher's previous pass
    proxy::RouteSpec route = served->Route();
    int64_t prev = 0, latest = 0;
    for (const auto& v : route.versions) (v.name == "default" ? prev : latest) = v.weight;
    char line[512];
    std::snprintf(line, sizeof line, "%-6s %-28s %-6s %-5s %-7s %-22s %s\n", "NAME", "URL", "READY",
                  "PREV", "LATEST", "PREVROLLEDOUTREVISION", "LATESTREADYREVISION");
    final_line = line;
    std::snprintf(line, sizeof line, "%-6s %-28s %-6s %-5lld %-7lld %-22s %s\n", "iris",
                  StrCat("http://", served->ListenAddress().String()).c_str(), "True",
                  static_cast<long long>(prev), static_cast<long long>(latest), "default",
                  "canary");
    final_line += line;
    for (const auto& t : served->Traffic()) {
      final_line += StrCat("  ", t.name, ": ", std::to_string(t.Requests()), " requests, ",
                           std::to_string(t.Errors()), " errors\n");
    }
  };
  int code = RunObjects(objects, run, io, hooks);
  if (load.joinable()) {  // RunObjects failed before `finished`
    stop_load = true;
    load.join();
  }
  baseline->Stop();
  canary->Stop();
  if (code == 130) return code;
  if (load_report.ok()) {
    io.out << "\nLoad generator (all versions, through the proxy):\n" << load_report->Table();
  }
  if (served != nullptr) {
    io.out << "\n";
    DescribeOptions d;
    d.name = "quickstart";
    d.db = run.db;
    RunDescribe(d, io);
    io.out << "\n" << final_line;
  }
  if (!options.db.empty()) {
    io.out << "\nThe experiment stays in " << options.db << ": iter8 report quickstart --db "
           << options.db << "\n";
  }
  return code;
}

}  // namespace iter8::cli
