// File: net/endpoint.h
//
// Parsing of the addresses users write: `host:port` listen addresses and `http://host:port/path`
// backend URLs. Errors name what is wrong with the text. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace iter8::net {

struct HostPort {
  std::string host;  // name or address; IPv6 addresses without brackets
  uint16_t port = 0;
  // "host:port", with brackets around an IPv6 address.
  std::string String() const;
};

// "127.0.0.1:8080", "[::1]:80", "localhost:0", ":8080" (host defaults to 127.0.0.1: iter8 never
// listens on every interface unless told to with 0.0.0.0).
absl::StatusOr<HostPort> ParseHostPort(std::string_view text);

struct HttpUrl {
  HostPort address;
  std::string target = "/";  // path and query, at least "/"
  // "http://host:port" (no path), the form used in Host headers and logs.
  std::string Origin() const;
};

// "http://host[:port][/path]"; the port defaults to 80. Other schemes are refused by name.
absl::StatusOr<HttpUrl> ParseHttpUrl(std::string_view text);

}  // namespace iter8::net
