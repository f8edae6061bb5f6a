// File: modelserver/model_server.cc
#include "modelserver/model_server.h"

#include <random>

#include "absl/strings/str_join.h"
#include "common/strings.h"
#include "nlohmann/json.hpp"

namespace iter8::modelserver {
namespace {

net::HttpResponse JsonReply(unsigned status, const nlohmann::json& body) {
  net::HttpResponse r;
  r.status = status;
  r.body = body.dump();
  return r;
}

net::HttpResponse Error(unsigned status, const std::string& message) {
  return JsonReply(status, {{"error", message}});
}

// Reads one instance of `width` finite numbers.
bool ReadInstance(const nlohmann::json& row, size_t width, std::vector<double>& out) {
  if (!row.is_array() || row.size() != width) return false;
  out.clear();
  for (const auto& v : row) {
    if (!v.is_number() || !std::isfinite(v.get<double>())) return false;
    out.push_back(v.get<double>());
  }
  return true;
}

}  // namespace

absl::StatusOr<LatencyDistribution> ParseLatencyDistribution(const std::string& text) {
  if (text == "constant") return LatencyDistribution::kConstant;
  if (text == "exponential") return LatencyDistribution::kExponential;
  if (text == "uniform") return LatencyDistribution::kUniform;
  return absl::InvalidArgumentError(
      StrCat("latency distribution \"", text, "\": expected constant, exponential or uniform"));
}

ModelServer::ModelServer(ModelServerOptions options) : options_(std::move(options)) {}

absl::Status ModelServer::Start(const net::HostPort& address) {
  server_ = std::make_unique<net::HttpServer>(
      [this](const net::HttpRequest& r) { return HandleRequest(r); }, options_.threads);
  return server_->Start(address);
}

void ModelServer::Stop() {
  if (server_) server_->Stop();
}

net::HostPort ModelServer::Address() const {
  return server_ ? server_->Address() : net::HostPort{};
}

std::chrono::microseconds ModelServer::DrawLatency() {
  if (options_.latency_ms <= 0) return std::chrono::microseconds(0);
  thread_local std::mt19937_64 rng(options_.seed * 1000003 +
                                   thread_seq_.fetch_add(1, std::memory_order_relaxed));
  double ms = options_.latency_ms;
  switch (options_.distribution) {
    case LatencyDistribution::kConstant:
      break;
    case LatencyDistribution::kExponential:
      ms = std::exponential_distribution<double>(1.0 / options_.latency_ms)(rng);
      break;
    case LatencyDistribution::kUniform:
      ms = std::uniform_real_distribution<double>(0, 2 * options_.latency_ms)(rng);
      break;
  }
  return std::chrono::microseconds(static_cast<int64_t>(ms * 1000));
}

bool ModelServer::DrawError() {
  if (options_.error_rate <= 0) return false;
  thread_local std::mt19937_64 rng(options_.seed * 7919 +
                                   thread_seq_.fetch_add(1, std::memory_order_relaxed));
  return std::uniform_real_distribution<double>(0, 1)(rng) < options_.error_rate;
}

net::HttpResponse ModelServer::HandleRequest(const net::HttpRequest& request) {
  std::string path = request.target.substr(0, request.target.find('?'));
  const std::string& name = options_.model_name;
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  if (path == "/v1/models/" + name + ":predict" || path == "/v2/models/" + name + "/infer") {
    if (!post) return Error(405, "use POST");
    return Infer(request, path[2] == '2');
  }
  if (get && (path == "/v2/health/live" || path == "/v2/health/ready")) {
    return JsonReply(200, {{path == "/v2/health/live" ? "live" : "ready", true}});
  }
  if (get && path == "/v1/models/" + name) return JsonReply(200, {{"name", name}, {"ready", true}});
  if (get && path == "/v2/models/" + name + "/ready") {
    return JsonReply(200, {{"name", name}, {"ready", true}});
  }
  if (get && path == "/v2/models/" + name) {
    return JsonReply(
        200, {{"name", name},
              {"versions", {options_.model.name}},
              {"platform", "iter8-sample"},
              {"inputs",
               {{{"name", "input-0"},
                 {"datatype", "FP64"},
                 {"shape", {-1, static_cast<int>(options_.model.features.size())}}}}},
              {"outputs", {{{"name", "output-0"}, {"datatype", "INT64"}, {"shape", {-1}}}}}});
  }
  if (path.rfind("/v1/models/", 0) == 0 || path.rfind("/v2/models/", 0) == 0) {
    return Error(404, StrCat("no model at ", path, "; this server serves \"", name, "\""));
  }
  return Error(404, StrCat("no such endpoint: ", path));
}

net::HttpResponse ModelServer::Infer(const net::HttpRequest& request, bool v2) {
  inferences_.fetch_add(1, std::memory_order_relaxed);
  auto delay = DrawLatency();
  auto reply = [&](net::HttpResponse r) {
    r.delay = delay;
    return r;
  };
  if (DrawError()) return reply(Error(500, "injected failure"));
  auto body = nlohmann::json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return reply(Error(400, "body is not a JSON object"));
  const size_t width = options_.model.features.size();
  std::vector<double> instance;
  std::vector<int> predictions;
  if (!v2) {
    if (!body.contains("instances") || !body["instances"].is_array() || body["instances"].empty()) {
      return reply(Error(400, "\"instances\" must be a non-empty list"));
    }
    for (size_t i = 0; i < body["instances"].size(); ++i) {
      if (!ReadInstance(body["instances"][i], width, instance)) {
        return reply(Error(400, StrCat("instances[", std::to_string(i), "] must be a list of ",
                                       std::to_string(width), " numbers (",
                                       absl::StrJoin(options_.model.features, ", "), ")")));
      }
      predictions.push_back(options_.model.Predict(instance));
    }
    return reply(JsonReply(200, {{"predictions", predictions}}));
  }
  if (!body.contains("inputs") || !body["inputs"].is_array() || body["inputs"].size() != 1 ||
      !body["inputs"][0].is_object()) {
    return reply(Error(400, "\"inputs\" must be a list of one tensor"));
  }
  const auto& t = body["inputs"][0];
  if (!t.contains("shape") || !t["shape"].is_array() || t["shape"].size() != 2 ||
      !t["shape"][0].is_number_unsigned() || !t["shape"][1].is_number_unsigned() ||
      t["shape"][1].get<size_t>() != width || t["shape"][0].get<size_t>() == 0) {
    return reply(Error(400, StrCat("inputs[0].shape must be [N, ", std::to_string(width), "]")));
  }
  size_t n = t["shape"][0].get<size_t>();
  const nlohmann::json data = t.contains("data") ? t["data"] : nlohmann::json();
  nlohmann::json flat = nlohmann::json::array();
  if (data.is_array()) {
    for (const auto& v : data) {
      if (v.is_array()) {
        for (const auto& x : v) flat.push_back(x);
      } else {
        flat.push_back(v);
      }
    }
  }
  if (flat.size() != n * width) {
    return reply(Error(
        400, StrCat("inputs[0].data must hold ", std::to_string(n * width), " numbers for shape [",
                    std::to_string(n), ", ", std::to_string(width), "]")));
  }
  for (size_t i = 0; i < n; ++i) {
    nlohmann::json row(flat.begin() + static_cast<long>(i * width),
                       flat.begin() + static_cast<long>((i + 1) * width));
    if (!ReadInstance(row, width, instance)) {
      return reply(Error(400, "inputs[0].data must hold finite numbers"));
    }
    predictions.push_back(options_.model.Predict(instance));
  }
  return reply(JsonReply(
      200,
      {{"model_name", options_.model_name},
       {"model_version", options_.model.name},
       {"id", body.contains("id") && body["id"].is_string() ? body["id"].get<std::string>() : ""},
       {"outputs",
        {{{"name", "output-0"}, {"shape", {n}}, {"datatype", "INT64"}, {"data", predictions}}}}}));
}

}  // namespace iter8::modelserver
