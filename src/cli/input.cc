#include "cli/input.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/strings.h"

namespace iter8::cli {
namespace {

absl::StatusOr<std::string> ReadBounded(std::istream& in, const std::string& name) {
  std::string data;
  char buf[1 << 16];
  while (in) {
    in.read(buf, sizeof(buf));
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > kMaxInputBytes) {
      return absl::InvalidArgumentError(
          StrCat(name, ": input larger than ", kMaxInputBytes >> 20, " MiB"));
    }
  }
  if (in.bad()) return absl::UnavailableError(StrCat(name, ": read error"));
  return data;
}

}  // namespace

absl::StatusOr<std::string> ReadInput(const std::string& path, std::istream& stdin_stream) {
  if (path == "-") return ReadBounded(stdin_stream, "<stdin>");
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(StrCat(path, ": is a directory, expected a file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  return ReadBounded(in, path);
}

absl::StatusOr<std::vector<api::Document>> ReadDocuments(const std::string& path,
                                                         std::istream& stdin_stream) {
  absl::StatusOr<std::string> text = ReadInput(path, stdin_stream);
  if (!text.ok()) return text.status();
  return api::ParseDocuments(*text, path == "-" ? "<stdin>" : path);
}

}  // namespace iter8::cli
