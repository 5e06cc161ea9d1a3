#include "worker/http/websocket_session.hpp"

#include "common/log/logger.hpp"

namespace upesi::worker::http {
namespace uh = ::upesi::http;

WebSocketSession::WebSocketSession(uv_loop_t* loop, HttpRequest request, WebSocketHandlers handlers,
                                   std::size_t max_message)
    : request_(std::move(request)), handlers_(std::move(handlers)),
      engine_(uh::WebSocketCallbacks{[this](std::string payload, bool binary) {
                                       if (handlers_.message && !ended_) {
                                         handlers_.message(shared_from_this(), std::move(payload),
                                                           binary);
                                       }
                                     },
                                     [this](std::string bytes) {
                                       // Control frames and whole messages the caller decided to
                                       // send: never dropped here (mayQueue() decides before a
                                       // message is framed).
                                       if (auto connection = connection_.lock()) {
                                         connection->sendUpgraded(std::move(bytes), false);
                                       }
                                     },
                                     [this](std::uint16_t code, const std::string&) {
                                       if (auto connection = connection_.lock()) {
                                         connection->closeUpgraded();
                                       }
                                       ended(code);
                                     }},
              uh::WebSocketLimits{max_message}),
      close_timer_(loop) {}

void WebSocketSession::attached(const std::weak_ptr<uh::HttpConnection>& connection) {
  connection_ = connection;
  if (handlers_.open) {
    handlers_.open(shared_from_this());
  }
}

void WebSocketSession::received(std::string_view bytes) {
  engine_.feed(bytes);
}

bool WebSocketSession::mayQueue() const {
  auto connection = connection_.lock();
  return connection && !connection->closing() && !engine_.closeSent() && !engine_.isClosed() &&
         !connection->outputFull();
}

bool WebSocketSession::sendText(std::string_view text) {
  if (!mayQueue()) {
    return false;
  }
  engine_.sendText(text);
  return true;
}

bool WebSocketSession::sendBinary(std::string_view bytes) {
  if (!mayQueue()) {
    return false;
  }
  engine_.sendBinary(bytes);
  return true;
}

void WebSocketSession::close(std::uint16_t code, std::string_view reason) {
  if (engine_.closeSent() || engine_.isClosed()) {
    return;
  }
  engine_.close(code, reason);
  std::weak_ptr<uh::HttpConnection> connection = connection_;
  close_timer_.start(CloseTimeoutMs, [connection] {
    if (auto c = connection.lock()) {
      c->closeUpgraded(); // the client never answered our close
    }
  });
}

bool WebSocketSession::open() const {
  return !ended_ && !engine_.closeSent() && !engine_.isClosed();
}

void WebSocketSession::shutdown() {
  close(uh::close_code::GoingAway, "server going away");
}

void WebSocketSession::gone() {
  close_timer_.close();
  ended(1006); // no closing handshake, unless one has already been reported
}

void WebSocketSession::ended(std::uint16_t code) {
  if (ended_) {
    return;
  }
  ended_ = true;
  if (handlers_.closed) {
    auto self = shared_from_this();
    handlers_.closed(self, code);
  }
}

} // namespace upesi::worker::http
