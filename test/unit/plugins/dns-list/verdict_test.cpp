#include "common/config/ini_parser.hpp"
#include "plugins/dns-list/verdict.hpp"

#include <doctest/doctest.h>

using namespace upesi::plugins::dns_list;
using Action = Verdict::Action;

namespace {
Settings readVerdictSettings(const char* text) {
  auto ini = upesi::config::parseIni(text, "dns-list.ini",
                                     upesi::config::parseBooleanDecls(iniBooleans()));
  REQUIRE(ini.ok());
  auto settings = readSettings(ini.value());
  REQUIRE(settings.errors.empty());
  return settings;
}

ZoneAnswer listed(std::vector<std::string> addresses = {"127.0.0.2"}) {
  return {ZoneAnswer::Status::Listed, std::move(addresses), "", 300};
}
ZoneAnswer unlisted() {
  return {ZoneAnswer::Status::Unlisted, {}, "", 0};
}
ZoneAnswer failed(const char* why) {
  return {ZoneAnswer::Status::Error, {}, why, 0};
}

std::set<std::string> all(const Settings& settings) {
  auto zones = settings.allZones();
  return {zones.begin(), zones.end()};
}

std::vector<std::string> recorded(const Verdict& verdict, const std::string& key) {
  std::vector<std::string> values;
  for (const auto& entry : verdict.results) {
    if (entry.key == key) {
      values.push_back(entry.value);
    }
  }
  return values;
}

using Zones = std::vector<std::string>;
} // namespace

TEST_CASE("plugins/dns-list: search=all rejects on every rejecting listing, records the rest") {
  auto settings =
      readVerdictSettings("[main]\nzones=a.test b.test c.test d.test\n[c.test]\nreject=false\n"
                          "[a.test]\n127.0.0.2=SBL\n");
  ZoneAnswers answers = {{"a.test", listed()}, {"b.test", unlisted()}};
  CHECK_FALSE(evaluate(settings, all(settings), answers, false).decided);
  answers["c.test"] = listed();
  answers["d.test"] = listed();
  auto verdict = evaluate(settings, all(settings), answers, false);
  REQUIRE(verdict.decided);
  CHECK(verdict.action == Action::Reject);
  CHECK(verdict.zones == Zones{"a.test", "d.test"});
  CHECK(recorded(verdict, "fail") == Zones{"a.test", "c.test", "d.test"});
  CHECK(recorded(verdict, "pass") == Zones{"b.test"});
  CHECK(recorded(verdict, "msg") == Zones{"SBL"});
}

TEST_CASE("plugins/dns-list: reject=false only records") {
  auto settings = readVerdictSettings("[main]\nzones=a.test\n[a.test]\nreject=false\n");
  auto verdict = evaluate(settings, all(settings), {{"a.test", listed()}}, true);
  CHECK(verdict.action == Action::Continue);
  CHECK(recorded(verdict, "fail") == Zones{"a.test"});
}

TEST_CASE("plugins/dns-list: an allow listing wins, and under search=first ends the search") {
  auto settings = readVerdictSettings("[main]\nzones=wl.test bl.test\n[wl.test]\ntype=allow\n");
  auto verdict =
      evaluate(settings, all(settings), {{"wl.test", listed()}, {"bl.test", listed()}}, true);
  CHECK(verdict.action == Action::Accept);
  CHECK(verdict.zones == Zones{"wl.test"});
  CHECK(recorded(verdict, "fail") == Zones{"bl.test"});

  auto first =
      readVerdictSettings("[main]\nzones=wl.test bl.test\nsearch=first\n[wl.test]\ntype=allow\n");
  verdict = evaluate(first, all(first), {{"wl.test", listed()}}, false);
  REQUIRE(verdict.decided);
  CHECK(verdict.action == Action::Accept);
  CHECK(recorded(verdict, "fail").empty());
  // An allow list that does not list the client records nothing.
  verdict = evaluate(first, all(first), {{"wl.test", unlisted()}, {"bl.test", unlisted()}}, true);
  CHECK(verdict.action == Action::Continue);
  CHECK(recorded(verdict, "pass") == Zones{"bl.test"});
}

TEST_CASE("plugins/dns-list: search=first waits for earlier zones, then the first decides") {
  auto settings = readVerdictSettings("[main]\nzones=a.test b.test c.test\nsearch=first\n");
  // b lists, but a has not answered: a might decide.
  CHECK_FALSE(evaluate(settings, all(settings), {{"b.test", listed()}}, false).decided);
  auto verdict =
      evaluate(settings, all(settings), {{"a.test", unlisted()}, {"b.test", listed()}}, false);
  REQUIRE(verdict.decided);
  CHECK(verdict.action == Action::Reject);
  CHECK(verdict.zones == Zones{"b.test"});
  CHECK(recorded(verdict, "pass") == Zones{"a.test"});
  // A zone that never answers does not list.
  verdict = evaluate(settings, all(settings), {{"b.test", unlisted()}}, true);
  CHECK(verdict.action == Action::Continue);
  CHECK(recorded(verdict, "err") == Zones{"a.test: no answer", "c.test: no answer"});
}

TEST_CASE("plugins/dns-list: karma lists pass, fail or note") {
  auto settings = readVerdictSettings("[main]\nzones=k.test\n[k.test]\ntype=karma\n");
  auto good = evaluate(settings, all(settings), {{"k.test", listed({"127.0.0.1"})}}, true);
  CHECK(good.action == Action::Continue);
  CHECK(recorded(good, "pass") == Zones{"k.test"});
  auto bad = evaluate(settings, all(settings), {{"k.test", listed({"127.0.0.2"})}}, true);
  CHECK(bad.action == Action::Reject);
  CHECK(recorded(bad, "fail") == Zones{"k.test"});
  auto other = evaluate(settings, all(settings), {{"k.test", listed({"127.0.0.3"})}}, true);
  CHECK(other.action == Action::Continue);
  CHECK(recorded(other, "msg") == Zones{"k.test"});
}

TEST_CASE("plugins/dns-list: errors pass the client unless defer_on_error") {
  auto settings = readVerdictSettings("[main]\nzones=a.test b.test\n");
  auto verdict = evaluate(settings, all(settings),
                          {{"a.test", failed("SERVFAIL")}, {"b.test", unlisted()}}, true);
  CHECK(verdict.action == Action::Continue);
  CHECK(recorded(verdict, "err") == Zones{"a.test: SERVFAIL"});
  CHECK(recorded(verdict, "fail").empty());

  auto deferring = readVerdictSettings("[main]\nzones=a.test b.test\ndefer_on_error=true\n");
  verdict = evaluate(deferring, all(deferring),
                     {{"a.test", failed("timeout")}, {"b.test", unlisted()}}, true);
  CHECK(verdict.action == Action::Defer);
  CHECK(verdict.zones == Zones{"a.test"});
  // A listing still decides.
  verdict = evaluate(deferring, all(deferring),
                     {{"a.test", failed("timeout")}, {"b.test", listed()}}, true);
  CHECK(verdict.action == Action::Reject);
}

TEST_CASE("plugins/dns-list: only consulted zones count") {
  auto settings = readVerdictSettings("[main]\nzones=a.test b.test\n");
  auto verdict = evaluate(settings, {"b.test"}, {{"b.test", unlisted()}}, false);
  REQUIRE(verdict.decided);
  CHECK(recorded(verdict, "pass") == Zones{"b.test"});
}

TEST_CASE("plugins/dns-list: the weighted score against the thresholds") {
  auto settings = readVerdictSettings("[weighted]\nsites=w1.test=127.0.0.[2..11], w2.test, "
                                      "wl.test=127.0.[0..255].[1..3]*-2\nthreshold=2\n");
  const auto zones = all(settings);
  auto one =
      evaluate(settings, zones,
               {{"w1.test", listed()}, {"w2.test", unlisted()}, {"wl.test", unlisted()}}, true);
  CHECK(one.score == 1);
  CHECK_FALSE(one.weighted_block);
  CHECK(one.action == Action::Continue);

  auto both =
      evaluate(settings, zones,
               {{"w1.test", listed()}, {"w2.test", listed()}, {"wl.test", unlisted()}}, true);
  CHECK(both.score == 2);
  CHECK(both.weighted_block);
  CHECK(both.weighted_zones == Zones{"w1.test", "w2.test"});
  CHECK(recorded(both, "fail") == Zones{"w1.test", "w2.test"});

  auto offset = evaluate(
      settings, zones, {{"w1.test", listed()}, {"w2.test", listed()}, {"wl.test", listed()}}, true);
  CHECK(offset.score == 0);
  CHECK_FALSE(offset.weighted_block);
  CHECK(recorded(offset, "pass") == Zones{"wl.test"});

  auto filtered = evaluate(
      settings, zones,
      {{"w1.test", listed({"127.0.0.20"})}, {"w2.test", listed()}, {"wl.test", unlisted()}}, true);
  CHECK(filtered.score == 1);

  // The score waits for every entry.
  CHECK_FALSE(evaluate(settings, zones, {{"w1.test", listed()}}, false).decided);
  auto missing = evaluate(settings, zones, {{"w1.test", listed()}}, true);
  CHECK(missing.score == 1);
  CHECK(recorded(missing, "err") == Zones{"w2.test: no answer", "wl.test: no answer"});
}

TEST_CASE("plugins/dns-list: a score at the allow threshold accepts") {
  auto settings = readVerdictSettings(
      "[weighted]\nsites=bl.test*2 wl.test*-3\nthreshold=2\nallow_threshold=-1\n");
  auto verdict =
      evaluate(settings, all(settings), {{"wl.test", listed()}, {"bl.test", unlisted()}}, true);
  CHECK(verdict.score == -3);
  CHECK(verdict.action == Action::Accept);
  CHECK(verdict.zones == Zones{"wl.test"});
  verdict = evaluate(settings, all(settings), {{"wl.test", listed()}, {"bl.test", listed()}}, true);
  CHECK(verdict.score == -1);
  CHECK(verdict.action == Action::Accept);
}

TEST_CASE("plugins/dns-list: a zone in zones and in the weighted sites") {
  auto settings = readVerdictSettings("[main]\nzones=bl.test\n[bl.test]\nreject=false\n"
                                      "[weighted]\nsites=bl.test*5\nthreshold=5\n");
  auto verdict = evaluate(settings, all(settings), {{"bl.test", listed()}}, true);
  CHECK(verdict.action == Action::Continue);
  CHECK(verdict.weighted_block);
  CHECK(verdict.score == 5);
}
