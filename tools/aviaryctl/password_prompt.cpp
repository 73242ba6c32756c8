// password_prompt.cpp - passwords from stdin or from the terminal with echo
// off (see password_prompt.hpp).
#include "tools/aviaryctl/password_prompt.hpp"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <string_view>

#include "tools/aviaryctl/context.hpp"

namespace aviary::ctl {
namespace {

// Longer lines are refused rather than silently cut: a truncated password
// would lock the user out with no clue why.
constexpr std::size_t max_password_octets = 4096;

void strip_line_end(std::string& line) {
  if (!line.empty() && line.back() == '\n') line.pop_back();
  if (!line.empty() && line.back() == '\r') line.pop_back();
}

// The terminal whose echo is off, so that a signal can turn it back on:
// Ctrl-C at the prompt must not leave the admin's shell without echo.
int echo_fd = -1;
termios echo_saved;

void restore_echo_and_die(int sig) {
  if (echo_fd >= 0) tcsetattr(echo_fd, TCSAFLUSH, &echo_saved);
  signal(sig, SIG_DFL);
  raise(sig);
}

void write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a prompt that cannot be shown is not worth failing for
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

// The signals that end a process at the prompt (Ctrl-C, Ctrl-\, a closed
// terminal, kill).
constexpr int fatal_signals[] = {SIGINT, SIGQUIT, SIGHUP, SIGTERM};
constexpr std::size_t fatal_signal_count = sizeof fatal_signals / sizeof fatal_signals[0];

// Echo is off while it lives; the destructor turns it back on.
class NoEcho {
 public:
  explicit NoEcho(int fd) : fd_(fd) {
    if (tcgetattr(fd_, &saved_) != 0) fail(std::string("cannot read terminal settings: ") + strerror(errno));
    echo_fd = fd_;
    echo_saved = saved_;
    struct sigaction action {};
    action.sa_handler = restore_echo_and_die;
    sigemptyset(&action.sa_mask);
    for (std::size_t i = 0; i < fatal_signal_count; ++i) sigaction(fatal_signals[i], &action, &old_[i]);
    termios quiet = saved_;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHOE | ECHOK | ECHONL);
    // TCSAFLUSH drops anything typed ahead of the prompt, as getpass(3) does.
    if (tcsetattr(fd_, TCSAFLUSH, &quiet) != 0) {
      restore_handlers();
      fail(std::string("cannot turn off terminal echo: ") + strerror(errno));
    }
  }
  ~NoEcho() {
    tcsetattr(fd_, TCSAFLUSH, &saved_);
    restore_handlers();
  }
  NoEcho(const NoEcho&) = delete;
  NoEcho& operator=(const NoEcho&) = delete;

 private:
  void restore_handlers() {
    for (std::size_t i = 0; i < fatal_signal_count; ++i) sigaction(fatal_signals[i], &old_[i], nullptr);
    echo_fd = -1;
  }

  int fd_;
  termios saved_{};
  struct sigaction old_[fatal_signal_count] {};
};

// read_line - one line from a raw descriptor, byte by byte so that nothing
// after the newline is consumed (the second prompt reads it).
std::string read_line(int fd) {
  std::string line;
  for (;;) {
    char c;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      wipe(line);
      fail(std::string("cannot read password: ") + strerror(errno));
    }
    if (n == 0 || c == '\n') break;
    if (line.size() >= max_password_octets) {
      wipe(line);
      fail("password too long");
    }
    line += c;
  }
  strip_line_end(line);
  return line;
}

// prompt - shows `text` and reads one line with echo off. The newline the
// user typed is not echoed, so one is written to keep the screen tidy.
std::string prompt(int in_fd, int out_fd, std::string_view text) {
  std::string line;
  {
    NoEcho quiet(in_fd);
    // Echo goes off before the prompt shows: whatever the user types after
    // seeing it is never displayed.
    write_all(out_fd, text);
    line = read_line(in_fd);
  }
  write_all(out_fd, "\n");
  return line;
}

std::string from_terminal() {
  // The controlling terminal, as passwd(1) and getpass(3) use: stdout may be
  // redirected to a file that must not receive prompts. Without one (a
  // terminal that is not controlling), stdin and stderr do.
  int tty = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  int in_fd = tty >= 0 ? tty : STDIN_FILENO;
  int out_fd = tty >= 0 ? tty : STDERR_FILENO;
  struct Closer {
    int fd;
    ~Closer() {
      if (fd >= 0) ::close(fd);
    }
  } closer{tty};

  std::string first = prompt(in_fd, out_fd, "Password: ");
  if (first.empty()) fail("empty password");
  std::string second = prompt(in_fd, out_fd, "Repeat password: ");
  bool same = first == second;
  wipe(second);
  if (!same) {
    wipe(first);
    fail("passwords do not match");
  }
  return first;
}

std::string from_stdin() {
  std::string line;
  if (!std::getline(std::cin, line)) fail("no password on standard input");
  strip_line_end(line);
  if (line.empty()) {
    fail("empty password on standard input");
  }
  if (line.size() > max_password_octets) {
    wipe(line);
    fail("password too long");
  }
  return line;
}

}  // namespace

void wipe(std::string& secret) {
  // explicit_bzero cannot be optimised away as a dead store, unlike memset.
  explicit_bzero(secret.data(), secret.size());
  secret.clear();
}

std::string read_new_password(bool stdin_flag) {
  if (stdin_flag) return from_stdin();
  if (isatty(STDIN_FILENO)) return from_terminal();
  fail("no password given: use --password-stdin");
}

}  // namespace aviary::ctl
