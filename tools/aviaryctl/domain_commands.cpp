// domain_commands.cpp - aviaryctl domain add|del|list: the hosted domains.
#include <iostream>
#include <memory>

#include "tools/aviaryctl/arguments.hpp"
#include "tools/aviaryctl/commands.hpp"
#include "tools/aviaryctl/output.hpp"

namespace aviary::ctl {
namespace {

struct DomainArgs {
  std::string domain;
  bool force = false;
};

void domain_add(Context& ctx, const DomainArgs& args) {
  std::string domain = domain_arg(args.domain);
  check(storage::wait_for([&](storage::Done done) { ctx.store().add_domain(domain, done); }));
  std::cout << "added domain " << domain << '\n';
}

// domain_del - the store refuses a domain with users unless forced; with
// --force the line says what went with it, since that cannot be undone.
void domain_del(Context& ctx, const DomainArgs& args) {
  std::string domain = domain_arg(args.domain);
  auto found = ctx.store().find_domain(domain);
  if (!found) fail("unknown domain " + domain);
  storage::Domain removed = *found;
  check(storage::wait_for([&](storage::Done done) { ctx.store().del_domain(domain, args.force, done); }));
  std::cout << "deleted domain " << domain;
  if (removed.users > 0 || removed.aliases > 0) {
    std::cout << " with " << count_of(removed.users, "user", "users") << " and "
              << count_of(removed.aliases, "alias", "aliases");
  }
  std::cout << '\n';
}

void domain_list(Context& ctx) {
  std::vector<storage::Domain> domains = ctx.store().list_domains();
  if (ctx.json()) {
    JsonWriter json(std::cout);
    json.begin_array();
    for (const auto& d : domains) {
      json.begin_object()
          .member("name", d.name)
          .member("users", d.users)
          .member("aliases", d.aliases)
          .member("created", d.created)
          .end_object();
    }
    json.end_array().finish();
    return;
  }
  TextTable table;
  for (const auto& d : domains) {
    table.add_row({d.name, count_of(d.users, "user", "users"), count_of(d.aliases, "alias", "aliases")});
  }
  table.print(std::cout);
}

}  // namespace

void add_domain_commands(CLI::App& app, Verbs& verbs) {
  CLI::App* noun = add_noun(app, "domain", "Hosted domains");
  auto args = std::make_shared<DomainArgs>();

  CLI::App* add = noun->add_subcommand("add", "Host a new domain");
  add->add_option("domain", args->domain, "Domain name (UTF-8 or A-labels)")->required();
  verbs.push_back({add, [args](Context& ctx) { domain_add(ctx, *args); }});

  CLI::App* del = noun->add_subcommand("del", "Stop hosting a domain");
  del->add_option("domain", args->domain, "Domain name")->required();
  del->add_flag("--force", args->force, "Also delete its users, their mail and its aliases");
  verbs.push_back({del, [args](Context& ctx) { domain_del(ctx, *args); }});

  CLI::App* list = noun->add_subcommand("list", "List hosted domains");
  verbs.push_back({list, [](Context& ctx) { domain_list(ctx); }});
}

}  // namespace aviary::ctl
