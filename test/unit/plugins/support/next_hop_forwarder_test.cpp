#include "test/support/fake_connection.hpp"
#include "test/support/plugin_harness.hpp"

#include <doctest/doctest.h>

using namespace upesi;
using namespace upesi::test;

namespace {

std::shared_ptr<Answer> forward(PluginHarness& h) {
  FakeConnection c;
  c.begin(makeAddress("a", "example.com")).rcpt_to.push_back(makeAddress("b", "example.net"));
  return h.call(Hook::Queue, c);
}

} // namespace

TEST_CASE("plugins/support/next_hop_forwarder: a next hop without an address is DENYSOFT") {
  PluginHarness h("queue/smtp_forward");
  h.host.writeConfig("smtp_forward.ini", "host=relay.example.net\nport=2525\n");
  h.host.dns.set("relay.example.net", DnsType::A,
                 DnsResult{DnsStatus::NxDomain, "Domain name not found", {}});
  h.host.dns.set("relay.example.net", DnsType::Aaaa,
                 DnsResult{DnsStatus::NxDomain, "aaaa: not found", {}});
  h.load();
  auto a = forward(h);
  REQUIRE(a->calls == 1);
  CHECK(a->name() == "DENYSOFT");
  CHECK(a->text() == "Next hop unavailable: its address did not resolve");
  // The next hop is looked up as dns::MxResolver's lookupNextHop does: A, then AAAA.
  CHECK(h.host.dns.asked ==
        std::vector<std::string>{"A relay.example.net", "AAAA relay.example.net"});
  CHECK(h.host.logged("resolving relay.example.net: Domain name not found"));
}
