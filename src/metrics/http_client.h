// File: metrics/http_client.h
//
// The metric providers' names for the HTTP client, which lives in http/http_client.h (shared
// with tasks and the Kubernetes client).
#pragma once

#include "http/http_client.h"

namespace iter8::metrics {

using http::HttpClient;
using http::HttpClientOptions;
using http::HttpRequest;
using http::HttpResponse;

}  // namespace iter8::metrics
