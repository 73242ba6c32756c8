// mailbox_commands.cpp - aviaryctl mailbox stat: how much mail a user holds.
#include <iostream>
#include <memory>

#include "common/units.hpp"
#include "tools/aviaryctl/arguments.hpp"
#include "tools/aviaryctl/commands.hpp"
#include "tools/aviaryctl/output.hpp"

namespace aviary::ctl {
namespace {

struct MailboxArgs {
  std::string address;
};

void mailbox_stat(Context& ctx, const MailboxArgs& args) {
  Address address = address_arg(args.address);
  check(require_hosted(ctx.store(), address.domain));
  std::optional<storage::MailboxStat> stat = ctx.store().mailbox_stat(address.key());
  if (!stat) fail("unknown user " + address.key());
  if (ctx.json()) {
    // Sizes in bytes; quota 0 means none, as in the store.
    JsonWriter json(std::cout);
    json.begin_object()
        .member("address", address.key())
        .member("messages", stat->messages)
        .member("bytes", stat->bytes)
        .member("quota", stat->quota)
        .end_object()
        .finish();
    return;
  }
  TextTable table;
  table.add_row({address.key(), count_of(stat->messages, "message", "messages"), format_size(stat->bytes),
                 "quota " + format_quota(stat->quota)});
  table.print(std::cout);
}

}  // namespace

void add_mailbox_commands(CLI::App& app, Verbs& verbs) {
  CLI::App* noun = add_noun(app, "mailbox", "Users' stored mail");
  auto args = std::make_shared<MailboxArgs>();

  CLI::App* stat = noun->add_subcommand("stat", "Count a user's messages and bytes");
  stat->add_option("address", args->address, "The user's address")->required();
  verbs.push_back({stat, [args](Context& ctx) { mailbox_stat(ctx, *args); }});
}

}  // namespace aviary::ctl
