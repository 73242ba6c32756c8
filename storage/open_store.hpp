// open_store.hpp - the store the configuration names ([storage]), for the
// daemons and aviaryctl, which never name a backend.
#pragma once

#include <memory>

#include "common/config.hpp"
#include "storage/store.hpp"

namespace aviary::storage {

// Throws Failure when the store cannot be opened.
std::unique_ptr<Store> open_store(const Config& config);

}  // namespace aviary::storage
