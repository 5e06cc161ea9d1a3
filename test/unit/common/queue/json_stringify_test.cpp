// Expected bytes come from node 20: JSON.stringify(value, null, '\t') and Number#toString.
#include "common/queue/json_stringify.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

using nlohmann::ordered_json;
using upesi::queue::appendJsNumber;
using upesi::queue::jsonStringify;

namespace {

std::string number(double value) {
  std::string out;
  appendJsNumber(out, value);
  return out;
}

} // namespace

TEST_CASE("json stringify: doubles as JavaScript's Number#toString") {
  const std::vector<std::pair<double, std::string>> cases = {
      {0.0, "0"},
      {-0.0, "0"},
      {1.0, "1"},
      {-1.0, "-1"},
      {1.5, "1.5"},
      {0.1, "0.1"},
      {0.1 + 0.2, "0.30000000000000004"},
      {1.0 / 3, "0.3333333333333333"},
      {-2.0 / 3, "-0.6666666666666666"},
      {100.0, "100"},
      {1e20, "100000000000000000000"},
      {1e21, "1e+21"},
      {1.5e21, "1.5e+21"},
      {123456789012345680000.0, "123456789012345680000"},
      {1e-6, "0.000001"},
      {1e-7, "1e-7"},
      {1.2345e-7, "1.2345e-7"},
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {9007199254740992.0, "9007199254740992"},
      {9007199254740994.0, "9007199254740994"},
      {123.456, "123.456"},
      {0.000001234, "0.000001234"},
      {1e300, "1e+300"},
      {4.35, "4.35"},
      {0.5e-6, "5e-7"},
      {12345678.9, "12345678.9"},
      {1e100, "1e+100"},
      {-1e-10, "-1e-10"},
      {2.5e-8, "2.5e-8"},
  };
  for (const auto& [value, expected] : cases) {
    CAPTURE(expected);
    CHECK(number(value) == expected);
    CHECK(jsonStringify(ordered_json(value)) == expected);
  }
  CHECK(number(std::numeric_limits<double>::quiet_NaN()) == "null");
  CHECK(number(std::numeric_limits<double>::infinity()) == "null");
  CHECK(number(-std::numeric_limits<double>::infinity()) == "null");
}

TEST_CASE("json stringify: integers") {
  CHECK(jsonStringify(ordered_json(0)) == "0");
  CHECK(jsonStringify(ordered_json(-42)) == "-42");
  CHECK(jsonStringify(ordered_json(1795418587971)) == "1795418587971");
  CHECK(jsonStringify(ordered_json(std::numeric_limits<std::int64_t>::min())) ==
        "-9223372036854775808");
  // Beyond 2^53 we keep the exact value (JS would have rounded it when reading).
  CHECK(jsonStringify(ordered_json(std::numeric_limits<std::uint64_t>::max())) ==
        "18446744073709551615");
  // A parsed "5.0" is a double, and JS writes it as 5.
  CHECK(jsonStringify(ordered_json::parse("5.0")) == "5");
  CHECK(jsonStringify(ordered_json::parse("1E21")) == "1e+21");
}

TEST_CASE("json stringify: layout of containers") {
  const auto value = ordered_json::parse(R"({"a":[],"b":{},"c":[1,[2,{}],{"x":null}],"t":true})");
  CHECK(jsonStringify(value) == "{\n\t\"a\": [],\n\t\"b\": {},\n\t\"c\": [\n\t\t1,\n\t\t[\n\t\t\t2,"
                                "\n\t\t\t{}\n\t\t],\n\t\t{\n\t\t\t\"x\": null\n\t\t}\n\t],\n\t"
                                "\"t\": true\n}");
  CHECK(jsonStringify(ordered_json::array()) == "[]");
  CHECK(jsonStringify(ordered_json::object()) == "{}");
  CHECK(jsonStringify(ordered_json("x")) == "\"x\"");
  CHECK(jsonStringify(ordered_json(nullptr)) == "null");
  CHECK(jsonStringify(ordered_json(false)) == "false");
}

TEST_CASE("json stringify: key order is insertion order for ordered_json, sorted for json") {
  ordered_json ordered = ordered_json::object();
  ordered["zeta"] = 1;
  ordered["alpha"] = 2;
  CHECK(jsonStringify(ordered) == "{\n\t\"zeta\": 1,\n\t\"alpha\": 2\n}");
  nlohmann::json sorted = nlohmann::json::object();
  sorted["zeta"] = 1;
  sorted["alpha"] = 2;
  CHECK(jsonStringify(sorted) == "{\n\t\"alpha\": 2,\n\t\"zeta\": 1\n}");
}

TEST_CASE("json stringify: string escapes") {
  // "\u0000\u0007\b\f\n\r\t\u000b\u001f\u007f\u0080\u2028😀\"\\/"
  const std::string text = std::string("\x00\x07\b\f\n\r\t\x0b\x1f\x7f", 10) +
                           "\xC2\x80\xE2\x80\xA8\xF0\x9F\x98\x80\"\\/";
  const std::string expected = "\"\\u0000\\u0007\\b\\f\\n\\r\\t\\u000b\\u001f\x7f"
                               "\xC2\x80\xE2\x80\xA8\xF0\x9F\x98\x80\\\"\\\\/\"";
  CHECK(jsonStringify(ordered_json(text)) == expected);
  // Keys are escaped the same way.
  ordered_json object = ordered_json::object();
  object["a\"b\n"] = "caf\xC3\xA9";
  CHECK(jsonStringify(object) == "{\n\t\"a\\\"b\\n\": \"caf\xC3\xA9\"\n}");
}

TEST_CASE("json stringify: ill-formed UTF-8 becomes U+FFFD as Node decodes it") {
  // Buffer.from([0x61,0xe2,0x82,0x62,0xc0,0x80,0xed,0xa0,0x80,0xf4,0x90,0x80,0x80,0xf0,0x9f,
  // 0x98]).toString() is "a\ufffdb" followed by ten U+FFFD.
  const std::string bad = "a\xE2\x82"
                          "b\xC0\x80\xED\xA0\x80\xF4\x90\x80\x80\xF0\x9F\x98";
  std::string expected = "\"a\xEF\xBF\xBD"
                         "b";
  for (int i = 0; i < 10; ++i) {
    expected += "\xEF\xBF\xBD";
  }
  expected += '"';
  CHECK(jsonStringify(ordered_json(bad)) == expected);
  const std::string out = jsonStringify(ordered_json(bad));
  CHECK_FALSE(ordered_json::parse(out, nullptr, false).is_discarded());
  // Valid 4-byte sequences at the edges of the range pass through.
  CHECK(jsonStringify(ordered_json("\xF0\x90\x80\x80\xF4\x8F\xBF\xBF")) ==
        "\"\xF0\x90\x80\x80\xF4\x8F\xBF\xBF\"");
}

TEST_CASE("json stringify: binary as a Node Buffer") {
  ordered_json object = ordered_json::object();
  object["b"] = ordered_json::binary({1, 2});
  CHECK(jsonStringify(object) == "{\n\t\"b\": {\n\t\t\"type\": \"Buffer\",\n\t\t\"data\": "
                                 "[\n\t\t\t1,\n\t\t\t2\n\t\t]\n\t}\n}");
}

TEST_CASE("json stringify: output parses back to the same value") {
  const auto value = ordered_json::parse(
      R"({"n":[0,-1,1.5,0.1,1e21,123456789012,1e-7,2.5e-8],"s":"x\u0001y","o":{"k":[{}]}})");
  CHECK(ordered_json::parse(jsonStringify(value)) == value);
}
