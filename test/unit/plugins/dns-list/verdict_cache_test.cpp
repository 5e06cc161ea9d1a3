#include "plugins/dns-list/verdict_cache.hpp"

#include <doctest/doctest.h>

using namespace upesi::plugins::dns_list;

namespace {
ZoneAnswers listedOn(const char* zone) {
  return {{zone, ZoneAnswer{ZoneAnswer::Status::Listed, {"127.0.0.2"}, "", 300}}};
}
} // namespace

TEST_CASE("plugins/dns-list: cached answers expire with their TTL") {
  VerdictCache cache;
  cache.setMaxEntries(10);
  cache.store("192.0.2.1", listedOn("bl.test"), 60, 1000);
  REQUIRE(cache.find("192.0.2.1", 1000 + 59'999) != nullptr);
  CHECK(cache.find("192.0.2.1", 1000 + 59'999)->count("bl.test") == 1);
  CHECK(cache.find("192.0.2.1", 1000 + 60'000) == nullptr);
  CHECK(cache.size() == 0); // an expired entry goes when found
  CHECK(cache.find("192.0.2.9", 0) == nullptr);
}

TEST_CASE("plugins/dns-list: the cache keeps the most recently used entries") {
  VerdictCache cache;
  cache.setMaxEntries(2);
  cache.store("192.0.2.1", listedOn("a.test"), 60, 0);
  cache.store("192.0.2.2", listedOn("b.test"), 60, 0);
  CHECK(cache.find("192.0.2.1", 1) != nullptr); // now the most recent
  cache.store("192.0.2.3", listedOn("c.test"), 60, 1);
  CHECK(cache.size() == 2);
  CHECK(cache.find("192.0.2.2", 2) == nullptr);
  CHECK(cache.find("192.0.2.1", 2) != nullptr);
  CHECK(cache.find("192.0.2.3", 2) != nullptr);

  cache.store("192.0.2.3", listedOn("d.test"), 60, 3); // replaced, not duplicated
  CHECK(cache.size() == 2);
  CHECK(cache.find("192.0.2.3", 4)->count("d.test") == 1);

  cache.setMaxEntries(1);
  CHECK(cache.size() == 1);
  CHECK(cache.find("192.0.2.3", 4) != nullptr);
}

TEST_CASE("plugins/dns-list: nothing is cached with 0 entries or a TTL of 0") {
  VerdictCache cache;
  cache.setMaxEntries(0);
  cache.store("192.0.2.1", listedOn("a.test"), 60, 0);
  CHECK(cache.size() == 0);
  cache.setMaxEntries(5);
  cache.store("192.0.2.1", listedOn("a.test"), 0, 0);
  CHECK(cache.size() == 0);
  cache.store("192.0.2.1", listedOn("a.test"), 10, 0);
  cache.clear();
  CHECK(cache.find("192.0.2.1", 1) == nullptr);
}
