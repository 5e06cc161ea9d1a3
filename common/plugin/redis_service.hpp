// RedisService: the process's one Redis client (redis.ini), made when a plugin first asks for
// it, and PluginRedis, each plugin's upesi::Redis over it. Subscriptions are kept per plugin
// and channel, so that two plugins may listen to one channel, and a plugin's go with it.
//
// Threading: the loop thread.
#pragma once

#include <upesi/redis.hpp>

#include "common/redis/client.hpp"
#include "common/redis/lua_script.hpp"

#include <uv.h>

#include <map>
#include <memory>
#include <string>
#include <unordered_map>

namespace upesi::plugin {

class RedisService {
public:
  RedisService(uv_loop_t* loop, redis::RedisConfig config);
  RedisService(const RedisService&) = delete;
  RedisService& operator=(const RedisService&) = delete;

  void command(std::vector<std::string> args, RedisCallback done);
  void eval(const std::string& script, std::vector<std::string> keys, std::vector<std::string> args,
            RedisCallback done);
  /// `pattern`: PSUBSCRIBE rather than SUBSCRIBE.
  void subscribe(const std::string& plugin, const std::string& channel, bool pattern,
                 RedisMessageCallback on_message);
  void unsubscribe(const std::string& plugin, const std::string& channel, bool pattern);
  /// Every subscription of `plugin` (its generation ends).
  void forget(const std::string& plugin);

  bool up() const { return client_.up(); }
  const std::string& describe() const { return description_; }
  /// Answers what is pending (Closed) and closes the connections; before the loop goes.
  void close() { client_.close(); }

private:
  using Listeners = std::map<std::string, RedisMessageCallback>; // by plugin
  void deliver(bool pattern, const std::string& key, const std::string& channel,
               const std::string& payload);
  const redis::LuaScript& script(const std::string& source);

  redis::RedisClient client_;
  std::string description_;
  std::map<std::string, Listeners> channels_;
  std::map<std::string, Listeners> patterns_;
  std::unordered_map<std::string, redis::LuaScript> scripts_; // by source: the SHA-1 once
};

/// One plugin's view of the service.
class PluginRedis final : public Redis {
public:
  PluginRedis(std::shared_ptr<RedisService> service, std::string plugin)
      : service_(std::move(service)), plugin_(std::move(plugin)) {}
  ~PluginRedis() override { service_->forget(plugin_); }
  PluginRedis(const PluginRedis&) = delete;
  PluginRedis& operator=(const PluginRedis&) = delete;

  void command(std::vector<std::string> args, RedisCallback done) override {
    service_->command(std::move(args), std::move(done));
  }
  void eval(const std::string& script, std::vector<std::string> keys, std::vector<std::string> args,
            RedisCallback done) override {
    service_->eval(script, std::move(keys), std::move(args), std::move(done));
  }
  void subscribe(const std::string& channel, RedisMessageCallback on_message) override {
    service_->subscribe(plugin_, channel, false, std::move(on_message));
  }
  void psubscribe(const std::string& pattern, RedisMessageCallback on_message) override {
    service_->subscribe(plugin_, pattern, true, std::move(on_message));
  }
  void unsubscribe(const std::string& channel) override {
    service_->unsubscribe(plugin_, channel, false);
  }
  void punsubscribe(const std::string& pattern) override {
    service_->unsubscribe(plugin_, pattern, true);
  }
  bool up() const override { return service_->up(); }
  const std::string& describe() const override { return service_->describe(); }

private:
  std::shared_ptr<RedisService> service_;
  std::string plugin_;
};

} // namespace upesi::plugin
