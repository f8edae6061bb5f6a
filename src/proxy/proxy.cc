// File: proxy/proxy.cc
//
// The request path. One coroutine per client connection, on the worker that accepted it:
// read headers (431 / 413 / 400 on failure; a client too slow to send them is dropped), answer
// `Expect: 100-continue`, read the body (413 when over the limit), choose a version, exchange with
// a pooled keep-alive backend connection (one retry when a reused connection turns out closed),
// write the response, record statistics. Nothing here throws into the event loop: Beast
// operations report errors as values and each coroutine catches what escapes it.
#include "proxy/proxy.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>

#include "absl/status/status.h"
#include "common/strings.h"
#include "net/listen.h"
#include "nlohmann/json.hpp"
#include "proxy/balancer.h"

namespace iter8::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// Everything runs on io_contexts: the concrete executor type instead of any_io_executor spares
// the type-erased executor copies and comparisons that showed up in the profile.
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<Tcp, Executor>;
using Local = asio::local::stream_protocol;
using LocalAcceptor = asio::basic_socket_acceptor<Local, Executor>;
using Acceptor = asio::basic_socket_acceptor<Tcp, Executor>;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                         asio::wait_traits<std::chrono::steady_clock>, Executor>;
template <class T>
using Task = asio::awaitable<T, Executor>;
constexpr std::string_view kForwardedFor = "X-Forwarded-For";  // not in Beast's field enum
// A pooled backend connection keeps a read buffer up to this size between exchanges.
constexpr size_t kKeptBufferBytes = 64 * 1024;
// Bodies up to this size are read whole before they go on: a request so that it can be mirrored,
// retried on a stale pooled connection and sent with a Content-Length; a response so that it is
// recorded before it leaves. A longer body is streamed through in pieces of at most kPiece bytes,
// so a connection holds about this much of it at a time whatever its size.
constexpr size_t kStreamThreshold = 64 * 1024;
constexpr size_t kPiece = 16 * 1024;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable_t<Executor>{});

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

struct ResolvedBackend {
  std::string origin;  // "host:port", the Host for hostRewrite
  size_t pool = 0;     // index of the worker's connection pool for this origin
  std::vector<Tcp::endpoint> endpoints;
};

// An immutable view of the route that workers read without locks.
struct Snapshot {
  uint64_t generation = 0;
  RouteSpec spec;
  std::vector<std::string> names;
  std::vector<int64_t> weights;
  std::vector<int> slots;                              // version index -> statistics slot
  std::vector<std::vector<ResolvedBackend>> backends;  // version index -> its backends
  int mirror = -1;
};

// A connection's deadline. Each worker sweeps the deadlines of its connections several times
// per shortest timeout and closes the socket of every one that has passed, which ends its pending
// connect, read or write with an error; the connection's code then sees Expired(). This replaces
// a timer per operation (beast::basic_stream arms and cancels a timer around every read and
// write: two timer-queue operations under the reactor's lock and one extra completion each).
// Owned by the connection's coroutine (or pooled backend connection); touched only on its
// worker's thread. The worker's list head is a Deadline made with the default constructor.
class Deadline {
 public:
  Deadline() = default;  // a list head
  Deadline(Deadline& head, Socket& socket) : socket_(&socket), prev_(&head), next_(head.next_) {
    head.next_->prev_ = this;
    head.next_ = this;
  }
  ~Deadline() {
    prev_->next_ = next_;
    next_->prev_ = prev_;
  }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  void After(Clock::duration d) { at_ = Clock::now() + d; }
  void Never() { at_ = Clock::time_point::max(); }
  bool Expired() const { return expired_; }

  // Closes the socket of every deadline in this list that has passed by `now`.
  void Sweep(Clock::time_point now) {
    for (Deadline* d = next_; d != this; d = d->next_) {
      if (!d->expired_ && d->at_ <= now) {
        d->expired_ = true;
        boost::system::error_code ignored;
        d->socket_->close(ignored);
      }
    }
  }

 private:
  Clock::time_point at_ = Clock::time_point::max();
  bool expired_ = false;
  Socket* socket_ = nullptr;
  Deadline* prev_ = this;
  Deadline* next_ = this;
};

// A keep-alive connection to a backend with its read buffer (kept between exchanges, so a
// response costs no buffer allocation) and its deadline.
struct BackendConnection {
  BackendConnection(const Executor& ex, Deadline& head) : socket(ex), deadline(head, socket) {}
  Socket socket;
  beast::flat_buffer buffer;
  Deadline deadline;
};

bool IsHopByHop(http::field f) {
  switch (f) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
    case http::field::expect:
      return true;
    default:
      return false;
  }
}

// Removes hop-by-hop headers (RFC 9110 7.6.1) and those named in Connection, in place: the
// request and the response are forwarded without copying their other headers. Content-Length is
// kept (the caller re-frames the body where needed). One pass over the fields: looking each
// hop-by-hop name up cost 16 set lookups per request.
template <class Fields>
void StripHopByHop(Fields& fields) {
  std::vector<std::string> named;  // extension headers listed in Connection (rare)
  for (auto it = fields.begin(); it != fields.end();) {
    if (!IsHopByHop(it->name())) {
      ++it;
      continue;
    }
    if (it->name() == http::field::connection) {
      for (auto token : http::token_list(it->value())) {
        if (http::string_to_field(token) == http::field::unknown) {
          named.emplace_back(token.data(), token.size());
        }
      }
    }
    it = fields.erase(it);
  }
  for (const std::string& n : named) fields.erase(n);
}

// Writes a message's start line and headers into `out` (cleared first). Beast's serializer
// walks a buffers_cat_view per write, which showed up as ~7 % of the proxy's CPU in perf; this
// makes one contiguous head that goes out with the body in a single gather write.
// "Name: value\r\n" for every field, then the empty line that ends a head.
template <class Fields>
void AppendFields(const Fields& fields, std::string& out) {
  for (const auto& f : fields) {
    out.append(f.name_string().data(), f.name_string().size());
    out += ": ";
    out.append(f.value().data(), f.value().size());
    out += "\r\n";
  }
  out += "\r\n";
}

void SerializeHead(const Request& req, std::string& out) {
  out.clear();
  out.append(req.method_string().data(), req.method_string().size());
  out += ' ';
  out.append(req.target().data(), req.target().size());
  out += req.version() == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
  AppendFields(req, out);
}

template <class Body>
void SerializeHead(const http::response<Body>& res, std::string& out) {
  out.clear();
  out += res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  const unsigned code = res.result_int();
  out += static_cast<char>('0' + code / 100 % 10);
  out += static_cast<char>('0' + code / 10 % 10);
  out += static_cast<char>('0' + code % 10);
  out += ' ';
  std::string_view reason(res.reason().data(), res.reason().size());
  if (reason.empty()) {
    auto r = http::obsolete_reason(res.result());
    reason = std::string_view(r.data(), r.size());
  }
  out.append(reason);
  out += "\r\n";
  AppendFields(res, out);
}

// Head and body in one gather write; `scratch` keeps its capacity between messages.
template <class Message>
Task<std::tuple<boost::system::error_code, size_t>> WriteMessage(Socket& stream, const Message& msg,
                                                                 std::string& scratch) {
  SerializeHead(msg, scratch);
  std::array<asio::const_buffer, 2> buffers = {asio::buffer(scratch), asio::buffer(msg.body())};
  co_return co_await asio::async_write(stream, buffers, kNoThrow);
}

// Reads body bytes of `parser` (a buffer_body parser) into the end of `out` until the body is
// complete or `out` holds at least `until` bytes.
template <class Parser>
Task<boost::system::error_code> ReadBodyInto(Socket& stream, beast::flat_buffer& buffer,
                                             Parser& parser, std::string& out, size_t until) {
  while (!parser.is_done() && out.size() < until) {
    size_t piece = kPiece;
    if (auto left = parser.content_length_remaining(); left && *left < piece) {
      piece = std::max<size_t>(static_cast<size_t>(*left), 1);
    }
    const size_t old = out.size();
    out.resize(old + piece);
    auto& body = parser.get().body();
    body.data = out.data() + old;
    body.size = piece;
    // Bytes already buffered are parsed at once; the socket is read only when they run out (an
    // async read of buffered data would cost a trip through the event loop).
    boost::system::error_code ec;
    size_t used = 0;
    if (buffer.size() > 0) {
      used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == http::error::need_more || ec == http::error::need_buffer) ec = {};
    }
    if (!ec && used == 0 && !parser.is_done()) {
      std::tie(ec, std::ignore) = co_await http::async_read_some(stream, buffer, parser, kNoThrow);
      if (ec == http::error::need_buffer) ec = {};
    }
    out.resize(old + piece - body.size);
    if (ec) co_return ec;
  }
  co_return boost::system::error_code{};
}

// Writes `head` then `data`, the data as one chunk when `chunked` (empty data writes no chunk:
// a zero-size chunk would end the body).
Task<boost::system::error_code> WritePiece(Socket& stream, std::string_view head,
                                           std::string_view data, bool chunked) {
  std::array<char, 24> size_line{};
  std::string_view prefix, suffix;
  if (chunked && !data.empty()) {
    auto [end, ec] = std::to_chars(size_line.data(), size_line.data() + 16, data.size(), 16);
    *end++ = '\r';
    *end++ = '\n';
    prefix = std::string_view(size_line.data(), static_cast<size_t>(end - size_line.data()));
    suffix = "\r\n";
  }
  std::array<asio::const_buffer, 4> buffers = {asio::buffer(head), asio::buffer(prefix),
                                               asio::buffer(data), asio::buffer(suffix)};
  auto [ec, n] = co_await asio::async_write(stream, buffers, kNoThrow);
  co_return ec;
}

// A request body still being read from the client (a streamed request): what was read so far is
// the request's body, the rest comes through `parser`.
struct BodySource {
  Socket& client;
  beast::flat_buffer& buffer;
  http::request_parser<http::buffer_body>& parser;
  bool chunked = false;             // sent upstream chunked: the client gave no length
  uint64_t bytes = 0;               // body bytes forwarded
  boost::system::error_code error;  // reading from the client failed (nothing was answered)
};

// The client, for a response too long to read whole, which is then streamed to it.
struct ClientSink {
  Socket& client;
  Deadline& deadline;
  unsigned version = 11;
  bool keep_alive = true;  // in: the client's wish; out: whether the connection can go on
  bool streamed = false;   // the head went out: the answer was streamed (or began to be)
  bool failed = false;     // the stream broke off (client or backend): close the connection
  uint64_t bytes = 0;      // body bytes sent
};

Response LocalReply(unsigned status, std::string_view reason, unsigned version) {
  Response res{static_cast<http::status>(status), version};
  res.set(http::field::server, "iter8-proxy");
  res.set(http::field::content_type, "text/plain");
  res.body() = StrCat(reason, "\n");
  res.prepare_payload();
  return res;
}

// The answer to a request body that could not be read (the connection closes after it), or none
// when the client went away or stalled past its deadline (its socket is closed) and nothing can
// be answered.
std::optional<Response> BodyErrorReply(const boost::system::error_code& ec, unsigned version,
                                       bool deadline_expired) {
  if (deadline_expired || ec == http::error::partial_message || ec == asio::error::eof ||
      ec == asio::error::connection_reset) {
    return std::nullopt;
  }
  Response err = ec == http::error::body_limit
                     ? LocalReply(413, "request body too large", version)
                     : LocalReply(400, StrCat("bad request body: ", ec.message()), version);
  err.keep_alive(false);
  return err;
}

std::string CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    size_t semi = header.find(';');
    std::string_view part = header.substr(0, semi);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.size() > name.size() && part.substr(0, name.size()) == name &&
        part[name.size()] == '=') {
      return std::string(part.substr(name.size() + 1));
    }
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return "";
}

}  // namespace

struct Worker {
  std::thread thread;
  WorkerStats stats;
  std::shared_ptr<const Snapshot> snapshot;
  uint64_t generation = ~uint64_t{0};
  SmoothWeightedPicker picker;
  std::vector<uint32_t> backend_cursor;
  int mirror_credit = 0;
  // Idle keep-alive backend connections, by pool index (ResolvedBackend::pool).
  std::vector<std::vector<std::unique_ptr<BackendConnection>>> idle;
  std::atomic<size_t> connections{0};
  Deadline deadlines;  // the head of the worker's connections' deadlines (see Deadline)
  // Last, so it is destroyed first: destroying it destroys the suspended sessions, which still
  // touch the members above.
  asio::io_context ioc{1};
};

struct Proxy::Impl {
  ProxyOptions options;
  std::vector<std::unique_ptr<Worker>> workers;
  std::unique_ptr<asio::io_context> control = std::make_unique<asio::io_context>(1);
  std::thread control_thread;
  std::unique_ptr<Acceptor> acceptor;
  std::unique_ptr<Acceptor> admin_acceptor;
  std::unique_ptr<LocalAcceptor> admin_local_acceptor;  // spec.adminSocket
  std::string admin_socket;
  net::HostPort listen;
  std::optional<net::HostPort> admin;
  std::atomic<uint64_t> unrouted{0};
  bool running = false;

  mutable std::mutex mu;  // guards snapshot, slot_names, generation bumps
  std::shared_ptr<const Snapshot> snapshot;
  std::atomic<uint64_t> generation{0};
  std::vector<std::string> slot_names;
  std::map<std::string, size_t> pools;  // origin -> pool index

  absl::StatusOr<std::shared_ptr<const Snapshot>> Build(const RouteSpec& spec);
  void Publish(std::shared_ptr<const Snapshot> snap);
  int SlotFor(const std::string& name);  // with mu held

  void Refresh(Worker& w);
  int Choose(Worker& w, const Snapshot& snap, const Request& req);
  Task<void> Accept(Acceptor& acceptor);
  // The admin API over TCP (Acceptor) or a Unix socket (LocalAcceptor).
  template <class AcceptorT>
  Task<void> AcceptAdmin(AcceptorT& acceptor, Proxy& proxy);
  template <class SocketT>
  Task<void> AdminSession(SocketT socket, Proxy& proxy);
  Task<void> Session(Worker& w, Socket socket);
  // Closes the worker's connections whose deadline has passed, until the worker stops.
  Task<void> SweepDeadlines(Worker& w);
  Task<void> Mirror(Worker& w, std::shared_ptr<const Snapshot> snap, Request req);
  // Exchanges `req` with one backend of version `vi`. `backend_error` tells whether a failure
  // was the backend's (counted) rather than ours. `scratch` holds the serialised head while it
  // is written (the caller's, reused). With `source`, the rest of the request body is streamed
  // from the client (on a fresh backend connection: it cannot be replayed). With `sink`, a
  // response longer than kStreamThreshold is streamed to the client and only its head returned;
  // without, it is read whole up to options.response_limit.
  Task<Response> Forward(Worker& w, const Snapshot& snap, int vi, Request& req, bool head,
                         bool& backend_error, std::string& scratch, BodySource* source,
                         ClientSink* sink);
};

int Proxy::Impl::SlotFor(const std::string& name) {
  for (size_t i = 0; i < slot_names.size(); ++i) {
    if (slot_names[i] == name) return static_cast<int>(i);
  }
  if (slot_names.size() >= static_cast<size_t>(kMaxVersionSlots)) return -1;
  slot_names.push_back(name);
  return static_cast<int>(slot_names.size() - 1);
}

absl::StatusOr<std::shared_ptr<const Snapshot>> Proxy::Impl::Build(const RouteSpec& spec) {
  auto snap = std::make_shared<Snapshot>();
  snap->spec = spec;
  asio::io_context resolving;
  Tcp::resolver resolver(resolving);
  for (const auto& v : spec.versions) {
    snap->names.push_back(v.name);
    snap->weights.push_back(v.weight);
    std::vector<ResolvedBackend> list;
    for (const auto& url : v.backends) {
      boost::system::error_code ec;
      auto results = resolver.resolve(url.address.host, std::to_string(url.address.port),
                                      Tcp::resolver::numeric_service, ec);
      if (ec || results.empty()) {
        return absl::UnavailableError(StrCat("version ", v.name, ": cannot resolve backend ",
                                             url.address.String(), ": ", ec.message()));
      }
      ResolvedBackend rb{url.address.String(), 0, {}};
      for (const auto& r : results) rb.endpoints.push_back(r.endpoint());
      list.push_back(std::move(rb));
    }
    snap->backends.push_back(std::move(list));
  }
  snap->mirror = spec.mirror_percent > 0 ? spec.IndexOf(spec.mirror_version) : -1;
  std::lock_guard lock(mu);
  for (auto& list : snap->backends) {
    for (ResolvedBackend& rb : list) rb.pool = pools.emplace(rb.origin, pools.size()).first->second;
  }
  for (const auto& v : spec.versions) {
    int slot = SlotFor(v.name);
    if (slot < 0) {
      return absl::ResourceExhaustedError(
          StrCat("the proxy tracks at most ", std::to_string(kMaxVersionSlots), " versions"));
    }
    snap->slots.push_back(slot);
  }
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

void Proxy::Impl::Publish(std::shared_ptr<const Snapshot> snap) {
  std::lock_guard lock(mu);
  auto mutable_snap = std::const_pointer_cast<Snapshot>(snap);
  mutable_snap->generation = generation.load(std::memory_order_relaxed) + 1;
  snapshot = std::move(snap);
  generation.store(snapshot->generation, std::memory_order_release);
}

void Proxy::Impl::Refresh(Worker& w) {
  if (generation.load(std::memory_order_acquire) == w.generation) return;
  std::lock_guard lock(mu);
  w.snapshot = snapshot;
  w.generation = snapshot->generation;
  w.picker.Reset(snapshot->weights);
  w.backend_cursor.assign(snapshot->names.size(), 0);
  w.mirror_credit = 0;
}

int Proxy::Impl::Choose(Worker& w, const Snapshot& snap, const Request& req) {
  for (const auto& rule : snap.spec.match) {
    auto it = req.find(rule.header);
    if (it != req.end() && std::string_view(it->value().data(), it->value().size()) == rule.value) {
      return snap.spec.IndexOf(rule.version);
    }
  }
  std::string key;
  if (!snap.spec.sticky_header.empty()) {
    auto it = req.find(snap.spec.sticky_header);
    if (it != req.end()) key = std::string(it->value());
  } else if (!snap.spec.sticky_cookie.empty()) {
    auto it = req.find(http::field::cookie);
    if (it != req.end())
      key = CookieValue(std::string_view(it->value().data(), it->value().size()),
                        snap.spec.sticky_cookie);
  }
  if (!key.empty()) return RendezvousPick(key, snap.names, snap.weights, options.sticky_seed);
  return w.picker.Pick();
}

Task<Response> Proxy::Impl::Forward(Worker& w, const Snapshot& snap, int vi, Request& req,
                                    bool head, bool& backend_error, std::string& scratch,
                                    BodySource* source, ClientSink* sink) {
  backend_error = false;
  const auto& list = snap.backends[static_cast<size_t>(vi)];
  const ResolvedBackend& be = list[w.backend_cursor[static_cast<size_t>(vi)]++ % list.size()];
  if (snap.spec.host_rewrite) req.set(http::field::host, be.origin);
  if (req.find(http::field::host) == req.end()) req.set(http::field::host, be.origin);
  const Timeouts& t = snap.spec.timeouts;
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<BackendConnection> conn;
    // Indexed afresh after every suspension: another session may grow `w.idle` meanwhile.
    if (w.idle.size() <= be.pool) w.idle.resize(be.pool + 1);
    if (auto& pool = w.idle[be.pool]; !pool.empty() && source == nullptr) {
      conn = std::move(pool.back());
      pool.pop_back();
    }
    bool reused = conn != nullptr;
    if (!conn) {
      conn = std::make_unique<BackendConnection>(w.ioc.get_executor(), w.deadlines);
      conn->deadline.After(t.connect);
      auto [ec, ep] = co_await asio::async_connect(conn->socket, be.endpoints, kNoThrow);
      if (ec) {
        backend_error = true;
        if (conn->deadline.Expired()) {
          co_return LocalReply(
              504, StrCat("backend ", be.origin, " did not accept a connection in time"),
              req.version());
        }
        co_return LocalReply(503, StrCat("backend ", be.origin, " unavailable: ", ec.message()),
                             req.version());
      }
      boost::system::error_code ignored;
      conn->socket.set_option(Tcp::no_delay(true), ignored);
    }
    conn->deadline.After(t.request);
    boost::system::error_code wec;
    if (source == nullptr) {
      std::tie(wec, std::ignore) = co_await WriteMessage(conn->socket, req, scratch);
    } else {
      // The head and what was read of the body, then the rest piece by piece as it comes.
      SerializeHead(req, scratch);
      wec = co_await WritePiece(conn->socket, scratch, req.body(), source->chunked);
      source->bytes = req.body().size();
      std::string piece;
      while (!wec && !source->parser.is_done()) {
        piece.clear();
        source->error =
            co_await ReadBodyInto(source->client, source->buffer, source->parser, piece, 1);
        if (source->error) co_return Response{};  // the caller answers; `conn` is closed
        wec = co_await WritePiece(conn->socket, {}, piece, source->chunked);
        source->bytes += piece.size();
      }
      if (!wec && source->chunked) wec = co_await WritePiece(conn->socket, "0\r\n\r\n", {}, false);
    }
    if (wec) {
      if (reused && attempt == 0 && !conn->deadline.Expired()) continue;
      backend_error = true;
      co_return LocalReply(conn->deadline.Expired() ? 504 : 502,
                           StrCat("backend ", be.origin, ": ", wec.message()), req.version());
    }
    beast::flat_buffer& buffer = conn->buffer;
    buffer.clear();
    auto failed = [&](const boost::system::error_code& ec, bool nothing) {
      backend_error = true;
      if (conn->deadline.Expired()) {
        return LocalReply(504, StrCat("backend ", be.origin, " did not answer in time"),
                          req.version());
      }
      return LocalReply(502,
                        StrCat("backend ", be.origin, ": ",
                               nothing ? "closed the connection without a response"
                                       : "invalid or incomplete response: " + ec.message()),
                        req.version());
    };
    http::response_parser<http::empty_body> header;
    header.header_limit(64 * 1024);
    if (sink != nullptr) {
      header.body_limit(boost::none);  // a long body is streamed: memory stays bounded
    } else {
      header.body_limit(options.response_limit);
    }
    if (head) header.skip(true);
    auto [rec, read] = co_await http::async_read_header(conn->socket, buffer, header, kNoThrow);
    if (rec) {
      bool nothing = read == 0 && !header.got_some();
      if (reused && attempt == 0 && nothing && !conn->deadline.Expired()) continue;
      co_return failed(rec, nothing);
    }
    Response res;
    bool backend_keep_alive = header.keep_alive();
    if (header.is_done()) {
      res = Response(std::move(header.release().base()));
    } else {
      http::response_parser<http::buffer_body> parser(std::move(header));
      std::string body;
      auto bec = co_await ReadBodyInto(conn->socket, buffer, parser, body,
                                       sink != nullptr ? kStreamThreshold : SIZE_MAX);
      if (bec) co_return failed(bec, false);
      backend_keep_alive = parser.keep_alive();
      if (parser.is_done()) {
        res = Response(std::move(parser.release().base()));
        res.body() = std::move(body);
      } else {
        // Too long to hold: the head and what was read go to the client now, the rest as it
        // comes. Framed by the backend's length, else chunked (HTTP/1.0: until close).
        res = Response(std::move(parser.get().base()));
        StripHopByHop(res.base());
        res.version(sink->version);
        const auto length = parser.content_length();
        const bool chunked = !length && sink->version == 11;
        sink->keep_alive = sink->keep_alive && (length || chunked);
        if (length) {
          res.content_length(*length);
        } else if (chunked) {
          res.set(http::field::transfer_encoding, "chunked");
        }
        res.keep_alive(sink->keep_alive);
        SerializeHead(res, scratch);
        sink->deadline.After(t.request);
        sink->streamed = true;
        auto cec = co_await WritePiece(sink->client, scratch, body, chunked);
        sink->bytes = body.size();
        while (!cec && !parser.is_done()) {
          body.clear();
          bec = co_await ReadBodyInto(conn->socket, buffer, parser, body, 1);
          if (bec) break;
          cec = co_await WritePiece(sink->client, {}, body, chunked);
          sink->bytes += body.size();
        }
        if (!cec && !bec && chunked)
          cec = co_await WritePiece(sink->client, "0\r\n\r\n", {}, false);
        if (bec) {
          // The backend broke off mid-body: the client cannot be told but by closing; the
          // version is charged an error.
          backend_error = true;
          res.result(conn->deadline.Expired() ? http::status::gateway_timeout
                                              : http::status::bad_gateway);
        }
        sink->failed = bec || cec;
        if (sink->failed) co_return res;  // `conn` is closed with the rest of the body unread
      }
    }
    if (auto& pool = w.idle[be.pool];
        backend_keep_alive && buffer.size() == 0 && pool.size() < options.max_idle_per_backend) {
      conn->deadline.Never();
      if (buffer.capacity() > kKeptBufferBytes) buffer.shrink_to_fit();
      pool.push_back(std::move(conn));
    }
    co_return res;
  }
  backend_error = true;
  co_return LocalReply(502, StrCat("backend ", be.origin, " closed the connection"), req.version());
}

Task<void> Proxy::Impl::Mirror(Worker& w, std::shared_ptr<const Snapshot> snap, Request req) {
  try {
    auto start = Clock::now();
    bool backend_error = false;
    uint64_t in = req.body().size();
    std::string scratch;
    Response res = co_await Forward(w, *snap, snap->mirror, req, false, backend_error, scratch,
                                    nullptr, nullptr);
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    w.stats.Record(snap->slots[static_cast<size_t>(snap->mirror)], res.result_int(), ms, in,
                   res.body().size(), backend_error);
  } catch (const std::exception&) {
    // A mirrored copy never affects the client; allocation failures end it quietly.
  }
}

Task<void> Proxy::Impl::Session(Worker& w, Socket socket) {
  w.connections.fetch_add(1, std::memory_order_relaxed);
  struct Leave {
    Worker& w;
    ~Leave() { w.connections.fetch_sub(1, std::memory_order_relaxed); }
  } leave{w};
  try {
    Socket client(std::move(socket));
    Deadline deadline(w.deadlines, client);
    boost::system::error_code ec0;
    client.set_option(Tcp::no_delay(true), ec0);
    auto peer_ep = client.remote_endpoint(ec0);
    std::string peer = ec0 ? "" : peer_ep.address().to_string();
    beast::flat_buffer buffer;
    bool first = true;
    bool linger = false;  // an error answer went out before the request was read in full
    std::string head_buffer;
    for (;;) {
      Refresh(w);
      std::shared_ptr<const Snapshot> snap = w.snapshot;
      const Timeouts t = snap->spec.timeouts;
      if (buffer.size() == 0) {
        // Wait for the next request: the idle timeout between requests, the header timeout for
        // the first one.
        deadline.After(first ? t.header : t.idle);
        auto [ec, n] = co_await client.async_read_some(buffer.prepare(4096), kNoThrow);
        if (ec) break;  // closed, reset or idle: nothing to answer
        buffer.commit(n);
      }
      first = false;
      const std::string_view buffered(static_cast<const char*>(buffer.data().data()),
                                      buffer.size());
      if (buffered.find("\r\n\r\n") == std::string_view::npos) {
        deadline.After(t.header);  // the rest of the headers must come in time
      }
      http::request_parser<http::empty_body> parser;  // the body type is chosen after the head
      parser.header_limit(static_cast<std::uint32_t>(snap->spec.header_limit));
      parser.body_limit(snap->spec.body_limit);
      // The buffered head is parsed at once; the socket is read only for the rest of it.
      boost::system::error_code hec;
      buffer.consume(parser.put(buffer.data(), hec));
      if (hec == http::error::need_more) hec = {};
      if (!hec && !parser.is_header_done()) {
        std::tie(hec, std::ignore) =
            co_await http::async_read_header(client, buffer, parser, kNoThrow);
      }
      if (hec) {
        if (deadline.Expired()) break;  // the socket is closed: a slow client is dropped
        Response err;
        if (hec == http::error::header_limit) {
          err = LocalReply(431, "request header fields too large", 11);
        } else if (hec == http::error::body_limit) {  // Content-Length over the limit
          err = LocalReply(413, "request body too large", 11);
        } else if (hec == http::error::end_of_stream || hec == asio::error::eof ||
                   hec == asio::error::connection_reset) {
          break;
        } else {
          err = LocalReply(400, StrCat("bad request: ", hec.message()), 11);
        }
        err.keep_alive(false);
        deadline.After(t.request);
        co_await http::async_write(client, err, kNoThrow);
        linger = true;
        break;
      }
      auto start = Clock::now();
      Refresh(w);  // the split in force when the request arrived
      snap = w.snapshot;
      const auto& header = parser.get();
      unsigned version = header.version();
      if (version != 11 && version != 10) {
        Response err = LocalReply(505, "HTTP version not supported", 11);
        err.keep_alive(false);
        co_await http::async_write(client, err, kNoThrow);
        linger = true;
        break;
      }
      auto expect = header[http::field::expect];
      if (!expect.empty()) {
        if (!beast::iequals(expect, "100-continue")) {
          Response err = LocalReply(417, "unsupported Expect", version);
          err.keep_alive(false);
          co_await http::async_write(client, err, kNoThrow);
          linger = true;
          break;
        }
        auto length = parser.content_length();
        if (!(length && *length > snap->spec.body_limit) && !parser.is_done()) {
          http::response<http::empty_body> cont{http::status::continue_, version};
          deadline.After(t.request);
          auto [cec, cn] = co_await http::async_write(client, cont, kNoThrow);
          if (cec) break;
        }
      }
      if (auto length = parser.content_length(); length && *length > snap->spec.body_limit) {
        Response err = LocalReply(413, "request body too large", version);
        err.keep_alive(false);
        co_await http::async_write(client, err, kNoThrow);
        linger = true;
        break;
      }
      // A body up to kStreamThreshold is read whole; a longer one is streamed (body_parser stays).
      Request req;
      std::optional<http::request_parser<http::buffer_body>> body_parser;
      if (parser.is_done()) {
        req = Request(std::move(parser.release().base()));
      } else {
        deadline.After(t.request);
        body_parser.emplace(std::move(parser));
        std::string body;
        auto bec = co_await ReadBodyInto(client, buffer, *body_parser, body, kStreamThreshold);
        if (bec) {
          if (auto err = BodyErrorReply(bec, version, deadline.Expired())) {
            co_await http::async_write(client, *err, kNoThrow);
            linger = true;
          }
          break;
        }
        if (body_parser->is_done()) {
          req = Request(std::move(body_parser->release().base()));
          body_parser.reset();
        } else {
          req = Request(body_parser->get().base());  // a copy: the parser reads on
        }
        req.body() = std::move(body);
      }
      const bool streamed_request = body_parser.has_value();
      // Read in full (or streamed under the request deadline, set above): the backend exchange
      // has its own deadline, the response write sets one.
      if (!streamed_request) deadline.Never();
      const bool keep_alive = req.keep_alive();
      const bool head = req.method() == http::verb::head;
      uint64_t request_bytes = req.body().size();

      int vi = Choose(w, *snap, req);
      Response out;
      bool backend_error = false;
      if (vi < 0) {
        unrouted.fetch_add(1, std::memory_order_relaxed);
        out = LocalReply(503, StrCat("route ", snap->spec.name, ": no version has traffic weight"),
                         version);
      } else {
        // The request goes upstream as it came, minus hop-by-hop headers, as HTTP/1.1 with a
        // Content-Length (a chunked body was read whole).
        StripHopByHop(req.base());
        req.version(11);
        auto xff = req.find(kForwardedFor);
        if (xff == req.end()) {
          req.set(kForwardedFor, peer);
        } else {
          req.set(kForwardedFor,
                  StrCat(std::string_view(xff->value().data(), xff->value().size()), ", ", peer));
        }
        std::optional<BodySource> source;
        if (streamed_request) {
          // Framed as the client framed it: its Content-Length, or chunked.
          source.emplace(BodySource{client, buffer, *body_parser, false, 0, {}});
          if (auto length = body_parser->content_length()) {
            req.content_length(*length);
          } else {
            source->chunked = true;
            req.set(http::field::transfer_encoding, "chunked");
          }
        } else if (!req.body().empty() || req.method() == http::verb::post ||
                   req.method() == http::verb::put || req.method() == http::verb::patch) {
          req.content_length(req.body().size());
        }
        if (snap->mirror >= 0 && snap->mirror != vi && !streamed_request) {
          w.mirror_credit += snap->spec.mirror_percent;
          if (w.mirror_credit >= 100) {
            w.mirror_credit -= 100;
            asio::co_spawn(w.ioc, Mirror(w, snap, req), asio::detached);
          }
        }
        ClientSink sink{client, deadline, version, keep_alive, false, false, 0};
        out = co_await Forward(w, *snap, vi, req, head, backend_error, head_buffer,
                               source ? &*source : nullptr, &sink);
        if (source) {
          if (source->error) {
            if (auto err = BodyErrorReply(source->error, version, deadline.Expired())) {
              co_await http::async_write(client, *err, kNoThrow);
              linger = true;
            }
            break;
          }
          request_bytes = source->bytes;
        }
        if (sink.streamed) {
          double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
          w.stats.Record(snap->slots[static_cast<size_t>(vi)], out.result_int(), ms, request_bytes,
                         sink.bytes, backend_error);
          if (sink.failed || !sink.keep_alive) break;
          deadline.Never();
          continue;
        }
        StripHopByHop(out.base());
      }
      out.version(version);
      if (!head) out.prepare_payload();
      // A request whose body was streamed and failed upstream may have unread bytes: close.
      out.keep_alive(keep_alive && !(streamed_request && !body_parser->is_done()));
      if (vi >= 0) {
        // Recorded before the response leaves, so a client that has its answer is counted.
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        w.stats.Record(snap->slots[static_cast<size_t>(vi)], out.result_int(), ms, request_bytes,
                       out.body().size(), backend_error);
      }
      deadline.After(t.request);
      auto [wec, wn] = co_await WriteMessage(client, out, head_buffer);
      if (wec || !out.keep_alive()) break;
    }
    boost::system::error_code ignored;
    client.shutdown(Tcp::socket::shutdown_send, ignored);
    if (linger) {
      // Closing with unread request bytes would reset the connection and could destroy the
      // error answer before the client reads it: read and discard for a while first.
      deadline.After(std::chrono::seconds(1));
      std::array<char, 16384> sink;
      for (size_t total = 0; total < (1 << 20);) {
        auto [ec, n] = co_await client.async_read_some(asio::buffer(sink), kNoThrow);
        if (ec) break;
        total += n;
      }
    }
  } catch (const std::exception&) {
    // Only allocation failures reach here; the connection is dropped, the worker keeps going.
  }
}

Task<void> Proxy::Impl::SweepDeadlines(Worker& w) {
  Timer timer(w.ioc.get_executor());
  for (;;) {
    // A few sweeps per shortest timeout, so a deadline is enforced within a quarter of it.
    Clock::duration period = std::chrono::milliseconds(100);
    if (const Snapshot* snap = w.snapshot.get()) {
      const Timeouts& t = snap->spec.timeouts;
      period =
          std::clamp<Clock::duration>(std::min({t.connect, t.header, t.idle, t.request}) / 4,
                                      std::chrono::milliseconds(5), std::chrono::milliseconds(100));
    }
    timer.expires_after(period);
    auto [ec] = co_await timer.async_wait(kNoThrow);
    if (ec) co_return;
    w.deadlines.Sweep(Clock::now());
  }
}

Task<void> Proxy::Impl::Accept(Acceptor& acceptor) {
  size_t next = 0;
  for (;;) {
    Worker& w = *workers[next++ % workers.size()];
    auto [ec, socket] = co_await acceptor.async_accept(w.ioc, kNoThrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      // EMFILE and friends: back off briefly instead of spinning.
      Timer timer(control->get_executor(), std::chrono::milliseconds(50));
      co_await timer.async_wait(kNoThrow);
      continue;
    }
    size_t open = 0;
    for (const auto& wk : workers) open += wk->connections.load(std::memory_order_relaxed);
    if (open >= options.max_connections) continue;  // the socket closes as it goes out of scope
    asio::co_spawn(w.ioc, Session(w, std::move(socket)), asio::detached);
  }
}

template <class SocketT>
Task<void> Proxy::Impl::AdminSession(SocketT socket, Proxy& proxy) {
  try {
    beast::basic_stream<typename SocketT::protocol_type, Executor> stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      stream.expires_after(std::chrono::seconds(30));
      http::request_parser<http::string_body> parser;
      parser.body_limit(1 << 20);
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, kNoThrow);
      if (ec) {
        if (ec != http::error::end_of_stream && ec != asio::error::eof &&
            ec != beast::error::timeout && ec != asio::error::connection_reset) {
          Response err = LocalReply(400, StrCat("bad request: ", ec.message()), 11);
          err.keep_alive(false);
          co_await http::async_write(stream, err, kNoThrow);
        }
        break;
      }
      Request req = parser.release();
      AdminReply reply =
          HandleAdmin(proxy, std::string(req.method_string()), std::string(req.target()),
                      std::string(req[http::field::authorization]), req.body());
      Response res{static_cast<http::status>(reply.status), req.version()};
      res.set(http::field::server, "iter8-proxy");
      res.set(http::field::content_type, reply.content_type);
      res.body() = std::move(reply.body);
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      auto [wec, wn] = co_await http::async_write(stream, res, kNoThrow);
      if (wec || !req.keep_alive()) break;
    }
  } catch (const std::exception&) {
  }
}

template <class AcceptorT>
Task<void> Proxy::Impl::AcceptAdmin(AcceptorT& acceptor, Proxy& proxy) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kNoThrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      continue;
    }
    asio::co_spawn(*control, AdminSession(std::move(socket), proxy), asio::detached);
  }
}

namespace {

absl::StatusOr<std::unique_ptr<Acceptor>> Listen(asio::io_context& ioc,
                                                 const net::HostPort& address) {
  auto acceptor = std::make_unique<Acceptor>(ioc.get_executor());
  if (absl::Status st = net::OpenAcceptor(*acceptor, address); !st.ok()) return st;
  return acceptor;
}

// A Unix socket at `path`, readable and writable by this user only. A socket file left by a
// previous run is replaced; any other file there is an error, never removed.
absl::StatusOr<std::unique_ptr<LocalAcceptor>> ListenLocal(asio::io_context& ioc,
                                                           const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(
          StrCat("spec.adminSocket: ", path, " exists and is not a socket"));
    }
    ::unlink(path.c_str());
  }
  auto acceptor = std::make_unique<LocalAcceptor>(ioc.get_executor());
  boost::system::error_code ec;
  const mode_t old_mask = ::umask(0177);  // the socket is created 0600
  acceptor->open(Local(), ec);
  if (!ec) acceptor->bind(Local::endpoint(path), ec);
  ::umask(old_mask);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        StrCat("spec.adminSocket: cannot listen on ", path, ": ", ec.message()));
  }
  return acceptor;
}

}  // namespace

Proxy::Proxy(ProxyOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  if (impl_->options.workers <= 0) {
    impl_->options.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
}

Proxy::~Proxy() { Stop(); }

absl::Status Proxy::Start(const RouteSpec& route) {
  if (impl_->running || !impl_->workers.empty() || impl_->control == nullptr) {
    return absl::FailedPreconditionError("a Proxy is started once; make a new one");
  }
  if (!route.listen) {
    return absl::InvalidArgumentError(
        StrCat("route ", route.name, " has no spec.listen address to serve on"));
  }
  auto snap = impl_->Build(route);
  if (!snap.ok()) return snap.status();
  auto acceptor = Listen(*impl_->control, *route.listen);
  if (!acceptor.ok()) return acceptor.status();
  impl_->acceptor = std::move(*acceptor);
  impl_->listen = net::HostPort{route.listen->host, impl_->acceptor->local_endpoint().port()};
  if (route.admin) {
    auto admin = Listen(*impl_->control, *route.admin);
    if (!admin.ok()) {
      impl_->acceptor.reset();
      return admin.status();
    }
    impl_->admin_acceptor = std::move(*admin);
    impl_->admin = net::HostPort{route.admin->host, impl_->admin_acceptor->local_endpoint().port()};
  }
  if (!route.admin_socket.empty()) {
    auto local = ListenLocal(*impl_->control, route.admin_socket);
    if (!local.ok()) {
      impl_->acceptor.reset();
      impl_->admin_acceptor.reset();
      return local.status();
    }
    impl_->admin_local_acceptor = std::move(*local);
    impl_->admin_socket = route.admin_socket;
  }
  impl_->Publish(*snap);
  for (int i = 0; i < impl_->options.workers; ++i) {
    auto w = std::make_unique<Worker>();
    impl_->workers.push_back(std::move(w));
  }
  for (auto& w : impl_->workers) {
    Worker* wp = w.get();
    asio::co_spawn(wp->ioc, impl_->SweepDeadlines(*wp), asio::detached);
    wp->thread = std::thread([wp] {
      auto guard = asio::make_work_guard(wp->ioc);
      wp->ioc.run();
    });
  }
  asio::co_spawn(*impl_->control, impl_->Accept(*impl_->acceptor), asio::detached);
  if (impl_->admin_acceptor) {
    asio::co_spawn(*impl_->control, impl_->AcceptAdmin(*impl_->admin_acceptor, *this),
                   asio::detached);
  }
  if (impl_->admin_local_acceptor) {
    asio::co_spawn(*impl_->control, impl_->AcceptAdmin(*impl_->admin_local_acceptor, *this),
                   asio::detached);
  }
  impl_->control_thread = std::thread([impl = impl_.get()] {
    auto guard = asio::make_work_guard(*impl->control);
    impl->control->run();
  });
  impl_->running = true;
  return absl::OkStatus();
}

void Proxy::Stop() {
  if (!impl_->running) return;
  impl_->running = false;
  impl_->control->stop();
  if (impl_->control_thread.joinable()) impl_->control_thread.join();
  for (auto& w : impl_->workers) w->ioc.stop();
  for (auto& w : impl_->workers) {
    if (w->thread.joinable()) w->thread.join();
  }
  // Destroying an io_context destroys its suspended coroutines, closing their sockets. The
  // control context goes first: a pending accept holds a socket of a worker's context.
  impl_->acceptor.reset();
  impl_->admin_acceptor.reset();
  impl_->admin_local_acceptor.reset();
  if (!impl_->admin_socket.empty()) {
    ::unlink(impl_->admin_socket.c_str());
    impl_->admin_socket.clear();
  }
  impl_->control.reset();
  for (auto& w : impl_->workers) w->idle.clear();
  impl_->workers.clear();
}

absl::Status Proxy::Update(const RouteSpec& route) {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->snapshot) {
      const RouteSpec& cur = impl_->snapshot->spec;
      auto same = [](const std::optional<net::HostPort>& a, const std::optional<net::HostPort>& b) {
        return a.has_value() == b.has_value() && (!a || (a->host == b->host && a->port == b->port));
      };
      if (!same(cur.listen, route.listen) || !same(cur.admin, route.admin) ||
          cur.admin_socket != route.admin_socket) {
        return absl::FailedPreconditionError(
            "spec.listen, spec.admin and spec.adminSocket cannot change while the proxy runs; "
            "restart it");
      }
    }
  }
  auto snap = impl_->Build(route);
  if (!snap.ok()) return snap.status();
  impl_->Publish(*snap);
  return absl::OkStatus();
}

absl::Status Proxy::SetWeights(const std::map<std::string, int64_t>& weights) {
  RouteSpec next;
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->snapshot) return absl::FailedPreconditionError("the proxy is not running");
    auto w = WithWeights(impl_->snapshot->spec, weights);
    if (!w.ok()) return w.status();
    next = *w;
  }
  return Update(next);
}

RouteSpec Proxy::Route() const {
  std::lock_guard lock(impl_->mu);
  return impl_->snapshot ? impl_->snapshot->spec : RouteSpec{};
}

net::HostPort Proxy::ListenAddress() const { return impl_->listen; }
std::optional<net::HostPort> Proxy::AdminAddress() const { return impl_->admin; }

std::vector<VersionTraffic> Proxy::Traffic() const {
  std::vector<std::string> names;
  {
    std::lock_guard lock(impl_->mu);
    names = impl_->slot_names;
  }
  std::vector<VersionTraffic> out(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    out[i].name = names[i];
    for (const auto& w : impl_->workers) w->stats.AddTo(static_cast<int>(i), out[i]);
  }
  return out;
}

std::optional<VersionTraffic> Proxy::Traffic(const std::string& version) const {
  for (auto& v : Traffic()) {
    if (v.name == version) return v;
  }
  return std::nullopt;
}

uint64_t Proxy::Unrouted() const { return impl_->unrouted.load(std::memory_order_relaxed); }

size_t Proxy::Connections() const {
  size_t n = 0;
  for (const auto& w : impl_->workers) n += w->connections.load(std::memory_order_relaxed);
  return n;
}

std::string Proxy::MetricsText() const {
  RouteSpec spec = Route();
  std::vector<std::pair<std::string, int64_t>> weights;
  for (const auto& v : spec.versions) weights.emplace_back(v.name, v.weight);
  return PrometheusText({spec.namespace_, spec.name}, Traffic(), weights);
}

AdminReply HandleAdmin(Proxy& proxy, const std::string& method, const std::string& target,
                       const std::string& authorization, const std::string& body) {
  auto error = [](unsigned status, const std::string& message) {
    return AdminReply{status, "application/json", nlohmann::json{{"error", message}}.dump() + "\n"};
  };
  RouteSpec spec = proxy.Route();
  if (!spec.admin_token.empty() && authorization != "Bearer " + spec.admin_token) {
    return error(401, "missing or wrong bearer token");
  }
  std::string path = target.substr(0, target.find('?'));
  auto only = [&](std::initializer_list<const char*> methods) {
    return std::none_of(methods.begin(), methods.end(), [&](const char* m) { return method == m; });
  };
  if (path == "/healthz") {
    if (only({"GET"})) return error(405, "use GET");
    return AdminReply{200, "text/plain", "ok\n"};
  }
  if (path == "/metrics") {
    if (only({"GET"})) return error(405, "use GET");
    return AdminReply{200, "text/plain; version=0.0.4", proxy.MetricsText()};
  }
  if (path == "/route") {
    if (only({"GET"})) return error(405, "use GET");
    nlohmann::json j;
    j["namespace"] = spec.namespace_;
    j["name"] = spec.name;
    j["listen"] = proxy.ListenAddress().String();
    j["versions"] = nlohmann::json::array();
    for (const auto& v : spec.versions) {
      nlohmann::json b = nlohmann::json::array();
      for (const auto& u : v.backends) b.push_back(u.Origin() + u.target);
      j["versions"].push_back({{"name", v.name}, {"weight", v.weight}, {"backends", b}});
    }
    return AdminReply{200, "application/json", j.dump(2) + "\n"};
  }
  if (path == "/stats") {
    if (only({"GET"})) return error(405, "use GET");
    nlohmann::json j = nlohmann::json::object();
    for (const auto& v : proxy.Traffic()) {
      nlohmann::json codes = nlohmann::json::object();
      for (size_t k = 0; k < v.classes.size(); ++k) {
        if (v.classes[k].count > 0) codes[std::to_string(k + 1) + "xx"] = v.classes[k].count;
      }
      j[v.name] = {{"requests", v.Requests()},
                   {"errors", v.Errors()},
                   {"codes", codes},
                   {"latencySumMs", v.LatencySumMs()},
                   {"buckets", v.Buckets()},
                   {"requestBytes", v.request_bytes},
                   {"responseBytes", v.response_bytes},
                   {"backendErrors", v.backend_errors}};
    }
    j["unrouted"] = proxy.Unrouted();
    j["connections"] = proxy.Connections();
    return AdminReply{200, "application/json", j.dump(2) + "\n"};
  }
  if (path == "/weights") {
    if (only({"PUT", "POST"})) return error(405, "use PUT with a JSON object of weights");
    nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded()) return error(400, "body is not JSON");
    if (j.is_object() && j.contains("weights")) j = j["weights"];
    if (!j.is_object() || j.empty()) {
      return error(400, "body must be a JSON object of version name to weight");
    }
    std::map<std::string, int64_t> weights;
    for (const auto& [name, w] : j.items()) {
      if (!w.is_number_integer() && !w.is_number_unsigned()) {
        return error(400, "weight of \"" + name + "\" must be an integer >= 0");
      }
      if (w.is_number_integer() && w.get<int64_t>() < 0) {
        return error(400, "weight of \"" + name + "\" must be an integer >= 0");
      }
      weights[name] = w.get<int64_t>();
    }
    auto st = proxy.SetWeights(weights);
    if (!st.ok()) return error(400, std::string(st.message()));
    nlohmann::json done = nlohmann::json::object();
    for (const auto& v : proxy.Route().versions) done[v.name] = v.weight;
    return AdminReply{200, "application/json", done.dump() + "\n"};
  }
  return error(404, "no such endpoint: " + path + " (try /metrics, /route, /stats, /weights)");
}

}  // namespace iter8::proxy
