// queue_runner.hpp - the relay: takes due entries from the outbound queue,
// delivers them to their next hops, records each recipient's outcome, and
// retries or bounces.
//
// Only one process runs the queue of a store at a time (an flock on
// storage.path/locks/queue.lock); another aviary-smtpd on the same store
// waits and takes over if the first one goes away. Entries are grouped by
// next hop; each next hop gets at most relay.connections_per_destination
// connections, all of them together at most relay.max_connections, and a
// connection carries one message after another.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ssl/context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "relay/dns.hpp"
#include "relay/route.hpp"
#include "relay/services.hpp"
#include "relay/smtp_client.hpp"
#include "storage/store.hpp"

namespace aviary::relay {

class QueueRunner {
 public:
  QueueRunner(Services& services, asio::io_context& io);
  ~QueueRunner();
  QueueRunner(const QueueRunner&) = delete;
  QueueRunner& operator=(const QueueRunner&) = delete;

  void start();
  // Scans the queue now instead of at the next tick (from any thread).
  void wake();
  // No new deliveries; the ones under way finish.
  void stop();
  bool busy() const { return workers_running_ > 0; }

 private:
  struct Round;
  struct Job;
  struct Slot;
  struct Destination {
    NextHop hop;
    std::deque<std::shared_ptr<Job>> jobs;
    std::size_t workers = 0;
  };

  asio::awaitable<void> poll_loop();
  bool hold_lock();
  void publish_stats();
  void dispatch(storage::QueueEntry entry);
  void start_workers();
  asio::awaitable<void> worker(std::unique_ptr<Slot> slot);
  asio::awaitable<std::vector<RecipientOutcome>> deliver(SmtpClient& client, const Job& job);
  asio::awaitable<void> settle(std::shared_ptr<Job> job, std::vector<RecipientOutcome> outcomes, std::string peer);
  asio::awaitable<void> finish(std::shared_ptr<Round> round);
  // Copies of a bounce stored, or why nothing was.
  asio::awaitable<Result<std::size_t>> commit_settle(std::uint64_t id, const storage::QueueDecision& decide);

  Services& svc_;
  service::Executor strand_;
  asio::steady_timer timer_;
  asio::thread_pool dns_pool_{4};
  Resolver resolver_;
  asio::ssl::context tls_;
  ClientSettings client_settings_;
  std::mt19937 random_{std::random_device{}()};
  int lock_fd_ = -1;
  bool locked_ = false;
  bool stopping_ = false;
  bool woken_ = false;  // a wake() is pending
  // All below only on strand_.
  std::map<std::string, Destination> destinations_;
  std::set<std::uint64_t> in_flight_;
  std::set<std::uint64_t> corrupt_;  // undecodable entries, logged and counted once
  // False once this runner is gone: a worker frame destroyed later (with the
  // io_context, at shutdown) must not give its slot back to it.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::size_t workers_ = 0;
  std::atomic<std::size_t> workers_running_{0};
};

}  // namespace aviary::relay
