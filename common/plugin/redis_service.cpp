#include "common/plugin/redis_service.hpp"

#include "common/redis/subscriber.hpp"

namespace upesi::plugin {
namespace {

constexpr std::size_t MaxCachedScripts = 256; // plugins run a few fixed scripts

RedisValue toValue(redis::Reply&& reply) {
  RedisValue value;
  switch (reply.type) {
  case redis::Reply::Type::Status:
    value.type = RedisValue::Type::Status;
    break;
  case redis::Reply::Type::Error:
    value.type = RedisValue::Type::Error;
    break;
  case redis::Reply::Type::Integer:
    value.type = RedisValue::Type::Integer;
    break;
  case redis::Reply::Type::Bulk:
    value.type = RedisValue::Type::Bulk;
    break;
  case redis::Reply::Type::Nil:
    value.type = RedisValue::Type::Nil;
    break;
  case redis::Reply::Type::Array:
    value.type = RedisValue::Type::Array;
    break;
  }
  value.text = std::move(reply.text);
  value.integer = reply.integer;
  value.elements.reserve(reply.elements.size());
  for (auto& element : reply.elements) {
    value.elements.push_back(toValue(std::move(element)));
  }
  return value;
}

RedisResult toResult(redis::CommandResult&& result) {
  RedisResult out;
  if (result.ok) {
    out.outcome = RedisResult::Outcome::Reply;
    out.reply = toValue(std::move(result.reply));
    return out;
  }
  switch (result.failure.kind) {
  case redis::CommandFailure::Kind::Unavailable:
    out.outcome = RedisResult::Outcome::Unavailable;
    break;
  case redis::CommandFailure::Kind::Timeout:
    out.outcome = RedisResult::Outcome::Timeout;
    break;
  case redis::CommandFailure::Kind::Overloaded:
    out.outcome = RedisResult::Outcome::Overloaded;
    break;
  case redis::CommandFailure::Kind::Closed:
    out.outcome = RedisResult::Outcome::Closed;
    break;
  }
  out.detail = std::move(result.failure.detail);
  return out;
}

redis::CommandCallback adapt(RedisCallback done) {
  return [done = std::move(done)](redis::CommandResult result) {
    if (done) {
      done(toResult(std::move(result)));
    }
  };
}

} // namespace

RedisService::RedisService(uv_loop_t* loop, redis::RedisConfig config)
    : client_(loop, config), description_(config.server.describe()) {
  client_.start();
}

void RedisService::command(std::vector<std::string> args, RedisCallback done) {
  client_.command(std::move(args), adapt(std::move(done)));
}

const redis::LuaScript& RedisService::script(const std::string& source) {
  auto it = scripts_.find(source);
  if (it == scripts_.end()) {
    if (scripts_.size() >= MaxCachedScripts) {
      scripts_.clear(); // a plugin making scripts on the fly: hash them again
    }
    it = scripts_.emplace(source, redis::LuaScript(source)).first;
  }
  return it->second;
}

void RedisService::eval(const std::string& source, std::vector<std::string> keys,
                        std::vector<std::string> args, RedisCallback done) {
  client_.evalScript(script(source), std::move(keys), std::move(args), adapt(std::move(done)));
}

void RedisService::subscribe(const std::string& plugin, const std::string& channel, bool pattern,
                             RedisMessageCallback on_message) {
  auto& table = pattern ? patterns_ : channels_;
  auto& listeners = table[channel];
  const bool first = listeners.empty();
  listeners[plugin] = std::move(on_message);
  if (!first) {
    return;
  }
  auto handler = [this, pattern, channel](const redis::PubSubMessage& message) {
    deliver(pattern, channel, message.channel, message.payload);
  };
  if (pattern) {
    client_.psubscribe(channel, handler);
  } else {
    client_.subscribe(channel, handler);
  }
}

void RedisService::unsubscribe(const std::string& plugin, const std::string& channel,
                               bool pattern) {
  auto& table = pattern ? patterns_ : channels_;
  auto it = table.find(channel);
  if (it == table.end() || it->second.erase(plugin) == 0 || !it->second.empty()) {
    return;
  }
  table.erase(it);
  if (pattern) {
    client_.punsubscribe(channel);
  } else {
    client_.unsubscribe(channel);
  }
}

void RedisService::forget(const std::string& plugin) {
  for (bool pattern : {false, true}) {
    std::vector<std::string> keys;
    for (const auto& [key, listeners] : pattern ? patterns_ : channels_) {
      if (listeners.count(plugin) != 0) {
        keys.push_back(key);
      }
    }
    for (const auto& key : keys) {
      unsubscribe(plugin, key, pattern);
    }
  }
}

void RedisService::deliver(bool pattern, const std::string& key, const std::string& channel,
                           const std::string& payload) {
  auto& table = pattern ? patterns_ : channels_;
  auto it = table.find(key);
  if (it == table.end()) {
    return;
  }
  // A listener may unsubscribe (itself or another) while it runs: call a copy.
  const Listeners listeners = it->second;
  for (const auto& [plugin, on_message] : listeners) {
    if (on_message) {
      on_message(channel, payload);
    }
  }
}

} // namespace upesi::plugin
