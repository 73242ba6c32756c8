// notify.hpp - the systemd readiness protocol (sd_notify(3)) without
// libsystemd: one datagram to the socket named by $NOTIFY_SOCKET. Outside
// systemd (no variable) it does nothing.
#pragma once

#include <string_view>

namespace aviary {

// E.g. "READY=1", "STOPPING=1". Returns false if it could not be sent.
bool notify_service_manager(std::string_view state);

}  // namespace aviary
