// RedisLink: one connection to a Redis server, kept up. It connects (TCP, or a unix socket),
// says AUTH and SELECT when the endpoint asks for them and PING always, and is up only once the
// server has answered them all within connect_timeout: a server that accepts connections but
// answers nothing (stopped, overloaded) is down. After a failure it reconnects by itself, after
// a back-off that doubles from backoff_min to backoff_max.
//
// Replies after the handshake go to the owner in order; a reply that breaks the protocol or the
// limits drops the connection. Logged once per outage: the first failure, and the recovery.
//
// Threading: the loop thread. Owner callbacks come from libuv callbacks, never from inside a
// call on the link.
#pragma once

#include "common/redis/redis_config.hpp"
#include "common/redis/resp.hpp"
#include "common/util/loop_timer.hpp"

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace upesi::redis {

struct LinkOptions {
  RedisEndpoint endpoint;
  bool select_db = true; // false for pub/sub
  std::chrono::milliseconds connect_timeout{1000};
  ReplyLimits limits;
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
  std::size_t max_output = 8 * 1024 * 1024;       // unsent bytes before reading pauses
  std::chrono::milliseconds write_timeout{10000}; // above max_output that long: dropped
  std::string label = "redis";                    // the log lines' source
};

class LinkEvents {
public:
  virtual void linkUp() = 0;
  virtual void linkReply(Reply reply) = 0;
  /// The connection failed or was dropped; a reconnect is scheduled.
  virtual void linkDown(const std::string& why) = 0;

protected:
  ~LinkEvents() = default;
};

class RedisLink {
public:
  RedisLink(uv_loop_t* loop, LinkOptions options, LinkEvents& events);
  ~RedisLink();
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  /// Connects (on a later loop turn).
  void start();
  bool up() const { return state_ == State::Up; }
  /// Bytes for the server; only while up().
  void send(std::string bytes);
  /// Gives up the connection as failed (a command timed out): linkDown, then reconnects.
  void drop(std::string why);
  /// Closes for good; no more events.
  void stop();

  const LinkOptions& options() const { return options_; }
  /// Failures since the link was last up.
  unsigned failures() const { return failures_; }

  class Wire; // a connection's TransportOwner (link.cpp)

private:
  enum class State { Idle, Connecting, Handshake, Up, Waiting, Stopped };
  friend class Wire;

  void connect();
  void connected(int status);
  void received(std::string_view bytes);
  void gone(std::string why);
  void handshakeReply(const Reply& reply);
  void fail(std::string why);
  void retire();

  uv_loop_t* loop_;
  LinkOptions options_;
  LinkEvents& events_;
  State state_ = State::Idle;
  Wire* wire_ = nullptr;
  std::unique_ptr<ReplyReader> reader_;
  std::vector<const char*> handshake_; // the commands whose replies are awaited, in order
  std::size_t handshake_answered_ = 0;
  std::chrono::milliseconds backoff_;
  unsigned failures_ = 0;
  std::uint64_t down_since_ = 0; // uv_now of the first failure of an outage
  LoopTimer connect_timer_;
  LoopTimer retry_timer_;
};

} // namespace upesi::redis
