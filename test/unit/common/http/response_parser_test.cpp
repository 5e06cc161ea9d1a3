// The HTTP response parser fed by hand: lengths, chunks, interim replies, bodies to EOF, and
// hostile input past each limit.
#include "common/http/response_parser.hpp"

#include <doctest/doctest.h>

#include <string>

using upesi::http::ResponseLimits;
using upesi::http::ResponseParser;
using Result = ResponseParser::Result;

TEST_CASE("response parser: status, fields and a Content-Length body, a byte at a time") {
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                           "X-Two: a\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
  ResponseParser parser;
  for (std::size_t i = 0; i + 1 < wire.size(); ++i) {
    REQUIRE(parser.feed(wire.substr(i, 1)) == Result::NeedMore);
  }
  REQUIRE(parser.feed(wire.substr(wire.size() - 1)) == Result::Complete);
  auto response = parser.take();
  CHECK(response.status == 200);
  CHECK(response.reason == "OK");
  REQUIRE(response.header("content-type") != nullptr);
  CHECK(*response.header("content-type") == "application/json");
  CHECK(response.headers.size() == 3);
  CHECK(response.body == "{\"a\":1}");
  CHECK(response.header("missing") == nullptr);
}

TEST_CASE("response parser: a chunked body is decoded; 100 Continue is skipped") {
  ResponseParser parser;
  CHECK(parser.feed("HTTP/1.1 100 Continue\r\n\r\n") == Result::NeedMore);
  CHECK(parser.feed("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n") ==
        Result::NeedMore);
  CHECK(parser.feed("3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n") == Result::Complete);
  auto response = parser.take();
  CHECK(response.status == 201);
  CHECK(response.body == "abcdefg");
}

TEST_CASE("response parser: a body without a length ends with the connection") {
  ResponseParser parser;
  CHECK(parser.feed("HTTP/1.1 200 OK\r\n\r\nsome ") == Result::NeedMore);
  CHECK(parser.feed("text") == Result::NeedMore);
  CHECK(parser.finish() == Result::Complete);
  CHECK(parser.take().body == "some text");
}

TEST_CASE("response parser: a response cut short fails at EOF") {
  ResponseParser cut;
  CHECK(cut.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc") == Result::NeedMore);
  CHECK(cut.finish() == Result::Failed);
  CHECK(cut.error().find("before the response ended") != std::string::npos);
  ResponseParser nothing;
  CHECK(nothing.finish() == Result::Failed);
  CHECK(nothing.error().find("before a response") != std::string::npos);
}

TEST_CASE("response parser: garbage and limits fail, and stay failed") {
  ResponseParser garbage;
  CHECK(garbage.feed("SSH-2.0-OpenSSH\r\n") == Result::Failed);
  CHECK(garbage.feed("HTTP/1.1 200 OK\r\n\r\n") == Result::Failed);
  CHECK_FALSE(garbage.error().empty());

  ResponseLimits small;
  small.max_body = 4;
  ResponseParser announced(small);
  CHECK(announced.feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n") == Result::Failed);
  CHECK(announced.error() == "body longer than 4 bytes");
  ResponseParser chunked(small);
  CHECK(chunked.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n") ==
        Result::NeedMore);
  CHECK(chunked.feed("3\r\ndef\r\n") == Result::Failed);
  ResponseParser endless(small);
  CHECK(endless.feed("HTTP/1.1 200 OK\r\n\r\nabcdef") == Result::Failed);

  small.max_headers = 2;
  ResponseParser many(small);
  CHECK(many.feed("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n") == Result::Failed);
  CHECK(many.error() == "more than 2 header fields");

  small.max_header_bytes = 16;
  ResponseParser longer(small);
  CHECK(longer.feed("HTTP/1.1 200 OK\r\nX-Long: " + std::string(40, 'x')) == Result::Failed);
  CHECK(longer.error().find("header longer") != std::string::npos);

  ResponseParser bare_lf;
  CHECK(bare_lf.feed("HTTP/1.1 200 OK\nContent-Length: 0\n\n") == Result::Failed);
}

TEST_CASE("response parser: a HEAD response has no body; bytes after a response are left") {
  ResponseParser head(ResponseLimits{}, true);
  CHECK(head.feed("HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n") == Result::Complete);
  CHECK(head.take().body.empty());
  ResponseParser parser;
  CHECK(parser.feed("HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n") == Result::Complete);
  CHECK(parser.take().status == 204);
}
