// File: api/document.h
//
// Text front end for resources: splits YAML (multi-document) or JSON text into JSON trees,
// remembering where every value came from, and writes JSON back as YAML or JSON text.
//
// YAML scalars are typed as Kubernetes' YAML reader (YAML 1.1, go-yaml v2) types them: plain
// `0.01` is a number, quoted `"0.01"` a string, `yes`/`on` booleans, `~` null. Guards against
// hostile input: nesting deeper than kMaxDepth, alias expansion beyond kMaxNodes, duplicate
// keys, invalid UTF-8 and non-scalar keys are errors naming the line and column.
//
// Pure functions over strings; thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "api/codec.h"
#include "api/types.h"

namespace iter8::api {

inline constexpr int kMaxDepth = 256;
inline constexpr size_t kMaxNodes = 100'000;

struct SourceLocation {
  int line = 0;    // 1-based
  int column = 0;  // 1-based
};

// One document of a YAML stream or one JSON text.
struct Document {
  std::string source;  // file name as the user gave it, or "<stdin>"
  int index = 0;       // position in a multi-document stream, from 0
  Json json;
  // JSON pointer -> where that value starts (YAML input only).
  std::map<std::string, SourceLocation> locations;

  // "source:line:column" for the pointer, or for its nearest ancestor with a known location;
  // "source" (plus " (document N)" in a stream) when nothing is known.
  std::string Locate(std::string_view pointer) const;
  // "<Locate(pointer)>: <pointer>: <message>".
  std::string Describe(const FieldError& error) const;
};

// Parses `text` as JSON when it starts with '{' or '[', as YAML otherwise. Empty documents in a
// YAML stream (e.g. a leading `---`) are skipped. Errors name the source, line and column.
absl::StatusOr<std::vector<Document>> ParseDocuments(std::string_view text,
                                                     std::string_view source);

// Block-style YAML as kubectl writes it; strings that YAML would read as another type are
// quoted, so ParseDocuments(ToYaml(j)) gives back j.
std::string ToYaml(const Json& json);

}  // namespace iter8::api
