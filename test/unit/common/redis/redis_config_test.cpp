// redis.ini read as haraka-plugin-redis reads it: [opts] under [server] and [pubsub], the older
// key names, and errors that name the key.
#include "common/redis/redis_config.hpp"

#include <doctest/doctest.h>

#include <string>

using upesi::redis::redisConfigFromIni;

namespace {

upesi::Result<upesi::redis::RedisConfig> redisConfigOf(const nlohmann::json& ini) {
  return redisConfigFromIni(ini, [](const std::string& section, const char* key) {
    return "redis.ini [" + section + "] " + key;
  });
}

} // namespace

TEST_CASE("redis.ini: defaults") {
  auto config = redisConfigOf(nlohmann::json::object());
  REQUIRE(config);
  CHECK(config->server.describe() == "redis://127.0.0.1:6379");
  CHECK(config->pubsub.describe() == "redis://127.0.0.1:6379");
  CHECK(config->command_timeout.count() == 1000);
  CHECK(config->connect_timeout.count() == 1000);
  CHECK(config->max_reply_bytes == 64 * 1024 * 1024);
}

TEST_CASE("redis.ini: [opts] fills [server] and [pubsub]; pubsub defaults to the server") {
  auto config = redisConfigOf({{"server", {{"ip", "10.0.0.5"}, {"port", 6380}, {"db", 3}}},
                               {"opts", {{"password", 12345}, {"command_timeout_ms", 250}}},
                               {"pubsub", {{"username", "sub"}}}});
  REQUIRE(config);
  CHECK(config->server.describe() == "redis://10.0.0.5:6380/3");
  CHECK(config->server.password == "12345"); // a number in the ini is still a password
  CHECK(config->pubsub.describe() == "redis://10.0.0.5:6380"); // no db for pub/sub
  CHECK(config->pubsub.username == "sub");
  CHECK(config->pubsub.password == "12345");
  CHECK(config->command_timeout.count() == 250);
  auto database = redisConfigOf({{"opts", {{"database", 2}}}, {"server", {{"host", "::1"}}}});
  REQUIRE(database);
  CHECK(database->server.describe() == "redis://[::1]:6379/2");
  auto unix_socket = redisConfigOf({{"server", {{"path", "/run/redis/redis.sock"}}}});
  REQUIRE(unix_socket);
  CHECK(unix_socket->server.describe() == "unix:/run/redis/redis.sock");
}

TEST_CASE("redis.ini: bad values name the key") {
  auto port = redisConfigOf({{"server", {{"port", 70000}}}});
  REQUIRE_FALSE(port);
  CHECK(port.error() ==
        "redis.ini [server] port: port must be a whole number from 1 to 65535, not 70000");
  auto name = redisConfigOf({{"server", {{"host", "redis.example"}}}});
  REQUIRE_FALSE(name);
  CHECK(name.error().find("not an IP address") != std::string::npos);
  auto user = redisConfigOf({{"opts", {{"username", "u"}}}});
  REQUIRE_FALSE(user);
  CHECK(user.error().find("username without a password") != std::string::npos);
  auto localhost = redisConfigOf({{"server", {{"host", "localhost"}}}});
  REQUIRE(localhost);
  CHECK(localhost->server.host == "127.0.0.1");
}
