// commands.hpp - the POP3 command tables, one per state (RFC 1939, 2449,
// 2595, 5034). Handlers are plain functions; I/O is asked for via Reply::next.
#pragma once

#include <string_view>

#include "pop3d/reply.hpp"
#include "pop3d/session_state.hpp"

namespace aviary::pop3d {

// RFC 2449 §4: a command line is at most 255 octets with its CRLF.
inline constexpr std::size_t max_command_line = 255;

Reply handle_command(SessionState& state, std::string_view line);

// The answer to an AUTH PLAIN response line (initial or continued).
Reply plain_response(std::string_view response);

}  // namespace aviary::pop3d
