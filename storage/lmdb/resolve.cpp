// resolve.cpp - recipient resolution (see resolve.hpp).
#include "storage/lmdb/resolve.hpp"

#include <algorithm>

#include "storage/lmdb/directory.hpp"

namespace aviary::storage {
namespace {

// RFC 5233-style subaddress: "user+tag" delivers to "user".
constexpr char subaddress_separator = '+';

class Resolver {
 public:
  Resolver(const Txn& txn, Resolution& out, CatchAll catch_all) : txn_(txn), out_(out), catch_all_(catch_all) {}

  // False once a loop is found; out_.detail then says where.
  bool expand(const std::string& key, int depth) {
    if (depth > max_alias_depth) {
      out_.detail = "aliases nested deeper than " + std::to_string(max_alias_depth) + " at " + key;
      return false;
    }
    auto at = key.rfind('@');
    std::string local = key.substr(0, at);
    std::string domain = key.substr(at + 1);
    if (!is_hosted(txn_, domain)) {
      add(out_.remote, key);
      return true;
    }
    if (std::find(path_.begin(), path_.end(), key) != path_.end()) {
      // "alice -> alice, bob" keeps a copy for alice; any other return is a loop.
      if (find_user(txn_, key)) {
        add(out_.local, key);
        return true;
      }
      out_.detail = describe_path(key);
      return false;
    }
    path_.push_back(key);
    bool ok = expand_hosted(key, local, domain, depth);
    path_.pop_back();
    return ok;
  }

 private:
  bool expand_hosted(const std::string& key, const std::string& local, const std::string& domain, int depth) {
    if (auto alias = find_alias(txn_, domain, local)) return expand_all(alias->targets, depth);
    if (find_user(txn_, key)) {
      add(out_.local, key);
      return true;
    }
    if (auto plus = local.find(subaddress_separator); plus != std::string::npos && plus > 0) {
      std::string base = local.substr(0, plus);
      if (find_alias(txn_, domain, base) || find_user(txn_, base + "@" + domain)) {
        return expand(base + "@" + domain, depth + 1);
      }
    }
    if (!local.empty() && catch_all_ == CatchAll::use) {
      if (auto catch_all = find_alias(txn_, domain, "")) return expand_all(catch_all->targets, depth);
    }
    return true;  // an unknown target is dropped; the others still get the mail
  }

  bool expand_all(const std::vector<std::string>& targets, int depth) {
    for (const auto& target : targets) {
      if (!expand(target, depth + 1)) return false;
    }
    return true;
  }

  static void add(std::vector<std::string>& list, const std::string& key) {
    if (std::find(list.begin(), list.end(), key) == list.end()) list.push_back(key);
  }

  std::string describe_path(const std::string& back_to) const {
    std::string text;
    for (const auto& step : path_) text += step + " -> ";
    return text + back_to;
  }

 private:
  const Txn& txn_;
  Resolution& out_;
  CatchAll catch_all_;
  std::vector<std::string> path_;
};

}  // namespace

Resolution resolve_recipient(const Txn& txn, const Address& recipient, CatchAll catch_all) {
  Resolution out;
  if (!is_hosted(txn, recipient.domain)) {
    out.outcome = Resolution::Outcome::not_hosted;
    return out;
  }
  Resolver resolver(txn, out, catch_all);
  if (!resolver.expand(recipient.key(), 0)) {
    out.outcome = Resolution::Outcome::loop;
    out.local.clear();
    out.remote.clear();
    return out;
  }
  if (out.local.empty() && out.remote.empty()) {
    out.outcome = Resolution::Outcome::unknown_user;
    out.detail = "no such user: " + recipient.key();
    return out;
  }
  out.outcome = Resolution::Outcome::deliver;
  return out;
}

}  // namespace aviary::storage
