#include "test/support/fake_connection.hpp"
#include "test/support/plugin_harness.hpp"

#include <doctest/doctest.h>
#include <uv.h>

#include <algorithm>

using namespace upesi;
using namespace upesi::test;

namespace {

DnsResult answer(const char* address, std::uint32_t ttl = 300) {
  return DnsResult{DnsStatus::Ok, "", {{address, 0, ttl}}};
}

DnsResult notFound() {
  return DnsResult{DnsStatus::NxDomain, "not found", {}};
}

std::size_t askedFor(const FakeHost& host, const std::string& name) {
  return static_cast<std::size_t>(
      std::count(host.dns.asked.begin(), host.dns.asked.end(), "A " + name));
}

constexpr const char* Lists = "[main]\nzones=bl.test\nperiodic_checks=0\n"
                              "[skip]\nprivate_ip=false\n";

} // namespace

TEST_CASE("plugins/dns-list: a zone failing its self-test is disabled until it passes") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    PluginHarness h("dns-list");
    h.host.writeConfig("dns-list.ini", "[main]\nzones=bl.test\nperiodic_checks=30\n");
    h.host.dns.set("2.0.0.127.bl.test", DnsType::A, answer("127.0.0.2"));
    h.host.dns.set("1.0.0.127.bl.test", DnsType::A, answer("127.0.0.2"));
    h.host.attachLoop(&loop);
    h.load();
    CHECK(h.host.logged("disabling block zone 'bl.test' lists 127.0.0.1"));
    CHECK(h.host.logged("will re-test list zones every 30 minutes"));

    FakeConnection client;
    auto connect = h.call(Hook::Connect, client);
    CHECK(connect->name() == "CONT");
    CHECK(client.results().has("dns-list", "err", "no zones"));
    CHECK(askedFor(h.host, "10.2.0.192.bl.test") == 0);

    // The list is fixed; the next test (here started by a config change) enables it.
    h.host.dns.set("1.0.0.127.bl.test", DnsType::A, notFound());
    h.host.writeConfig("dns-list.ini", "[main]\nzones=bl.test\nperiodic_checks=31\n");
    h.host.changed("dns-list.ini");
    CHECK(h.host.logged("enabling block zone bl.test"));
    FakeConnection later;
    h.call(Hook::Connect, later);
    CHECK(askedFor(h.host, "10.2.0.192.bl.test") == 1);

    // shutdown() stops the periodic timer: nothing is left on the loop.
    h.plugin->shutdown();
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK_FALSE(uv_loop_alive(&loop));
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("plugins/dns-list: IPv6 clients are asked only of zones with ipv6=true") {
  PluginHarness h("dns-list");
  h.host.writeConfig("dns-list.ini", "[main]\nzones=a.test b.test\nperiodic_checks=0\n"
                                     "[a.test]\nipv6=true\n[skip]\nprivate_ip=false\n");
  h.load();
  const std::string nibbles = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2";
  h.host.dns.set(nibbles + ".a.test", DnsType::A, answer("127.0.0.2"));
  FakeConnection client;
  client.remote_endpoint.ip = "2001:db8::1";
  auto connect = h.call(Hook::Connect, client);
  CHECK(connect->name() == "DENY");
  CHECK(connect->text() == "host [2001:db8::1] is listed on a.test");
  CHECK(h.host.dns.asked == std::vector<std::string>{"A " + nibbles + ".a.test"});
  CHECK(client.results().has("dns-list", "skip", "b.test: ipv6 disabled"));
}

TEST_CASE("plugins/dns-list: a returning client is judged from the cache until the TTL") {
  PluginHarness h("dns-list");
  h.host.writeConfig("dns-list.ini", Lists);
  h.load();
  h.host.dns.set("10.2.0.192.bl.test", DnsType::A, answer("127.0.0.2", 300));
  h.host.dns.set("11.2.0.192.bl.test", DnsType::A, answer("127.0.0.2", 0));
  for (int i = 0; i < 3; ++i) {
    FakeConnection client;
    CHECK(h.call(Hook::Connect, client)->name() == "DENY");
    CHECK(client.results().has("dns-list", "fail", "bl.test"));
  }
  CHECK(askedFor(h.host, "10.2.0.192.bl.test") == 1);
  // A TTL of 0 is not kept.
  for (int i = 0; i < 2; ++i) {
    FakeConnection client;
    client.remote_endpoint.ip = "192.0.2.11";
    CHECK(h.call(Hook::Connect, client)->name() == "DENY");
  }
  CHECK(askedFor(h.host, "11.2.0.192.bl.test") == 2);
  // Failed lookups are not kept either.
  for (int i = 0; i < 2; ++i) {
    FakeConnection client;
    client.remote_endpoint.ip = "192.0.2.12";
    CHECK(h.call(Hook::Connect, client)->name() == "CONT");
    CHECK(client.results().get("dns-list")["err"].size() == 1);
  }
  CHECK(askedFor(h.host, "12.2.0.192.bl.test") == 2);
}

TEST_CASE("plugins/dns-list: no hook waits past lookup_timeout, and a late answer is dropped") {
  PluginHarness h("dns-list");
  h.host.writeConfig("dns-list.ini", std::string(Lists) + "[main]\nlookup_timeout=3\n");
  h.load();
  h.host.dns.set("10.2.0.192.bl.test", DnsType::A, answer("127.0.0.2"));
  h.host.dns.hold();
  FakeConnection client;
  auto connect = h.call(Hook::Connect, client);
  CHECK(connect->calls == 0);
  CHECK(h.host.pendingDelays() == std::vector<std::uint64_t>{3000});
  h.host.runTimers();
  REQUIRE(connect->calls == 1);
  CHECK(connect->name() == "CONT");
  CHECK(client.results().has("dns-list", "err", "bl.test: no answer within 3 s"));
  h.host.dns.answerNext();
  CHECK(connect->calls == 1);
}

TEST_CASE("plugins/dns-list: SERVFAIL passes the client; defer_on_error asks it to retry") {
  PluginHarness h("dns-list");
  h.host.writeConfig("dns-list.ini", Lists);
  h.load();
  h.host.dns.set("10.2.0.192.bl.test", DnsType::A, DnsResult{DnsStatus::ServFail, "", {}});
  FakeConnection client;
  CHECK(h.call(Hook::Connect, client)->name() == "CONT");
  CHECK(client.results().has("dns-list", "err", "bl.test: SERVFAIL"));
  CHECK(h.host.logged("bl.test lookup error: SERVFAIL"));

  h.host.writeConfig("dns-list.ini", std::string(Lists) + "[main]\ndefer_on_error=true\n");
  h.host.changed("dns-list.ini");
  FakeConnection again;
  auto connect = h.call(Hook::Connect, again);
  CHECK(connect->name() == "DENYSOFT");
  CHECK(connect->text() == "DNS list lookup failed for bl.test; try again later");
}

TEST_CASE("plugins/dns-list: private clients are skipped by default, as in Haraka") {
  PluginHarness h("dns-list");
  h.host.writeConfig("dns-list.ini", "[main]\nzones=bl.test\nperiodic_checks=0\n");
  h.load();
  FakeConnection client;
  client.remote_endpoint.ip = "10.1.2.3";
  client.remote_endpoint.is_private = true;
  CHECK(h.call(Hook::Connect, client)->name() == "CONT");
  CHECK(client.results().has("dns-list", "skip", "private: 10.1.2.3"));
  CHECK(h.host.dns.asked.empty());
  CHECK(h.help.find("postscreen") != std::string::npos);
}

TEST_CASE("plugins/dns-list: ips.backscatterer.org is asked about bounces, IPv6 only if asked") {
  PluginHarness h("dns-list");
  h.host.writeConfig("dns-list.ini", "[main]\nperiodic_checks=0\n[skip]\nprivate_ip=false\n"
                                     "[ips.backscatterer.org]\nenable=true\n");
  h.load();
  h.host.dns.set("10.2.0.192.ips.backscatterer.org", DnsType::A, answer("127.0.0.2"));
  FakeConnection client;
  client.remote_endpoint.host = "bounce.example";
  Address null_sender;
  null_sender.is_null = true;
  auto mail = h.callWith(Hook::Mail, client, null_sender);
  CHECK(mail->name() == "DENY");
  CHECK(mail->text() == "Host bounce.example [192.0.2.10] is listed by ips.backscatterer.org");
  Address sender;
  sender.user = "someone";
  sender.host = "example.com";
  CHECK(h.callWith(Hook::Mail, client, sender)->name() == "CONT");
  CHECK(askedFor(h.host, "10.2.0.192.ips.backscatterer.org") == 1);

  FakeConnection v6;
  v6.remote_endpoint.ip = "2001:db8::1";
  CHECK(h.callWith(Hook::Mail, v6, null_sender)->name() == "CONT");
  CHECK(h.host.dns.asked.size() == 1);
  h.host.writeConfig("dns-list.ini", "[main]\nperiodic_checks=0\n[skip]\nprivate_ip=false\n"
                                     "[ips.backscatterer.org]\nenable=true\nipv6=true\n");
  h.host.changed("dns-list.ini");
  h.callWith(Hook::Mail, v6, null_sender);
  CHECK(h.host.dns.asked.size() == 2);
}
