#include "common/config/ini_parser.hpp"

#include <doctest/doctest.h>

using upesi::config::parseIni;

TEST_CASE("ini: implicit main section") {
  auto r = parseIni("a=1\n", "t.ini", {});
  REQUIRE(r.ok());
  CHECK((*r)["main"]["a"] == 1);
}
