#include "common/util/local_address.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <string>

using upesi::isNonPublicAddress;
using upesi::isThisHostAddress;

TEST_CASE("isNonPublicAddress: every address that reaches this host or a private network") {
  const char* local[] = {
      // IPv4: this network, private, shared (CGNAT), loopback, link-local, IETF, benchmarking,
      // multicast, reserved and broadcast.
      "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254",
      "127.0.0.1", "127.1.2.3", "169.254.1.1", "172.16.0.1", "172.31.255.255", "192.0.0.8",
      "192.168.1.1", "198.18.0.1", "198.19.255.255", "224.0.0.1", "239.255.255.250", "240.0.0.1",
      "255.255.255.255",
      // IPv6: unspecified, loopback, IPv4-compatible, IPv4-mapped / NAT64 / 6to4 forms of
      // local IPv4, discard, unique-local, link-local, site-local, multicast.
      "::", "::1", "::127.0.0.1", "::8.8.8.8", "::ffff:127.0.0.1", "::ffff:7f00:1",
      "::ffff:10.1.2.3", "::ffff:0.0.0.0", "::ffff:100.64.0.1", "64:ff9b::127.0.0.1",
      "64:ff9b::a00:1", "64:ff9b:1::1", "2002:7f00:1::1", "2002:c0a8:101::1", "100::1", "fc00::1",
      "fd12:3456::1", "fe80::1", "febf::1", "fec0::1", "ff02::1", "ff0e::1", "0:0:0:0:0:0:0:1",
      "[::1]", "::FFFF:127.0.0.1",
      // Not an address at all: never treated as a public destination.
      "", "example.com", "127.0.0.1.", "1.2.3", "::ffff:999.0.0.1"};
  for (const std::string ip : local) {
    CAPTURE(ip);
    CHECK(isNonPublicAddress(ip));
  }
  const char* global[] = {"8.8.8.8",         "1.1.1.1",        "100.63.255.255", "100.128.0.1",
                          "172.15.255.255",  "172.32.0.1",     "192.169.0.1",    "169.253.1.1",
                          "11.0.0.1",        "198.17.255.255", "198.20.0.1",     "223.255.255.255",
                          "2001:4860::8888", "2a00:1450::1",   "::ffff:8.8.8.8", "64:ff9b::808:808",
                          "2002:808:808::1", "fbff::1",        "fe7f::1",        "2606:4700::1111"};
  for (const std::string ip : global) {
    CAPTURE(ip);
    CHECK_FALSE(isNonPublicAddress(ip));
  }
}

TEST_CASE("isThisHostAddress: the addresses of this host's interfaces") {
  CHECK(isThisHostAddress("127.0.0.1"));
  CHECK_FALSE(isThisHostAddress("192.0.2.123"));
  CHECK_FALSE(isThisHostAddress("not an address"));
  ifaddrs* list = nullptr;
  REQUIRE(::getifaddrs(&list) == 0);
  for (ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_addr == nullptr || it->ifa_addr->sa_family != AF_INET) {
      continue;
    }
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(it->ifa_addr)->sin_addr, text,
                sizeof text);
    CAPTURE(text);
    CHECK(isThisHostAddress(text));
    CHECK(isThisHostAddress(std::string("::ffff:") + text));
  }
  ::freeifaddrs(list);
}
