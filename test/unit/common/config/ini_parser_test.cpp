#include "common/config/ini_parser.hpp"

#include <doctest/doctest.h>

#include <string>

using upesi::config::applyBooleanDefaults;
using upesi::config::isTruthy;
using upesi::config::parseBooleanDecls;
using upesi::config::parseIni;

TEST_CASE("ini: keys before any section go to [main]") {
  auto r = parseIni("a=1\nname = Matt Sergeant \n[job]\ntitle=Engineer\n", "t.ini", {});
  REQUIRE(r.ok());
  CHECK((*r)["main"]["a"] == 1);
  CHECK((*r)["main"]["name"] == "Matt Sergeant");
  CHECK((*r)["job"]["title"] == "Engineer");
}

TEST_CASE("ini: numbers are coerced, other values stay strings") {
  auto r = parseIni("i=-42\nf=3.25\ns=1.2.3\nbig=99999999999999999999\nz=0x10\n", "t.ini", {});
  REQUIRE(r.ok());
  const auto& m = (*r)["main"];
  CHECK(m["i"] == -42);
  CHECK(m["f"] == doctest::Approx(3.25));
  CHECK(m["s"] == "1.2.3");
  CHECK(m["big"].is_number_float());
  CHECK(m["z"] == "0x10");
}

TEST_CASE("ini: key[] builds an array") {
  auto r = parseIni("[h]\nhosts[]=a\nhosts[]=b\nhosts[]=3\n", "t.ini", {});
  REQUIRE(r.ok());
  auto hosts = (*r)["h"]["hosts"];
  REQUIRE(hosts.is_array());
  CHECK(hosts.size() == 3);
  CHECK(hosts[0] == "a");
  CHECK(hosts[2] == 3);
}

TEST_CASE("ini: comments, blank lines, CRLF and CR line ends") {
  auto r = parseIni("; comment\r\n# another\r\n\r\n  [s]  \r\nk=v\rk2=v2", "t.ini", {});
  REQUIRE(r.ok());
  CHECK((*r)["s"]["k"] == "v");
  CHECK((*r)["s"]["k2"] == "v2");
}

TEST_CASE("ini: no inline comments; the value keeps the text") {
  auto r = parseIni("k=a ; not a comment\n", "t.ini", {});
  REQUIRE(r.ok());
  CHECK((*r)["main"]["k"] == "a ; not a comment");
}

TEST_CASE("ini: trailing backslash continues a line") {
  auto r = parseIni("k=one \\\n two \\\n three\nnext=1\n", "t.ini", {});
  REQUIRE(r.ok());
  // As haraka-config: the backslash goes, the spaces around it stay.
  CHECK((*r)["main"]["k"] == "one  two  three");
  CHECK((*r)["main"]["next"] == 1);
}

TEST_CASE("ini: bare keys (list sections)") {
  auto r = parseIni("[no_tls_hosts]\n10.0.0.0/8\n::1\nhost.example.com\n", "t.ini", {});
  REQUIRE(r.ok());
  const auto& s = (*r)["no_tls_hosts"];
  CHECK(s.contains("10.0.0.0/8"));
  CHECK(s.contains("::1"));
  CHECK(s.contains("host.example.com"));
}

TEST_CASE("ini: declared booleans, with defaults applied after merging") {
  auto decls = parseBooleanDecls({"+main.enabled", "-main.strict", "*.flag", "tls.on"});
  auto r = parseIni("strict=yes\n[a]\nflag=off\n[b]\nflag=ENABLED\nother=true\n", "t.ini", decls);
  REQUIRE(r.ok());
  auto ini = *r;
  CHECK(ini["main"]["strict"] == true);
  CHECK(ini["a"]["flag"] == false);
  CHECK(ini["b"]["flag"] == true);
  CHECK(ini["b"]["other"] == "true"); // not declared: stays a string
  CHECK_FALSE(ini["main"].contains("enabled"));
  applyBooleanDefaults(ini, decls);
  CHECK(ini["main"]["enabled"] == true);
  CHECK(ini["main"]["strict"] == true); // set by the file: the default does not override it
  CHECK(ini["tls"]["on"] == false);
  CHECK_FALSE(ini["a"].contains("missing"));
}

TEST_CASE("ini: truth values as haraka-config reads them") {
  for (const char* t : {"true", "YES", "ok", "Enabled", "on", "1", " on "}) {
    CHECK(isTruthy(t));
  }
  for (const char* f : {"false", "no", "0", "off", "", "2", "yess"}) {
    CHECK_FALSE(isTruthy(f));
  }
}

TEST_CASE("ini: errors name the file and the line") {
  struct Case {
    const char* label;
    std::string text;
    const char* expect;
  };
  const Case cases[] = {
      {"junk line", "a=1\n\nthis is not ini\n", "t.ini:3:"},
      {"bad key chars", "[s]\nk!ey=1\n", "t.ini:2:"},
      {"NUL byte", std::string("a=1\nb=\0x\n", 9), "t.ini:2: NUL byte"},
      {"invalid UTF-8", "a=1\nb=\xff\xfe\n", "t.ini:2: invalid UTF-8"},
      {"overlong UTF-8", "a=\xc0\xaf\n", "t.ini:1: invalid UTF-8"},
      {"surrogate", "a=\xed\xa0\x80\n", "t.ini:1: invalid UTF-8"},
      {"space in key", "[s]\na b=1\n", "t.ini:2:"},
      {"continued junk", "a=1\nx \\\n y z\n", "t.ini:2:"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.label);
    auto r = parseIni(c.text, "t.ini", {});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find(c.expect) == 0);
  }
}

TEST_CASE("ini: empty input and UTF-8 values") {
  auto empty = parseIni("", "t.ini", {});
  REQUIRE(empty.ok());
  CHECK((*empty)["main"].empty());
  auto utf8 = parseIni("greeting=Habari, karibu \xe2\x9c\x89\n", "t.ini", {});
  REQUIRE(utf8.ok());
  CHECK((*utf8)["main"]["greeting"] == "Habari, karibu \xe2\x9c\x89");
}

TEST_CASE("ini: a huge file with long lines parses") {
  std::string text;
  for (int i = 0; i < 20000; ++i) {
    text += "[s" + std::to_string(i) + "]\nk=" + std::string(200, 'x') + "\n";
  }
  text += "long=" + std::string(1 << 20, 'y') + "\n";
  auto r = parseIni(text, "t.ini", {});
  REQUIRE(r.ok());
  CHECK((*r)["s19999"]["k"].get<std::string>().size() == 200);
  CHECK((*r)["s19999"]["long"].get<std::string>().size() == (1U << 20));
}

TEST_CASE("ini: binary garbage is an error, never a crash") {
  std::string garbage;
  unsigned int x = 12345;
  for (int i = 0; i < 4096; ++i) {
    x = x * 1103515245U + 12345U;
    garbage += static_cast<char>((x >> 16) & 0xFF);
  }
  auto r = parseIni(garbage, "g.ini", {});
  CHECK_FALSE(r.ok());
  CHECK(r.error().find("g.ini:") == 0);
}

// std::stod threw std::out_of_range past a double's range: the reader died on such a value.
// Seen while writing test/fuzz/config_ini, which replays it (regressions/config_ini).
TEST_CASE("ini: a number past a double's range stays text, never throws") {
  const std::string huge(400, '9');
  const std::string tiny = "0." + std::string(400, '0') + "1";
  auto r =
      parseIni("huge=" + huge + "\nneg=-" + huge + "\ntiny=" + tiny + "\nok=1e3\n", "t.ini", {});
  REQUIRE(r.ok());
  CHECK((*r)["main"]["huge"] == huge);
  CHECK((*r)["main"]["neg"] == "-" + huge);
  CHECK((*r)["main"]["tiny"] == tiny);
  CHECK((*r)["main"]["ok"] == "1e3");
}
