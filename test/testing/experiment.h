// File: test/testing/experiment.h
//
// An Experiment for unit tests from the YAML of its spec (a v2alpha2 header named `e` is added),
// defaulted in memory as the controller does. A YAML or load error fails the current test.
// Test-only; thread-safe.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "api/document.h"
#include "api/load.h"
#include "api/validate.h"

namespace iter8::testing {

inline api::Experiment DefaultedExperiment(const std::string& spec_yaml) {
  const std::string text =
      "apiVersion: iter8.tools/v2alpha2\nkind: Experiment\nmetadata: {name: e}\n" + spec_yaml;
  auto docs = api::ParseDocuments(text, "t.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  if (!docs.ok()) return api::Experiment{};
  auto e = api::LoadExperiment((*docs)[0]);
  EXPECT_TRUE(e.ok()) << e.status();
  api::Experiment out = e.ok() ? *e : api::Experiment{};
  api::ApplyDefaults(&out);
  return out;
}

}  // namespace iter8::testing
