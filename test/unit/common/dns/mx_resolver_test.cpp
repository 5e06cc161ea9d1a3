#include "common/dns/mx_resolver.hpp"
#include "test/support/fake_dns.hpp"

#include <doctest/doctest.h>

#include <optional>

using namespace upesi;
using namespace upesi::dns;
using upesi::test::FakeDns;

namespace {

MxHost host(const std::string& exchange, unsigned priority = 0) {
  MxHost mx;
  mx.exchange = exchange;
  mx.priority = priority;
  return mx;
}

std::vector<std::string> addresses(const std::vector<MxTarget>& targets) {
  std::vector<std::string> out;
  for (const auto& t : targets) {
    out.push_back(t.mx.exchange + " " + t.ip);
  }
  return out;
}

MxTargets targetsOf(FakeDns& dns, std::vector<MxHost> hosts, TargetRules rules) {
  std::optional<MxTargets> got;
  MxResolver(dns.lookup()).lookupTargets(std::move(hosts), rules, [&got](MxTargets t) {
    got = std::move(t);
  });
  REQUIRE(got.has_value());
  return *got;
}

Result<std::string> nextHopOf(FakeDns& dns, const std::string& name) {
  std::optional<Result<std::string>> got;
  MxResolver(dns.lookup()).lookupNextHop(name, [&got](Result<std::string> r) { got = r; });
  REQUIRE(got.has_value());
  return *got;
}

} // namespace

TEST_CASE("mx resolver: the MX answer becomes the plan, null MX and the implicit MX included") {
  FakeDns dns;
  dns.set("example.net", DnsType::Mx,
          DnsResult{DnsStatus::Ok, "", {{"mx2.example.net", 20, 0}, {"mx1.example.net", 10, 0}}});
  dns.set("null.example", DnsType::Mx, DnsResult{DnsStatus::Ok, "", {{".", 0, 0}}});
  dns.set("bare.example", DnsType::Mx, DnsResult{DnsStatus::NoData, "no data", {}});
  MxResolver resolver(dns.lookup());
  std::vector<MxPlan> plans;
  for (const char* domain : {"example.net", "null.example", "bare.example", "down.example"}) {
    resolver.lookupMx(domain, [&plans](MxPlan plan) { plans.push_back(std::move(plan)); });
  }
  REQUIRE(plans.size() == 4);
  CHECK((plans[0].kind == MxPlan::Kind::Hosts));
  REQUIRE(plans[0].hosts.size() == 2);
  CHECK(plans[0].hosts[0].exchange == "mx1.example.net");
  CHECK((plans[1].kind == MxPlan::Kind::NullMx));
  CHECK((plans[2].kind == MxPlan::Kind::Implicit));
  CHECK(plans[2].hosts.at(0).exchange == "bare.example");
  CHECK((plans[3].kind == MxPlan::Kind::TempFail));
  CHECK(dns.asked == std::vector<std::string>{"MX example.net", "MX null.example",
                                              "MX bare.example", "MX down.example"});
}

TEST_CASE("mx resolver: hosts in their order, IP literals without a lookup, A only without IPv6") {
  FakeDns dns;
  dns.setAddresses("mx1.example.net", DnsType::A, {"192.0.2.1", "192.0.2.2"});
  dns.setAddresses("mx1.example.net", DnsType::Aaaa, {"2001:db8::1"});
  dns.setAddresses("mx2.example.net", DnsType::A, {"192.0.2.3"});
  auto got = targetsOf(dns,
                       {host("mx1.example.net", 10), host("192.0.2.9", 15),
                        host("mx2.example.net", 20), host("2001:db8::9", 30)},
                       {});
  CHECK(addresses(got.targets) ==
        std::vector<std::string>{"mx1.example.net 192.0.2.1", "mx1.example.net 192.0.2.2",
                                 "192.0.2.9 192.0.2.9", "mx2.example.net 192.0.2.3",
                                 "2001:db8::9 2001:db8::9"});
  CHECK(got.targets[0].mx.priority == 10);
  CHECK(got.error.empty());
  CHECK(dns.asked == std::vector<std::string>{"A mx1.example.net", "A mx2.example.net"});
}

TEST_CASE("mx resolver: with IPv6, AAAA is asked first and its addresses come first") {
  FakeDns dns;
  dns.setAddresses("mx1.example.net", DnsType::A, {"192.0.2.1"});
  dns.setAddresses("mx1.example.net", DnsType::Aaaa, {"2001:db8::1", "2001:db8::2"});
  dns.setAddresses("mx2.example.net", DnsType::A, {"192.0.2.2"});
  dns.set("mx2.example.net", DnsType::Aaaa, DnsResult{DnsStatus::NoData, "no data", {}});
  auto got = targetsOf(dns, {host("mx1.example.net"), host("mx2.example.net")}, {true, false});
  CHECK(addresses(got.targets) ==
        std::vector<std::string>{"mx1.example.net 2001:db8::1", "mx1.example.net 2001:db8::2",
                                 "mx1.example.net 192.0.2.1", "mx2.example.net 192.0.2.2"});
  CHECK(dns.asked == std::vector<std::string>{"AAAA mx1.example.net", "A mx1.example.net",
                                              "AAAA mx2.example.net", "A mx2.example.net"});
}

TEST_CASE("mx resolver: a host without an address is the error, unless it has IPv6 ones") {
  FakeDns dns;
  dns.set("gone.example.net", DnsType::A,
          DnsResult{DnsStatus::NxDomain, "Domain name not found", {}});
  dns.set("v6only.example.net", DnsType::A, DnsResult{DnsStatus::NoData, "no data", {}});
  dns.setAddresses("v6only.example.net", DnsType::Aaaa, {"2001:db8::6"});
  auto none = targetsOf(dns, {host("gone.example.net")}, {true, false});
  CHECK(none.targets.empty());
  CHECK(none.error == "MX gone.example.net: Domain name not found");
  auto v6 = targetsOf(dns, {host("gone.example.net"), host("v6only.example.net")}, {true, false});
  CHECK(addresses(v6.targets) == std::vector<std::string>{"v6only.example.net 2001:db8::6"});
  CHECK(v6.error == "MX gone.example.net: Domain name not found");
  auto later = targetsOf(dns, {host("v6only.example.net"), host("gone.example.net")}, {});
  CHECK(later.targets.empty());
  CHECK(later.error == "MX gone.example.net: Domain name not found");
}

TEST_CASE("mx resolver: local addresses are left out only when asked, and listed") {
  FakeDns dns;
  dns.setAddresses("mx.example.net", DnsType::A, {"127.0.0.1", "10.1.2.3", "192.0.2.1"});
  auto skipping = targetsOf(dns, {host("mx.example.net"), host("127.0.0.2")}, {false, true});
  CHECK(addresses(skipping.targets) == std::vector<std::string>{"mx.example.net 192.0.2.1"});
  CHECK(addresses(skipping.skipped) == std::vector<std::string>{"mx.example.net 127.0.0.1",
                                                                "mx.example.net 10.1.2.3",
                                                                "127.0.0.2 127.0.0.2"});
  auto keeping = targetsOf(dns, {host("mx.example.net")}, {false, false});
  CHECK(keeping.targets.size() == 3);
  CHECK(keeping.skipped.empty());
}

TEST_CASE("mx resolver: one question at a time, answered later, and none for no hosts") {
  FakeDns dns;
  dns.hold();
  dns.setAddresses("mx1.example.net", DnsType::A, {"192.0.2.1"});
  dns.setAddresses("mx2.example.net", DnsType::A, {"192.0.2.2"});
  std::optional<MxTargets> got;
  {
    MxResolver resolver(dns.lookup());
    resolver.lookupTargets({host("mx1.example.net"), host("mx2.example.net")}, {},
                           [&got](MxTargets t) { got = std::move(t); });
  } // the lookup outlives the resolver
  CHECK(dns.outstanding() == 1);
  dns.answerNext();
  CHECK_FALSE(got.has_value());
  CHECK(dns.outstanding() == 1);
  dns.answerNext();
  REQUIRE(got.has_value());
  CHECK(got->targets.size() == 2);

  std::optional<MxTargets> empty;
  MxResolver(dns.lookup()).lookupTargets({}, {}, [&empty](MxTargets t) { empty = std::move(t); });
  REQUIRE(empty.has_value());
  CHECK(empty->targets.empty());
  CHECK(empty->error.empty());
}

TEST_CASE("mx resolver: a next hop is an IP literal, localhost, its first A, else its first AAAA") {
  FakeDns dns;
  dns.setAddresses("relay.example.net", DnsType::A, {"192.0.2.1", "192.0.2.2"});
  dns.set("v6.example.net", DnsType::A, DnsResult{DnsStatus::NoData, "", {}});
  dns.setAddresses("v6.example.net", DnsType::Aaaa, {"2001:db8::1", "2001:db8::2"});
  CHECK(*nextHopOf(dns, "192.0.2.7") == "192.0.2.7");
  CHECK(*nextHopOf(dns, "::1") == "::1");
  CHECK(*nextHopOf(dns, "LocalHost") == "127.0.0.1");
  CHECK(dns.asked.empty());
  CHECK(*nextHopOf(dns, "relay.example.net") == "192.0.2.1");
  CHECK(dns.asked == std::vector<std::string>{"A relay.example.net"}); // no AAAA once A answers
  CHECK(*nextHopOf(dns, "v6.example.net") == "2001:db8::1");
}

TEST_CASE("mx resolver: a next hop without an address says why, the A lookup's reason first") {
  FakeDns dns;
  dns.set("gone.example.net", DnsType::A,
          DnsResult{DnsStatus::NxDomain, "Domain name not found", {}});
  dns.set("gone.example.net", DnsType::Aaaa, DnsResult{DnsStatus::NxDomain, "aaaa: not found", {}});
  dns.set("empty.example.net", DnsType::A, DnsResult{DnsStatus::Ok, "", {}});
  dns.set("empty.example.net", DnsType::Aaaa, DnsResult{DnsStatus::Ok, "", {}});
  dns.set("v4err.example.net", DnsType::A, DnsResult{DnsStatus::Ok, "", {}});
  dns.set("v4err.example.net", DnsType::Aaaa, DnsResult{DnsStatus::Timeout, "Timeout", {}});
  auto gone = nextHopOf(dns, "gone.example.net");
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error() == "Domain name not found");
  auto empty = nextHopOf(dns, "empty.example.net");
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error() == "no address");
  auto v4err = nextHopOf(dns, "v4err.example.net");
  REQUIRE_FALSE(v4err.ok());
  CHECK(v4err.error() == "Timeout");
}
