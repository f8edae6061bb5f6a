#include "api/document.h"

#include <cmath>
#include <cstdlib>
#include <exception>
#include <regex>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include "common/strings.h"
#include "common/status_macros.h"

namespace iter8::api {
namespace {

std::string EscapePointerSegment(std::string_view seg) {
  return StrReplaceAll(seg, {{"~", "~0"}, {"/", "~1"}});
}

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    size_t n;
    if (c < 0x80) {
      n = 0;
    } else if ((c >> 5) == 0x6) {
      n = 1;
    } else if ((c >> 4) == 0xE) {
      n = 2;
    } else if ((c >> 3) == 0x1E) {
      n = 3;
    } else {
      return false;
    }
    if (i + n >= s.size() && n > 0) return false;
    for (size_t k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    }
    i += n + 1;
  }
  return true;
}

// How go-yaml v2 (and so Kubernetes) types a plain scalar.
Json ResolvePlain(const std::string& s, std::string* error) {
  static const char* const kNull[] = {"", "~", "null", "Null", "NULL"};
  static const char* const kTrue[] = {"y", "Y", "yes", "Yes", "YES", "true",
                                      "True", "TRUE", "on", "On", "ON"};
  static const char* const kFalse[] = {"n", "N", "no", "No", "NO", "false",
                                       "False", "FALSE", "off", "Off", "OFF"};
  for (const char* v : kNull) {
    if (s == v) return nullptr;
  }
  for (const char* v : kTrue) {
    if (s == v) return true;
  }
  for (const char* v : kFalse) {
    if (s == v) return false;
  }
  static const std::regex kSpecialFloat(R"(^[-+]?\.(inf|Inf|INF|nan|NaN|NAN)$)");
  if (std::regex_match(s, kSpecialFloat)) {
    *error = StrCat("\"", s, "\" (infinity or NaN) cannot be represented in JSON");
    return nullptr;
  }
  if (s.empty() || s.size() > 400) return s;
  char c0 = s[0];
  if (!(c0 == '-' || c0 == '+' || c0 == '.' || (c0 >= '0' && c0 <= '9'))) return s;
  // Integers: decimal, 0x hex, 0 octal, 0b binary, underscores allowed (Go ParseInt base 0).
  std::string t = StrReplaceAll(s, {{"_", ""}});
  static const std::regex kInt(R"(^[-+]?(0b[01]+|0x[0-9a-fA-F]+|0o?[0-7]+|[1-9][0-9]*|0)$)");
  if (std::regex_match(t, kInt)) {
    bool neg = t[0] == '-';
    std::string body = (t[0] == '-' || t[0] == '+') ? t.substr(1) : t;
    int base = 10;
    if (body.size() > 1 && body[0] == '0') {
      if (body[1] == 'x') {
        base = 16;
        body = body.substr(2);
      } else if (body[1] == 'b') {
        base = 2;
        body = body.substr(2);
      } else if (body[1] == 'o') {
        base = 8;
        body = body.substr(2);
      } else {
        base = 8;
        body = body.substr(1);
      }
    }
    errno = 0;
    unsigned long long mag = std::strtoull(body.c_str(), nullptr, base);
    if (errno == 0) {
      if (!neg) {
        if (mag <= static_cast<unsigned long long>(INT64_MAX)) return static_cast<int64_t>(mag);
        return static_cast<uint64_t>(mag);
      }
      if (mag <= static_cast<unsigned long long>(INT64_MAX) + 1ULL) {
        return static_cast<int64_t>(-static_cast<__int128>(mag));
      }
    }
    // Out of 64-bit range: falls through to float like go-yaml.
  }
  static const std::regex kFloat(R"(^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$)");
  if (std::regex_match(t, kFloat)) {
    double d = std::strtod(t.c_str(), nullptr);
    if (!std::isfinite(d)) {
      *error = StrCat("number \"", s, "\" is out of range");
      return nullptr;
    }
    return d;
  }
  return s;
}

class YamlConverter {
 public:
  YamlConverter(Document* doc) : doc_(doc) {}

  absl::Status Convert(const YAML::Node& node, Json* out) {
    nodes_ = 0;
    return Visit(node, "", 0, out);
  }

 private:
  absl::Status ErrorAt(const YAML::Mark& m, std::string_view what) {
    return absl::InvalidArgumentError(
        StrCat(doc_->source, ":", m.line + 1, ":", m.column + 1, ": ", what));
  }

  // `at` is where the value is reported: the key's position for mapping values (so a problem
  // with `params:` points at that line even when the value is empty), else the node's own.
  absl::Status Visit(const YAML::Node& node, const std::string& pointer, int depth, Json* out,
                     const YAML::Mark* at = nullptr) {
    if (++nodes_ > kMaxNodes) {
      return ErrorAt(node.Mark(), StrCat("document expands to more than ", kMaxNodes,
                                               " values (alias bomb?)"));
    }
    if (depth > kMaxDepth) {
      return ErrorAt(node.Mark(), StrCat("nesting deeper than ", kMaxDepth, " levels"));
    }
    const YAML::Mark mark = at ? *at : node.Mark();
    if (!mark.is_null()) doc_->locations[pointer] = {mark.line + 1, mark.column + 1};
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        *out = nullptr;
        return absl::OkStatus();
      case YAML::NodeType::Scalar: {
        const std::string& s = node.Scalar();
        if (!ValidUtf8(s)) return ErrorAt(node.Mark(), "invalid UTF-8 in string");
        const std::string& tag = node.Tag();
        if (tag == "!" || tag == "tag:yaml.org,2002:str") {
          *out = s;
          return absl::OkStatus();
        }
        std::string error;
        *out = ResolvePlain(s, &error);
        if (!error.empty()) return ErrorAt(node.Mark(), error);
        return absl::OkStatus();
      }
      case YAML::NodeType::Sequence: {
        *out = Json::array();
        size_t i = 0;
        for (const auto& item : node) {
          Json v;
          RETURN_IF_ERROR(Visit(item, StrCat(pointer, "/", i), depth + 1, &v));
          out->push_back(std::move(v));
          ++i;
        }
        return absl::OkStatus();
      }
      case YAML::NodeType::Map: {
        *out = Json::object();
        for (const auto& kv : node) {
          if (!kv.first.IsScalar()) {
            return ErrorAt(kv.first.Mark(), "mapping keys must be strings");
          }
          std::string key = kv.first.Scalar();
          if (!ValidUtf8(key)) return ErrorAt(kv.first.Mark(), "invalid UTF-8 in key");
          if (key == "<<" && kv.first.Tag() == "?") {
            return ErrorAt(kv.first.Mark(), "merge keys (<<) are not supported");
          }
          if (out->contains(key)) {
            return ErrorAt(kv.first.Mark(), StrCat("duplicate key \"", key, "\""));
          }
          Json v;
          const YAML::Mark key_mark = kv.first.Mark();
          RETURN_IF_ERROR(Visit(kv.second, StrCat(pointer, "/", EscapePointerSegment(key)),
                                depth + 1, &v, &key_mark));
          (*out)[key] = std::move(v);
        }
        return absl::OkStatus();
      }
    }
    return absl::OkStatus();
  }

  Document* doc_;
  size_t nodes_ = 0;
};

absl::StatusOr<std::vector<Document>> ParseJsonText(std::string_view text,
                                                    std::string_view source) {
  // Track depth during parsing; nlohmann's parser is iterative but deep trees are costly to use.
  bool too_deep = false;
  Json::parser_callback_t cb = [&](int depth, Json::parse_event_t, Json&) {
    if (depth > kMaxDepth) too_deep = true;
    return !too_deep;
  };
  Json j;
  try {
    j = Json::parse(text.begin(), text.end(), cb);
  } catch (const Json::parse_error& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 5: ..."
    size_t p = what.find("parse error");
    return absl::InvalidArgumentError(
        StrCat(source, ": invalid JSON: ", p == std::string::npos ? what : what.substr(p)));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(StrCat(source, ": invalid JSON: ", e.what()));
  }
  if (too_deep) {
    return absl::InvalidArgumentError(
        StrCat(source, ": JSON nesting deeper than ", kMaxDepth, " levels"));
  }
  Document d;
  d.source = std::string(source);
  d.json = std::move(j);
  std::vector<Document> out;
  out.push_back(std::move(d));
  return out;
}

// ------------------------------------------------------------------ YAML writer

bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  std::string error;
  if (!ResolvePlain(s, &error).is_string() || !error.empty()) return true;
  if (s.front() == ' ' || s.back() == ' ') return true;
  static constexpr std::string_view kBadStart = "-?:,[]{}#&*!|>'\"%@`";
  if (kBadStart.find(s.front()) != std::string_view::npos) {
    // "-foo" and "?foo" and ":foo" are plain-safe only when followed by a non-space; keep it simple.
    return true;
  }
  if (s == "<<") return true;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = s[i];
    if (c < 0x20 || c == 0x7f) return true;
    if (c == ':' && (i + 1 == s.size() || s[i + 1] == ' ')) return true;
    if (c == '#' && i > 0 && s[i - 1] == ' ') return true;
  }
  return false;
}

bool LiteralBlockOk(const std::string& s) {
  if (s.find('\n') == std::string::npos) return false;
  if (s.front() == ' ' || s.front() == '\n') return false;
  size_t trailing = 0;
  for (size_t i = s.size(); i > 0 && s[i - 1] == '\n'; --i) ++trailing;
  if (trailing > 1) return false;
  size_t line_start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '\n') {
      if (i > line_start && s[i - 1] == ' ') return false;
      line_start = i + 1;
      continue;
    }
    unsigned char c = s[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f || c == '\r') return false;
    if (c == '\t') return false;
  }
  return true;
}

void EmitString(const std::string& s, int indent, std::string* out) {
  if (LiteralBlockOk(s)) {
    bool ends_nl = s.back() == '\n';
    *out += ends_nl ? "|\n" : "|-\n";
    std::string pad(indent + 2, ' ');
    size_t start = 0;
    std::string body = ends_nl ? s.substr(0, s.size() - 1) : s;
    while (start <= body.size()) {
      size_t nl = body.find('\n', start);
      std::string line = body.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
      *out += line.empty() ? "" : pad + line;
      *out += '\n';
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
    return;
  }
  *out += NeedsQuotes(s) ? Json(s).dump() : s;
  *out += '\n';
}

void EmitScalar(const Json& j, int indent, std::string* out) {
  if (j.is_string()) return EmitString(j.get<std::string>(), indent, out);
  if (j.is_null()) {
    *out += "null\n";
    return;
  }
  *out += j.dump();
  *out += '\n';
}

std::string Key(const std::string& k) { return NeedsQuotes(k) ? Json(k).dump() : k; }

void EmitNode(const Json& j, int indent, std::string* out);

// Writes the value after "key:" or "- " has been written.
void EmitValueAfter(const Json& v, int indent, bool in_sequence, std::string* out) {
  if (v.is_object() && !v.empty()) {
    *out += '\n';
    EmitNode(v, indent + 2, out);
  } else if (v.is_array() && !v.empty()) {
    *out += '\n';
    // kubectl style: a sequence under a mapping key is not indented further.
    EmitNode(v, in_sequence ? indent + 2 : indent, out);
  } else if (v.is_object()) {
    *out += " {}\n";
  } else if (v.is_array()) {
    *out += " []\n";
  } else {
    *out += ' ';
    EmitScalar(v, indent, out);
  }
}

void EmitNode(const Json& j, int indent, std::string* out) {
  std::string pad(indent, ' ');
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      *out += pad + Key(it.key()) + ":";
      EmitValueAfter(it.value(), indent, false, out);
    }
  } else if (j.is_array()) {
    for (const auto& item : j) {
      if (item.is_object() && !item.empty()) {
        // First key on the dash line, the rest aligned under it.
        std::string sub;
        EmitNode(item, indent + 2, &sub);
        *out += pad + "- " + sub.substr(indent + 2);
      } else if (item.is_array() && !item.empty()) {
        *out += pad + "-";
        EmitValueAfter(item, indent, true, out);
      } else {
        *out += pad + "-";
        EmitValueAfter(item, indent, true, out);
      }
    }
  } else {
    EmitScalar(j, indent, out);
  }
}

}  // namespace

std::string Document::Locate(std::string_view pointer) const {
  std::string p(pointer);
  while (true) {
    auto it = locations.find(p);
    if (it != locations.end()) {
      return StrCat(source, ":", it->second.line, ":", it->second.column);
    }
    if (p.empty()) break;
    size_t slash = p.rfind('/');
    p = slash == std::string::npos ? "" : p.substr(0, slash);
  }
  return index > 0 ? StrCat(source, " (document ", index + 1, ")") : source;
}

std::string Document::Describe(const FieldError& error) const {
  return StrCat(Locate(error.pointer), ": ", error.pointer.empty() ? "/" : error.pointer,
                      ": ", error.message);
}

absl::StatusOr<std::vector<Document>> ParseDocuments(std::string_view text,
                                                     std::string_view source) {
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    return absl::InvalidArgumentError(StrCat(source, ": empty input"));
  }
  if (text[first] == '{' || text[first] == '[') return ParseJsonText(text, source);

  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(std::string(text));
  } catch (const YAML::DeepRecursion& e) {
    return absl::InvalidArgumentError(StrCat(source, ":", e.mark.line + 1, ":",
                                                   e.mark.column + 1,
                                                   ": YAML nesting too deep"));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(StrCat(source, ":", e.mark.line + 1, ":",
                                                   e.mark.column + 1, ": invalid YAML: ", e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(StrCat(source, ": invalid YAML: ", e.what()));
  }
  std::vector<Document> out;
  int index = 0;
  for (const auto& node : nodes) {
    if (node.IsNull()) {
      ++index;
      continue;
    }
    Document d;
    d.source = std::string(source);
    d.index = index++;
    YamlConverter conv(&d);
    try {
      absl::Status s = conv.Convert(node, &d.json);
      if (!s.ok()) return s;
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(StrCat(source, ": invalid YAML: ", e.what()));
    }
    out.push_back(std::move(d));
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(StrCat(source, ": no documents in input"));
  }
  return out;
}

std::string ToYaml(const Json& json) {
  std::string out;
  if (json.is_object() && json.empty()) return "{}\n";
  if (json.is_array() && json.empty()) return "[]\n";
  EmitNode(json, 0, &out);
  return out;
}

}  // namespace iter8::api
