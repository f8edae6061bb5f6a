// File: test/apiserver/schema.cc
#include "test/apiserver/schema.h"

#include <algorithm>
#include <set>

namespace iter8::testing {
namespace {

using Json = nlohmann::json;

bool Flag(const Json& schema, const char* key) {
  return schema.is_object() && schema.contains(key) && schema[key].is_boolean() &&
         schema[key].get<bool>();
}

std::string Child(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

// ObjectMeta's fields (k8s.io/apimachinery meta/v1, Kubernetes 1.32).
const std::set<std::string>& ObjectMetaFields() {
  static const auto* fields = new std::set<std::string>{"name",
                                                        "generateName",
                                                        "namespace",
                                                        "selfLink",
                                                        "uid",
                                                        "resourceVersion",
                                                        "generation",
                                                        "creationTimestamp",
                                                        "deletionTimestamp",
                                                        "deletionGracePeriodSeconds",
                                                        "labels",
                                                        "annotations",
                                                        "ownerReferences",
                                                        "finalizers",
                                                        "managedFields"};
  return *fields;
}

void Prune(const Json& schema, Json* value, const std::string& path,
           std::vector<std::string>* pruned);

// One field of an object whose schema is `schema`: recursed into, kept, or dropped (true).
bool PruneField(const Json& schema, const std::string& key, Json* value, const std::string& path,
                std::vector<std::string>* pruned) {
  const Json& props = schema.value("properties", Json::object());
  if (props.is_object() && props.contains(key)) {
    Prune(props[key], value, path, pruned);
    return false;
  }
  if (Flag(schema, "x-kubernetes-embedded-resource") &&
      (key == "apiVersion" || key == "kind" || key == "metadata")) {
    return false;
  }
  const Json& additional = schema.value("additionalProperties", Json());
  if (additional.is_object()) {
    Prune(additional, value, path, pruned);
    return false;
  }
  if ((additional.is_boolean() && additional.get<bool>()) ||
      Flag(schema, "x-kubernetes-preserve-unknown-fields")) {
    return false;
  }
  pruned->push_back(path);
  return true;
}

void Prune(const Json& schema, Json* value, const std::string& path,
           std::vector<std::string>* pruned) {
  if (!schema.is_object()) return;
  if (value->is_object()) {
    std::vector<std::string> drop;
    for (auto& [key, field] : value->items()) {
      if (PruneField(schema, key, &field, Child(path, key), pruned)) drop.push_back(key);
    }
    for (const std::string& key : drop) value->erase(key);
  } else if (value->is_array() && schema.contains("items") && schema["items"].is_object()) {
    for (size_t i = 0; i < value->size(); ++i) {
      Prune(schema["items"], &(*value)[i], path + "[" + std::to_string(i) + "]", pruned);
    }
  }
}

// Builds the dotted path of every key of a JSON text and records repeated keys (nlohmann's SAX
// interface: one call per token).
class DuplicateFinder : public nlohmann::json_sax<Json> {
 public:
  std::vector<std::string> duplicates;

  bool null() override { return Value(); }
  bool boolean(bool) override { return Value(); }
  bool number_integer(number_integer_t) override { return Value(); }
  bool number_unsigned(number_unsigned_t) override { return Value(); }
  bool number_float(number_float_t, const string_t&) override { return Value(); }
  bool string(string_t&) override { return Value(); }
  bool binary(binary_t&) override { return Value(); }
  bool start_object(std::size_t) override { return Open(false); }
  bool start_array(std::size_t) override { return Open(true); }
  bool end_object() override { return Close(); }
  bool end_array() override { return Close(); }
  bool key(string_t& key) override {
    Frame& f = frames_.back();
    f.key = key;
    if (!f.keys.insert(key).second) duplicates.push_back(Child(f.path, key));
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    duplicates.clear();
    return false;
  }

 private:
  struct Frame {
    bool array = false;
    std::string path, key;
    std::set<std::string> keys;
    size_t index = 0;
  };
  // The path of the value that starts now (and the next array index).
  std::string NextPath() {
    if (frames_.empty()) return "";
    Frame& f = frames_.back();
    if (f.array) return f.path + "[" + std::to_string(f.index++) + "]";
    return Child(f.path, f.key);
  }
  bool Value() {
    NextPath();
    return true;
  }
  bool Open(bool array) {
    Frame f;
    f.array = array;
    f.path = NextPath();
    frames_.push_back(std::move(f));
    return true;
  }
  bool Close() {
    frames_.pop_back();
    return true;
  }
  std::vector<Frame> frames_;
};

Json StatusJson(int code, const std::string& reason, const std::string& message,
                const Json& details) {
  return {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", Json::object()},
          {"status", "Failure"}, {"message", message}, {"reason", reason},
          {"details", details},  {"code", code}};
}

// Go's %q of a string (strconv.Quote) for the ASCII and UTF-8 text of a JSON document.
std::string GoQuote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[(c >> 4) & 0xf];
      out += kHex[c & 0xf];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

FieldVerdict Unsupported(const FieldRequest& r) {
  const std::string cause = "Unsupported value: " + GoQuote(r.directive) +
                            ": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\"";
  FieldVerdict v;
  v.code = 422;
  v.status =
      StatusJson(422, "Invalid",
                 r.operation + "Options.meta.k8s.io \"\" is invalid: fieldValidation: " + cause,
                 {{"group", "meta.k8s.io"},
                  {"kind", r.operation + "Options"},
                  {"causes",
                   {{{"reason", "FieldValueNotSupported"},
                     {"message", cause},
                     {"field", "fieldValidation"}}}}});
  return v;
}

FieldVerdict Rejected(const FieldRequest& r, const std::vector<std::string>& problems,
                      const std::string& patched) {
  const std::string strict = "strict decoding error: " + Join(problems);
  FieldVerdict v;
  if (r.operation != "Patch") {
    v.code = 400;
    v.status = StatusJson(400, "BadRequest",
                          r.kind + " in version " + GoQuote(r.version) +
                              " cannot be handled as a " + r.kind + ": " + strict,
                          Json::object());
    return v;
  }
  const std::string cause = "Invalid value: " + GoQuote(patched) + ": " + strict;
  v.code = 422;
  v.status = StatusJson(
      422, "Invalid", " \"\" is invalid: patch: " + cause,
      {{"causes", {{{"reason", "FieldValueInvalid"}, {"message", cause}, {"field", "patch"}}}}});
  return v;
}

}  // namespace

std::optional<FieldValidation> ParseFieldValidation(const std::string& value) {
  if (value.empty() || value == "Warn") return FieldValidation::kWarn;
  if (value == "Strict") return FieldValidation::kStrict;
  if (value == "Ignore") return FieldValidation::kIgnore;
  return std::nullopt;
}

std::vector<std::string> DuplicateFields(const std::string& json_text) {
  DuplicateFinder finder;
  if (!Json::sax_parse(json_text, &finder)) return {};
  return finder.duplicates;
}

std::vector<std::string> PruneUnknownFields(const Json& schema, Json* object) {
  std::vector<std::string> pruned;
  if (!object->is_object()) return pruned;
  std::vector<std::string> drop;
  for (auto& [key, field] : object->items()) {
    if (key == "apiVersion" || key == "kind") continue;
    if (key == "metadata" && field.is_object()) {
      std::vector<std::string> meta_drop;
      for (const auto& item : field.items()) {
        if (ObjectMetaFields().count(item.key()) == 0) meta_drop.push_back(item.key());
      }
      for (const std::string& k : meta_drop) {
        field.erase(k);
        pruned.push_back("metadata." + k);
      }
      continue;
    }
    static const auto* kKeepAll = new Json{{"x-kubernetes-preserve-unknown-fields", true}};
    if (PruneField(schema.is_object() ? schema : *kKeepAll, key, &field, key, &pruned)) {
      drop.push_back(key);
    }
  }
  for (const std::string& key : drop) object->erase(key);
  std::sort(pruned.begin(), pruned.end());
  return pruned;
}

Json BuiltinSchema(const std::string& group, const std::string& kind) {
  const Json kept = {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
  const Json strings = {{"type", "object"}, {"additionalProperties", {{"type", "string"}}}};
  const Json list = {{"type", "array"}, {"items", kept}};
  const Json text = {{"type", "string"}};
  const Json flag = {{"type", "boolean"}};
  static const std::set<std::string> kSpecStatus = {
      "/Namespace", "coordination.k8s.io/Lease", "apps/Deployment", "batch/Job",
      "apiextensions.k8s.io/CustomResourceDefinition"};
  const std::string key = group + "/" + kind;
  Json props;
  if (kSpecStatus.count(key) > 0) {
    props = {{"spec", kept}, {"status", kept}};
  } else if (key == "/Secret") {
    props = {{"data", strings}, {"stringData", strings}, {"type", text}, {"immutable", flag}};
  } else if (key == "/ConfigMap") {
    props = {{"data", strings}, {"binaryData", strings}, {"immutable", flag}};
  } else if (key == "/Event") {
    props = {{"involvedObject", kept},
             {"related", kept},
             {"series", kept},
             {"source", kept},
             {"count", {{"type", "integer"}, {"format", "int32"}}}};
    for (const char* f : {"action", "eventTime", "firstTimestamp", "lastTimestamp", "message",
                          "reason", "reportingComponent", "reportingInstance", "type"}) {
      props[f] = text;
    }
  } else if (key == "/ServiceAccount") {
    props = {{"secrets", list}, {"imagePullSecrets", list}, {"automountServiceAccountToken", flag}};
  } else if (key == "rbac.authorization.k8s.io/ClusterRole") {
    props = {{"rules", list}, {"aggregationRule", kept}};
  } else if (key == "rbac.authorization.k8s.io/Role") {
    props = {{"rules", list}};
  } else if (key == "rbac.authorization.k8s.io/ClusterRoleBinding" ||
             key == "rbac.authorization.k8s.io/RoleBinding") {
    props = {{"subjects", list}, {"roleRef", kept}};
  } else {
    return nullptr;
  }
  props["apiVersion"] = text;
  props["kind"] = text;
  props["metadata"] = {{"type", "object"}};
  return {{"type", "object"}, {"properties", props}};
}

Json CrdVersionSchema(const Json& crd, const std::string& version) {
  const Json spec = crd.value("spec", Json::object());
  if (!spec.is_object() || !spec.contains("versions") || !spec["versions"].is_array()) {
    return nullptr;
  }
  for (const Json& v : spec["versions"]) {
    if (!v.is_object() || v.value("name", Json()) != version) continue;
    const Json schema = v.value("schema", Json::object());
    if (schema.is_object() && schema.contains("openAPIV3Schema")) return schema["openAPIV3Schema"];
  }
  return nullptr;
}

FieldVerdict CheckFields(const FieldRequest& request, Json* object) {
  const std::optional<FieldValidation> directive = ParseFieldValidation(request.directive);
  if (!directive) return Unsupported(request);
  const bool json_patch = request.operation == "Patch" &&
                          request.raw_body.find_first_not_of(" \t\r\n") != std::string::npos &&
                          request.raw_body[request.raw_body.find_first_not_of(" \t\r\n")] == '[';
  std::vector<std::string> problems;
  if (!json_patch) {
    for (const std::string& d : DuplicateFields(request.raw_body)) {
      problems.push_back("duplicate field " + GoQuote(d));
    }
  }
  const std::string before = object->dump();
  for (const std::string& u :
       PruneUnknownFields(request.schema ? *request.schema : Json(), object)) {
    problems.push_back("unknown field " + GoQuote(u));
  }
  FieldVerdict verdict;
  if (problems.empty() || *directive == FieldValidation::kIgnore) return verdict;
  if (*directive == FieldValidation::kWarn) {
    verdict.warnings = problems;
    return verdict;
  }
  return Rejected(request, problems, before);
}

std::string WarningHeader(const std::string& text) {
  std::string escaped;
  for (char c : text) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return "299 - \"" + escaped + "\"";
}

}  // namespace iter8::testing
