#include "api/document.h"

#include <yaml.h>

#include <cmath>
#include <cstdlib>
#include <exception>

#include "common/status_macros.h"
#include "common/strings.h"

namespace iter8::api {
namespace {

std::string EscapePointerSegment(std::string_view seg) {
  return StrReplaceAll(seg, {{"~", "~0"}, {"/", "~1"}});
}

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  auto cont = [&](size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return k < n && byte(k) >= lo && byte(k) <= hi;
  };
  while (i < n) {
    unsigned char c = byte(i);
    if (c < 0x80) {
      i += 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
      if (!cont(i + 1)) return false;
      i += 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
      unsigned char hi = c == 0xED ? 0x9F : 0xBF;
      if (!cont(i + 1, lo, hi) || !cont(i + 2)) return false;
      i += 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
      unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
      unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
      if (!cont(i + 1, lo, hi) || !cont(i + 2) || !cont(i + 3)) return false;
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Matches [-+]?\.(inf|Inf|INF|nan|NaN|NAN).
bool IsSpecialFloat(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  for (std::string_view w : {".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"}) {
    if (s == w) return true;
  }
  return false;
}

// Matches [-+]?(0b[01]+|0x[0-9a-fA-F]+|0o?[0-7]+|[1-9][0-9]*|0).
bool IsYamlInt(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  if (s.empty()) return false;
  auto all = [](std::string_view t, auto pred) {
    if (t.empty()) return false;
    for (char c : t) {
      if (!pred(c)) return false;
    }
    return true;
  };
  if (s[0] != '0') return all(s, IsDigit);
  if (s.size() == 1) return true;
  if (s[1] == 'b') return all(s.substr(2), [](char c) { return c == '0' || c == '1'; });
  if (s[1] == 'x')
    return all(s.substr(2),
               [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
  std::string_view oct = s[1] == 'o' ? s.substr(2) : s.substr(1);
  return all(oct, [](char c) { return c >= '0' && c <= '7'; });
}

// Matches [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?.
bool IsYamlFloat(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && IsDigit(s[i])) ++i, ++int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && IsDigit(s[i])) ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() && IsDigit(s[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == s.size();
}

// How go-yaml v2 (and so Kubernetes) types a plain scalar.
Json ResolvePlain(const std::string& s, std::string* error) {
  static const char* const kNull[] = {"", "~", "null", "Null", "NULL"};
  static const char* const kTrue[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                      "True", "TRUE", "on",  "On",  "ON"};
  static const char* const kFalse[] = {"n",     "N",     "no",  "No",  "NO", "false",
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
  if (IsSpecialFloat(s)) {
    *error = StrCat("\"", s, "\" (infinity or NaN) cannot be represented in JSON");
    return nullptr;
  }
  if (s.empty() || s.size() > 400) return s;
  char c0 = s[0];
  if (!(c0 == '-' || c0 == '+' || c0 == '.' || (c0 >= '0' && c0 <= '9'))) return s;
  // Integers: decimal, 0x hex, 0 octal, 0b binary, underscores allowed (Go ParseInt base 0).
  std::string t = StrReplaceAll(s, {{"_", ""}});
  if (IsYamlInt(t)) {
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
  if (IsYamlFloat(t)) {
    double d = std::strtod(t.c_str(), nullptr);
    if (!std::isfinite(d)) {
      *error = StrCat("number \"", s, "\" is out of range");
      return nullptr;
    }
    return d;
  }
  return s;
}

// Builds JSON documents from libyaml's event stream. libyaml's parser is a state machine with
// explicit stacks, so hostile nesting cannot exhaust the C++ stack; depth, alias expansion,
// keys and UTF-8 are checked here.
class YamlBuilder {
 public:
  YamlBuilder(std::string_view source) : source_(source) {}

  absl::StatusOr<std::vector<Document>> Run(std::string_view text) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
      return absl::ResourceExhaustedError("cannot initialise the YAML parser");
    }
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    absl::Status status = Loop(&parser);
    yaml_parser_delete(&parser);
    if (!status.ok()) return status;
    return std::move(docs_);
  }

 private:
  struct Frame {
    Json value;            // object or array under construction
    std::string pointer;   // JSON pointer of this container
    std::string anchor;    // anchor to record when the container completes
    bool has_key = false;  // mapping: a key is waiting for its value
    std::string key;
    yaml_mark_t key_mark{};
    size_t nodes = 1;  // values inside, for alias accounting
  };

  absl::Status ErrorAt(const yaml_mark_t& m, std::string_view what) const {
    return absl::InvalidArgumentError(
        StrCat(source_, ":", m.line + 1, ":", m.column + 1, ": ", what));
  }

  absl::Status Loop(yaml_parser_t* parser) {
    while (true) {
      yaml_event_t event;
      if (!yaml_parser_parse(parser, &event)) {
        const yaml_mark_t& m = parser->problem_mark;
        std::string what = StrCat("invalid YAML: ", parser->problem ? parser->problem : "error");
        if (parser->context) what += StrCat(" (", parser->context, ")");
        return ErrorAt(m, what);
      }
      absl::Status s = Handle(event);
      const bool done = event.type == YAML_STREAM_END_EVENT;
      yaml_event_delete(&event);
      if (!s.ok()) return s;
      if (done) return absl::OkStatus();
    }
  }

  // Counts `n` more values in the document (alias expansions included).
  absl::Status Count(size_t n, const yaml_mark_t& mark) {
    nodes_ += n;
    if (nodes_ > kMaxNodes) {
      return ErrorAt(mark,
                     StrCat("document expands to more than ", kMaxNodes, " values (alias bomb?)"));
    }
    return absl::OkStatus();
  }

  // Puts a completed value (of `nodes` values in all) into its parent.
  absl::Status Place(Json value, size_t nodes, const yaml_mark_t& mark, const std::string& anchor) {
    if (!anchor.empty()) anchors_[anchor] = {value, nodes};
    if (stack_.empty()) {
      doc_.json = std::move(value);
      return absl::OkStatus();
    }
    Frame& top = stack_.back();
    top.nodes += nodes;
    if (top.value.is_array()) {
      top.value.push_back(std::move(value));
      return absl::OkStatus();
    }
    if (!top.has_key) {
      return ErrorAt(mark, "mapping keys must be strings");  // handled for scalars in Scalar()
    }
    top.value[top.key] = std::move(value);
    top.has_key = false;
    return absl::OkStatus();
  }

  std::string ChildPointer() {
    Frame& top = stack_.back();
    if (top.value.is_array()) return StrCat(top.pointer, "/", top.value.size());
    return StrCat(top.pointer, "/", EscapePointerSegment(top.key));
  }

  void Locate(const std::string& pointer, const yaml_mark_t& mark) {
    doc_.locations[pointer] = {static_cast<int>(mark.line) + 1, static_cast<int>(mark.column) + 1};
  }

  // Records the location of a value about to start; mapping values point at their key.
  std::string BeginValue(const yaml_mark_t& mark) {
    if (stack_.empty()) {
      Locate("", mark);
      return "";
    }
    std::string p = ChildPointer();
    const Frame& top = stack_.back();
    Locate(p, top.value.is_object() ? top.key_mark : mark);
    return p;
  }

  bool ExpectingKey() const {
    return !stack_.empty() && stack_.back().value.is_object() && !stack_.back().has_key;
  }

  static std::string Anchor(const yaml_char_t* a) {
    return a ? std::string(reinterpret_cast<const char*>(a)) : std::string();
  }

  absl::Status Scalar(const yaml_event_t& e) {
    const auto& sc = e.data.scalar;
    std::string text(reinterpret_cast<const char*>(sc.value), sc.length);
    if (!ValidUtf8(text)) return ErrorAt(e.start_mark, "invalid UTF-8 in string");
    std::string tag = sc.tag ? reinterpret_cast<const char*>(sc.tag) : "";
    const bool is_string = tag == "!" || tag == "tag:yaml.org,2002:str" ||
                           (tag.empty() && sc.style != YAML_PLAIN_SCALAR_STYLE);
    if (ExpectingKey()) {
      if (text == "<<" && !is_string)
        return ErrorAt(e.start_mark, "merge keys (<<) are not supported");
      Frame& top = stack_.back();
      if (top.value.contains(text)) {
        return ErrorAt(e.start_mark, StrCat("duplicate key \"", text, "\""));
      }
      top.key = std::move(text);
      top.key_mark = e.start_mark;
      top.has_key = true;
      return absl::OkStatus();
    }
    BeginValue(e.start_mark);
    RETURN_IF_ERROR(Count(1, e.start_mark));
    Json value;
    if (is_string) {
      value = std::move(text);
    } else {
      std::string error;
      value = ResolvePlain(text, &error);
      if (!error.empty()) return ErrorAt(e.start_mark, error);
    }
    return Place(std::move(value), 1, e.start_mark, Anchor(sc.anchor));
  }

  absl::Status Open(const yaml_event_t& e, Json container, const yaml_char_t* anchor) {
    if (ExpectingKey()) return ErrorAt(e.start_mark, "mapping keys must be strings");
    if (stack_.size() >= static_cast<size_t>(kMaxDepth)) {
      return ErrorAt(e.start_mark, StrCat("nesting deeper than ", kMaxDepth, " levels"));
    }
    RETURN_IF_ERROR(Count(1, e.start_mark));
    Frame f;
    f.pointer = BeginValue(e.start_mark);
    f.value = std::move(container);
    f.anchor = Anchor(anchor);
    stack_.push_back(std::move(f));
    return absl::OkStatus();
  }

  absl::Status Close(const yaml_event_t& e) {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    return Place(std::move(f.value), f.nodes, e.start_mark, f.anchor);
  }

  absl::Status Handle(const yaml_event_t& e) {
    switch (e.type) {
      case YAML_DOCUMENT_START_EVENT:
        doc_ = Document{};
        doc_.source = std::string(source_);
        doc_.index = index_;
        anchors_.clear();
        nodes_ = 0;
        return absl::OkStatus();
      case YAML_DOCUMENT_END_EVENT:
        ++index_;
        if (!doc_.json.is_null()) docs_.push_back(std::move(doc_));
        return absl::OkStatus();
      case YAML_SCALAR_EVENT:
        return Scalar(e);
      case YAML_SEQUENCE_START_EVENT:
        return Open(e, Json::array(), e.data.sequence_start.anchor);
      case YAML_MAPPING_START_EVENT:
        return Open(e, Json::object(), e.data.mapping_start.anchor);
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        return Close(e);
      case YAML_ALIAS_EVENT: {
        std::string name = Anchor(e.data.alias.anchor);
        auto it = anchors_.find(name);
        if (it == anchors_.end()) {
          return ErrorAt(e.start_mark, StrCat("unknown alias *", name));
        }
        if (ExpectingKey()) return ErrorAt(e.start_mark, "mapping keys must be strings");
        BeginValue(e.start_mark);
        RETURN_IF_ERROR(Count(it->second.second, e.start_mark));
        return Place(it->second.first, it->second.second, e.start_mark, "");
      }
      default:
        return absl::OkStatus();
    }
  }

  std::string_view source_;
  std::vector<Document> docs_;
  Document doc_;
  int index_ = 0;
  std::vector<Frame> stack_;
  std::map<std::string, std::pair<Json, size_t>> anchors_;
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
    // "-foo" and "?foo" and ":foo" are plain-safe only when followed by a non-space; keep it
    // simple.
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
      std::string line =
          body.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
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
      } else {  // scalars, empty containers, and nested sequences (on the next lines)
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
  return StrCat(Locate(error.pointer), ": ", error.pointer.empty() ? "/" : error.pointer, ": ",
                error.message);
}

absl::StatusOr<std::vector<Document>> ParseDocuments(std::string_view text,
                                                     std::string_view source) {
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    return absl::InvalidArgumentError(StrCat(source, ": empty input"));
  }
  if (text[first] == '{' || text[first] == '[') return ParseJsonText(text, source);

  absl::StatusOr<std::vector<Document>> out = YamlBuilder(source).Run(text);
  if (!out.ok()) return out.status();
  if (out->empty()) {
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
