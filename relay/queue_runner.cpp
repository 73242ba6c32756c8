// queue_runner.cpp - see queue_runner.hpp.
#include "relay/queue_runner.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <ctime>

#include "common/header.hpp"
#include "common/log.hpp"
#include "relay/settle.hpp"
#include "service/commit.hpp"
#include "service/offload.hpp"

namespace aviary::relay {
namespace {

constexpr auto poll_interval = std::chrono::seconds(1);
constexpr auto min_scan_gap = std::chrono::milliseconds(20);
// How long an idle outbound connection waits for more mail: ticks of 50 ms.
constexpr auto linger_tick = std::chrono::milliseconds(50);
constexpr int linger_ticks = 40;
// Entries taken into memory at once; the rest wait in the store.
constexpr std::size_t max_in_flight = 5000;

// The most of a queued body taken as its header section (the Received:
// count, the headers a bounce returns).
constexpr std::size_t header_limit = 1 << 20;
constexpr std::size_t header_piece = 16 * 1024;

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

// The header section of a queued body (header::section), read piece by
// piece up to its end, not the whole body; "" when the body is gone.
std::string read_header_section(storage::Store& store, std::uint64_t blob_id) {
  // Up to 4 octets past the limit: where section() looks for the empty line.
  constexpr std::size_t most = header_limit + 4;
  std::string head;
  for (;;) {
    std::size_t before = head.size();
    auto total = store.read_body(blob_id, before, std::min(header_piece, most - before),
                                 [&head](std::string_view piece) { head += piece; });
    if (!total) return {};
    bool ended = head.find("\r\n\r\n", before < 3 ? 0 : before - 3) != std::string::npos;
    if (ended || head.size() == before || head.size() >= *total || head.size() >= most) break;
  }
  return std::string(header::section(head, header_limit));
}

std::string domain_of(const std::string& address) {
  auto at = address.rfind('@');
  return at == std::string::npos ? std::string() : address.substr(at + 1);
}

const char* result_name(Outcome o) {
  switch (o) {
    case Outcome::delivered: return "delivered";
    case Outcome::deferred: return "deferred";
    case Outcome::failed: return "bounced";
  }
  return "deferred";
}

}  // namespace

// One attempt at one queue entry: its recipients split into jobs, one per
// next hop; the outcomes are written as the jobs end, and the entry is
// rescheduled, bounced or removed when the last one has.
struct QueueRunner::Round {
  storage::QueueEntry entry;
  std::size_t open_jobs = 0;
  RoundResult result;
};

struct QueueRunner::Job {
  std::shared_ptr<Round> round;
  std::vector<std::string> recipients;
};

// One worker's share of the connection limits (its destination's and the
// total), given back however the worker ends: a return, an exception, or
// its frame destroyed with the io_context at shutdown.
struct QueueRunner::Slot {
  QueueRunner& runner;
  std::string key;
  std::shared_ptr<bool> alive;
  bool held = true;

  Slot(QueueRunner& r, std::string k) : runner(r), key(std::move(k)), alive(r.alive_) {}
  ~Slot() { release(); }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

  void release() {
    if (!held || !*alive) return;
    held = false;
    --runner.workers_;
    auto it = runner.destinations_.find(key);
    if (it == runner.destinations_.end()) return;
    --it->second.workers;
    if (it->second.workers == 0 && it->second.jobs.empty()) runner.destinations_.erase(it);
  }
};

QueueRunner::QueueRunner(Services& services, asio::io_context& io)
    : svc_(services),
      strand_(asio::make_strand(io.get_executor())),
      timer_(strand_),
      resolver_(services.config.relay.dns),
      tls_(asio::ssl::context::tls_client) {
  // Opportunistic TLS (RFC 7435): encryption when offered, no
  // authentication of the peer, as with Postfix's "may" level.
  tls_.set_verify_mode(asio::ssl::verify_none);
  client_settings_ = {services.config.hostname, &services.store, &tls_, services.config.relay.transaction_deadline};
  std::string locks = services.config.storage.path + "/locks";
  ::mkdir(locks.c_str(), 0700);
  std::string path = locks + "/queue.lock";
  lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) log::error("relay: cannot open ", path, ": the queue will not run");
}

QueueRunner::~QueueRunner() {
  *alive_ = false;
  dns_pool_.join();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void QueueRunner::start() { asio::co_spawn(strand_, poll_loop(), asio::detached); }

void QueueRunner::wake() {
  asio::post(strand_, [this] {
    if (woken_) return;
    woken_ = true;
    timer_.cancel();
  });
}

void QueueRunner::stop() {
  asio::post(strand_, [this] {
    stopping_ = true;
    timer_.cancel();
  });
}

bool QueueRunner::hold_lock() {
  if (locked_) return true;
  if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) return false;
  locked_ = true;
  log::info("relay: this process runs the queue");
  return true;
}

void QueueRunner::publish_stats() {
  auto stats = svc_.store.queue_stats();
  // Sub-second "now": a message queued this second is already a little old.
  double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  double age = stats.messages == 0 ? 0.0 : std::max(0.0, now - static_cast<double>(stats.oldest_created));
  svc_.metrics.queue_state(stats.messages, age);
  auto usage = svc_.store.usage();
  svc_.metrics.storage_usage(usage.capacity, usage.used);
}

asio::awaitable<void> QueueRunner::poll_loop() {
  while (!stopping_) {
    try {
      publish_stats();
      if (hold_lock()) {
        std::int64_t now = unix_now();
        std::vector<storage::QueueEntry> due;
        std::size_t room = max_in_flight - std::min(max_in_flight, in_flight_.size());
        for (auto id : svc_.store.due_entries(now, room + in_flight_.size() + corrupt_.size())) {
          if (due.size() >= room) break;
          if (in_flight_.contains(id) || corrupt_.contains(id)) continue;
          // One record that cannot be decoded (corruption, a format from a
          // newer binary) is skipped, not allowed to stop every delivery.
          std::string why;
          if (auto entry = svc_.store.find_queued(id, why)) {
            due.push_back(std::move(*entry));
          } else if (!why.empty()) {
            corrupt_.insert(id);
            svc_.metrics.queue_corrupt_record();
            log::error("relay: queue entry ", id, " cannot be read and is skipped until a restart: ", why);
          }
        }
        for (auto& entry : due) dispatch(std::move(entry));
        start_workers();
      }
    } catch (const std::exception& e) {
      log::error("relay: queue scan failed: ", e.what());
    }
    auto scanned = std::chrono::steady_clock::now();
    woken_ = false;
    timer_.expires_after(poll_interval);
    std::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (woken_ && !stopping_) {
      // A burst of new mail wakes one scan per interval, not one per message.
      timer_.expires_at(scanned + min_scan_gap);
      co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
}

void QueueRunner::dispatch(storage::QueueEntry entry) {
  auto round = std::make_shared<Round>();
  round->entry = std::move(entry);
  const auto& e = round->entry;
  in_flight_.insert(e.id);

  // The session refused more than max_hops at DATA; the stored copy also
  // holds our own Received: field. This catches what came in before a
  // lower limit was set.
  const std::size_t max_hops = svc_.config.smtpd.max_hops + 1;
  std::size_t hops = header::received_count(read_header_section(svc_.store, e.blob_id));
  std::map<std::string, std::shared_ptr<Job>> jobs;
  for (const auto& r : e.recipients) {
    if (r.status != storage::RecipientStatus::pending) continue;
    if (hops > max_hops) {
      round->result.failed.push_back({r.address, "5.4.6",
                               "mail forwarding loop: " + std::to_string(hops) + " Received: headers (limit " +
                                   std::to_string(max_hops) + ")",
                               false, ""});
      continue;
    }
    NextHop hop = route_for(svc_.config.relay, domain_of(r.address));
    auto& job = jobs[hop.key()];
    if (!job) {
      job = std::make_shared<Job>();
      job->round = round;
      auto& dest = destinations_[hop.key()];
      dest.hop = hop;
      dest.jobs.push_back(job);
    }
    job->recipients.push_back(r.address);
  }
  round->open_jobs = jobs.size();
  if (jobs.empty()) asio::co_spawn(strand_, finish(round), asio::detached);
}

void QueueRunner::start_workers() {
  const auto& relay = svc_.config.relay;
  for (auto& [key, dest] : destinations_) {
    while (!stopping_ && workers_ < relay.max_connections && dest.workers < relay.connections_per_destination &&
           dest.workers < dest.jobs.size()) {
      ++dest.workers;
      ++workers_;
      ++workers_running_;
      // The slot is in the coroutine's frame from here on, run or not.
      asio::co_spawn(strand_, worker(std::make_unique<Slot>(*this, key)), [this](std::exception_ptr e) {
        --workers_running_;
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& err) {
          log::error("relay: delivery worker failed: ", err.what());
        }
        // Its Slot is back; another worker takes what is left.
        asio::post(strand_, [this] { start_workers(); });
      });
    }
  }
}

asio::awaitable<void> QueueRunner::worker(std::unique_ptr<Slot> slot) {
  const std::string key = slot->key;
  Destination& dest = destinations_[key];  // stays while this worker holds its slot
  std::optional<Targets> targets;
  SmtpClient client(strand_, client_settings_);
  asio::steady_timer idle(strand_);
  for (;;) {
    // Like Postfix's connection cache: an open connection waits a little
    // for the next message to this next hop before it says QUIT, so that a
    // steady stream of mail is not one TLS handshake per message.
    for (int i = 0; client.connected() && dest.jobs.empty() && !stopping_ && i < linger_ticks; ++i) {
      idle.expires_after(linger_tick);
      std::error_code ec;
      co_await idle.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (dest.jobs.empty() || stopping_) break;
    if (!client.connected()) {
      auto started = std::chrono::steady_clock::now();
      std::string local_error;  // whatever threw; never leaves a job unsettled
      if (!targets) {
        NextHop hop = dest.hop;
        std::uint16_t port = svc_.config.relay.smtp_port;
        std::uint32_t seed = random_();  // the generator itself stays on this strand
        auto lookup = [this, hop, port, seed]() {
          std::mt19937 random(seed);
          return find_targets(resolver_, hop, port, random);
        };
        try {
          targets = co_await service::offload<Targets>(dns_pool_, lookup);
        } catch (const std::exception& e) {
          local_error = std::string("local error while looking up the next hop: ") + e.what();
        }
      }
      std::optional<std::string> why;
      RecipientOutcome failure;
      if (!targets) {
        failure = {Outcome::deferred, "4.3.0", local_error, false};
      } else if (targets->status != Targets::Status::ok) {
        failure = {targets->status == Targets::Status::permanent ? Outcome::failed : Outcome::deferred,
                   targets->status_code, targets->error, false};
      } else {
        try {
          why = co_await client.connect(targets->list);
        } catch (const std::exception& e) {
          client.disconnect();
          why = std::string("local error while connecting: ") + e.what();
        }
        if (why) failure = {Outcome::deferred, "4.4.1", *why, false};
      }
      if (!targets || targets->status != Targets::Status::ok || why) {
        // Every message waiting for this next hop shares the failure.
        svc_.metrics.delivery_duration(std::chrono::steady_clock::now() - started);
        while (!dest.jobs.empty()) {
          auto job = dest.jobs.front();
          dest.jobs.pop_front();
          std::vector<RecipientOutcome> outcomes(job->recipients.size(), failure);
          std::string none;
          co_await settle(job, outcomes, none);
        }
        break;
      }
    }
    // Other workers for this next hop may have taken the rest meanwhile.
    if (dest.jobs.empty()) continue;
    auto job = dest.jobs.front();
    dest.jobs.pop_front();
    auto started = std::chrono::steady_clock::now();
    std::vector<RecipientOutcome> outcomes;
    std::string local_error;
    try {
      outcomes = co_await deliver(client, *job);
    } catch (const std::exception& e) {
      local_error = e.what();
    }
    if (outcomes.size() != job->recipients.size()) {
      // The job is settled whatever happened; the connection's state is
      // unknown, so it goes.
      client.disconnect();
      outcomes.assign(job->recipients.size(),
                      {Outcome::deferred, "4.3.0", "local error during delivery: " + local_error, false});
    }
    svc_.metrics.delivery_duration(std::chrono::steady_clock::now() - started);
    std::string peer = client.peer();
    co_await settle(job, outcomes, peer);
  }
  co_await client.quit();
  slot->release();
  start_workers();
}

asio::awaitable<std::vector<RecipientOutcome>> QueueRunner::deliver(SmtpClient& client, const Job& job) {
  const auto& e = job.round->entry;
  OutboundMessage message{e.message_id, e.sender, job.recipients, e.blob_id, 0, e.flags};
  message.size = svc_.store.body_size(e.blob_id).value_or(0);
  co_return co_await client.send(message);
}

asio::awaitable<Result<std::size_t>> QueueRunner::commit_settle(std::uint64_t id, const storage::QueueDecision& decide) {
  // A round must end even if the store throws (it is stopping, memory ran
  // out): otherwise its entry stays in flight and is never tried again.
  auto copies = std::make_shared<std::size_t>(0);
  service::Write start = [this, id, &decide, copies](storage::Done done) {
    svc_.store.settle(id, decide, [copies, done = std::move(done)](const Result<std::size_t>& stored) {
      if (!stored) return done(stored.error());
      *copies = *stored;
      done({});
    });
  };
  std::string why;
  try {
    Status s = co_await service::commit(start);
    if (!s) co_return s.error();
    co_return *copies;
  } catch (const std::exception& e) {
    why = e.what();
  }
  co_return Error{Errc::storage, why};
}

asio::awaitable<void> QueueRunner::settle(std::shared_ptr<Job> job, std::vector<RecipientOutcome> outcomes,
                                          std::string peer) {
  auto round = job->round;
  const auto& e = round->entry;
  std::map<std::string, std::string> delivered;
  for (std::size_t i = 0; i < job->recipients.size(); ++i) {
    const auto& rcpt = job->recipients[i];
    const auto& o = outcomes[i];
    svc_.metrics.delivery_attempt(result_name(o.outcome));
    log::info("relay: id=", e.message_id, " to=<", rcpt, "> relay=", peer.empty() ? "none" : peer,
              " status=", result_name(o.outcome), " (", o.diagnostic, ")");
    switch (o.outcome) {
      case Outcome::delivered: delivered[rcpt] = peer; break;
      case Outcome::deferred: round->result.deferred[rcpt] = o.diagnostic; break;
      case Outcome::failed:
        round->result.failed.push_back({rcpt, o.status, o.diagnostic, o.remote_reply, o.remote_reply ? peer : ""});
        break;
    }
  }
  if (!delivered.empty()) {
    round->result.delivered.insert(delivered.begin(), delivered.end());
    // Written now, not with the rest of the round: a crash after this must
    // not send these recipients the message again.
    storage::QueueDecision decide = [delivered](storage::QueueEntry& entry) {
      mark_delivered(entry, delivered);
      return storage::QueueChange{};
    };
    auto s = co_await commit_settle(e.id, decide);
    if (!s) log::error("relay: id=", e.message_id, ": cannot record deliveries: ", s.error().message);
  }
  if (--round->open_jobs == 0) co_await finish(round);
}

asio::awaitable<void> QueueRunner::finish(std::shared_ptr<Round> round) {
  const auto& relay = svc_.config.relay;
  const auto& e = round->entry;
  std::int64_t now = unix_now();
  std::string original;
  if (needs_original(e, round->result, now, relay)) original = read_header_section(svc_.store, e.blob_id);
  std::string hostname = svc_.config.hostname;
  std::string bounce_id = header::new_message_id();
  // Whether the settlement committed asked for a bounce (it may be decided
  // more than once; the last decision is the one stored).
  auto bounce_wanted = std::make_shared<bool>(false);
  storage::QueueDecision decide = [round, relay, hostname, now, bounce_id, original,
                                   bounce_wanted](storage::QueueEntry& entry) {
    auto change = settle_entry(entry, round->result, {now, relay, hostname, bounce_id, original});
    *bounce_wanted = change.bounce.has_value();
    return change;
  };
  auto copies = co_await commit_settle(e.id, decide);
  if (!copies) {
    log::error("relay: id=", e.message_id, ": cannot record the attempt: ", copies.error().message);
  } else if (*copies > 0) {
    log::info("relay: id=", e.message_id, ": bounce id=", bounce_id, " to <", e.sender, ">");
  } else if (*bounce_wanted) {
    log::warning("relay: id=", e.message_id, ": the bounce to <", e.sender, "> has nowhere to go");
  }
  in_flight_.erase(e.id);
}

}  // namespace aviary::relay
