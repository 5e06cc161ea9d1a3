#include "plugins/fcrdns/fcrdns_rules.hpp"
#include "plugins/support/host_names.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace upesi::plugins;
using namespace upesi::plugins::fcrdns;
using upesi::auth::PublicSuffixList;

namespace {

const PublicSuffixList& suffixes() {
  static const PublicSuffixList list = [] {
    auto parsed = PublicSuffixList::parse("com\nnet\nuk\nco.uk\n", "test.dat");
    REQUIRE(parsed.ok());
    return std::move(*parsed);
  }();
  return list;
}

} // namespace

TEST_CASE("plugins/support/host_names: the client's address in a name") {
  const auto& list = suffixes();
  // The last two octets, the first two, or the address in hex, in the host part only.
  CHECK(ipInHostName("67.171.0.90", "c-67-171-0-90.hsd1.wa.comcast.net", list));
  CHECK(ipInHostName("192.0.2.45", "host-2-45.example.net", list));
  CHECK(ipInHostName("192.0.2.45", "192-0.pool.example.com", list));
  CHECK(ipInHostName("192.0.2.45", "c000022d.cust.example.com", list));
  CHECK_FALSE(ipInHostName("192.0.2.45", "mail.example.com", list));
  // The domain and the TLD are not looked at.
  CHECK_FALSE(ipInHostName("192.0.2.45", "mail.isp245.com", list));
  CHECK_FALSE(ipInHostName("2001:db8::1", "host-2001-db8--1.example.com", list));
  CHECK_FALSE(ipInHostName("192.0.2.45", "", list));
  CHECK_FALSE(ipInHostName("192.0.2.45", "localhost", list));
  // An unknown TLD is part of the domain: only it is cut.
  CHECK(ipInHostName("127.0.0.3", "c-127-0-0-3.example", list));

  CHECK(knownOrganizationalDomain(list, "mail.Example.com") == "example.com");
  CHECK(knownOrganizationalDomain(list, "a.b.example.co.uk") == "example.co.uk");
  CHECK(knownOrganizationalDomain(list, "co.uk").empty());
  CHECK(knownOrganizationalDomain(list, "host.invalid").empty());

  CHECK(sameIpv4Slash24("192.0.2.1", "192.0.2.200"));
  CHECK_FALSE(sameIpv4Slash24("192.0.2.1", "192.0.3.1"));
  CHECK_FALSE(sameIpv4Slash24("2001:db8::1", "2001:db8::2"));
}

TEST_CASE("plugins/fcrdns: generic rDNS names") {
  const auto& list = suffixes();
  auto dynamic = genericRdns("67.171.0.90", "c-67-171-0-90.hsd1.wa.comcast.net", list);
  CHECK(dynamic.ip_in_name);
  CHECK(dynamic.generic);
  // Leading labels saying static or business excuse it.
  auto fixed = genericRdns("192.0.2.45", "static-2-45.example.net", list);
  CHECK(fixed.ip_in_name);
  CHECK_FALSE(fixed.generic);
  CHECK_FALSE(genericRdns("192.0.2.45", "business-2-45.example.net", list).generic);
  auto plain = genericRdns("192.0.2.45", "mail.example.net", list);
  CHECK_FALSE(plain.ip_in_name);
  CHECK_FALSE(plain.generic);
  // No organizational domain: nothing to excuse it by, Haraka lets it be.
  CHECK_FALSE(genericRdns("192.0.2.45", "2-45.host.invalid", list).generic);
}

TEST_CASE("plugins/fcrdns: forward addresses against the client") {
  CHECK(comparePtrAddresses("192.0.2.1", {"198.51.100.1", "192.0.2.1"}) == PtrMatch::Exact);
  CHECK(comparePtrAddresses("192.0.2.1", {"192.0.2.77"}) == PtrMatch::Network);
  CHECK(comparePtrAddresses("192.0.2.1", {"198.51.100.1"}) == PtrMatch::None);
  CHECK(comparePtrAddresses("192.0.2.1", {}) == PtrMatch::None);
  CHECK(comparePtrAddresses("2001:db8::1", {"2001:db8::1"}) == PtrMatch::Exact);
  CHECK(comparePtrAddresses("2001:db8::1", {"2001:db8::2"}) == PtrMatch::None);

  CHECK(reverseName("192.0.2.1") == "1.2.0.192.in-addr.arpa");
  CHECK(reverseName("2001:db8::1") ==
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
  CHECK(reverseName("nonsense").empty());
}
