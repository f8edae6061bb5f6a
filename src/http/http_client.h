// File: http/http_client.h
//
// A small blocking HTTP client over libcurl for metric backends, webhooks and the Kubernetes
// API: one
// request at a time, keep-alive connections reused across requests, connect and total
// timeouts, TLS verification on unless turned off, an optional CA bundle, and a bound on the
// response size. Failures come back as Status with the reason a user can act on (connection
// refused, timed out, TLS verification failed, response too large).
//
// An HttpClient owns a curl handle: use one per thread; it is not thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace iter8::http {

struct HttpClientOptions {
  absl::Duration connect_timeout = absl::Seconds(2);
  absl::Duration timeout = absl::Seconds(5);  // whole request, as the original's 5 s
  bool verify_tls = true;
  std::string ca_file;  // PEM bundle; empty = system default
  std::string ca_pem;   // or the bundle itself (kubeconfig certificate-authority-data)
  // A client certificate and key (PEM), as files or as data.
  std::string client_cert_file, client_key_file, client_cert_pem, client_key_pem;
  size_t max_response_bytes = 4 << 20;
};

struct HttpRequest {
  std::string method = "GET";  // GET, POST, PUT, PATCH or DELETE
  std::string url;
  std::vector<std::pair<std::string, std::string>> query;  // appended, percent-encoded
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;                               // sent when non-empty
  std::string content_type = "application/json";  // of the body
  std::string bearer_token;                       // Authorization: Bearer when non-empty
  // Streaming: when set, the response body is handed over piece by piece as it arrives (a
  // Kubernetes watch) instead of being collected; returning false ends the request.
  std::function<bool(std::string_view)> on_data;
  // When set and true, the request is abandoned within about a second (a watch being shut
  // down while no data arrives); Do then returns kCancelled.
  const std::atomic<bool>* cancel = nullptr;
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

}  // namespace iter8::http
