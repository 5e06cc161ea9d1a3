#include "plugins/limit/limit_config.hpp"

#include <doctest/doctest.h>

using upesi::plugins::limit::ipLookups;
using upesi::plugins::limit::parseRateSpec;
using upesi::plugins::limit::RateSpec;
using upesi::plugins::limit::readLimitConfig;

TEST_CASE("limit: a limit is a count and a window, as haraka-plugin-limit writes it") {
  CHECK(parseRateSpec("5") == RateSpec{5, 60});
  CHECK(parseRateSpec("50/5m") == RateSpec{50, 300});
  CHECK(parseRateSpec("10/90") == RateSpec{10, 90});
  CHECK(parseRateSpec("10/30s") == RateSpec{10, 30});
  CHECK(parseRateSpec("3/2H") == RateSpec{3, 7200});
  CHECK(parseRateSpec("1/1d") == RateSpec{1, 86400});
  CHECK(parseRateSpec(" 0 ") == RateSpec{0, 60});
  for (const char* bad :
       {"", "x", "-1", "5/", "5/m", "5/0", "5/2w", "5/1/2", "1.5", "5 / 1m", "5/400d"}) {
    INFO(bad);
    CHECK_FALSE(parseRateSpec(bad).has_value());
  }
}

TEST_CASE("limit: a client is looked up by its IP's prefixes, longest first") {
  CHECK(ipLookups("192.0.2.1") == std::vector<std::string>{"192.0.2.1", "192.0.2", "192.0", "192"});
  const auto v6 = ipLookups("2001:db8::0a:1");
  REQUIRE(v6.size() == 8);
  CHECK(v6.front() == "2001:db8:0:0:0:0:a:1");
  CHECK(v6[1] == "2001:db8:0:0:0:0:a");
  CHECK(v6.back() == "2001");
  CHECK(ipLookups("not an address").empty());
}

TEST_CASE("limit: lookups by client and by address, and what they count under") {
  auto cfg = readLimitConfig(nlohmann::json::parse(R"({
    "rate_conn": {"enabled": true, "127": "0", "192.0.2": "2/10s", "mx.example.net": "7",
                  "example.org": "9/1h", "default": "5"},
    "rate_conn_history": {"enabled": true, "plugin": "karma", "good": "20", "bad": "1/5m"},
    "rate_rcpt_sender": {"enabled": true, "boss@example.com": "100/1h", "example.com": "10/1m",
                         "default": "50/5m"}
  })"));
  CHECK(cfg.problems.empty());
  const auto& conn = cfg.rate_conn;
  CHECK(conn.enabled);
  auto loopback = conn.forClient("127.0.0.1", "", std::nullopt);
  REQUIRE(loopback);
  CHECK(loopback->key == "127");
  CHECK(loopback->spec.limit == 0);
  auto net = conn.forClient("192.0.2.9", "mx.example.net", std::nullopt);
  REQUIRE(net);
  CHECK(net->key == "192.0.2"); // the IP before the name
  CHECK(net->spec == RateSpec{2, 10});
  auto named = conn.forClient("198.51.100.1", "MX.Example.NET", std::nullopt);
  REQUIRE(named);
  CHECK(named->key == "mx.example.net");
  auto parent = conn.forClient("198.51.100.1", "a.b.example.org", std::nullopt);
  REQUIRE(parent);
  CHECK(parent->key == "example.org");
  CHECK(parent->spec == RateSpec{9, 3600});
  auto fallback = conn.forClient("198.51.100.1", "", std::nullopt);
  REQUIRE(fallback);
  CHECK(fallback->key == "198.51.100.1"); // default counts per client
  CHECK(fallback->spec == RateSpec{5, 60});
  auto bad = conn.forClient("198.51.100.1", "", -3.0);
  REQUIRE(bad);
  CHECK(bad->spec == RateSpec{1, 300});
  CHECK(conn.forClient("198.51.100.1", "", 4.0)->spec == RateSpec{20, 60});
  CHECK(conn.forClient("198.51.100.1", "", 0.0)->spec == RateSpec{5, 60}); // no `none`

  const auto& sender = cfg.rate_rcpt_sender;
  CHECK(sender.forAddress("Boss@Example.com")->spec == RateSpec{100, 3600});
  auto domain = sender.forAddress("clerk@mail.example.com");
  REQUIRE(domain);
  CHECK(domain->key == "example.com");
  auto other = sender.forAddress("someone@example.net");
  REQUIRE(other);
  CHECK(other->key == "someone@example.net");
  CHECK(other->spec == RateSpec{50, 300});
}

TEST_CASE("limit: every section is off until enabled, and bad values are named") {
  auto off = readLimitConfig(nlohmann::json::parse(R"({"rate_conn": {"default": "5"},
                                                       "concurrency": {"max": "3"}})"));
  CHECK_FALSE(off.rate_conn.enabled);
  CHECK_FALSE(off.concurrency.enabled);
  CHECK_FALSE(off.needsRedis());
  CHECK(off.concurrency.max == 3);

  auto cfg = readLimitConfig(nlohmann::json::parse(R"({
    "main": {"tarpit_delay": "900"},
    "concurrency": {"enabled": true, "max": "three"},
    "rate_rcpt": {"enabled": true, "default": "lots"},
    "recipients": {"enabled": true, "max": "20", "max_relaying": "100"}
  })"));
  CHECK(cfg.needsRedis());
  CHECK(cfg.tarpit_delay_s == 0);
  CHECK(cfg.recipients.max == 20);
  CHECK(cfg.max_relaying == 100);
  CHECK(cfg.problems ==
        std::vector<std::string>{"[main] tarpit_delay: \"900\" is not 0 to 300 seconds",
                                 "[concurrency] max: \"three\" is not a number",
                                 "[rate_rcpt] default: \"lots\" is not a limit"});
}

TEST_CASE("limit: [outbound] limits deliveries at once per domain, [rate_outbound] per period") {
  auto cfg = readLimitConfig(nlohmann::json::parse(R"({
    "outbound": {"enabled": true, "delay": "5", "lease": "30", "Example.COM": "2",
                 "slow.example": "0", "bad.example": "some"},
    "rate_outbound": {"enabled": true, "gmail.com": "10/1m", "default": "500/1h"}
  })"));
  CHECK(cfg.needsRedis());
  CHECK(cfg.outbound.delay_s == 5);
  CHECK(cfg.outbound.lease_s == 30);
  CHECK(cfg.outbound.maxFor("example.com") == 2);
  CHECK(cfg.outbound.maxFor("EXAMPLE.com") == 2);
  CHECK(cfg.outbound.maxFor("sub.example.com") == 0); // the domain itself only, as Haraka
  CHECK(cfg.outbound.maxFor("slow.example") == 0);
  CHECK(cfg.problems ==
        std::vector<std::string>{"[outbound] bad.example: \"some\" is not a number"});

  auto gmail = cfg.rate_outbound.forDomain("mx.Gmail.com");
  REQUIRE(gmail);
  CHECK(gmail->key == "gmail.com");
  CHECK(gmail->spec == RateSpec{10, 60});
  auto other = cfg.rate_outbound.forDomain("Example.net");
  REQUIRE(other);
  CHECK(other->key == "example.net"); // counted per domain under the default
  CHECK(other->spec == RateSpec{500, 3600});

  auto defaults = readLimitConfig(nlohmann::json::parse(R"({"outbound": {"delay": "0"}})"));
  CHECK_FALSE(defaults.outbound.enabled);
  CHECK(defaults.outbound.delay_s == 30);
  CHECK(defaults.outbound.lease_s == 60);
  CHECK(defaults.problems ==
        std::vector<std::string>{"[outbound] delay: \"0\" is not 1 to 86400 seconds"});
}
