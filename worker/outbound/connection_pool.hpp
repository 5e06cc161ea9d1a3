// ConnectionPool: idle SMTP/LMTP connections kept open after a delivery, so the next message
// for the same next hop skips the connect, greeting and EHLO. Up to pool_concurrency_max idle
// ones per destination close (QUIT) after pool_timeout seconds; more than that, left by a burst
// of deliveries, wait pool_linger seconds for the next message (as Postfix's connection cache
// keeps one for smtp_connection_cache_time_limit), so that a busy destination keeps the
// connections it uses instead of closing and opening one per message. The pool
// also keeps the connections saying QUIT on their way out, the deliveries' too, and frees those
// still talking when it goes.
//
// A connection whose message has gone out whole, its reply awaited, is offered too: the next
// message for that next hop may go out on it at once, pipelined behind the reply (RFC 2920
// 3.1), so a busy destination costs one round trip a message instead of two. Connections are
// shared: the delivery that opened one and the one pipelined behind it both hold it.
//
// A delivery that finds none to take may wait for one in use instead of opening its own, one
// waiter per connection in use: the wait (the rest of one message) costs less than the connect,
// greeting, EHLO and TLS handshake of a new connection, several round trips to a distant next
// hop, and the next hop sees fewer connections. A connection that closes wakes the waiters it
// leaves beyond that count, to open their own. Next-hop
// connections come from here, opened or reused, and are counted so
// (outbound_connections_opened_total, outbound_connections_reused_total).
//
// Threading: the loop thread.
#pragma once

#include "common/metrics/cached_handle.hpp"
#include "common/smtp_client/quitting_clients.hpp"
#include "common/smtp_client/smtp_client.hpp"
#include "common/util/uv_handle.hpp"

#include <uv.h>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace upesi::outbound {

class ConnectionPool {
public:
  ConnectionPool(uv_loop_t* loop) : loop_(loop) {}
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  static std::string keyOf(const smtp_client::ClientOptions& options);

  /// A connection to the destination of `options` that takes a message now: an idle, ready
  /// one, else one offered with a message's reply awaited; or null.
  std::shared_ptr<smtp_client::SmtpClient> take(const smtp_client::ClientOptions& options);

  /// A new client for the destination of `options`, not yet connected.
  std::shared_ptr<smtp_client::SmtpClient> open(const smtp_client::ClientOptions& options);

  /// Called with the connection a waiter gets, or null when it is to open its own; returns
  /// false when the waiter has gone (the connection then goes to the next one).
  using Waiter = std::function<bool(std::shared_ptr<smtp_client::SmtpClient>)>;
  /// After take() found nothing: true if `waiter` waits for a connection in use to the
  /// destination of `options` (it is called later, never from here); false if the caller
  /// should open one.
  bool await(const smtp_client::ClientOptions& options, Waiter waiter);
  /// A delivery dropped `client` without release(): it failed or was closed.
  void forget(const smtp_client::ClientOptions& options,
              const std::shared_ptr<smtp_client::SmtpClient>& client);

  /// Keeps `client` for reuse (or says QUIT when the pool for its destination is full).
  void give(const smtp_client::ClientOptions& options,
            std::shared_ptr<smtp_client::SmtpClient> client);

  /// `client`'s message is out, its reply awaited: another message may follow it at once. The
  /// pool does not keep it alive for that.
  void offer(const smtp_client::ClientOptions& options,
             const std::shared_ptr<smtp_client::SmtpClient>& client);
  /// A delivery is done with `client`: kept when ready, left to the delivery whose message is
  /// pipelined on it, else QUIT.
  void release(const smtp_client::ClientOptions& options,
               std::shared_ptr<smtp_client::SmtpClient> client);

  /// `idle`: how long the first `per_destination` idle connections to a destination are kept;
  /// `linger`: how long the others are, at most `burst_max` of them.
  void setLimits(std::chrono::seconds idle, unsigned per_destination, std::chrono::seconds linger,
                 unsigned burst_max) {
    idle_ = idle;
    per_destination_ = per_destination;
    linger_ = linger;
    burst_max_ = burst_max;
  }
  /// Says QUIT (when the connection is usable) and frees the client once that is done.
  void quit(std::shared_ptr<smtp_client::SmtpClient> client);

  std::size_t idleCount() const;
  void closeAll();
  /// A graceful stop: the idle connections say QUIT now, and so do those given back later.
  /// The next hop may be this server itself (outbound.ini deliver_host_list_locally), whose
  /// draining waits for its sessions to end.
  void stopKeeping();

private:
  struct Idle {
    std::shared_ptr<smtp_client::SmtpClient> client;
    std::chrono::steady_clock::time_point expires;
  };
  void expire();
  void quitIdle(); // every idle connection says QUIT and leaves the pool
  void inUse(const std::string& key, const std::shared_ptr<smtp_client::SmtpClient>& client);
  void notInUse(const std::string& key, const smtp_client::SmtpClient* client);
  /// `client` is no longer offered for a message behind its own.
  void withdrawOffer(const std::string& key, const smtp_client::SmtpClient* client);
  std::size_t liveInUse(const std::string& key);
  /// Gives `client` to the first waiter still there; false if none took it.
  bool handToWaiter(const std::string& key, const std::shared_ptr<smtp_client::SmtpClient>& client);
  /// Waiters beyond the connections in use open their own.
  void wakeExcessWaiters(const std::string& key);

  uv_loop_t* loop_;
  std::chrono::seconds idle_{50};
  unsigned per_destination_ = 10;
  std::chrono::seconds linger_{2};
  unsigned burst_max_ = 100;
  std::map<std::string, std::vector<Idle>> idle_clients_;
  bool keeping_ = true; // false once stopKeeping() was called
  // Connections whose message's reply is awaited, by destination; entries whose client has
  // gone or takes no message now are dropped as they are met.
  std::map<std::string, std::vector<std::weak_ptr<smtp_client::SmtpClient>>> offered_;
  // Connections handed to deliveries and not back yet (idle or closed), by destination.
  std::map<std::string, std::vector<std::weak_ptr<smtp_client::SmtpClient>>> in_use_;
  std::map<std::string, std::deque<Waiter>> waiters_;
  smtp_client::QuittingClients quitting_;
  metrics::CachedHandle<metrics::Counter> opened_;
  metrics::CachedHandle<metrics::Counter> reused_;
  UvHandle<uv_timer_t> timer_;
};

} // namespace upesi::outbound
