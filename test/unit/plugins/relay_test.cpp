#include "common/util/cidr.hpp"
#include "test/support/fake_connection.hpp"
#include "test/support/plugin_harness.hpp"

#include <doctest/doctest.h>

using namespace upesi;
using namespace upesi::test;
using upesi::util::Cidr;
using upesi::util::IpAddress;

namespace {
bool inNet(const char* net, const char* ip) {
  auto cidr = Cidr::parse(net);
  auto addr = IpAddress::parse(ip);
  REQUIRE(cidr.has_value());
  REQUIRE(addr.has_value());
  return cidr->contains(*addr);
}
} // namespace

TEST_CASE("plugins/relay: CIDR parsing and matching, IPv4 and IPv6") {
  CHECK(inNet("192.0.2.0/24", "192.0.2.77"));
  CHECK_FALSE(inNet("192.0.2.0/24", "192.0.3.1"));
  CHECK(inNet("10.0.0.0/8", "10.255.1.2"));
  CHECK(inNet("192.0.2.0/25", "192.0.2.127"));
  CHECK_FALSE(inNet("192.0.2.0/25", "192.0.2.128"));
  CHECK(inNet("192.0.2.9", "192.0.2.9"));
  CHECK_FALSE(inNet("192.0.2.9", "192.0.2.8"));
  CHECK(inNet("0.0.0.0/0", "203.0.113.5"));
  CHECK(inNet("2001:db8::/32", "2001:db8:1::5"));
  CHECK_FALSE(inNet("2001:db8::/32", "2001:db9::5"));
  CHECK(inNet("2001:db8::/33", "2001:db8:7fff::1"));
  CHECK_FALSE(inNet("2001:db8::/33", "2001:db8:8000::1"));
  CHECK(inNet("192.0.2.0/24", "::ffff:192.0.2.1")); // v4-mapped
  CHECK_FALSE(inNet("::/0", "192.0.2.1"));          // families do not mix
  CHECK_FALSE(Cidr::parse("192.0.2.0/33"));
  CHECK_FALSE(Cidr::parse("192.0.2.0/"));
  CHECK_FALSE(Cidr::parse("192.0.2.0/8x"));
  CHECK_FALSE(Cidr::parse("2001:db8::/129"));
  CHECK_FALSE(Cidr::parse("not-an-ip/24"));
  CHECK_FALSE(Cidr::parse(""));
  CHECK_FALSE(Cidr::parse("/24"));
}

TEST_CASE("plugins/relay: acl sets relaying for listed networks at connect_init") {
  PluginHarness h("relay");
  h.host.writeConfig("relay_acl_allow", "192.0.2.0/24\n2001:db8::/32\nbogus\n");
  h.load();
  CHECK(h.host.logged("invalid entry in relay_acl_allow: bogus"));
  REQUIRE(h.count(Hook::ConnectInit) == 1);
  REQUIRE(h.count(Hook::Connect) == 1);
  CHECK(h.count(Hook::Rcpt) == 0); // dest_domains and all are off by default

  FakeConnection listed;
  listed.remote_endpoint.ip = "192.0.2.200";
  auto a = h.call(Hook::ConnectInit, listed);
  CHECK(a->calls == 1);
  CHECK(listed.relaying());
  CHECK(listed.results().has("relay", "pass", "acl"));
  auto pass = h.call(Hook::Connect, listed);
  CHECK(pass->calls == 1);
  CHECK(pass->name() == "OK");

  FakeConnection v6;
  v6.remote_endpoint.ip = "2001:db8:42::1";
  h.call(Hook::ConnectInit, v6);
  CHECK(v6.relaying());

  FakeConnection stranger;
  stranger.remote_endpoint.ip = "198.51.100.1";
  auto s = h.call(Hook::ConnectInit, stranger);
  CHECK(s->calls == 1);
  CHECK(s->name() == "CONT");
  CHECK_FALSE(stranger.relaying());
  CHECK(stranger.results().has("relay", "skip", "acl(unlisted)"));
  CHECK(h.call(Hook::Connect, stranger)->name() == "CONT");

  // The list is re-read when it changes.
  h.host.writeConfig("relay_acl_allow", "198.51.100.0/24\n");
  h.host.changed("relay_acl_allow");
  FakeConnection later;
  later.remote_endpoint.ip = "198.51.100.1";
  h.call(Hook::ConnectInit, later);
  CHECK(later.relaying());
  FakeConnection dropped;
  dropped.remote_endpoint.ip = "192.0.2.200";
  h.call(Hook::ConnectInit, dropped);
  CHECK_FALSE(dropped.relaying());
}

TEST_CASE("plugins/relay: acl=false registers nothing; all=true relays everything, loudly") {
  PluginHarness h("relay");
  h.host.writeConfig("relay.ini", "[relay]\nacl=false\nall=true\n");
  h.load();
  CHECK(h.count(Hook::ConnectInit) == 0);
  REQUIRE(h.count(Hook::Rcpt) == 1);
  CHECK(h.host.logged("OPEN RELAY"));
  FakeConnection c;
  c.begin(makeAddress("a", "remote.net"));
  auto a = h.callWith(Hook::Rcpt, c, makeAddress("b", "elsewhere.org"));
  CHECK(a->calls == 1);
  CHECK(a->name() == "OK");
  CHECK(c.relaying());
}

TEST_CASE("plugins/relay: dest_domains accept, continue, deny, unlisted") {
  PluginHarness h("relay");
  h.host.writeConfig("relay.ini", "[relay]\nacl=false\ndest_domains=true\n");
  h.host.writeConfig("relay_dest_domains.ini", "[domains]\n"
                                               "accept.net = { \"action\": \"accept\" }\n"
                                               "cont.net = { \"action\": \"continue\" }\n"
                                               "deny.net = { \"action\": \"deny\" }\n"
                                               "odd.net = { \"action\": \"maybe\" }\n"
                                               "broken.net = not json\n");
  h.load();
  CHECK(h.host.logged("broken.net"));
  REQUIRE(h.count(Hook::Rcpt) == 1);
  auto rcpt = [&](const std::string& domain, bool* relaying = nullptr) {
    FakeConnection c;
    c.begin(makeAddress("a", "remote.org"));
    auto a = h.callWith(Hook::Rcpt, c, makeAddress("u", domain));
    REQUIRE(a->calls == 1);
    if (relaying != nullptr) {
      *relaying = c.relaying();
    }
    return a->name() + " " + a->text();
  };
  bool relaying = false;
  CHECK(rcpt("Accept.NET", &relaying) == "OK ");
  CHECK(relaying);
  CHECK(rcpt("cont.net", &relaying) == "CONT ");
  CHECK(relaying);
  CHECK(rcpt("deny.net", &relaying) == "DENY You are not allowed to relay");
  CHECK_FALSE(relaying);
  CHECK(rcpt("unlisted.net") == "DENY You are not allowed to relay");
  CHECK(rcpt("odd.net") == "DENY Mail for that recipient is not accepted here.");
  CHECK(rcpt("broken.net") == "DENY You are not allowed to relay");

  // A client already relaying is not checked.
  FakeConnection relay_client;
  relay_client.setRelaying(true);
  relay_client.begin();
  CHECK(h.callWith(Hook::Rcpt, relay_client, makeAddress("u", "unlisted.net"))->name() == "CONT");

  auto files = h.plugin->configFiles();
  REQUIRE(files.size() == 3);
  CHECK(files[0].booleans.front() == "+relay.acl");
}
