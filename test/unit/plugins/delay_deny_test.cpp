#include "test/support/fake_connection.hpp"
#include "test/support/plugin_harness.hpp"

#include <doctest/doctest.h>

using namespace upesi;
using namespace upesi::test;

namespace {
std::string deny(PluginHarness& h, FakeConnection& c, Hook hook, const std::string& plugin,
                 Code code = Code::Deny, const std::string& msg = "go away") {
  DenyInfo info;
  info.code = code;
  info.message = {msg};
  info.plugin = plugin;
  info.method = "hook_" + std::string(toString(hook));
  info.hook = hook;
  HookParams params;
  params.deny = &info;
  auto a = h.call(Hook::Deny, c, params);
  REQUIRE(a->calls == 1);
  return a->name();
}

std::string rcptOk(PluginHarness& h, FakeConnection& c) {
  auto rcpt = makeAddress("u", "example.com");
  HookParams params;
  params.address = &rcpt;
  auto a = h.call(Hook::RcptOk, c, params);
  REQUIRE(a->calls == 1);
  return a->text().empty() ? a->name() : a->name() + " " + a->text();
}
} // namespace

TEST_CASE("plugins/delay_deny: a connect rejection is held until rcpt_ok, for every recipient") {
  PluginHarness h("delay_deny");
  h.load();
  REQUIRE(h.count(Hook::Deny) == 1);
  REQUIRE(h.count(Hook::RcptOk) == 1);
  FakeConnection c;
  CHECK(deny(h, c, Hook::Connect, "dnsbl", Code::DenyDisconnect, "listed") == "OK");
  CHECK(c.notes()["delay_deny_pre_fail"]["dnsbl"] == 1);
  c.begin(makeAddress("s", "client.example"));
  CHECK(rcptOk(h, c) == "DENYDISCONNECT listed");
  CHECK(rcptOk(h, c) == "DENYDISCONNECT listed");
}

TEST_CASE("plugins/delay_deny: rcpt rejections are used once, mail rejections stay") {
  PluginHarness h("delay_deny");
  h.load();
  FakeConnection c;
  c.begin(makeAddress("s", "client.example"));
  CHECK(deny(h, c, Hook::Rcpt, "rcpt_check", Code::DenySoft, "try later") == "OK");
  CHECK(rcptOk(h, c) == "DENYSOFT try later");
  CHECK(rcptOk(h, c) == "CONT");
  CHECK(deny(h, c, Hook::Mail, "spf", Code::Deny, "spf fail") == "OK");
  CHECK(rcptOk(h, c) == "DENY spf fail");
  CHECK(rcptOk(h, c) == "DENY spf fail");
}

TEST_CASE("plugins/delay_deny: relaying clients bypass, and the header names the plugins") {
  PluginHarness h("delay_deny");
  h.load();
  FakeConnection c;
  deny(h, c, Hook::Helo, "helo.checks");
  c.setRelaying(true);
  auto& txn = c.begin(makeAddress("s", "client.example"));
  c.setRelaying(true);
  deny(h, c, Hook::Mail, "dnsbl");
  CHECK(rcptOk(h, c) == "CONT");
  REQUIRE(h.count(Hook::DataPost) == 1);
  CHECK(h.call(Hook::DataPost, c)->calls == 1);
  CHECK(txn.header("X-Haraka-Fail-Pre") == "helo.checks dnsbl");
}

TEST_CASE("plugins/delay_deny: late hooks, its own rejections and the plugin lists") {
  {
    PluginHarness h("delay_deny");
    h.load();
    FakeConnection c;
    c.begin();
    CHECK(deny(h, c, Hook::DataPost, "spamassassin") == "CONT");
    CHECK(deny(h, c, Hook::Data, "x") == "CONT");
    CHECK(deny(h, c, Hook::Connect, "delay_deny") == "CONT");
    CHECK(rcptOk(h, c) == "CONT");
  }
  {
    PluginHarness h("delay_deny");
    h.host.writeConfig(
        "delay_deny.ini",
        "[main]\nexcluded_plugins=access, dnsbl:connect;helo.checks:helo:hook_helo\n");
    h.load();
    FakeConnection c;
    c.begin();
    CHECK(deny(h, c, Hook::Mail, "access") == "CONT");
    CHECK(deny(h, c, Hook::Connect, "dnsbl") == "CONT");
    CHECK(deny(h, c, Hook::Helo, "helo.checks") == "CONT");
    CHECK(deny(h, c, Hook::Mail, "dnsbl") == "OK");
    CHECK(deny(h, c, Hook::Ehlo, "helo.checks") == "OK");
  }
  {
    PluginHarness h("delay_deny");
    h.host.writeConfig("delay_deny.ini",
                       "[main]\nincluded_plugins=dnsbl\nexcluded_plugins=dnsbl\n");
    h.load();
    FakeConnection c;
    c.begin();
    CHECK(deny(h, c, Hook::Connect, "dnsbl") == "OK"); // included wins
    CHECK(deny(h, c, Hook::Connect, "access") == "CONT");
    h.host.writeConfig("delay_deny.ini", "[main]\nincluded_plugins=access\n");
    h.host.changed("delay_deny.ini");
    CHECK(deny(h, c, Hook::Connect, "access") == "OK");
  }
}

TEST_CASE("plugins/delay_deny: notes of the wrong shape are ignored, not trusted") {
  PluginHarness h("delay_deny");
  h.load();
  FakeConnection c;
  c.notes()["delay_deny_pre"] = {{{"code", 906}, {"msg", {"ok?"}}}, "junk"};
  c.begin().notes()["delay_deny_pre"] = "junk";
  CHECK(rcptOk(h, c) == "CONT");
}
