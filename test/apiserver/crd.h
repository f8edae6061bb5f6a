// File: test/apiserver/crd.h
//
// A minimal CustomResourceDefinition (one served and stored version, optionally with the status
// subresource, a schema that keeps every field) for tests and benchmarks that create their own
// kinds on the test API server. Header-only; a pure function.
#pragma once

#include <string>

#include "nlohmann/json.hpp"

namespace iter8::testing {

inline nlohmann::json CrdJson(const std::string& group, const std::string& plural,
                              const std::string& kind, const std::string& version,
                              bool status_subresource) {
  nlohmann::json v = {{"name", version},
                      {"served", true},
                      {"storage", true},
                      {"schema",
                       {{"openAPIV3Schema",
                         {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}}}}};
  if (status_subresource) v["subresources"] = {{"status", nlohmann::json::object()}};
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata", {{"name", plural + "." + group}}},
          {"spec",
           {{"group", group},
            {"scope", "Namespaced"},
            {"names", {{"plural", plural}, {"kind", kind}}},
            {"versions", nlohmann::json::array({v})}}}};
}

}  // namespace iter8::testing
