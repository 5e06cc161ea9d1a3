#include "common/http/websocket_handshake.hpp"

#include <upesi/text.hpp>

#include "common/util/base64.hpp"

#include <openssl/evp.h>

#include <cassert>

namespace upesi::http {

namespace {

constexpr std::string_view Guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// Whether any field named `name` lists `token` (comma-separated, any case). Repeated fields
// count as one list, as HTTP has it.
bool hasToken(const Request& request, std::string_view name, std::string_view token) {
  for (const auto& [field, value] : request.headers) {
    if (!text::equalsIgnoreCase(field, name)) {
      continue;
    }
    for (const std::string& item : text::splitList(value, ",")) {
      if (text::equalsIgnoreCase(item, token)) {
        return true;
      }
    }
  }
  return false;
}

WebSocketHandshake refuse(int status, std::string reason) {
  WebSocketHandshake answer{Response::text(status, reason + "\n"), std::move(reason)};
  if (status == 426) {
    answer.response.header("Sec-WebSocket-Version", "13");
  }
  return answer;
}

} // namespace

bool isWebSocketUpgrade(const Request& request) {
  return hasToken(request, "Upgrade", "websocket");
}

WebSocketHandshake answerWebSocketHandshake(const Request& request) {
  if (request.method != "GET") {
    return refuse(400, "a WebSocket handshake must be a GET");
  }
  if (request.version_major < 1 || (request.version_major == 1 && request.version_minor < 1)) {
    return refuse(400, "a WebSocket handshake needs HTTP/1.1");
  }
  if (request.header("Host") == nullptr) {
    return refuse(400, "no Host field");
  }
  if (!isWebSocketUpgrade(request)) {
    return refuse(400, "Upgrade does not name websocket");
  }
  if (!hasToken(request, "Connection", "upgrade")) {
    return refuse(400, "Connection does not name upgrade");
  }
  const std::string* version = request.header("Sec-WebSocket-Version");
  if (version == nullptr) {
    return refuse(400, "no Sec-WebSocket-Version field");
  }
  if (text::trim(*version) != "13") {
    return refuse(426, "WebSocket version 13 only");
  }
  const std::string* key_field = request.header("Sec-WebSocket-Key");
  if (key_field == nullptr) {
    return refuse(400, "no Sec-WebSocket-Key field");
  }
  const std::string_view key = text::trim(*key_field);
  const auto nonce = base64Decode(key);
  if (!nonce || nonce->size() != 16) {
    return refuse(400, "Sec-WebSocket-Key is not 16 bytes in base64");
  }
  WebSocketHandshake answer;
  answer.response.status = 101;
  answer.response.header("Upgrade", "websocket");
  answer.response.header("Connection", "Upgrade");
  answer.response.header("Sec-WebSocket-Accept", webSocketAccept(key));
  return answer;
}

std::string webSocketAccept(std::string_view key) {
  std::string input(key);
  input += Guid;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  const int ok = EVP_Digest(input.data(), input.size(), digest, &size, EVP_sha1(), nullptr);
  assert(ok == 1 && size == 20); // SHA-1 of a short string in memory cannot fail
  (void)ok;
  return base64Encode(std::string_view(reinterpret_cast<const char*>(digest), size));
}

} // namespace upesi::http
