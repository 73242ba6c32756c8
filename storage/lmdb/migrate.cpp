// migrate.cpp - the migration steps (see migrate.hpp).
#include "storage/lmdb/migrate.hpp"

#include <iterator>
#include <tuple>
#include <utility>

#include "common/address.hpp"
#include "storage/lmdb/blob.hpp"
#include "storage/lmdb/codec.hpp"
#include "storage/lmdb/queue.hpp"

namespace aviary::storage {
namespace {

// Schema 1 -> 2: queue records v1 -> v2.
//
//   v1: u8 1, str sender, u64 blob, i64 created, i64 next attempt,
//       u32 attempts, u32 n, n x (str address, u8 status, str diagnostic)
//   v2: u8 2, str message id, str sender, u64 blob, i64 created,
//       i64 next attempt, u32 attempts, u8 body flags, u32 n, recipients
//
// v1 kept no message id: the queue number stands in for it (aviaryctl and
// the logs name the entry by it). The body flags are derived as delivery
// derives them (smtpd/delivery.cpp): 8-bit when the body is not ASCII,
// SMTPUTF8 when an address is not; the relay checks both again anyway.
std::string queue_record_v1_to_v2(const Txn& txn, std::uint64_t id, std::string_view v1) {
  Decoder in(v1, "queue");
  in.version(1);
  std::string sender = in.str();
  std::uint64_t blob_id = in.u64();
  std::int64_t created = in.i64();
  std::int64_t next_attempt = in.i64();
  std::uint32_t attempts = in.u32();
  std::uint32_t n = in.u32();
  std::vector<std::tuple<std::string, std::uint8_t, std::string>> recipients;
  bool utf8 = !is_ascii(sender);
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string address = in.str();
    std::uint8_t status = in.u8();
    std::string diagnostic = in.str();
    utf8 = utf8 || !is_ascii(address);
    recipients.emplace_back(std::move(address), status, std::move(diagnostic));
  }
  std::uint8_t flags = utf8 ? body_smtputf8 : 0;
  if (auto body = view_blob(txn, blob_id); body && !is_ascii(*body)) flags |= body_8bit;

  Encoder out;
  out.u8(2).str(std::to_string(id)).str(sender).u64(blob_id).i64(created).i64(next_attempt);
  out.u32(attempts).u8(flags).u32(n);
  for (const auto& [address, status, diagnostic] : recipients) out.str(address).u8(status).str(diagnostic);
  return out.take();
}

std::vector<std::string> queue_records_to_v2(WriteTxn& txn) {
  std::vector<std::pair<std::string, std::string>> rewritten;  // written after the scan
  std::vector<std::string> notes;
  txn.scan(Table::queue, {}, [&](std::string_view key, std::string_view raw) {
    std::uint64_t id = read_be64(key);
    std::uint8_t version = raw.empty() ? 0 : static_cast<std::uint8_t>(raw[0]);
    if (version == 2) return true;  // written by wave 1 after the change
    try {
      if (version != 1) throw Failure(Errc::storage, "unknown version " + std::to_string(version));
      rewritten.emplace_back(std::string(key), queue_record_v1_to_v2(txn, id, raw));
    } catch (const Failure& failure) {
      notes.push_back("queue record " + std::to_string(id) + " left as it is: " + failure.what());
    }
    return true;
  });
  for (const auto& [key, value] : rewritten) txn.put(Table::queue, key, value);
  return notes;
}

constexpr MigrationStep steps[] = {
    {1, "queue records v1 -> v2 (message id, body flags)", queue_records_to_v2},
};
static_assert(std::size(steps) + 1 == schema_version, "one migration step per schema version");

}  // namespace

std::span<const MigrationStep> migration_steps() { return steps; }

MigrationReport migrate(WriteTxn& txn, std::uint32_t found) {
  MigrationReport report;
  for (const auto& step : steps) {
    if (step.from < found) continue;
    for (auto& problem : step.run(txn)) report.problems.push_back(std::move(problem));
    report.steps.push_back(std::to_string(step.from) + " -> " + std::to_string(step.from + 1) + ": " + step.what);
  }
  txn.put(Table::meta, meta_schema_version, be32(schema_version));
  return report;
}

}  // namespace aviary::storage
