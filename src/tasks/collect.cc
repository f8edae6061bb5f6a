// File: tasks/collect.cc
#include "tasks/collect.h"

#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/strings.h"
#include "loadgen/loadgen.h"
#include "metrics/http_client.h"

namespace iter8::tasks {
namespace {

using api::Json;

constexpr double kDefaultQps = 8;
constexpr int kDefaultConnections = 4;
constexpr size_t kMaxPayloadBytes = 16 << 20;

absl::Status Bad(const std::string& where, const std::string& what) {
  return absl::InvalidArgumentError(StrCat("with.", where, ": ", what));
}

struct Target {
  std::string name;
  loadgen::LoadOptions load;
};

absl::StatusOr<std::string> Payload(const Json& with, const TaskEnv& env) {
  int given = 0;
  for (const char* key : {"payloadStr", "payloadFile", "payloadURL"}) {
    if (!with.contains(key)) continue;
    if (!with[key].is_string()) return Bad(key, "must be a string");
    ++given;
  }
  if (given > 1) return Bad("payloadStr", "give one of payloadStr, payloadFile and payloadURL");
  if (with.contains("payloadStr")) return with["payloadStr"].get<std::string>();
  if (with.contains("payloadFile")) {
    const std::string path = with["payloadFile"].get<std::string>();
    std::ifstream in(path, std::ios::binary);
    if (!in) return Bad("payloadFile", StrCat("cannot read '", path, "'"));
    std::ostringstream body;
    body << in.rdbuf();
    if (body.str().size() > kMaxPayloadBytes) return Bad("payloadFile", "larger than 16 MiB");
    return body.str();
  }
  if (with.contains("payloadURL")) {
    metrics::HttpClientOptions o;
    o.timeout = std::min(env.timeout, absl::Seconds(30));
    o.max_response_bytes = kMaxPayloadBytes;
    metrics::HttpClient client(o);
    metrics::HttpRequest req;
    req.url = with["payloadURL"].get<std::string>();
    absl::StatusOr<metrics::HttpResponse> resp = client.Do(req);
    if (!resp.ok()) return Bad("payloadURL", std::string(resp.status().message()));
    if (resp->status != 200) return Bad("payloadURL", StrCat(req.url, ": HTTP ", resp->status));
    return resp->body;
  }
  return std::string();
}

absl::StatusOr<std::vector<Target>> Targets(const Json& with, const TaskEnv& env,
                                            const std::string& payload,
                                            std::chrono::milliseconds duration) {
  if (!with.contains("versions") || !with["versions"].is_array() || with["versions"].empty()) {
    return Bad("versions", "required: a list of {name, url}");
  }
  std::string content_type;
  if (with.contains("contentType")) {
    if (!with["contentType"].is_string()) return Bad("contentType", "must be a string");
    content_type = with["contentType"].get<std::string>();
  } else if (!payload.empty()) {
    content_type = "application/octet-stream";
  }
  std::vector<Target> targets;
  const Json& versions = with["versions"];
  for (size_t i = 0; i < versions.size(); ++i) {
    const std::string where = StrCat("versions[", i, "]");
    const Json& v = versions[i];
    if (!v.is_object()) return Bad(where, "must be a map with name and url");
    if (!v.contains("name") || !v["name"].is_string()) return Bad(where + ".name", "required");
    if (!v.contains("url") || !v["url"].is_string()) return Bad(where + ".url", "required");
    Target t;
    t.name = v["name"].get<std::string>();
    bool known = false;
    for (const api::VersionDetail* d : api::AllVersions(env.experiment->spec)) {
      known = known || d->name == t.name;
    }
    if (!known) {
      return Bad(where + ".name", StrCat("'", t.name, "' is not a version of the experiment"));
    }
    for (const Target& other : targets) {
      if (other.name == t.name) return Bad(where + ".name", StrCat("'", t.name, "' twice"));
    }
    t.load.url = v["url"].get<std::string>();
    t.load.rate = kDefaultQps;
    if (v.contains("qps")) {
      if (!v["qps"].is_number() || !(v["qps"].get<double>() >= 0) || v["qps"].get<double>() > 1e6) {
        return Bad(where + ".qps", "must be a number in [0, 1000000]");
      }
      t.load.rate = v["qps"].get<double>();
    }
    t.load.connections = kDefaultConnections;
    if (v.contains("connections")) {
      if (!v["connections"].is_number_integer() || v["connections"].get<int64_t>() < 1 ||
          v["connections"].get<int64_t>() > 10000) {
        return Bad(where + ".connections", "must be an integer in [1, 10000]");
      }
      t.load.connections = static_cast<int>(v["connections"].get<int64_t>());
    }
    if (v.contains("headers")) {
      if (!v["headers"].is_object()) return Bad(where + ".headers", "must be a map of strings");
      for (const auto& [k, h] : v["headers"].items()) {
        if (!h.is_string()) return Bad(StrCat(where, ".headers.", k), "must be a string");
        t.load.headers.emplace_back(k, h.get<std::string>());
      }
    }
    if (!content_type.empty()) t.load.headers.emplace_back("Content-Type", content_type);
    t.load.method = payload.empty() ? "GET" : "POST";
    t.load.body = payload;
    t.load.duration = duration;
    t.load.cancel = env.cancel;
    targets.push_back(std::move(t));
  }
  return targets;
}

}  // namespace

absl::Status CollectMetrics(const Json& with, const TaskEnv& env) {
  if (!with.is_object()) return absl::InvalidArgumentError("with: must be a map");
  absl::Duration time = absl::Seconds(5);
  if (with.contains("time")) {
    if (!with["time"].is_string() || !absl::ParseDuration(with["time"].get<std::string>(), &time) ||
        time <= absl::ZeroDuration()) {
      return Bad("time", "must be a positive duration such as \"5s\", \"500ms\" or \"1m30s\"");
    }
  }
  if (time >= env.timeout) {
    return Bad("time", StrCat("is not shorter than the task timeout (",
                              absl::FormatDuration(env.timeout), ")"));
  }
  bool load_only = false;
  if (with.contains("loadOnly")) {
    if (!with["loadOnly"].is_boolean()) return Bad("loadOnly", "must be true or false");
    load_only = with["loadOnly"].get<bool>();
  }
  if (!load_only && !env.store_builtin_hists) {
    return absl::FailedPreconditionError("no place to store collected metrics");
  }
  absl::StatusOr<std::string> payload = Payload(with, env);
  if (!payload.ok()) return payload.status();
  absl::StatusOr<std::vector<Target>> targets =
      Targets(with, env, *payload, std::chrono::milliseconds(absl::ToInt64Milliseconds(time)));
  if (!targets.ok()) return targets.status();

  std::vector<absl::StatusOr<loadgen::LoadReport>> reports(targets->size());
  {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < targets->size(); ++i) {
      threads.emplace_back([&, i] { reports[i] = loadgen::RunLoad((*targets)[i].load); });
    }
    for (std::thread& t : threads) t.join();
  }
  if (env.cancel != nullptr && env.cancel->load()) {
    return absl::CancelledError("metrics/collect: iter8 is stopping");
  }
  Json hists = {{"data", Json::object()}};
  for (size_t i = 0; i < targets->size(); ++i) {
    const Target& t = (*targets)[i];
    if (!reports[i].ok()) {
      return absl::Status(reports[i].status().code(), StrCat("versions[", i, "] (", t.name,
                                                             "): ", reports[i].status().message()));
    }
    const loadgen::LoadReport& r = *reports[i];
    env.log(StrCat(t.name, ": ", r.requests, " requests to ", t.load.url, ", ", r.errors,
                   " errors, mean ", absl::StrFormat("%.2f", r.latency.Mean() / 1000.0), " ms"));
    hists["data"][t.name] = Json::parse(r.FortioResult());
  }
  if (load_only) return absl::OkStatus();
  return env.store_builtin_hists(hists);
}

}  // namespace iter8::tasks
