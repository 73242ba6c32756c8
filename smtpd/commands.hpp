// commands.hpp - the SMTP command table: which verb is allowed when, and the
// handler that answers it. One look at commands.cpp shows the protocol.
//
// Handlers are plain functions returning a Reply; the few that need I/O
// (DATA, BDAT, STARTTLS, AUTH) say so through Reply::next, with what the
// session needs to do it.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "smtpd/reply.hpp"
#include "smtpd/services.hpp"
#include "smtpd/session_state.hpp"

namespace aviary::smtpd {

// Answers one command line (without its CRLF).
Reply handle_command(SessionState& state, const Services& services, std::string_view line);

// One line of an AUTH exchange (after a 334 challenge).
Reply handle_sasl_response(SessionState& state, std::string_view line);

// The 220 greeting.
Reply greeting(const Services& services);

using BdatCommand = next::ReadChunk;
// "BDAT <size> [LAST]"; nullopt on a syntax error (then no chunk follows we can find).
std::optional<BdatCommand> parse_bdat(std::string_view args);

}  // namespace aviary::smtpd
