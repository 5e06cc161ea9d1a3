// redis.ini, as haraka-plugin-redis reads it: [server] and [pubsub] say where Redis is, [opts]
// gives both what they leave unset (a password set once). Keys: host (ip, the older name),
// port, path (a unix socket instead), db (database), username (Redis 6 ACLs), password; and
// ours: connect_timeout_ms, command_timeout_ms, max_pending, max_reply_bytes. [pubsub] defaults
// to [server]'s address. A new key is also listed in known_keys.cpp (--check).
#pragma once

#include "common/config/config.hpp"
#include "common/util/result.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace upesi::redis {

struct RedisEndpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string socket_path; // set: a unix socket, host and port unused
  int db = 0;
  std::string username; // with a password: AUTH username password
  std::string password;

  /// "redis://127.0.0.1:6379/2" or "unix:/run/redis.sock/2", for logs.
  std::string describe() const;
};

struct RedisConfig {
  RedisEndpoint server;
  RedisEndpoint pubsub; // its db is unused: channels belong to no database
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{1000};
  std::size_t max_pending = 10000; // commands queued or awaiting their reply
  std::size_t max_reply_bytes = 64 * 1024 * 1024;
};

/// From redis.ini's sections; `where(section, key)` names a key's file and line in errors.
Result<RedisConfig>
redisConfigFromIni(const nlohmann::json& ini,
                   const std::function<std::string(const std::string&, const char*)>& where);

Result<RedisConfig> readRedisConfig(config::Config& config);

} // namespace upesi::redis
