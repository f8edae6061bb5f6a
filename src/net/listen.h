// File: net/listen.h
//
// Opening a listening TCP socket on a user's address, the same way for every server iter8 runs
// (the proxy, its admin API, the sample model server): the host is an IP address or a name
// resolved to its first address, SO_REUSEADDR is set, and errors name the address. For .cc
// files that use Boost.Asio already (this header includes it). Thread-compatible.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <string>

#include "absl/status/status.h"
#include "common/strings.h"
#include "net/endpoint.h"

namespace iter8::net {

// Opens, binds and listens `acceptor` (a basic_socket_acceptor of any executor) on `address`.
template <class Acceptor>
absl::Status OpenAcceptor(Acceptor& acceptor, const HostPort& address) {
  namespace asio = boost::asio;
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(address.host, ec);
  if (ec) {
    asio::io_context resolving;
    asio::ip::tcp::resolver resolver(resolving);
    auto results = resolver.resolve(address.host, std::to_string(address.port), ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(
          StrCat("cannot resolve listen address ", address.String(), ": ", ec.message()));
    }
    ip = results.begin()->endpoint().address();
  }
  asio::ip::tcp::endpoint ep(ip, address.port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    return absl::UnavailableError(
        StrCat("cannot listen on ", address.String(), ": ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace iter8::net
