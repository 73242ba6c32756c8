// main.cpp - aviary-pop3d: the POP3 listeners on the shared daemon runtime.
#include <sys/stat.h>

#include "common/config.hpp"
#include "common/log.hpp"
#include "pop3d/metrics.hpp"
#include "pop3d/reply.hpp"
#include "pop3d/session.hpp"
#include "service/daemon_main.hpp"
#include "service/runtime.hpp"

using namespace aviary;

namespace {

void serve(const Config& config) {
  if (!config.pop3d_errors.empty()) throw ConfigError(config.pop3d_errors.front());
  for (const std::string& warning : config.pop3d_warnings) log::warning("pop3d: ", warning);
  service::Runtime runtime(config, service::runtime_options("pop3d", config.pop3d));
  std::string lock_dir = config.storage.path + "/locks";
  ::mkdir(lock_dir.c_str(), 0700);

  pop3d::Metrics metrics(runtime.registry());
  pop3d::Services services{config, runtime.store(), metrics, runtime.authenticator(), runtime.tls()};

  const auto& p = config.pop3d;
  auto pool = runtime.server().add_pool(p.max_connections, p.max_connections_per_ip);
  std::string refusal = pop3d::format(pop3d::Reply::failure("Too many connections, try later", "SYS/TEMP"));
  auto session = [&services](const pop3d::ListenerPolicy& info) -> service::SessionFn {
    return [&services, info](service::Socket socket, std::shared_ptr<service::SessionControl> control) {
      return pop3d::run_session(std::move(socket), services, info, std::move(control));
    };
  };
  runtime.listen(p.listen, pool, session(pop3d::pop3_listener), refusal);
  runtime.listen(p.tls_listen, pool, session(pop3d::pop3s_listener), refusal);
  runtime.run({lock_dir});
}

}  // namespace

int main(int argc, char** argv) { return service::daemon_main(argc, argv, "aviary-pop3d", "lets users fetch their mail over POP3", serve); }
