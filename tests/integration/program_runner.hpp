// program_runner.hpp - runs a real program as a child process and captures
// what it writes: stdin fed from a string (a pipe) or typed on a fresh
// pseudo-terminal, stdout and stderr through pipes, a deadline on the whole.
//
// Header-only so that each integration test file can include it without a
// CMake change. The child does nothing between fork and exec but move file
// descriptors, so it is safe even with an LMDB environment open in the test.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace aviary::test {

struct ProgramResult {
  int exit_code = -1;  // -1 if killed by a signal
  int signal = 0;      // the signal that ended it, if any
  bool timed_out = false;
  std::string out;       // stdout
  std::string err;       // stderr
  std::string terminal;  // what it wrote on the pseudo-terminal (run_on_terminal)
  std::size_t steps_done = 0;  // dialogue steps whose prompt was seen
};

// One exchange on the terminal: wait until `expect` appears, then type `send`.
struct TerminalStep {
  std::string expect;
  std::string send;
};

namespace detail {

inline void check_sys(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

inline void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  check_sys(flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0, "fcntl");
}

inline void set_cloexec(int fd) { check_sys(fcntl(fd, F_SETFD, FD_CLOEXEC) == 0, "fcntl"); }

// A descriptor closed exactly once.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

struct Pipe {
  Fd read, write;
  Pipe() {
    int fds[2];
    check_sys(pipe2(fds, O_CLOEXEC) == 0, "pipe2");
    read.fd = fds[0];
    write.fd = fds[1];
  }
};

// Appends what is readable on fd; false at end of file (or EIO: a
// pseudo-terminal master whose slave is closed everywhere).
inline bool drain(int fd, std::string& into) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      into.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
}

inline void write_all_blocking(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 100);
      continue;
    }
    check_sys(n > 0, "write to terminal");
    done += static_cast<std::size_t>(n);
  }
}

// run - the one implementation behind run_program and run_on_terminal. With
// `terminal`, stdin is the slave side of a new pseudo-terminal that is also
// the child's controlling terminal, so that /dev/tty names it; otherwise a
// pipe fed with `input` and then closed.
inline ProgramResult run(const std::string& path, const std::vector<std::string>& args, const std::string& input,
                         bool terminal, const std::vector<TerminalStep>& steps,
                         std::chrono::milliseconds timeout) {
  // A child that exits without reading its input must not kill the test.
  ::signal(SIGPIPE, SIG_IGN);

  std::vector<std::string> argv_strings;
  argv_strings.push_back(path);
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  Pipe out, err;
  Pipe in;  // unused with a terminal, but cheap
  Fd master, slave;
  if (terminal) {
    int m = -1, s = -1;
    check_sys(openpty(&m, &s, nullptr, nullptr, nullptr) == 0, "openpty");
    master.fd = m;
    slave.fd = s;
    set_cloexec(master.fd);
    set_cloexec(slave.fd);
  }

  pid_t pid = fork();
  check_sys(pid >= 0, "fork");
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    if (terminal) {
      setsid();
      ioctl(slave.fd, TIOCSCTTY, 0);
      dup2(slave.fd, STDIN_FILENO);
    } else {
      dup2(in.read.fd, STDIN_FILENO);
    }
    dup2(out.write.fd, STDOUT_FILENO);
    dup2(err.write.fd, STDERR_FILENO);
    execv(path.c_str(), argv.data());
    _exit(127);
  }

  // Our copies of the child's ends: end of file arrives only once they go.
  out.write.reset();
  err.write.reset();
  in.read.reset();
  slave.reset();
  if (terminal) in.write.reset();

  ProgramResult result;
  set_nonblocking(out.read.fd);
  set_nonblocking(err.read.fd);
  if (terminal) set_nonblocking(master.fd);
  if (!terminal) {
    set_nonblocking(in.write.fd);
    if (input.empty()) in.write.reset();
  }

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t input_done = 0;
  std::size_t seen_up_to = 0;  // where the next expected prompt is looked for
  bool out_open = true, err_open = true, master_open = terminal;
  while (out_open || err_open) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    std::vector<pollfd> fds;
    if (out_open) fds.push_back({out.read.fd, POLLIN, 0});
    if (err_open) fds.push_back({err.read.fd, POLLIN, 0});
    if (master_open) fds.push_back({master.fd, POLLIN, 0});
    if (in.write.fd >= 0) fds.push_back({in.write.fd, POLLOUT, 0});
    int n = ::poll(fds.data(), fds.size(), static_cast<int>(std::min<long>(left.count(), 100)));
    if (n < 0 && errno != EINTR) check_sys(false, "poll");

    if (out_open) out_open = drain(out.read.fd, result.out);
    if (err_open) err_open = drain(err.read.fd, result.err);
    if (master_open) master_open = drain(master.fd, result.terminal);
    if (in.write.fd >= 0) {
      ssize_t w = ::write(in.write.fd, input.data() + input_done, input.size() - input_done);
      if (w > 0) input_done += static_cast<std::size_t>(w);
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || input_done == input.size()) in.write.reset();
    }
    // Type the next answer only once its prompt has been shown, as a person
    // would: typing earlier could be echoed or flushed away by the program.
    while (terminal && master.fd >= 0 && result.steps_done < steps.size()) {
      const TerminalStep& step = steps[result.steps_done];
      auto at = result.terminal.find(step.expect, seen_up_to);
      if (at == std::string::npos) break;
      seen_up_to = at + step.expect.size();
      write_all_blocking(master.fd, step.send);
      ++result.steps_done;
    }
  }
  if (master_open) drain(master.fd, result.terminal);

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  return result;
}

}  // namespace detail

// Runs `path` with `args`; `input` is written to its stdin, which is then
// closed (an empty input is an immediate end of file, and never a terminal).
inline ProgramResult run_program(const std::string& path, const std::vector<std::string>& args,
                                 const std::string& input = {},
                                 std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  return detail::run(path, args, input, false, {}, timeout);
}

// Runs `path` with a pseudo-terminal as stdin and controlling terminal and
// plays `steps` on it; result.terminal holds everything shown there.
inline ProgramResult run_on_terminal(const std::string& path, const std::vector<std::string>& args,
                                     const std::vector<TerminalStep>& steps,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  return detail::run(path, args, {}, true, steps, timeout);
}

}  // namespace aviary::test
