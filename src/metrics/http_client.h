// File: metrics/http_client.h
//
// A small blocking HTTP client over libcurl for metric backends (and later webhooks): one
// request at a time, keep-alive connections reused across requests, connect and total
// timeouts, TLS verification on unless turned off, an optional CA bundle, and a bound on the
// response size. Failures come back as Status with the reason a user can act on (connection
// refused, timed out, TLS verification failed, response too large).
//
// An HttpClient owns a curl handle: use one per thread; it is not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace iter8::metrics {

struct HttpClientOptions {
  absl::Duration connect_timeout = absl::Seconds(2);
  absl::Duration timeout = absl::Seconds(5);  // whole request, as the original's 5 s
  bool verify_tls = true;
  std::string ca_file;  // PEM bundle; empty = system default
  size_t max_response_bytes = 4 << 20;
};

struct HttpRequest {
  std::string method = "GET";  // GET or POST
  std::string url;
  std::vector<std::pair<std::string, std::string>> query;  // appended, percent-encoded
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;        // sent when non-empty
  std::string basic_user;  // basic auth when non-empty
  std::string basic_password;

  // "GET http://host/path?a=b" plus the body, for records and `iter8 metric get`.
  std::string Describe() const;
};

struct HttpResponse {
  long status = 0;
  std::string body;
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  absl::StatusOr<HttpResponse> Do(const HttpRequest& request);
  // The URL with the query appended (percent-encoded).
  std::string FullUrl(const HttpRequest& request);

 private:
  HttpClientOptions options_;
  void* curl_;  // CURL*
};

}  // namespace iter8::metrics
