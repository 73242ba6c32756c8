// privileges.hpp - giving up root once a daemon holds what only root may open.
//
// Started as root, a daemon binds its ports (25, 110, ...), opens the store
// and reads the TLS key as root, then becomes the configured `user` and
// `group` for good: real, effective and saved ids, and the user's
// supplementary groups (so that a key readable by a group such as ssl-cert
// stays readable for reloads). The directories it creates files in later
// are handed to that user first.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"

namespace aviary {

// check_account - the checks of drop_privileges that need nothing opened
// yet: the user and group exist, and the daemon can become them. Called
// before anything is bound or opened, so that a typo in `user` stops the
// daemon with one line, like any other config error. Throws like
// drop_privileges.
void check_account(const Config& config);

// drop_privileges - with config.user set: make `own_dirs` (and the regular
// files directly in them) belong to the user, switch to the user and group,
// check that root cannot be regained and that the directories are writable,
// and log who the daemon runs as. Without config.user: log a warning when
// running as root. `name` prefixes the log lines ("smtpd").
//
// Throws std::runtime_error, one line naming the config file, the key and
// the user or group: no such user, no such group, not started as root (and
// not already that user), a failed switch, or a directory the user cannot
// write.
void drop_privileges(const Config& config, std::string_view name, const std::vector<std::string>& own_dirs);

}  // namespace aviary
