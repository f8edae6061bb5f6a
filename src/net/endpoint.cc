// File: net/endpoint.cc
#include "net/endpoint.h"

#include <charconv>

#include "absl/status/status.h"
#include "common/strings.h"

namespace iter8::net {
namespace {

absl::StatusOr<uint16_t> ParsePort(std::string_view text, std::string_view whole) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 65535) {
    return absl::InvalidArgumentError(
        StrCat("\"", whole, "\": port \"", text, "\" is not a number from 0 to 65535"));
  }
  return static_cast<uint16_t>(value);
}

}  // namespace

std::string HostPort::String() const {
  if (host.find(':') != std::string::npos) return StrCat("[", host, "]:", std::to_string(port));
  return StrCat(host, ":", std::to_string(port));
}

absl::StatusOr<HostPort> ParseHostPort(std::string_view text) {
  HostPort out;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(StrCat("\"", text, "\": expected [IPv6 address]:port"));
    }
    out.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError(StrCat("\"", text, "\": expected host:port"));
    }
    out.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (out.host.find(':') != std::string::npos) {
      return absl::InvalidArgumentError(
          StrCat("\"", text, "\": write an IPv6 address in brackets, as [::1]:8080"));
    }
  }
  if (out.host.empty()) out.host = "127.0.0.1";
  for (char c : out.host) {
    if (c <= ' ' || c == '/' || c == '@' || c == '?' || c == '#') {
      return absl::InvalidArgumentError(StrCat("\"", text, "\": invalid character in host"));
    }
  }
  auto p = ParsePort(port, text);
  if (!p.ok()) return p.status();
  out.port = *p;
  return out;
}

std::string HttpUrl::Origin() const { return StrCat("http://", address.String()); }

absl::StatusOr<HttpUrl> ParseHttpUrl(std::string_view text) {
  constexpr std::string_view kScheme = "http://";
  if (text.substr(0, kScheme.size()) != kScheme) {
    if (text.substr(0, 8) == "https://") {
      return absl::InvalidArgumentError(
          StrCat("\"", text, "\": https backends are not supported; use http://"));
    }
    return absl::InvalidArgumentError(StrCat("\"", text, "\": expected an http:// URL"));
  }
  std::string_view rest = text.substr(kScheme.size());
  size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  HttpUrl out;
  if (slash != std::string_view::npos) {
    out.target = std::string(rest.substr(slash));
    if (out.target.front() == '?') out.target.insert(0, "/");
  }
  if (authority.empty()) {
    return absl::InvalidArgumentError(StrCat("\"", text, "\": no host"));
  }
  if (authority.find('@') != std::string_view::npos) {
    return absl::InvalidArgumentError(StrCat("\"", text, "\": user info is not supported"));
  }
  bool has_port = authority.back() != ']' && authority.find(':') != std::string_view::npos;
  if (!authority.empty() && authority.front() == '[') {
    has_port = authority.back() != ']';
  }
  std::string with_port = has_port ? std::string(authority) : StrCat(authority, ":80");
  auto hp = ParseHostPort(with_port);
  if (!hp.ok()) {
    return absl::InvalidArgumentError(
        StrCat("\"", text, "\": ", std::string(hp.status().message())));
  }
  out.address = *hp;
  for (char c : out.target) {
    if (c <= ' ' || c == 0x7f) {
      return absl::InvalidArgumentError(StrCat("\"", text, "\": invalid character in path"));
    }
  }
  return out;
}

}  // namespace iter8::net
