// main.cpp - aviary-smtpd: wires configuration, store, listeners and signals.
#include <sys/stat.h>

#include <asio/thread_pool.hpp>
#include <thread>

#include "common/config.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "common/privileges.hpp"
#include "relay/metrics.hpp"
#include "relay/queue_runner.hpp"
#include "service/daemon_main.hpp"
#include "service/authenticator.hpp"
#include "service/reload.hpp"
#include "service/server.hpp"
#include "service/tls.hpp"
#include "smtpd/commands.hpp"
#include "smtpd/metrics.hpp"
#include "smtpd/session.hpp"
#include "storage/env.hpp"
#include "storage/writer.hpp"

using namespace aviary;

namespace {

void serve(const Config& config) {
  std::shared_ptr<ServerTls> tls;
  if (config.tls.enabled()) tls = std::make_shared<ServerTls>(config.tls.certificate, config.tls.private_key);

  storage::Env env({config.storage.path, config.storage.map_size});
  std::string spill_dir = config.storage.path + "/tmp";
  ::mkdir(spill_dir.c_str(), 0700);

  MetricsServer metrics_server(config.smtpd.metrics);
  smtpd::Metrics metrics(metrics_server.registry());
  relay::Metrics relay_metrics(metrics_server.registry());
  storage::Writer writer(env);
  writer.set_commit_observer([&metrics](std::chrono::duration<double> elapsed, std::size_t) { metrics.storage_commit(elapsed); });
  asio::thread_pool hashing(std::max(1u, std::thread::hardware_concurrency()));
  service::Authenticator authenticator(env, hashing, service::auth_policy(config.smtpd), config.password);
  smtpd::Services services{config, env, writer, metrics, tls != nullptr, spill_dir, &authenticator, {}};

  const auto& c = config.smtpd;
  service::Server server("smtpd", c.io_threads);
  // Separate pools: a flood of MX connections on port 25 must not lock the
  // users out of submission (587, 465), nor the other way round.
  auto mx_pool = server.add_pool(c.max_connections, c.max_connections_per_ip);
  auto submission_pool = server.add_pool(c.max_submission_connections, c.max_connections_per_ip);
  std::string refusal = smtpd::format(smtpd::Reply(421, "4.7.0", config.hostname + " Error: too many connections, try later"));
  auto listen = [&](const std::vector<Endpoint>& endpoints, const std::shared_ptr<service::SessionPool>& pool,
                    smtpd::ListenerPolicy info) {
    for (const auto& endpoint : endpoints) {
      server.listen(endpoint, pool, [&services, tls, info](service::Socket socket, std::shared_ptr<service::SessionControl> control) {
        return smtpd::run_session(std::move(socket), services, info, tls, std::move(control));
      }, refusal);
    }
  };
  listen(c.listen, mx_pool, smtpd::mx_listener);
  listen(c.submission, submission_pool, smtpd::submission_listener);
  listen(c.submissions, submission_pool, smtpd::submissions_listener);
  relay::Services relay_services{config, env, writer, relay_metrics};
  relay::QueueRunner relay(relay_services, server.io());
  relay.start();
  services.relay_wakeup = [&relay] { relay.wake(); };
  server.add_background([&relay] { relay.stop(); }, [&relay] { return relay.busy(); });
  service::Reloader reloader(server.io(), "smtpd", tls);
  // Drains the writer first on the way out, also on an exception: its last
  // commits run operations that use the objects above (the relay) and post
  // their results into server.io(), which must still exist then.
  struct StopWriter {
    storage::Writer& writer;
    ~StopWriter() { writer.stop(); }
  } stop_writer{writer};
  // The queue lock lives beside pop3d's maildrop locks; both go to the user.
  drop_privileges(config, "smtpd", {spill_dir, config.storage.path + "/locks"});
  server.run(config.smtpd.shutdown_timeout);
  hashing.join();
}

}  // namespace

int main(int argc, char** argv) { return service::daemon_main(argc, argv, "aviary-smtpd", "receives mail for the hosted domains", serve); }
