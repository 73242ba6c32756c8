// blob.cpp - reference-counted message bodies (see blob.hpp).
#include "storage/lmdb/blob.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "storage/lmdb/codec.hpp"

namespace aviary::storage {
namespace {

struct BlobMeta {
  std::uint32_t refs = 0;
  std::uint64_t size = 0;
};

std::string encode(const BlobMeta& meta) {
  return Encoder().u8(record_v1).u32(meta.refs).u64(meta.size).take();
}

std::optional<BlobMeta> load_meta(const Txn& txn, std::uint64_t id) {
  auto raw = txn.get(Table::blob_meta, be64(id));
  if (!raw) return std::nullopt;
  Decoder d(*raw, "blob");
  d.version(record_v1);
  BlobMeta meta;
  meta.refs = d.u32();
  meta.size = d.u64();
  return meta;
}

BlobMeta require_meta(const Txn& txn, std::uint64_t id) {
  auto meta = load_meta(txn, id);
  if (!meta) throw Failure(Errc::storage, "corrupt store: blob " + std::to_string(id) + " is missing");
  return *meta;
}

}  // namespace

std::uint64_t put_blob(WriteTxn& txn, std::string_view data) {
  return put_blob(txn, data.size(), [&](std::span<char> dst) { std::memcpy(dst.data(), data.data(), data.size()); });
}

std::uint64_t put_blob(WriteTxn& txn, std::uint64_t size, const std::function<void(std::span<char>)>& fill) {
  std::uint64_t id = txn.next_id(meta_next_blob_id);
  std::string key = be64(id);
  fill(txn.reserve(Table::blob_data, key, size));
  txn.put(Table::blob_meta, key, encode(BlobMeta{0, size}));
  return id;
}

void ref_blob(WriteTxn& txn, std::uint64_t id) {
  BlobMeta meta = require_meta(txn, id);
  ++meta.refs;
  txn.put(Table::blob_meta, be64(id), encode(meta));
}

void unref_blob(WriteTxn& txn, std::uint64_t id) {
  BlobMeta meta = require_meta(txn, id);
  std::string key = be64(id);
  if (meta.refs <= 1) {
    txn.erase(Table::blob_meta, key);
    txn.erase(Table::blob_data, key);
    return;
  }
  --meta.refs;
  txn.put(Table::blob_meta, key, encode(meta));
}

std::optional<std::string> read_blob(const Txn& txn, std::uint64_t id) {
  auto view = view_blob(txn, id);
  if (!view) return std::nullopt;
  return std::string(*view);
}

std::optional<std::string_view> view_blob(const Txn& txn, std::uint64_t id) {
  return txn.get(Table::blob_data, be64(id));
}

void release_mapped(std::string_view bytes) {
  static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  auto begin = reinterpret_cast<std::uintptr_t>(bytes.data());
  auto end = begin + bytes.size();
  // Only whole pages inside the range: a neighbour may still be in use.
  begin = (begin + page - 1) / page * page;
  end = end / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

std::optional<std::uint32_t> blob_refcount(const Txn& txn, std::uint64_t id) {
  auto meta = load_meta(txn, id);
  if (!meta) return std::nullopt;
  return meta->refs;
}

std::optional<std::uint64_t> blob_size(const Txn& txn, std::uint64_t id) {
  auto meta = load_meta(txn, id);
  if (!meta) return std::nullopt;
  return meta->size;
}

}  // namespace aviary::storage
