// open_store.cpp - see open_store.hpp. LMDB is the only backend so far.
#include "storage/open_store.hpp"

#include "storage/lmdb/lmdb_store.hpp"

namespace aviary::storage {

std::unique_ptr<Store> open_store(const Config& config) {
  return std::make_unique<LmdbStore>(EnvOptions{config.storage.path, config.storage.map_size});
}

}  // namespace aviary::storage
