// File: loadgen/loadgen.cc
#include "loadgen/loadgen.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cmath>
#include <cstdio>

#include "absl/status/status.h"
#include "common/strings.h"
#include "net/endpoint.h"
#include "nlohmann/json.hpp"

namespace iter8::loadgen {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

std::string Ms(uint64_t micros) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", micros / 1000.0);
  return buf;
}

struct Run {
  Run(const LoadOptions& o, asio::io_context& context) : options(o), ioc(context) {}

  const LoadOptions& options;
  asio::io_context& ioc;
  std::vector<Tcp::endpoint> endpoints;
  http::request<http::string_body> request;
  Clock::time_point start;
  Clock::time_point end;  // when duration is set
  uint64_t next = 0;
  int active = 0;
  bool stopping = false;
  LoadReport report;

  bool Exhausted(uint64_t index) const {
    return stopping || (options.count > 0 && index >= options.count);
  }

  void Record(const std::string& code, bool error, Clock::duration latency) {
    ++report.requests;
    if (error) ++report.errors;
    ++report.codes[code];
    report.latency.Record(static_cast<uint64_t>(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::microseconds>(latency).count())));
  }

  asio::awaitable<void> Connection() {
    ++active;
    std::unique_ptr<beast::tcp_stream> stream;
    beast::flat_buffer buffer;
    auto req = request;
    const bool open_loop = options.rate > 0;
    const double interval_us = open_loop ? 1e6 / options.rate : 0;
    for (;;) {
      uint64_t index = next++;
      if (Exhausted(index)) break;
      Clock::time_point due = Clock::now();
      if (open_loop) {
        due = start +
              std::chrono::microseconds(static_cast<int64_t>(std::llround(index * interval_us)));
      }
      if (options.duration.count() > 0 && (open_loop ? due : Clock::now()) >= end) {
        break;  // requests due before the end still go out on the other connections
      }
      if (due > Clock::now()) {
        asio::steady_timer t(ioc, due);
        co_await t.async_wait(kNoThrow);
        if (stopping) break;
      }
      Clock::time_point sent = Clock::now();
      Clock::time_point from = open_loop ? due : sent;
      if (!stream) {
        stream = std::make_unique<beast::tcp_stream>(ioc);
        stream->expires_after(options.timeout);
        auto [ec, ep] = co_await stream->async_connect(endpoints, kNoThrow);
        if (ec) {
          Record(ec == beast::error::timeout ? "timeout" : "connect error", true,
                 Clock::now() - from);
          stream.reset();
          // Do not spin against a closed port: pace failed connects at 10 ms.
          asio::steady_timer t(ioc, std::chrono::milliseconds(10));
          co_await t.async_wait(kNoThrow);
          continue;
        }
        boost::system::error_code ignored;
        stream->socket().set_option(Tcp::no_delay(true), ignored);
        buffer.clear();
      }
      stream->expires_after(options.timeout);
      auto [wec, wn] = co_await http::async_write(*stream, req, kNoThrow);
      http::response_parser<http::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      boost::system::error_code rec = wec;
      if (!wec) {
        auto [ec, rn] = co_await http::async_read(*stream, buffer, parser, kNoThrow);
        rec = ec;
      }
      if (rec) {
        Record(rec == beast::error::timeout ? "timeout" : "connection error", true,
               Clock::now() - from);
        stream.reset();
        continue;
      }
      unsigned status = parser.get().result_int();
      Record(std::to_string(status), status >= 400, Clock::now() - from);
      if (!parser.get().keep_alive()) stream.reset();
    }
    if (stream) {
      boost::system::error_code ignored;
      stream->socket().shutdown(Tcp::socket::shutdown_both, ignored);
    }
    --active;
  }

  asio::awaitable<void> Monitor() {
    auto last = Clock::now();
    while (active > 0) {
      asio::steady_timer t(ioc, std::chrono::milliseconds(50));
      co_await t.async_wait(kNoThrow);
      if (options.cancel != nullptr && options.cancel->load()) {
        stopping = true;
        ioc.stop();  // abandon requests in flight
        co_return;
      }
      if (options.progress && Clock::now() - last >= options.progress_every) {
        last = Clock::now();
        report.seconds = std::chrono::duration<double>(last - start).count();
        options.progress(report);
      }
    }
  }
};

}  // namespace

absl::StatusOr<LoadReport> RunLoad(const LoadOptions& options) {
  auto url = net::ParseHttpUrl(options.url);
  if (!url.ok()) return url.status();
  if (options.count == 0 && options.duration.count() <= 0) {
    return absl::InvalidArgumentError("give a duration or a request count");
  }
  if (options.connections < 1 || options.connections > 10000) {
    return absl::InvalidArgumentError("connections must be from 1 to 10000");
  }
  if (options.rate < 0 || !std::isfinite(options.rate)) {
    return absl::InvalidArgumentError("rate must be a number >= 0");
  }
  if (options.timeout.count() <= 0) return absl::InvalidArgumentError("timeout must be positive");
  http::verb verb = http::string_to_verb(options.method);
  if (verb == http::verb::unknown) {
    return absl::InvalidArgumentError(StrCat("unknown HTTP method \"", options.method, "\""));
  }
  asio::io_context ioc(1);
  Run run(options, ioc);
  {
    Tcp::resolver resolver(ioc);
    boost::system::error_code ec;
    auto results = resolver.resolve(url->address.host, std::to_string(url->address.port), ec);
    if (ec || results.empty()) {
      return absl::UnavailableError(
          StrCat("cannot resolve ", url->address.host, ": ", ec.message()));
    }
    for (const auto& r : results) run.endpoints.push_back(r.endpoint());
  }
  run.request = http::request<http::string_body>{verb, url->target, 11};
  run.request.set(http::field::host, url->address.String());
  run.request.set(http::field::user_agent, "iter8-load");
  for (const auto& [k, v] : options.headers) {
    if (k.empty() || k.find_first_of(" \t\r\n:") != std::string::npos ||
        v.find_first_of("\r\n") != std::string::npos) {
      return absl::InvalidArgumentError(StrCat("invalid header \"", k, "\""));
    }
    run.request.set(k, v);
  }
  run.request.body() = options.body;
  if (!options.body.empty() || verb == http::verb::post || verb == http::verb::put) {
    run.request.prepare_payload();
  }
  run.request.keep_alive(true);
  run.start = Clock::now();
  run.end = run.start + options.duration;
  for (int i = 0; i < options.connections; ++i) {
    asio::co_spawn(ioc, run.Connection(), asio::detached);
  }
  asio::co_spawn(ioc, run.Monitor(), asio::detached);
  ioc.run();
  run.report.seconds = std::chrono::duration<double>(Clock::now() - run.start).count();
  return run.report;
}

std::string LoadReport::Table() const {
  char line[256];
  std::string out;
  std::snprintf(line, sizeof line, "requests     %llu\n",
                static_cast<unsigned long long>(requests));
  out += line;
  std::snprintf(line, sizeof line, "errors       %llu (%.2f %%)\n",
                static_cast<unsigned long long>(errors), requests ? 100.0 * errors / requests : 0);
  out += line;
  std::snprintf(line, sizeof line, "duration     %.2f s\nthroughput   %.1f req/s\n", seconds,
                Throughput());
  out += line;
  out += "codes        ";
  bool first = true;
  for (const auto& [code, n] : codes) {
    out += StrCat(first ? "" : ", ", code, ": ", std::to_string(n));
    first = false;
  }
  out += "\n";
  out += StrCat("latency ms   min ", Ms(latency.Min()), "  mean ",
                Ms(static_cast<uint64_t>(latency.Mean())), "  p50 ", Ms(latency.Percentile(0.5)),
                "  p90 ", Ms(latency.Percentile(0.9)), "  p95 ", Ms(latency.Percentile(0.95)),
                "  p99 ", Ms(latency.Percentile(0.99)), "  p99.9 ", Ms(latency.Percentile(0.999)),
                "  max ", Ms(latency.Max()), "\n");
  return out;
}

std::string LoadReport::Json() const {
  auto ms = [](double micros) { return std::round(micros) / 1000.0; };
  nlohmann::json j = {{"requests", requests},
                      {"errors", errors},
                      {"seconds", seconds},
                      {"throughput", Throughput()},
                      {"codes", codes},
                      {"latencyMs",
                       {{"min", ms(latency.Min())},
                        {"mean", ms(latency.Mean())},
                        {"p50", ms(latency.Percentile(0.5))},
                        {"p90", ms(latency.Percentile(0.9))},
                        {"p95", ms(latency.Percentile(0.95))},
                        {"p99", ms(latency.Percentile(0.99))},
                        {"p99.9", ms(latency.Percentile(0.999))},
                        {"max", ms(latency.Max())}}}};
  return j.dump(2) + "\n";
}

std::string LoadReport::FortioResult() const {
  constexpr double kSecondsPerMicro = 1e-6;
  nlohmann::json data = nlohmann::json::array();
  latency.ForEachBucket([&](uint64_t lower, uint64_t upper, uint64_t count) {
    data.push_back({{"Start", static_cast<double>(lower) * kSecondsPerMicro},
                    {"End", static_cast<double>(upper + 1) * kSecondsPerMicro},
                    {"Percent", requests > 0 ? 100.0 * static_cast<double>(count) /
                                                   static_cast<double>(latency.Count())
                                             : 0.0},
                    {"Count", count}});
  });
  nlohmann::json ret_codes = nlohmann::json::object();
  for (const auto& [code, n] : codes) {
    const bool http = !code.empty() && code.find_first_not_of("0123456789") == std::string::npos;
    const std::string key = http ? code : "-1";
    ret_codes[key] = ret_codes.value(key, uint64_t{0}) + n;
  }
  const double count = static_cast<double>(latency.Count());
  nlohmann::json j = {
      {"DurationHistogram",
       {{"Count", latency.Count()},
        {"Min", static_cast<double>(latency.Min()) * kSecondsPerMicro},
        {"Max", static_cast<double>(latency.Max()) * kSecondsPerMicro},
        {"Sum", static_cast<double>(latency.Sum()) * kSecondsPerMicro},
        {"Avg", count > 0 ? static_cast<double>(latency.Sum()) * kSecondsPerMicro / count : 0.0},
        {"Data", std::move(data)}}},
      {"RetCodes", std::move(ret_codes)},
      {"ActualQPS", Throughput()},
      {"ActualDuration", seconds}};
  return j.dump();
}

}  // namespace iter8::loadgen
