#include "plugins/dns-list/answer_errors.hpp"
#include "plugins/dns-list/query_name.hpp"

#include <doctest/doctest.h>

using namespace upesi::plugins::dns_list;

TEST_CASE("plugins/dns-list: IPv4 clients are asked by their reversed octets") {
  CHECK(queryName("192.0.2.1", "bl.example") == "1.2.0.192.bl.example");
  CHECK(queryName("127.0.0.2", "zen.test") == "2.0.0.127.zen.test");
  CHECK_FALSE(isIpv6Client("192.0.2.1"));
}

TEST_CASE("plugins/dns-list: IPv6 clients are asked by their 32 reversed nibbles") {
  CHECK(queryName("2001:db8::1", "bl.example") ==
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example");
  CHECK(queryName("2001:DB8:0:0:0:0:0:ABCD", "z") ==
        "d.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.z");
  CHECK(isIpv6Client("2001:db8::1"));
}

TEST_CASE("plugins/dns-list: an IPv4-mapped address is asked as IPv4; junk is not asked") {
  CHECK(queryName("::ffff:127.0.0.2", "bl.test") == "2.0.0.127.bl.test");
  CHECK(queryName("::FFFF:7F00:2", "bl.test") == "2.0.0.127.bl.test");
  CHECK_FALSE(isIpv6Client("::ffff:127.0.0.2"));
  CHECK_FALSE(queryName("", "bl.test"));
  CHECK_FALSE(queryName("localhost", "bl.test"));
  CHECK_FALSE(queryName("1.2.3.4.5", "bl.test"));
  CHECK_FALSE(queryName("1.2.3.4; rm", "bl.test"));
  CHECK_FALSE(queryName(std::string(300, '1'), "bl.test"));
}

TEST_CASE("plugins/dns-list: error answers are told from listings") {
  CHECK_FALSE(answerError({"127.0.0.2"}, false));
  CHECK_FALSE(answerError({"127.0.0.2", "127.0.0.10"}, false));
  CHECK_FALSE(answerError({"127.0.0.255"}, false)); // only an allow list's limit code
  CHECK(answerError({"127.0.0.255"}, true));
  CHECK(answerError({"127.255.255.254"}, false)->find("public resolver") != std::string::npos);
  CHECK(answerError({"127.255.255.252"}, false)->find("typo") != std::string::npos);
  CHECK(answerError({"127.255.255.255"}, false)->find("excessive") != std::string::npos);
  CHECK(answerError({"127.255.255.1"}, false));
  CHECK(answerError({"127.0.0.2", "127.255.255.254"}, false)); // any error code spoils it
  CHECK(answerError({"192.0.2.1"}, false)->find("outside 127") != std::string::npos);
}
