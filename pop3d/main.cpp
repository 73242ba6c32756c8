// main.cpp - aviary-pop3d: wires configuration, store, listeners and signals.
#include <sys/stat.h>

#include <thread>

#include "common/config.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "service/daemon_main.hpp"
#include "service/reload.hpp"
#include "common/privileges.hpp"
#include "service/tls.hpp"
#include "pop3d/reply.hpp"
#include "pop3d/session.hpp"

using namespace aviary;

namespace {

void serve(const Config& config) {
  if (!config.pop3d_errors.empty()) throw ConfigError(config.pop3d_errors.front());
  for (const std::string& warning : config.pop3d_warnings) log::warning("pop3d: ", warning);
  std::shared_ptr<ServerTls> tls;
  if (config.tls.enabled()) tls = std::make_shared<ServerTls>(config.tls.certificate, config.tls.private_key);

  storage::Env env({config.storage.path, config.storage.map_size});
  std::string lock_dir = config.storage.path + "/locks";
  ::mkdir(lock_dir.c_str(), 0700);

  MetricsServer metrics_server(config.pop3d.metrics);
  pop3d::Metrics metrics(metrics_server.registry());
  storage::Writer writer(env);
  asio::thread_pool hashing(std::max(1u, std::thread::hardware_concurrency()));
  service::Authenticator authenticator(env, hashing, service::auth_policy(config.pop3d), config.password);
  pop3d::Services services{config, env, writer, metrics, authenticator, tls, lock_dir};

  const auto& p = config.pop3d;
  service::Server server("pop3d", p.io_threads);
  auto pool = server.add_pool(p.max_connections, p.max_connections_per_ip);
  std::string refusal = pop3d::format(pop3d::Reply::failure("Too many connections, try later", "SYS/TEMP"));
  auto listen = [&](const std::vector<Endpoint>& endpoints, pop3d::ListenerPolicy info) {
    for (const auto& endpoint : endpoints) {
      server.listen(endpoint, pool, [&services, info](service::Socket socket, std::shared_ptr<service::SessionControl> control) {
        return pop3d::run_session(std::move(socket), services, info, std::move(control));
      }, refusal);
    }
  };
  listen(p.listen, pop3d::pop3_listener);
  listen(p.tls_listen, pop3d::pop3s_listener);
  service::Reloader reloader(server.io(), "pop3d", tls);
  // Drains the writer first on the way out, also on an exception: its last
  // commits post their results into server.io(), which must still exist.
  struct StopWriter {
    storage::Writer& writer;
    ~StopWriter() { writer.stop(); }
  } stop_writer{writer};
  drop_privileges(config, "pop3d", {lock_dir});
  server.run(p.shutdown_timeout);
  hashing.join();
}

}  // namespace

int main(int argc, char** argv) { return service::daemon_main(argc, argv, "aviary-pop3d", "lets users fetch their mail over POP3", serve); }
