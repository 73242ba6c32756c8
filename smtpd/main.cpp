// main.cpp - aviary-smtpd: the SMTP listeners and the relay on the shared
// daemon runtime.
#include <sys/stat.h>

#include "common/config.hpp"
#include "relay/metrics.hpp"
#include "relay/queue_runner.hpp"
#include "service/daemon_main.hpp"
#include "service/runtime.hpp"
#include "smtpd/commands.hpp"
#include "smtpd/metrics.hpp"
#include "smtpd/session.hpp"

using namespace aviary;

namespace {

void serve(const Config& config) {
  service::Runtime runtime(config, service::runtime_options("smtpd", config.smtpd));
  std::string spill_dir = config.storage.path + "/tmp";
  ::mkdir(spill_dir.c_str(), 0700);

  smtpd::Metrics metrics(runtime.registry());
  relay::Metrics relay_metrics(runtime.registry());
  runtime.store().set_commit_observer([&metrics](std::chrono::duration<double> elapsed, std::size_t) { metrics.storage_commit(elapsed); });
  auto tls = runtime.tls();
  smtpd::Services services{config, runtime.store(), metrics, tls != nullptr, spill_dir, &runtime.authenticator(), {}};

  const auto& c = config.smtpd;
  service::Server& server = runtime.server();
  // Separate pools: a flood of MX connections on port 25 must not lock the
  // users out of submission (587, 465), nor the other way round.
  auto mx_pool = server.add_pool(c.max_connections, c.max_connections_per_ip);
  auto submission_pool = server.add_pool(c.max_submission_connections, c.max_connections_per_ip);
  std::string refusal = smtpd::format(smtpd::Reply(421, "4.7.0", config.hostname + " Error: too many connections, try later"));
  auto listen = [&](const std::vector<Endpoint>& endpoints, const std::shared_ptr<service::SessionPool>& pool,
                    smtpd::ListenerPolicy info) {
    runtime.listen(endpoints, pool, [&services, tls, info](service::Socket socket, std::shared_ptr<service::SessionControl> control) {
      return smtpd::run_session(std::move(socket), services, info, tls, std::move(control));
    }, refusal);
  };
  listen(c.listen, mx_pool, smtpd::mx_listener);
  listen(c.submission, submission_pool, smtpd::submission_listener);
  listen(c.submissions, submission_pool, smtpd::submissions_listener);
  relay::Services relay_services{config, runtime.store(), relay_metrics};
  relay::QueueRunner relay(relay_services, server.io());
  relay.start();
  services.relay_wakeup = [&relay] { relay.wake(); };
  server.add_background([&relay] { relay.stop(); }, [&relay] { return relay.busy(); });
  // The queue lock lives beside pop3d's maildrop locks; both go to the user.
  runtime.run({spill_dir, config.storage.path + "/locks"});
}

}  // namespace

int main(int argc, char** argv) { return service::daemon_main(argc, argv, "aviary-smtpd", "receives mail for the hosted domains", serve); }
