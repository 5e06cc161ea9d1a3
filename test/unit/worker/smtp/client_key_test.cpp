#include "worker/smtp/auth_failures.hpp"
#include "worker/smtp/client_key.hpp"

#include <doctest/doctest.h>

using upesi::smtp::AuthFailures;
using upesi::smtp::clientKey;

TEST_CASE("client key: IPv4 as it is, IPv6 by its network") {
  CHECK(clientKey("192.0.2.7", 64) == "192.0.2.7");
  CHECK(clientKey("::ffff:192.0.2.7", 64) == "192.0.2.7");
  CHECK(clientKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64) == "2001:db8:1:2::/64");
  // Every address of one /64 is one client; the next /64 is another.
  CHECK(clientKey("2001:db8:1:2::1", 64) == clientKey("2001:db8:1:2:ffff::9", 64));
  CHECK(clientKey("2001:db8:1:3::1", 64) != clientKey("2001:db8:1:2::1", 64));
  CHECK(clientKey("2001:db8:1:2:aaaa::1", 128) == "2001:db8:1:2:aaaa::1/128");
  CHECK(clientKey("2001:db8:ffff::", 33) == "2001:db8:8000::/33");
  CHECK(clientKey("not an address", 64) == "not an address");
  CHECK(clientKey("", 64).empty());
}

TEST_CASE("auth failures: attempts are counted when admitted, good ones forgiven") {
  AuthFailures failures(3, std::chrono::seconds(60));
  const auto now = AuthFailures::Clock::now();
  CHECK(failures.admit("a", now));
  CHECK(failures.admit("a", now));
  failures.forgive("a"); // the second had the right password
  CHECK(failures.admit("a", now));
  CHECK(failures.admit("a", now));
  CHECK_FALSE(failures.admit("a", now)); // three counted: blocked, and nothing more counted
  CHECK(failures.blocked("a", now));
  CHECK_FALSE(failures.blocked("b", now));
  CHECK_FALSE(failures.blocked("a", now + std::chrono::seconds(61)));
  failures.forgive("unknown"); // harmless
}
