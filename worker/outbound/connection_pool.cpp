#include "worker/outbound/connection_pool.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace upesi::outbound {
namespace {

// How often idle connections are looked at for their pool_timeout or pool_linger.
constexpr std::uint64_t IdleSweepMs = 1000;

} // namespace

ConnectionPool::~ConnectionPool() {
  closeAll();
}

std::string ConnectionPool::keyOf(const smtp_client::ClientOptions& o) {
  // A connection is reused only for what it was opened for: same TLS demands, same AUTH user
  // and demand (one that went on without AUTH never serves an auth_required delivery).
  return fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", o.ip, o.port, o.local_ip, o.helo,
                     o.lmtp ? "lmtp" : "smtp", static_cast<int>(o.tls.mode), o.tls.name,
                     o.tls.verify ? (o.tls.tlsa.empty() ? "verify" : "dane") : "",
                     fmt::join(o.tls.match_names, ","), o.auth.user,
                     o.auth.required ? "auth-required" : "");
}

std::shared_ptr<smtp_client::SmtpClient>
ConnectionPool::take(const smtp_client::ClientOptions& options) {
  const std::string key = keyOf(options);
  auto reused = [this] {
    reused_
        .get([](metrics::Metrics& m) {
          return m.counter(metrics::MetricId::NextHopConnectionsReused);
        })
        .add();
  };
  if (auto it = idle_clients_.find(key); it != idle_clients_.end()) {
    auto& list = it->second;
    while (!list.empty()) {
      auto client = std::move(list.back().client);
      list.pop_back();
      if (client->ready()) {
        reused();
        inUse(key, client);
        return client;
      }
      client->close(); // the server went away while it idled
    }
    idle_clients_.erase(it);
  }
  if (auto it = offered_.find(key); it != offered_.end()) {
    auto& list = it->second;
    while (!list.empty()) {
      auto client = list.back().lock();
      list.pop_back();
      if (client && client->acceptsAnother()) {
        reused();
        return client;
      }
    }
    offered_.erase(it);
  }
  return nullptr;
}

std::shared_ptr<smtp_client::SmtpClient>
ConnectionPool::open(const smtp_client::ClientOptions& options) {
  opened_
      .get([](metrics::Metrics& m) {
        return m.counter(metrics::MetricId::NextHopConnectionsOpened);
      })
      .add();
  auto client = std::make_shared<smtp_client::SmtpClient>(loop_, options);
  inUse(keyOf(options), client);
  return client;
}

bool ConnectionPool::await(const smtp_client::ClientOptions& options, Waiter waiter) {
  const std::string key = keyOf(options);
  const std::size_t live = liveInUse(key);
  auto& waiting = waiters_[key];
  if (waiting.size() >= live) {
    if (waiting.empty()) {
      waiters_.erase(key);
    }
    return false;
  }
  waiting.push_back(std::move(waiter));
  return true;
}

void ConnectionPool::forget(const smtp_client::ClientOptions& options,
                            const std::shared_ptr<smtp_client::SmtpClient>& client) {
  if (!client) {
    return;
  }
  const std::string key = keyOf(options);
  withdrawOffer(key, client.get());
  notInUse(key, client.get());
  wakeExcessWaiters(key);
}

void ConnectionPool::withdrawOffer(const std::string& key, const smtp_client::SmtpClient* client) {
  auto it = offered_.find(key);
  if (it == offered_.end()) {
    return;
  }
  std::erase_if(it->second, [client](const auto& weak) {
    auto c = weak.lock();
    return !c || c.get() == client;
  });
  if (it->second.empty()) {
    offered_.erase(it);
  }
}

void ConnectionPool::inUse(const std::string& key,
                           const std::shared_ptr<smtp_client::SmtpClient>& client) {
  in_use_[key].push_back(client);
}

void ConnectionPool::notInUse(const std::string& key, const smtp_client::SmtpClient* client) {
  auto it = in_use_.find(key);
  if (it == in_use_.end()) {
    return;
  }
  std::erase_if(it->second, [client](const auto& weak) {
    auto c = weak.lock();
    return !c || c.get() == client;
  });
  if (it->second.empty()) {
    in_use_.erase(it);
  }
}

std::size_t ConnectionPool::liveInUse(const std::string& key) {
  auto it = in_use_.find(key);
  if (it == in_use_.end()) {
    return 0;
  }
  std::erase_if(it->second, [](const auto& weak) { return weak.expired(); });
  if (it->second.empty()) {
    in_use_.erase(it);
    return 0;
  }
  return it->second.size();
}

bool ConnectionPool::handToWaiter(const std::string& key,
                                  const std::shared_ptr<smtp_client::SmtpClient>& client) {
  for (;;) {
    auto it = waiters_.find(key);
    if (it == waiters_.end()) {
      return false;
    }
    Waiter waiter = std::move(it->second.front());
    it->second.pop_front();
    if (it->second.empty()) {
      waiters_.erase(it);
    }
    if (waiter(client)) {
      reused_
          .get([](metrics::Metrics& m) {
            return m.counter(metrics::MetricId::NextHopConnectionsReused);
          })
          .add();
      return true;
    }
  }
}

void ConnectionPool::wakeExcessWaiters(const std::string& key) {
  for (;;) {
    auto it = waiters_.find(key);
    if (it == waiters_.end() || it->second.size() <= liveInUse(key)) {
      return;
    }
    // The newest waiter goes; the older ones keep their turn.
    Waiter waiter = std::move(it->second.back());
    it->second.pop_back();
    if (it->second.empty()) {
      waiters_.erase(it);
    }
    waiter(nullptr);
  }
}

void ConnectionPool::offer(const smtp_client::ClientOptions& options,
                           const std::shared_ptr<smtp_client::SmtpClient>& client) {
  if (!client || !client->acceptsAnother()) {
    return;
  }
  const std::string key = keyOf(options);
  if (handToWaiter(key, client)) {
    return;
  }
  auto& list = offered_[key];
  std::erase_if(list, [](const auto& weak) {
    auto c = weak.lock();
    return !c || !c->acceptsAnother();
  });
  list.push_back(client);
}

void ConnectionPool::release(const smtp_client::ClientOptions& options,
                             std::shared_ptr<smtp_client::SmtpClient> client) {
  if (!client) {
    return;
  }
  const std::string key = keyOf(options);
  withdrawOffer(key, client.get());
  if (client->ready()) {
    if (!handToWaiter(key, client)) {
      give(options, std::move(client));
    }
  } else if (!client->busy()) {
    notInUse(key, client.get());
    quit(std::move(client));
    wakeExcessWaiters(key);
  }
  // else another delivery's message is pipelined on it: that delivery holds it now.
}

void ConnectionPool::give(const smtp_client::ClientOptions& options,
                          std::shared_ptr<smtp_client::SmtpClient> client) {
  const std::string key = keyOf(options);
  if (client) {
    notInUse(key, client.get());
  }
  if (!client || !client->ready() || idle_.count() <= 0 || !keeping_) {
    quit(std::move(client));
    return;
  }
  auto& list = idle_clients_[key];
  const bool kept = list.size() < per_destination_;
  if (!kept && (linger_.count() <= 0 || list.size() >= per_destination_ + burst_max_)) {
    quit(std::move(client));
    return;
  }
  // take() reuses the newest first, so the long-kept ones are those a quiet spell leaves.
  list.push_back({std::move(client), std::chrono::steady_clock::now() + (kept ? idle_ : linger_)});
  if (!timer_) {
    timer_.open(loop_, uv_timer_init, this);
  }
  if (uv_is_active(timer_.base()) == 0) {
    uv_timer_start(
        timer_.get(),
        [](uv_timer_t* t) {
          if (auto* self = static_cast<ConnectionPool*>(t->data)) {
            self->expire();
          }
        },
        IdleSweepMs, IdleSweepMs);
    uv_unref(timer_.base());
  }
}

void ConnectionPool::expire() {
  auto now = std::chrono::steady_clock::now();
  for (auto it = idle_clients_.begin(); it != idle_clients_.end();) {
    auto& list = it->second;
    for (auto c = list.begin(); c != list.end();) {
      if (now >= c->expires || !c->client->ready()) {
        quit(std::move(c->client));
        c = list.erase(c);
      } else {
        ++c;
      }
    }
    it = list.empty() ? idle_clients_.erase(it) : std::next(it);
  }
  if (idle_clients_.empty() && timer_) {
    uv_timer_stop(timer_.get());
  }
}

void ConnectionPool::quit(std::shared_ptr<smtp_client::SmtpClient> client) {
  quitting_.quitAndRelease(std::move(client));
}

std::size_t ConnectionPool::idleCount() const {
  std::size_t n = 0;
  for (const auto& [key, list] : idle_clients_) {
    n += list.size();
  }
  return n;
}

void ConnectionPool::quitIdle() {
  for (auto& [key, list] : idle_clients_) {
    for (auto& idle : list) {
      quit(std::move(idle.client));
    }
  }
  idle_clients_.clear();
}

void ConnectionPool::stopKeeping() {
  keeping_ = false;
  quitIdle();
}

void ConnectionPool::closeAll() {
  quitIdle();
  offered_.clear();
  in_use_.clear();
  waiters_.clear(); // the deliveries are being aborted
}

} // namespace upesi::outbound
