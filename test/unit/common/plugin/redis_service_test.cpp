// Plugins' Redis (Host::redis()) against a real redis-server: the value conversions, scripts,
// and pub/sub shared by two plugins on one channel, each plugin's subscriptions going with it.
#include "common/plugin/redis_service.hpp"
#include "test/support/redis_server.hpp"
#include "test/support/test_loop.hpp"

#include <doctest/doctest.h>
#include <uv.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <vector>

using upesi::RedisResult;
using upesi::RedisValue;
using upesi::plugin::PluginRedis;
using upesi::plugin::RedisService;
using upesi::test::RedisServer;
using namespace std::chrono_literals;

namespace {

using ServiceLoop = upesi::test::TestLoop;

upesi::redis::RedisConfig serviceConfig(const RedisServer& server) {
  upesi::redis::RedisConfig config;
  config.server.port = server.port();
  config.pubsub.port = server.port();
  return config;
}

RedisResult redisServiceRun(ServiceLoop& net, upesi::Redis& redis, std::vector<std::string> args) {
  std::optional<RedisResult> result;
  redis.command(std::move(args), [&](RedisResult r) { result = std::move(r); });
  REQUIRE(net.runUntil([&] { return result.has_value(); }));
  return std::move(*result);
}

} // namespace

TEST_CASE("plugins' redis: replies, scripts and failures as the API gives them") {
  RedisServer server;
  ServiceLoop net;
  {
    auto service = std::make_shared<RedisService>(&net.loop, serviceConfig(server));
    PluginRedis redis(service, "limit");
    CHECK(redis.describe() == "redis://127.0.0.1:" + std::to_string(server.port()));
    auto set = redisServiceRun(net, redis, {"SET", "k", "v"});
    CHECK(set.succeeded());
    CHECK(set.reply.type == RedisValue::Type::Status);
    CHECK(set.reply.text == "OK");
    CHECK(redisServiceRun(net, redis, {"GET", "k"}).reply.text == "v");
    CHECK(redisServiceRun(net, redis, {"GET", "missing"}).reply.isNil());
    auto error = redisServiceRun(net, redis, {"INCR", "k"});
    CHECK(error.outcome == RedisResult::Outcome::Reply);
    CHECK_FALSE(error.succeeded());
    CHECK(error.why().find("not an integer") != std::string::npos);
    CHECK(redis.up());

    std::optional<RedisResult> script;
    redis.eval("return {KEYS[1], tonumber(ARGV[1]) + 1, {'x'}}", {"key"}, {"41"},
               [&](RedisResult r) { script = std::move(r); });
    REQUIRE(net.runUntil([&] { return script.has_value(); }));
    REQUIRE(script->succeeded());
    REQUIRE(script->reply.elements.size() == 3);
    CHECK(script->reply.elements[0].text == "key");
    CHECK(script->reply.elements[1].integer == 42);
    CHECK(script->reply.elements[2].elements[0].text == "x");

    server.stop();
    auto down = redisServiceRun(net, redis, {"GET", "k"});
    CHECK(down.outcome != RedisResult::Outcome::Reply);
    CHECK_FALSE(down.why().empty());
    service->close();
  }
}

TEST_CASE("plugins' redis: two plugins on one channel, each leaving with its generation") {
  RedisServer server;
  ServiceLoop net;
  {
    auto service = std::make_shared<RedisService>(&net.loop, serviceConfig(server));
    auto first = std::make_unique<PluginRedis>(service, "first");
    PluginRedis second(service, "second");
    std::vector<std::string> got_first, got_second;
    first->subscribe("news", [&](const std::string& channel, const std::string& payload) {
      got_first.push_back(channel + ":" + payload);
    });
    second.subscribe("news", [&](const std::string&, const std::string& payload) {
      got_second.push_back(payload);
    });
    second.psubscribe("n*", [&](const std::string& channel, const std::string&) {
      got_second.push_back("pattern " + channel);
    });
    // Published until both have it: the subscriptions take a moment to be confirmed.
    REQUIRE(net.runUntil([&] {
      if (got_first.empty()) {
        redisServiceRun(net, *first, {"PUBLISH", "news", "one"});
      }
      return !got_first.empty() && !got_second.empty();
    }));
    CHECK(got_first.front() == "news:one");
    first.reset(); // its generation ends: its subscription goes, the channel stays for `second`
    const auto before = got_first.size();
    got_second.clear();
    std::optional<RedisResult> published;
    second.publish("news", "two", [&](RedisResult r) { published = std::move(r); });
    REQUIRE(net.runUntil([&] {
      return published.has_value() &&
             std::find(got_second.begin(), got_second.end(), "two") != got_second.end();
    }));
    CHECK(published->reply.integer >= 1);
    CHECK(std::find(got_second.begin(), got_second.end(), "pattern news") != got_second.end());
    CHECK(got_first.size() == before);
    service->close();
  }
}
