// File: proxy/route.cc
#include "proxy/route.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>

#include "absl/status/status.h"
#include "common/strings.h"

namespace iter8::proxy {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool IsToken(const std::string& s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c <= ' ' || c >= 0x7f ||
        std::string_view("()<>@,;:\\\"/[]?={}").find(static_cast<char>(c)) !=
            std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// Collects problems as "<pointer>: <message>" lines.
class Problems {
 public:
  void Add(const std::string& pointer, const std::string& message) {
    lines_.push_back(StrCat(pointer, ": ", message));
  }
  bool Empty() const { return lines_.empty(); }
  absl::Status Status(const std::string& what) const {
    std::string out = StrCat("invalid Route ", what, ":");
    for (const auto& l : lines_) out += StrCat("\n  ", l);
    return absl::InvalidArgumentError(out);
  }

 private:
  std::vector<std::string> lines_;
};

std::optional<int64_t> AsInteger(const api::Json& j) {
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_number_unsigned()) {
    auto v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(v);
  }
  if (j.is_number_float()) {
    double d = j.get<double>();
    if (d == static_cast<double>(static_cast<int64_t>(d)) && d >= 0 && d < 1e15) {
      return static_cast<int64_t>(d);
    }
  }
  return std::nullopt;
}

const std::set<std::string> kSpecFields = {
    "listen", "admin", "adminSocket", "adminToken",  "versions", "canaryTrafficPercent",
    "sticky", "match", "mirror",      "hostRewrite", "timeouts", "limits"};

}  // namespace

int RouteSpec::IndexOf(const std::string& n) const {
  for (size_t i = 0; i < versions.size(); ++i) {
    if (versions[i].name == n) return static_cast<int>(i);
  }
  return -1;
}

std::map<std::string, int64_t> RouteSpec::Weights() const {
  std::map<std::string, int64_t> out;
  for (const auto& v : versions) out[v.name] = v.weight;
  return out;
}

absl::StatusOr<std::chrono::milliseconds> ParseDuration(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) != 0)) ++i;
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + i, n);
  std::string unit = text.substr(i);
  int64_t scale = unit == "ms"  ? 1
                  : unit == "s" ? 1000
                  : unit == "m" ? 60000
                  : unit == "h" ? 3600000
                                : 0;
  if (i == 0 || ec != std::errc() || end != text.data() + i || scale == 0 ||
      n > INT64_MAX / 3600000) {
    return absl::InvalidArgumentError(
        StrCat("\"", text, "\" is not a duration such as 250ms, 2s, 1m or 1h"));
  }
  return std::chrono::milliseconds(n * scale);
}

absl::StatusOr<RouteSpec> ParseRoute(const api::Json& object) {
  RouteSpec out;
  Problems problems;
  if (!object.is_object()) return absl::InvalidArgumentError("a Route must be an object");
  std::string what = "(unnamed)";
  if (object.contains("metadata") && object["metadata"].is_object()) {
    const auto& md = object["metadata"];
    if (md.contains("name") && md["name"].is_string()) out.name = md["name"].get<std::string>();
    if (md.contains("namespace") && md["namespace"].is_string()) {
      out.namespace_ = md["namespace"].get<std::string>();
    }
  }
  if (out.name.empty())
    problems.Add("/metadata/name", "required");
  else
    what = StrCat(out.namespace_, "/", out.name);
  if (api::StringField(object, "apiVersion") != kRouteApiVersion) {
    problems.Add("/apiVersion", StrCat("must be ", kRouteApiVersion));
  }
  if (api::StringField(object, "kind") != kRouteKind) problems.Add("/kind", "must be Route");
  if (!object.contains("spec") || !object["spec"].is_object()) {
    problems.Add("/spec", "required object");
    return problems.Status(what);
  }
  const api::Json& spec = object["spec"];
  for (const auto& [key, _] : spec.items()) {
    if (kSpecFields.count(key) == 0) problems.Add(StrCat("/spec/", key), "unknown field");
  }
  auto address = [&](const char* field, std::optional<net::HostPort>& into) {
    if (!spec.contains(field)) return;
    const std::string pointer = StrCat("/spec/", field);
    if (!spec[field].is_string()) return problems.Add(pointer, "must be a string host:port");
    auto hp = net::ParseHostPort(spec[field].get<std::string>());
    if (!hp.ok()) return problems.Add(pointer, std::string(hp.status().message()));
    into = *hp;
  };
  address("listen", out.listen);
  address("admin", out.admin);
  if (spec.contains("adminSocket")) {
    const api::Json& v = spec["adminSocket"];
    if (!v.is_string() || v.get<std::string>().empty() || v.get<std::string>()[0] != '/') {
      problems.Add("/spec/adminSocket", "must be an absolute path");
    } else if (v.get<std::string>().size() >= 108) {  // sockaddr_un.sun_path
      problems.Add("/spec/adminSocket", "is longer than a Unix socket path may be (107 bytes)");
    } else {
      out.admin_socket = v.get<std::string>();
    }
  }
  if (spec.contains("adminToken")) {
    if (!spec["adminToken"].is_string())
      problems.Add("/spec/adminToken", "must be a string");
    else
      out.admin_token = spec["adminToken"].get<std::string>();
  }

  // Versions.
  bool any_weight = false;
  if (!spec.contains("versions") || !spec["versions"].is_array() || spec["versions"].empty()) {
    problems.Add("/spec/versions", "required: a list of at least one version");
  } else {
    std::set<std::string> names;
    for (size_t i = 0; i < spec["versions"].size(); ++i) {
      const api::Json& v = spec["versions"][i];
      const std::string p = StrCat("/spec/versions/", std::to_string(i));
      if (!v.is_object()) {
        problems.Add(p, "must be an object with name and backend");
        continue;
      }
      RouteVersion rv;
      for (const auto& [key, _] : v.items()) {
        if (key != "name" && key != "backend" && key != "backends" && key != "weight") {
          problems.Add(StrCat(p, "/", key), "unknown field");
        }
      }
      if (!v.contains("name") || !v["name"].is_string() || v["name"].get<std::string>().empty()) {
        problems.Add(StrCat(p, "/name"), "required string");
      } else {
        rv.name = v["name"].get<std::string>();
        if (!names.insert(rv.name).second) {
          problems.Add(StrCat(p, "/name"), StrCat("duplicate version \"", rv.name, "\""));
        }
      }
      std::vector<std::pair<std::string, std::string>> urls;  // pointer, text
      if (v.contains("backend")) {
        if (!v["backend"].is_string())
          problems.Add(StrCat(p, "/backend"), "must be a URL string");
        else
          urls.emplace_back(StrCat(p, "/backend"), v["backend"].get<std::string>());
      }
      if (v.contains("backends")) {
        if (!v["backends"].is_array()) {
          problems.Add(StrCat(p, "/backends"), "must be a list of URLs");
        } else {
          for (size_t k = 0; k < v["backends"].size(); ++k) {
            std::string bp = StrCat(p, "/backends/", std::to_string(k));
            if (!v["backends"][k].is_string())
              problems.Add(bp, "must be a URL string");
            else
              urls.emplace_back(bp, v["backends"][k].get<std::string>());
          }
        }
      }
      if (!v.contains("backend") && !v.contains("backends")) {
        problems.Add(StrCat(p, "/backend"), "required: the version's http:// URL");
      }
      for (const auto& [bp, text] : urls) {
        auto url = net::ParseHttpUrl(text);
        if (!url.ok())
          problems.Add(bp, std::string(url.status().message()));
        else
          rv.backends.push_back(*url);
      }
      if (v.contains("weight") && !v["weight"].is_null()) {
        auto w = AsInteger(v["weight"]);
        if (!w || *w < 0)
          problems.Add(StrCat(p, "/weight"), "must be an integer >= 0");
        else {
          rv.weight = *w;
          any_weight = true;
        }
      }
      out.versions.push_back(std::move(rv));
    }
  }
  if (spec.contains("canaryTrafficPercent")) {
    auto pct = AsInteger(spec["canaryTrafficPercent"]);
    if (!pct || *pct > 100) {
      problems.Add("/spec/canaryTrafficPercent", "must be an integer from 0 to 100");
    } else if (out.versions.size() != 2) {
      problems.Add("/spec/canaryTrafficPercent", "needs exactly two versions");
    } else if (any_weight) {
      problems.Add("/spec/canaryTrafficPercent", "give either weights or canaryTrafficPercent");
    } else {
      out.versions[0].weight = 100 - *pct;
      out.versions[1].weight = *pct;
      any_weight = true;
    }
  }
  if (!any_weight && !out.versions.empty()) out.versions[0].weight = 100;

  if (spec.contains("sticky")) {
    const auto& s = spec["sticky"];
    if (!s.is_object() || s.size() != 1 || !(s.contains("header") || s.contains("cookie")) ||
        !s.begin()->is_string() || !IsToken(s.begin()->get<std::string>())) {
      problems.Add("/spec/sticky", "must be {header: NAME} or {cookie: NAME}");
    } else if (s.contains("header")) {
      out.sticky_header = Lower(s["header"].get<std::string>());
    } else {
      out.sticky_cookie = s["cookie"].get<std::string>();
    }
  }
  if (spec.contains("match")) {
    if (!spec["match"].is_array()) {
      problems.Add("/spec/match", "must be a list of {header, value, version}");
    } else {
      for (size_t i = 0; i < spec["match"].size(); ++i) {
        const auto& m = spec["match"][i];
        std::string p = StrCat("/spec/match/", std::to_string(i));
        if (!m.is_object() || !m.contains("header") || !m["header"].is_string() ||
            !IsToken(m["header"].get<std::string>()) || !m.contains("value") ||
            !m["value"].is_string() || !m.contains("version") || !m["version"].is_string()) {
          problems.Add(p, "must be {header: NAME, value: TEXT, version: VERSION}");
          continue;
        }
        MatchRule rule{Lower(m["header"].get<std::string>()), m["value"].get<std::string>(),
                       m["version"].get<std::string>()};
        if (out.IndexOf(rule.version) < 0) {
          problems.Add(StrCat(p, "/version"), StrCat("no version named \"", rule.version, "\""));
        }
        out.match.push_back(std::move(rule));
      }
    }
  }
  if (spec.contains("mirror")) {
    const auto& m = spec["mirror"];
    int64_t pct = -1;  // (not an optional: g++ 12 -O2 warns maybe-uninitialized on it)
    if (m.is_object() && m.contains("percent")) pct = AsInteger(m["percent"]).value_or(-1);
    if (!m.is_object() || !m.contains("version") || !m["version"].is_string() || pct < 0 ||
        pct > 100) {
      problems.Add("/spec/mirror", "must be {version: NAME, percent: 0..100}");
    } else {
      out.mirror_version = m["version"].get<std::string>();
      out.mirror_percent = static_cast<int>(pct);
      if (out.IndexOf(out.mirror_version) < 0) {
        problems.Add("/spec/mirror/version",
                     StrCat("no version named \"", out.mirror_version, "\""));
      }
    }
  }
  if (spec.contains("hostRewrite")) {
    if (!spec["hostRewrite"].is_boolean())
      problems.Add("/spec/hostRewrite", "must be a boolean");
    else
      out.host_rewrite = spec["hostRewrite"].get<bool>();
  }
  if (spec.contains("timeouts")) {
    const auto& t = spec["timeouts"];
    if (!t.is_object()) {
      problems.Add("/spec/timeouts", "must be an object");
    } else {
      std::map<std::string, std::chrono::milliseconds*> fields = {
          {"connect", &out.timeouts.connect},
          {"header", &out.timeouts.header},
          {"idle", &out.timeouts.idle},
          {"request", &out.timeouts.request}};
      for (const auto& [key, value] : t.items()) {
        std::string p = StrCat("/spec/timeouts/", key);
        auto it = fields.find(key);
        if (it == fields.end()) {
          problems.Add(p, "unknown field (connect, header, idle, request)");
        } else if (!value.is_string()) {
          problems.Add(p, "must be a duration string such as 2s");
        } else if (auto d = ParseDuration(value.get<std::string>()); !d.ok()) {
          problems.Add(p, std::string(d.status().message()));
        } else if (d->count() <= 0) {
          problems.Add(p, "must be positive");
        } else {
          *it->second = *d;
        }
      }
    }
  }
  if (spec.contains("limits")) {
    const auto& l = spec["limits"];
    if (!l.is_object()) {
      problems.Add("/spec/limits", "must be an object");
    } else {
      for (const auto& [key, value] : l.items()) {
        std::string p = StrCat("/spec/limits/", key);
        auto n = AsInteger(value);
        if (key != "headerBytes" && key != "bodyBytes") {
          problems.Add(p, "unknown field (headerBytes, bodyBytes)");
        } else if (!n || *n < 1024) {
          problems.Add(p, "must be an integer >= 1024");
        } else if (key == "headerBytes") {
          if (*n > (1 << 20))
            problems.Add(p, "must be at most 1048576");
          else
            out.header_limit = static_cast<size_t>(*n);
        } else {
          out.body_limit = static_cast<uint64_t>(*n);
        }
      }
    }
  }
  if (!problems.Empty()) return problems.Status(what);
  return out;
}

absl::StatusOr<RouteSpec> WithWeights(const RouteSpec& spec,
                                      const std::map<std::string, int64_t>& weights) {
  RouteSpec out = spec;
  for (const auto& [name, weight] : weights) {
    int i = out.IndexOf(name);
    if (i < 0) {
      return absl::InvalidArgumentError(
          StrCat("route ", spec.name, " has no version \"", name, "\""));
    }
    if (weight < 0) {
      return absl::InvalidArgumentError(StrCat("weight of \"", name, "\" must be >= 0"));
    }
    out.versions[static_cast<size_t>(i)].weight = weight;
  }
  return out;
}

}  // namespace iter8::proxy
