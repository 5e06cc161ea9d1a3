#include <upesi/text.hpp>

#include "common/http/websocket_handshake.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace upesi::http;

namespace {

// The client's handshake of RFC 6455 section 1.2, read by the server's own parser.
Request parse(std::string_view wire) {
  RequestParser parser;
  std::size_t consumed = 0;
  REQUIRE(parser.feed(wire, consumed) == RequestParser::Result::Complete);
  return parser.take();
}

Request rfcRequest() {
  return parse("GET /chat HTTP/1.1\r\n"
               "Host: server.example.com\r\n"
               "Upgrade: websocket\r\n"
               "Connection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Origin: http://example.com\r\n"
               "Sec-WebSocket-Version: 13\r\n"
               "\r\n");
}

// `request` with the field `name` set to `value` (removed when `value` is null).
Request with(Request request, std::string_view name, const char* value) {
  std::erase_if(request.headers, [&](const auto& field) {
    return upesi::text::equalsIgnoreCase(field.first, name);
  });
  if (value != nullptr) {
    request.headers.emplace_back(name, value);
  }
  return request;
}

} // namespace

// RFC 6455 section 1.3.
TEST_CASE("websocket handshake: the RFC's key gives the RFC's accept value") {
  CHECK(webSocketAccept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("websocket handshake: the RFC's request is answered with its 101") {
  const Request request = rfcRequest();
  CHECK(isWebSocketUpgrade(request));
  const WebSocketHandshake answer = answerWebSocketHandshake(request);
  REQUIRE(answer.accepted());
  CHECK(answer.reason.empty());
  CHECK(serialize(answer.response, false) ==
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        "\r\n");
}

TEST_CASE("websocket handshake: tokens in any case, in lists, over repeated fields") {
  Request request = with(rfcRequest(), "Upgrade", "WebSocket");
  request = with(request, "Connection", "keep-alive, UPGRADE");
  CHECK(answerWebSocketHandshake(request).accepted());

  request = with(request, "Connection", "keep-alive");
  request.headers.emplace_back("Connection", "upgrade");
  CHECK(answerWebSocketHandshake(request).accepted());

  request = with(request, "Upgrade", "h2c, websocket");
  CHECK(answerWebSocketHandshake(request).accepted());

  request.version_minor = 2; // a later HTTP/1.x
  CHECK(answerWebSocketHandshake(request).accepted());
}

TEST_CASE("websocket handshake: a plain GET or another upgrade is not an attempt") {
  CHECK_FALSE(isWebSocketUpgrade(parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n")));
  CHECK_FALSE(isWebSocketUpgrade(with(rfcRequest(), "Upgrade", "h2c")));
  CHECK_FALSE(isWebSocketUpgrade(with(rfcRequest(), "Upgrade", "websocketx")));
}

TEST_CASE("websocket handshake: what is refused, and with which status") {
  auto refusal = [](const Request& request) {
    const WebSocketHandshake answer = answerWebSocketHandshake(request);
    CHECK_FALSE(answer.accepted());
    CHECK_FALSE(answer.reason.empty());
    return answer.response.status;
  };
  Request post = rfcRequest();
  post.method = "POST";
  CHECK(refusal(post) == 400);
  Request old = rfcRequest();
  old.version_minor = 0;
  CHECK(refusal(old) == 400);
  CHECK(refusal(with(rfcRequest(), "Host", nullptr)) == 400);
  CHECK(refusal(with(rfcRequest(), "Upgrade", nullptr)) == 400);
  CHECK(refusal(with(rfcRequest(), "Upgrade", "h2c")) == 400);
  CHECK(refusal(with(rfcRequest(), "Connection", nullptr)) == 400);
  CHECK(refusal(with(rfcRequest(), "Connection", "keep-alive")) == 400);
  CHECK(refusal(with(rfcRequest(), "Connection", "upgrade-insecure")) == 400);
  CHECK(refusal(with(rfcRequest(), "Sec-WebSocket-Version", nullptr)) == 400);
  CHECK(refusal(with(rfcRequest(), "Sec-WebSocket-Key", nullptr)) == 400);
  CHECK(refusal(with(rfcRequest(), "Sec-WebSocket-Key", "")) == 400);
  CHECK(refusal(with(rfcRequest(), "Sec-WebSocket-Key", "not base64!")) == 400);
  // 15 and 17 bytes, validly encoded
  CHECK(refusal(with(rfcRequest(), "Sec-WebSocket-Key", "MDEyMzQ1Njc4OWFiY2Rl")) == 400);
  CHECK(refusal(with(rfcRequest(), "Sec-WebSocket-Key", "MDEyMzQ1Njc4OWFiY2RlZmc=")) == 400);
}

TEST_CASE("websocket handshake: another version is answered 426 naming version 13") {
  const WebSocketHandshake answer =
      answerWebSocketHandshake(with(rfcRequest(), "Sec-WebSocket-Version", "8"));
  CHECK(answer.response.status == 426);
  const std::string wire = serialize(answer.response, true);
  CHECK(wire.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
  CHECK(wire.find("\r\nSec-WebSocket-Version: 13\r\n") != std::string::npos);
}
