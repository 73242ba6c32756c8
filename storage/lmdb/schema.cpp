// schema.cpp - table names and key encodings (see schema.hpp).
#include "storage/lmdb/schema.hpp"

namespace aviary::storage {

const char* table_name(Table table) {
  switch (table) {
    case Table::meta: return "meta";
    case Table::domains: return "domains";
    case Table::users: return "users";
    case Table::aliases: return "aliases";
    case Table::mailboxes: return "mailboxes";
    case Table::blob_meta: return "blob_meta";
    case Table::blob_data: return "blob_data";
    case Table::queue: return "queue";
    case Table::queue_due: return "queue_due";
  }
  return "?";
}

std::string be32(std::uint32_t value) {
  std::string out(4, '\0');
  for (int i = 3; i >= 0; --i, value >>= 8) out[static_cast<std::size_t>(i)] = static_cast<char>(value & 0xff);
  return out;
}

std::string be64(std::uint64_t value) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, value >>= 8) out[static_cast<std::size_t>(i)] = static_cast<char>(value & 0xff);
  return out;
}

std::uint32_t read_be32(std::string_view bytes) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4 && i < bytes.size(); ++i) v = (v << 8) | static_cast<unsigned char>(bytes[i]);
  return v;
}

std::uint64_t read_be64(std::string_view bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8 && i < bytes.size(); ++i) v = (v << 8) | static_cast<unsigned char>(bytes[i]);
  return v;
}

std::string name_key(std::string_view domain, std::string_view folded_local) {
  std::string key = domain_prefix(domain);
  key.append(folded_local);
  return key;
}

std::string domain_prefix(std::string_view domain) {
  std::string key(domain);
  key.push_back('\0');
  return key;
}

}  // namespace aviary::storage
