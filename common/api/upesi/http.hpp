// HTTP for plugins: routes added in the init_http hook and websocket endpoints added in
// init_wss (Haraka's Server.http.app and Server.http.wss). Both hooks run in every worker after
// init_child; the server (http.ini) checks allow= and the bearer token before any handler runs.
//
// Threading: every call, in both directions, happens on the worker's loop thread.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace upesi {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method; ///< "GET"
  std::string target; ///< "/watch/app.js?v=1", as sent
  std::string path;   ///< the target before '?', as sent (not percent-decoded)
  std::string query;  ///< after the first '?', or empty
  HttpHeaders headers;
  std::string body;
  std::string remote_ip;
  std::uint16_t remote_port = 0;
  bool secure = false; ///< over TLS

  /// The value of the first header field named `name` (any case), or null.
  const std::string* header(std::string_view name) const {
    for (const auto& [field, value] : headers) {
      if (field.size() == name.size() &&
          std::equal(field.begin(), field.end(), name.begin(),
                     [](char a, char b) { return (a | 0x20) == (b | 0x20); })) {
        return &value;
      }
    }
    return nullptr;
  }

  /// A query parameter, percent-decoded ('+' is a space), or nullopt.
  std::optional<std::string> queryParam(std::string_view name) const {
    return queryParam(query, name);
  }
  /// The same in any query string.
  static std::optional<std::string> queryParam(std::string_view query, std::string_view name) {
    std::string_view rest = query;
    while (!rest.empty()) {
      auto amp = rest.find('&');
      auto pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
      auto eq = pair.find('=');
      if (decode(pair.substr(0, eq)) == name) {
        return eq == std::string_view::npos ? std::string{} : decode(pair.substr(eq + 1));
      }
    }
    return std::nullopt;
  }

  static std::string decode(std::string_view text) {
    auto hex = [](char c) -> int {
      return c >= '0' && c <= '9'   ? c - '0'
             : c >= 'a' && c <= 'f' ? c - 'a' + 10
             : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                    : -1;
    };
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '+') {
        out += ' ';
      } else if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 &&
                 hex(text[i + 2]) >= 0) {
        out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
        i += 2;
      } else {
        out += text[i];
      }
    }
    return out;
  }
};

struct HttpResponse {
  int status = 200;
  HttpHeaders headers; ///< besides Content-Length and Connection, which the server writes
  std::string body;

  static HttpResponse text(int status, std::string body, std::string type = "text/plain") {
    HttpResponse response{status, {{"Content-Type", type + "; charset=utf-8"}}, std::move(body)};
    return response;
  }
  static HttpResponse json(int status, const nlohmann::json& value) {
    return HttpResponse{status, {{"Content-Type", "application/json"}}, value.dump() + "\n"};
  }
};

/// How a handler answers its request: once, now or later. A reply dropped unanswered answers
/// 500, so a client never waits on a handler's mistake.
class HttpReply {
public:
  virtual ~HttpReply() = default;
  /// The whole answer.
  virtual void send(HttpResponse response) = 0;
  /// A streamed answer: the status and header fields now (sent chunked), then write() pieces
  /// and end(). write() returns false once the client is gone or has not read what it was sent
  /// (http.ini max_output): the piece was dropped, and the stream should end.
  virtual void begin(int status, HttpHeaders headers) = 0;
  virtual bool write(std::string_view piece) = 0;
  virtual void end() = 0;
  /// False once the client has gone; answering then does nothing.
  virtual bool open() const = 0;
};
using HttpReplyPtr = std::shared_ptr<HttpReply>;
using HttpHandler = std::function<void(const HttpRequest&, HttpReplyPtr)>;

class HttpRouter {
public:
  virtual ~HttpRouter() = default;
  /// Serves `method` ("GET", or "*" for any) at exactly `path`. A later route for the same
  /// method and path replaces the earlier one (logged).
  virtual void route(std::string_view method, std::string_view path, HttpHandler handler) = 0;
  /// Serves every path that starts with `prefix` ("/watch/"); the longest prefix wins, and an
  /// exact route wins over any prefix.
  virtual void prefix(std::string_view method, std::string_view prefix, HttpHandler handler) = 0;
};

/// One websocket client of an endpoint.
class WebSocket {
public:
  virtual ~WebSocket() = default;
  /// Sends a message. False if it was dropped: the client is gone, or has not read what it was
  /// sent (http.ini max_output) — a slow client loses messages, it never grows the worker.
  virtual bool sendText(std::string_view text) = 0;
  virtual bool sendBinary(std::string_view bytes) = 0;
  /// Starts the closing handshake (1000: normal).
  virtual void close(std::uint16_t code = 1000, std::string_view reason = {}) = 0;
  virtual bool open() const = 0;
  /// The opening handshake: path, query, remote_ip, headers.
  virtual const HttpRequest& request() const = 0;
};
using WebSocketPtr = std::shared_ptr<WebSocket>;

struct WebSocketHandlers {
  std::function<void(const WebSocketPtr&)> open;
  std::function<void(const WebSocketPtr&, std::string message, bool binary)> message;
  /// Once, when the client is gone (code 1006 when it left without a closing handshake).
  std::function<void(const WebSocketPtr&, std::uint16_t code)> closed;
};

class WebSocketRegistry {
public:
  virtual ~WebSocketRegistry() = default;
  /// Serves websockets at exactly `path`, one plugin per path. False if the path is taken.
  virtual bool endpoint(std::string_view path, WebSocketHandlers handlers) = 0;
};

} // namespace upesi
