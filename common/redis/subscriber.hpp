// RedisSubscriber: the pub/sub connection (a RedisLink of its own: a connection that has
// subscribed can run no other command). It keeps the channels and patterns subscribed to, says
// them again after every reconnect, and hands each message to its callback. A PING every
// `keepalive` finds a server that stopped answering (the connection is otherwise quiet).
//
// Threading: the loop thread.
#pragma once

#include "common/redis/client.hpp"
#include "common/redis/link.hpp"
#include "common/util/loop_timer.hpp"

#include <uv.h>

#include <chrono>
#include <map>
#include <string>

namespace upesi::redis {

struct PubSubMessage {
  std::string pattern; // PSUBSCRIBE's pattern; empty for SUBSCRIBE
  std::string channel;
  std::string payload;
};

class RedisSubscriber final : LinkEvents {
public:
  RedisSubscriber(uv_loop_t* loop, LinkOptions options, std::chrono::milliseconds keepalive,
                  std::chrono::milliseconds reply_timeout);
  ~RedisSubscriber();
  RedisSubscriber(const RedisSubscriber&) = delete;
  RedisSubscriber& operator=(const RedisSubscriber&) = delete;

  void subscribe(const std::string& channel, MessageCallback on_message);
  void psubscribe(const std::string& pattern, MessageCallback on_message);
  void unsubscribe(const std::string& channel);
  void punsubscribe(const std::string& pattern);

  bool up() const { return link_.up(); }
  /// Subscriptions the server has confirmed since the connection came up.
  std::size_t confirmed() const { return confirmed_; }

private:
  void linkUp() override;
  void linkReply(Reply reply) override;
  void linkDown(const std::string& why) override;
  void keepAlive();

  RedisLink link_;
  std::chrono::milliseconds keepalive_;
  std::chrono::milliseconds reply_timeout_;
  std::map<std::string, MessageCallback> channels_;
  std::map<std::string, MessageCallback> patterns_;
  std::size_t confirmed_ = 0;
  LoopTimer ping_timer_;
  LoopTimer pong_timer_;
};

} // namespace upesi::redis
