// wave1_store.hpp - a store as wave 1 of Aviary wrote it (schema_version 1),
// built byte by byte with wave 1's record layouts, not with today's encoders:
// so that a format change without a schema bump and a migration step makes
// the upgrade tests fail.
//
// What it holds: domain example.test; user alice@example.test (id 1) with
// one message (uid 1, blob 1); two queue entries: 1 in the first queue
// record format (v1: no message id, no body flags; 8-bit body, blob 2) and
// 2 in the later one (v2, message id "WAVE1LATE", blob 3).
#pragma once

#include <cstdint>
#include <string>

#include "storage/lmdb/codec.hpp"
#include "storage/lmdb/env.hpp"
#include "storage/lmdb/schema.hpp"
#include "storage/lmdb/writer.hpp"

namespace aviary::test::wave1 {

inline const std::string alice = "alice@example.test";
inline const std::string alice_prefix = "Return-Path: <bob@remote.test>\r\nDelivered-To: alice@example.test\r\n";
inline const std::string alice_body = "Subject: from wave 1\r\n\r\nStill here after the upgrade.\r\n";
inline const std::string v1_body = "Subject: caf\xc3\xa9\r\n\r\n8-bit body queued by wave 1.\r\n";
inline const std::string v2_body = "Subject: later\r\n\r\nqueued after the v2 queue record.\r\n";
inline constexpr std::int64_t created = 1700000000;

inline std::string blob_meta(std::uint32_t refs, std::uint64_t size) {
  return storage::Encoder().u8(1).u32(refs).u64(size).take();
}

// Wave 1's first queue record (storage/queue.cpp at 10bfbb7).
inline std::string queue_v1() {
  storage::Encoder e;
  e.u8(1).str("alice@example.test").u64(2).i64(created).i64(created + 600).u32(3);
  e.u32(3);
  e.str("carol@remote.test").u8(0).str("451 4.3.0 try later");
  e.str("dave@remote.test").u8(1).str("250 2.0.0 ok");
  e.str("erin@remote.test").u8(2).str("550 5.1.1 no such user");
  return e.take();
}

// The later one (message id and body flags), still under schema_version 1.
inline std::string queue_v2() {
  storage::Encoder e;
  e.u8(2).str("WAVE1LATE").str("").u64(3).i64(created + 1).i64(created + 1).u32(0).u8(2 /* smtputf8 */);
  e.u32(1).str("frank@remote.test").u8(0).str("");
  return e.take();
}

// Writes it all into a fresh store at `path` (opened once with today's
// code for the tables), then sets schema_version back to 1.
inline void write_store(const std::string& path, std::uint64_t map_size, const std::string& extra_queue_record = {}) {
  using storage::Table;
  storage::Env env({path, map_size});
  Status s = storage::write_once(env, [&](storage::WriteTxn& t) -> Status {
    using storage::be32;
    using storage::be64;
    t.put(Table::meta, storage::meta_schema_version, be32(1));
    t.put(Table::meta, storage::meta_next_user_id, be64(2));
    t.put(Table::meta, storage::meta_next_blob_id, be64(4));
    t.put(Table::meta, storage::meta_next_queue_id, be64(extra_queue_record.empty() ? 3 : 4));
    t.put(Table::domains, "example.test", storage::Encoder().u8(1).i64(created).take());
    std::uint64_t size = alice_prefix.size() + alice_body.size();
    t.put(Table::users, storage::name_key("example.test", "alice"),
          storage::Encoder().u8(1).str(alice).u64(1).str("$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA")
              .u64(0).u64(size).u64(1).u32(2).i64(created).take());
    t.put(Table::mailboxes, be64(1) + be32(1),
          storage::Encoder().u8(1).u64(1).u64(size).i64(created).str(alice_prefix).take());
    t.put(Table::blob_meta, be64(1), blob_meta(1, alice_body.size()));
    t.put(Table::blob_data, be64(1), alice_body);
    t.put(Table::blob_meta, be64(2), blob_meta(1, v1_body.size()));
    t.put(Table::blob_data, be64(2), v1_body);
    t.put(Table::blob_meta, be64(3), blob_meta(1, v2_body.size()));
    t.put(Table::blob_data, be64(3), v2_body);
    t.put(Table::queue, be64(1), queue_v1());
    t.put(Table::queue_due, be64(created + 600) + be64(1), {});
    t.put(Table::queue, be64(2), queue_v2());
    t.put(Table::queue_due, be64(created + 1) + be64(2), {});
    if (!extra_queue_record.empty()) t.put(Table::queue, be64(3), extra_queue_record);
    return {};
  });
  if (!s) throw storage::Failure(s.error().code, s.error().message);
}

}  // namespace aviary::test::wave1
