// The Redis client against a real redis-server the test starts on a loopback port: commands and
// their replies, pipelining, scripts, AUTH, pub/sub, and the outages a client must live through
// (a server killed, a server stopped) without holding its callers.
#include "common/redis/client.hpp"
#include "common/redis/subscriber.hpp"
#include "test/support/redis_server.hpp"
#include "test/support/test_loop.hpp"

#include <doctest/doctest.h>
#include <uv.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

using upesi::redis::CommandFailure;
using upesi::redis::CommandResult;
using upesi::redis::LuaScript;
using upesi::redis::PubSubMessage;
using upesi::redis::RedisClient;
using upesi::redis::RedisConfig;
using upesi::redis::Reply;
using upesi::test::RedisServer;
using namespace std::chrono_literals;

namespace {

using RedisTestLoop = upesi::test::TestLoop;

RedisConfig redisConfigFor(const RedisServer& server) {
  RedisConfig config;
  config.server.port = server.port();
  config.pubsub.port = server.port();
  return config;
}

upesi::redis::ClientTuning redisQuickRetries() {
  upesi::redis::ClientTuning tuning;
  tuning.backoff_min = 20ms;
  tuning.backoff_max = 100ms;
  tuning.pubsub_keepalive = 200ms;
  return tuning;
}

// Runs one command to its answer.
CommandResult redisRun(RedisTestLoop& net, RedisClient& client, std::vector<std::string> args) {
  std::optional<CommandResult> result;
  client.command(std::move(args), [&](CommandResult r) { result = std::move(r); });
  REQUIRE(net.runUntil([&] { return result.has_value(); }));
  return std::move(*result);
}

} // namespace

TEST_CASE("redis client: SET and GET, with commands given before the connection is up") {
  RedisServer server;
  RedisTestLoop net;
  RedisClient client(&net.loop, redisConfigFor(server));
  std::vector<std::string> order;
  client.command({"SET", "greeting", std::string("hi\r\n\0there", 11)}, [&](CommandResult r) {
    CHECK(r.succeeded());
    CHECK(r.reply.is("OK"));
    order.push_back("set");
  });
  client.command({"GET", "greeting"}, [&](CommandResult r) {
    REQUIRE(r.ok);
    CHECK(r.reply.text == std::string("hi\r\n\0there", 11));
    order.push_back("get");
  });
  CHECK(order.empty()); // never from inside command()
  REQUIRE(net.runUntil([&] { return order.size() == 2; }));
  CHECK(order == std::vector<std::string>{"set", "get"});
  CHECK(client.up());
  auto missing = redisRun(net, client, {"GET", "no-such-key"});
  CHECK(missing.ok);
  CHECK(missing.reply.isNil());
  auto wrong = redisRun(net, client, {"INCR", "greeting"});
  CHECK(wrong.ok); // an error reply is a reply
  CHECK_FALSE(wrong.succeeded());
  CHECK(wrong.reply.text.rfind("ERR", 0) == 0);
}

TEST_CASE("redis client: 1000 pipelined commands, answered in order") {
  RedisServer server;
  RedisTestLoop net;
  RedisClient client(&net.loop, redisConfigFor(server));
  client.start();
  REQUIRE(net.runUntil([&] { return client.up(); }));
  std::vector<long long> seen;
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) {
    client.command({"INCR", "counter"}, [&](CommandResult r) {
      REQUIRE(r.succeeded());
      seen.push_back(r.reply.integer);
    });
  }
  CHECK(client.pending() == 1000);
  REQUIRE(net.runUntil([&] { return seen.size() == 1000; }));
  const auto took = std::chrono::steady_clock::now() - started;
  MESSAGE(
      "1000 pipelined INCR: " << std::chrono::duration_cast<std::chrono::microseconds>(took).count()
                              << " us");
  for (std::size_t i = 0; i < seen.size(); ++i) {
    REQUIRE(seen[i] == static_cast<long long>(i + 1));
  }
  CHECK(client.pending() == 0);
}

TEST_CASE("redis client: more than max_pending waiting commands fail at once as Overloaded") {
  RedisServer server;
  RedisTestLoop net;
  RedisConfig config = redisConfigFor(server);
  config.max_pending = 10;
  RedisClient client(&net.loop, config);
  int answered = 0;
  std::optional<CommandResult> eleventh;
  for (int i = 0; i < 10; ++i) {
    client.command({"PING"}, [&](CommandResult r) {
      CHECK(r.reply.is("PONG"));
      ++answered;
    });
  }
  client.command({"PING"}, [&](CommandResult r) { eleventh = std::move(r); });
  REQUIRE(net.runUntil([&] { return eleventh.has_value() && answered == 10; }));
  CHECK_FALSE(eleventh->ok);
  CHECK(eleventh->failure.kind == CommandFailure::Kind::Overloaded);
}

TEST_CASE("redis client: EVALSHA, and EVAL when the server does not know the script") {
  RedisServer server;
  RedisTestLoop net;
  RedisClient client(&net.loop, redisConfigFor(server));
  const LuaScript add("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  auto evalOnce = [&](const std::string& by) {
    std::optional<CommandResult> result;
    client.evalScript(add, {"total"}, {by}, [&](CommandResult r) { result = std::move(r); });
    REQUIRE(net.runUntil([&] { return result.has_value(); }));
    REQUIRE(result->succeeded());
    return result->reply.integer;
  };
  auto calls = [&](const std::string& command) {
    auto info = redisRun(net, client, {"INFO", "commandstats"});
    const auto at = info.reply.text.find("cmdstat_" + command + ":calls=");
    return at == std::string::npos ? 0
                                   : std::stoi(info.reply.text.substr(at + 15 + command.size()));
  };
  CHECK(evalOnce("5") == 5); // NOSCRIPT, then EVAL
  CHECK(calls("eval") == 1);
  CHECK(calls("evalsha") == 1);
  auto exists = redisRun(net, client, {"SCRIPT", "EXISTS", add.sha1});
  REQUIRE(exists.reply.elements.size() == 1);
  CHECK(exists.reply.elements[0].integer == 1);
  CHECK(evalOnce("2") == 7); // cached: EVALSHA alone
  CHECK(calls("eval") == 1);
  CHECK(calls("evalsha") == 2);
  CHECK(redisRun(net, client, {"SCRIPT", "FLUSH"}).succeeded());
  CHECK(evalOnce("3") == 10); // flushed: EVAL again
  CHECK(calls("eval") == 2);
}

TEST_CASE("redis client: AUTH with a password, and with a Redis 6 ACL user") {
  RedisServer server(
      {"--requirepass", "s3cret", "--user", "mailer", "on", ">p4ss", "~*", "&*", "+@all"});
  RedisTestLoop net;
  SUBCASE("no password: down, and every command says so") {
    RedisClient client(&net.loop, redisConfigFor(server));
    auto result = redisRun(net, client, {"PING"});
    CHECK_FALSE(result.ok);
    CHECK(result.failure.kind == CommandFailure::Kind::Unavailable);
    CHECK(result.failure.detail.find("NOAUTH") != std::string::npos);
  }
  SUBCASE("the password") {
    RedisConfig config = redisConfigFor(server);
    config.server.password = "s3cret";
    config.server.db = 2;
    RedisClient client(&net.loop, config);
    CHECK(redisRun(net, client, {"SET", "in-db-2", "x"}).succeeded());
    auto db = redisRun(net, client, {"CLIENT", "INFO"});
    CHECK(db.reply.text.find(" db=2 ") != std::string::npos);
  }
  SUBCASE("an ACL user") {
    RedisConfig config = redisConfigFor(server);
    config.server.username = "mailer";
    config.server.password = "p4ss";
    RedisClient client(&net.loop, config);
    auto who = redisRun(net, client, {"ACL", "WHOAMI"});
    CHECK(who.reply.text == "mailer");
  }
  SUBCASE("a wrong password") {
    RedisConfig config = redisConfigFor(server);
    config.server.password = "wrong";
    RedisClient client(&net.loop, config);
    auto result = redisRun(net, client, {"PING"});
    CHECK_FALSE(result.ok);
    CHECK(result.failure.detail.find("AUTH refused") != std::string::npos);
  }
}

TEST_CASE("redis client: a server killed mid-flight fails what waits, and is reconnected to") {
  RedisServer server;
  RedisTestLoop net;
  RedisConfig config = redisConfigFor(server);
  config.command_timeout = 5000ms;
  RedisClient client(&net.loop, config, redisQuickRetries());
  std::vector<std::pair<bool, std::string>> states;
  client.onStateChange([&](bool up, const std::string& why) { states.emplace_back(up, why); });
  REQUIRE(redisRun(net, client, {"SET", "k", "before"}).succeeded());
  // A command the server holds (BLPOP on an empty list), and more behind it.
  std::vector<CommandResult> results;
  client.command({"BLPOP", "empty-list", "10"},
                 [&](CommandResult r) { results.push_back(std::move(r)); });
  for (int i = 0; i < 20; ++i) {
    client.command({"GET", "k"}, [&](CommandResult r) { results.push_back(std::move(r)); });
  }
  net.runUntil([] { return false; }, 50ms); // they are on the wire
  REQUIRE(results.empty());
  const auto killed = std::chrono::steady_clock::now();
  server.kill();
  REQUIRE(net.runUntil([&] { return results.size() == 21; }));
  const auto failed_after = std::chrono::steady_clock::now() - killed;
  CHECK(failed_after < 1s); // at once, not at the 5 s timeout
  for (const auto& r : results) {
    CHECK_FALSE(r.ok);
    CHECK(r.failure.kind == CommandFailure::Kind::Unavailable);
  }
  // While it is down, a command fails at once.
  auto during = redisRun(net, client, {"GET", "k"});
  CHECK(during.failure.kind == CommandFailure::Kind::Unavailable);
  CHECK_FALSE(client.up());
  server.start();
  REQUIRE(net.runUntil([&] { return client.up(); }));
  CHECK(redisRun(net, client, {"SET", "k", "after"}).succeeded());
  CHECK(redisRun(net, client, {"GET", "k"}).reply.text == "after");
  REQUIRE(states.size() == 3); // up, down once, up
  CHECK(states[0].first);
  CHECK_FALSE(states[1].first);
  CHECK(states[2].first);
}

TEST_CASE("redis client: a stopped server makes commands time out within command_timeout") {
  RedisServer server;
  RedisTestLoop net;
  RedisConfig config = redisConfigFor(server);
  config.command_timeout = 300ms;
  config.connect_timeout = 300ms;
  RedisClient client(&net.loop, config, redisQuickRetries());
  REQUIRE(redisRun(net, client, {"PING"}).succeeded());
  server.pause();
  std::vector<std::pair<CommandResult, std::chrono::steady_clock::duration>> results;
  const auto sent = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) {
    client.command({"GET", "k"}, [&](CommandResult r) {
      results.emplace_back(std::move(r), std::chrono::steady_clock::now() - sent);
    });
  }
  REQUIRE(net.runUntil([&] { return results.size() == 5; }, 2000ms));
  for (const auto& [r, after] : results) {
    CHECK_FALSE(r.ok);
    CHECK(after >= 250ms);
    CHECK(after < 700ms);
  }
  CHECK(results[0].first.failure.kind == CommandFailure::Kind::Timeout);
  // Down now: reconnecting finds a server that accepts but does not answer; commands fail at
  // once meanwhile.
  const auto asked = std::chrono::steady_clock::now();
  auto during = redisRun(net, client, {"GET", "k"});
  CHECK_FALSE(during.ok);
  CHECK(std::chrono::steady_clock::now() - asked < 100ms);
  server.resume();
  REQUIRE(net.runUntil([&] { return client.up(); }));
  CHECK(redisRun(net, client, {"PING"}).succeeded());
}

TEST_CASE("redis client: a reply over max_reply_bytes drops the connection") {
  RedisServer server;
  RedisTestLoop net;
  RedisConfig config = redisConfigFor(server);
  config.max_reply_bytes = 4096;
  RedisClient client(&net.loop, config, redisQuickRetries());
  REQUIRE(redisRun(net, client, {"SET", "big", std::string(10000, 'b')}).succeeded());
  auto big = redisRun(net, client, {"GET", "big"});
  CHECK_FALSE(big.ok);
  CHECK(big.failure.detail.find("a reply over 4096 bytes") != std::string::npos);
  REQUIRE(net.runUntil([&] { return client.up(); }));
  CHECK(redisRun(net, client, {"STRLEN", "big"}).reply.integer == 10000);
}

TEST_CASE("redis client: pub/sub on its own connection, subscribed again after a restart") {
  RedisServer server;
  RedisTestLoop net;
  RedisClient client(&net.loop, redisConfigFor(server), redisQuickRetries());
  std::vector<PubSubMessage> messages;
  client.subscribe("news", [&](const PubSubMessage& m) { messages.push_back(m); });
  client.psubscribe("events.*", [&](const PubSubMessage& m) { messages.push_back(m); });
  // PUBLISH answers how many subscribers got it: ready once both count.
  auto publishUntilHeard = [&](const std::string& channel, const std::string& payload) {
    return net.runUntil([&] {
      auto heard = redisRun(net, client, {"PUBLISH", channel, payload});
      return heard.ok && heard.reply.integer == 1;
    });
  };
  REQUIRE(publishUntilHeard("news", "first"));
  REQUIRE(publishUntilHeard("events.login", "second"));
  REQUIRE(net.runUntil([&] { return messages.size() >= 2; }));
  CHECK(messages[0].channel == "news");
  CHECK(messages[0].payload == "first");
  CHECK(messages[0].pattern.empty());
  CHECK(messages[1].pattern == "events.*");
  CHECK(messages[1].channel == "events.login");
  CHECK(messages[1].payload == "second");
  CHECK(client.subscriberUp());

  server.kill();
  REQUIRE(net.runUntil([&] { return !client.subscriberUp(); }));
  server.start();
  messages.clear();
  REQUIRE(net.runUntil([&] { return client.up() && client.subscriberUp(); }));
  REQUIRE(publishUntilHeard("events.logout", "third"));
  REQUIRE(net.runUntil([&] { return !messages.empty(); }));
  CHECK(messages.back().payload == "third");
  REQUIRE(publishUntilHeard("news", "fourth")); // the channel too
  REQUIRE(net.runUntil([&] { return messages.back().payload == "fourth"; }));

  client.unsubscribe("news");
  REQUIRE(net.runUntil([&] {
    auto heard = redisRun(net, client, {"PUBLISH", "news", "unheard"});
    return heard.ok && heard.reply.integer == 0;
  }));
}
