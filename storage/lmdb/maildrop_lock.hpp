// maildrop_lock.hpp - a POP3 maildrop lock as an flock(2) on a per-user file
// in <store>/locks: the kernel drops it when a process dies, so a crash
// never leaves a maildrop locked.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "storage/store.hpp"

namespace aviary::storage {

// Errc::exists when another session holds it.
Result<std::unique_ptr<MaildropLock>> lock_maildrop_file(const std::string& lock_dir, std::uint64_t user_id);

}  // namespace aviary::storage
