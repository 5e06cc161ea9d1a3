#include "worker/http/http_server.hpp"

#include "common/http/websocket_handshake.hpp"
#include "common/log/logger.hpp"
#include "common/metrics/labels.hpp"
#include "common/tls/tls_channel.hpp"
#include "common/tls/tls_context.hpp"
#include "common/util/cidr.hpp"
#include "worker/http/reply.hpp"
#include "worker/http/websocket_session.hpp"
#include "worker/smtp/endpoint_info.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>

#include <netinet/in.h>
#include <sys/socket.h>

namespace upesi::worker::http {
namespace uh = ::upesi::http;

namespace {

std::uint16_t boundPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return 0;
  }
  if (ss.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

bool sameSecret(std::string_view given, const std::string& token) {
  // Constant time: the token is a secret, the request is anyone's on the allowed networks.
  return given.size() == token.size() &&
         CRYPTO_memcmp(given.data(), token.data(), token.size()) == 0;
}

// "Authorization: Bearer <token>", or RFC 6750's access_token query parameter, which is all a
// browser can send for a page or a websocket.
bool tokenMatches(const uh::Request& request, const std::string& token) {
  if (const std::string* authorization = request.header("Authorization")) {
    constexpr std::string_view scheme = "bearer ";
    if (authorization->size() < scheme.size()) {
      return false;
    }
    for (std::size_t i = 0; i < scheme.size(); ++i) {
      if (((*authorization)[i] | 0x20) != scheme[i]) {
        return false;
      }
    }
    return sameSecret(std::string_view(*authorization).substr(scheme.size()), token);
  }
  auto given = HttpRequest::queryParam(request.query(), "access_token");
  return given && sameSecret(*given, token);
}

} // namespace

uh::Response toResponse(HttpResponse response) {
  uh::Response out;
  out.status = response.status;
  out.headers = std::move(response.headers);
  out.body = std::move(response.body);
  return out;
}

HttpServer::HttpServer(uv_loop_t* loop, config::HttpConfig config, TlsSource tls)
    : loop_(loop), config_(std::move(config)), tls_(std::move(tls)) {
  limits_.request.max_target = config_.max_target;
  limits_.request.max_header_bytes = config_.max_header_bytes;
  limits_.request.max_headers = config_.max_headers;
  limits_.request.max_body = config_.max_body;
  limits_.request_timeout = std::chrono::seconds(config_.request_timeout_s);
  limits_.idle_timeout = std::chrono::seconds(config_.idle_timeout_s);
  limits_.max_requests = config_.max_requests;
  limits_.max_output = config_.max_output;
  limits_.write_timeout = std::chrono::seconds(config_.write_timeout_s);
  for (std::size_t i = 0; i < answers_.size(); ++i) {
    answers_[i] = metrics::metrics().counter(
        metrics::MetricId::HttpRequests, metrics::labelPair("class", std::to_string(i + 1) + "xx"));
  }
}

HttpServer::~HttpServer() {
  listeners_.clear();
  connections_.clear(); // each closes its socket silently
}

Result<std::monostate> HttpServer::adopt(int fd) {
  auto listener = std::make_unique<Listener>();
  listener->server = this;
  listener->tls = config_.tls || boundPort(fd) == 443;
  if (listener->tls && (!tls_ || !tls_())) {
    return Error{"http.ini: HTTPS needs the certificates of tls.ini, which did not load"};
  }
  int rc = listener->tcp.open(loop_, uv_tcp_init, listener.get());
  if (rc == 0) {
    rc = uv_tcp_open(listener->tcp.get(), fd);
  }
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener->tcp.get()), 1024, onConnection);
  }
  if (rc != 0) {
    return Error{fmt::format("cannot serve HTTP on inherited socket {}: {}", fd, uv_strerror(rc))};
  }
  listeners_.push_back(std::move(listener));
  return std::monostate{};
}

void HttpServer::onConnection(uv_stream_t* server, int status) {
  auto* listener = static_cast<Listener*>(server->data);
  if (listener == nullptr) {
    return;
  }
  if (status < 0) {
    log::error({}, "HTTP accept: {}", uv_strerror(status));
    return;
  }
  listener->server->accept(*listener);
}

void HttpServer::accept(Listener& listener) {
  uv_tcp_t* tcp = net::Transport::newSocket(loop_);
  if (uv_accept(reinterpret_cast<uv_stream_t*>(listener.tcp.get()),
                reinterpret_cast<uv_stream_t*>(tcp)) != 0) {
    net::Transport::discardSocket(tcp);
    return;
  }
  auto endpoint = smtp::peerEndpoint(tcp);
  auto ip = util::IpAddress::parse(endpoint.ip);
  const bool allowed =
      ip && std::any_of(config_.allow.begin(), config_.allow.end(),
                        [&](const util::Cidr& cidr) { return cidr.contains(*ip); });
  if (!allowed) {
    log::info({}, "HTTP: refused {} (not in http.ini allow)", endpoint.ip);
    net::Transport::discardSocket(tcp);
    return;
  }
  if (connections_.size() >= config_.max_connections) {
    log::warn({}, "HTTP: refused {}: {} connections already (http.ini max_connections)",
              endpoint.ip, connections_.size());
    net::Transport::discardSocket(tcp);
    return;
  }
  uv_tcp_nodelay(tcp, 1);
  Peer peer{endpoint.ip, endpoint.port, listener.tls};
  auto connection = std::make_shared<uh::HttpConnection>(
      loop_, tcp, limits_,
      [this, peer](const uh::Request& request, uh::Responder responder) {
        dispatch(peer, request, std::move(responder));
      },
      [this](uh::HttpConnection& c) { closed(c); });
  if (listener.tls) {
    auto context = tls_ ? tls_() : nullptr;
    auto channel = context ? tls::TlsChannel::server(context->context())
                           : Result<std::unique_ptr<tls::TlsChannel>>(Error{"no certificates"});
    if (!channel) {
      log::error({}, "HTTP: cannot start TLS for {}: {}", peer.ip, channel.error());
      return; // the connection, never started, closes its socket as it goes
    }
    connection->transport().startTls(std::move(*channel));
  }
  connection->onAnswer([this](int status) {
    if (status >= 100 && status < 600) {
      answers_[static_cast<std::size_t>(status / 100 - 1)].add();
    }
  });
  connections_.emplace(connection.get(), connection);
  connection->start();
}

void HttpServer::dispatch(const Peer& peer, const uh::Request& parsed, uh::Responder responder) {
  const std::string_view path = parsed.path();
  log::debug({}, "HTTP {} {} from {}", parsed.method, parsed.target, peer.ip);
  const bool open_path = path == "/healthz" && (parsed.method == "GET" || parsed.method == "HEAD");
  if (!config_.token.empty() && !open_path && !tokenMatches(parsed, config_.token)) {
    auto refusal = uh::Response::text(401, "401 a bearer token is required\n");
    if (path.starts_with("/api/")) { // the API's clients read JSON, whatever the answer
      refusal.headers = {{"Content-Type", "application/json"}};
      refusal.body = "{\"error\":\"a bearer token is required\"}\n";
    }
    responder.respond(std::move(refusal.header("WWW-Authenticate", "Bearer realm=\"upesi\"")));
    return;
  }
  HttpRequest request;
  request.method = parsed.method;
  request.target = parsed.target;
  request.path = std::string(path);
  request.query = std::string(parsed.query());
  request.headers = parsed.headers;
  request.body = parsed.body;
  request.remote_ip = peer.ip;
  request.remote_port = peer.port;
  request.secure = peer.tls;

  if (parsed.upgrade || uh::isWebSocketUpgrade(parsed)) {
    const WebSocketHandlers* handlers = router_.websocket(path);
    if (handlers == nullptr) {
      responder.respond(uh::Response::text(404, "404 no websocket is served at this path\n"));
      return;
    }
    auto handshake = uh::answerWebSocketHandshake(parsed);
    if (!handshake.accepted()) {
      log::info({}, "HTTP: websocket handshake from {} refused: {}", peer.ip, handshake.reason);
      responder.respond(std::move(handshake.response));
      return;
    }
    auto session = std::make_shared<WebSocketSession>(loop_, std::move(request), *handlers,
                                                      config_.websocket_max_message);
    responder.upgrade(std::move(handshake.response), std::move(session));
    return;
  }
  auto match = router_.find(request.method, request.path);
  if (match.handler == nullptr) {
    if (match.status == 405) {
      std::string allow;
      for (const auto& method : match.allowed) {
        allow += (allow.empty() ? "" : ", ") + (method == "*" ? std::string("GET") : method);
      }
      responder.respond(uh::Response::text(405).header("Allow", allow));
    } else {
      responder.respond(uh::Response::text(404));
    }
    return;
  }
  auto reply = std::make_shared<ResponderReply>(std::move(responder));
  try {
    (*match.handler)(request, reply);
  } catch (const std::exception& e) {
    log::error({}, "HTTP handler for {} {} threw: {}", request.method, request.path, e.what());
    reply->send(HttpResponse::text(500, "500 the handler failed\n"));
  }
}

void HttpServer::closed(uh::HttpConnection& connection) {
  // Called from the connection's last callback, which allows it to be destroyed here.
  connections_.erase(&connection);
  if (connections_.empty() && drained_) {
    auto done = std::move(drained_);
    drained_ = nullptr;
    done();
  }
}

void HttpServer::drain(std::function<void()> done) {
  listeners_.clear();
  if (connections_.empty()) {
    if (done) {
      done();
    }
    return;
  }
  drained_ = std::move(done);
  std::vector<std::shared_ptr<uh::HttpConnection>> all;
  for (auto& [ptr, connection] : connections_) {
    all.push_back(connection);
  }
  for (auto& connection : all) {
    connection->shutdown();
  }
}

} // namespace upesi::worker::http
