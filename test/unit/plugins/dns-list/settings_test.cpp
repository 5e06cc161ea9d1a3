#include "common/config/ini_parser.hpp"
#include "plugins/dns-list/settings.hpp"

#include <doctest/doctest.h>

using namespace upesi::plugins::dns_list;

namespace {
Settings settingsFrom(const char* text) {
  auto ini = upesi::config::parseIni(text, "dns-list.ini",
                                     upesi::config::parseBooleanDecls(iniBooleans()));
  REQUIRE(ini.ok());
  return readSettings(ini.value());
}

bool hasError(const Settings& settings, const std::string& part) {
  for (const auto& error : settings.errors) {
    if (error.find(part) != std::string::npos) {
      return true;
    }
  }
  return false;
}
} // namespace

TEST_CASE("plugins/dns-list: defaults without a file") {
  auto settings = settingsFrom("");
  CHECK(settings.zones.empty());
  CHECK_FALSE(settings.search_first);
  CHECK(settings.periodic_checks == 30);
  CHECK(settings.lookup_timeout == 8);
  CHECK_FALSE(settings.defer_on_error);
  CHECK_FALSE(settings.reject_at_mail);
  CHECK(settings.cache_max_entries == 10000);
  CHECK(settings.cache_max_ttl == 3600);
  CHECK(settings.cache_unlisted_ttl == 300);
  CHECK(settings.weighted.sites.empty());
  CHECK(settings.weighted.threshold == 1);
  CHECK(settings.weighted.allow_threshold == 0);
  CHECK(settings.weighted.action == WeightedAction::Reject);
  CHECK(settings.errors.empty());
}

TEST_CASE("plugins/dns-list: zones as a list or as zones[] lines, with their sections") {
  auto settings = settingsFrom("[main]\nzones=bl.test, WL.test;karma.test bl.test\nsearch=first\n"
                               "[wl.test]\ntype=allow\nok_helo=true\nok_mail=yes\n"
                               "[karma.test]\ntype=karma\nipv6=true\nloopback_is_rejected=true\n"
                               "127.0.0.1=white\n"
                               "[bl.test]\nreject=false\n127.0.0.2=SBL\n127.0.0.4=XBL\n");
  REQUIRE(settings.zones.size() == 3);
  CHECK(settings.search_first);
  const auto& bl = settings.zones[0];
  CHECK(bl.name == "bl.test");
  CHECK(bl.type == ListType::Block);
  CHECK_FALSE(bl.reject);
  CHECK_FALSE(bl.ipv6);
  CHECK(bl.descriptions.at("127.0.0.4") == "XBL");
  CHECK(settings.zones[1].name == "wl.test");
  CHECK(settings.zones[1].type == ListType::Allow);
  CHECK(settings.zones[1].reject);
  CHECK(settings.ok_helo);
  CHECK(settings.ok_mail);
  CHECK(settings.zones[2].type == ListType::Karma);
  CHECK(settings.zones[2].ipv6);
  CHECK(settings.zones[2].loopback_is_rejected);
  CHECK(settings.zones[2].descriptions.at("127.0.0.1") == "white");

  auto array = settingsFrom("[main]\nzones[]=a.test\nzones[]=b.test, c.test\n");
  REQUIRE(array.zones.size() == 3);
  CHECK(array.zones[2].name == "c.test");
}

TEST_CASE("plugins/dns-list: weighted sites, thresholds, and the zones asked once") {
  auto settings =
      settingsFrom("[main]\nzones=bl.test\n"
                   "[weighted]\nsites=bl.test*2, w.test=127.0.0.[2..11]*3 "
                   "wl.test=127.0.[0..255].[1;3]*-2\n"
                   "threshold=3\nallow_threshold=-1\naction=defer\n[w.test]\nipv6=true\n");
  REQUIRE(settings.weighted.sites.size() == 3);
  CHECK(settings.weighted.sites[0].weight == 2);
  CHECK(settings.weighted.sites[1].zone == "w.test");
  CHECK(settings.weighted.sites[2].weight == -2);
  CHECK(settings.weighted.threshold == 3);
  CHECK(settings.weighted.allow_threshold == -1);
  CHECK(settings.weighted.action == WeightedAction::Defer);
  CHECK(settings.allZones() == std::vector<std::string>{"bl.test", "w.test", "wl.test"});
  CHECK(settings.zone("w.test").ipv6);
  CHECK(settings.zone("wl.test").type == ListType::Block);

  auto lines = settingsFrom("[weighted]\nsites[]=a.test*2\nsites[]=b.test=127.0.0.[2;3]\n");
  REQUIRE(lines.weighted.sites.size() == 2);
  CHECK(lines.weighted.sites[1].filter.has_value());
}

TEST_CASE("plugins/dns-list: bad values are reported and their defaults kept") {
  auto settings = settingsFrom("[main]\nzones=bl.test\nsearch=some\nperiodic_checks=-1\n"
                               "lookup_timeout=0\ncache_max_entries=lots\ncache_max_ttl=1.5\n"
                               "reject_at=helo\n"
                               "[bl.test]\ntype=blocky\n"
                               "[weighted]\nsites=ok.test, bad.test*x, worse.test=1.2.3\n"
                               "allow_threshold=2\naction=drop\nthreshold=many\n");
  CHECK(hasError(settings, "search=some is not first or all"));
  CHECK(hasError(settings, "periodic_checks=-1"));
  CHECK(hasError(settings, "lookup_timeout=0"));
  CHECK(hasError(settings, "cache_max_entries=lots"));
  CHECK(hasError(settings, "cache_max_ttl=1.5"));
  CHECK(hasError(settings, "reject_at=helo"));
  CHECK(hasError(settings, "[bl.test] type=blocky is not block, allow or karma"));
  CHECK(hasError(settings, "\"bad.test*x\""));
  CHECK(hasError(settings, "\"worse.test=1.2.3\""));
  CHECK(hasError(settings, "allow_threshold=2"));
  CHECK(hasError(settings, "action=drop"));
  CHECK(hasError(settings, "threshold=many"));
  CHECK_FALSE(settings.search_first);
  CHECK(settings.periodic_checks == 30);
  CHECK(settings.lookup_timeout == 8);
  CHECK(settings.cache_max_entries == 10000);
  CHECK(settings.zones.at(0).type == ListType::Block);
  CHECK(settings.weighted.sites.size() == 1);
  CHECK(settings.weighted.threshold == 1);
}

TEST_CASE("plugins/dns-list: the number of zones is bounded") {
  std::string zones = "[main]\nzones=";
  for (int i = 0; i < 70; ++i) {
    zones += "z" + std::to_string(i) + ".test ";
  }
  auto settings = settingsFrom(zones.c_str());
  CHECK(settings.zones.size() == MaxZones);
  CHECK(hasError(settings, "more than 64"));
}
