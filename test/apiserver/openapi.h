// File: test/apiserver/openapi.h
//
// The OpenAPI documents of the in-tree TEST API server (test_apiserver.h; not Kubernetes), built
// from the kinds it serves at the moment of the request, as the real API server publishes them:
//
//  - GET /openapi/v2: one Swagger 2.0 document (JSON only: a client that accepts nothing but
//    protobuf, as client-go's OpenAPISchema() does, gets 406 Not Acceptable, and kubectl then
//    uses the v3 documents or its compiled-in types);
//  - GET /openapi/v3: the discovery document, `{"paths": {"api/v1": {"serverRelativeURL":
//    "/openapi/v3/api/v1?hash=..."}, "apis/<group>/<version>": ...}}`;
//  - GET /openapi/v3/api/v1, /openapi/v3/apis/<group>/<version>: one OpenAPI 3.0 document per
//    group-version, with an ETag (the hash); a stale `hash` is redirected (301) to the current.
//
// Every kind has its paths (list, create, get, update, patch, delete; status when it has the
// subresource) and its schema; operations carry `x-kubernetes-group-version-kind`, and so do
// the schemas of custom kinds and of built-in kinds whose schema here is complete (ConfigMap,
// Secret: the others are partial, and kubectl would compute strategic merge patches from them
// and warn; untagged, it uses its compiled-in types, as with a real server); write operations
// declare the `fieldValidation`, `dryRun` and `fieldManager` query parameters. kubectl (1.32) uses
// server-side field validation for a kind exactly when the PATCH operation tagged with its
// group-version-kind has a `fieldValidation` query parameter in the v3 document of its
// group-version (k8s.io/cli-runtime resource/query_param_verifier_v3.go).
//
// Document builders are pure; ServeOpenApi registers handlers that call `kinds` (which must be
// safe from the server's threads) on every request.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace httplib {
class Server;
}

namespace iter8::testing {

// One kind as served in one version.
struct ApiKind {
  std::string group;  // "" for the core group
  std::string version, kind, plural;
  bool namespaced = true;
  bool status = false;    // has the status subresource
  bool custom = false;    // defined by a CRD
  nlohmann::json schema;  // its structural schema in this version (null: none)
};

// The schema name of a kind in the documents ("io.k8s.api.core.v1.ConfigMap",
// "tools.iter8.v2alpha2.Experiment").
std::string DefinitionName(const ApiKind& kind);

nlohmann::json OpenApiV2(const std::vector<ApiKind>& kinds);
// The document of one group-version: the kinds of `kinds` in `group`/`version`.
nlohmann::json OpenApiV3(const std::vector<ApiKind>& kinds, const std::string& group,
                         const std::string& version);
nlohmann::json OpenApiV3Discovery(const std::vector<ApiKind>& kinds);

void ServeOpenApi(httplib::Server* server, std::function<std::vector<ApiKind>()> kinds);

}  // namespace iter8::testing
