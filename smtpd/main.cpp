// main.cpp - aviary-smtpd: wires configuration, store, listeners and signals.
#include <signal.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <iostream>
#include <thread>

#include "common/config.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "common/tls.hpp"
#include "smtpd/listener.hpp"
#include "smtpd/metrics.hpp"
#include "storage/env.hpp"
#include "storage/writer.hpp"

using namespace aviary;

namespace {

// SIGTERM/SIGINT: stop accepting, let transactions finish within the
// shutdown timeout, then interrupt what is left, then stop.
asio::awaitable<void> shutdown_on_signal(asio::io_context& io, std::vector<std::unique_ptr<smtpd::Listener>>& listeners,
                                         smtpd::SessionTable& sessions, std::chrono::seconds grace) {
  asio::signal_set signals(io, SIGTERM, SIGINT);
  int signal = co_await signals.async_wait(asio::use_awaitable);
  log::info("smtpd: signal ", signal, ": no new connections; finishing open transactions");
  for (auto& l : listeners) l->stop();
  sessions.stop_all(false);
  asio::steady_timer timer(io);
  auto deadline = std::chrono::steady_clock::now() + grace;
  bool forced = false;
  // Bounded: the grace period, then at most a few seconds for the 421s.
  while (sessions.size() > 0 && std::chrono::steady_clock::now() < deadline + std::chrono::seconds(10)) {
    if (!forced && std::chrono::steady_clock::now() >= deadline) {
      log::warning("smtpd: ", sessions.size(), " sessions still open after ", grace.count(), "s; closing them");
      sessions.stop_all(true);
      forced = true;
    }
    timer.expires_after(std::chrono::milliseconds(50));
    co_await timer.async_wait(asio::use_awaitable);
  }
  io.stop();
}

int serve(const Config& config) {
  std::shared_ptr<asio::ssl::context> tls;
  if (config.tls.enabled()) tls = make_server_tls(config.tls.certificate, config.tls.private_key);

  storage::Env env({config.storage.path, config.storage.map_size});
  std::string spill_dir = config.storage.path + "/tmp";
  ::mkdir(spill_dir.c_str(), 0700);

  MetricsServer metrics_server(config.smtpd.metrics);
  smtpd::Metrics metrics(metrics_server.registry());
  storage::Writer writer(env);
  writer.set_commit_observer([&metrics](std::chrono::duration<double> elapsed, std::size_t) { metrics.storage_commit(elapsed); });

  smtpd::Services services{config, env, writer, metrics, tls != nullptr, spill_dir};
  smtpd::SessionTable sessions(config.smtpd.max_connections, config.smtpd.max_connections_per_ip);

  unsigned threads = config.smtpd.io_threads ? config.smtpd.io_threads : std::max(1u, std::thread::hardware_concurrency());
  asio::io_context io(static_cast<int>(threads));
  std::vector<std::unique_ptr<smtpd::Listener>> listeners;
  for (const auto& endpoint : config.smtpd.listen) {
    listeners.push_back(std::make_unique<smtpd::Listener>(io, endpoint, smtpd::ListenerInfo{smtpd::ListenerKind::mx, "smtp"},
                                                          services, tls, sessions));
  }
  for (auto& l : listeners) l->start();
  asio::co_spawn(io, shutdown_on_signal(io, listeners, sessions, config.smtpd.shutdown_timeout), asio::detached);

  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  log::info("smtpd: stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"aviary-smtpd: receives mail for the hosted domains"};
  std::string config_path = default_config_path;
  app.add_option("-c,--config", config_path, "configuration file");
  CLI11_PARSE(app, argc, argv);

  // The signal set must see these before any thread starts.
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t blocked;
  sigemptyset(&blocked);
  try {
    Config config = load_config(config_path);
    return serve(config);
  } catch (const ConfigError& e) {
    std::cerr << "aviary-smtpd: " << e.what() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "aviary-smtpd: " << e.what() << "\n";
  }
  return 1;
}
