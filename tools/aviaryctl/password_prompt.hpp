// password_prompt.hpp - getting a new password from the administrator
// without it ever appearing on a screen, in a process list or in a log.
#pragma once

#include <string>

namespace aviary::ctl {

// With from_stdin: one line of standard input (for scripts: `--password-stdin`).
// Otherwise, if standard input is a terminal: "Password: " and "Repeat
// password: " with echo off. Otherwise an error, never an empty password.
// Throws CommandError.
std::string read_new_password(bool from_stdin);

// Overwrites the password in memory before it is freed.
void wipe(std::string& secret);

}  // namespace aviary::ctl
