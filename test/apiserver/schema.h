// File: test/apiserver/schema.h
//
// Server-side field validation and pruning for the in-tree TEST API server (test_apiserver.h;
// not Kubernetes), as the real API server does them since Kubernetes 1.27 (KEP 2885):
//
//  - every create, update and patch carries `?fieldValidation=Ignore|Warn|Strict` (Warn when
//    absent, the server's default since 1.23);
//  - the request body's duplicate JSON keys (found in the raw text) and the object's fields its
//    structural schema does not declare are "problems": `duplicate field "spec.a"`, then
//    `unknown field "spec.b[0].c"` (sorted), the real server's strings;
//  - Strict rejects a create or update with 400 BadRequest `<Kind> in version "<v>" cannot be
//    handled as a <Kind>: strict decoding error: <problems>` and a patch with 422 Invalid
//    ` "" is invalid: patch: Invalid value: "<patched object>": strict decoding error: ...`;
//    Warn accepts and returns one `Warning: 299 - "<problem>"` header per problem; Ignore
//    accepts silently. Unknown fields are dropped from what is stored in every case (pruning),
//    except under `x-kubernetes-preserve-unknown-fields: true`.
//
// Schemas are a CRD version's `openAPIV3Schema` or the minimal ones of the built-in kinds the
// server serves (BuiltinSchema: their top-level fields exactly, nested content kept as is).
// `apiVersion`, `kind` and `metadata` (ObjectMeta's fields) are always known at the root.
//
// Pure functions on values; safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace iter8::testing {

enum class FieldValidation { kIgnore, kWarn, kStrict };

// The directive of a `fieldValidation` query value ("" is Warn); nullopt when unsupported.
std::optional<FieldValidation> ParseFieldValidation(const std::string& value);

// The path ("spec.a", "spec.list[2].b") of every key that appears a second time in one object of
// the JSON text, in text order; empty for text that is not JSON.
std::vector<std::string> DuplicateFields(const std::string& json_text);

// Drops from `object` (a whole resource) every field `schema` does not declare and returns
// their sorted paths. A null schema (a CRD version without one) keeps everything but unknown
// metadata.
std::vector<std::string> PruneUnknownFields(const nlohmann::json& schema, nlohmann::json* object);

// The minimal structural schema of a built-in kind ("" group for core), or null when unknown.
nlohmann::json BuiltinSchema(const std::string& group, const std::string& kind);

// `spec.versions[name=version].schema.openAPIV3Schema` of a CRD object, or null.
nlohmann::json CrdVersionSchema(const nlohmann::json& crd, const std::string& version);

// One write to check: what the server knows of the request.
struct FieldRequest {
  std::string directive;  // the raw `fieldValidation` query value
  std::string operation;  // "Create", "Update" or "Patch"
  std::string kind, version;
  std::string raw_body;  // the request body as sent (the patch, for patches)
  const nlohmann::json* schema = nullptr;
};

struct FieldVerdict {
  int code = 0;                       // 0: accepted; else the rejection's HTTP status
  nlohmann::json status;              // the Status object of a rejection
  std::vector<std::string> warnings;  // the texts of Warning headers for an accepted write
};

// Applies the request's directive to `object` (the object to store, in the request's version;
// the patched object for patches): prunes it and says whether and how the write goes on.
FieldVerdict CheckFields(const FieldRequest& request, nlohmann::json* object);

// `299 - "<text>"`: a Warning header's value, quoted as Go's net/http client expects.
std::string WarningHeader(const std::string& text);

}  // namespace iter8::testing
