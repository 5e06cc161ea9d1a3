#include "common/http/request_parser.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace upesi::http;
using ParseResult = RequestParser::Result;

namespace {

// Feeds `bytes` whole, or `step` bytes at a time, and returns what the parser ended with.
ParseResult feedAll(RequestParser& parser, std::string_view bytes, std::size_t step = 0) {
  ParseResult result = ParseResult::NeedMore;
  std::size_t offset = 0;
  while (offset < bytes.size()) {
    const std::size_t length = step == 0 ? bytes.size() - offset : step;
    std::size_t consumed = 0;
    result = parser.feed(bytes.substr(offset, length), consumed);
    offset += consumed;
    if (result != ParseResult::NeedMore) {
      return result;
    }
  }
  return result;
}

} // namespace

TEST_CASE("http: a GET, whole or a byte at a time, gives the same request") {
  const std::string text = "GET /metrics?name=upesi HTTP/1.1\r\nHost: localhost\r\n"
                           "Authorization: Bearer s3cret\r\n\r\n";
  for (std::size_t step : {std::size_t{0}, std::size_t{1}, std::size_t{7}}) {
    CAPTURE(step);
    RequestParser parser;
    REQUIRE(feedAll(parser, text, step) == ParseResult::Complete);
    const Request request = parser.take();
    CHECK(request.method == "GET");
    CHECK(request.target == "/metrics?name=upesi");
    CHECK(request.path() == "/metrics");
    CHECK(request.query() == "name=upesi");
    CHECK(request.version_minor == 1);
    CHECK(request.keep_alive);
    CHECK_FALSE(request.upgrade);
    REQUIRE(request.headers.size() == 2);
    REQUIRE(request.header("authorization") != nullptr);
    CHECK(*request.header("AUTHORIZATION") == "Bearer s3cret");
    CHECK(request.header("Cookie") == nullptr);
    CHECK(request.body.empty());
  }
}

TEST_CASE("http: pipelined requests come out one at a time") {
  const std::string text = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                           "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                           "GET /c HTTP/1.1\r\n";
  RequestParser parser;
  std::size_t consumed = 0;
  std::string_view rest = text;
  REQUIRE(parser.feed(rest, consumed) == ParseResult::Complete);
  CHECK(parser.take().target == "/a");
  rest.remove_prefix(consumed);
  CHECK(rest.starts_with("POST /b"));
  REQUIRE(parser.feed(rest, consumed) == ParseResult::Complete);
  const Request post = parser.take();
  CHECK(post.method == "POST");
  CHECK(post.body == "hello");
  rest.remove_prefix(consumed);
  CHECK(rest == "GET /c HTTP/1.1\r\n");
  CHECK(parser.feed(rest, consumed) == ParseResult::NeedMore);
  CHECK(consumed == rest.size());
  CHECK(parser.inRequest());
}

TEST_CASE("http: a chunked body is decoded") {
  RequestParser parser;
  REQUIRE(feedAll(parser,
                  "POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                  3) == ParseResult::Complete);
  CHECK(parser.take().body == "hello world");
}

TEST_CASE("http: HTTP/1.0 and Connection: close are not kept alive") {
  RequestParser old;
  REQUIRE(feedAll(old, "GET / HTTP/1.0\r\n\r\n") == ParseResult::Complete);
  CHECK_FALSE(old.take().keep_alive);
  RequestParser closing;
  REQUIRE(feedAll(closing, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n") == ParseResult::Complete);
  CHECK_FALSE(closing.take().keep_alive);
}

TEST_CASE("http: a websocket upgrade stops at the end of its request") {
  const std::string text = "GET /watch/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                           "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
  const std::string frame = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
  RequestParser parser;
  std::size_t consumed = 0;
  REQUIRE(parser.feed(text + frame, consumed) == ParseResult::Complete);
  CHECK(consumed == text.size()); // the frame is the websocket's
  const Request request = parser.take();
  CHECK(request.upgrade);
  CHECK(*request.header("upgrade") == "websocket");
}

TEST_CASE("http: past a limit, the status to answer") {
  RequestLimits limits;
  limits.max_target = 64;
  limits.max_header_bytes = 256;
  limits.max_headers = 4;
  limits.max_body = 16;

  SUBCASE("a long target: 414") {
    RequestParser parser(limits);
    CHECK(feedAll(parser, "GET /" + std::string(100, 'a') + " HTTP/1.1\r\n\r\n", 10) ==
          ParseResult::Failed);
    CHECK(parser.failure().status == 414);
  }
  SUBCASE("long header fields: 431") {
    RequestParser parser(limits);
    CHECK(feedAll(parser, "GET / HTTP/1.1\r\nX-Big: " + std::string(300, 'v') + "\r\n\r\n", 9) ==
          ParseResult::Failed);
    CHECK(parser.failure().status == 431);
  }
  SUBCASE("too many header fields: 431") {
    RequestParser parser(limits);
    CHECK(feedAll(parser, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n") ==
          ParseResult::Failed);
    CHECK(parser.failure().status == 431);
  }
  SUBCASE("a Content-Length past the limit: 413 before the body arrives") {
    RequestParser parser(limits);
    CHECK(feedAll(parser, "POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n") == ParseResult::Failed);
    CHECK(parser.failure().status == 413);
  }
  SUBCASE("a chunked body past the limit: 413") {
    RequestParser parser(limits);
    CHECK(feedAll(parser,
                  "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n",
                  4) == ParseResult::Failed);
    CHECK(parser.failure().status == 413);
  }
}

TEST_CASE("http: what is not HTTP, or smuggles a request, is a 400 and stays one") {
  for (const std::string& text : {
           std::string("HELO client.example\r\n"),
           std::string("GET / HTTP/1.1\r\nHost : x\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nBad\x01Name: x\r\n\r\n"),
           std::string("GET / HTTP/1.1\nHost: x\n\n"),
           // Content-Length with Transfer-Encoding: a request smuggled past a proxy.
           std::string("POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "0\r\n\r\n"),
           std::string("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
       }) {
    CAPTURE(text);
    RequestParser parser;
    REQUIRE(feedAll(parser, text) == ParseResult::Failed);
    CHECK(parser.failure().status == 400);
    CHECK_FALSE(parser.failure().reason.empty());
    std::size_t consumed = 1;
    CHECK(parser.feed("GET / HTTP/1.1\r\n\r\n", consumed) == ParseResult::Failed);
    CHECK(consumed == 0);
  }
}
