// File: test/apiserver/test_apiserver.cc
#include "test/apiserver/test_apiserver.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <variant>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "test/apiserver/conversion.h"
#include "test/apiserver/openapi.h"
#include "test/apiserver/schema.h"

namespace iter8::testing {
namespace {

using Json = nlohmann::json;

struct ResourceType {
  std::string group;  // "" for the core group
  std::vector<std::string> versions;
  std::string plural, singular, kind;
  bool namespaced = true;
  bool status = false;  // has the status subresource
  bool custom = false;  // defined by a CRD
  std::vector<std::string> short_names;
  std::string storage;            // a CRD's storage version
  ConversionSettings conversion;  // a CRD's; strategy None: apiVersion is rewritten
  bool Webhook() const { return conversion.strategy == "Webhook"; }
};

struct Event {
  int64_t rv;
  std::string type;  // ADDED, MODIFIED, DELETED
  std::string group, plural;
  Json object;
};

Json StatusObject(int code, const std::string& reason, const std::string& message,
                  const Json& details = Json::object()) {
  return {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", Json::object()},
          {"status", "Failure"}, {"message", message}, {"reason", reason},
          {"details", details},  {"code", code}};
}

std::string Reason(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    default:
      return "InternalError";
  }
}

struct Error {
  int code;
  Json status;
};

Error Fail(int code, const std::string& message, const std::string& reason = "") {
  return {code, StatusObject(code, reason.empty() ? Reason(code) : reason, message)};
}

std::string Now() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
}

// A parsed request path.
struct Target {
  std::shared_ptr<const ResourceType> type;  // kept alive while a watch streams
  std::string version, ns, name, sub;
};

}  // namespace

struct TestApiServer::State {
  TestApiServerOptions options;
  httplib::Server server;
  std::thread thread;
  int port = 0;

  std::mutex mu;
  std::condition_variable changed;
  std::vector<std::shared_ptr<const ResourceType>> types;
  // group/plural -> namespace/name -> object
  std::map<std::string, std::map<std::string, Json>> objects;
  std::deque<Event> history;
  int64_t rv = 1;
  int64_t compacted_through = 0;  // events up to here are gone
  int64_t watch_epoch = 0;        // bumped by DropWatches
  bool refuse_watches = false;
  int fail_count = 0, fail_code = 500;
  bool fail_writes_only = false;
  std::atomic<int64_t> requests{0};
  int64_t uid = 0;
  bool stopping = false;
  // The write being served (set under mu by the write handlers): field validation's inputs.
  struct Write {
    std::string directive, raw_body;
    httplib::Response* res;
  };
  std::optional<Write> write;

  static std::string TypeKey(const std::string& group, const std::string& plural) {
    return group + "/" + plural;
  }
  static std::string ObjectKey(const std::string& ns, const std::string& name) {
    return ns + "/" + name;
  }
  static std::string GroupVersion(const ResourceType& t, const std::string& v) {
    return t.group.empty() ? v : t.group + "/" + v;
  }

  std::shared_ptr<const ResourceType> FindType(const std::string& group, const std::string& version,
                                               const std::string& plural) const {
    for (const auto& t : types) {
      if (t->group != group || t->plural != plural) continue;
      for (const std::string& v : t->versions) {
        if (v == version) return t;
      }
    }
    return nullptr;
  }

  void BuiltIns() {
    struct Builtin {  // ResourceType's first fields (built-in kinds have no conversion)
      std::string group;
      std::vector<std::string> versions;
      std::string plural, singular, kind;
      bool namespaced, status, custom;
      std::vector<std::string> short_names;
    };
    const std::vector<Builtin> builtins = {
        {"", {"v1"}, "namespaces", "namespace", "Namespace", false, true, false, {"ns"}},
        {"", {"v1"}, "secrets", "secret", "Secret", true, false, false, {}},
        {"", {"v1"}, "configmaps", "configmap", "ConfigMap", true, false, false, {"cm"}},
        {"", {"v1"}, "events", "event", "Event", true, false, false, {"ev"}},
        {"",
         {"v1"},
         "serviceaccounts",
         "serviceaccount",
         "ServiceAccount",
         true,
         false,
         false,
         {"sa"}},
        {"coordination.k8s.io", {"v1"}, "leases", "lease", "Lease", true, false, false, {}},
        // Endpoints route a Service's traffic (conversion webhooks, conversion.h).
        {"", {"v1"}, "services", "service", "Service", true, true, false, {"svc"}},
        {"", {"v1"}, "endpoints", "endpoints", "Endpoints", true, false, false, {"ep"}},
        // Stored only (no semantics), so that deploy manifests can be applied.
        {"apps", {"v1"}, "deployments", "deployment", "Deployment", true, true, false, {"deploy"}},
        {"batch", {"v1"}, "jobs", "job", "Job", true, true, false, {}},
        {"rbac.authorization.k8s.io",
         {"v1"},
         "clusterroles",
         "clusterrole",
         "ClusterRole",
         false,
         false,
         false,
         {}},
        {"rbac.authorization.k8s.io",
         {"v1"},
         "clusterrolebindings",
         "clusterrolebinding",
         "ClusterRoleBinding",
         false,
         false,
         false,
         {}},
        {"rbac.authorization.k8s.io", {"v1"}, "roles", "role", "Role", true, false, false, {}},
        {"rbac.authorization.k8s.io",
         {"v1"},
         "rolebindings",
         "rolebinding",
         "RoleBinding",
         true,
         false,
         false,
         {}},
        {"apiextensions.k8s.io",
         {"v1"},
         "customresourcedefinitions",
         "customresourcedefinition",
         "CustomResourceDefinition",
         false,
         true,
         false,
         {"crd", "crds"}},
    };
    for (const Builtin& b : builtins) {
      ResourceType t;
      t.group = b.group;
      t.versions = b.versions;
      t.plural = b.plural;
      t.singular = b.singular;
      t.kind = b.kind;
      t.namespaced = b.namespaced;
      t.status = b.status;
      t.short_names = b.short_names;
      types.push_back(std::make_shared<const ResourceType>(t));
    }
  }

  // A CRD's served kinds (called with mu held).
  std::optional<Error> Register(const Json& crd) {
    const Json& spec = crd.value("spec", Json::object());
    if (!spec.is_object() || !spec.contains("group") || !spec.contains("names") ||
        !spec["names"].is_object() || !spec["names"].contains("plural") ||
        !spec["names"].contains("kind") || !spec.contains("versions") ||
        !spec["versions"].is_array()) {
      return Fail(422,
                  "CustomResourceDefinition is invalid: spec.group, spec.names.plural, "
                  "spec.names.kind and spec.versions are required");
    }
    ResourceType t;
    t.group = spec["group"].get<std::string>();
    t.plural = spec["names"]["plural"].get<std::string>();
    t.kind = spec["names"]["kind"].get<std::string>();
    t.singular = spec["names"].value("singular", t.plural);
    if (spec["names"].contains("shortNames") && spec["names"]["shortNames"].is_array()) {
      for (const Json& s : spec["names"]["shortNames"])
        t.short_names.push_back(s.get<std::string>());
    }
    t.namespaced = spec.value("scope", std::string("Namespaced")) == "Namespaced";
    t.custom = true;
    for (const Json& v : spec["versions"]) {
      if (!v.is_object() || !v.contains("name")) continue;
      if (!v.value("served", true)) continue;
      t.versions.push_back(v["name"].get<std::string>());
      if (v.contains("subresources") && v["subresources"].is_object() &&
          v["subresources"].contains("status")) {
        t.status = true;
      }
    }
    const std::string name = crd["metadata"].value("name", std::string());
    absl::StatusOr<ConversionSettings> conversion = ReadConversion(spec);
    if (!conversion.ok()) {
      return Fail(422, "CustomResourceDefinition.apiextensions.k8s.io \"" + name +
                           "\" is invalid: " + std::string(conversion.status().message()));
    }
    t.conversion = *conversion;
    t.storage = t.conversion.storage_version.empty() && !t.versions.empty()
                    ? t.versions[0]
                    : t.conversion.storage_version;
    if (name != t.plural + "." + t.group) {
      return Fail(422, "CustomResourceDefinition.apiextensions.k8s.io \"" + name +
                           "\" is invalid: metadata.name: Invalid value: \"" + name +
                           "\": must be spec.names.plural+\".\"+spec.group");
    }
    types.erase(std::remove_if(types.begin(), types.end(),
                               [&](const auto& o) {
                                 return o->custom && o->group == t.group && o->plural == t.plural;
                               }),
                types.end());
    types.push_back(std::make_shared<const ResourceType>(t));
    return std::nullopt;
  }

  // Parses /api/v1/... and /apis/g/v/... into a target; nullopt for non-resource paths.
  std::variant<Target, Error> Parse(const std::string& path) const {
    std::vector<std::string> s = absl::StrSplit(path, '/', absl::SkipEmpty());
    std::string group, version;
    size_t i = 0;
    if (s.size() >= 2 && s[0] == "api") {
      version = s[1];
      i = 2;
    } else if (s.size() >= 3 && s[0] == "apis") {
      group = s[1];
      version = s[2];
      i = 3;
    } else {
      return Fail(404, "the server could not find the requested resource");
    }
    Target t;
    t.version = version;
    std::vector<std::string> rest(s.begin() + static_cast<long>(i), s.end());
    if (rest.size() >= 3 && rest[0] == "namespaces") {
      std::shared_ptr<const ResourceType> nt = FindType(group, version, rest[2]);
      if (nt != nullptr && nt->namespaced) {
        t.ns = rest[1];
        rest.erase(rest.begin(), rest.begin() + 2);
      }
    }
    if (rest.empty() || rest.size() > 3) {
      return Fail(404, "the server could not find the requested resource");
    }
    t.type = FindType(group, version, rest[0]);
    if (t.type == nullptr) {
      return Fail(404, "the server could not find the requested resource (" + rest[0] + ")");
    }
    if (rest.size() >= 2) t.name = rest[1];
    if (rest.size() == 3) {
      t.sub = rest[2];
      if (t.sub != "status" || !t.type->status) {
        return Fail(404, "the server could not find the requested resource");
      }
    }
    return t;
  }

  // An object as read in the request's version. Webhook-converted kinds stay in the storage
  // version here: Present() converts them after the lock is released.
  Json Versioned(Json object, const Target& t) const {
    if (t.type->Webhook()) return object;
    object["apiVersion"] = GroupVersion(*t.type, t.version);
    object["kind"] = t.type->kind;
    return object;
  }

  std::string Qualified(const ResourceType& type) const {
    return type.group.empty() ? type.plural : type.plural + "." + type.group;
  }

  Error NotFound(const Target& t) const {
    Error e = Fail(404, Qualified(*t.type) + " \"" + t.name + "\" not found");
    e.status["details"] = {{"name", t.name}, {"group", t.type->group}, {"kind", t.type->plural}};
    return e;
  }

  void Emit(const std::string& type, const ResourceType& rt, const Json& object) {
    history.push_back({rv, type, rt.group, rt.plural, object});
    while (static_cast<int>(history.size()) > options.history) {
      compacted_through = history.front().rv;
      history.pop_front();
    }
    changed.notify_all();
  }

  void Stamp(Json* object) { (*object)["metadata"]["resourceVersion"] = std::to_string(++rv); }

  // ------------------------------------------------------------------ conversion (mu not held)

  // Where Service ns/name routes to: its Endpoints' first address and port (conversion.h).
  absl::StatusOr<std::pair<std::string, int>> ResolveService(const std::string& ns,
                                                             const std::string& name, int) {
    std::lock_guard<std::mutex> lock(mu);
    const auto& bucket = objects[TypeKey("", "endpoints")];
    auto it = bucket.find(ObjectKey(ns, name));
    if (it == bucket.end()) return absl::NotFoundError("no endpoints");
    const Json subsets = it->second.value("subsets", Json::array());
    if (!subsets.is_array() || subsets.empty()) return absl::NotFoundError("no endpoints");
    const Json addresses = subsets[0].value("addresses", Json::array());
    const Json ports = subsets[0].value("ports", Json::array());
    if (!addresses.is_array() || addresses.empty() || !ports.is_array() || ports.empty()) {
      return absl::NotFoundError("no endpoints");
    }
    return std::make_pair(addresses[0].value("ip", std::string()), ports[0].value("port", 0));
  }

  std::variant<std::vector<Json>, Error> Convert(const ResourceType& type,
                                                 const std::vector<Json>& in,
                                                 const std::string& version) {
    absl::StatusOr<std::vector<Json>> out = ConvertObjects(
        type.conversion, type.kind, in, GroupVersion(type, version),
        [this](const std::string& ns, const std::string& name, int port) {
          return ResolveService(ns, name, port);
        },
        options.conversion_timeout);
    if (!out.ok())
      return Fail(500, "Internal error occurred: " + std::string(out.status().message()));
    return *std::move(out);
  }

  // A request body in the storage version.
  std::variant<Json, Error> ToStorage(const Target& t, Json body) {
    if (!t.type->Webhook() || t.version == t.type->storage || !body.is_object()) return body;
    body["apiVersion"] = GroupVersion(*t.type, t.version);
    body["kind"] = t.type->kind;
    auto out = Convert(*t.type, {body}, t.type->storage);
    if (auto* e = std::get_if<Error>(&out)) return *e;
    return std::get<std::vector<Json>>(out)[0];
  }

  // What a verb answered (an object or a list, in the storage version) in the request's version.
  std::variant<Json, Error> Present(const Target& t, std::variant<Json, Error> r) {
    if (std::holds_alternative<Error>(r) || !t.type->Webhook() || t.version == t.type->storage) {
      return r;
    }
    Json& j = std::get<Json>(r);
    const bool list = j.contains("items") && j["items"].is_array();
    std::vector<Json> in = list ? j["items"].get<std::vector<Json>>() : std::vector<Json>{j};
    if (in.empty()) return r;
    auto out = Convert(*t.type, in, t.version);
    if (auto* e = std::get_if<Error>(&out)) return *e;
    if (!list) return std::get<std::vector<Json>>(out)[0];
    j["items"] = std::get<std::vector<Json>>(out);
    return r;
  }

  // One watch event as a line, its object in the watch's version; a failed conversion ends the
  // watch with an ERROR event, as the real server's does.
  std::string WatchLine(const Target& t, Json event, bool* failed) {
    const std::string type = event.value("type", std::string());
    if (type == "ADDED" || type == "MODIFIED" || type == "DELETED") {
      std::variant<Json, Error> o = Present(t, std::move(event["object"]));
      if (auto* e = std::get_if<Error>(&o)) {
        event = {{"type", "ERROR"}, {"object", e->status}};
        *failed = true;
      } else {
        event["object"] = std::get<Json>(std::move(o));
      }
    }
    return event.dump() + "\n";
  }

  // A patch in a version other than the storage one: applied to the object as that version
  // shows it, then stored (a concurrent write makes it apply again to the newer object).
  std::variant<Json, Error> PatchConverted(const Target& t, const std::string& content_type,
                                           const Write& w) {
    const std::string& body = w.raw_body;
    for (int attempt = 0;; ++attempt) {
      std::variant<Json, Error> current;
      {
        std::lock_guard<std::mutex> lock(mu);
        current = Get(t);
      }
      current = Present(t, std::move(current));
      if (auto* e = std::get_if<Error>(&current)) return *e;
      const Json& now = std::get<Json>(current);
      std::variant<Json, Error> next = ApplyPatch(t, now, content_type, body);
      if (auto* e = std::get_if<Error>(&next)) return *e;
      Json& patched = std::get<Json>(next);
      const bool pinned =
          patched["metadata"].contains("resourceVersion") &&
          patched["metadata"]["resourceVersion"] != now["metadata"]["resourceVersion"];
      patched["metadata"]["resourceVersion"] =
          pinned ? patched["metadata"]["resourceVersion"] : now["metadata"]["resourceVersion"];
      {
        std::lock_guard<std::mutex> lock(mu);
        write = w;
        std::optional<Error> err = AdmitFields(t, "Patch", &patched);
        write.reset();
        if (err) return *err;
      }
      std::variant<Json, Error> stored = ToStorage(t, std::move(patched));
      if (auto* e = std::get_if<Error>(&stored)) return *e;
      std::variant<Json, Error> r;
      {
        std::lock_guard<std::mutex> lock(mu);
        r = Replace(t, std::get<Json>(stored), /*require_rv=*/false);
      }
      const bool conflict = std::holds_alternative<Error>(r) && std::get<Error>(r).code == 409;
      if (!conflict || pinned || attempt == 4) return Present(t, std::move(r));
    }
  }

  // ------------------------------------------------------------------ fields (mu held)

  // The structural schema of the target's kind in its version (schema.h).
  Json SchemaFor(const Target& t) {
    if (!t.type->custom) return BuiltinSchema(t.type->group, t.type->kind);
    const auto& crds = objects[TypeKey("apiextensions.k8s.io", "customresourcedefinitions")];
    auto it = crds.find(ObjectKey("", t.type->plural + "." + t.type->group));
    return it == crds.end() ? Json() : CrdVersionSchema(it->second, t.version);
  }

  // Field validation and pruning of the object a write stores (`operation`: Create, Update,
  // Patch), in the request's version; warnings go to the response being written.
  std::optional<Error> AdmitFields(const Target& t, const std::string& operation, Json* object) {
    if (!write) return std::nullopt;
    const Json schema = SchemaFor(t);
    FieldVerdict v = CheckFields(
        {write->directive, operation, t.type->kind, t.version, write->raw_body, &schema}, object);
    if (v.code != 0) return Error{v.code, v.status};
    for (const std::string& w : v.warnings) write->res->set_header("Warning", WarningHeader(w));
    return std::nullopt;
  }

  std::vector<ApiKind> ApiKinds() {
    std::vector<ApiKind> kinds;
    for (const auto& t : types) {
      for (const std::string& v : t->versions) {
        ApiKind k{t->group, v, t->kind, t->plural, t->namespaced, t->status, t->custom, Json()};
        k.schema = SchemaFor(Target{t, v, "", "", ""});
        kinds.push_back(std::move(k));
      }
    }
    return kinds;
  }

  // ------------------------------------------------------------------ verbs (mu held)

  std::variant<Json, Error> Get(const Target& t) {
    auto& bucket = objects[TypeKey(t.type->group, t.type->plural)];
    auto it = bucket.find(ObjectKey(t.ns, t.name));
    if (it == bucket.end()) return NotFound(t);
    return Versioned(it->second, t);
  }

  std::variant<Json, Error> List(const Target& t, const httplib::Request& req) {
    auto& bucket = objects[TypeKey(t.type->group, t.type->plural)];
    const int64_t limit =
        req.has_param("limit") ? std::atoll(req.get_param_value("limit").c_str()) : 0;
    const std::string from = req.has_param("continue") ? req.get_param_value("continue") : "";
    std::vector<std::pair<std::string, std::string>> selector;
    if (req.has_param("labelSelector") && !req.get_param_value("labelSelector").empty()) {
      for (absl::string_view term : absl::StrSplit(req.get_param_value("labelSelector"), ',')) {
        std::pair<std::string, std::string> kv = absl::StrSplit(term, absl::MaxSplits('=', 1));
        selector.push_back(kv);
      }
    }
    Json items = Json::array();
    std::string next;
    for (auto it = from.empty() ? bucket.begin() : bucket.lower_bound(from); it != bucket.end();
         ++it) {
      const Json& o = it->second;
      if (!t.ns.empty() && o["metadata"].value("namespace", std::string()) != t.ns) continue;
      bool match = true;
      for (const auto& [k, v] : selector) {
        const Json labels = o["metadata"].value("labels", Json::object());
        match = match && labels.is_object() && labels.value(k, std::string("\x01")) == v;
      }
      if (!match) continue;
      if (limit > 0 && static_cast<int64_t>(items.size()) == limit) {
        next = it->first;
        break;
      }
      items.push_back(Versioned(o, t));
    }
    Json meta = {{"resourceVersion", std::to_string(rv)}};
    if (!next.empty()) meta["continue"] = next;
    return Json{{"kind", t.type->kind + "List"},
                {"apiVersion", GroupVersion(*t.type, t.version)},
                {"metadata", meta},
                {"items", items}};
  }

  std::variant<Json, Error> Create(const Target& t, Json body) {
    if (!body.is_object()) return Fail(400, "the body is not a JSON object");
    if (auto err = AdmitFields(t, "Create", &body)) return *err;
    if (!body.contains("metadata") || !body["metadata"].is_object())
      body["metadata"] = Json::object();
    Json& meta = body["metadata"];
    if (!t.name.empty()) return Fail(405, "create is done on the collection, not on a name");
    if (t.type->namespaced) {
      const std::string ns = meta.value("namespace", t.ns);
      if (!t.ns.empty() && ns != t.ns) {
        return Fail(400,
                    "the namespace of the provided object does not match the namespace "
                    "sent on the request");
      }
      if (ns.empty()) return Fail(404, "the server could not find the requested resource");
      meta["namespace"] = ns;
    }
    std::string name = meta.value("name", std::string());
    if (name.empty() && meta.contains("generateName")) {
      name = meta["generateName"].get<std::string>() + std::to_string(1000 + uid);
      meta["name"] = name;
    }
    if (name.empty()) {
      return Fail(422, t.type->kind +
                           " \"\" is invalid: metadata.name: Required value: name or "
                           "generateName is required");
    }
    auto& bucket = objects[TypeKey(t.type->group, t.type->plural)];
    const std::string key =
        ObjectKey(t.type->namespaced ? meta["namespace"].get<std::string>() : "", name);
    if (bucket.count(key) > 0) {
      Error e = Fail(409, Qualified(*t.type) + " \"" + name + "\" already exists", "AlreadyExists");
      e.status["details"] = {{"name", name}, {"group", t.type->group}, {"kind", t.type->plural}};
      return e;
    }
    if (t.type->kind == "CustomResourceDefinition") {
      if (auto err = Register(body)) return *err;
    }
    if (t.type->status && t.type->custom) body.erase("status");
    meta["uid"] = "00000000-0000-4000-8000-" + std::to_string(100000000000 + ++uid);
    meta["creationTimestamp"] = Now();
    meta["generation"] = 1;
    meta.erase("resourceVersion");
    body["apiVersion"] = GroupVersion(*t.type, t.type->Webhook() ? t.type->storage : t.version);
    body["kind"] = t.type->kind;
    Stamp(&body);
    bucket[key] = body;
    Emit("ADDED", *t.type, body);
    return Versioned(body, t);
  }

  // Update semantics shared by PUT and PATCH: `next` is the whole new object.
  std::variant<Json, Error> Replace(const Target& t, Json next, bool require_rv) {
    auto& bucket = objects[TypeKey(t.type->group, t.type->plural)];
    auto it = bucket.find(ObjectKey(t.ns, t.name));
    if (it == bucket.end()) return NotFound(t);
    const Json& current = it->second;
    if (!next.is_object()) return Fail(400, "the body is not a JSON object");
    if (auto err = AdmitFields(t, require_rv ? "Update" : "Patch", &next)) return *err;
    if (!next.contains("metadata") || !next["metadata"].is_object())
      next["metadata"] = Json::object();
    const std::string name = next["metadata"].value("name", t.name);
    if (name != t.name) {
      return Fail(400, "the name of the object (" + name +
                           ") does not match the name on the URL (" + t.name + ")");
    }
    const Json& rv_field =
        next["metadata"].contains("resourceVersion") ? next["metadata"]["resourceVersion"] : Json();
    if (rv_field.is_null() || (rv_field.is_string() && rv_field.get<std::string>().empty())) {
      if (require_rv && t.type->custom) {
        return Fail(422, t.type->kind + "." + t.type->group + " \"" + t.name +
                             "\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must "
                             "be specified for an update");
      }
    } else if (!rv_field.is_string() ||
               rv_field.get<std::string>() !=
                   current["metadata"]["resourceVersion"].get<std::string>()) {
      Error e =
          Fail(409, "Operation cannot be fulfilled on " + Qualified(*t.type) + " \"" + t.name +
                        "\": the object has been modified; please apply your changes to "
                        "the latest version and try again");
      e.status["details"] = {{"name", t.name}, {"group", t.type->group}, {"kind", t.type->plural}};
      return e;
    }
    Json updated;
    if (t.sub == "status") {
      updated = current;
      if (next.contains("status")) {
        updated["status"] = next["status"];
      } else {
        updated.erase("status");
      }
    } else {
      updated = next;
      // Immutable and server-owned metadata.
      for (const char* k : {"uid", "creationTimestamp", "namespace", "generation"}) {
        if (current["metadata"].contains(k)) {
          updated["metadata"][k] = current["metadata"][k];
        } else {
          updated["metadata"].erase(k);
        }
      }
      if (t.type->status) {
        if (current.contains("status")) {
          updated["status"] = current["status"];
        } else {
          updated.erase("status");
        }
      }
      if (updated.value("spec", Json()) != current.value("spec", Json())) {
        updated["metadata"]["generation"] = current["metadata"].value("generation", 1) + 1;
      }
    }
    updated["apiVersion"] = current["apiVersion"];
    updated["kind"] = t.type->kind;
    updated["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"];
    if (updated == current) return Versioned(current, t);  // no-op: no new revision
    if (t.type->kind == "CustomResourceDefinition") {
      if (auto err = Register(updated)) return *err;
    }
    Stamp(&updated);
    it->second = updated;
    Emit("MODIFIED", *t.type, updated);
    return Versioned(updated, t);
  }

  std::variant<Json, Error> Patch(const Target& t, const std::string& content_type,
                                  const std::string& body) {
    auto& bucket = objects[TypeKey(t.type->group, t.type->plural)];
    auto it = bucket.find(ObjectKey(t.ns, t.name));
    if (it == bucket.end()) return NotFound(t);
    std::variant<Json, Error> next = ApplyPatch(t, it->second, content_type, body);
    if (auto* e = std::get_if<Error>(&next)) return *e;
    return Replace(t, std::get<Json>(std::move(next)), /*require_rv=*/false);
  }

  // `current` with a JSON or merge patch applied; without a resourceVersion in the result, the
  // current one (a precondition only when the patch sets it).
  std::variant<Json, Error> ApplyPatch(const Target& t, const Json& current,
                                       const std::string& content_type, const std::string& body) {
    const Json patch = Json::parse(body, nullptr, false);
    if (patch.is_discarded()) return Fail(400, "the patch is not valid JSON");
    Json next;
    const std::string ct = content_type.substr(0, content_type.find(';'));
    try {
      if (ct == "application/json-patch+json") {
        if (!patch.is_array()) return Fail(400, "a JSON patch must be an array of operations");
        next = current.patch(patch);
      } else if (ct == "application/merge-patch+json" ||
                 (ct == "application/strategic-merge-patch+json" && !t.type->custom)) {
        next = current;
        next.merge_patch(patch);
      } else if (ct == "application/strategic-merge-patch+json") {
        return Fail(415,
                    "strategic merge patch is not supported for custom resources; use a "
                    "JSON patch or a merge patch");
      } else {
        return Fail(415,
                    "the body of the request was in an unknown format - accepted media "
                    "types include: application/json-patch+json, "
                    "application/merge-patch+json, application/apply-patch+yaml");
      }
    } catch (const std::exception& e) {
      return Fail(422, std::string("the patch cannot be applied: ") + e.what());
    }
    // A resourceVersion in the patched object is a precondition; without one the patch applies
    // to the current version.
    if (!next.contains("metadata") || !next["metadata"].is_object())
      next["metadata"] = Json::object();
    if (!next["metadata"].contains("resourceVersion")) {
      next["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"];
    }
    return next;
  }

  std::variant<Json, Error> Delete(const Target& t) {
    auto& bucket = objects[TypeKey(t.type->group, t.type->plural)];
    auto it = bucket.find(ObjectKey(t.ns, t.name));
    if (it == bucket.end()) return NotFound(t);
    Json gone = it->second;
    bucket.erase(it);
    if (t.type->kind == "CustomResourceDefinition") {
      const Json& spec = gone["spec"];
      const std::string group = spec.value("group", std::string());
      const std::string plural = spec["names"].value("plural", std::string());
      types.erase(std::remove_if(types.begin(), types.end(),
                                 [&](const auto& o) {
                                   return o->custom && o->group == group && o->plural == plural;
                                 }),
                  types.end());
      objects.erase(TypeKey(group, plural));
    }
    Stamp(&gone);
    Emit("DELETED", *t.type, gone);
    return Versioned(gone, t);
  }

  // ------------------------------------------------------------------ discovery

  Json ResourceList(const std::string& group, const std::string& version) const {
    Json resources = Json::array();
    for (const auto& tp : types) {
      const ResourceType& t = *tp;
      if (t.group != group ||
          std::find(t.versions.begin(), t.versions.end(), version) == t.versions.end()) {
        continue;
      }
      Json r = {{"name", t.plural},
                {"singularName", t.singular},
                {"namespaced", t.namespaced},
                {"kind", t.kind},
                {"verbs", {"create", "delete", "get", "list", "patch", "update", "watch"}}};
      if (!t.short_names.empty()) r["shortNames"] = t.short_names;
      resources.push_back(r);
      if (t.status) {
        resources.push_back({{"name", t.plural + "/status"},
                             {"singularName", ""},
                             {"namespaced", t.namespaced},
                             {"kind", t.kind},
                             {"verbs", {"get", "patch", "update"}}});
      }
    }
    return {{"kind", "APIResourceList"},
            {"apiVersion", "v1"},
            {"groupVersion", group.empty() ? version : group + "/" + version},
            {"resources", resources}};
  }

  Json Group(const std::string& group) const {
    Json versions = Json::array();
    for (const auto& tp : types) {
      const ResourceType& t = *tp;
      if (t.group != group) continue;
      for (const std::string& v : t.versions) {
        Json gv = {{"groupVersion", group + "/" + v}, {"version", v}};
        if (std::find(versions.begin(), versions.end(), gv) == versions.end())
          versions.push_back(gv);
      }
    }
    if (versions.empty()) return nullptr;
    return {{"name", group}, {"versions", versions}, {"preferredVersion", versions[0]}};
  }

  Json Groups() const {
    std::vector<std::string> names;
    for (const auto& t : types) {
      if (!t->group.empty() && std::find(names.begin(), names.end(), t->group) == names.end()) {
        names.push_back(t->group);
      }
    }
    Json groups = Json::array();
    for (const std::string& g : names) groups.push_back(Group(g));
    return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
  }
};

TestApiServer::TestApiServer(TestApiServerOptions options) : state_(std::make_unique<State>()) {
  state_->options = std::move(options);
  state_->BuiltIns();
  State* s = state_.get();
  ServeOpenApi(&s->server, [s] {
    std::lock_guard<std::mutex> lock(s->mu);
    return s->ApiKinds();
  });
}

TestApiServer::~TestApiServer() { Stop(); }

int TestApiServer::port() const { return state_->port; }

std::string TestApiServer::Url() const {
  return "http://" + state_->options.host + ":" + std::to_string(state_->port);
}

std::string TestApiServer::Kubeconfig() const {
  return "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: " + Url() +
         "\nusers:\n- name: test\n  user: {}\ncontexts:\n- name: test\n  context:\n"
         "    cluster: test\n    user: test\n    namespace: default\ncurrent-context: test\n";
}

void TestApiServer::FailNextRequests(int count, int code) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->fail_count = count;
  state_->fail_code = code;
  state_->fail_writes_only = false;
}

void TestApiServer::FailNextWrites(int count, int code) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->fail_count = count;
  state_->fail_code = code;
  state_->fail_writes_only = true;
}

void TestApiServer::DropWatches() {
  std::lock_guard<std::mutex> lock(state_->mu);
  ++state_->watch_epoch;
  state_->changed.notify_all();
}

void TestApiServer::RefuseWatches(bool refuse) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->refuse_watches = refuse;
}

void TestApiServer::CompactHistory() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->compacted_through = state_->rv;
  state_->history.clear();
}

int64_t TestApiServer::Requests() const { return state_->requests.load(); }

absl::Status TestApiServer::Start() {
  State* s = state_.get();
  const int threads = s->options.threads;
  s->server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // Like Go's net/http (the real API server): no Nagle delay between a response's header and
  // body writes (with delayed ACKs it cost every request about 40 ms).
  s->server.set_tcp_nodelay(true);
  s->server.set_keep_alive_max_count(1000000);

  auto reply = [](httplib::Response& res, int code, const Json& body) {
    res.status = code;
    res.set_content(body.dump(), "application/json");
  };
  auto fail = [&reply](httplib::Response& res, const Error& e) { reply(res, e.code, e.status); };
  // Injected failures (not for watches).
  auto injected = [s, fail](const httplib::Request& req, httplib::Response& res) {
    s->requests.fetch_add(1);
    std::lock_guard<std::mutex> lock(s->mu);
    const bool watch = req.has_param("watch") && (req.get_param_value("watch") == "true" ||
                                                  req.get_param_value("watch") == "1");
    if (s->fail_count <= 0 || watch) return false;
    if (s->fail_writes_only && req.method == "GET") return false;
    --s->fail_count;
    fail(res, Fail(s->fail_code, "injected failure"));
    return true;
  };

  s->server.Get("/version", [reply](const httplib::Request&, httplib::Response& res) {
    reply(res, 200,
          {{"major", "1"},
           {"minor", "32"},
           {"gitVersion", "v1.32.0-iter8-test-apiserver"},
           {"platform", "linux/amd64"}});
  });
  s->server.Get("/api", [s, reply](const httplib::Request&, httplib::Response& res) {
    reply(res, 200,
          {{"kind", "APIVersions"},
           {"versions", {"v1"}},
           {"serverAddressByClientCIDRs",
            {{{"clientCIDR", "0.0.0.0/0"},
              {"serverAddress", s->options.host + ":" + std::to_string(s->port)}}}}});
  });
  s->server.Get("/apis", [s, reply](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(s->mu);
    reply(res, 200, s->Groups());
  });
  s->server.Get(R"(/apis/([^/]+))",
                [s, reply, fail](const httplib::Request& req, httplib::Response& res) {
                  std::lock_guard<std::mutex> lock(s->mu);
                  Json g = s->Group(req.matches[1]);
                  if (g.is_null())
                    return fail(res, Fail(404, "the server could not find the requested resource"));
                  g["kind"] = "APIGroup";
                  g["apiVersion"] = "v1";
                  reply(res, 200, g);
                });
  s->server.Get("/api/v1", [s, reply](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(s->mu);
    reply(res, 200, s->ResourceList("", "v1"));
  });
  s->server.Get(R"(/apis/([^/]+)/([^/]+))",
                [s, reply, fail](const httplib::Request& req, httplib::Response& res) {
                  std::lock_guard<std::mutex> lock(s->mu);
                  Json list = s->ResourceList(req.matches[1], req.matches[2]);
                  if (list["resources"].empty()) {
                    return fail(res, Fail(404, "the server could not find the requested resource"));
                  }
                  reply(res, 200, list);
                });

  auto resolve = [s, fail](const httplib::Request& req,
                           httplib::Response& res) -> std::optional<Target> {
    std::variant<Target, Error> t = s->Parse(req.path);
    if (std::holds_alternative<Error>(t)) {
      fail(res, std::get<Error>(t));
      return std::nullopt;
    }
    return std::get<Target>(t);
  };
  auto answer = [reply, fail](httplib::Response& res, const std::variant<Json, Error>& r,
                              int ok_code) {
    if (std::holds_alternative<Error>(r)) return fail(res, std::get<Error>(r));
    reply(res, ok_code, std::get<Json>(r));
  };

  const std::string resource_paths = R"((/api/v1/.+|/apis/[^/]+/[^/]+/.+))";
  s->server.Get(resource_paths, [s, resolve, answer, injected](const httplib::Request& req,
                                                               httplib::Response& res) {
    if (injected(req, res)) return;
    std::unique_lock<std::mutex> lock(s->mu);
    std::optional<Target> t = resolve(req, res);
    if (!t) return;
    const bool watch = req.has_param("watch") && (req.get_param_value("watch") == "true" ||
                                                  req.get_param_value("watch") == "1");
    if (!watch) {
      std::variant<Json, Error> r = t->name.empty() ? s->List(*t, req) : s->Get(*t);
      lock.unlock();
      answer(res, s->Present(*t, std::move(r)), 200);
      return;
    }
    if (s->refuse_watches) {
      answer(res, Fail(503, "watches refused (injected)"), 0);
      return;
    }
    // Watch: events after the requested version (or the current state first).
    const std::string from_text =
        req.has_param("resourceVersion") ? req.get_param_value("resourceVersion") : "";
    const bool bookmarks = req.has_param("allowWatchBookmarks") &&
                           req.get_param_value("allowWatchBookmarks") == "true";
    const int timeout_s = req.has_param("timeoutSeconds")
                              ? std::atoi(req.get_param_value("timeoutSeconds").c_str())
                              : 1800;
    std::string field_name;  // fieldSelector=metadata.name=X (kubectl get NAME --watch)
    if (req.has_param("fieldSelector")) {
      const std::string fs = req.get_param_value("fieldSelector");
      if (fs.rfind("metadata.name=", 0) == 0) field_name = fs.substr(14);
    }
    Target target = *t;
    if (!target.name.empty()) field_name = target.name;
    auto pending = std::make_shared<std::deque<Json>>();  // events, objects in storage form
    int64_t from = from_text.empty() ? 0 : std::atoll(from_text.c_str());
    std::vector<std::pair<std::string, std::string>> selector;  // labelSelector=k=v,...
    if (req.has_param("labelSelector") && !req.get_param_value("labelSelector").empty()) {
      for (absl::string_view term : absl::StrSplit(req.get_param_value("labelSelector"), ',')) {
        std::pair<std::string, std::string> kv = absl::StrSplit(term, absl::MaxSplits('=', 1));
        selector.push_back(kv);
      }
    }
    auto matches = [target, field_name, selector](const Json& o) {
      if (!target.ns.empty() && o["metadata"].value("namespace", std::string()) != target.ns) {
        return false;
      }
      const Json labels = o["metadata"].value("labels", Json::object());
      for (const auto& [k, v] : selector) {
        if (!labels.is_object() || labels.value(k, std::string("\x01")) != v) return false;
      }
      return field_name.empty() || o["metadata"].value("name", std::string()) == field_name;
    };
    if (from_text.empty() || from_text == "0") {
      for (const auto& [key, o] :
           s->objects[State::TypeKey(target.type->group, target.type->plural)]) {
        if (matches(o)) {
          pending->push_back(Json{{"type", "ADDED"}, {"object", s->Versioned(o, target)}});
        }
      }
      from = s->rv;
    } else if (from < s->compacted_through) {
      Json err = StatusObject(410, "Expired",
                              "too old resource version: " + from_text + " (" +
                                  std::to_string(s->compacted_through + 1) + ")");
      pending->push_back(Json{{"type", "ERROR"}, {"object", err}});
      from = -1;  // end after the error
    }
    const int64_t epoch = s->watch_epoch;
    auto last = std::make_shared<int64_t>(from);
    auto deadline = std::make_shared<std::chrono::steady_clock::time_point>(
        std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s));
    auto next_bookmark = std::make_shared<std::chrono::steady_clock::time_point>(
        std::chrono::steady_clock::now() +
        std::chrono::milliseconds(s->options.bookmark_interval_ms));
    res.status = 200;
    // Not "application/json": httplib would gzip a JSON response for clients that accept it
    // (kubectl does), and the compressor holds events back until it has a block.
    res.set_chunked_content_provider(
        "application/json;stream=watch",
        [s, target, matches, pending, last, deadline, next_bookmark, bookmarks, epoch](
            size_t, httplib::DataSink& sink) {
          std::unique_lock<std::mutex> lock(s->mu);
          while (true) {
            while (!pending->empty()) {
              Json event = std::move(pending->front());
              pending->pop_front();
              lock.unlock();
              bool failed = false;
              const std::string line = s->WatchLine(target, std::move(event), &failed);
              const bool ok = sink.write(line.data(), line.size());
              lock.lock();
              if (!ok) return false;
              if (failed) *last = -1;  // the stream ends after the error
            }
            if (*last < 0 || s->stopping || s->watch_epoch != epoch ||
                std::chrono::steady_clock::now() >= *deadline) {
              lock.unlock();
              sink.done();
              return true;
            }
            // History is in resourceVersion order: start after the last event sent.
            auto first = std::upper_bound(s->history.begin(), s->history.end(), *last,
                                          [](int64_t rv, const Event& ev) { return rv < ev.rv; });
            for (auto ev_it = first; ev_it != s->history.end(); ++ev_it) {
              const Event& ev = *ev_it;
              if (ev.group != target.type->group || ev.plural != target.type->plural) {
                continue;
              }
              if (matches(ev.object)) {
                pending->push_back(
                    Json{{"type", ev.type}, {"object", s->Versioned(ev.object, target)}});
              }
            }
            if (!s->history.empty()) *last = std::max(*last, s->history.back().rv);
            if (!pending->empty()) continue;
            if (bookmarks && std::chrono::steady_clock::now() >= *next_bookmark) {
              Json mark = {{"kind", target.type->kind},
                           {"apiVersion", State::GroupVersion(*target.type, target.version)},
                           {"metadata", {{"resourceVersion", std::to_string(s->rv)}}}};
              pending->push_back(Json{{"type", "BOOKMARK"}, {"object", mark}});
              *next_bookmark = std::chrono::steady_clock::now() +
                               std::chrono::milliseconds(s->options.bookmark_interval_ms);
              continue;
            }
            if (!sink.is_writable()) return false;
            s->changed.wait_for(lock, std::chrono::milliseconds(100));
          }
        });
  });
  // Create, update, patch and delete: injected failures, the lock and the path first.
  using Verb = std::function<void(const Target&, const httplib::Request&, httplib::Response&)>;
  // The verbs take the lock themselves (a conversion webhook is called without it).
  auto write = [s, resolve, injected](Verb verb) {
    return [s, resolve, injected, verb](const httplib::Request& req, httplib::Response& res) {
      if (injected(req, res)) return;
      std::optional<Target> t;
      {
        std::lock_guard<std::mutex> lock(s->mu);
        t = resolve(req, res);
      }
      if (t) verb(*t, req, res);
    };
  };
  // A write of `body` (converted to the storage version first) answered in the request's version.
  // Fields are checked in the request's version: before a conversion, or by the verb itself.
  auto store = [s, answer](const Target& t, const httplib::Request& req, Json body,
                           httplib::Response& res, int ok_code, auto verb) {
    const State::Write w{req.get_param_value("fieldValidation"), req.body, &res};
    const bool converted = t.type->Webhook() && t.version != t.type->storage;
    if (converted) {
      std::optional<Error> err;
      {
        std::lock_guard<std::mutex> lock(s->mu);
        s->write = w;
        err = s->AdmitFields(t, ok_code == 201 ? "Create" : "Update", &body);
        s->write.reset();
      }
      if (err) return answer(res, *err, 0);
    }
    std::variant<Json, Error> stored = s->ToStorage(t, std::move(body));
    if (auto* e = std::get_if<Error>(&stored)) return answer(res, *e, 0);
    std::variant<Json, Error> r;
    {
      std::lock_guard<std::mutex> lock(s->mu);
      if (!converted) s->write = w;
      r = verb(std::get<Json>(std::move(stored)));
      s->write.reset();
    }
    answer(res, s->Present(t, std::move(r)), ok_code);
  };
  auto body_or_400 = [answer](const httplib::Request& req, httplib::Response& res) {
    Json body = Json::parse(req.body, nullptr, false);
    if (body.is_discarded()) answer(res, Fail(400, "the body is not valid JSON"), 0);
    return body;
  };
  s->server.Post(
      resource_paths, write([s, store, body_or_400](const Target& t, const httplib::Request& req,
                                                    httplib::Response& res) {
        Json body = body_or_400(req, res);
        if (body.is_discarded()) return;
        store(t, req, std::move(body), res, 201, [&](Json b) { return s->Create(t, b); });
      }));
  s->server.Put(resource_paths,
                write([s, answer, store, body_or_400](const Target& t, const httplib::Request& req,
                                                      httplib::Response& res) {
                  Json body = body_or_400(req, res);
                  if (body.is_discarded()) return;
                  if (t.name.empty()) return answer(res, Fail(405, "update needs a name"), 0);
                  store(t, req, std::move(body), res, 200,
                        [&](Json b) { return s->Replace(t, b, /*require_rv=*/true); });
                }));
  s->server.Patch(resource_paths, write([s, answer](const Target& t, const httplib::Request& req,
                                                    httplib::Response& res) {
                    if (t.name.empty()) return answer(res, Fail(405, "patch needs a name"), 0);
                    const std::string ct = req.get_header_value("Content-Type");
                    const State::Write w{req.get_param_value("fieldValidation"), req.body, &res};
                    if (t.type->Webhook() && t.version != t.type->storage) {
                      return answer(res, s->PatchConverted(t, ct, w), 200);
                    }
                    std::variant<Json, Error> r;
                    {
                      std::lock_guard<std::mutex> lock(s->mu);
                      s->write = w;
                      r = s->Patch(t, ct, req.body);
                      s->write.reset();
                    }
                    answer(res, s->Present(t, std::move(r)), 200);
                  }));
  s->server.Delete(resource_paths, write([s, answer](const Target& t, const httplib::Request&,
                                                     httplib::Response& res) {
                     if (t.name.empty()) {
                       return answer(res, Fail(405, "deletecollection is not supported"), 0);
                     }
                     std::variant<Json, Error> r;
                     {
                       std::lock_guard<std::mutex> lock(s->mu);
                       r = s->Delete(t);
                     }
                     answer(res, s->Present(t, std::move(r)), 200);
                   }));

  if (s->options.port == 0) {
    s->port = s->server.bind_to_any_port(s->options.host);
  } else {
    s->port = s->server.bind_to_port(s->options.host, s->options.port) ? s->options.port : -1;
  }
  if (s->port <= 0) return absl::UnavailableError("test API server: cannot bind");
  s->thread = std::thread([s] { s->server.listen_after_bind(); });
  while (!s->server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return absl::OkStatus();
}

void TestApiServer::Stop() {
  State* s = state_.get();
  {
    std::lock_guard<std::mutex> lock(s->mu);
    s->stopping = true;
    s->changed.notify_all();
  }
  if (s->thread.joinable()) {
    s->server.stop();
    s->thread.join();
  }
}

}  // namespace iter8::testing
