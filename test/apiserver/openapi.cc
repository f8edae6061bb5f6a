// File: test/apiserver/openapi.cc
#include "test/apiserver/openapi.h"

#include <httplib.h>

#include <cstdint>
#include <cstdio>
#include <set>

#include "absl/strings/str_split.h"

namespace iter8::testing {
namespace {

using Json = nlohmann::json;

constexpr char kObjectMeta[] = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
constexpr char kListMeta[] = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
constexpr char kPatch[] = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

std::string Prefix(const ApiKind& k) {
  return k.group.empty() ? "/api/" + k.version : "/apis/" + k.group + "/" + k.version;
}

std::string GroupVersionPath(const std::string& group, const std::string& version) {
  return group.empty() ? "api/" + version : "apis/" + group + "/" + version;
}

Json Gvk(const ApiKind& k, const std::string& kind) {
  return {{"group", k.group}, {"version", k.version}, {"kind", kind}};
}

// A reference to a schema: under #/definitions (v2) or #/components/schemas (v3).
Json Ref(bool v3, const std::string& name) {
  return {{"$ref", std::string(v3 ? "#/components/schemas/" : "#/definitions/") + name}};
}

Json Parameter(bool v3, const std::string& name, const std::string& in,
               const std::string& description) {
  Json p = {{"name", name}, {"in", in}, {"description", description}};
  if (in == "path") p["required"] = true;
  if (v3) {
    p["schema"] = {{"type", "string"}, {"uniqueItems", true}};
  } else {
    p["type"] = "string";
    p["uniqueItems"] = true;
  }
  return p;
}

// The query parameters of a write (the real server's, in its order).
Json WriteParameters(bool v3, bool patch) {
  Json params = Json::array(
      {Parameter(v3, "dryRun", "query",
                 "When present, indicates that modifications should not be persisted."),
       Parameter(v3, "fieldManager", "query",
                 "fieldManager is a name associated with the actor or entity that is making "
                 "these changes."),
       Parameter(v3, "fieldValidation", "query",
                 "fieldValidation instructs the server on how to handle objects in the request "
                 "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: "
                 "Ignore, Warn (the default) and Strict.")});
  if (patch) {
    Json force = Parameter(v3, "force", "query", "Force is going to \"force\" Apply requests.");
    if (v3) {
      force["schema"] = {{"type", "boolean"}, {"uniqueItems", true}};
    } else {
      force["type"] = "boolean";
    }
    params.push_back(force);
  }
  return params;
}

std::vector<std::string> PatchTypes(const ApiKind& k) {
  std::vector<std::string> types = {"application/json-patch+json", "application/merge-patch+json"};
  if (!k.custom) types.push_back("application/strategic-merge-patch+json");
  types.push_back("application/apply-patch+yaml");
  return types;
}

// One operation (`action`: list, post, get, put, patch, delete) on a kind.
Json Operation(bool v3, const ApiKind& k, const std::string& action, const std::string& id) {
  const bool list = action == "list";
  const std::string result = DefinitionName(k) + (list ? "List" : "");
  Json op = {{"operationId", id},
             {"description", action + " " + k.kind + (list ? " objects" : "")},
             {"x-kubernetes-action", action},
             {"x-kubernetes-group-version-kind", Gvk(k, k.kind)}};
  const bool writes = action == "post" || action == "put" || action == "patch";
  op["parameters"] = writes ? WriteParameters(v3, action == "patch") : Json::array();
  const Json body = action == "patch" ? Ref(v3, kPatch) : Ref(v3, DefinitionName(k));
  const std::vector<std::string> consumes =
      action == "patch" ? PatchTypes(k) : std::vector<std::string>{"application/json"};
  if (v3) {
    Json content = Json::object();
    for (const std::string& c : consumes) content[c] = {{"schema", body}};
    if (writes) op["requestBody"] = {{"content", content}, {"required", true}};
    op["responses"] = {{"200",
                        {{"description", "OK"},
                         {"content", {{"application/json", {{"schema", Ref(v3, result)}}}}}}}};
  } else {
    if (writes)
      op["parameters"].push_back(
          {{"name", "body"}, {"in", "body"}, {"required", true}, {"schema", body}});
    op["consumes"] = consumes;
    op["produces"] = {"application/json"};
    op["schemes"] = {"https"};
    op["responses"] = {{"200", {{"description", "OK"}, {"schema", Ref(v3, result)}}}};
  }
  return op;
}

std::string Camel(const std::string& s) {
  std::string out;
  bool up = true;
  for (char c : s) {
    if (c == '.' || c == '-' || c == '/') {
      up = true;
      continue;
    }
    out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    up = false;
  }
  return out;
}

// The paths of one kind (collection, object, status, all namespaces) into `paths`.
void AddPaths(bool v3, const ApiKind& k, Json* paths) {
  const std::string base = Prefix(k) + (k.namespaced ? "/namespaces/{namespace}/" : "/") + k.plural;
  const std::string gv = Camel(k.group.empty() ? "core" : k.group) + Camel(k.version);
  const std::string id = gv + (k.namespaced ? "Namespaced" : "") + k.kind;
  Json path_params = Json::array();
  if (k.namespaced) {
    path_params.push_back(Parameter(v3, "namespace", "path", "object name and auth scope"));
  }
  Json collection = {{"get", Operation(v3, k, "list", "list" + id)},
                     {"post", Operation(v3, k, "post", "create" + id)},
                     {"parameters", path_params}};
  path_params.push_back(Parameter(v3, "name", "path", "name of the " + k.kind));
  Json object = {{"get", Operation(v3, k, "get", "read" + id)},
                 {"put", Operation(v3, k, "put", "replace" + id)},
                 {"patch", Operation(v3, k, "patch", "patch" + id)},
                 {"delete", Operation(v3, k, "delete", "delete" + id)},
                 {"parameters", path_params}};
  (*paths)[base] = collection;
  (*paths)[base + "/{name}"] = object;
  if (k.status) {
    (*paths)[base + "/{name}/status"] = {
        {"get", Operation(v3, k, "get", "read" + id + "Status")},
        {"put", Operation(v3, k, "put", "replace" + id + "Status")},
        {"patch", Operation(v3, k, "patch", "patch" + id + "Status")},
        {"parameters", path_params}};
  }
  if (k.namespaced) {
    (*paths)[Prefix(k) + "/" + k.plural] = {
        {"get", Operation(v3, k, "list", "list" + gv + k.kind + "ForAllNamespaces")}};
  }
}

// The schemas ObjectMeta, ListMeta and Patch that every document refers to.
void AddMetaSchemas(Json* defs) {
  const Json text = {{"type", "string"}};
  const Json strings = {{"type", "object"}, {"additionalProperties", text}};
  const Json objects = {
      {"type", "array"},
      {"items", {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}}};
  const Json time = {{"type", "string"}, {"format", "date-time"}};
  Json meta = {{"name", text},
               {"generateName", text},
               {"namespace", text},
               {"selfLink", text},
               {"uid", text},
               {"resourceVersion", text},
               {"generation", {{"type", "integer"}, {"format", "int64"}}},
               {"creationTimestamp", time},
               {"deletionTimestamp", time},
               {"deletionGracePeriodSeconds", {{"type", "integer"}, {"format", "int64"}}},
               {"labels", strings},
               {"annotations", strings},
               {"ownerReferences", objects},
               {"finalizers", {{"type", "array"}, {"items", text}}},
               {"managedFields", objects}};
  (*defs)[kObjectMeta] = {{"type", "object"}, {"properties", meta}};
  (*defs)[kListMeta] = {{"type", "object"},
                        {"properties",
                         {{"continue", text},
                          {"remainingItemCount", {{"type", "integer"}, {"format", "int64"}}},
                          {"resourceVersion", text},
                          {"selfLink", text}}}};
  (*defs)[kPatch] = {{"type", "object"},
                     {"description",
                      "Patch is provided to give a concrete name and type to the "
                      "Kubernetes PATCH request body."}};
}

// True when `schema` declares every field below it (no x-kubernetes-preserve-unknown-fields).
bool Complete(const Json& schema) {
  if (schema.is_object() && schema.contains("x-kubernetes-preserve-unknown-fields") &&
      schema["x-kubernetes-preserve-unknown-fields"] == true) {
    return false;
  }
  if (!schema.is_structured()) return true;
  for (const Json& child : schema) {
    if (!Complete(child)) return false;
  }
  return true;
}

// A kind's schema and its list's, as documents publish them. A built-in kind whose schema here
// is partial (nested content kept as is) is published without its group-version-kind: kubectl
// computes strategic merge patches from the schema tagged with the kind, and a partial one makes
// it warn and fall back to its compiled-in types; untagged, it uses those directly.
void AddKindSchemas(bool v3, const ApiKind& k, Json* defs) {
  Json schema = k.schema.is_object()
                    ? k.schema
                    : Json{{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
  if (!schema.contains("properties") || !schema["properties"].is_object()) {
    schema["properties"] = Json::object();
  }
  schema["properties"]["apiVersion"] = {{"type", "string"}};
  schema["properties"]["kind"] = {{"type", "string"}};
  schema["properties"]["metadata"] = Ref(v3, kObjectMeta);
  if (k.custom || Complete(k.schema)) {
    schema["x-kubernetes-group-version-kind"] = Json::array({Gvk(k, k.kind)});
  }
  (*defs)[DefinitionName(k)] = schema;
  (*defs)[DefinitionName(k) + "List"] = {
      {"type", "object"},
      {"required", {"items"}},
      {"properties",
       {{"apiVersion", {{"type", "string"}}},
        {"kind", {{"type", "string"}}},
        {"items", {{"type", "array"}, {"items", Ref(v3, DefinitionName(k))}}},
        {"metadata", Ref(v3, kListMeta)}}},
      {"x-kubernetes-group-version-kind", Json::array({Gvk(k, k.kind + "List")})}};
}

// FNV-1a, 64 bits, as 16 upper-case hex digits: the document's hash (the real server's is a
// SHA-512; clients treat it as opaque).
std::string Hash(const std::string& text) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llX", static_cast<unsigned long long>(h));
  return out;
}

// True when the Accept header admits JSON (or is absent).
bool AcceptsJson(const std::string& accept) {
  if (accept.empty()) return true;
  for (absl::string_view clause : absl::StrSplit(accept, ',')) {
    std::string type(clause.substr(0, clause.find(';')));
    type.erase(0, type.find_first_not_of(' '));
    type.erase(type.find_last_not_of(' ') + 1);
    if (type == "application/json" || type == "application/*" || type == "*/*") return true;
  }
  return false;
}

void ServeV3GroupVersion(const std::vector<ApiKind>& kinds, const std::string& group,
                         const std::string& version, const httplib::Request& req,
                         httplib::Response& res) {
  const std::string body = OpenApiV3(kinds, group, version).dump();
  const std::string hash = Hash(body);
  const std::string asked = req.has_param("hash") ? req.get_param_value("hash") : "";
  if (!asked.empty() && asked != hash) {
    res.set_redirect("/openapi/v3/" + GroupVersionPath(group, version) + "?hash=" + hash, 301);
    return;
  }
  res.set_header("ETag", "\"" + hash + "\"");
  res.set_header("Cache-Control", asked.empty() ? "no-cache, private" : "public, immutable");
  if (req.get_header_value("If-None-Match") == "\"" + hash + "\"") {
    res.status = 304;
    return;
  }
  res.set_content(body, "application/json");
}

}  // namespace

std::string DefinitionName(const ApiKind& k) {
  if (k.custom) {
    std::vector<std::string> parts = absl::StrSplit(k.group, '.');
    std::string reversed;
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) reversed += *it + ".";
    return reversed + k.version + "." + k.kind;
  }
  if (k.group == "apiextensions.k8s.io") {
    return "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions." + k.version + "." + k.kind;
  }
  const std::string short_group =
      k.group.empty() ? "core" : std::string(k.group.substr(0, k.group.find('.')));
  return "io.k8s.api." + short_group + "." + k.version + "." + k.kind;
}

Json OpenApiV2(const std::vector<ApiKind>& kinds) {
  Json paths = Json::object(), defs = Json::object();
  AddMetaSchemas(&defs);
  for (const ApiKind& k : kinds) {
    AddPaths(false, k, &paths);
    AddKindSchemas(false, k, &defs);
  }
  return {{"swagger", "2.0"},
          {"info", {{"title", "Kubernetes"}, {"version", "v1.32.0-iter8-test-apiserver"}}},
          {"paths", paths},
          {"definitions", defs}};
}

Json OpenApiV3(const std::vector<ApiKind>& kinds, const std::string& group,
               const std::string& version) {
  Json paths = Json::object(), defs = Json::object();
  AddMetaSchemas(&defs);
  for (const ApiKind& k : kinds) {
    if (k.group != group || k.version != version) continue;
    AddPaths(true, k, &paths);
    AddKindSchemas(true, k, &defs);
  }
  return {{"openapi", "3.0.0"},
          {"info", {{"title", "Kubernetes"}, {"version", "v1.32.0-iter8-test-apiserver"}}},
          {"paths", paths},
          {"components", {{"schemas", defs}}}};
}

Json OpenApiV3Discovery(const std::vector<ApiKind>& kinds) {
  std::set<std::pair<std::string, std::string>> gvs;
  for (const ApiKind& k : kinds) gvs.insert({k.group, k.version});
  Json paths = Json::object();
  for (const auto& [group, version] : gvs) {
    const std::string path = GroupVersionPath(group, version);
    paths[path] = {{"serverRelativeURL", "/openapi/v3/" + path + "?hash=" +
                                             Hash(OpenApiV3(kinds, group, version).dump())}};
  }
  return {{"paths", paths}};
}

void ServeOpenApi(httplib::Server* server, std::function<std::vector<ApiKind>()> kinds) {
  server->Get("/openapi/v2", [kinds](const httplib::Request& req, httplib::Response& res) {
    if (!AcceptsJson(req.get_header_value("Accept"))) {
      res.status = 406;  // what the real server answers a type it cannot produce
      return;
    }
    res.set_content(OpenApiV2(kinds()).dump(), "application/json");
  });
  server->Get("/openapi/v3", [kinds](const httplib::Request&, httplib::Response& res) {
    res.set_content(OpenApiV3Discovery(kinds()).dump(), "application/json");
  });
  server->Get(R"(/openapi/v3/(api/([^/]+)|apis/([^/]+)/([^/]+)))",
              [kinds](const httplib::Request& req, httplib::Response& res) {
                const bool core = req.matches[2].matched;
                const std::string group = core ? "" : std::string(req.matches[3]);
                const std::string version = core ? req.matches[2] : req.matches[4];
                const std::vector<ApiKind> all = kinds();
                bool served = false;
                for (const ApiKind& k : all) served |= k.group == group && k.version == version;
                if (!served) {
                  res.status = 404;
                  res.set_content("404 page not found\n", "text/plain");
                } else if (!AcceptsJson(req.get_header_value("Accept"))) {
                  res.status = 406;
                } else {
                  ServeV3GroupVersion(all, group, version, req, res);
                }
              });
}

}  // namespace iter8::testing
