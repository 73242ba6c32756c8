// queue_commands.cpp - aviaryctl queue list|show|flush|del: the outbound queue.
#include <charconv>
#include <ctime>
#include <iostream>
#include <memory>

#include "common/units.hpp"
#include "tools/aviaryctl/commands.hpp"
#include "tools/aviaryctl/output.hpp"

namespace aviary::ctl {
namespace {

struct QueueArgs {
  std::string id;
};

const char* status_name(storage::RecipientStatus status) {
  switch (status) {
    case storage::RecipientStatus::pending: return "pending";
    case storage::RecipientStatus::delivered: return "delivered";
    case storage::RecipientStatus::failed: return "failed";
  }
  return "?";
}

// An entry is named by its queue number or by the id the client was told.
storage::QueueEntry find_entry(storage::Store& store, const std::string& id) {
  std::uint64_t number = 0;
  auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), number);
  if (ec == std::errc() && end == id.data() + id.size()) {
    std::string why;
    if (auto e = store.find_queued(number, why)) return *e;
    if (!why.empty()) fail(why);
  }
  for (auto& e : store.list_queue(nullptr)) {
    if (e.message_id == id) return e;
  }
  fail("no queue entry " + id);
}

std::uint64_t entry_size(storage::Store& store, const storage::QueueEntry& e) {
  return store.body_size(e.blob_id).value_or(0);
}

void write_entry(JsonWriter& json, const storage::QueueEntry& e, std::uint64_t size) {
  json.begin_object()
      .member("id", e.id)
      .member("message_id", e.message_id)
      .member("sender", e.sender)
      .member("size", size)
      .member("created", e.created)
      .member("next_attempt", e.next_attempt)
      .member("attempts", static_cast<std::uint64_t>(e.attempts));
  json.key("recipients").begin_array();
  for (const auto& r : e.recipients) {
    json.begin_object()
        .member("address", r.address)
        .member("status", status_name(r.status))
        .member("diagnostic", r.diagnostic)
        .end_object();
  }
  json.end_array().end_object();
}

std::string pending_count(const storage::QueueEntry& e) {
  std::size_t pending = 0;
  for (const auto& r : e.recipients) pending += r.status == storage::RecipientStatus::pending;
  return count_of(pending, "recipient pending", "recipients pending");
}

void queue_list(Context& ctx) {
  std::vector<storage::QueueEntry> entries = ctx.store().list_queue(nullptr);
  if (ctx.json()) {
    JsonWriter json(std::cout);
    json.begin_array();
    for (const auto& e : entries) write_entry(json, e, entry_size(ctx.store(), e));
    json.end_array().finish();
    return;
  }
  TextTable table;
  auto now = static_cast<std::int64_t>(std::time(nullptr));
  for (const auto& e : entries) {
    table.add_row({std::to_string(e.id), e.message_id, format_size(entry_size(ctx.store(), e)),
                   "<" + e.sender + ">", pending_count(e),
                   "next in " + std::to_string(std::max<std::int64_t>(0, e.next_attempt - now)) + "s"});
  }
  table.print(std::cout);
}

void queue_show(Context& ctx, const QueueArgs& args) {
  storage::QueueEntry e = find_entry(ctx.store(), args.id);
  std::uint64_t size = entry_size(ctx.store(), e);
  if (ctx.json()) {
    JsonWriter json(std::cout);
    write_entry(json, e, size);
    json.finish();
    return;
  }
  std::cout << "id " << e.id << " (" << e.message_id << ")\n"
            << "sender <" << e.sender << ">\n"
            << "size " << format_size(size) << "\n"
            << "attempts " << e.attempts << "\n";
  TextTable table;
  for (const auto& r : e.recipients) table.add_row({r.address, status_name(r.status), r.diagnostic});
  table.print(std::cout);
}

void queue_flush(Context& ctx) {
  std::size_t n = 0;
  check(storage::wait_for([&](storage::Done done) {
    ctx.store().reschedule_all(static_cast<std::int64_t>(std::time(nullptr)),
                               [&n, done](const Result<std::size_t>& flushed) {
                                 if (flushed) n = *flushed;
                                 done(flushed ? Status{} : Status{flushed.error()});
                               });
  }));
  std::cout << "flushed " << count_of(n, "queue entry", "queue entries") << "\n";
}

void queue_del(Context& ctx, const QueueArgs& args) {
  storage::QueueEntry e = find_entry(ctx.store(), args.id);
  check(storage::wait_for([&](storage::Done done) { ctx.store().remove_queued(e.id, done); }));
  std::cout << "deleted queue entry " << e.id << "\n";
}

}  // namespace

void add_queue_commands(CLI::App& app, Verbs& verbs) {
  CLI::App* noun = add_noun(app, "queue", "The outbound queue");
  auto args = std::make_shared<QueueArgs>();

  verbs.push_back({noun->add_subcommand("list", "List queued messages"), [](Context& ctx) { queue_list(ctx); }});
  CLI::App* show = noun->add_subcommand("show", "Show one queued message and its recipients");
  show->add_option("id", args->id, "Queue number or message id")->required();
  verbs.push_back({show, [args](Context& ctx) { queue_show(ctx, *args); }});
  verbs.push_back({noun->add_subcommand("flush", "Make every queued message due now"),
                   [](Context& ctx) { queue_flush(ctx); }});
  CLI::App* del = noun->add_subcommand("del", "Remove a queued message without sending it");
  del->add_option("id", args->id, "Queue number or message id")->required();
  verbs.push_back({del, [args](Context& ctx) { queue_del(ctx, *args); }});
}

}  // namespace aviary::ctl
