// File: test/testing/reference.h
//
// Access to the original project's reference data (../shared/reference beside the repository,
// or the directory configured as ITER8_REFERENCE_DIR) for compatibility tests. Tests that need
// it fail with a message saying where the data was expected; they never skip silently.
// Test-only; thread-safe.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace iter8::testing {

inline std::filesystem::path ReferenceDir() { return ITER8_REFERENCE_DIR; }

// Fails the current test (fatally) when the reference data is absent.
#define ITER8_REQUIRE_REFERENCE()                                                            \
  ASSERT_TRUE(std::filesystem::is_directory(::iter8::testing::ReferenceDir() / "iter8"))     \
      << "reference data not found at " << ::iter8::testing::ReferenceDir()                  \
      << "/iter8: these compatibility tests need ../shared/reference beside the repository " \
         "(or configure -DITER8_REFERENCE_DIR=...)"

inline std::string ReadFileOrDie(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << p;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every file under `dir` (recursively) whose name ends with one of `extensions`, sorted.
inline std::vector<std::filesystem::path> FilesUnder(const std::filesystem::path& dir,
                                                     std::vector<std::string> extensions) {
  std::vector<std::filesystem::path> out;
  if (!std::filesystem::exists(dir)) return out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    for (const auto& ext : extensions) {
      if (e.path().extension() == ext) out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace iter8::testing
