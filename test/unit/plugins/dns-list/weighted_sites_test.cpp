#include "plugins/dns-list/weighted_sites.hpp"

#include <doctest/doctest.h>

using namespace upesi::plugins::dns_list;

namespace {
WeightedSite site(const char* text) {
  std::string error;
  auto parsed = parseWeightedSite(text, error);
  REQUIRE_MESSAGE(parsed.has_value(), error);
  return *parsed;
}

std::string errorFor(const char* text) {
  std::string error;
  CHECK_FALSE(parseWeightedSite(text, error));
  return error;
}
} // namespace

TEST_CASE("plugins/dns-list: weighted entries as postscreen_dnsbl_sites writes them") {
  auto plain = site("bl.example");
  CHECK(plain.zone == "bl.example");
  CHECK(plain.weight == 1);
  CHECK_FALSE(plain.filter);

  auto weighted = site("Zen.Example*3");
  CHECK(weighted.zone == "zen.example");
  CHECK(weighted.weight == 3);

  auto allow = site("list.dnswl.example=127.0.[0..255].[1..3]*-2");
  CHECK(allow.zone == "list.dnswl.example");
  CHECK(allow.weight == -2);
  REQUIRE(allow.filter);
  CHECK(filterMatches(*allow.filter, "127.0.15.1"));
  CHECK(filterMatches(*allow.filter, "127.0.0.3"));
  CHECK_FALSE(filterMatches(*allow.filter, "127.0.15.0"));
  CHECK_FALSE(filterMatches(*allow.filter, "127.1.15.1"));

  auto lists = site("zen.example=127.0.0.[2;4..7;10]");
  REQUIRE(lists.filter);
  CHECK(filterMatches(*lists.filter, "127.0.0.2"));
  CHECK_FALSE(filterMatches(*lists.filter, "127.0.0.3"));
  CHECK(filterMatches(*lists.filter, "127.0.0.5"));
  CHECK(filterMatches(*lists.filter, "127.0.0.10"));
  CHECK_FALSE(filterMatches(*lists.filter, "127.0.0.11"));
  CHECK_FALSE(filterMatches(*lists.filter, "127.0.0"));
  CHECK_FALSE(filterMatches(*lists.filter, "127.0.0.2.1"));
  CHECK_FALSE(filterMatches(*lists.filter, "127.0.0.x"));
}

TEST_CASE("plugins/dns-list: an entry counts once, when any answer passes its filter") {
  auto filtered = site("zen.example=127.0.0.[2..11]*3");
  CHECK(siteMatches(filtered, {"127.0.0.2", "127.0.0.4"}));
  CHECK(siteMatches(filtered, {"127.0.0.20", "127.0.0.11"}));
  CHECK_FALSE(siteMatches(filtered, {"127.0.0.20"}));
  CHECK_FALSE(siteMatches(filtered, {}));
  CHECK(siteMatches(site("any.example"), {"127.0.0.99"}));
}

TEST_CASE("plugins/dns-list: malformed weighted entries are refused with the reason") {
  CHECK(errorFor("zen.example*x").find("weight") != std::string::npos);
  CHECK(errorFor("zen.example*").find("weight") != std::string::npos);
  CHECK(errorFor("zen.example*1.5").find("weight") != std::string::npos);
  CHECK(errorFor("zen.example=127.0.0").find("filter") != std::string::npos);
  CHECK(errorFor("zen.example=127.0.0.256").find("filter") != std::string::npos);
  CHECK(errorFor("zen.example=127.0.0.[5..2]").find("filter") != std::string::npos);
  CHECK(errorFor("zen.example=127.0.0.[]").find("filter") != std::string::npos);
  CHECK(errorFor("zen.example=127.0.0.[2").find("filter") != std::string::npos);
  CHECK(errorFor("zen.example=127.0.0.2.1").find("filter") != std::string::npos);
  CHECK(errorFor("=127.0.0.2").find("zone") != std::string::npos);
  CHECK(errorFor("bad zone!").find("zone") != std::string::npos);
  CHECK(errorFor("a..b").find("zone") != std::string::npos);
}
