// File: k8s/client.cc
#include "k8s/client.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/time/clock.h"
#include "common/strings.h"

namespace iter8::k8s {
namespace {

std::string GroupVersionPath(const std::string& group, const std::string& version) {
  return group.empty() ? StrCat("/api/", version) : StrCat("/apis/", group, "/", version);
}

bool Retryable(const absl::Status& s) { return absl::IsUnavailable(s); }

}  // namespace

absl::Status StatusFromResponse(long code, const std::string& body) {
  const Json j = Json::parse(body, nullptr, false);
  std::string message = body.substr(0, 300);
  std::string reason;
  if (j.is_object() && j.value("kind", std::string()) == "Status") {
    message = j.value("message", message);
    reason = j.value("reason", std::string());
  }
  message = StrCat("HTTP ", code, reason.empty() ? "" : StrCat(" ", reason), ": ", message);
  switch (code) {
    case 400:
    case 415:  // a patch type the server does not take
    case 422:
      return absl::InvalidArgumentError(message);
    case 401:
    case 403:
      return absl::PermissionDeniedError(message);
    case 404:
      return absl::NotFoundError(message);
    case 409:
      return reason == "AlreadyExists" ? absl::AlreadyExistsError(message)
                                       : absl::AbortedError(message);
    case 410:
      return absl::OutOfRangeError(message);
    default:
      if (code == 429 || code >= 500) return absl::UnavailableError(message);
      return absl::UnknownError(message);
  }
}

Client::Client(ClusterConfig config, ClientOptions options)
    : config_(std::move(config)),
      options_(options),
      http_([&] {
        http::HttpClientOptions o = config_.http;
        o.timeout = options.timeout;
        o.max_response_bytes = 256 << 20;
        return o;
      }()),
      tokens_(options.burst),
      refilled_(absl::Now()) {}

int64_t Client::Requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

int64_t Client::Errors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return errors_;
}

void Client::Pace() {
  // Token bucket: `burst` at most, refilled at `qps`. Called with mu_ held.
  const absl::Time now = absl::Now();
  tokens_ = std::min<double>(options_.burst,
                             tokens_ + absl::ToDoubleSeconds(now - refilled_) * options_.qps);
  refilled_ = now;
  if (tokens_ < 1) {
    absl::SleepFor(absl::Seconds((1 - tokens_) / options_.qps));
    tokens_ = 1;
    refilled_ = absl::Now();
  }
  tokens_ -= 1;
}

http::HttpRequest Client::Request(const std::string& method, const std::string& path) const {
  http::HttpRequest req;
  req.method = method;
  req.url = config_.server + path;
  req.headers = {{"Accept", "application/json"}, {"User-Agent", "iter8-controller"}};
  req.bearer_token = config_.token;
  if (!config_.token_file.empty()) {  // re-read: service-account tokens rotate
    std::ifstream in(config_.token_file);
    std::ostringstream s;
    s << in.rdbuf();
    req.bearer_token = s.str();
    while (!req.bearer_token.empty() &&
           isspace(static_cast<unsigned char>(req.bearer_token.back()))) {
      req.bearer_token.pop_back();
    }
  }
  return req;
}

absl::StatusOr<Json> Client::Call(http::HttpRequest request) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Duration backoff = options_.backoff;
  absl::Status last;
  for (int attempt = 0; attempt <= options_.retries; ++attempt) {
    if (attempt > 0) {
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(2));
    }
    Pace();
    ++requests_;
    absl::StatusOr<http::HttpResponse> resp = http_.Do(request);
    if (!resp.ok()) {
      ++errors_;
      last = absl::UnavailableError(
          StrCat(request.method, " ", request.url, ": ", resp.status().message()));
      continue;
    }
    if (resp->status >= 200 && resp->status < 300) {
      Json j = Json::parse(resp->body, nullptr, false);
      if (j.is_discarded()) {
        return absl::InternalError(StrCat(request.method, " ", request.url, ": reply is not JSON"));
      }
      return j;
    }
    ++errors_;
    last = StatusFromResponse(resp->status, resp->body);
    if (!Retryable(last)) return last;
  }
  return last;
}

absl::StatusOr<Resource> Client::Discover(const std::string& api_version, const std::string& kind) {
  const size_t slash = api_version.find('/');
  const std::string group = slash == std::string::npos ? "" : api_version.substr(0, slash);
  const std::string version =
      slash == std::string::npos ? api_version : api_version.substr(slash + 1);
  const std::string key = StrCat(group, "/", version, "/", kind);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = discovered_.find(key);
    if (it != discovered_.end()) return it->second;
  }
  absl::StatusOr<Json> list = Call(Request("GET", GroupVersionPath(group, version)));
  if (!list.ok()) {
    if (absl::IsNotFound(list.status())) {
      return absl::NotFoundError(StrCat("the server has no API ", api_version));
    }
    return list.status();
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (list->contains("resources") && (*list)["resources"].is_array()) {
    for (const Json& r : (*list)["resources"]) {
      const std::string name = r.value("name", std::string());
      if (name.find('/') != std::string::npos) continue;  // subresources
      Resource res{group, version, name, r.value("kind", std::string()),
                   r.value("namespaced", true)};
      discovered_[StrCat(group, "/", version, "/", res.kind)] = res;
    }
  }
  auto it = discovered_.find(key);
  if (it == discovered_.end()) {
    return absl::NotFoundError(StrCat("no kind ", kind, " in ", api_version));
  }
  return it->second;
}

std::string Client::Path(const Resource& r, const std::string& ns, const std::string& name,
                         bool status) const {
  std::string p = GroupVersionPath(r.group, r.version);
  if (r.namespaced && !ns.empty()) p += StrCat("/namespaces/", ns);
  p += StrCat("/", r.plural);
  if (!name.empty()) p += StrCat("/", name);
  if (status) p += "/status";
  return p;
}

absl::StatusOr<Json> Client::Get(const Resource& r, const std::string& ns,
                                 const std::string& name) {
  return Call(Request("GET", Path(r, ns, name)));
}

absl::StatusOr<std::vector<Json>> Client::List(const Resource& r, const std::string& ns,
                                               std::string* resource_version,
                                               const std::string& label_selector, int page_size) {
  std::vector<Json> items;
  std::string next;
  do {
    http::HttpRequest req = Request("GET", Path(r, ns));
    req.query.emplace_back("limit", StrCat(page_size));
    if (!next.empty()) req.query.emplace_back("continue", next);
    if (!label_selector.empty()) req.query.emplace_back("labelSelector", label_selector);
    absl::StatusOr<Json> page = Call(req);
    if (!page.ok()) return page.status();
    if (page->contains("items") && (*page)["items"].is_array()) {
      for (Json& item : (*page)["items"]) items.push_back(std::move(item));
    }
    const Json meta = page->value("metadata", Json::object());
    next = meta.value("continue", std::string());
    if (resource_version != nullptr)
      *resource_version = meta.value("resourceVersion", std::string());
  } while (!next.empty());
  return items;
}

absl::StatusOr<Json> Client::Create(const Resource& r, const std::string& ns, const Json& object) {
  http::HttpRequest req = Request("POST", Path(r, ns));
  req.body = object.dump();
  return Call(req);
}

absl::StatusOr<Json> Client::Update(const Resource& r, const Json& object, bool status) {
  const Json meta = object.value("metadata", Json::object());
  http::HttpRequest req = Request("PUT", Path(r, meta.value("namespace", std::string()),
                                              meta.value("name", std::string()), status));
  req.body = object.dump();
  return Call(req);
}

absl::StatusOr<Json> Client::Patch(const Resource& r, const std::string& ns,
                                   const std::string& name, PatchType type, const Json& patch,
                                   bool status) {
  http::HttpRequest req = Request("PATCH", Path(r, ns, name, status));
  req.content_type =
      type == PatchType::kJson ? "application/json-patch+json" : "application/merge-patch+json";
  req.body = patch.dump();
  return Call(req);
}

absl::Status Client::Delete(const Resource& r, const std::string& ns, const std::string& name) {
  return Call(Request("DELETE", Path(r, ns, name))).status();
}

absl::Status Client::Watch(
    const Resource& r, const std::string& ns, const std::string& resource_version,
    const std::function<bool(const std::string& type, const Json& object)>& on_event,
    int timeout_seconds, const std::string& label_selector, const std::atomic<bool>* cancel) {
  http::HttpClientOptions o = config_.http;
  o.timeout = absl::Seconds(timeout_seconds + 10);
  http::HttpClient client(o);
  http::HttpRequest req = Request("GET", Path(r, ns));
  req.query = {{"watch", "true"},
               {"allowWatchBookmarks", "true"},
               {"timeoutSeconds", StrCat(timeout_seconds)}};
  if (!resource_version.empty()) req.query.emplace_back("resourceVersion", resource_version);
  if (!label_selector.empty()) req.query.emplace_back("labelSelector", label_selector);
  req.cancel = cancel;
  std::string buffer;
  absl::Status result;
  bool stopped = false;
  req.on_data = [&](std::string_view data) {
    buffer.append(data);
    for (size_t nl = buffer.find('\n'); nl != std::string::npos; nl = buffer.find('\n')) {
      const Json event = Json::parse(buffer.substr(0, nl), nullptr, false);
      buffer.erase(0, nl + 1);
      if (event.is_object() && event.value("kind", std::string()) == "Status") {
        result = StatusFromResponse(event.value("code", 500), event.dump());
        return false;
      }
      if (!event.is_object() || !event.contains("type") || !event.contains("object")) {
        result = absl::InternalError("malformed watch event");
        return false;
      }
      const std::string type = event["type"].get<std::string>();
      if (type == "ERROR") {
        const Json& st = event["object"];
        result = StatusFromResponse(st.value("code", 500), st.dump());
        return false;
      }
      if (!on_event(type, event["object"])) {
        stopped = true;
        return false;
      }
    }
    return true;
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    Pace();
    ++requests_;
  }
  absl::StatusOr<http::HttpResponse> resp = client.Do(req);
  if (!result.ok()) return result;
  if (stopped) return absl::OkStatus();
  if (absl::IsCancelled(resp.status())) return resp.status();
  if (!resp.ok())
    return absl::UnavailableError(StrCat("watch ", req.url, ": ", resp.status().message()));
  if (resp->status != 200) return StatusFromResponse(resp->status, buffer);
  return absl::OkStatus();
}

}  // namespace iter8::k8s
