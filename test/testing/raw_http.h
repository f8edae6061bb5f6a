// File: test/testing/raw_http.h
//
// A blocking loopback TCP client for tests that must send exactly the bytes they choose
// (malformed requests, slow headers, chunked bodies) and read exactly what comes back, and a
// listener whose accepted connections are the same kind of object (a backend the test drives
// byte by byte). Test-only; one object per thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace iter8::testing {

class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    int one = 1;
    if (fd_ >= 0) ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  // Takes over a connected socket (RawListener::Accept).
  static RawConnection Adopt(int fd) { return RawConnection(fd, 0); }
  RawConnection(RawConnection&& other) noexcept : fd_(other.fd_), closed_(other.closed_) {
    other.fd_ = -1;
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool ok() const { return fd_ >= 0; }
  bool Send(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // Reads until the peer closes, `until` appears in what was read, or `timeout` passes.
  std::string Read(std::chrono::milliseconds timeout, const std::string& until = "") {
    return ReadUntil(timeout, [&](const std::string& out) {
      return !until.empty() && out.find(until) != std::string::npos;
    });
  }
  // Reads until `n` bytes have come, the peer closes or `timeout` passes.
  std::string ReadAtLeast(size_t n, std::chrono::milliseconds timeout) {
    return ReadUntil(timeout, [n](const std::string& out) { return out.size() >= n; });
  }
  // True once a Read saw the peer close the connection.
  bool closed() const { return closed_; }
  // Closes the connection now.
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  RawConnection(int fd, int /*adopt*/) : fd_(fd) {}
  // Reads until `done(what was read)`, the peer closes or `timeout` passes.
  template <class Done>
  std::string ReadUntil(std::chrono::milliseconds timeout, const Done& done) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(out)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[65536];
      ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
      if (got <= 0) {
        closed_ = true;
        break;
      }
      out.append(buf, static_cast<size_t>(got));
    }
    return out;
  }
  int fd_ = -1;
  bool closed_ = false;
};

// A listening socket on a free loopback port.
class RawListener {
 public:
  RawListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 64) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~RawListener() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawListener(const RawListener&) = delete;
  RawListener& operator=(const RawListener&) = delete;

  int port() const { return port_; }
  // The next connection, or one that is not ok() when none comes within `timeout`.
  RawConnection Accept(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (fd_ < 0 || ::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) {
      return RawConnection::Adopt(-1);
    }
    int c = ::accept(fd_, nullptr, nullptr);
    int one = 1;
    if (c >= 0) ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return RawConnection::Adopt(c);
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace iter8::testing
