// alias_commands.cpp - aviaryctl alias add|del|list: addresses that forward
// to others, and "@domain" catch-alls.
#include <iostream>
#include <memory>
#include <optional>

#include "tools/aviaryctl/arguments.hpp"
#include "tools/aviaryctl/commands.hpp"
#include "tools/aviaryctl/output.hpp"

namespace aviary::ctl {
namespace {

struct AliasArgs {
  std::string source;
  std::vector<std::string> targets;
  std::string domain;  // alias list
};

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

// alias_add - adding to an existing alias merges the targets, as a second
// line for the same key in Postfix's virtual(5) table would read. The store
// refuses a change that would make a loop, and rolls it back.
void alias_add(Context& ctx, const AliasArgs& args) {
  Address source = alias_source_arg(args.source);
  std::vector<Address> targets;
  std::vector<std::string> shown;
  for (const auto& text : args.targets) {
    targets.push_back(address_arg(text));
    shown.push_back(targets.back().key());
  }
  check(require_hosted(ctx.store(), source.domain));
  check(storage::wait_for([&](storage::Done done) { ctx.store().add_alias(source, targets, done); }));
  std::cout << "added alias " << source_text(source) << " -> " << joined(shown) << '\n';
}

void alias_del(Context& ctx, const AliasArgs& args) {
  Address source = alias_source_arg(args.source);
  check(require_hosted(ctx.store(), source.domain));
  check(storage::wait_for([&](storage::Done done) { ctx.store().del_alias(source, done); }));
  std::cout << "deleted alias " << source_text(source) << '\n';
}

void alias_list(Context& ctx, const AliasArgs& args) {
  std::optional<std::string> domain;
  if (!args.domain.empty()) domain = domain_arg(args.domain);
  if (domain) check(require_hosted(ctx.store(), *domain));
  std::vector<storage::Alias> aliases =
      ctx.store().list_aliases(domain ? std::optional<std::string_view>(*domain) : std::nullopt);
  if (ctx.json()) {
    JsonWriter json(std::cout);
    json.begin_array();
    for (const auto& a : aliases) {
      json.begin_object().member("source", a.source).key("targets").begin_array();
      for (const auto& target : a.targets) json.value(target);
      json.end_array().end_object();
    }
    json.end_array().finish();
    return;
  }
  TextTable table;
  for (const auto& a : aliases) table.add_row({a.source, "-> " + joined(a.targets)});
  table.print(std::cout);
}

}  // namespace

void add_alias_commands(CLI::App& app, Verbs& verbs) {
  CLI::App* noun = add_noun(app, "alias", "Aliases and catch-alls");
  auto args = std::make_shared<AliasArgs>();

  CLI::App* add = noun->add_subcommand("add", "Forward SOURCE to one or more addresses");
  add->add_option("source", args->source, "local@domain, or @domain for the domain's catch-all")->required();
  add->add_option("targets", args->targets, "Addresses to deliver to, hosted or not")->required();
  verbs.push_back({add, [args](Context& ctx) { alias_add(ctx, *args); }});

  CLI::App* del = noun->add_subcommand("del", "Delete an alias with all its targets");
  del->add_option("source", args->source, "local@domain or @domain")->required();
  verbs.push_back({del, [args](Context& ctx) { alias_del(ctx, *args); }});

  CLI::App* list = noun->add_subcommand("list", "List aliases, of every domain or of one");
  list->add_option("domain", args->domain, "Only this domain's aliases");
  verbs.push_back({list, [args](Context& ctx) { alias_list(ctx, *args); }});
}

}  // namespace aviary::ctl
