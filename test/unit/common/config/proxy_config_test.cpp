#include "common/config/proxy_config.hpp"
#include "test/support/temp_dir.hpp"

#include <doctest/doctest.h>

using upesi::config::Config;
using upesi::config::readProxyTrust;
using upesi::test::TempDir;
using upesi::util::IpAddress;

namespace {

struct ProxyInstall {
  TempDir dir;
  Config config{dir.path() / "config", dir.path() / "defaults"};
  void write(std::string_view text) { dir.write("config/connection.ini", std::string(text)); }
};

bool proxyTrusts(const upesi::config::ProxyTrust& trust, const char* ip) {
  return trust.trusts(*IpAddress::parse(ip));
}

} // namespace

TEST_CASE("connection.ini [haproxy]: the hosts trusted to send a PROXY header") {
  ProxyInstall install;
  SUBCASE("no file, no section, an empty hosts[]: nobody") {
    auto none = readProxyTrust(install.config);
    REQUIRE(none.ok());
    CHECK(none->hosts.empty());
    ProxyInstall shipped;
    shipped.write("[haproxy]\nhosts[] =\n");
    auto empty = readProxyTrust(shipped.config);
    REQUIRE(empty.ok());
    CHECK(empty->hosts.empty());
  }
  SUBCASE("addresses and CIDRs, several per value") {
    install.write("[haproxy]\nhosts[]=192.0.2.4\nhosts[]=10.1.0.0/16, 2001:db8::/32\n");
    auto trust = readProxyTrust(install.config);
    REQUIRE(trust.ok());
    CHECK(trust->hosts.size() == 3);
    CHECK(proxyTrusts(*trust, "192.0.2.4"));
    CHECK_FALSE(proxyTrusts(*trust, "192.0.2.5"));
    CHECK(proxyTrusts(*trust, "10.1.200.3"));
    CHECK(proxyTrusts(*trust, "::ffff:10.1.0.9")); // a dual-stack listener's view of IPv4
    CHECK(proxyTrusts(*trust, "2001:db8:1::1"));
    CHECK_FALSE(proxyTrusts(*trust, "2001:db9::1"));
  }
  SUBCASE("a single hosts= value") {
    install.write("[haproxy]\nhosts=127.0.0.1\n");
    auto trust = readProxyTrust(install.config);
    REQUIRE(trust.ok());
    CHECK(proxyTrusts(*trust, "127.0.0.1"));
  }
  SUBCASE("enabled=false trusts nobody") {
    install.write("[haproxy]\nenabled=false\nhosts[]=127.0.0.1\n");
    auto trust = readProxyTrust(install.config);
    REQUIRE(trust.ok());
    CHECK(trust->hosts.empty());
  }
  SUBCASE("a value that is no address names file and line") {
    install.write("[haproxy]\n; the balancers\nhosts[]=127.0.0.1\nhosts[]=lb.example\n");
    auto trust = readProxyTrust(install.config);
    REQUIRE_FALSE(trust.ok());
    CHECK(trust.error().find("connection.ini:4") != std::string::npos);
    CHECK(trust.error().find("\"lb.example\" is not an address or a CIDR") != std::string::npos);
    ProxyInstall other;
    other.write("[haproxy]\nenabled=maybe\n");
    auto enabled = readProxyTrust(other.config);
    REQUIRE_FALSE(enabled.ok());
    CHECK(enabled.error().find("connection.ini:2: [haproxy] enabled must be true or false") !=
          std::string::npos);
  }
}
