#include "common/config/http_config.hpp"
#include "test/support/temp_dir.hpp"

#include <doctest/doctest.h>

using upesi::config::Config;
using upesi::config::readHttpConfig;
using upesi::test::TempDir;

TEST_CASE("http.ini: no listen means no server; the defaults allow loopback only") {
  TempDir dir;
  dir.write("install/config/http.ini", "[main]\n");
  Config config(dir.path() / "install/config", dir.path() / "defaults");
  auto http = readHttpConfig(config);
  REQUIRE(http.ok());
  CHECK(http->listen.empty());
  CHECK(http->token.empty());
  CHECK_FALSE(http->tls);
  CHECK(http->metrics);
  auto ip = [](const char* text) { return *upesi::util::IpAddress::parse(text); };
  auto allowed = [&](const char* text) {
    for (const auto& cidr : http->allow) {
      if (cidr.contains(ip(text))) {
        return true;
      }
    }
    return false;
  };
  CHECK(allowed("127.0.0.1"));
  CHECK(allowed("127.9.8.7"));
  CHECK(allowed("::1"));
  CHECK(allowed("::ffff:127.0.0.1"));
  CHECK_FALSE(allowed("192.0.2.1"));
  CHECK_FALSE(allowed("2001:db8::1"));
}

TEST_CASE("http.ini: listeners, networks, token and limits are read") {
  TempDir dir;
  dir.write("install/config/http.ini",
            "[main]\nlisten=127.0.0.1:8080, [::1]:8443\nallow=10.0.0.0/8 192.0.2.7\n"
            "token=abc.DEF-123\ntls=true\nmetrics=false\nmax_body=2048\nidle_timeout=5\n");
  Config config(dir.path() / "install/config", dir.path() / "defaults");
  auto http = readHttpConfig(config);
  REQUIRE(http.ok());
  REQUIRE(http->listen.size() == 2);
  CHECK(http->listen[1].toString() == "[::1]:8443");
  CHECK(http->allow.size() == 2);
  CHECK(http->token == "abc.DEF-123");
  CHECK(http->tls);
  CHECK_FALSE(http->metrics);
  CHECK(http->max_body == 2048);
  CHECK(http->idle_timeout_s == 5);
}

TEST_CASE("http.ini: errors name the file and line") {
  const std::pair<const char*, const char*> cases[] = {
      {"[main]\nlisten=127.0.0.1:99999\n", "http.ini:2"},
      {"[main]\n\nallow=127.0.0.1, 300.1.1.1\n", "http.ini:3"},
      {"[main]\ntoken=has space\n", "http.ini:2"},
      {"[main]\nmax_body=-1\n", "http.ini:2"},
      {"[main]\nrequest_timeout=0\n", "http.ini:2"},
  };
  for (const auto& [text, where] : cases) {
    CAPTURE(text);
    TempDir dir;
    dir.write("install/config/http.ini", text);
    Config config(dir.path() / "install/config", dir.path() / "defaults");
    auto http = readHttpConfig(config);
    REQUIRE_FALSE(http.ok());
    CHECK(http.error().find(where) != std::string::npos);
  }
}
