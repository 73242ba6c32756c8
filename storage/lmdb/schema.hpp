// schema.hpp - every table of the store, declared once, and its key layout.
//
// Keys are encoded so that LMDB's byte order is meaningful: integers
// big-endian, names with their domain first so that one domain's entries are
// one contiguous range. Every value starts with a version byte.
//
// Versioning of the store on disk: meta "schema_version" (be32) names the
// layout of the whole store, every table and every record version in it.
// Any change to a key layout or to a record format (a new record version
// byte) bumps schema_version and adds a step to storage/migrate.cpp that
// rewrites the older records. At open, Env runs the steps from the store's
// version up to schema_version in one write transaction, then logs it; a
// store with a newer version than this code is refused, so an older Aviary
// never misreads records it does not know. History:
//   1  wave 1: tables as below; queue records v1, later v2 (message id,
//      body flags) without a bump, so a version-1 store may hold both.
//   2  every queue record at v2.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace aviary::storage {

// Bump when the layout or a record format changes (see above); Env migrates
// older stores and refuses newer ones.
inline constexpr std::uint32_t schema_version = 2;

enum class Table : std::size_t {
  meta,        // name -> counters and the schema version
  domains,     // domain -> DomainRecord
  users,       // domain \0 folded-local -> UserRecord
  aliases,     // domain \0 folded-local ("" = catch-all) -> AliasRecord
  mailboxes,   // be64 user id, be32 uid -> MessageRecord
  blob_meta,   // be64 blob id -> reference count and size
  blob_data,   // be64 blob id -> the message bytes
  queue,       // be64 queue id -> QueueRecord
  queue_due,   // be64 due time, be64 queue id -> ""
};
inline constexpr std::size_t table_count = 9;

const char* table_name(Table table);

// Meta keys.
inline constexpr std::string_view meta_schema_version = "schema_version";
inline constexpr std::string_view meta_next_user_id = "next_user_id";
inline constexpr std::string_view meta_next_blob_id = "next_blob_id";
inline constexpr std::string_view meta_next_queue_id = "next_queue_id";

// Record version bytes.
inline constexpr std::uint8_t record_v1 = 1;

std::string be32(std::uint32_t value);
std::string be64(std::uint64_t value);
std::uint32_t read_be32(std::string_view bytes);
std::uint64_t read_be64(std::string_view bytes);

// "domain \0 local": one domain's names sort together.
std::string name_key(std::string_view domain, std::string_view folded_local);
// The prefix shared by every name_key of `domain`.
std::string domain_prefix(std::string_view domain);

}  // namespace aviary::storage
