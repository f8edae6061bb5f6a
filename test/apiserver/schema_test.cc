// Field validation, pruning and the OpenAPI documents of the test API server as pure functions
// (schema.h, openapi.h); the server and kubectl using them are in test_apiserver_test.cc.
#include "test/apiserver/schema.h"

#include <gtest/gtest.h>

#include "test/apiserver/openapi.h"

namespace iter8::testing {
namespace {

using Json = nlohmann::json;

const Json kSchema = Json::parse(R"({
  "type": "object",
  "properties": {
    "spec": {"type": "object", "properties": {
      "size": {"type": "integer"},
      "parts": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
      "labels": {"type": "object", "additionalProperties": {"type": "object",
                 "properties": {"v": {"type": "string"}}}},
      "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
               "properties": {"known": {"type": "object", "properties": {"k": {"type": "string"}}}}},
      "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                   "properties": {"spec": {"type": "object"}}}}},
    "status": {"type": "object", "properties": {"stage": {"type": "string"}}}}})");

TEST(DuplicateFields, FindsRepeatedKeysWithTheirPaths) {
  EXPECT_EQ(DuplicateFields(R"({"a": 1, "b": {"c": 1, "c": [2]}, "l": [0, {"x": 1, "x": 2}],
                                "a": {"z": 1}})"),
            (std::vector<std::string>{"b.c", "l[1].x", "a"}));
  EXPECT_TRUE(DuplicateFields(R"({"a": {"b": 1}, "c": {"b": 2}})").empty());
  EXPECT_TRUE(DuplicateFields(R"({"a": 1, "a": )").empty());  // not JSON
}

TEST(PruneUnknownFields, DropsWhatTheSchemaDoesNotDeclare) {
  Json o = Json::parse(R"({"apiVersion": "g/v", "kind": "K",
    "metadata": {"name": "n", "labels": {"a": "b"}, "nmae": "x"},
    "spec": {"size": 1, "sise": 2,
             "parts": [{"name": "a"}, {"name": "b", "nmae": "c"}],
             "labels": {"x": {"v": "1", "w": "2"}},
             "free": {"anything": {"goes": 1}, "known": {"k": "1", "j": "2"}},
             "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                          "spec": {"dropped": true}, "extra": 1}},
    "status": {"stage": "Running", "stgae": "x"}, "top": 1})");
  EXPECT_EQ(PruneUnknownFields(kSchema, &o),
            (std::vector<std::string>{"metadata.nmae", "spec.free.known.j", "spec.labels.x.w",
                                      "spec.parts[1].nmae", "spec.sise", "spec.template.extra",
                                      "spec.template.spec.dropped", "status.stgae", "top"}));
  EXPECT_EQ(o, Json::parse(R"({"apiVersion": "g/v", "kind": "K",
    "metadata": {"name": "n", "labels": {"a": "b"}},
    "spec": {"size": 1, "parts": [{"name": "a"}, {"name": "b"}], "labels": {"x": {"v": "1"}},
             "free": {"anything": {"goes": 1}, "known": {"k": "1"}},
             "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                          "spec": {}}},
    "status": {"stage": "Running"}})"));
}

TEST(PruneUnknownFields, WithoutASchemaKeepsAllButUnknownMetadata) {
  Json o = Json::parse(R"({"kind": "K", "metadata": {"name": "n", "x": 1}, "spec": {"a": 1}})");
  EXPECT_EQ(PruneUnknownFields(Json(), &o), std::vector<std::string>{"metadata.x"});
  EXPECT_EQ(o, Json::parse(R"({"kind": "K", "metadata": {"name": "n"}, "spec": {"a": 1}})"));
}

FieldRequest Request(const std::string& directive, const std::string& operation,
                     const std::string& raw) {
  return {directive, operation, "Gadget", "v1", raw, &kSchema};
}

TEST(CheckFields, StrictRejectsACreateAsTheRealServerDoes) {
  const std::string raw = R"({"kind": "Gadget", "spec": {"size": 1, "size": 2, "sise": 3}})";
  Json o = Json::parse(raw);
  FieldVerdict v = CheckFields(Request("Strict", "Create", raw), &o);
  EXPECT_EQ(v.code, 400);
  EXPECT_EQ(v.status["reason"], "BadRequest");
  EXPECT_EQ(v.status["message"],
            "Gadget in version \"v1\" cannot be handled as a Gadget: strict decoding error: "
            "duplicate field \"spec.size\", unknown field \"spec.sise\"");
}

TEST(CheckFields, StrictRejectsAPatchWithThePatchedObject) {
  Json o = {{"kind", "Gadget"}, {"spec", {{"sise", 3}}}};
  FieldVerdict v = CheckFields(Request("Strict", "Patch", R"({"spec": {"sise": 3}})"), &o);
  EXPECT_EQ(v.code, 422);
  EXPECT_EQ(v.status["reason"], "Invalid");
  EXPECT_EQ(v.status["message"],
            " \"\" is invalid: patch: Invalid value: \"{\\\"kind\\\":\\\"Gadget\\\",\\\"spec\\\":"
            "{\\\"sise\\\":3}}\": strict decoding error: unknown field \"spec.sise\"");
  EXPECT_EQ(v.status["details"]["causes"][0]["field"], "patch");
}

TEST(CheckFields, WarnAndIgnoreAcceptAndPrune) {
  const std::string raw = R"({"spec": {"size": 1, "sise": 3}, "spec": {"size": 1, "sise": 3}})";
  Json warned = Json::parse(raw);
  FieldVerdict v = CheckFields(Request("", "Update", raw), &warned);  // Warn is the default
  EXPECT_EQ(v.code, 0);
  EXPECT_EQ(v.warnings,
            (std::vector<std::string>{"duplicate field \"spec\"", "unknown field \"spec.sise\""}));
  EXPECT_EQ(warned, Json::parse(R"({"spec": {"size": 1}})"));
  Json ignored = Json::parse(raw);
  v = CheckFields(Request("Ignore", "Update", raw), &ignored);
  EXPECT_EQ(v.code, 0);
  EXPECT_TRUE(v.warnings.empty());
  EXPECT_EQ(ignored, warned);
  // A JSON patch's operations are not an object: only the patched object's fields count.
  Json patched = Json::parse(R"({"spec": {"size": 2}})");
  v = CheckFields(Request("Strict", "Patch", R"([{"op": "add", "path": "/a", "value": 1},
                                               {"op": "add", "path": "/a", "value": 1}])"),
                  &patched);
  EXPECT_EQ(v.code, 0);
}

TEST(CheckFields, RejectsAnUnsupportedDirective) {
  Json o = Json::object();
  FieldVerdict v = CheckFields(Request("strict", "Create", "{}"), &o);
  EXPECT_EQ(v.code, 422);
  EXPECT_EQ(v.status["message"],
            "CreateOptions.meta.k8s.io \"\" is invalid: fieldValidation: Unsupported value: "
            "\"strict\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\"");
}

TEST(WarningHeader, QuotesTheText) {
  EXPECT_EQ(WarningHeader("unknown field \"spec.a\\b\""),
            "299 - \"unknown field \\\"spec.a\\\\b\\\"\"");
}

TEST(BuiltinSchema, DeclaresTheTopLevelFieldsOfEachKind) {
  Json cm = Json::parse(R"({"kind": "ConfigMap", "data": {"a": "b"}, "datas": {}})");
  EXPECT_EQ(PruneUnknownFields(BuiltinSchema("", "ConfigMap"), &cm),
            std::vector<std::string>{"datas"});
  Json deploy = Json::parse(R"({"spec": {"replicas": 1, "template": {"x": 1}}, "sepc": 1})");
  EXPECT_EQ(PruneUnknownFields(BuiltinSchema("apps", "Deployment"), &deploy),
            std::vector<std::string>{"sepc"});
  EXPECT_TRUE(BuiltinSchema("apps", "StatefulSet").is_null());
}

TEST(OpenApi, DocumentsDeclareFieldValidationOnPatch) {
  ApiKind k{"example.com", "v1", "Gadget", "gadgets", true, true, true, kSchema};
  ApiKind cm{"",   "v1",  "ConfigMap", "configmaps",
             true, false, false,       BuiltinSchema("", "ConfigMap")};
  EXPECT_EQ(DefinitionName(k), "com.example.v1.Gadget");
  EXPECT_EQ(DefinitionName(cm), "io.k8s.api.core.v1.ConfigMap");
  const Json v3 = OpenApiV3({k, cm}, "example.com", "v1");
  EXPECT_EQ(v3["openapi"], "3.0.0");
  const Json& patch =
      v3["paths"]["/apis/example.com/v1/namespaces/{namespace}/gadgets/{name}"]["patch"];
  EXPECT_EQ(patch["x-kubernetes-group-version-kind"],
            Json::parse(R"({"group": "example.com", "version": "v1", "kind": "Gadget"})"));
  bool field_validation = false;
  for (const Json& p : patch["parameters"]) {
    field_validation |= p["name"] == "fieldValidation" && p["in"] == "query";
  }
  EXPECT_TRUE(field_validation) << patch.dump();
  EXPECT_TRUE(
      v3["paths"].contains("/apis/example.com/v1/namespaces/{namespace}/gadgets/{name}/status"));
  EXPECT_FALSE(v3["paths"].contains("/api/v1/namespaces/{namespace}/configmaps"));
  const Json& schema = v3["components"]["schemas"]["com.example.v1.Gadget"];
  EXPECT_EQ(schema["properties"]["spec"], kSchema["properties"]["spec"]);
  EXPECT_EQ(schema["properties"]["metadata"]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
  const Json discovery = OpenApiV3Discovery({k, cm});
  EXPECT_EQ(discovery["paths"].size(), 2u);
  EXPECT_EQ(discovery["paths"]["api/v1"]["serverRelativeURL"].get<std::string>().rfind(
                "/openapi/v3/api/v1?hash=", 0),
            0u);
  const Json v2 = OpenApiV2({k, cm});
  EXPECT_EQ(v2["swagger"], "2.0");
  EXPECT_TRUE(v2["definitions"].contains("io.k8s.api.core.v1.ConfigMap"));
  EXPECT_TRUE(v2["definitions"]["io.k8s.api.core.v1.ConfigMap"].contains(
      "x-kubernetes-group-version-kind"));
  // A partial schema is not tagged with its kind (kubectl would patch by it and warn).
  ApiKind deploy{"apps", "v1", "Deployment", "deployments",
                 true,   true, false,        BuiltinSchema("apps", "Deployment")};
  const Json apps = OpenApiV3({deploy}, "apps", "v1");
  EXPECT_FALSE(apps["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].contains(
      "x-kubernetes-group-version-kind"));
  EXPECT_TRUE(
      apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"].contains(
          "x-kubernetes-group-version-kind"));
  EXPECT_EQ(v2["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"]["parameters"]
              [2]["name"],
            "fieldValidation");
}

}  // namespace
}  // namespace iter8::testing
