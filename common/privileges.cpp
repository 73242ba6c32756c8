// privileges.cpp - see privileges.hpp.
//
// The order matters: directories are handed over while still root, the
// groups are set before the user (setgroups and setresgid need root), and
// the switch is checked afterwards rather than trusted. glibc applies each
// set*id call to every thread of the process, so the store's writer thread,
// the hashing pool and the metrics exposer, all started before, drop too.
#include "common/privileges.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "common/log.hpp"

namespace aviary {
namespace {

struct Account {
  std::string user;
  std::string group;
  uid_t uid = 0;
  gid_t gid = 0;
};

std::string quoted(std::string_view name) { return "\"" + std::string(name) + "\""; }

[[noreturn]] void fail(const Config& config, std::string_view key, const std::string& what) {
  throw std::runtime_error(config.source + ": " + std::string(key) + ": " + what);
}

[[noreturn]] void fail_errno(const Config& config, std::string_view key, const std::string& what, int error) {
  fail(config, key, what + ": " + std::strerror(error));
}

// lookup - the ids of config.user and config.group from the system's
// databases (/etc/passwd and /etc/group, or whatever nsswitch.conf says).
Account lookup(const Config& config) {
  Account account;
  account.user = config.user;
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc;
  while ((rc = ::getpwnam_r(config.user.c_str(), &pw, buffer.data(), buffer.size(), &found)) == ERANGE) {
    buffer.resize(buffer.size() * 2);
  }
  // Some NSS modules say "not found" with an error code instead of a null result.
  if (rc != 0 && rc != ENOENT && rc != ESRCH) fail_errno(config, "user", "cannot look up " + quoted(config.user), rc);
  if (rc != 0 || !found) fail(config, "user", "no such user " + quoted(config.user));
  account.uid = pw.pw_uid;
  account.gid = pw.pw_gid;

  group gr{};
  group* group_found = nullptr;
  if (config.group.empty()) {
    // The user's primary group; its name only for the log line.
    while ((rc = ::getgrgid_r(account.gid, &gr, buffer.data(), buffer.size(), &group_found)) == ERANGE) {
      buffer.resize(buffer.size() * 2);
    }
    account.group = rc == 0 && group_found ? gr.gr_name : std::to_string(account.gid);
    return account;
  }
  while ((rc = ::getgrnam_r(config.group.c_str(), &gr, buffer.data(), buffer.size(), &group_found)) == ERANGE) {
    buffer.resize(buffer.size() * 2);
  }
  if (rc != 0 && rc != ENOENT && rc != ESRCH) fail_errno(config, "group", "cannot look up " + quoted(config.group), rc);
  if (rc != 0 || !group_found) fail(config, "group", "no such group " + quoted(config.group));
  account.group = config.group;
  account.gid = gr.gr_gid;
  return account;
}

// give_directory - `path` and the regular files directly in it (POP3 lock
// files left by a run as root, say) now belong to the account. Descriptors,
// not names, are changed: a symbolic link planted in place of the directory
// or of a file fails to open instead of handing over what it points to, and
// a file with other hard links is left alone (it may be one to a file
// elsewhere).
void give_directory(const Config& config, std::string_view name, const Account& account, const std::string& path) {
  int dir = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir < 0) fail_errno(config, "user", "cannot open " + path + " to hand it to " + quoted(account.user), errno);
  if (::fchown(dir, account.uid, account.gid) != 0) {
    int error = errno;
    ::close(dir);
    fail_errno(config, "user", "cannot hand " + path + " to " + quoted(account.user), error);
  }
  DIR* entries = ::fdopendir(dir);  // owns `dir` from here on
  if (!entries) {
    int error = errno;
    ::close(dir);
    fail_errno(config, "user", "cannot list " + path, error);
  }
  while (dirent* entry = ::readdir(entries)) {
    if (entry->d_type != DT_REG && entry->d_type != DT_UNKNOWN) continue;
    int fd = ::openat(dir, entry->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
        (st.st_uid != account.uid || st.st_gid != account.gid)) {
      if (::fchown(fd, account.uid, account.gid) != 0) {
        log::warning(name, ": cannot hand ", path, "/", entry->d_name, " to ", account.user, ": ", std::strerror(errno));
      }
    }
    ::close(fd);
  }
  ::closedir(entries);
}

// become - the switch itself, then the proof that it holds.
void become(const Config& config, const Account& account) {
  auto failed = [&](const char* call, int error) {
    fail_errno(config, "user", std::string(call) + " for " + quoted(account.user) + " failed", error);
  };
  // initgroups: the user's supplementary groups as the admin set them up
  // (e.g. ssl-cert, for a TLS key readable by that group), none of root's.
  if (::initgroups(account.user.c_str(), account.gid) != 0) failed("initgroups", errno);
  if (::setresgid(account.gid, account.gid, account.gid) != 0) failed("setresgid", errno);
  if (::setresuid(account.uid, account.uid, account.uid) != 0) failed("setresuid", errno);

  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  if (::getresuid(&ruid, &euid, &suid) != 0 || ::getresgid(&rgid, &egid, &sgid) != 0 || ruid != account.uid ||
      euid != account.uid || suid != account.uid || rgid != account.gid || egid != account.gid ||
      sgid != account.gid) {
    fail(config, "user", "switching to " + quoted(account.user) + " did not take effect");
  }
  // Saved set-user-ID included: a process that could become root again has
  // not given anything up.
  if (account.uid != 0 && (::setuid(0) == 0 || ::seteuid(0) == 0)) {
    fail(config, "user", "root privileges could be regained after switching to " + quoted(account.user));
  }
}

void check_writable(const Config& config, const Account& account, const std::vector<std::string>& dirs) {
  for (const auto& dir : dirs) {
    // access() asks with the real ids, which are the new ones now.
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
      fail_errno(config, "user",
                 quoted(account.user) + " cannot write to " + dir +
                     " (the storage directory and its parents must be accessible to it)",
                 errno);
    }
  }
}

// check_switch - root may become anyone; anyone else only who it already is
// (started by a service manager that switched for us).
void check_switch(const Config& config, const Account& account) {
  if (::geteuid() == 0) return;
  if (::getuid() != account.uid || ::geteuid() != account.uid || ::getegid() != account.gid) {
    fail(config, "user",
         "cannot switch to " + quoted(account.user) + " without root (running as uid " + std::to_string(::geteuid()) +
             ")");
  }
}

}  // namespace

void check_account(const Config& config) {
  if (config.user.empty()) return;
  check_switch(config, lookup(config));
}

void drop_privileges(const Config& config, std::string_view name, const std::vector<std::string>& own_dirs) {
  if (config.user.empty()) {
    if (::geteuid() == 0) {
      log::warning(name, ": running as root; set user in ", config.source, " to give up root after start");
    }
    return;
  }
  Account account = lookup(config);
  check_switch(config, account);
  if (::geteuid() == 0) {
    for (const auto& dir : own_dirs) give_directory(config, name, account, dir);
    become(config, account);
    if (account.uid == 0) log::warning(name, ": user ", account.user, " is root; nothing is given up");
  }
  check_writable(config, account, own_dirs);
  log::info(name, ": running as user ", account.user, " (uid ", account.uid, "), group ", account.group, " (gid ",
            account.gid, ")");
}

}  // namespace aviary
