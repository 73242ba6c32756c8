// runtime.hpp - what both daemons run on, made in the order they need it:
// TLS, the store, the metrics server, the hashing pool, the authenticator
// and the server; then run() reloads on SIGHUP, gives up root and serves
// until SIGTERM. Each main() adds only its metrics, sessions and listeners.
#pragma once

#include <asio/thread_pool.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/metrics.hpp"
#include "service/authenticator.hpp"
#include "service/server.hpp"
#include "service/tls.hpp"
#include "storage/store.hpp"

namespace aviary::service {

struct RuntimeOptions {
  std::string name;  // "smtpd", "pop3d": the server, the logs, the privileges
  std::optional<Endpoint> metrics;
  unsigned io_threads = 0;
  AuthPolicy auth;
  std::chrono::seconds shutdown_timeout{30};
};

// From a daemon's section ([smtpd], [pop3d]).
template <class Section>
RuntimeOptions runtime_options(std::string name, const Section& section) {
  return RuntimeOptions{std::move(name), section.metrics, section.io_threads, auth_policy(section),
                        section.shutdown_timeout};
}

class Runtime {
 public:
  Runtime(const Config& config, RuntimeOptions options);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  const std::shared_ptr<ServerTls>& tls() const { return tls_; }  // null without [tls]
  storage::Store& store() { return *store_; }
  prometheus::Registry& registry() { return metrics_server_.registry(); }
  Authenticator& authenticator() { return authenticator_; }
  Server& server() { return server_; }

  // A listener on each endpoint, counted in `pool`.
  void listen(const std::vector<Endpoint>& endpoints, const std::shared_ptr<SessionPool>& pool,
              const SessionFn& session, const std::string& refusal);

  // Serves until SIGTERM or SIGINT, as the configured user once the
  // directories in `own_dirs` are given to it. The store's last writes are
  // finished on the way out (also on an exception), while what their
  // completions post to (the server's io_context, the objects of main())
  // still exists.
  void run(const std::vector<std::string>& own_dirs);

 private:
  const Config& config_;
  RuntimeOptions options_;
  std::shared_ptr<ServerTls> tls_;
  std::unique_ptr<storage::Store> store_;
  MetricsServer metrics_server_;
  asio::thread_pool hashing_;
  Authenticator authenticator_;
  Server server_;
};

}  // namespace aviary::service
