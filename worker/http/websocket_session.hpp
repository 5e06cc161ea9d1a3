// WebSocketSession: one websocket client of a plugin's endpoint — the plugin's WebSocket over
// the connection a 101 handed to it, with the RFC 6455 engine in between.
//
// Sending drops a message, rather than queueing it, while the client has http.ini max_output
// bytes unread. A closing handshake the client does not finish within CloseTimeout closes the
// connection anyway.
//
// Threading: the loop thread.
#pragma once

#include <upesi/http.hpp>

#include "common/http/connection.hpp"
#include "common/http/websocket.hpp"
#include "common/util/loop_timer.hpp"

#include <memory>

namespace upesi::worker::http {

class WebSocketSession final : public WebSocket,
                               public ::upesi::http::UpgradedProtocol,
                               public std::enable_shared_from_this<WebSocketSession> {
public:
  static constexpr std::uint64_t CloseTimeoutMs = 5000;

  WebSocketSession(uv_loop_t* loop, HttpRequest request, WebSocketHandlers handlers,
                   std::size_t max_message);

  // WebSocket
  bool sendText(std::string_view text) override;
  bool sendBinary(std::string_view bytes) override;
  void close(std::uint16_t code, std::string_view reason) override;
  bool open() const override;
  const HttpRequest& request() const override { return request_; }

  // UpgradedProtocol
  void attached(const std::weak_ptr<::upesi::http::HttpConnection>& connection) override;
  void received(std::string_view bytes) override;
  void gone() override;
  void shutdown() override;

private:
  bool mayQueue() const;
  void ended(std::uint16_t code);

  HttpRequest request_;
  WebSocketHandlers handlers_;
  ::upesi::http::WebSocketEngine engine_;
  std::weak_ptr<::upesi::http::HttpConnection> connection_;
  LoopTimer close_timer_;
  bool ended_ = false;
};

} // namespace upesi::worker::http
