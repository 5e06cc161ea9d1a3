#include "worker/outbound/mx_spec.hpp"

#include <doctest/doctest.h>

using namespace upesi;
using namespace upesi::outbound;
using upesi::dns::MxHost;

TEST_CASE("mx spec: the forms a get_mx plugin may answer") {
  auto plain = parseMxSpec("mx.example.net");
  REQUIRE(plain.ok());
  CHECK(plain->exchange == "mx.example.net");
  CHECK(plain->port == 25);
  CHECK_FALSE(plain->using_lmtp);

  auto port = parseMxSpec("127.0.0.2:2525");
  REQUIRE(port.ok());
  CHECK(port->exchange == "127.0.0.2");
  CHECK(port->port == 2525);

  auto v6 = parseMxSpec("[::1]:2526");
  REQUIRE(v6.ok());
  CHECK(v6->exchange == "::1");
  CHECK(v6->port == 2526);

  auto lmtp = parseMxSpec("lmtp://127.0.0.3");
  REQUIRE(lmtp.ok());
  CHECK(lmtp->using_lmtp);
  CHECK(lmtp->port == 24);

  auto smart = parseMxSpec("smtp://user:s3cret@relay.example.net:587/");
  REQUIRE(smart.ok());
  CHECK(smart->auth_user == "user");
  CHECK(smart->auth_pass == "s3cret");
  CHECK(smart->exchange == "relay.example.net");
  CHECK(smart->port == 587);

  auto json = parseMxSpec(R"({"exchange": "10.1.1.1", "priority": 5, "port": 2600,
                               "bind": "127.0.0.9", "bind_helo": "out.example"})");
  REQUIRE(json.ok());
  CHECK(json->exchange == "10.1.1.1");
  CHECK(json->priority == 5);
  CHECK(json->port == 2600);
  CHECK(json->bind == "127.0.0.9");
  CHECK(json->bind_helo == "out.example");
}

TEST_CASE("mx spec: bind_ehlo, the name Haraka's Outbound.md gave, stands for bind_helo") {
  std::vector<std::string> warnings;
  auto ehlo = parseMxSpec(R"({"exchange": "mx.example", "bind_ehlo": "out.example"})", &warnings);
  REQUIRE(ehlo.ok());
  CHECK(ehlo->bind_helo == "out.example");
  CHECK(warnings.empty());
  auto same = parseMxSpec(R"({"exchange": "mx.example", "bind_ehlo": "a.example",
                              "bind_helo": "a.example"})",
                          &warnings);
  REQUIRE(same.ok());
  CHECK(warnings.empty());
  // Both, differing: bind_helo (what Haraka's code reads) wins, with a warning.
  auto both = parseMxSpec(R"({"exchange": "mx.example", "bind_ehlo": "a.example",
                              "bind_helo": "b.example"})",
                          &warnings);
  REQUIRE(both.ok());
  CHECK(both->bind_helo == "b.example");
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("bind_ehlo \"a.example\" and bind_helo \"b.example\" differ: using "
                         "bind_helo") != std::string::npos);
  CHECK_FALSE(parseMxSpec(R"({"exchange": "mx.example", "bind_ehlo": 5})").ok());
}

TEST_CASE("mx spec: errors") {
  for (const char* bad : {"", "host:0", "host:70000", "[::1", "[::1]x", "ftp://x", "{\"a\":1}",
                          "host:25x", "{not json", "[]", "[]:25", "smtp://u:p@[]:25",
                          "smtp://host/path", "smtp://host:25/x", "mx example.net", "a@b"}) {
    CAPTURE(bad);
    CHECK_FALSE(parseMxSpec(bad).ok());
  }
}

// A get_mx plugin's JSON is not trusted: a field of the wrong type threw out of nlohmann's
// value(), and a port past 65535 was cut to 16 bits (70000 became 4464).
TEST_CASE("mx spec: JSON fields of the wrong type or out of range are errors naming the field") {
  struct Case {
    const char* spec;
    const char* field;
  };
  for (const Case& bad : {
           Case{R"({"exchange": "mx.example", "port": "abc"})", "port"},
           Case{R"({"exchange": "mx.example", "port": "25"})", "port"},
           Case{R"({"exchange": "mx.example", "port": 70000})", "port"},
           Case{R"({"exchange": "mx.example", "port": 65536})", "port"},
           Case{R"({"exchange": "mx.example", "port": -1})", "port"},
           Case{R"({"exchange": "mx.example", "port": 0})", "port"},
           Case{R"({"exchange": "mx.example", "port": 25.5})", "port"},
           Case{R"({"exchange": "mx.example", "port": 1e300})", "port"},
           Case{R"({"exchange": "mx.example", "port": 18446744073709551615})", "port"},
           Case{R"({"exchange": "mx.example", "priority": []})", "priority"},
           Case{R"({"exchange": "mx.example", "priority": -5})", "priority"},
           Case{R"({"exchange": "mx.example", "priority": 4294967296})", "priority"},
           Case{R"({"exchange": "mx.example", "priority": 65536})", "priority"},
           Case{R"({"exchange": 42})", "exchange"},
           Case{R"({"exchange": ""})", "exchange"},
           Case{R"({"exchange": null})", "exchange"},
           Case{R"({"exchange": ["mx.example"]})", "exchange"},
           Case{R"({"exchange": "mx.example", "using_lmtp": "yes"})", "using_lmtp"},
           Case{R"({"exchange": "mx.example", "using_lmtp": 1})", "using_lmtp"},
           Case{R"({"exchange": "mx.example", "bind": 127})", "bind"},
           Case{R"({"exchange": "mx.example", "bind_helo": {}})", "bind_helo"},
           Case{R"({"exchange": "mx.example", "auth_user": true})", "auth_user"},
           Case{R"({"exchange": "mx.example", "auth_pass": 1234})", "auth_pass"},
           Case{R"({"exchange": "mx.example", "auth_type": ["plain"]})", "auth_type"},
           Case{R"({"exchange": "mx.example", "auth_required": "yes"})", "auth_required"},
       }) {
    const std::string spec = bad.spec;
    CAPTURE(spec);
    Result<MxHost> mx = Error{"not parsed"};
    REQUIRE_NOTHROW(mx = parseMxSpec(spec));
    REQUIRE_FALSE(mx.ok());
    CHECK(mx.error().find(bad.field) != std::string::npos);
  }
  for (const char* not_object : {"{\"exchange\": \"mx\"", "{} []", "{\"a\": 1}"}) {
    CAPTURE(not_object);
    CHECK_FALSE(parseMxSpec(not_object).ok());
  }
}

TEST_CASE("mx spec: JSON bounds and defaults") {
  auto high = parseMxSpec(R"({"exchange": "mx.example", "port": 65535, "priority": 65535})");
  REQUIRE(high.ok());
  CHECK(high->port == 65535);
  CHECK(high->priority == 65535);
  auto low = parseMxSpec(R"({"exchange": "mx.example", "port": 1, "priority": 0})");
  REQUIRE(low.ok());
  CHECK(low->port == 1);
  // null is as good as absent (a plugin writing out an object with unset fields)
  auto nulls = parseMxSpec(R"({"exchange": "mx.example", "port": null, "bind": null})");
  REQUIRE(nulls.ok());
  CHECK(nulls->port == 25);
  CHECK(nulls->bind.empty());
  auto lmtp = parseMxSpec(R"({"exchange": "mx.example", "using_lmtp": true})");
  REQUIRE(lmtp.ok());
  CHECK(lmtp->using_lmtp);
  CHECK(lmtp->port == 24);
  CHECK_FALSE(lmtp->auth_required); // AUTH, when asked, is skipped if the host offers none
  auto required = parseMxSpec(
      R"({"exchange": "mx.example", "auth_user": "u", "auth_pass": "p", "auth_required": true})");
  REQUIRE(required.ok());
  CHECK(required->auth_required);
}

// An error goes to the log: it names the answer, but never its password.
TEST_CASE("mx spec: errors show the user, not the password") {
  for (
      const char* bad : {
          "smtp://user:pw-Secret@relay.example:99999",
          "smtp://user:pw-Secret@relay.example:0/",
          "lmtp://user:pw-Secret@[::1",
          "smtp://user:pw-Secret@",
          "smtp://user:pw@Secret@relay.example:x",
          "ftp://user:pw-Secret@relay.example",
          "user:pw-Secret@relay.example",
          "  smtp://user:pw-Secret@relay.example:70000  ",
          R"({"exchange": "relay.example", "auth_user": "user", "auth_pass": "pw-Secret", "port": 0})",
          R"({"exchange": "relay.example", "auth_user": "user", "auth_pass": "pw-Secret", "bind": 1})",
          R"({"exchange": "", "auth_user": "user", "auth_pass": "pw-Secret"})",
          R"({"exchange": "relay.example", "auth_user": "user", "auth_pass": ["pw-Secret"]})",
          R"({"exchange": "relay.example", "auth_user": "user", "auth_\u0070ass": "pw-Secret", "port": 0})",
          R"({"exchange": "relay.example", "auth_user": "user", "auth_pass": "pw-Secret")",
          R"({"exchange": "relay.example", "auth_user": "user", "auth_\u0070ass": "pw-Secret")",
      }) {
    CAPTURE(bad);
    auto mx = parseMxSpec(bad);
    REQUIRE_FALSE(mx.ok());
    CAPTURE(mx.error());
    CHECK(mx.error().find("Secret") == std::string::npos);
    CHECK(mx.error().find("pw") == std::string::npos);
    const bool unshown_json = mx.error().find("not shown") != std::string::npos;
    CHECK((unshown_json || mx.error().find("user") != std::string::npos));
  }
  auto url = parseMxSpec("smtp://user:pw-Secret@relay.example:99999");
  REQUIRE_FALSE(url.ok());
  CHECK(url.error() == R"(MX "smtp://user:***@relay.example:99999": bad port)");
  auto json = parseMxSpec(R"({"exchange": "relay.example", "auth_pass": "pw-Secret", "port": 0})");
  REQUIRE_FALSE(json.ok());
  CHECK(
      json.error() ==
      R"(MX {"auth_pass":"***","exchange":"relay.example","port":0}: port must be from 1 to 65535)");
  // Without a password, all of it is shown; a control character is escaped.
  auto plain = parseMxSpec("relay.example:0\x01");
  REQUIRE_FALSE(plain.ok());
  CHECK(plain.error() == R"(MX "relay.example:0\x01": bad port)");
  CHECK(shownSpec("smtp://user@relay.example") == R"("smtp://user@relay.example")");
  CHECK(shownSpec("{\"exchange\": 1") == R"("{\"exchange\": 1")");
}
