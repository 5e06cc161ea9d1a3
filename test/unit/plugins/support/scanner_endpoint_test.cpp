#include "plugins/support/scanner_endpoint.hpp"

#include <doctest/doctest.h>

using namespace upesi::plugins;

TEST_CASE("scanner endpoint: Haraka's socket forms") {
  auto tcp = parseScannerEndpoint("127.0.0.1:7830", 783);
  REQUIRE(tcp);
  CHECK(tcp->host == "127.0.0.1");
  CHECK(tcp->port == 7830);
  CHECK(tcp->text() == "127.0.0.1:7830");

  auto bare = parseScannerEndpoint("localhost", 3310);
  REQUIRE(bare);
  CHECK(bare->port == 3310);

  auto v6 = parseScannerEndpoint("[::1]:99", 783);
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 99);
  CHECK(v6->text() == "[::1]:99");
  CHECK(parseScannerEndpoint("::1", 783)->host == "::1");
  CHECK(parseScannerEndpoint("[::1]", 783)->port == 783);

  auto path = parseScannerEndpoint("/run/clamav/clamd.ctl", 3310);
  REQUIRE(path);
  CHECK(path->isUnix());
  CHECK(path->text() == "/run/clamav/clamd.ctl");

  for (const char* bad : {"", "host:", "host:0", "host:65536", "host:12x", ":783", "[::1", "[]",
                          "[::1]x", "[::1]:"}) {
    CHECK_FALSE(parseScannerEndpoint(bad, 783));
  }
}

TEST_CASE("scanner endpoint list: commas, semicolons and spaces") {
  CHECK(splitScannerList("a:1, b:2;c  /x") == std::vector<std::string>{"a:1", "b:2", "c", "/x"});
  CHECK(splitScannerList(" ,; ").empty());
}
