#include "http/http_client.h"

#include <curl/curl.h>

#include <mutex>

#include "common/strings.h"

namespace iter8::http {
namespace {

struct Sink {
  std::string* body;
  size_t limit;
  const std::function<bool(std::string_view)>* on_data;
  bool overflow = false;
  bool stopped = false;
};

size_t Write(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t bytes = size * n;
  if (*sink->on_data) {
    if ((*sink->on_data)(std::string_view(data, bytes))) return bytes;
    sink->stopped = true;
    return 0;
  }
  if (sink->body->size() + bytes > sink->limit) {
    sink->overflow = true;
    return 0;  // makes curl abort with CURLE_WRITE_ERROR
  }
  sink->body->append(data, bytes);
  return bytes;
}

int Progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(user)->load() ? 1 : 0;  // 1 aborts
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

std::string HttpRequest::Describe() const {
  std::string q;
  for (const auto& [k, v] : query) q += StrCat(q.empty() ? "?" : "&", k, "=", v);
  std::string out = StrCat(method, " ", url, q);
  if (!body.empty()) out += StrCat("\n", body);
  return out;
}

HttpClient::HttpClient(HttpClientOptions options) : options_(std::move(options)) {
  GlobalInit();
  curl_ = curl_easy_init();
}

HttpClient::~HttpClient() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

std::string HttpClient::FullUrl(const HttpRequest& request) {
  std::string url = request.url;
  CURL* curl = static_cast<CURL*>(curl_);
  for (const auto& [k, v] : request.query) {
    char* ek = curl_easy_escape(curl, k.data(), static_cast<int>(k.size()));
    char* ev = curl_easy_escape(curl, v.data(), static_cast<int>(v.size()));
    url += StrCat(url.find('?') == std::string::npos ? "?" : "&", ek ? ek : "", "=", ev ? ev : "");
    curl_free(ek);
    curl_free(ev);
  }
  return url;
}

absl::StatusOr<HttpResponse> HttpClient::Do(const HttpRequest& request) {
  CURL* curl = static_cast<CURL*>(curl_);
  if (!curl) return absl::ResourceExhaustedError("cannot initialise libcurl");
  if (request.method != "GET" && request.method != "POST" && request.method != "PUT" &&
      request.method != "PATCH" && request.method != "DELETE") {
    return absl::InvalidArgumentError(StrCat("unsupported HTTP method ", request.method));
  }
  curl_easy_reset(curl);  // keeps the connection cache
  const std::string url = FullUrl(request);
  HttpResponse response;
  Sink sink{&response.body, options_.max_response_bytes, &request.on_data};
  char error[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  for (const auto& [k, v] : request.headers) {
    headers = curl_slist_append(headers, StrCat(k, ": ", v).c_str());
  }
  if (!request.body.empty()) {
    headers = curl_slist_append(headers, StrCat("Content-Type: ", request.content_type).c_str());
    // libcurl asks for `100 Continue` before bodies over 1 KiB and waits up to a second for
    // it; servers that do not answer it (many do not) would cost every status write a second.
    headers = curl_slist_append(headers, "Expect:");
  }
  if (!request.bearer_token.empty()) {
    headers =
        curl_slist_append(headers, StrCat("Authorization: Bearer ", request.bearer_token).c_str());
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.timeout)));
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
  if (!options_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_blob ca{const_cast<char*>(options_.ca_pem.data()), options_.ca_pem.size(), CURL_BLOB_NOCOPY};
  if (!options_.ca_pem.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &ca);
  curl_blob cert{const_cast<char*>(options_.client_cert_pem.data()),
                 options_.client_cert_pem.size(), CURL_BLOB_NOCOPY};
  curl_blob key{const_cast<char*>(options_.client_key_pem.data()), options_.client_key_pem.size(),
                CURL_BLOB_NOCOPY};
  if (!options_.client_cert_pem.empty()) curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &cert);
  if (!options_.client_key_pem.empty()) curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &key);
  if (!options_.client_cert_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, options_.client_cert_file.c_str());
  }
  if (!options_.client_key_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLKEY, options_.client_key_file.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  if (headers) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (request.method != "GET") {
    if (request.method != "POST") {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    if (request.method != "DELETE" || !request.body.empty()) {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.c_str());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
    }
  }
  if (!request.basic_user.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl, CURLOPT_USERNAME, request.basic_user.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, request.basic_password.c_str());
  }
  if (request.cancel != nullptr) {
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, Progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, request.cancel);
  }
  CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  if (rc == CURLE_ABORTED_BY_CALLBACK) return absl::CancelledError(StrCat(url, ": cancelled"));
  if (sink.stopped) {  // the streaming consumer ended the request
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    return response;
  }
  if (sink.overflow) {
    return absl::ResourceExhaustedError(StrCat("response from ", request.url, " is larger than ",
                                               options_.max_response_bytes, " bytes"));
  }
  if (rc != CURLE_OK) {
    const std::string detail = error[0] ? error : curl_easy_strerror(rc);
    switch (rc) {
      case CURLE_OPERATION_TIMEDOUT:
        return absl::DeadlineExceededError(StrCat(request.url, ": timed out (", detail, ")"));
      case CURLE_COULDNT_CONNECT:
        return absl::UnavailableError(StrCat(request.url, ": cannot connect (", detail, ")"));
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CONNECT_ERROR:
        return absl::UnavailableError(
            StrCat(request.url, ": TLS verification failed (", detail, ")"));
      default:
        return absl::UnavailableError(StrCat(request.url, ": ", detail));
    }
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

}  // namespace iter8::http
