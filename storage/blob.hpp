// TEMPORARY forwarding header for relay/ only, until relay/ uses storage/store.hpp
// (helper h5); delete it then. Everything else includes storage/lmdb/blob.hpp.
#pragma once
#include "storage/lmdb/blob.hpp"
