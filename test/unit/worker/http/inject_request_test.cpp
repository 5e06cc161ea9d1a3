#include "worker/http/inject_request.hpp"

#include <doctest/doctest.h>

#include <string>

using upesi::worker::http::parseInjectRequest;

namespace {

std::string errorOf(std::string_view body, std::size_t max_recipients = 10) {
  auto parsed = parseInjectRequest(body, max_recipients);
  REQUIRE_FALSE(parsed.ok());
  return parsed.error();
}

bool mentions(const std::string& error, std::string_view what) {
  return error.find(what) != std::string::npos;
}

} // namespace

TEST_CASE("inject request: a whole message") {
  auto r = parseInjectRequest(R"({"from": "alice@example.org", "to": ["bob@Example.NET"],
                                  "message": "Subject: hi\n\nhello\n", "notes": {"k": 1}})",
                              10);
  REQUIRE(r.ok());
  CHECK(r->from.format() == "<alice@example.org>");
  REQUIRE(r->to.size() == 1);
  CHECK(r->to[0].host == "example.net");
  CHECK(r->message == "Subject: hi\n\nhello\n");
  CHECK(r->notes["k"] == 1);
}

TEST_CASE("inject request: the null sender, with or without brackets") {
  for (const char* from : {R"("")", R"("<>")"}) {
    auto r = parseInjectRequest(
        std::string(R"({"from": )") + from + R"(, "to": ["<b@x.example>"], "message": "x"})", 10);
    REQUIRE(r.ok());
    CHECK(r->from.is_null);
    CHECK(r->from.format() == "<>");
    CHECK(r->notes.is_object());
  }
}

TEST_CASE("inject request: headers and body, as an object or as pairs") {
  auto r = parseInjectRequest(R"({"from": "", "to": ["b@x.example"],
                                  "headers": {"Subject": "s", "X-A": "1"}, "body": "b\n"})",
                              10);
  REQUIRE(r.ok());
  CHECK(r->message == "Subject: s\r\nX-A: 1\r\n\r\nb\n");
  r = parseInjectRequest(R"({"from": "", "to": ["b@x.example"],
                             "headers": [["X-B", "2"], ["X-B", "3"]], "body": ""})",
                         10);
  REQUIRE(r.ok());
  CHECK(r->message == "X-B: 2\r\nX-B: 3\r\n\r\n"); // repeated fields keep their order
}

TEST_CASE("inject request: not JSON, not an object, unknown fields") {
  CHECK(mentions(errorOf(""), "not JSON"));
  CHECK(mentions(errorOf("{\"from\": "), "not JSON"));
  CHECK(mentions(errorOf("[1, 2]"), "JSON object"));
  CHECK(mentions(errorOf(R"({"from": "", "to": ["b@x.example"], "message": "x", "cc": []})"),
                 "unknown field \"cc\""));
  CHECK(mentions(errorOf("{\"from\": \"\xff\"}"), "not JSON")); // not UTF-8
}

TEST_CASE("inject request: missing or bad addresses") {
  CHECK(mentions(errorOf(R"({"to": ["b@x.example"], "message": "x"})"), "\"from\" is missing"));
  CHECK(mentions(errorOf(R"({"from": "", "message": "x"})"), "\"to\" is missing"));
  CHECK(mentions(errorOf(R"({"from": "", "to": [], "message": "x"})"), "non-empty array"));
  CHECK(mentions(errorOf(R"({"from": "", "to": "b@x.example", "message": "x"})"), "array"));
  CHECK(mentions(errorOf(R"({"from": 7, "to": ["b@x.example"], "message": "x"})"), "string"));
  CHECK(mentions(errorOf(R"({"from": "no at sign@", "to": ["b@x.example"], "message": "x"})"),
                 "\"from\" is not an address"));
  CHECK(mentions(errorOf(R"({"from": "", "to": ["b@x.example", "bad@@x"], "message": "x"})"),
                 "to[1]"));
  CHECK(mentions(errorOf(R"({"from": "", "to": ["postmaster"], "message": "x"})"), "no domain"));
  CHECK(mentions(errorOf(R"({"from": "", "to": ["b@x.example\r\nRCPT TO:<c@y>"], "message": "x"})"),
                 "to[0]"));
  CHECK(
      mentions(errorOf(R"({"from": "", "to": ["a@x.example", "b@x.example"], "message": "x"})", 1),
               "at most 1"));
}

TEST_CASE("inject request: message or headers and body, not both, not neither") {
  CHECK(mentions(errorOf(R"({"from": "", "to": ["b@x.example"]})"), "either"));
  CHECK(mentions(errorOf(R"({"from": "", "to": ["b@x.example"], "message": "x", "body": "y"})"),
                 "either"));
  CHECK(mentions(errorOf(R"({"from": "", "to": ["b@x.example"], "message": ""})"), "non-empty"));
  CHECK(mentions(errorOf(R"({"from": "", "to": ["b@x.example"], "message": 5})"), "non-empty"));
  CHECK(mentions(errorOf(R"({"from": "", "to": ["b@x.example"], "body": "y"})"), "together"));
  CHECK(mentions(errorOf(R"({"from": "", "to": ["b@x.example"], "headers": {}, "body": "y"})"),
                 "empty"));
  CHECK(mentions(errorOf(R"({"from": "", "to": ["b@x.example"], "headers": {"S": "s"},
                             "body": 1})"),
                 "\"body\" must be a string"));
}

TEST_CASE("inject request: header fields cannot smuggle lines") {
  auto base = [](std::string headers) {
    return R"({"from": "", "to": ["b@x.example"], "body": "", "headers": )" + headers + "}";
  };
  CHECK(mentions(errorOf(base(R"({"Subject": "a\r\nBcc: c@y.example"})")), "CR, LF or NUL"));
  CHECK(mentions(errorOf(base(R"({"Subject": "a\nb"})")), "CR, LF or NUL"));
  CHECK(mentions(errorOf(base(R"({"Subject": "a\u0000b"})")), "CR, LF or NUL"));
  CHECK(mentions(errorOf(base(R"({"Bad Name": "v"})")), "header name"));
  CHECK(mentions(errorOf(base(R"({"X:Y": "v"})")), "header name"));
  CHECK(mentions(errorOf(base(R"({"": "v"})")), "header name"));
  CHECK(mentions(errorOf(base(R"({"X-N": 5})")), "strings"));
  CHECK(mentions(errorOf(base(R"([["X-A"]])")), "pairs"));
  CHECK(mentions(errorOf(base(R"("Subject: x")")), "object or an array"));
}

TEST_CASE("inject request: notes must be an object") {
  CHECK(mentions(errorOf(R"({"from": "", "to": ["b@x.example"], "message": "x", "notes": [1]})"),
                 "\"notes\""));
  CHECK(mentions(errorOf(R"({"from": "", "to": ["b@x.example"], "message": "x", "notes": "n"})"),
                 "\"notes\""));
}
