#include "common/redis/redis_config.hpp"

#include "common/config/ini_locate.hpp"
#include "common/config/int_keys.hpp"
#include "common/util/ip_literal.hpp"

#include <fmt/format.h>

#include <vector>

namespace upesi::redis {
namespace {

std::string redisIniText(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

const nlohmann::json* redisIniKey(const nlohmann::json& section, const char* key) {
  if (!section.is_object() || !section.contains(key) || section[key].is_null()) {
    return nullptr;
  }
  return &section[key];
}

// One endpoint from its section over [opts] (and over `base`, for [pubsub]).
Result<RedisEndpoint>
readEndpoint(const nlohmann::json& ini, const std::string& name, RedisEndpoint endpoint,
             const std::function<std::string(const std::string&, const char*)>& where) {
  static const nlohmann::json none = nlohmann::json::object();
  for (const std::string& section_name : {std::string("opts"), name}) {
    const nlohmann::json& section = ini.contains(section_name) ? ini[section_name] : none;
    for (const char* key : {"ip", "host"}) {
      if (const auto* value = redisIniKey(section, key)) {
        endpoint.host = redisIniText(*value);
        if (endpoint.host.empty()) {
          return Error{fmt::format("{}: {} is empty", where(section_name, key), key)};
        }
      }
    }
    if (const auto* value = redisIniKey(section, "path")) {
      endpoint.socket_path = redisIniText(*value);
    }
    if (const auto* value = redisIniKey(section, "username")) {
      endpoint.username = redisIniText(*value);
    }
    if (const auto* value = redisIniKey(section, "password")) {
      endpoint.password = redisIniText(*value);
    }
    const config::IntKey numbers[] = {
        {"port", 1, 65535, [&](long long v) { endpoint.port = static_cast<std::uint16_t>(v); }},
        {"db", 0, 1 << 20, [&](long long v) { endpoint.db = static_cast<int>(v); }},
        {"database", 0, 1 << 20, [&](long long v) { endpoint.db = static_cast<int>(v); }},
    };
    auto located = [&](const char* key) { return where(section_name, key); };
    if (auto read = config::readIntKeys(section, numbers, located); !read) {
      return Error{read.error()};
    }
  }
  if (endpoint.host == "localhost") {
    endpoint.host = "127.0.0.1"; // what redis-server binds by default; no lookup for it
  }
  if (endpoint.socket_path.empty() && !isIpLiteral(endpoint.host)) {
    return Error{fmt::format("{}: \"{}\" is not an IP address (names are not looked up)",
                             where(name, "host"), endpoint.host)};
  }
  if (!endpoint.username.empty() && endpoint.password.empty()) {
    return Error{fmt::format("{}: username without a password", where(name, "username"))};
  }
  return endpoint;
}

} // namespace

std::string RedisEndpoint::describe() const {
  std::string where =
      socket_path.empty()
          ? fmt::format("redis://{}:{}",
                        host.find(':') == std::string::npos ? host : "[" + host + "]", port)
          : "unix:" + socket_path;
  return db == 0 ? where : fmt::format("{}/{}", where, db);
}

Result<RedisConfig>
redisConfigFromIni(const nlohmann::json& ini,
                   const std::function<std::string(const std::string&, const char*)>& where) {
  RedisConfig out;
  auto server = readEndpoint(ini, "server", RedisEndpoint{}, where);
  if (!server) {
    return Error{server.error()};
  }
  out.server = *server;
  RedisEndpoint pubsub_base;
  pubsub_base.host = out.server.host;
  pubsub_base.port = out.server.port;
  pubsub_base.socket_path = out.server.socket_path;
  auto pubsub = readEndpoint(ini, "pubsub", pubsub_base, where);
  if (!pubsub) {
    return Error{pubsub.error()};
  }
  out.pubsub = *pubsub;
  out.pubsub.db = 0;

  static const nlohmann::json none = nlohmann::json::object();
  for (const std::string& section_name : {std::string("opts"), std::string("server")}) {
    const nlohmann::json& section = ini.contains(section_name) ? ini[section_name] : none;
    const config::IntKey numbers[] = {
        {"connect_timeout_ms", 10, 600000,
         [&](long long v) { out.connect_timeout = std::chrono::milliseconds(v); }},
        {"command_timeout_ms", 10, 600000,
         [&](long long v) { out.command_timeout = std::chrono::milliseconds(v); }},
        {"max_pending", 1, 10000000, [&](long long v) { out.max_pending = std::size_t(v); }},
        {"max_reply_bytes", 1024, 1LL << 32,
         [&](long long v) { out.max_reply_bytes = std::size_t(v); }},
    };
    auto located = [&](const char* key) { return where(section_name, key); };
    if (auto read = config::readIntKeys(section, numbers, located); !read) {
      return Error{read.error()};
    }
  }
  return out;
}

Result<RedisConfig> readRedisConfig(config::Config& config) {
  auto ini = config.get("redis.ini", config::ConfigType::Ini);
  if (!ini) {
    return Error{ini.error()};
  }
  return redisConfigFromIni(*ini, [&](const std::string& section, const char* key) {
    return config::iniKeyLocation(config, "redis.ini", section, key);
  });
}

} // namespace upesi::redis
