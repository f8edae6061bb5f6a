#include "metrics/template.h"

#include <algorithm>
#include <cmath>

#include "common/strings.h"

namespace iter8::metrics {
namespace {

bool IdStart(char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IdChar(char c) { return IdStart(c) || (c >= '0' && c <= '9'); }

// Expands `text`; `missing` is called for a placeholder with no value and returns false to
// abort (strict mode).
template <typename OnMissing>
bool Expand(std::string_view text, const Variables& vars, std::string* out, OnMissing missing) {
  out->clear();
  out->reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      out->push_back(c);
      ++i;
      continue;
    }
    char n = text[i + 1];
    if (n == '$') {
      out->push_back('$');
      i += 2;
      continue;
    }
    size_t start, end, after;  // identifier [start, end), text resumes at `after`
    if (n == '{') {
      start = i + 2;
      end = start;
      if (end < text.size() && IdStart(text[end])) {
        ++end;
        while (end < text.size() && IdChar(text[end])) ++end;
      }
      if (end == start || end >= text.size() || text[end] != '}') {  // not a placeholder
        out->push_back('$');
        ++i;
        continue;
      }
      after = end + 1;
    } else if (IdStart(n)) {
      start = i + 1;
      end = start + 1;
      while (end < text.size() && IdChar(text[end])) ++end;
      after = end;
    } else {
      out->push_back('$');
      ++i;
      continue;
    }
    std::string id(text.substr(start, end - start));
    auto it = vars.find(id);
    if (it != vars.end()) {
      out->append(it->second);
    } else {
      if (!missing(id)) return false;
      out->append(text.substr(i, after - i));
    }
    i = after;
  }
  return true;
}

}  // namespace

std::string SafeSubstitute(std::string_view text, const Variables& vars) {
  std::string out;
  Expand(text, vars, &out, [](const std::string&) { return true; });
  return out;
}

absl::StatusOr<std::string> Substitute(std::string_view text, const Variables& vars) {
  std::string out, missing_id;
  if (!Expand(text, vars, &out, [&](const std::string& id) {
        missing_id = id;
        return false;
      })) {
    return absl::InvalidArgumentError(
        StrCat("no value for placeholder $", missing_id, " in \"", text, "\""));
  }
  return out;
}

Variables QueryVariables(const api::VersionDetail& version, absl::Time start, absl::Time now,
                         bool v2alpha1) {
  Variables vars;
  vars["name"] = version.name;
  for (const auto& v : version.variables) vars[v.name] = v.value;
  const int64_t elapsed = static_cast<int64_t>(std::floor(absl::ToDoubleSeconds(now - start)));
  if (v2alpha1) {
    vars["interval"] = StrCat(elapsed, "s");
  } else {
    vars["elapsedTime"] = StrCat(std::max<int64_t>(1, elapsed));
  }
  return vars;
}

}  // namespace iter8::metrics
