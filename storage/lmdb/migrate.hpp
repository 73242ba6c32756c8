// migrate.hpp - moving a store written by an older Aviary to schema_version.
//
// One step per version, in a table: step N takes a store from version N to
// N + 1 by rewriting the records whose format changed. Env::Env runs the
// steps a store needs, and the version bump, in one write transaction (see
// the versioning note in schema.hpp). A step must leave what it cannot read
// as it is (the queue runner skips and counts such a record) rather than fail
// the open: one bad record must not make the whole store unusable.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "storage/lmdb/txn.hpp"

namespace aviary::storage {

struct MigrationStep {
  std::uint32_t from;  // takes a store from `from` to `from + 1`
  const char* what;    // for the log
  // Rewrites the records; returns notes for the log (records left alone).
  std::vector<std::string> (*run)(WriteTxn& txn);
};

// Every step, ordered by `from`, ending at schema_version.
std::span<const MigrationStep> migration_steps();

struct MigrationReport {
  std::vector<std::string> steps;     // "1 -> 2: ..." for each step that ran
  std::vector<std::string> problems;  // records left as they were, and why
};

// Runs the steps from `found` up to schema_version in `txn` and records the
// new version there. The caller commits, then logs the report.
MigrationReport migrate(WriteTxn& txn, std::uint32_t found);

}  // namespace aviary::storage
