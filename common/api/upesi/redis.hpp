// Redis for plugins (Host::redis()): the one asynchronous client of the process, configured by
// config/redis.ini as haraka-plugin-redis reads it, shared by every plugin there. State that
// several nodes share (rate limits, greylisting, reputation) lives in Redis.
//
// Nothing waits on Redis: every call answers through its callback, on the loop, never from
// inside the call, and within redis.ini's command_timeout_ms. When Redis is down, slow or
// overloaded the answer says so (outcome != Reply) at once or at that timeout: the plugin
// decides what that means (the shipped ones let mail through, "fail open").
//
// Threading: the loop thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi {

/// A reply from Redis (RESP 2).
struct RedisValue {
  enum class Type { Status, Error, Integer, Bulk, Nil, Array };
  Type type = Type::Nil;
  std::string text;                 ///< Status, Error and Bulk
  long long integer = 0;            ///< Integer
  std::vector<RedisValue> elements; ///< Array

  bool isError() const { return type == Type::Error; }
  bool isNil() const { return type == Type::Nil; }
};

struct RedisResult {
  enum class Outcome {
    Reply,       ///< Redis answered (maybe with an error reply)
    Unavailable, ///< not connected, or the connection broke before the reply
    Timeout,     ///< no reply within command_timeout_ms
    Overloaded,  ///< too many commands were already waiting (max_pending)
    Closed,      ///< the process is stopping
  };
  Outcome outcome = Outcome::Unavailable;
  RedisValue reply;   ///< when outcome is Reply
  std::string detail; ///< why, when it is not

  /// A reply that is not an error reply.
  bool succeeded() const { return outcome == Outcome::Reply && !reply.isError(); }
  /// For a log line: the error reply or why there was none.
  std::string why() const { return outcome == Outcome::Reply ? reply.text : detail; }
};

using RedisCallback = std::function<void(RedisResult)>;
/// A published message: its channel and payload.
using RedisMessageCallback =
    std::function<void(const std::string& channel, const std::string& payload)>;

class Redis {
public:
  virtual ~Redis() = default;

  /// One command: {"SET", "key", "value", "EX", "60"}. Commands are pipelined on one
  /// connection and answered in order.
  virtual void command(std::vector<std::string> args, RedisCallback done) = 0;
  /// A Lua script, atomic on the server: EVALSHA with the script's SHA-1, and EVAL when the
  /// server does not know it yet.
  virtual void eval(const std::string& script, std::vector<std::string> keys,
                    std::vector<std::string> args, RedisCallback done) = 0;

  /// Messages on `channel` (or on channels matching `pattern`, PSUBSCRIBE) go to `on_message`
  /// until unsubscribed or the plugin's generation ends; renewed by themselves after a
  /// reconnect. One callback per channel and plugin: a second replaces the first.
  virtual void subscribe(const std::string& channel, RedisMessageCallback on_message) = 0;
  virtual void psubscribe(const std::string& pattern, RedisMessageCallback on_message) = 0;
  virtual void unsubscribe(const std::string& channel) = 0;
  virtual void punsubscribe(const std::string& pattern) = 0;
  /// Publishes on the command connection; `done` (optional) gets the receivers' count.
  void publish(const std::string& channel, const std::string& payload, RedisCallback done = {}) {
    if (!done) {
      done = [](RedisResult) {};
    }
    command({"PUBLISH", channel, payload}, std::move(done));
  }

  /// The command connection is up now.
  virtual bool up() const = 0;
  /// Where the client talks to ("redis://127.0.0.1:6379/0"), for log lines.
  virtual const std::string& describe() const = 0;
};

} // namespace upesi
