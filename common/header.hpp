// header.hpp - what Aviary reads and writes in a message's header section
// (RFC 5322): finding the section, looking up fields, counting Received:
// (RFC 5321 §6.3 loops), and the Date and Message-ID it writes itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace aviary::header {

// The header section of a message: up to and including the empty line, at
// most `limit` octets (cut at a line end).
std::string_view section(std::string_view message, std::size_t limit);

// True if the header section has a field named `name` (RFC 5322 §2.2,
// field names compared without regard to case).
bool has_field(std::string_view headers, std::string_view name);

// How many "Received:" fields the header section has.
std::size_t received_count(std::string_view message);

// RFC 5322 §3.3 date-time: "Sat, 28 Nov 2026 15:59:00 +0000".
std::string rfc5322_date(std::int64_t unix_seconds);

// A fresh message id for "queued as", logs, Received and Message-ID:
// time-ordered and unique across processes.
std::string new_message_id();

// "Message-ID:" and "Date:" lines for those of the two that the header
// section (the start of the message) lacks; empty when both are there.
std::string missing_origin_fields(std::string_view message_start, const std::string& id, const std::string& hostname,
                                  std::int64_t when);

}  // namespace aviary::header
