// File: cli/input.h
//
// Reading command input: a file path, or "-" for standard input, bounded in size, with errors
// that name the path. The only place the CLI library touches the file system.
// Thread-compatible (reads std::cin when asked to).
#pragma once

#include <istream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "api/document.h"

namespace iter8::cli {

inline constexpr size_t kMaxInputBytes = 64 << 20;

// Reads all of `path` ("-" = `stdin_stream`). Errors: missing/unreadable file, directory,
// input larger than kMaxInputBytes.
absl::StatusOr<std::string> ReadInput(const std::string& path, std::istream& stdin_stream);

// ReadInput + ParseDocuments; the source name is the path ("<stdin>" for "-").
absl::StatusOr<std::vector<api::Document>> ReadDocuments(const std::string& path,
                                                         std::istream& stdin_stream);

}  // namespace iter8::cli
