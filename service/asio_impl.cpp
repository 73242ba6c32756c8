// asio_impl.cpp - the single translation unit that compiles Asio.
//
// With ASIO_SEPARATE_COMPILATION every other file includes only Asio's
// declarations, which keeps builds on two cores bearable.
#include <asio/impl/src.hpp>
#include <asio/ssl/impl/src.hpp>
