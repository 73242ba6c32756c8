// user_commands.cpp - aviaryctl user add|passwd|del|list|quota: mailbox
// owners, their passwords (as Argon2id hashes only) and quotas.
#include <iostream>
#include <memory>
#include <optional>

#include "common/password.hpp"
#include "common/units.hpp"
#include "tools/aviaryctl/arguments.hpp"
#include "tools/aviaryctl/commands.hpp"
#include "tools/aviaryctl/output.hpp"
#include "tools/aviaryctl/password_prompt.hpp"

namespace aviary::ctl {
namespace {

struct UserArgs {
  std::string address;
  std::string domain;  // user list
  std::string quota;   // user add --quota, user quota SIZE|none
  CLI::Option* quota_option = nullptr;  // user add: --quota given, even as ""
  bool password_stdin = false;
};

// new_password_hash - prompts (or reads stdin) and hashes. Called only after
// every check that can fail without it, so that a typo in the address does
// not cost the admin two password prompts.
std::string new_password_hash(Context& ctx, const UserArgs& args) {
  const PasswordParams params = ctx.config().password;
  std::string password = read_new_password(args.password_stdin);
  std::string hash;
  try {
    hash = hash_password(password, params);
  } catch (...) {
    wipe(password);
    throw;
  }
  wipe(password);
  return hash;
}

// The checks a write would make anyway, made first in a read transaction so
// that they fail before the password prompt.
void require_user(Context& ctx, const Address& address, bool should_exist) {
  check(require_hosted(ctx.store(), address.domain));
  bool exists = ctx.store().find_user(address).has_value();
  if (exists && !should_exist) fail("user " + address.key() + " already exists");
  if (!exists && should_exist) fail("unknown user " + address.key());
}

void user_add(Context& ctx, const UserArgs& args) {
  Address address = address_arg(args.address);
  std::uint64_t quota = args.quota_option->count() > 0 ? quota_arg(args.quota) : 0;
  require_user(ctx, address, false);
  std::string hash = new_password_hash(ctx, args);
  // add_user checks the domain and the user again: both may have changed
  // while the admin typed.
  check(storage::wait_for([&](storage::Done done) { ctx.store().add_user(address, hash, quota, done); }));
  std::cout << "added user " << address.key();
  if (quota != 0) std::cout << " with quota " << format_size(quota);
  std::cout << '\n';
}

void user_passwd(Context& ctx, const UserArgs& args) {
  Address address = address_arg(args.address);
  require_user(ctx, address, true);
  std::string hash = new_password_hash(ctx, args);
  check(storage::wait_for([&](storage::Done done) { ctx.store().set_password(address, hash, done); }));
  std::cout << "changed password of " << address.key() << '\n';
}

void user_del(Context& ctx, const UserArgs& args) {
  Address address = address_arg(args.address);
  check(require_hosted(ctx.store(), address.domain));
  check(storage::wait_for([&](storage::Done done) { ctx.store().del_user(address, done); }));
  std::cout << "deleted user " << address.key() << '\n';
}

void user_quota(Context& ctx, const UserArgs& args) {
  Address address = address_arg(args.address);
  std::uint64_t quota = quota_arg(args.quota);
  check(require_hosted(ctx.store(), address.domain));
  check(storage::wait_for([&](storage::Done done) { ctx.store().set_quota(address, quota, done); }));
  if (quota == 0) {
    std::cout << "removed quota of " << address.key() << '\n';
  } else {
    std::cout << "set quota of " << address.key() << " to " << format_size(quota) << '\n';
  }
}

void user_list(Context& ctx, const UserArgs& args) {
  std::optional<std::string> domain;
  if (!args.domain.empty()) domain = domain_arg(args.domain);
  if (domain) check(require_hosted(ctx.store(), *domain));
  std::vector<storage::User> users =
      ctx.store().list_users(domain ? std::optional<std::string_view>(*domain) : std::nullopt);
  if (ctx.json()) {
    // Sizes in bytes; quota 0 means none, as in the store.
    JsonWriter json(std::cout);
    json.begin_array();
    for (const auto& u : users) {
      json.begin_object()
          .member("address", u.address)
          .member("messages", u.messages)
          .member("bytes", u.usage)
          .member("quota", u.quota)
          .member("created", u.created)
          .end_object();
    }
    json.end_array().finish();
    return;
  }
  TextTable table;
  for (const auto& u : users) {
    table.add_row({u.address, count_of(u.messages, "message", "messages"), format_size(u.usage),
                   "quota " + format_quota(u.quota)});
  }
  table.print(std::cout);
}

}  // namespace

void add_user_commands(CLI::App& app, Verbs& verbs) {
  CLI::App* noun = add_noun(app, "user", "Users and their mailboxes");
  auto args = std::make_shared<UserArgs>();
  const std::string stdin_help = "Read the password from one line of standard input";

  CLI::App* add = noun->add_subcommand("add", "Create a user (prompts twice for the password on a terminal)");
  add->add_option("address", args->address, "local@domain, in a hosted domain")->required();
  args->quota_option = add->add_option("--quota", args->quota, "Mailbox size limit, e.g. 1GiB (default: none)");
  add->add_flag("--password-stdin", args->password_stdin, stdin_help);
  verbs.push_back({add, [args](Context& ctx) { user_add(ctx, *args); }});

  CLI::App* passwd = noun->add_subcommand("passwd", "Change a user's password");
  passwd->add_option("address", args->address, "The user's address")->required();
  passwd->add_flag("--password-stdin", args->password_stdin, stdin_help);
  verbs.push_back({passwd, [args](Context& ctx) { user_passwd(ctx, *args); }});

  CLI::App* del = noun->add_subcommand("del", "Delete a user and all their mail");
  del->add_option("address", args->address, "The user's address")->required();
  verbs.push_back({del, [args](Context& ctx) { user_del(ctx, *args); }});

  CLI::App* list = noun->add_subcommand("list", "List users, of every domain or of one");
  list->add_option("domain", args->domain, "Only this domain's users");
  verbs.push_back({list, [args](Context& ctx) { user_list(ctx, *args); }});

  CLI::App* quota = noun->add_subcommand("quota", "Set or remove a user's quota");
  quota->add_option("address", args->address, "The user's address")->required();
  quota->add_option("size", args->quota, "A size such as 512MiB or 1GiB, or none")->required();
  verbs.push_back({quota, [args](Context& ctx) { user_quota(ctx, *args); }});
}

}  // namespace aviary::ctl
