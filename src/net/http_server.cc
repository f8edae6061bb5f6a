// File: net/http_server.cc
#include "net/http_server.h"

#include <algorithm>
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
#include <thread>

#include "common/strings.h"
#include "net/listen.h"

namespace iter8::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Tcp = asio::ip::tcp;

namespace {
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
}  // namespace

struct HttpServer::Impl {
  HttpHandler handler;
  int threads = 1;
  std::vector<std::thread> pool;
  std::unique_ptr<asio::io_context> ioc;
  std::unique_ptr<Tcp::acceptor> acceptor;
  HostPort address;
  bool started = false;

  asio::awaitable<void> Accept();
  asio::awaitable<void> Session(Tcp::socket socket);
};

asio::awaitable<void> HttpServer::Impl::Accept() {
  for (;;) {
    auto [ec, socket] = co_await acceptor->async_accept(kNoThrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
      asio::steady_timer t(*ioc, std::chrono::milliseconds(50));
      co_await t.async_wait(kNoThrow);
      continue;
    }
    asio::co_spawn(*ioc, Session(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> HttpServer::Impl::Session(Tcp::socket socket) {
  try {
    beast::tcp_stream stream(std::move(socket));
    boost::system::error_code ignored;
    stream.socket().set_option(Tcp::no_delay(true), ignored);
    beast::flat_buffer buffer;
    for (;;) {
      stream.expires_after(std::chrono::seconds(60));
      http::request_parser<http::string_body> parser;
      parser.body_limit(16 * 1024 * 1024);
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, kNoThrow);
      if (ec) {
        if (ec == http::error::end_of_stream || ec == asio::error::eof ||
            ec == beast::error::timeout || ec == asio::error::connection_reset) {
          break;
        }
        http::response<http::string_body> err{http::status::bad_request, 11};
        err.set(http::field::content_type, "text/plain");
        err.body() = StrCat("bad request: ", ec.message(), "\n");
        err.keep_alive(false);
        err.prepare_payload();
        co_await http::async_write(stream, err, kNoThrow);
        break;
      }
      auto req = parser.release();
      HttpRequest in;
      in.method = std::string(req.method_string());
      in.target = std::string(req.target());
      for (const auto& f : req) in.headers.emplace_back(f.name_string(), f.value());
      in.body = std::move(req.body());
      HttpResponse out = handler(in);
      if (out.delay.count() > 0) {
        asio::steady_timer t(*ioc, out.delay);
        co_await t.async_wait(kNoThrow);
      }
      http::response<http::string_body> res{static_cast<http::status>(out.status), req.version()};
      res.set(http::field::content_type, out.content_type);
      for (const auto& [k, v] : out.headers) res.insert(k, v);
      res.body() = std::move(out.body);
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      auto [wec, wn] = co_await http::async_write(stream, res, kNoThrow);
      if (wec || !req.keep_alive()) break;
    }
    boost::system::error_code ec;
    stream.socket().shutdown(Tcp::socket::shutdown_send, ec);
  } catch (const std::exception&) {
    // A handler that throws loses its connection, not the server.
  }
}

HttpServer::HttpServer(HttpHandler handler, int threads) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  impl_->threads = std::max(1, threads);
  impl_->ioc = std::make_unique<asio::io_context>(impl_->threads);
}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start(const HostPort& address) {
  if (impl_->started) return absl::FailedPreconditionError("a server is started once");
  impl_->acceptor = std::make_unique<Tcp::acceptor>(*impl_->ioc);
  if (absl::Status st = OpenAcceptor(*impl_->acceptor, address); !st.ok()) {
    impl_->acceptor.reset();
    return st;
  }
  impl_->address = HostPort{address.host, impl_->acceptor->local_endpoint().port()};
  asio::co_spawn(*impl_->ioc, impl_->Accept(), asio::detached);
  for (int i = 0; i < impl_->threads; ++i) {
    impl_->pool.emplace_back([impl = impl_.get()] {
      auto guard = asio::make_work_guard(*impl->ioc);
      impl->ioc->run();
    });
  }
  impl_->started = true;
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (!impl_->ioc) return;
  impl_->ioc->stop();
  for (auto& t : impl_->pool) {
    if (t.joinable()) t.join();
  }
  impl_->pool.clear();
  impl_->acceptor.reset();
  impl_->ioc.reset();
}

HostPort HttpServer::Address() const { return impl_->address; }

}  // namespace iter8::net
