// The server's half of the WebSocket opening handshake (RFC 6455 section 4.2): whether a
// request is a valid one, and the answer to send, a 101 or a refusal.
#pragma once

#include "common/http/request_parser.hpp"
#include "common/http/response.hpp"

#include <string>
#include <string_view>

namespace upesi::http {

struct WebSocketHandshake {
  bool accepted() const { return response.status == 101; }

  /// The 101 that switches the connection to WebSocket, or the refusal: 400, or 426 with
  /// Sec-WebSocket-Version: 13 for a version we do not speak. Send it with `closing` false.
  Response response;
  std::string reason; // why it was refused, for the log; empty when accepted
};

/// The request asks for a WebSocket (Upgrade names "websocket"): an attempt to answer with
/// answerWebSocketHandshake(), valid or not, rather than a plain request.
bool isWebSocketUpgrade(const Request& request);

/// Checks the opening handshake (section 4.2.1: GET, HTTP/1.1 or later, Host, Upgrade:
/// websocket, Connection: upgrade, Sec-WebSocket-Version: 13, a Sec-WebSocket-Key of 16 bytes in
/// base64) and gives the answer. No subprotocol or extension is agreed to.
WebSocketHandshake answerWebSocketHandshake(const Request& request);

/// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + the RFC's GUID)).
std::string webSocketAccept(std::string_view key);

} // namespace upesi::http
