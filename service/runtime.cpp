// runtime.cpp - see runtime.hpp.
#include "service/runtime.hpp"

#include <algorithm>
#include <thread>

#include "common/privileges.hpp"
#include "service/reload.hpp"
#include "storage/open_store.hpp"

namespace aviary::service {
namespace {

std::shared_ptr<ServerTls> server_tls(const Config& config) {
  if (!config.tls.enabled()) return nullptr;
  return std::make_shared<ServerTls>(config.tls.certificate, config.tls.private_key);
}

}  // namespace

Runtime::Runtime(const Config& config, RuntimeOptions options)
    : config_(config),
      options_(std::move(options)),
      tls_(server_tls(config)),
      store_(storage::open_store(config)),
      metrics_server_(options_.metrics),
      hashing_(std::max(1u, std::thread::hardware_concurrency())),
      authenticator_(*store_, hashing_, options_.auth, config.password),
      server_(options_.name, options_.io_threads) {}

Runtime::~Runtime() = default;

void Runtime::listen(const std::vector<Endpoint>& endpoints, const std::shared_ptr<SessionPool>& pool,
                     const SessionFn& session, const std::string& refusal) {
  for (const auto& endpoint : endpoints) server_.listen(endpoint, pool, session, refusal);
}

void Runtime::run(const std::vector<std::string>& own_dirs) {
  Reloader reloader(server_.io(), options_.name, tls_);
  struct StopStore {
    storage::Store& store;
    ~StopStore() { store.stop(); }
  } stop_store{*store_};
  drop_privileges(config_, options_.name, own_dirs);
  server_.run(options_.shutdown_timeout);
  hashing_.join();
}

}  // namespace aviary::service
