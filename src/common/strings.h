// File: common/strings.h
//
// Small string helpers over std::string_view. (Debian's Abseil keeps absl::string_view distinct
// from std::string_view, so absl::StrCat does not accept std::string_view; these do.)
// Header-only, pure, thread-safe.
#pragma once

#include <charconv>
#include <concepts>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace iter8 {

namespace strings_internal {

inline void Append(std::string& out, std::string_view v) { out.append(v); }
inline void Append(std::string& out, const std::string& v) { out.append(v); }
inline void Append(std::string& out, absl::string_view v) { out.append(v.data(), v.size()); }
template <size_t N>
void Append(std::string& out, const char (&v)[N]) {
  out.append(v, std::char_traits<char>::length(v));
}
template <typename T>
requires std::same_as<T, const char*> || std::same_as<T, char*>
void Append(std::string& out, T v) { out.append(v); }
inline void Append(std::string& out, char c) { out.push_back(c); }
template <typename T>
requires std::integral<T> &&
    (!std::same_as<T, char>)&&(!std::same_as<T, bool>)void Append(std::string& out, T v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}
inline void Append(std::string& out, bool v) { out.append(v ? "true" : "false"); }
inline void Append(std::string& out, double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

}  // namespace strings_internal

// Concatenates strings, characters, integers and doubles (shortest round-trip form).
template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  (strings_internal::Append(out, args), ...);
  return out;
}

template <typename Range>
std::string StrJoin(const Range& parts, std::string_view sep) {
  std::string out;
  bool first = true;
  for (const auto& p : parts) {
    if (!first) out.append(sep);
    first = false;
    strings_internal::Append(out, p);
  }
  return out;
}

// Replaces every occurrence of each `from` (applied left to right over the input, no rescans).
inline std::string StrReplaceAll(
    std::string_view s, std::initializer_list<std::pair<std::string_view, std::string_view>> subs) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    bool replaced = false;
    for (const auto& [from, to] : subs) {
      if (!from.empty() && s.substr(i, from.size()) == from) {
        out.append(to);
        i += from.size();
        replaced = true;
        break;
      }
    }
    if (!replaced) out.push_back(s[i++]);
  }
  return out;
}

inline std::vector<std::string> StrSplit(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(sep, start);
    out.emplace_back(
        s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  return out;
}

}  // namespace iter8
