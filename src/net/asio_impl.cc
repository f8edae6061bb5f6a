// File: net/asio_impl.cc
//
// The one translation unit that compiles Boost.Asio and Boost.Beast (separate compilation, see
// deps.md "compile times"); every other file only includes their headers.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
