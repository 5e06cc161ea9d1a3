// RedisClient: the asynchronous Redis client of a worker, on the worker's loop. One connection
// (a RedisLink) carries every command, pipelined: commands are written as they come, replies
// matched to them in order. Pub/sub runs on a second connection (RedisSubscriber), opened on
// the first subscribe.
//
// What a caller can count on:
// - `done` is called exactly once, on the loop, never from inside the call that was given it.
// - Redis down or slow never holds a caller past command_timeout: a command with no reply by
//   then fails as Timeout (and the connection, whose server stopped answering, is dropped);
//   while the client is reconnecting after a failure, commands fail at once as Unavailable.
//   Commands given before the first connection is up wait for it (within their timeout).
// - When the connection breaks, every command waiting for a reply fails at once.
// - At most max_pending commands wait; one more fails at once as Overloaded.
// - A reply is bounded (max_reply_bytes, nesting): past it the connection is dropped.
//
// The client must not be destroyed from inside one of its callbacks. Destroying it (or close())
// answers what is pending with Closed.
//
// Threading: the loop thread.
#pragma once

#include "common/redis/link.hpp"
#include "common/redis/lua_script.hpp"
#include "common/redis/redis_config.hpp"
#include "common/redis/resp.hpp"
#include "common/util/loop_timer.hpp"

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace upesi::redis {

class RedisSubscriber;
struct PubSubMessage;

struct CommandFailure {
  enum class Kind {
    Unavailable, // not connected, or the connection broke before the reply
    Timeout,     // no reply within command_timeout
    Overloaded,  // max_pending commands were already waiting
    Closed,      // the client was closed
  };
  Kind kind = Kind::Unavailable;
  std::string detail;
};

struct CommandResult {
  bool ok = false; // a reply came; it may be an error reply (reply.isError())
  Reply reply;
  CommandFailure failure;

  /// A reply that is not an error reply.
  bool succeeded() const { return ok && !reply.isError(); }
  /// For logs: the reply, or the failure.
  std::string describe() const;
};

using CommandCallback = std::function<void(CommandResult)>;
using MessageCallback = std::function<void(const PubSubMessage&)>;
/// Told when the command connection comes up or goes down (once per change).
using StateCallback = std::function<void(bool up, const std::string& why)>;

struct ClientTuning {
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
  std::chrono::milliseconds pubsub_keepalive{10000}; // a PING on the quiet pub/sub connection
};

class RedisClient final : LinkEvents {
public:
  RedisClient(uv_loop_t* loop, RedisConfig config, ClientTuning tuning = {});
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  /// Connects (the first commands may be given before).
  void start();

  /// One command: {"SET", "key", "value", "EX", "60"}.
  void command(std::vector<std::string> args, CommandCallback done);
  /// EVALSHA, and EVAL when the server answers NOSCRIPT (which also caches it there).
  void evalScript(const LuaScript& script, std::vector<std::string> keys,
                  std::vector<std::string> args, CommandCallback done);

  /// Messages published to `channel` (SUBSCRIBE) or to channels matching `pattern`
  /// (PSUBSCRIBE) go to `on_message` until unsubscribed; subscriptions are made again after a
  /// reconnect. One callback per channel or pattern: a second subscribe replaces it.
  void subscribe(const std::string& channel, MessageCallback on_message);
  void psubscribe(const std::string& pattern, MessageCallback on_message);
  void unsubscribe(const std::string& channel);
  void punsubscribe(const std::string& pattern);

  void onStateChange(StateCallback callback) { on_state_ = std::move(callback); }

  bool up() const { return link_.up(); }
  /// Commands queued or awaiting their reply.
  std::size_t pending() const { return pending_.size(); }
  const RedisConfig& config() const { return config_; }
  /// The pub/sub connection is up (false before the first subscribe).
  bool subscriberUp() const;

  /// Answers what is pending with Closed and closes both connections.
  void close();

private:
  struct Pending {
    std::string bytes;
    CommandCallback done;
    std::uint64_t deadline = 0; // uv_now() milliseconds
    bool sent = false;
    std::shared_ptr<const std::string> eval_instead; // EVALSHA: the EVAL to send on NOSCRIPT
  };

  RedisSubscriber& subscriber();
  void submit(Pending pending);
  void answerLater(CommandCallback done, CommandResult result);
  void answerDeferred();
  void armTimeout();
  void timeoutFired();
  void failAll(CommandFailure::Kind kind, const std::string& detail);

  // LinkEvents
  void linkUp() override;
  void linkReply(Reply reply) override;
  void linkDown(const std::string& why) override;

  uv_loop_t* loop_;
  RedisConfig config_;
  ClientTuning tuning_;
  RedisLink link_;
  std::deque<Pending> pending_;
  std::deque<std::pair<CommandCallback, CommandResult>> deferred_;
  LoopTimer timeout_timer_;
  LoopTimer deferred_timer_;
  StateCallback on_state_;
  std::unique_ptr<RedisSubscriber> subscriber_;
  std::string down_reason_; // set while reconnecting after a failure
  bool started_ = false;
  bool closed_ = false;
  bool reported_up_ = false;
};

} // namespace upesi::redis
