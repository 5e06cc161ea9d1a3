#include "plugins/karma/karma_rules.hpp"

#include <doctest/doctest.h>

using upesi::plugins::karma::awardMatches;
using upesi::plugins::karma::clientAsn;
using upesi::plugins::karma::denyMessage;
using upesi::plugins::karma::readKarmaConfig;
using upesi::plugins::karma::ResultAward;
using upesi::plugins::karma::spammyTldAward;
using upesi::plugins::karma::tarpitDelay;

TEST_CASE("karma: result awards as karma.ini writes them") {
  auto cfg = readKarmaConfig(nlohmann::json::parse(R"({
    "result_awards": {
      "084": "fcrdns | fail | match | ptr_valid | -4 | FCrDNS has no valid PTR | Set up rDNS",
      "150": "spf | result | eq | Fail | -4",
      "168": "mail_from.is_resolvable | fail | length | gt 0 | -8",
      "233": "rspamd | score | gt | 6 | -1",
      "bad1": "spf | result | sounds-like | Fail | -4",
      "bad2": "spf | result | equals | Fail | lots"
    }
  })"));
  REQUIRE(cfg.result_awards.size() == 4);
  CHECK(cfg.problems.size() == 2);
  const auto& ptr = cfg.result_awards[0];
  CHECK(ptr.plugin == "fcrdns");
  CHECK(ptr.reason == "FCrDNS has no valid PTR");
  CHECK(ptr.remedy == "Set up rDNS");
  CHECK(awardMatches(ptr, {{"fail", {"has_rdns", "ptr_valid(mx.example)"}}}));
  CHECK(awardMatches(ptr, {{"fail", {"PTR_VALID"}}}));
  CHECK_FALSE(awardMatches(ptr, {{"pass", {"ptr_valid"}}}));
  CHECK_FALSE(awardMatches(ptr, nullptr));

  const auto& spf = cfg.result_awards[1];
  CHECK(spf.op == "equals");
  CHECK(awardMatches(spf, {{"result", "Fail"}}));
  CHECK_FALSE(awardMatches(spf, {{"result", "SoftFail"}}));

  const auto& length = cfg.result_awards[2];
  CHECK(awardMatches(length, {{"fail", {"no MX"}}}));
  CHECK_FALSE(awardMatches(length, {{"fail", nlohmann::json::array()}}));

  const auto& score = cfg.result_awards[3];
  CHECK(awardMatches(score, {{"score", 7.5}}));
  CHECK(awardMatches(score, {{"score", "12"}}));
  CHECK_FALSE(awardMatches(score, {{"score", 6}}));
  CHECK_FALSE(awardMatches(score, {{"score", "high"}}));
}

TEST_CASE("karma: thresholds, deny, tarpit and the TLDs") {
  auto cfg = readKarmaConfig(nlohmann::json::parse(R"json({
    "thresholds": {"negative": "-4", "positive": "3"},
    "deny": {"hooks": "connect, rcpt data", "message": "score {score} ({uuid})"},
    "tarpit": {"max": "4", "max_msa": "1"},
    "spammy_tlds": {"xyz": "-6", "sa.com": "-3", "com": "-1"},
    "main": {"expire_days": "30"},
    "skip": {"private_ip": false}
  })json"));
  CHECK(cfg.problems.empty());
  CHECK(cfg.negative == -4);
  CHECK(cfg.positive == 3);
  CHECK(cfg.deny_hooks == std::set<std::string>{"connect", "rcpt", "data"});
  CHECK(denyMessage(cfg, -5.5, "AB-12") == "score -5.5 (AB-12)");
  CHECK(cfg.expire_days == 30);
  CHECK_FALSE(cfg.skip_private_ip);
  CHECK(cfg.skip_authenticated);

  CHECK(spammyTldAward(cfg, "mail.example.xyz") == -6);
  CHECK(spammyTldAward(cfg, "shop.SA.com") == -3); // the longest suffix listed
  CHECK(spammyTldAward(cfg, "example.com") == -1);
  CHECK_FALSE(spammyTldAward(cfg, "example.org").has_value());

  CHECK(tarpitDelay(cfg, 2, false) == 0);
  CHECK(tarpitDelay(cfg, -2.5, false) == 2.5);
  CHECK(tarpitDelay(cfg, -9, false) == 4);
  CHECK(tarpitDelay(cfg, -9, true) == 1);
  cfg.tarpit_delay = 2;
  CHECK(tarpitDelay(cfg, 5, false) == 2); // a static delay for everyone
}

TEST_CASE("karma: deny_excludes, asn and asn_awards") {
  auto defaults = readKarmaConfig(nlohmann::json::object());
  CHECK(defaults.deny_exclude_plugins.count("helo.checks") == 1);
  CHECK(defaults.deny_exclude_plugins.count("dns-list") == 0);
  CHECK(defaults.deny_exclude_hooks ==
        std::set<std::string>{"rcpt", "rcpt_ok", "queue", "queue_outbound"});
  CHECK(defaults.asn_enable);
  CHECK(defaults.asn_report_as.empty());

  auto cfg = readKarmaConfig(nlohmann::json::parse(R"({
    "deny_excludes": {"plugins": "dns-list; spf", "hooks": "mail, rcpt"},
    "asn": {"enable": false, "report_as": "asn"},
    "asn_awards": {"64496": "-4", "64497": "lots"}
  })"));
  CHECK(cfg.deny_exclude_plugins == std::set<std::string>{"dns-list", "spf"});
  CHECK(cfg.deny_exclude_hooks == std::set<std::string>{"mail", "rcpt"});
  CHECK_FALSE(cfg.asn_enable);
  CHECK(cfg.asn_report_as == "asn");
  CHECK(cfg.asn_awards == std::map<std::string, double>{{"64496", -4}});
  CHECK(cfg.problems == std::vector<std::string>{"[asn_awards] 64497: \"lots\" is not a number"});
}

TEST_CASE("karma: the client's AS number comes from the asn plugin, else geoip") {
  const auto none = nlohmann::json();
  CHECK(clientAsn(nlohmann::json{{"asn", 64496}}, none) == "64496");
  CHECK(clientAsn(nlohmann::json{{"asn", " 64496 "}}, none) == "64496");
  CHECK(clientAsn(nlohmann::json{{"org", "x"}}, nlohmann::json{{"asn", "15169"}}) == "15169");
  CHECK_FALSE(clientAsn(nlohmann::json{{"asn", "AS64496"}}, none));
  CHECK_FALSE(clientAsn(nlohmann::json{{"asn", -1}}, none));
  CHECK_FALSE(clientAsn(none, none));
}
