#include "worker/outbound/plugin_delay.hpp"

#include <doctest/doctest.h>

using upesi::outbound::MaxPluginDelaySeconds;
using upesi::outbound::parsePluginDelay;

TEST_CASE("a plugin's delay: whole seconds, blanks allowed, long ones capped") {
  CHECK(parsePluginDelay({"300"}) == 300u);
  CHECK(parsePluginDelay({" 7 ", "second line ignored"}) == 7u);
  CHECK(parsePluginDelay({"0"}) == 0u);
  CHECK(parsePluginDelay({"999999999"}) == MaxPluginDelaySeconds);
  CHECK(parsePluginDelay({"99999999999999999999999"}) == MaxPluginDelaySeconds);
}

TEST_CASE("a plugin's delay that is no number of seconds is refused, never read as 0") {
  for (const char* bad : {"", "  ", "5m", "-5", "+5", "1.5", "abc", "0x10", "5 s"}) {
    CHECK_FALSE(parsePluginDelay({bad}).has_value());
  }
  CHECK_FALSE(parsePluginDelay({}).has_value());
}
