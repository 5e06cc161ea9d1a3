#include "common/config/formats.hpp"
#include "common/config/text_checks.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

using upesi::config::ConfigType;
using upesi::config::deepMerge;
using upesi::config::inferConfigType;
using upesi::config::parseConfig;

TEST_CASE("value: first non-comment line, numbers coerced") {
  auto v = parseConfig(ConfigType::Value, "# comment\n\n  mx.example.com  \nsecond\n", "me");
  REQUIRE(v.ok());
  CHECK(*v == "mx.example.com");
  auto n = parseConfig(ConfigType::Value, "30\n", "plugin_timeout");
  REQUIRE(n.ok());
  CHECK(*n == 30);
  auto empty = parseConfig(ConfigType::Value, "", "me");
  REQUIRE(empty.ok());
  CHECK(empty->is_null());
}

TEST_CASE("list: trimmed lines without comments and blanks; data keeps everything") {
  const char* text = "# domains\nexample.com\n\n  example.org \r\n# end\n";
  auto list = parseConfig(ConfigType::List, text, "host_list");
  REQUIRE(list.ok());
  CHECK(*list == nlohmann::json::array({"example.com", "example.org"}));
  auto data = parseConfig(ConfigType::Data, text, "host_list");
  REQUIRE(data.ok());
  CHECK(data->size() == 5);
  CHECK((*data)[0] == "# domains");
  CHECK((*data)[3] == "  example.org ");
}

TEST_CASE("flat files: NUL bytes and invalid UTF-8 are errors with a line") {
  auto nul = parseConfig(ConfigType::List, std::string("a\nb\0c\n", 6), "host_list");
  REQUIRE_FALSE(nul.ok());
  CHECK(nul.error() == "host_list:2: NUL byte in a text file");
  auto latin1 = parseConfig(ConfigType::Value, "caf\xe9\n", "me");
  REQUIRE_FALSE(latin1.ok());
  CHECK(latin1.error() == "me:1: invalid UTF-8");
}

TEST_CASE("json: parsed; errors carry the line") {
  auto ok = parseConfig(ConfigType::Json, R"({"a": {"b": [1, 2]}})", "x.json");
  REQUIRE(ok.ok());
  CHECK((*ok)["a"]["b"][1] == 2);
  auto bad = parseConfig(ConfigType::Json, "{\n  \"a\": 1,\n  \"b\": \n}\n", "x.json");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("x.json:4:") == 0);
  auto empty = parseConfig(ConfigType::Json, "  \n", "x.json");
  REQUIRE(empty.ok());
  CHECK(empty->is_object());
  auto garbage = parseConfig(ConfigType::Json, "\x89PNG\r\n\x1a\n\0\0", "x.json");
  CHECK_FALSE(garbage.ok());
}

TEST_CASE("yaml: maps, lists, scalars; errors carry the line") {
  auto ok = parseConfig(ConfigType::Yaml,
                        "main:\n  nodes: 4\n  name: mx\n  quoted: \"12\"\n  on: true\n"
                        "list:\n  - a\n  - 2.5\n",
                        "x.yaml");
  REQUIRE(ok.ok());
  CHECK((*ok)["main"]["nodes"] == 4);
  CHECK((*ok)["main"]["name"] == "mx");
  CHECK((*ok)["main"]["quoted"] == "12");
  CHECK((*ok)["main"]["on"] == true);
  CHECK((*ok)["list"][1] == doctest::Approx(2.5));
  auto bad = parseConfig(ConfigType::Yaml, "a: 1\nb: [1, 2\nc: 3\n", "x.yaml");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("x.yaml:") == 0);
  auto nul = parseConfig(ConfigType::Yaml, std::string("a: 1\nb: \0\n", 10), "x.yaml");
  REQUIRE_FALSE(nul.ok());
  CHECK(nul.error().find("x.yaml:2: NUL") == 0);
  std::string deep(100000, '[');
  CHECK_FALSE(parseConfig(ConfigType::Yaml, deep, "deep.yaml").ok());
}

// Found by test/fuzz/config_json: a number past a double's range threw out_of_range, which the
// reader did not catch.
TEST_CASE("json: a number out of range is an error, never a throw") {
  auto r = parseConfig(ConfigType::Json, "{\"a\": [0, 21e308]}", "x.json");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("x.json:") == 0);
  CHECK(r.error().find("21e308") != std::string::npos);
}

// Found by test/fuzz/config_yaml: an alias inside the node it names made the conversion recurse
// until the stack ran out; aliases of aliases can make a small file expand without bound.
TEST_CASE("yaml: a cyclic alias and an alias bomb are errors") {
  auto cycle = parseConfig(ConfigType::Yaml, "base: &b\n  x: 0\n  y: *b\n", "x.yaml");
  REQUIRE_FALSE(cycle.ok());
  CHECK(cycle.error().find("x.yaml:") == 0);
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'j'; ++c) { // j: 10^10 nodes
    const std::string alias = std::string("*") + static_cast<char>(c - 1);
    bomb += fmt::format("{0}: &{0} [{1}, {1}, {1}, {1}, {1}, {1}, {1}, {1}, {1}, {1}]\n", c, alias);
  }
  auto expanded = parseConfig(ConfigType::Yaml, bomb, "bomb.yaml");
  REQUIRE_FALSE(expanded.ok());
  CHECK(expanded.error().find("bomb.yaml:") == 0);
  auto shared = parseConfig(ConfigType::Yaml, "a: &a {k: v}\nb: *a\nc: [*a, *a]\n", "x.yaml");
  REQUIRE(shared.ok());
  CHECK((*shared)["c"][1]["k"] == "v");
}

// Found by test/fuzz/config_flat: values were coerced by parsing "v=<value>" as ini, so a
// trailing backslash was taken for a continuation and a line break ended the value.
TEST_CASE("value and yaml scalars: only numbers are coerced, the text is kept") {
  auto backslash = parseConfig(ConfigType::Value, "# comment\nC:\\dir\\\n", "me");
  REQUIRE(backslash.ok());
  CHECK(*backslash == "C:\\dir\\");
  auto lone = parseConfig(ConfigType::Value, "\\ \n", "me");
  REQUIRE(lone.ok());
  CHECK(*lone == "\\");
  auto lines = parseConfig(ConfigType::Yaml, "k: first\n\n  [second]\nn: 12\n", "x.yaml");
  REQUIRE(lines.ok());
  CHECK((*lines)["k"] == "first\n[second]");
  CHECK((*lines)["n"] == 12);
}

// Found by test/fuzz/config_yaml: yaml-cpp decodes the escapes \_ and \N to single Latin-1 bytes,
// which left a value that is not UTF-8 (and that nlohmann::json refuses to write out).
TEST_CASE("yaml: the escapes for U+00A0 and U+0085 read as UTF-8, in keys and values") {
  auto escaped = parseConfig(ConfigType::Yaml, "\"a\\_b\": \"x\\_y\\Nz \\L\"\n", "x.yaml");
  REQUIRE(escaped.ok());
  REQUIRE(escaped->contains("a\u00a0b"));
  CHECK((*escaped)["a\u00a0b"] == "x\u00a0y\u0085z \u2028");
  CHECK_NOTHROW((void)escaped->dump());
  auto plain = parseConfig(ConfigType::Yaml, "k: \"caf\u00e9 \\xe9\"\n", "x.yaml");
  REQUIRE(plain.ok());
  CHECK((*plain)["k"] == "caf\u00e9 \u00e9");
}

// The readers copy and merge recursively: 300000 nested arrays overflowed the stack there (seen
// by running the config_json fuzz target on a crafted file; its own inputs stay too small).
TEST_CASE("json: nesting past 512 levels is an error") {
  const std::string deep = "{\"a\": " + std::string(300000, '[') + std::string(300000, ']') + "}";
  auto r = parseConfig(ConfigType::Json, deep, "deep.json");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == "deep.json: nested deeper than 512 levels");
  const std::string fine = std::string(500, '[') + std::string(500, ']');
  CHECK(parseConfig(ConfigType::Json, fine, "fine.json").ok());
}

TEST_CASE("binary: bytes kept exactly") {
  std::string bytes("\0\xff\r\n", 4);
  auto b = parseConfig(ConfigType::Binary, bytes, "key.der");
  REQUIRE(b.ok());
  REQUIRE(b->is_binary());
  CHECK(b->get_binary().size() == 4);
  CHECK(b->get_binary()[1] == 0xff);
}

TEST_CASE("a file over the size cap is refused") {
  std::string huge(upesi::config::MaxConfigFileBytes + 1, 'a');
  auto r = parseConfig(ConfigType::List, huge, "big");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("big: file is larger") == 0);
}

TEST_CASE("type from the extension") {
  CHECK((inferConfigType("smtp.ini") == ConfigType::Ini));
  CHECK((inferConfigType("a.json") == ConfigType::Json));
  CHECK((inferConfigType("a.yaml") == ConfigType::Yaml));
  CHECK((inferConfigType("a.yml") == ConfigType::Yaml));
  CHECK((inferConfigType("host_list") == ConfigType::Value));
}

TEST_CASE("deep merge: objects key by key, other values replaced") {
  auto base = nlohmann::json::parse(R"({"main": {"a": 1, "b": 2}, "arr": [1, 2], "s": {"x": 1}})");
  deepMerge(base, nlohmann::json::parse(R"({"main": {"b": 3, "c": 4}, "arr": [9], "t": 1})"));
  CHECK(base["main"]["a"] == 1);
  CHECK(base["main"]["b"] == 3);
  CHECK(base["main"]["c"] == 4);
  CHECK(base["arr"] == nlohmann::json::array({9}));
  CHECK(base["s"]["x"] == 1);
  CHECK(base["t"] == 1);
}
